//! The terminal report: a header, one line per test as it ends, each failure's output after
//! the run (as `cargo test` shows it), and the closing `xdist: N passed, N failed, N skipped`.

use std::io::{self, Write};
use std::time::Duration;

use xdist_core::summary::{RunSummary, TestResult, TestStatus};
use xdist_core::testlist::TestList;
use xdist_core::{TestIndex, WorkerId, worker_name};

use crate::workers::RunObserver;

/// Prints a run as it happens.
pub struct Reporter<'a> {
    list: &'a TestList,
    verbose: bool,
    out: io::BufWriter<io::Stdout>,
    summary: RunSummary,
    failures: Vec<TestResult>,
    /// Tests that passed on a retry, with the attempt that passed.
    flaky: Vec<(u32, u32)>,
    /// How long each test that ran to a verdict took (for the history).
    durations: Vec<(u32, Duration)>,
    /// Tests per copy of the list, and whether there are several copies (`--dist each`).
    per_copy: usize,
    copies: bool,
}

impl<'a> Reporter<'a> {
    /// A reporter for the tests of `list`, which holds copies of `per_copy` tests when
    /// `copies` is set (`--dist each`): their ids then end in `@copyN`.
    pub fn new(list: &'a TestList, verbose: bool, per_copy: usize, copies: bool) -> Self {
        Self {
            list,
            verbose,
            out: io::BufWriter::with_capacity(64 * 1024, io::stdout()),
            summary: RunSummary::default(),
            failures: Vec::new(),
            flaky: Vec::new(),
            durations: Vec::new(),
            per_copy: per_copy.max(1),
            copies,
        }
    }

    /// The id shown for test `index`.
    fn id(&self, index: u32) -> String {
        let id = self.list.test_id(index as usize);
        if self.copies { format!("{id} @copy{}", index as usize / self.per_copy) } else { id }
    }

    /// How long each test that ran took.
    pub fn durations(&self) -> impl Iterator<Item = (u32, Duration)> + '_ {
        self.durations.iter().copied()
    }

    /// The first line of the run.
    pub fn header(&mut self, tests: usize, skipped: usize, workers: u32) {
        let tests_word = if tests == 1 { "test" } else { "tests" };
        let workers_word = if workers == 1 { "worker" } else { "workers" };
        let skipped = if skipped > 0 { format!(" ({skipped} skipped)") } else { String::new() };
        let _ = writeln!(
            self.out,
            "running {tests} {tests_word} across {workers} {workers_word}{skipped}"
        );
    }

    /// A test left out before the run (`#[ignore]`).
    pub fn skipped(&mut self, id: &str) {
        self.summary.add_status(TestStatus::Skipped);
        let _ = writeln!(self.out, "    SKIP {id}");
    }

    fn line(&mut self, result: &TestResult) {
        let label = match result.status {
            TestStatus::Passed if result.is_flaky() => "FLAKY",
            TestStatus::Passed => "PASS",
            TestStatus::Failed => "FAIL",
            TestStatus::TimedOut => "TIMEOUT",
            TestStatus::Skipped => "SKIP",
            TestStatus::NotRun => return,
        };
        let id = self.id(result.index);
        // `each` always says which worker ran a copy.
        if self.verbose || self.copies {
            let worker = result.worker.map_or_else(|| "-".to_string(), worker_name);
            let _ =
                writeln!(self.out, "    {label} [{worker}] [{}] {id}", seconds(result.duration));
        } else {
            let _ = writeln!(self.out, "    {label} {id}");
        }
    }

    /// Prints the failures and the summary; returns the totals.
    pub fn finish(mut self, stop_reason: Option<&str>) -> RunSummary {
        let _ = self.out.flush();
        let mut out = io::stdout().lock();
        if !self.failures.is_empty() {
            self.failures.sort_by_key(|r| r.index);
            let _ = writeln!(out, "\nfailures:");
            for failure in &self.failures {
                let id = self.id(failure.index);
                let _ = writeln!(out, "\n---- {id} ----");
                if let Some(cause) = &failure.cause {
                    let _ = writeln!(out, "{cause}");
                }
                let _ = out.write_all(&failure.output);
                if !failure.output.is_empty() && failure.output.last() != Some(&b'\n') {
                    let _ = writeln!(out);
                }
            }
            let _ = writeln!(out, "\nfailures:");
            for failure in &self.failures {
                let _ = writeln!(out, "    {}", self.id(failure.index));
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
        if self.summary.timed_out > 0 {
            let _ = writeln!(out, "xdist: {} timed out", self.summary.timed_out);
        }
        if let Some(reason) = stop_reason {
            let _ = writeln!(out, "xdist: {reason}");
        }
        if self.summary.not_run > 0 {
            let _ = writeln!(out, "xdist: {} tests not run", self.summary.not_run);
        }
        let _ = writeln!(out, "{}", self.summary.final_line());
        let _ = out.flush();
        self.summary
    }
}

impl RunObserver for Reporter<'_> {
    fn on_result(&mut self, result: TestResult) {
        self.summary.add(&result);
        if matches!(result.status, TestStatus::Passed | TestStatus::Failed)
            && !result.duration.is_zero()
        {
            self.durations.push((result.index, result.duration));
        }
        self.line(&result);
        if result.is_flaky() {
            self.flaky.push((result.index, result.attempt));
        }
        if result.is_failure() {
            self.failures.push(result);
        }
    }

    fn on_retry(&mut self, result: &TestResult) {
        let id = self.id(result.index);
        let why = result.cause.as_deref().map_or(String::new(), |c| format!(": {c}"));
        let _ = writeln!(self.out, "   RETRY {id} (attempt {} failed{why})", result.attempt);
    }

    fn on_slow(&mut self, index: TestIndex, worker: WorkerId, elapsed: Duration) {
        let id = self.list.test_id(index as usize);
        let _ =
            writeln!(self.out, "    SLOW [{}] [>{}] {id}", worker_name(worker), seconds(elapsed));
    }

    fn on_note(&mut self, note: &str) {
        let _ = self.out.flush();
        let _ = writeln!(io::stderr(), "xdist: {note}");
    }

    fn flush(&mut self) {
        let _ = self.out.flush();
    }
}

fn seconds(d: Duration) -> String {
    format!("{:>8.3}s", d.as_secs_f64())
}
