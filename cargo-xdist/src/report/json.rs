//! `--message-format json`: the run events as newline-delimited JSON on stdout, one object
//! per event, each with `"version"` and `"event"`, while the run goes. The schema is
//! `docs/json-events.schema.json`; docs/reporting.md describes it.

use std::io::Write;

use serde::Serialize;
use xdist_core::events::{CancelReason, RunEvent, RunSubscriber, WorkerExit};
use xdist_core::summary::{RunSummary, TestResult, TestStatus};
use xdist_core::testlist::TestList;
use xdist_core::{TestIndex, WorkerId, worker_name};

use crate::scripts::{ScriptRecord, ScriptResult};

/// The version of the stream's format; it changes only when a field changes meaning or
/// goes away (new fields and events may appear without it).
pub const FORMAT_VERSION: u32 = 1;

/// One line of the stream.
#[derive(Serialize)]
#[serde(tag = "event", rename_all = "kebab-case", rename_all_fields = "kebab-case")]
enum Line<'a> {
    RunStarted {
        tests: usize,
        skipped: usize,
        workers: u32,
        mode: &'a str,
    },
    WorkerStarted {
        worker: String,
        replacing: Option<String>,
    },
    WorkerReady {
        worker: String,
    },
    WorkerExited {
        worker: String,
        expected: bool,
        cause: ExitCause<'a>,
        message: String,
    },
    TestStarted {
        id: String,
        binary_id: &'a str,
        name: &'a str,
        worker: String,
    },
    TestSlow {
        id: String,
        binary_id: &'a str,
        name: &'a str,
        worker: String,
        elapsed: f64,
    },
    TestFinished(TestLine<'a>),
    TestRetried(TestLine<'a>),
    RunCancelled {
        reason: Reason<'a>,
        message: String,
    },
    RunFinished(Totals),
    ScriptStarted {
        phase: &'a str,
        index: usize,
        command: &'a str,
    },
    ScriptFinished {
        phase: &'a str,
        index: usize,
        command: &'a str,
        outcome: &'static str,
        duration: f64,
        cause: Option<&'a str>,
        output: String,
    },
}

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct TestLine<'a> {
    id: String,
    binary_id: &'a str,
    name: &'a str,
    outcome: &'static str,
    flaky: bool,
    duration: f64,
    worker: Option<String>,
    attempt: u32,
    cause: Option<&'a str>,
    output: String,
}

#[derive(Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case", rename_all_fields = "kebab-case")]
enum ExitCause<'a> {
    Code { code: i32 },
    Signal { signal: &'a str },
    Protocol { detail: &'a str },
    Silent { after: f64 },
    SpawnFailed { detail: &'a str },
}

#[derive(Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case", rename_all_fields = "kebab-case")]
enum Reason<'a> {
    TestFailures { max: u32 },
    CrashLimit { max: u32, worker: String },
    Signal { signal: &'a str },
    Internal { detail: &'a str },
}

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct Totals {
    passed: usize,
    failed: usize,
    timed_out: usize,
    flaky: usize,
    skipped: usize,
    not_run: usize,
}

#[derive(Serialize)]
struct Versioned<'a> {
    version: u32,
    #[serde(flatten)]
    line: Line<'a>,
}

/// Writes the run events as JSON lines.
pub struct JsonStream<'a, W: Write> {
    list: &'a TestList,
    out: W,
    /// Indented objects (`json-pretty`) rather than one a line.
    pretty: bool,
    /// Tests left out before the run (id, binary id, name), reported after `run-started`.
    skipped_before: Vec<(String, String, String)>,
}

impl<'a, W: Write> JsonStream<'a, W> {
    /// A stream for the tests of `list`, indented when `pretty`; `skipped_before` are
    /// (binary id, name) of tests ignored before the run.
    pub fn with_style(
        list: &'a TestList,
        skipped_before: Vec<(String, String)>,
        out: W,
        pretty: bool,
    ) -> Self {
        let skipped_before = skipped_before
            .into_iter()
            .map(|(binary, name)| (format!("{binary} {name}"), binary, name))
            .collect::<Vec<_>>();
        Self { list, out, pretty, skipped_before }
    }

    /// A `script-started` and a `script-finished` line for each script that ran (setup
    /// scripts run before the stream's run starts, teardown scripts after it finished).
    pub fn scripts(&mut self, records: &[ScriptRecord]) {
        for record in records {
            let (phase, index, command) = (record.phase, record.index, record.command.as_str());
            self.emit(Line::ScriptStarted { phase, index, command });
            let (outcome, cause) = match &record.result {
                ScriptResult::Passed => ("passed", None),
                ScriptResult::Failed(why) => ("failed", Some(why.as_str())),
                ScriptResult::Interrupted(signal) => ("interrupted", Some(signal.as_str())),
            };
            self.emit(Line::ScriptFinished {
                phase,
                index,
                command,
                outcome,
                duration: record.duration.as_secs_f64(),
                cause,
                output: String::from_utf8_lossy(&record.output).into_owned(),
            });
        }
        let _ = self.out.flush();
    }

    fn emit(&mut self, line: Line<'_>) {
        let versioned = Versioned { version: FORMAT_VERSION, line };
        let written = if self.pretty {
            serde_json::to_writer_pretty(&mut self.out, &versioned)
        } else {
            serde_json::to_writer(&mut self.out, &versioned)
        };
        if written.is_ok() {
            let _ = self.out.write_all(b"\n");
        }
    }

    fn ids(&self, index: TestIndex) -> (String, &'a str, &'a str) {
        let test = &self.list.tests[index as usize];
        let binary = &self.list.binaries[test.binary as usize].id;
        (format!("{binary} {}", test.name), binary.as_str(), test.name.as_str())
    }
}

fn outcome(status: TestStatus) -> &'static str {
    match status {
        TestStatus::Passed => "passed",
        TestStatus::Failed => "failed",
        TestStatus::TimedOut => "timed-out",
        TestStatus::Skipped => "skipped",
        TestStatus::NotRun => "not-run",
    }
}

fn test_line<'r>(
    (id, binary_id, name): (String, &'r str, &'r str),
    result: &'r TestResult,
) -> TestLine<'r> {
    TestLine {
        id,
        binary_id,
        name,
        outcome: outcome(result.status),
        flaky: result.is_flaky(),
        duration: result.duration.as_secs_f64(),
        worker: result.worker.map(worker_name),
        attempt: result.attempt,
        cause: result.cause.as_deref(),
        output: String::from_utf8_lossy(&result.output).into_owned(),
    }
}

fn exit_cause(cause: &WorkerExit) -> ExitCause<'_> {
    match cause {
        WorkerExit::Code(code) => ExitCause::Code { code: *code },
        WorkerExit::Signal(signal) => ExitCause::Signal { signal },
        WorkerExit::Protocol(detail) => ExitCause::Protocol { detail },
        WorkerExit::Silent(after) => ExitCause::Silent { after: after.as_secs_f64() },
        WorkerExit::SpawnFailed(detail) => ExitCause::SpawnFailed { detail },
    }
}

fn reason(reason: &CancelReason) -> Reason<'_> {
    match reason {
        CancelReason::TestFailures(max) => Reason::TestFailures { max: *max },
        CancelReason::CrashLimit { max, worker } => {
            Reason::CrashLimit { max: *max, worker: worker_name(*worker) }
        }
        CancelReason::Signal(signal) => Reason::Signal { signal },
        CancelReason::Internal(detail) => Reason::Internal { detail },
    }
}

fn totals(summary: &RunSummary) -> Totals {
    Totals {
        passed: summary.passed,
        failed: summary.failed,
        timed_out: summary.timed_out,
        flaky: summary.flaky,
        skipped: summary.skipped,
        not_run: summary.not_run,
    }
}

impl<W: Write> RunSubscriber for JsonStream<'_, W> {
    fn on_event(&mut self, event: &RunEvent) {
        let worker = |w: &WorkerId| worker_name(*w);
        match event {
            RunEvent::RunStarted { tests, skipped, workers, mode } => {
                self.emit(Line::RunStarted {
                    tests: *tests,
                    skipped: *skipped,
                    workers: *workers,
                    mode,
                });
                for (id, binary_id, name) in std::mem::take(&mut self.skipped_before) {
                    let line = TestLine {
                        id,
                        binary_id: &binary_id,
                        name: &name,
                        outcome: "skipped",
                        flaky: false,
                        duration: 0.0,
                        worker: None,
                        attempt: 0,
                        cause: Some("ignored"),
                        output: String::new(),
                    };
                    self.emit(Line::TestFinished(line));
                }
            }
            RunEvent::WorkerStarted { worker: w, replacing } => {
                let line = Line::WorkerStarted {
                    worker: worker(w),
                    replacing: replacing.as_ref().map(worker),
                };
                self.emit(line);
            }
            RunEvent::WorkerReady { worker: w } => {
                self.emit(Line::WorkerReady { worker: worker(w) })
            }
            RunEvent::WorkerExited { worker: w, cause, expected } => {
                let line = Line::WorkerExited {
                    worker: worker(w),
                    expected: *expected,
                    cause: exit_cause(cause),
                    message: cause.to_string(),
                };
                self.emit(line);
            }
            RunEvent::TestStarted { index, worker: w } => {
                let (id, binary_id, name) = self.ids(*index);
                self.emit(Line::TestStarted { id, binary_id, name, worker: worker(w) });
            }
            RunEvent::TestSlow { index, worker: w, elapsed } => {
                let (id, binary_id, name) = self.ids(*index);
                let elapsed = elapsed.as_secs_f64();
                self.emit(Line::TestSlow { id, binary_id, name, worker: worker(w), elapsed });
            }
            RunEvent::TestFinished(result) => {
                let line = test_line(self.ids(result.index), result);
                self.emit(Line::TestFinished(line));
            }
            RunEvent::TestRetried(result) => {
                let line = test_line(self.ids(result.index), result);
                self.emit(Line::TestRetried(line));
            }
            RunEvent::RunCancelled(r) => {
                self.emit(Line::RunCancelled { reason: reason(r), message: r.to_string() });
            }
            RunEvent::RunFinished(summary) => {
                self.emit(Line::RunFinished(totals(summary)));
                let _ = self.out.flush();
            }
            // Not part of the stream (version 1): `--no-capture` output goes to the human
            // report, test processes to `--timeline`, one-name binaries to the history, and
            // a retired seat is seen in the worker-exited line with no worker-started line
            // replacing it.
            RunEvent::WorkerRetired { .. }
            | RunEvent::ProcessStarted { .. }
            | RunEvent::ProcessExited { .. }
            | RunEvent::OneNamePerProcess { .. }
            | RunEvent::TestOutput { .. } => {}
        }
    }

    fn flush(&mut self) {
        let _ = self.out.flush();
    }
}
