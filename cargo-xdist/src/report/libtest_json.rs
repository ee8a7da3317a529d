//! `--message-format libtest-json`: the lines `cargo test -- -Z unstable-options --format
//! json --report-time` prints, so that tools reading libtest's JSON (cargo2junit and the
//! like) read a cargo-xdist run unchanged.
//!
//! As `cargo test` does, each test binary is one suite block: `suite started` with its
//! `test_count`, then for each test (in name order) `test started` and one of `ok`,
//! `failed` (with `stdout`) or `ignored`, then `suite ok` or `suite failed` with the
//! counts. Names are libtest's own (`tests::adds`), unique within their block; under
//! `--dist each` each worker's run is its own test, `tests::adds [gw0]`. A block is written
//! when its binary's last test has its outcome (tests of one binary run on many workers at
//! once, so blocks never interleave); blocks still open when the run ends (a stop, `--dist
//! each`) are written then, in binary-id order.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Instant;

use serde::Serialize;
use xdist_core::events::{RunEvent, RunSubscriber};
use xdist_core::summary::{TestResult, TestStatus};
use xdist_core::testlist::TestList;
use xdist_core::worker_name;

/// One of libtest's lines, its fields in libtest's order.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum Line<'a> {
    Suite(SuiteLine),
    Test(TestLine<'a>),
}

#[derive(Serialize)]
#[serde(tag = "event", rename_all = "lowercase")]
enum SuiteLine {
    Started { test_count: usize },
    Ok(Counts),
    Failed(Counts),
}

#[derive(Clone, Copy, Default, Serialize)]
struct Counts {
    passed: usize,
    failed: usize,
    ignored: usize,
    measured: usize,
    filtered_out: usize,
    exec_time: f64,
}

#[derive(Serialize)]
struct TestLine<'a> {
    name: &'a str,
    #[serde(flatten)]
    event: TestEvent<'a>,
}

#[derive(Serialize)]
#[serde(tag = "event", rename_all = "lowercase")]
enum TestEvent<'a> {
    Started,
    Ok {
        exec_time: f64,
    },
    Failed {
        exec_time: f64,
        stdout: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        message: Option<&'a str>,
    },
    Ignored {
        #[serde(skip_serializing_if = "Option::is_none")]
        message: Option<&'a str>,
    },
}

/// A binary's block while its tests run.
#[derive(Default)]
struct Suite {
    /// Outcomes still to come.
    pending: usize,
    /// (name, result) of each test, ignored-before tests as `None`.
    results: Vec<(String, Option<TestResult>)>,
    first_started: Option<Instant>,
    written: bool,
}

/// Writes the run as libtest's JSON lines.
pub struct LibtestJson<'a, W: Write> {
    list: &'a TestList,
    out: W,
    each: bool,
    /// By binary index.
    suites: BTreeMap<u32, Suite>,
}

impl<'a, W: Write> LibtestJson<'a, W> {
    /// A writer for the tests of `list`; `skipped_before` are (binary id, name) of tests
    /// ignored before the run, which are `ignored` in their binary's block.
    pub fn new(list: &'a TestList, skipped_before: Vec<(String, String)>, out: W) -> Self {
        let mut suites: BTreeMap<u32, Suite> = BTreeMap::new();
        for test in &list.tests {
            suites.entry(test.binary).or_default().pending += 1;
        }
        for (binary_id, name) in skipped_before {
            if let Some(b) = list.binaries.iter().position(|b| b.id == binary_id) {
                suites.entry(b as u32).or_default().results.push((name, None));
            }
        }
        Self { list, out, each: false, suites }
    }

    fn emit(&mut self, line: &Line<'_>) {
        if serde_json::to_writer(&mut self.out, line).is_ok() {
            let _ = self.out.write_all(b"\n");
        }
    }

    fn finished(&mut self, result: &TestResult) {
        let test = &self.list.tests[result.index as usize];
        let mut name = test.name.clone();
        if self.each {
            let worker = result.worker.map_or_else(|| "not run".to_string(), worker_name);
            name = format!("{name} [{worker}]");
        }
        let suite = self.suites.entry(test.binary).or_default();
        suite.results.push((name, Some(result.clone())));
        suite.pending = suite.pending.saturating_sub(1);
        if suite.pending == 0 && !self.each {
            self.write_suite(test.binary);
        }
    }

    fn write_suite(&mut self, binary: u32) {
        let Some(suite) = self.suites.get_mut(&binary) else { return };
        if suite.written {
            return;
        }
        suite.written = true;
        let mut results = std::mem::take(&mut suite.results);
        results.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        let exec_time = suite.first_started.map_or(0.0, |s| s.elapsed().as_secs_f64());
        self.emit(&Line::Suite(SuiteLine::Started { test_count: results.len() }));
        let mut counts = Counts { exec_time, ..Counts::default() };
        for (name, result) in &results {
            let name = name.as_str();
            self.emit(&Line::Test(TestLine { name, event: TestEvent::Started }));
            let event = match result {
                None => TestEvent::Ignored { message: None },
                Some(r) => {
                    let exec_time = r.duration.as_secs_f64();
                    match r.status {
                        TestStatus::Passed => TestEvent::Ok { exec_time },
                        TestStatus::Failed | TestStatus::TimedOut => TestEvent::Failed {
                            exec_time,
                            stdout: String::from_utf8_lossy(&r.output).into_owned(),
                            message: r.cause.as_deref(),
                        },
                        TestStatus::Skipped => TestEvent::Ignored { message: None },
                        TestStatus::NotRun => TestEvent::Ignored { message: r.cause.as_deref() },
                    }
                }
            };
            match event {
                TestEvent::Ok { .. } => counts.passed += 1,
                TestEvent::Failed { .. } => counts.failed += 1,
                _ => counts.ignored += 1,
            }
            self.emit(&Line::Test(TestLine { name, event }));
        }
        let end = if counts.failed > 0 { SuiteLine::Failed(counts) } else { SuiteLine::Ok(counts) };
        self.emit(&Line::Suite(end));
    }
}

impl<W: Write> RunSubscriber for LibtestJson<'_, W> {
    fn on_event(&mut self, event: &RunEvent) {
        match event {
            RunEvent::RunStarted { mode, .. } => {
                self.each = mode == "each";
                // Binaries with nothing to run (every selected test ignored before the run).
                let empty: Vec<u32> =
                    self.suites.iter().filter(|(_, s)| s.pending == 0).map(|(&b, _)| b).collect();
                for binary in empty {
                    self.write_suite(binary);
                }
            }
            RunEvent::TestStarted { index, .. } => {
                let binary = self.list.tests[*index as usize].binary;
                let suite = self.suites.entry(binary).or_default();
                suite.first_started.get_or_insert_with(Instant::now);
            }
            RunEvent::TestFinished(result) => self.finished(result),
            RunEvent::RunFinished(_) => {
                let open: Vec<u32> = self.suites.keys().copied().collect();
                for binary in open {
                    self.write_suite(binary);
                }
                let _ = self.out.flush();
            }
            _ => {}
        }
    }

    fn flush(&mut self) {
        let _ = self.out.flush();
    }
}
