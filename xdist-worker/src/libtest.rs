//! Reads the output of `<bin> --exact --test-threads=1 names...` as it arrives and says which
//! test started and how each ended.
//!
//! libtest writes `test NAME ... ` before a test and `ok`, `FAILED` or `ignored` after it,
//! running the names in sorted order. Bytes a test writes around the capture (direct writes
//! to fd 1, child processes, C code) land anywhere in between and may imitate any of
//! libtest's lines, so nothing a test prints can settle an outcome. An outcome is final only
//! when libtest itself moves on:
//!
//! - **the next start line**: when libtest announced as many tests as the batch holds, the
//!   only start line that can follow is the next name in sorted order; any other is output.
//!   The test before it ended with the result word of its last line; if other output hid
//!   that line, the test is settled at the end of the stream from libtest's list of
//!   failures.
//! - **the end of the stream**, for the last test: the process exited with 0 (nothing
//!   failed) or 101 (something did) after a well-formed `test result:` line whose counts
//!   agree with every outcome, preceded by a `failures:` list that names exactly the failed
//!   tests. Then the summary settles the last test. Otherwise the last test that started
//!   did not finish, whatever its output said ([`StreamEnd::unfinished`]).
//!
//! Under `--show-output` libtest's end begins with a `successes:` part holding passing
//! tests' captured output (`successes.rs`); it is read like the failures' sections, into
//! [`StreamEnd::success_output`].

mod lines;
mod successes;
mod tail;

use std::collections::HashMap;

pub use lines::{Counts, Verdict};
use lines::{announced_count, find, verdict_of};
use successes::{NameMap, Names, bare_names};
use tail::Tail;

use crate::capture::BoundedOutput;

/// A partial line longer than this is cut (a test writing without newlines).
const MAX_PARTIAL_LINE: usize = 64 * 1024;
/// How much of a cut line is kept: more than any test name and result word.
const KEEP_OF_LONG_LINE: usize = 16 * 1024;

/// What the parser saw happen.
#[derive(Debug, PartialEq, Eq)]
pub enum StreamEvent {
    /// The test at this position of the batch started.
    Started(usize),
    /// The test at this position has its final verdict; `noise` is what it wrote around the
    /// capture.
    Ended {
        /// Position in the batch.
        pos: usize,
        /// The result word.
        verdict: Verdict,
        /// Bytes seen between its start line and its result.
        noise: Vec<u8>,
    },
}

/// The test whose outcome is not final yet: the last one that started.
struct Current {
    pos: usize,
    /// The result word of its last non-blank line, if that line had one.
    verdict: Option<Verdict>,
    /// The last result word seen at all: the best guess if the process dies.
    last_verdict: Option<Verdict>,
    noise: BoundedOutput,
    /// The line that gave `verdict` and blank lines after it: noise if more output follows.
    held: Vec<u8>,
}

/// A test libtest moved past whose result line other output hid: settled at the end.
struct Unsettled {
    pos: usize,
    guess: Verdict,
    noise: Vec<u8>,
}

/// Incremental parser for one batch process.
pub struct StreamParser {
    positions: NameMap,
    /// Bare names of libtest-mimic's kinds (see [`Names::bare`]).
    bare: NameMap,
    names: Vec<Vec<u8>>,
    /// Batch positions in the order libtest runs them (sorted by name).
    order: Vec<usize>,
    /// Each position's place in `order`.
    rank: Vec<usize>,
    started: Vec<bool>,
    /// Which started positions libtest named `- should panic`.
    should_panic: Vec<bool>,
    started_count: usize,
    /// `running N tests`: how many of the names libtest found.
    announced: Option<usize>,
    line: Vec<u8>,
    current: Option<Current>,
    unsettled: Vec<Unsettled>,
    /// The verdicts given out so far.
    given: Counts,
    /// A candidate end of the tests, with the running test's noise from before it.
    tail: Option<(Tail, BoundedOutput)>,
    keep: usize,
}

/// What is left when the stream ends.
#[derive(Debug, Default)]
pub struct StreamEnd {
    /// The test that started and never got a final result, with what it wrote.
    pub unfinished: Option<(usize, Vec<u8>)>,
    /// Captured output of failed tests, by batch position.
    pub failure_output: HashMap<usize, Vec<u8>>,
    /// Captured output of passing tests that libtest printed (`--show-output`), by batch
    /// position.
    pub success_output: HashMap<usize, Vec<u8>>,
    /// The process ran to libtest's normal end (see the module documentation).
    pub completed: bool,
    /// Which batch positions started.
    pub started: Vec<bool>,
}

impl StreamParser {
    /// A parser for a batch of `names` (in any order) of a libtest binary, which runs them
    /// sorted by name; positions refer to this slice.
    pub fn new(names: &[&str], keep: usize) -> Self {
        Self::with_order(names, keep, true)
    }

    /// A parser for a batch of `names` that the process runs in this order (a harness that
    /// runs its tests in the order it lists them: `skips.rs`).
    pub fn in_given_order(names: &[&str], keep: usize) -> Self {
        Self::with_order(names, keep, false)
    }

    fn with_order(names: &[&str], keep: usize, sorted: bool) -> Self {
        let names: Vec<Vec<u8>> = names.iter().map(|n| n.as_bytes().to_vec()).collect();
        let positions = names.iter().enumerate().map(|(i, n)| (n.clone(), i)).collect();
        let mut order: Vec<usize> = (0..names.len()).collect();
        if sorted {
            order.sort_by(|&a, &b| names[a].cmp(&names[b]));
        }
        let mut rank = vec![0; names.len()];
        for (r, &pos) in order.iter().enumerate() {
            rank[pos] = r;
        }
        Self {
            positions,
            bare: bare_names(&names),
            started: vec![false; names.len()],
            should_panic: vec![false; names.len()],
            names,
            order,
            rank,
            started_count: 0,
            announced: None,
            line: Vec::new(),
            current: None,
            unsettled: Vec::new(),
            given: Counts::default(),
            tail: None,
            keep,
        }
    }

    /// Feeds bytes; returns what they revealed.
    pub fn feed(&mut self, mut bytes: &[u8]) -> Vec<StreamEvent> {
        let mut events = Vec::new();
        while let Some(nl) = bytes.iter().position(|&b| b == b'\n') {
            self.line.extend_from_slice(&bytes[..nl]);
            let line = std::mem::take(&mut self.line);
            self.on_line(&line, true, &mut events);
            bytes = &bytes[nl + 1..];
        }
        self.line.extend_from_slice(bytes);
        // A start line has no newline until its test ends: act on it now, and keep only the
        // rest of the line for its verdict.
        while let Some((at, pos, rest, panics)) = self.find_start(&self.line) {
            let rest = self.line.len() - rest.len();
            let line = std::mem::take(&mut self.line);
            self.begin(pos, &line[..at], panics, &mut events);
            self.line = line[rest..].to_vec();
        }
        if self.line.len() > MAX_PARTIAL_LINE {
            // A line with no end in sight: keep its end (where a verdict would be), and move
            // the rest to whoever owns it.
            let cut = self.line.len() - KEEP_OF_LONG_LINE;
            let head: Vec<u8> = self.line.drain(..cut).collect();
            if let Some(cur) = self.current.as_mut() {
                cur.noise.push(&head);
            }
            if let Some((tail, _)) = self.tail.as_mut() {
                tail.overflow(&head);
            }
        }
        events
    }

    /// By batch position, whether libtest named the test `- should panic` when it started.
    pub fn should_panic(&self) -> &[bool] {
        &self.should_panic
    }

    /// Whether some test's verdict waits for the end of the process (its result line was
    /// hidden in its own output): killing the process now would lose it.
    pub fn has_unsettled(&self) -> bool {
        !self.unsettled.is_empty()
    }

    /// The test whose outcome is not final yet, if any: the clocks run for it.
    pub fn running(&self) -> Option<usize> {
        self.current.as_ref().map(|c| c.pos)
    }

    /// The running test, if it looks finished: its last line shows a result word, or what
    /// may be libtest's end of the tests follows one.
    pub fn showing_verdict(&self) -> Option<usize> {
        let shown = |c: &&Current| c.verdict.is_some() || self.tail.is_some();
        self.current.as_ref().filter(shown).map(|c| c.pos)
    }

    /// Ends the stream of a process that exited with `exit_code` (`None`: killed by a
    /// signal); returns the last events and what was left.
    pub fn finish(mut self, exit_code: Option<i32>) -> (Vec<StreamEvent>, StreamEnd) {
        let mut events = Vec::new();
        if !self.line.is_empty() {
            let line = std::mem::take(&mut self.line);
            self.on_line(&line, false, &mut events);
        }
        let tail = self.tail.take();
        let settled = tail.as_ref().and_then(|(tail, _)| self.settle(tail, exit_code));
        let mut end = StreamEnd { completed: settled.is_some(), ..Default::default() };
        let unsettled = std::mem::take(&mut self.unsettled);
        match settled {
            Some((verdicts, last)) => {
                for (u, verdict) in unsettled.into_iter().zip(verdicts) {
                    events.push(StreamEvent::Ended { pos: u.pos, verdict, noise: u.noise });
                }
                if let (Some(cur), Some(verdict)) = (self.current.take(), last) {
                    let noise =
                        tail.as_ref().map(|(_, before)| before.clone()).unwrap_or(cur.noise);
                    events.push(StreamEvent::Ended {
                        pos: cur.pos,
                        verdict,
                        noise: noise.into_bytes(),
                    });
                }
            }
            None => {
                // libtest moved past these, so they ended; the last result word they showed
                // is all there is to go by.
                for u in unsettled {
                    events.push(StreamEvent::Ended {
                        pos: u.pos,
                        verdict: u.guess,
                        noise: u.noise,
                    });
                }
                if let Some(cur) = self.current.take() {
                    let mut noise = cur.noise;
                    noise.push(&cur.held);
                    end.unfinished = Some((cur.pos, noise.into_bytes()));
                }
            }
        }
        end.started = std::mem::take(&mut self.started);
        if let Some((tail, _)) = tail {
            end.success_output = tail
                .successes
                .sections
                .into_iter()
                .map(|(pos, out)| (pos, trim_section(out.into_bytes())))
                .collect();
            end.failure_output = tail
                .sections
                .into_iter()
                .map(|(pos, out)| (pos, trim_section(out.into_bytes())))
                .collect();
        }
        (events, end)
    }

    /// Whether `tail` is the true end of the process, and if so the verdicts of the
    /// unsettled tests (in order) and of the last one.
    fn settle(
        &self,
        tail: &Tail,
        exit_code: Option<i32>,
    ) -> Option<(Vec<Verdict>, Option<Verdict>)> {
        let summary = tail.summary?;
        let expected_code = if summary.failed > 0 { 101 } else { 0 };
        if exit_code != Some(expected_code) || tail.listed.len() != summary.failed {
            return None;
        }
        let mut counts = self.given;
        let verdicts: Vec<Verdict> = self
            .unsettled
            .iter()
            .map(|u| match u.guess {
                _ if tail.listed.contains(&u.pos) => Verdict::Failed,
                Verdict::Ignored => Verdict::Ignored,
                _ => Verdict::Ok,
            })
            .collect();
        verdicts.iter().for_each(|&v| counts.add(v));
        let last = self.current.as_ref().map(|cur| {
            let verdict = if tail.listed.contains(&cur.pos) {
                Verdict::Failed
            } else if summary.ignored > counts.ignored {
                Verdict::Ignored
            } else {
                Verdict::Ok
            };
            counts.add(verdict);
            verdict
        });
        (counts == summary).then_some((verdicts, last))
    }

    fn on_line(&mut self, line: &[u8], complete: bool, events: &mut Vec<StreamEvent>) {
        if let Some((at, pos, rest, panics)) = self.find_start(line) {
            let rest = rest.to_vec();
            self.begin(pos, &line[..at], panics, events);
            // The rest may hold the next start line too, as it would have if the line had
            // arrived in pieces.
            self.on_line(&rest, complete, events);
            return;
        }
        // A harness that ends its lines with `\r\n` says the same.
        let bare = line.strip_suffix(b"\r").unwrap_or(line);
        if self.current.is_none() && self.tail.is_none() {
            if let Some(count) = announced_count(bare) {
                self.announced.get_or_insert(count);
                return;
            }
        }
        let names = Names { positions: &self.positions, rank: &self.rank, bare: &self.bare };
        if let Some((tail, _)) = self.tail.as_mut() {
            tail.line(bare, &names);
        } else if bare == b"successes:"
            || bare == b"failures:"
            || bare.starts_with(b"test result: ")
        {
            // A test that shows no result cannot be followed by libtest's end.
            match self.current.as_ref() {
                Some(cur) if cur.verdict.is_some() => {
                    let mut tail = Tail::new(self.keep);
                    tail.line(bare, &names);
                    self.tail = Some((tail, cur.noise.clone()));
                }
                Some(_) => {}
                None => {
                    let mut tail = Tail::new(self.keep);
                    tail.line(bare, &names);
                    self.tail = Some((tail, BoundedOutput::new(0)));
                }
            }
        }
        // Kept for the running test too: if what looked like the end was its output, the
        // lines are its noise and the next start line shows it.
        self.on_result_line(line, complete);
    }

    /// The test at `pos` starts; `before` is what the line held before its start line;
    /// `panics`: libtest named it `- should panic`.
    fn begin(&mut self, pos: usize, before: &[u8], panics: bool, events: &mut Vec<StreamEvent>) {
        self.should_panic[pos] = panics;
        if let Some(cur) = self.current.as_mut() {
            cur.noise.push(before);
        }
        // libtest moved on: whatever looked like its end was a test's output.
        self.tail = None;
        if let Some(cur) = self.current.take() {
            match cur.verdict {
                Some(verdict) => {
                    self.given.add(verdict);
                    events.push(StreamEvent::Ended {
                        pos: cur.pos,
                        verdict,
                        noise: cur.noise.into_bytes(),
                    });
                }
                None => {
                    let mut noise = cur.noise;
                    noise.push(&cur.held);
                    self.unsettled.push(Unsettled {
                        pos: cur.pos,
                        guess: cur.last_verdict.unwrap_or(Verdict::Failed),
                        noise: noise.into_bytes(),
                    });
                }
            }
        }
        events.push(StreamEvent::Started(pos));
        self.started[pos] = true;
        self.started_count += 1;
        self.current = Some(Current {
            pos,
            verdict: None,
            last_verdict: None,
            noise: BoundedOutput::new(self.keep),
            held: Vec::new(),
        });
    }

    /// A line inside the running test: its verdict, or noise. libtest's result line is
    /// followed only by blank lines, the next start line or the end of the tests; any other
    /// line after a verdict-like line shows that line was the test's own output.
    fn on_result_line(&mut self, line: &[u8], complete: bool) {
        let Some(cur) = self.current.as_mut() else { return };
        let newline: &[u8] = if complete { b"\n" } else { b"" };
        if let Some(verdict) = verdict_of(line) {
            let earlier = std::mem::take(&mut cur.held);
            cur.noise.push(&earlier);
            cur.held = [line, newline].concat();
            cur.verdict = Some(verdict);
            cur.last_verdict = Some(verdict);
        } else if (line.is_empty() || line == b"\r") && cur.verdict.is_some() {
            cur.held.extend_from_slice(newline);
        } else {
            let earlier = std::mem::take(&mut cur.held);
            cur.noise.push(&earlier);
            cur.verdict = None;
            cur.noise.push(line);
            cur.noise.push(newline);
        }
    }

    /// Finds the start line of a test that can start now: returns where it begins, its
    /// position, the rest of the line and whether it is a `should_panic` test.
    fn find_start<'a>(&self, line: &'a [u8]) -> Option<(usize, usize, &'a [u8], bool)> {
        // With every name found, libtest runs them in order: only the next one can start.
        let next = (self.announced == Some(self.names.len()))
            .then(|| self.order.get(self.started_count).copied());
        let earliest_rank = self.current.as_ref().map_or(0, |c| self.rank[c.pos] + 1);
        let mut from = 0;
        while let Some(i) = find(&line[from..], b"test ") {
            let at = from + i;
            if let Some((pos, rest, panics)) = self.start_at(&line[at + 5..]) {
                let allowed = match next {
                    Some(next) => next == Some(pos),
                    None => !self.started[pos] && self.rank[pos] >= earliest_rank,
                };
                if allowed {
                    return Some((at, pos, rest, panics));
                }
            }
            from = at + 1;
        }
        None
    }

    /// `NAME ... ` or `NAME - should panic ... ` for a name of the batch; harnesses that
    /// align their result lines pad the name with spaces (`test a.toml  ... ok`), and
    /// libtest-mimic pads kinds to the widest kind of the process (`test [a]    x ... ok`
    /// beside `test [long] y ... ok`), a missing kind too (`test       z ... ok`).
    fn start_at<'a>(&self, after: &'a [u8]) -> Option<(usize, &'a [u8], bool)> {
        let j = find(after, b" ... ")?;
        let name = after[..j].trim_ascii_end();
        let (name, panics) = match name.strip_suffix(b" - should panic") {
            Some(name) => (name, true),
            None => (name, false),
        };
        let pos = self.positions.get(name).or_else(|| self.padded(name));
        pos.map(|&pos| (pos, &after[j + 5..], panics))
    }

    /// The position of a name libtest-mimic padded: without the spaces before it, or
    /// between its `[kind]` and the name.
    fn padded(&self, name: &[u8]) -> Option<&usize> {
        let name = name.trim_ascii_start();
        if let Some(pos) = self.positions.get(name) {
            return Some(pos);
        }
        let end = name.iter().position(|&b| b == b']').filter(|_| name.first() == Some(&b'['))?;
        let mut key = name[..=end].to_vec();
        key.push(b' ');
        key.extend_from_slice(name[end + 1..].trim_ascii_start());
        self.positions.get(key.as_slice())
    }
}

/// libtest ends each section with an extra newline, and a blank line precedes the next.
fn trim_section(mut text: Vec<u8>) -> Vec<u8> {
    while text.last() == Some(&b'\n') {
        text.pop();
    }
    text.push(b'\n');
    text
}

#[cfg(test)]
mod success_tests;
#[cfg(test)]
mod tests;
