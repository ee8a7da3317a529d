//! What libtest prints after its last test: the `failures:` sections with each failed test's
//! captured output, the list of the failed tests' names and the `test result:` summary.
//! Until the process has exited this is only a candidate, since a test's own output can
//! imitate any of it; [`Tail`] reads it and keeps what the end of the stream needs.

use std::collections::{HashMap, HashSet};

use super::lines::{Counts, summary_counts};
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
        }
    }

    /// Reads one line; `positions` maps the batch's names to their positions.
    pub fn line(&mut self, line: &[u8], positions: &HashMap<Vec<u8>, usize>) {
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
            positions.get(name).copied()
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
            match line.strip_prefix(b"    ").and_then(|name| positions.get(name)) {
                Some(&pos) => {
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
        if let Some(out) = self.section.and_then(|pos| self.sections.get_mut(&pos)) {
            out.push(bytes);
        }
    }
}
