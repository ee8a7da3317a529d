//! The JUnit XML report (`--junit PATH`), a subscriber of the run events: it collects every
//! test's outcome and the failed attempts before it, and writes the file once, when the run
//! finishes. quick-junit writes the XML, in the layout nextest writes: one `testsuite` per
//! binary id, one `testcase` per test with `classname` = the binary id and `name` = the test
//! name, `flakyFailure` / `rerunFailure` for retries. See docs/reporting.md, "JUnit".

use std::collections::HashMap;
use std::io::{self, Write};
#[cfg(test)]
use std::path::Path;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use quick_junit::{
    FlakyOrRerun, NonSuccessKind, Property, Report, SerializeError, TestCase, TestCaseStatus,
    TestRerun, TestSuite,
};
use xdist_core::events::{RunEvent, RunSubscriber};
use xdist_core::summary::{TestResult, TestStatus};
use xdist_core::testlist::{TestList, compare_binary_ids};
use xdist_core::{WorkerId, worker_name};

use super::junit_scripts;
use crate::scripts::ScriptRecord;

/// The report's name when none is given (nextest's is `nextest-run`).
pub const DEFAULT_RUN_NAME: &str = "xdist-run";

/// Why the JUnit report could not be written.
#[derive(Debug, thiserror::Error)]
pub enum JunitError {
    /// The report's directory could not be created.
    #[error("could not create the directory of the JUnit report {}", path.display())]
    CreateDir {
        /// The report's path.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The report file could not be written.
    #[error("could not write the JUnit report to {}", path.display())]
    WriteFile {
        /// The report's path.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The report could not be written to its output.
    #[error("could not write the JUnit report")]
    WriteOutput {
        /// Why.
        #[source]
        source: io::Error,
    },
    /// quick-junit could not serialize the report.
    #[error("could not serialize the JUnit report")]
    Serialize {
        /// Why.
        #[source]
        source: SerializeError,
    },
}

/// Where the XML goes.
enum Sink<'a> {
    File(PathBuf),
    #[cfg_attr(not(test), allow(dead_code, reason = "tests write to buffers"))]
    Writer(Box<dyn Write + 'a>),
}

/// A test's final outcome with the failed attempts that came before it, oldest first.
struct Outcome {
    last: TestResult,
    earlier: Vec<TestResult>,
}

/// Collects a run's outcomes and writes them as JUnit XML when the run finishes.
pub struct JunitReporter<'a> {
    list: &'a TestList,
    run_name: String,
    sink: Sink<'a>,
    /// `--dist each` (from `RunStarted`): every run of a test is its own case.
    each: bool,
    /// Tests left out before the run, as (binary id, test name).
    skipped_before: Vec<(String, String)>,
    /// Failed attempts not yet claimed by a final outcome, by test.
    retried: HashMap<u32, Vec<TestResult>>,
    outcomes: Vec<Outcome>,
    started: Option<Instant>,
    elapsed: Option<Duration>,
    /// What writing the file on `RunFinished` gave.
    written: Option<Result<(), JunitError>>,
    /// Passing tests' output goes in their `system-out` too (success output was asked
    /// for, as nextest's `store-success-output`).
    success_output: bool,
    /// The setup and teardown scripts that ran.
    scripts: Vec<ScriptRecord>,
}

impl<'a> JunitReporter<'a> {
    /// A reporter for the tests of `list` that writes the report to `path` (its directory
    /// is created) when the run finishes; `run_name` names the `testsuites` element.
    pub fn new(list: &'a TestList, path: impl Into<PathBuf>, run_name: &str) -> Self {
        Self::with_sink(list, Sink::File(path.into()), run_name)
    }

    /// The same, writing the report to `out`.
    #[cfg(test)]
    pub fn with_writer(list: &'a TestList, out: Box<dyn Write + 'a>, run_name: &str) -> Self {
        Self::with_sink(list, Sink::Writer(out), run_name)
    }

    fn with_sink(list: &'a TestList, sink: Sink<'a>, run_name: &str) -> Self {
        Self {
            list,
            run_name: run_name.to_string(),
            sink,
            each: false,
            skipped_before: Vec::new(),
            retried: HashMap::new(),
            outcomes: Vec::new(),
            started: None,
            elapsed: None,
            written: None,
            success_output: false,
            scripts: Vec::new(),
        }
    }

    /// Adds the records of scripts that ran (setup before the run, teardown after it).
    /// The file is written again by [`JunitReporter::finish`] if the run had written it.
    pub fn add_scripts(&mut self, records: &[ScriptRecord]) {
        if !records.is_empty() {
            self.scripts.extend_from_slice(records);
            self.written = None;
        }
    }

    /// Stores passing tests' output in their cases when `store` (success output is on).
    pub fn with_success_output(mut self, store: bool) -> Self {
        self.success_output = store;
        self
    }

    /// Adds the tests left out before the run (`#[ignore]`d ones, which never reach the
    /// event stream) as skipped cases: `indices` into `full`, the list they come from.
    pub fn with_skipped_before(mut self, full: &TestList, indices: &[usize]) -> Self {
        self.skipped_before.extend(indices.iter().map(|&i| {
            let test = &full.tests[i];
            (full.binaries[test.binary as usize].id.clone(), test.name.clone())
        }));
        self
    }

    /// The file the report goes to, if it goes to one.
    #[cfg(test)]
    pub fn path(&self) -> Option<&Path> {
        match &self.sink {
            Sink::File(path) => Some(path),
            Sink::Writer(_) => None,
        }
    }

    /// Whether the report was written, once the run finished; if it has not finished,
    /// writes what was collected so far.
    pub fn finish(mut self) -> Result<(), JunitError> {
        match self.written.take() {
            Some(written) => written,
            None => self.write(),
        }
    }

    /// Writes the report as XML to `out`.
    pub fn write_to(&self, mut out: impl Write) -> Result<(), JunitError> {
        let mut xml = Vec::new();
        self.report().serialize(&mut xml).map_err(|source| JunitError::Serialize { source })?;
        out.write_all(&xml)
            .and_then(|()| out.flush())
            .map_err(|source| JunitError::WriteOutput { source })
    }

    fn write(&mut self) -> Result<(), JunitError> {
        let mut xml = Vec::new();
        self.write_to(&mut xml)?;
        match &mut self.sink {
            Sink::Writer(out) => out
                .write_all(&xml)
                .and_then(|()| out.flush())
                .map_err(|source| JunitError::WriteOutput { source }),
            Sink::File(path) => {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir)
                        .map_err(|source| JunitError::CreateDir { path: path.clone(), source })?;
                }
                std::fs::write(&*path, xml)
                    .map_err(|source| JunitError::WriteFile { path: path.clone(), source })
            }
        }
    }

    /// A final outcome: it takes the failed attempts of its test that led to it.
    fn conclude(&mut self, last: &TestResult) {
        let pending = self.retried.entry(last.index).or_default();
        let earlier = if last.status == TestStatus::NotRun && self.each {
            // Which run of the test it was is not known; given out when the report is made.
            Vec::new()
        } else if !self.each {
            std::mem::take(pending)
        } else {
            // Under `each`, attempts of several runs of the test interleave: a run's retries
            // stay on its worker unless that worker crashed.
            let mut earlier = Vec::new();
            for attempt in 1..last.attempt {
                let position = pending
                    .iter()
                    .position(|r| r.attempt == attempt && r.worker == last.worker)
                    .or_else(|| pending.iter().position(|r| r.attempt == attempt));
                if let Some(position) = position {
                    earlier.push(pending.remove(position));
                }
            }
            earlier
        };
        self.outcomes.push(Outcome { last: last.clone(), earlier });
    }

    /// The report of what was collected so far.
    pub fn report(&self) -> Report {
        let mut leftover: HashMap<u32, Vec<TestResult>> = self
            .retried
            .iter()
            .filter(|(_, attempts)| !attempts.is_empty())
            .map(|(&index, attempts)| (index, attempts.clone()))
            .collect();
        let mut cases: Vec<Case> = Vec::new();
        for outcome in &self.outcomes {
            let test = &self.list.tests[outcome.last.index as usize];
            let binary = &self.list.binaries[test.binary as usize].id;
            let mut earlier = outcome.earlier.clone();
            if outcome.last.status == TestStatus::NotRun && earlier.is_empty() {
                if let Some(attempts) = leftover.remove(&outcome.last.index) {
                    earlier = attempts;
                }
            }
            earlier.sort_by_key(|r| r.attempt);
            cases.push(Case {
                binary: binary.clone(),
                name: test.name.clone(),
                worker: outcome.last.worker,
                in_run: true,
                case: test_case(&outcome.last, &earlier, self.success_output),
            });
        }
        for (binary, name) in &self.skipped_before {
            let mut status = TestCaseStatus::skipped();
            status.set_message("ignored").set_type("ignored");
            let mut case = TestCase::new(name.as_str(), status);
            case.set_time(Duration::ZERO);
            cases.push(Case {
                binary: binary.clone(),
                name: name.clone(),
                worker: None,
                in_run: false,
                case,
            });
        }
        cases.sort_by(|a, b| {
            compare_binary_ids(&a.binary, &b.binary)
                .then_with(|| a.name.as_bytes().cmp(b.name.as_bytes()))
                .then_with(|| a.worker.is_none().cmp(&b.worker.is_none()))
                .then_with(|| a.worker.cmp(&b.worker))
        });
        let mut report = Report::new(self.run_name.as_str());
        if let Some(elapsed) = self.elapsed.or_else(|| self.started.map(|s| s.elapsed())) {
            report.set_time(elapsed);
        }
        report.add_test_suites(junit_scripts::suite("setup", &self.scripts));
        let mut suite: Option<TestSuite> = None;
        let mut names: HashMap<String, u32> = HashMap::new();
        for Case { binary, name, worker, in_run, mut case } in cases {
            if suite.as_ref().is_none_or(|s| s.name.as_str() != binary) {
                report.add_test_suites(suite.take());
                suite = Some(TestSuite::new(binary.as_str()));
            }
            let mut name = match worker {
                Some(worker) if self.each => format!("{name} [{}]", worker_name(worker)),
                None if self.each && in_run => format!("{name} [not run]"),
                _ => name,
            };
            if self.each {
                let seen = names.entry(format!("{binary} {name}")).or_default();
                *seen += 1;
                if *seen > 1 {
                    name = format!("{name} ({seen})");
                }
            }
            case.name = name.into();
            case.set_classname(binary.as_str());
            suite.as_mut().expect("a suite").add_test_case(case);
        }
        report.add_test_suites(suite);
        report.add_test_suites(junit_scripts::suite("teardown", &self.scripts));
        report
    }
}

/// One testcase with what it sorts by.
struct Case {
    binary: String,
    name: String,
    worker: Option<WorkerId>,
    /// It reached the event stream (it was not left out before the run).
    in_run: bool,
    case: TestCase,
}

/// The testcase of a final outcome `last` after the failed attempts `earlier`. The name
/// is set by the caller.
fn test_case(last: &TestResult, earlier: &[TestResult], success_output: bool) -> TestCase {
    let flaky_fail = last.status == TestStatus::Failed
        && !earlier.is_empty()
        && last.cause.as_deref().is_some_and(|c| c.starts_with("flaky: "));
    // As nextest and Surefire: a test that kept failing is described by its first failure,
    // the later ones are `rerunFailure`s; a flaky one by its last run, the failures before
    // it `flakyFailure`s.
    let (main, reruns, kind) = match last.status {
        TestStatus::Failed | TestStatus::TimedOut if !flaky_fail && !earlier.is_empty() => {
            let mut later: Vec<&TestResult> = earlier[1..].iter().collect();
            later.push(last);
            (&earlier[0], later, FlakyOrRerun::Rerun)
        }
        _ => (last, earlier.iter().collect(), FlakyOrRerun::Flaky),
    };
    let mut status = match main.status {
        TestStatus::Passed => TestCaseStatus::success(),
        TestStatus::Failed | TestStatus::TimedOut => {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
            status.set_message(failure_message(main));
            status.set_type(if flaky_fail { "flaky failure" } else { failure_type(main) });
            if let Some(panic) = panic_block(&main.output) {
                status.set_description(panic);
            }
            status
        }
        TestStatus::Skipped => {
            let mut status = TestCaseStatus::skipped();
            status.set_message(main.cause.as_deref().unwrap_or("ignored")).set_type("ignored");
            status
        }
        TestStatus::NotRun => {
            let mut status = TestCaseStatus::skipped();
            status.set_message(main.cause.as_deref().unwrap_or("not run")).set_type("not run");
            if !earlier.is_empty() {
                // A skipped case holds no reruns: the failed attempts are told in its text.
                let told: Vec<String> = earlier
                    .iter()
                    .map(|r| format!("attempt {} failed: {}", r.attempt, failure_message(r)))
                    .collect();
                status.set_description(told.join("\n"));
            }
            status
        }
    };
    status.set_rerun_kind(kind);
    status.add_reruns(reruns.into_iter().map(rerun));
    let mut case = TestCase::new("", status);
    let ran = main.status != TestStatus::NotRun;
    case.set_time(if ran { main.duration } else { Duration::ZERO });
    let passed = main.status == TestStatus::Passed;
    if (main.is_failure() || passed && success_output) && !main.output.is_empty() {
        case.set_system_out_lossy(&main.output);
    }
    if let Some(worker) = last.worker {
        case.add_property(Property::new("worker", worker_name(worker)));
    }
    if last.status != TestStatus::NotRun {
        case.add_property(Property::new("attempt", last.attempt.to_string()));
    }
    case
}

/// A failed attempt as a `flakyFailure` or `rerunFailure`.
fn rerun(result: &TestResult) -> TestRerun {
    let mut rerun = TestRerun::new(NonSuccessKind::Failure);
    rerun.set_time(result.duration);
    rerun.set_message(failure_message(result)).set_type(failure_type(result));
    if let Some(panic) = panic_block(&result.output) {
        rerun.set_description(panic);
    }
    if !result.output.is_empty() {
        rerun.set_system_out_lossy(&result.output);
    }
    rerun
}

/// The `message` of a failure: the session's cause (a crash, a signal, a timeout), else the
/// panic line as nextest writes it (`thread 'x' panicked at src/lib.rs:3:5`), else a word.
fn failure_message(result: &TestResult) -> String {
    if let Some(cause) = &result.cause {
        return cause.clone();
    }
    if result.status == TestStatus::TimedOut {
        return "test timed out".into();
    }
    panic_line(&result.output).map_or_else(|| "test failed".into(), str::to_string)
}

fn failure_type(result: &TestResult) -> &'static str {
    match result.status {
        TestStatus::TimedOut => "test timeout",
        _ => "test failure",
    }
}

/// The first `thread '…' panicked at FILE:LINE:COL` line of `output`, without its colon.
fn panic_line(output: &[u8]) -> Option<&str> {
    let text = xdist_core::protocol::own_output(std::str::from_utf8(output).ok()?);
    text.lines()
        .find(|line| line.starts_with("thread '") && line.contains("' panicked at "))
        .map(|line| line.trim_end().trim_end_matches(':'))
}

/// The panic and its message: from the panic line to the `note:` line or backtrace after
/// it.
fn panic_block(output: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(output);
    let mut lines = xdist_core::protocol::own_output(&text)
        .lines()
        .skip_while(|line| !(line.starts_with("thread '") && line.contains("' panicked at ")));
    let first = lines.next()?;
    let mut block = vec![first];
    block.extend(
        lines.take_while(|line| {
            !line.starts_with("note: ") && !line.starts_with("stack backtrace:")
        }),
    );
    Some(block.join("\n").trim_end().to_string())
}

impl RunSubscriber for JunitReporter<'_> {
    fn on_event(&mut self, event: &RunEvent) {
        match event {
            RunEvent::RunStarted { mode, .. } => {
                self.each = mode == "each";
                self.started = Some(Instant::now());
            }
            RunEvent::TestRetried(result) => {
                self.retried.entry(result.index).or_default().push(result.clone());
            }
            RunEvent::TestFinished(result) => self.conclude(result),
            RunEvent::RunFinished(_) => {
                self.elapsed = self.started.map(|s| s.elapsed());
                self.written = Some(self.write());
            }
            RunEvent::WorkerStarted { .. }
            | RunEvent::WorkerReady { .. }
            | RunEvent::WorkerRetired { .. }
            | RunEvent::WorkerExited { .. }
            | RunEvent::TestStarted { .. }
            | RunEvent::TestSlow { .. }
            | RunEvent::ProcessStarted { .. }
            | RunEvent::ProcessExited { .. }
            | RunEvent::OneNamePerProcess { .. }
            | RunEvent::TestOutput { .. }
            | RunEvent::RunCancelled(_) => {}
        }
    }
}
