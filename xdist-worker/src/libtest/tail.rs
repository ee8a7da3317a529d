//! What libtest prints after its last test: under `--show-output` the `successes:` part
//! (`successes.rs`), the `failures:` sections with each failed test's captured output, the list of the failed tests' names and the `test result:` summary.
//! Until the process has exited this is only a candidate, since a test's own output can
//! imitate any of it; [`Tail`] reads it and keeps what the end of the stream needs.

use std::collections::{HashMap, HashSet};

use super::lines::{Counts, summary_counts};
use super::successes::{Names, Successes};
use crate::capture::BoundedOutput;

/// A candidate end of the tests.
pub struct Tail {
    keep: usize,
    /// Captured output of failed tests, by batch position.
    pub sections: HashMap<usize, BoundedOutput>,
    /// The section being read.
    section: Option<usize>,
    /// The list of failed tests being read: a `failures:` line, then indented names.
    list: Option<HashSet<usize>>,
    /// The failed tests named in the list just before the summary.
    pub listed: HashSet<usize>,
    /// The counts of the last well-formed summary line.
    pub summary: Option<Counts>,
    /// The `successes:` part, when the tail began with it.
    pub successes: Successes,
    /// Lines go to `successes` (the tail began with `successes:` and it has not ended).
    in_successes: bool,
    /// No line read yet.
    fresh: bool,
}

impl Tail {
    /// An empty tail keeping `keep` bytes at each end of every section.
    pub fn new(keep: usize) -> Self {
        Self {
            keep,
            sections: HashMap::new(),
            section: None,
            list: None,
            listed: HashSet::new(),
            summary: None,
            successes: Successes::new(keep),
            in_successes: false,
            fresh: true,
        }
    }

    /// Reads one line of the batch whose names are `names`.
    pub fn line(&mut self, line: &[u8], names: &Names<'_>) {
        let fresh = std::mem::replace(&mut self.fresh, false);
        if fresh && line == b"successes:" {
            self.in_successes = true;
            return;
        }
        if self.in_successes {
            if self.successes.line(line, names) {
                return;
            }
            self.in_successes = false;
        } else {
            match self.successes.after_end(line, names) {
                Some(true) if line.is_empty() => return,
                Some(false) => {
                    // What seemed the rest of libtest's end was a passing test's text.
                    *self = Self {
                        successes: std::mem::replace(&mut self.successes, Successes::new(0)),
                        in_successes: true,
                        fresh: false,
                        ..Self::new(self.keep)
                    };
                    return;
                }
                _ => {}
            }
        }
        if line.starts_with(b"test result: ") {
            // The last well-formed one counts; a process still running after a fake, or
            // one whose counts disagree, is caught when the stream ends.
            if let Some(counts) = summary_counts(line) {
                self.summary = Some(counts);
                self.listed = self.list.take().unwrap_or_default();
            }
            self.section = None;
            return;
        }
        // libtest writes `---- NAME stdout ----`; libtest-mimic `---- NAME ----`.
        let header = line.strip_prefix(b"---- ").and_then(|l| {
            let name = l.strip_suffix(b" stdout ----").or_else(|| l.strip_suffix(b" ----"))?;
            names.failed(name)
        });
        if let Some(pos) = header {
            self.section = Some(pos);
            self.list = None;
            self.sections.insert(pos, BoundedOutput::new(self.keep));
        } else if line == b"failures:" {
            self.section = None;
            self.list = Some(HashSet::new());
        } else if let Some(out) = self.section.and_then(|pos| self.sections.get_mut(&pos)) {
            out.push(line);
            out.push(b"\n");
        } else if let Some(list) = self.list.as_mut() {
            match line.strip_prefix(b"    ").and_then(|name| names.failed(name)) {
                Some(pos) => {
                    list.insert(pos);
                }
                // Anything but names and blank lines: not libtest's list.
                None if !line.is_empty() => self.list = None,
                None => {}
            }
        }
    }

    /// Bytes of a line too long to hold, for the section being read.
    pub fn overflow(&mut self, bytes: &[u8]) {
        if self.in_successes {
            self.successes.overflow(bytes);
            return;
        }
        if let Some(out) = self.section.and_then(|pos| self.sections.get_mut(&pos)) {
            out.push(bytes);
        }
    }
}
