//! The terminal report, a subscriber of the run events: a header, one line per test as it
//! ends, each failure's output after the run (as `cargo test` shows it; `--failure-output`
//! and `--success-output` say when), and the closing `xdist: N passed, N failed, N skipped`.
//! Notes about workers and stops go to stderr. The live bar is another subscriber
//! ([`super::progress`]) that this one writes above.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::time::Duration;

use xdist_core::events::{CancelReason, RunEvent, RunSubscriber};
use xdist_core::protocol::OutputStream;
use xdist_core::summary::{RunSummary, TestResult, TestStatus};
use xdist_core::testlist::TestList;
use xdist_core::worker_name;

use super::style::Palette;
use crate::cli::display::OutputWhen;

/// How much the terminal shows per test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Detail {
    /// `-v`: the worker and duration on every line.
    pub verbose: bool,
    /// `--dist each`: every line names its worker.
    pub each: bool,
    /// `-q`: only failures and the summary.
    pub quiet: bool,
    /// `--durations N`: list the N slowest tests before the summary line.
    pub slowest: usize,
    /// `--failure-output`.
    pub failure_output: OutputWhen,
    /// `--success-output`.
    pub success_output: OutputWhen,
    /// `--show-progress counter`: `(done/total)` on each test's line.
    pub counter: bool,
    /// The labels' colors.
    pub palette: Palette,
    /// `--leak-kill false`: leaked processes are left running (the LEAK notice says so).
    pub leaks_left: bool,
}

impl Default for Detail {
    fn default() -> Self {
        Self {
            verbose: false,
            each: false,
            quiet: false,
            slowest: 0,
            failure_output: OutputWhen::Final,
            success_output: OutputWhen::Never,
            counter: false,
            palette: Palette::default(),
            leaks_left: false,
        }
    }
}

/// Prints a run as it happens.
pub struct TerminalReporter<'a> {
    list: &'a TestList,
    detail: Detail,
    out: Box<dyn Write + 'a>,
    err: Box<dyn Write + 'a>,
    /// Tests left out before the run, shown after the header.
    skipped_before: Vec<String>,
    failures: Vec<TestResult>,
    /// (test, worker) of every failure, for the list before the summary.
    failed: Vec<(u32, Option<u32>)>,
    /// Passing tests with output, for `--success-output final`.
    successes: Vec<TestResult>,
    /// Outcomes so far and to come, for the counter.
    done: usize,
    total: usize,
    /// (test, worker, duration) of every test that ran, for `--durations`.
    durations: Vec<(u32, Option<u32>, Duration)>,
    /// Tests that passed on a retry, with the attempt that passed.
    flaky: Vec<(u32, u32)>,
    cancelled: Option<CancelReason>,
    summary: Option<RunSummary>,
    /// `--no-capture`: the unfinished last line of each worker's stdout and stderr.
    partial: BTreeMap<(u32, bool), Vec<u8>>,
    /// The test each worker started last (a leak is told with its binary).
    last_started: BTreeMap<u32, u32>,
}

impl<'a> TerminalReporter<'a> {
    /// A reporter for the tests of `list` on stdout and stderr; `skipped_before` are the ids
    /// of tests left out before the run (`#[ignore]`).
    pub fn new(list: &'a TestList, detail: Detail, skipped_before: Vec<String>) -> Self {
        let out = Box::new(io::BufWriter::with_capacity(64 * 1024, io::stdout()));
        Self::with_output(list, detail, skipped_before, out, Box::new(io::stderr()))
    }

    /// The same, writing to `out` and `err`.
    pub fn with_output(
        list: &'a TestList,
        detail: Detail,
        skipped_before: Vec<String>,
        out: Box<dyn Write + 'a>,
        err: Box<dyn Write + 'a>,
    ) -> Self {
        Self {
            list,
            detail,
            out,
            err,
            skipped_before,
            failures: Vec::new(),
            failed: Vec::new(),
            successes: Vec::new(),
            done: 0,
            total: 0,
            durations: Vec::new(),
            flaky: Vec::new(),
            cancelled: None,
            summary: None,
            partial: BTreeMap::new(),
            last_started: BTreeMap::new(),
        }
    }

    /// The run's totals, once it finished.
    pub fn summary(&self) -> Option<RunSummary> {
        self.summary
    }

    fn id(&self, index: u32) -> String {
        self.list.test_id(index as usize)
    }

    fn header(&mut self, tests: usize, workers: u32) {
        self.total = tests;
        if self.detail.quiet {
            return;
        }
        let tests_word = if tests == 1 { "test" } else { "tests" };
        let workers_word = if workers == 1 { "worker" } else { "workers" };
        let skipped = self.skipped_before.len();
        let skipped = if skipped > 0 { format!(" ({skipped} skipped)") } else { String::new() };
        let _ = writeln!(
            self.out,
            "running {tests} {tests_word} across {workers} {workers_word}{skipped}"
        );
        let skip = self.detail.palette.label("SKIP");
        for id in &self.skipped_before {
            let _ = writeln!(self.out, "    {skip} {id}");
        }
    }

    fn line(&mut self, result: &TestResult) {
        self.done += 1;
        let label = match result.status {
            TestStatus::Passed if result.is_flaky() => "FLAKY",
            TestStatus::Passed => "PASS",
            TestStatus::Failed if result.is_leak_failure() => "LEAK-FAIL",
            TestStatus::Failed => "FAIL",
            TestStatus::TimedOut => "TIMEOUT",
            TestStatus::Skipped => "SKIP",
            TestStatus::NotRun => return,
        };
        if self.detail.quiet && !result.is_failure() {
            return;
        }
        let mut id = self.id(result.index);
        if self.detail.counter {
            let width = self.total.to_string().len();
            id = format!("({:>width$}/{}) {id}", self.done, self.total);
        }
        let label = self.detail.palette.label(label);
        if self.detail.verbose || self.detail.each {
            let worker = result.worker.map_or_else(|| "-".to_string(), worker_name);
            let _ =
                writeln!(self.out, "    {label} [{worker}] [{}] {id}", seconds(result.duration));
        } else {
            let _ = writeln!(self.out, "    {label} {id}");
        }
        let when = if result.is_failure() {
            self.detail.failure_output
        } else if result.status == TestStatus::Passed && !result.output.is_empty() {
            self.detail.success_output
        } else {
            return;
        };
        if when.immediate() {
            let _ = writeln!(self.out);
            output_block(&mut self.out, self.list, result, self.detail);
            let _ = writeln!(self.out);
        }
        if when.last() {
            if result.is_failure() {
                self.failures.push(result.clone());
            } else {
                self.successes.push(result.clone());
            }
        }
    }

    /// `--no-capture`: a test process's bytes, line by line, each line after its worker's
    /// name (`[gw0] hello`); stdout's lines go to the report's stream, stderr's to stderr.
    fn live_output(&mut self, worker: u32, stream: OutputStream, bytes: &[u8]) {
        let err = stream == OutputStream::Stderr;
        let partial = self.partial.entry((worker, err)).or_default();
        partial.extend_from_slice(bytes);
        let Some(last) = partial.iter().rposition(|&b| b == b'\n') else { return };
        let rest = partial.split_off(last + 1);
        let whole = std::mem::replace(partial, rest);
        let out = if err { &mut self.err } else { &mut self.out };
        for line in whole.split_inclusive(|&b| b == b'\n') {
            let _ = write!(out, "[{}] ", worker_name(worker));
            let _ = out.write_all(line);
        }
    }

    /// The unfinished lines of a worker's process, when it ended.
    fn end_live_output(&mut self, worker: u32) {
        for err in [false, true] {
            if let Some(line) = self.partial.remove(&(worker, err)) {
                if !line.is_empty() {
                    let out = if err { &mut self.err } else { &mut self.out };
                    let _ = write!(out, "[{}] ", worker_name(worker));
                    let _ = out.write_all(&line);
                    let _ = writeln!(out);
                }
            }
        }
    }

    fn note(&mut self, note: &str) {
        let _ = self.out.flush();
        let _ = writeln!(self.err, "xdist: {note}");
        let _ = self.err.flush();
    }

    /// The failures and the summary.
    fn finish(&mut self, summary: RunSummary) {
        self.summary = Some(summary);
        let out = &mut self.out;
        if !self.successes.is_empty() {
            self.successes.sort_by_key(|r| (r.index, r.worker));
            let _ = writeln!(out, "\nsuccesses:");
            for success in &self.successes {
                let _ = writeln!(out);
                output_block(out, self.list, success, self.detail);
            }
            let _ = writeln!(out, "\nsuccesses:");
            for success in &self.successes {
                let _ = writeln!(out, "    {}", failure_id(self.list, success, self.detail));
            }
        }
        self.failed.sort_by_key(|r| (r.0, r.1));
        if !self.failures.is_empty() {
            self.failures.sort_by_key(|r| (r.index, r.worker));
            let _ = writeln!(out, "\nfailures:");
            for failure in &self.failures {
                let _ = writeln!(out);
                output_block(out, self.list, failure, self.detail);
            }
        }
        if !self.failed.is_empty() {
            let _ = writeln!(out, "\nfailures:");
            for (index, worker) in &self.failed {
                let _ = writeln!(out, "    {}", shown_id(self.list, *index, *worker, self.detail));
            }
        }
        let _ = writeln!(out);
        if !self.flaky.is_empty() {
            let _ = writeln!(out, "xdist: {} flaky (passed on a retry):", self.flaky.len());
            for (index, attempt) in &self.flaky {
                let _ =
                    writeln!(out, "    {} (attempt {attempt})", self.list.test_id(*index as usize));
            }
        }
        if summary.timed_out > 0 {
            let _ = writeln!(out, "xdist: {} timed out", summary.timed_out);
        }
        if let Some(reason) = &self.cancelled {
            let _ = writeln!(out, "xdist: {reason}");
        }
        if self.detail.slowest > 0 && !self.durations.is_empty() {
            let mut slowest = self.durations.clone();
            slowest.sort_by(|a, b| b.2.cmp(&a.2).then((a.0, a.1).cmp(&(b.0, b.1))));
            slowest.truncate(self.detail.slowest);
            let _ = writeln!(out, "xdist: slowest {} tests:", slowest.len());
            for (index, worker, took) in slowest {
                let worker = worker.map_or_else(|| "-".to_string(), worker_name);
                let id = self.list.test_id(index as usize);
                let _ = writeln!(out, "    [{}] [{worker}] {id}", seconds(took));
            }
        }
        if summary.not_run > 0 {
            let _ = writeln!(out, "xdist: {} tests not run", summary.not_run);
        }
        let _ = writeln!(out, "{}", summary.final_line());
        let _ = out.flush();
    }
}

/// A failed test's id; under `each`, with the worker whose run failed.
fn failure_id(list: &TestList, failure: &TestResult, detail: Detail) -> String {
    shown_id(list, failure.index, failure.worker, detail)
}

/// A test's id; under `each`, with the worker whose run it was.
fn shown_id(list: &TestList, index: u32, worker: Option<u32>, detail: Detail) -> String {
    let id = list.test_id(index as usize);
    match worker {
        Some(worker) if detail.each => format!("{id} [{}]", worker_name(worker)),
        _ => id,
    }
}

/// A test's output as `cargo test` shows a failure's: `---- id ----`, then where it ran and
/// where it panicked, its cause, and the output.
fn output_block(out: &mut dyn Write, list: &TestList, result: &TestResult, detail: Detail) {
    let _ = writeln!(out, "---- {} ----", failure_id(list, result, detail));
    let worker = result.worker.map_or_else(|| "-".to_string(), worker_name);
    let output = String::from_utf8_lossy(&result.output);
    let at = panic_location(&output).map_or(String::new(), |at| format!(", panicked at {at}"));
    let _ = writeln!(out, "[{worker}] attempt {}{at}", result.attempt);
    if let Some(cause) = &result.cause {
        let _ = writeln!(out, "{cause}");
    }
    let _ = out.write_all(&result.output);
    if !result.output.is_empty() && result.output.last() != Some(&b'\n') {
        let _ = writeln!(out);
    }
}

impl RunSubscriber for TerminalReporter<'_> {
    fn on_event(&mut self, event: &RunEvent) {
        match event {
            RunEvent::RunStarted { tests, workers, .. } => self.header(*tests, *workers),
            RunEvent::TestFinished(result) => {
                self.line(result);
                if !matches!(result.status, TestStatus::Skipped | TestStatus::NotRun) {
                    self.durations.push((result.index, result.worker, result.duration));
                }
                if result.is_flaky() {
                    self.flaky.push((result.index, result.attempt));
                }
                if result.is_failure() {
                    self.failed.push((result.index, result.worker));
                }
            }
            RunEvent::TestRetried(result) => {
                let id = self.id(result.index);
                let why = result.cause.as_deref().map_or(String::new(), |c| format!(": {c}"));
                let retry = self.detail.palette.label("RETRY");
                let _ =
                    writeln!(self.out, "   {retry} {id} (attempt {} failed{why})", result.attempt);
            }
            RunEvent::TestSlow { index, worker, elapsed } => {
                let id = self.id(*index);
                let worker = worker_name(*worker);
                let slow = self.detail.palette.label("SLOW");
                let _ = writeln!(self.out, "    {slow} [{worker}] [>{}] {id}", seconds(*elapsed));
            }
            RunEvent::WorkerExited { worker, cause, expected: false } => {
                self.end_live_output(*worker);
                self.note(&format!("[{}] worker down: {cause}", worker_name(*worker)));
            }
            RunEvent::WorkerRetired { worker, max } => {
                let restarts = if *max == 1 { "restart" } else { "restarts" };
                self.note(&format!(
                    "not replacing crashed worker {}: its seat used its {max} {restarts} \
                     (--max-worker-restart)",
                    worker_name(*worker)
                ));
            }
            RunEvent::WorkerStarted { replacing: Some(crashed), .. } => {
                self.note(&format!("replacing crashed worker {}", worker_name(*crashed)));
            }
            RunEvent::RunCancelled(reason) => {
                self.note(&reason.to_string());
                self.cancelled = Some(reason.clone());
            }
            RunEvent::RunFinished(summary) => self.finish(*summary),
            RunEvent::TestOutput { worker, stream, bytes, .. } => {
                self.live_output(*worker, *stream, bytes);
            }
            RunEvent::ProcessExited { worker, leaked, .. } => {
                self.end_live_output(*worker);
                if *leaked {
                    let test = self
                        .last_started
                        .get(worker)
                        .and_then(|&i| self.list.tests.get(i as usize));
                    let binary = test
                        .and_then(|t| self.list.binaries.get(t.binary as usize))
                        .map_or_else(String::new, |b| format!(" of {}", b.id));
                    let fate = if self.detail.leaks_left {
                        "they were left running (--leak-kill false)"
                    } else {
                        "they were killed"
                    };
                    self.note(&format!(
                        "LEAK [{}] a test process{binary} left processes running after it \
                         exited; {fate}",
                        worker_name(*worker)
                    ));
                }
            }
            RunEvent::TestStarted { index, worker } => {
                self.last_started.insert(*worker, *index);
            }
            RunEvent::WorkerStarted { .. }
            | RunEvent::WorkerReady { .. }
            | RunEvent::WorkerExited { .. }
            | RunEvent::OneNamePerProcess { .. }
            | RunEvent::ProcessStarted { .. } => {}
        }
    }

    fn flush(&mut self) {
        let _ = self.out.flush();
    }
}

/// `src/lib.rs:3:5` from libtest's `thread 'x' (7) panicked at src/lib.rs:3:5:`.
pub(crate) fn panic_location(output: &str) -> Option<&str> {
    let output = xdist_core::protocol::own_output(output);
    let at = output.find(" panicked at ")? + " panicked at ".len();
    let location = output[at..].lines().next()?.trim_end_matches(':');
    (!location.is_empty()).then_some(location)
}

fn seconds(d: Duration) -> String {
    format!("{:>8.3}s", d.as_secs_f64())
}
