//! Reads the output of `<bin> --exact --test-threads=1 names...` as it arrives and says which
//! test started and how each ended.
//!
//! libtest writes `test NAME ... ` before a test and `ok`, `FAILED` or `ignored` after it.
//! Bytes a test writes around the capture (direct writes to fd 1, child processes) land in
//! between and may be anything, so a test's result is the *last* result-like line before the
//! next test's start line (or the end of the tests), and only names of this batch count as
//! start lines. After the tests, the `failures:` part holds each failed test's captured
//! output, which [`StreamParser::finish`] hands out.

use std::collections::HashMap;

use crate::capture::BoundedOutput;

/// A partial line longer than this is cut (a test writing without newlines).
const MAX_PARTIAL_LINE: usize = 64 * 1024;
/// How much of a cut line is kept: more than any test name and result word.
const KEEP_OF_LONG_LINE: usize = 16 * 1024;

/// A result word libtest printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// `ok`
    Ok,
    /// `FAILED`
    Failed,
    /// `ignored` or `ignored, <reason>`
    Ignored,
}

/// What the parser saw happen.
#[derive(Debug, PartialEq, Eq)]
pub enum StreamEvent {
    /// The test at this position of the batch started.
    Started(usize),
    /// The test at this position ended with a verdict; `noise` is what it wrote around the
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

struct Current {
    pos: usize,
    verdict: Option<Verdict>,
    noise: BoundedOutput,
    /// The line that gave `verdict` and blank lines after it: noise if more output follows.
    held: Vec<u8>,
}

/// Incremental parser for one batch process.
pub struct StreamParser {
    positions: HashMap<Vec<u8>, usize>,
    started: Vec<bool>,
    line: Vec<u8>,
    current: Option<Current>,
    in_tail: bool,
    /// Captured output of failed tests, from the `failures:` part, by batch position.
    sections: HashMap<usize, BoundedOutput>,
    /// The section being read.
    section: Option<usize>,
    summary_seen: bool,
    keep: usize,
}

/// What is left when the stream ends.
#[derive(Debug, Default)]
pub struct StreamEnd {
    /// The test that started and never got a result, with what it wrote.
    pub unfinished: Option<(usize, Vec<u8>)>,
    /// Captured output of failed tests, by batch position.
    pub failure_output: HashMap<usize, Vec<u8>>,
    /// libtest printed its `test result:` line: the process ran to its normal end.
    pub completed: bool,
    /// Which batch positions started.
    pub started: Vec<bool>,
}

impl StreamParser {
    /// A parser for a batch of `names` (in any order); positions refer to this slice.
    pub fn new(names: &[&str], keep: usize) -> Self {
        let positions = names.iter().enumerate().map(|(i, n)| (n.as_bytes().to_vec(), i)).collect();
        Self {
            positions,
            started: vec![false; names.len()],
            line: Vec::new(),
            current: None,
            in_tail: false,
            sections: HashMap::new(),
            section: None,
            summary_seen: false,
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
        if self.line.len() > MAX_PARTIAL_LINE {
            // A line with no end in sight: keep its end (where a verdict would be), and move
            // the rest to whoever owns it.
            let cut = self.line.len() - KEEP_OF_LONG_LINE;
            let head: Vec<u8> = self.line.drain(..cut).collect();
            if let Some(cur) = self.current.as_mut().filter(|_| !self.in_tail) {
                cur.noise.push(&head);
            } else if let Some(out) = self.section.and_then(|pos| self.sections.get_mut(&pos)) {
                out.push(&head);
            }
        }
        if !self.in_tail {
            // A start line has no newline until the test ends: act on it now, and keep only
            // the rest of the line for its verdict.
            while let Some((at, pos, rest)) = self.find_start(&self.line) {
                let rest = self.line.len() - rest.len();
                let line = std::mem::take(&mut self.line);
                self.begin(pos, &line[..at], &mut events);
                self.line = line[rest..].to_vec();
            }
        }
        events
    }

    /// The test at `pos` starts; `before` is what the line held before its start line.
    fn begin(&mut self, pos: usize, before: &[u8], events: &mut Vec<StreamEvent>) {
        if let Some(cur) = self.current.as_mut() {
            cur.noise.push(before);
        }
        self.end_current(events);
        events.push(StreamEvent::Started(pos));
        self.started[pos] = true;
        self.current = Some(Current {
            pos,
            verdict: None,
            noise: BoundedOutput::new(self.keep),
            held: Vec::new(),
        });
    }

    /// Ends the stream; returns the last events and what was left.
    pub fn finish(mut self) -> (Vec<StreamEvent>, StreamEnd) {
        let mut events = Vec::new();
        if !self.line.is_empty() {
            let line = std::mem::take(&mut self.line);
            self.on_line(&line, false, &mut events);
        }
        let mut end = StreamEnd { completed: self.summary_seen, ..Default::default() };
        if let Some(cur) = self.current.take() {
            match cur.verdict {
                Some(verdict) => events.push(StreamEvent::Ended {
                    pos: cur.pos,
                    verdict,
                    noise: cur.noise.into_bytes(),
                }),
                None => {
                    let mut noise = cur.noise;
                    noise.push(&cur.held);
                    end.unfinished = Some((cur.pos, noise.into_bytes()));
                }
            }
        }
        end.started = std::mem::take(&mut self.started);
        end.failure_output = self
            .sections
            .into_iter()
            .map(|(pos, out)| (pos, trim_section(out.into_bytes())))
            .collect();
        (events, end)
    }

    /// The test running now (started, no verdict yet), if any.
    pub fn running(&self) -> Option<usize> {
        self.current.as_ref().filter(|c| c.verdict.is_none()).map(|c| c.pos)
    }

    /// A line of the `failures:` part: `---- NAME stdout ----` opens a test's section, the
    /// closing `failures:` list ends the last one.
    fn on_tail_line(&mut self, line: &[u8]) {
        if line.starts_with(b"test result: ") {
            self.summary_seen = true;
            self.section = None;
            return;
        }
        let header = line
            .strip_prefix(b"---- ")
            .and_then(|l| l.strip_suffix(b" stdout ----"))
            .and_then(|name| self.positions.get(name).copied());
        if let Some(pos) = header {
            self.section = Some(pos);
            self.sections.insert(pos, BoundedOutput::new(self.keep));
        } else if line == b"failures:" {
            self.section = None;
        } else if let Some(out) = self.section.and_then(|pos| self.sections.get_mut(&pos)) {
            out.push(line);
            out.push(b"\n");
        }
    }

    fn on_line(&mut self, line: &[u8], complete: bool, events: &mut Vec<StreamEvent>) {
        if self.in_tail {
            self.on_tail_line(line);
            return;
        }
        if let Some((at, pos, rest)) = self.find_start(line) {
            let rest = rest.to_vec();
            self.begin(pos, &line[..at], events);
            self.on_result_line(&rest, complete);
            return;
        }
        let ends_tests = line == b"failures:" || line.starts_with(b"test result: ");
        match self.current.as_ref() {
            // A test that crashed leaves no verdict; the tail then cannot start.
            Some(cur) if cur.verdict.is_some() && ends_tests => {
                self.end_current(events);
                self.enter_tail(line);
            }
            Some(_) => self.on_result_line(line, complete),
            None if ends_tests => self.enter_tail(line),
            None => {}
        }
    }

    /// A line inside a running test: its verdict, or noise. libtest's verdict line is
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
        } else if line.is_empty() && cur.verdict.is_some() {
            cur.held.extend_from_slice(newline);
        } else {
            let earlier = std::mem::take(&mut cur.held);
            cur.noise.push(&earlier);
            cur.verdict = None;
            cur.noise.push(line);
            cur.noise.push(newline);
        }
    }

    fn enter_tail(&mut self, line: &[u8]) {
        self.in_tail = true;
        self.on_line(line, true, &mut Vec::new());
    }

    fn end_current(&mut self, events: &mut Vec<StreamEvent>) {
        if let Some(cur) = self.current.take() {
            // A start line without a verdict before the next one: libtest never does this,
            // so the test's own output hid it; count it failed rather than guess.
            let verdict = cur.verdict.unwrap_or(Verdict::Failed);
            events.push(StreamEvent::Ended {
                pos: cur.pos,
                verdict,
                noise: cur.noise.into_bytes(),
            });
        }
    }

    /// Finds `test NAME ... ` (or `test NAME - should panic ... `) for a name of this batch
    /// that has not started: returns where it begins, its position and the rest of the line.
    fn find_start<'a>(&self, line: &'a [u8]) -> Option<(usize, usize, &'a [u8])> {
        let mut from = 0;
        while let Some(i) = find(&line[from..], b"test ") {
            let at = from + i;
            let after = &line[at + 5..];
            if let Some(j) = find(after, b" ... ") {
                let mut name = &after[..j];
                if let Some(stripped) = name.strip_suffix(b" - should panic") {
                    name = stripped;
                }
                if let Some(&pos) = self.positions.get(name) {
                    if !self.started[pos] {
                        return Some((at, pos, &after[j + 5..]));
                    }
                }
            }
            from = at + 1;
        }
        None
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

fn verdict_of(line: &[u8]) -> Option<Verdict> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.ends_with(b"FAILED") {
        Some(Verdict::Failed)
    } else if line.ends_with(b"ok") {
        Some(Verdict::Ok)
    } else if line == b"ignored" || line.starts_with(b"ignored, ") {
        Some(Verdict::Ignored)
    } else {
        None
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests;
