//! Results of single tests and the totals of a run.

use std::time::Duration;

use crate::WorkerId;

/// How a selected test ended, from the user's point of view.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TestStatus {
    /// It passed.
    Passed,
    /// It failed, crashed, or its worker died while running it.
    Failed,
    /// It ran past `--timeout` and was killed (counted as failed).
    TimedOut,
    /// It was not run: `#[ignore]`d, or reported ignored by libtest.
    Skipped,
    /// The run stopped before it could run (`--maxfail`, too many crashed workers).
    NotRun,
}

/// The one outcome of one test.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestResult {
    /// Index of the test in the run's list.
    pub index: u32,
    /// How it ended.
    pub status: TestStatus,
    /// Why, when the test itself did not say (a signal, a crashed worker, a stop).
    pub cause: Option<String>,
    /// How long it ran.
    pub duration: Duration,
    /// What it printed, as captured.
    pub output: Vec<u8>,
    /// The worker that ran it, if any did.
    pub worker: Option<WorkerId>,
    /// Which run of the test this was (1 for the first; more with `--retries`).
    pub attempt: u32,
    /// It was the first test of its process to panic (`TestReport::first_panic`).
    pub first_panic: bool,
}

impl TestResult {
    /// Passed, but only after failing at least once.
    pub fn is_flaky(&self) -> bool {
        self.status == TestStatus::Passed && self.attempt > 1
    }

    /// Failed in any way (timeouts included).
    pub fn is_failure(&self) -> bool {
        matches!(self.status, TestStatus::Failed | TestStatus::TimedOut)
    }

    /// Passed, but failed because its test process leaked (`--leak-result fail`).
    pub fn is_leak_failure(&self) -> bool {
        self.status == TestStatus::Failed
            && self.cause.as_deref().is_some_and(|c| c.starts_with(LEAK_FAIL_CAUSE))
    }
}

/// The cause of a test that passed in a process that left processes running, under
/// `--leak-result fail` (nextest's LEAK-FAIL).
pub const LEAK_FAIL_CAUSE: &str =
    "leaked: its test process left processes running after it exited (--leak-result fail)";

/// The counts of a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RunSummary {
    /// Tests that passed.
    pub passed: usize,
    /// Tests that failed (timeouts included).
    pub failed: usize,
    /// Of the failed tests, those that timed out.
    pub timed_out: usize,
    /// Of the passed tests, those that needed a retry.
    pub flaky: usize,
    /// Tests skipped (ignored).
    pub skipped: usize,
    /// Tests the run stopped before.
    pub not_run: usize,
}

impl RunSummary {
    /// Counts one result.
    pub fn add(&mut self, result: &TestResult) {
        if result.is_flaky() {
            self.flaky += 1;
        }
        self.add_status(result.status);
    }

    /// Counts one outcome.
    pub fn add_status(&mut self, status: TestStatus) {
        match status {
            TestStatus::Passed => self.passed += 1,
            TestStatus::Failed => self.failed += 1,
            TestStatus::TimedOut => {
                self.failed += 1;
                self.timed_out += 1;
            }
            TestStatus::Skipped => self.skipped += 1,
            TestStatus::NotRun => self.not_run += 1,
        }
    }

    /// True when no test failed and none was left unrun.
    pub fn is_success(&self) -> bool {
        self.failed == 0 && self.not_run == 0
    }

    /// The last line of a run: `xdist: N passed, N failed, N skipped`.
    pub fn final_line(&self) -> String {
        format!("xdist: {} passed, {} failed, {} skipped", self.passed, self.failed, self.skipped)
    }
}
