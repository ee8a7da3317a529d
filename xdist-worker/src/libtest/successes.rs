//! The start of libtest's end under `--show-output`: `successes:`, a `---- NAME stdout ----`
//! section with the captured output of each passing test that printed something, in the
//! order the tests ran (sorted by name), then a second `successes:` with the list of every
//! passing test, a blank line, and `failures:` or the `test result:` summary.
//!
//! A section's text is the test's own and may imitate any of these lines, so
//! [`Successes`] opens a section only for a name that runs after the one being read, and
//! takes the list to have begun only when what follows `successes:` is that list and then
//! the next part of libtest's end. A test that prints the header of a later test that
//! printed something itself gets that text back when the real header comes. One thing
//! cannot be told apart: a header of a later test that printed nothing; what follows it
//! goes to that test.

use std::collections::HashMap;

use crate::capture::BoundedOutput;
use xdist_core::testlist::kind_bare;

/// Batch names to their positions in the batch (hashed for a lookup per line of output).
pub type NameMap = foldhash::HashMap<Vec<u8>, usize>;

/// What the parser knows of the batch's names.
pub struct Names<'a> {
    /// Name to batch position.
    pub positions: &'a NameMap,
    /// Each position's place in the order libtest runs them.
    pub rank: &'a [usize],
    /// Bare name to batch position, for names of libtest-mimic's kinds (`[tidy] a.rs`), whose
    /// failure sections and list name them bare (`---- a.rs ----`): only bare names that are
    /// not a batch name themselves and belong to one name of the batch.
    pub bare: &'a NameMap,
}

impl Names<'_> {
    /// The batch position of a name in libtest's failure sections and list of failures.
    pub fn failed(&self, name: &[u8]) -> Option<usize> {
        self.positions.get(name).or_else(|| self.bare.get(name)).copied()
    }
}

/// The bare names of `names` that carry a libtest-mimic kind (`[kind] bare`), to their
/// positions: those that no other name of the batch is, or has bare, too.
pub fn bare_names(names: &[Vec<u8>]) -> NameMap {
    let mut bare: HashMap<Vec<u8>, Option<usize>> = HashMap::new();
    for (pos, name) in names.iter().enumerate() {
        let Some(bare_name) = std::str::from_utf8(name).ok().and_then(kind_bare) else { continue };
        bare.entry(bare_name.as_bytes().to_vec())
            .and_modify(|seen| *seen = None)
            .or_insert(Some(pos));
    }
    bare.into_iter()
        .filter_map(|(name, pos)| Some((name, pos?)))
        .filter(|(name, _)| !names.contains(name))
        .collect()
}

/// The success sections read so far.
pub struct Successes {
    keep: usize,
    /// The sections opened, in the order they were: position and header line.
    opened: Vec<(usize, Vec<u8>)>,
    /// Captured output of passing tests, by batch position.
    pub sections: HashMap<usize, BoundedOutput>,
    /// The lines since a `successes:` that may begin libtest's list of passing tests.
    pending: Option<Vec<Vec<u8>>>,
    /// The list and the line that ended it, and blank lines since, while what follows may
    /// still show them to be a section's text.
    ended: Option<Vec<Vec<u8>>>,
}

impl Successes {
    /// Nothing read yet; `keep` bytes are kept at each end of every section.
    pub fn new(keep: usize) -> Self {
        Self { keep, opened: Vec::new(), sections: HashMap::new(), pending: None, ended: None }
    }

    /// Reads one line; `false` when the line is the part of libtest's end after the
    /// successes (`failures:` or the summary), which the caller reads then.
    pub fn line(&mut self, line: &[u8], names: &Names<'_>) -> bool {
        if let Some(pending) = self.pending.as_mut() {
            if line == b"failures:" || line.starts_with(b"test result: ") {
                let mut ended = self.pending.take().unwrap_or_default();
                ended.push(line.to_vec());
                self.ended = Some(ended);
                return false;
            }
            let listed =
                line.strip_prefix(b"    ").is_some_and(|name| names.positions.contains_key(name));
            // `successes:`, every name at most once, and one blank line.
            if (listed || line.is_empty()) && pending.len() < names.positions.len() + 2 {
                pending.push(line.to_vec());
                return true;
            }
            // Not libtest's list: the lines were the section's.
            for earlier in self.pending.take().unwrap_or_default() {
                self.push(&earlier);
            }
        }
        if line == b"successes:" {
            self.pending = Some(vec![line.to_vec()]);
        } else if !self.open(line, names) {
            self.push(line);
        }
        true
    }

    /// Reads a line after the part seemed to end (`None` when it did not): `Some(true)` when
    /// the line fits libtest's end (a blank line, or the failures after `failures:`), so
    /// the end stands; `Some(false)` when it does not: the list and what followed it were
    /// the last section's text, the line has been read as the part's, and the part goes on.
    pub fn after_end(&mut self, line: &[u8], names: &Names<'_>) -> Option<bool> {
        let ended = self.ended.as_mut()?;
        if line.is_empty() {
            ended.push(Vec::new());
            return Some(true);
        }
        // After `failures:` and a blank line libtest writes a failure's section or, when
        // none printed anything, its list; after the summary nothing.
        let after_failures = ended.last().is_some_and(|l| l.is_empty())
            && ended.iter().rev().find(|l| !l.is_empty()).is_some_and(|l| l == b"failures:");
        let header = line.strip_prefix(b"---- ").and_then(|l| {
            l.strip_suffix(b" stdout ----").filter(|name| names.positions.contains_key(*name))
        });
        if after_failures && (header.is_some() || line == b"failures:") {
            self.ended = None;
            return Some(true);
        }
        for earlier in self.ended.take().unwrap_or_default() {
            self.push(&earlier);
        }
        self.line(line, names);
        Some(false)
    }

    /// Bytes of a line too long to hold, for the section being read.
    pub fn overflow(&mut self, bytes: &[u8]) {
        if let Some(out) = self.opened.last().and_then(|(pos, _)| self.sections.get_mut(pos)) {
            out.push(bytes);
        }
    }

    /// Opens the section `line` heads, if it can be libtest's.
    fn open(&mut self, line: &[u8], names: &Names<'_>) -> bool {
        let header = line.strip_prefix(b"---- ").and_then(|l| l.strip_suffix(b" stdout ----"));
        let Some(&pos) = header.and_then(|name| names.positions.get(name)) else {
            return false;
        };
        match self.opened.iter().position(|&(p, _)| p == pos) {
            // The first section follows `successes:` directly: its header is libtest's.
            Some(0) => return false,
            // A header of this test came before, in another test's section: that one and
            // all after it were that test's text.
            Some(i) => {
                let fakes = self.opened.split_off(i);
                for (fake, header) in fakes {
                    let text = self.sections.remove(&fake).map(BoundedOutput::into_bytes);
                    self.push(&header);
                    if let Some(text) = text {
                        if let Some(out) = self.top() {
                            out.push(&text);
                        }
                    }
                }
            }
            None => {
                let earlier =
                    self.opened.last().is_some_and(|&(top, _)| names.rank[top] >= names.rank[pos]);
                if earlier {
                    return false;
                }
            }
        }
        self.opened.push((pos, line.to_vec()));
        self.sections.insert(pos, BoundedOutput::new(self.keep));
        true
    }

    fn top(&mut self) -> Option<&mut BoundedOutput> {
        let pos = self.opened.last()?.0;
        self.sections.get_mut(&pos)
    }

    fn push(&mut self, line: &[u8]) {
        if let Some(out) = self.top() {
            out.push(line);
            out.push(b"\n");
        }
    }
}
