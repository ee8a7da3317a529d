//! Snapshots of what the terminal shows for scripted runs: the real session, scheduler and
//! drive loop with fake workers, and the reporter writing to buffers.

use std::cell::RefCell;
use std::io::Write;
use std::rc::Rc;
use std::time::Duration;

use xdist_core::events::{CancelReason, RunEvent, RunSubscriber};
use xdist_core::protocol::Outcome;
use xdist_core::summary::{RunSummary, TestResult, TestStatus};
use xdist_core::testlist::{TestBinary, TestList};
use xdist_core::{DSession, SessionConfig};
use xdist_sched::{DistMode, SchedConfig, make_scheduler};

use super::terminal::{Detail, TerminalReporter};
use crate::drive::transport::fake::{Behaviour, FakeTransport, Script};
use crate::drive::{RunShape, drive};

#[derive(Clone, Default)]
struct Buffer(Rc<RefCell<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Buffer {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.borrow()).into_owned()
    }
}

fn list(names: &[&str]) -> TestList {
    let binary = TestBinary {
        id: "demo".into(),
        path: "/bin/demo".into(),
        cwd: "/src/demo".into(),
        env: vec![],
        kind: "lib".into(),
        src_path: "src/lib.rs".into(),
    };
    TestList::new(vec![(binary, names.iter().map(|n| (n.to_string(), false)).collect())])
}

/// Runs `list` on fake workers following `script`; returns (stdout, stderr).
fn scripted(
    list: &TestList,
    mode: DistMode,
    config: SessionConfig,
    script: Script,
    detail: Detail,
) -> String {
    let (out, err) = (Buffer::default(), Buffer::default());
    let mut reporter = TerminalReporter::with_output(
        list,
        detail,
        vec!["demo tests::skipped_before".into()],
        Box::new(out.clone()),
        Box::new(err.clone()),
    );
    let slots = list.tests.len() * config.runs_per_test as usize;
    let sched: Box<dyn xdist_core::Scheduler + Send> = match mode {
        DistMode::Each => Box::new(xdist_sched::EachScheduler::new(
            config.runs_per_test as usize,
            list.tests.len(),
        )),
        _ => make_scheduler(mode, slots, SchedConfig { max_sched_chunk: None }),
    };
    let mut session = DSession::new(list.tests.len(), sched, config);
    let shape =
        RunShape { skipped: 1, mode: mode.name().into(), silence_timeout: Duration::from_secs(60) };
    let mut transport = FakeTransport::new(script);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(drive(&mut session, &mut transport, &shape, &mut [&mut reporter]));
    format!("--- stdout\n{}--- stderr\n{}", out.text(), err.text())
}

fn config(workers: u32) -> SessionConfig {
    SessionConfig {
        workers,
        max_worker_restart: 4,
        max_fail: None,
        retries: 0,
        flaky_fails: false,
        runs_per_test: 1,
    }
}

const NAMES: [&str; 6] = [
    "tests::crash",
    "tests::fails",
    "tests::flaky",
    "tests::hangs_up",
    "tests::ok_a",
    "tests::ok_b",
];

fn script() -> Script {
    let failed = Behaviour::Ends(
        Outcome::Failed { cause: None },
        b"thread 'tests::fails' panicked at src/lib.rs:3:5:\nboom\n".to_vec(),
    );
    let timed_out = Behaviour::Ends(Outcome::TimedOut { after_ms: 2000 }, b"partial\n".to_vec());
    Script {
        tests: [
            (0, Behaviour::KillsWorker),
            (1, failed),
            (2, Behaviour::FailsOnce(b"first try fails\n".to_vec())),
            (3, timed_out),
        ]
        .into(),
        ..Script::default()
    }
}

#[test]
fn passes_failures_a_crash_a_timeout_and_a_retry() {
    let list = list(&NAMES);
    let config = SessionConfig { retries: 1, ..config(1) };
    let shown =
        scripted(&list, DistMode::Load, config, script(), Detail { verbose: false, each: false });
    insta::assert_snapshot!(shown);
}

#[test]
fn verbose_lines_name_the_worker_and_duration() {
    let list = list(&NAMES);
    let shown =
        scripted(&list, DistMode::No, config(1), script(), Detail { verbose: true, each: false });
    insta::assert_snapshot!(shown);
}

#[test]
fn each_shows_every_run_with_its_worker() {
    let list = list(&["tests::fails", "tests::ok"]);
    let failed = Behaviour::Ends(Outcome::Failed { cause: None }, b"boom\n".to_vec());
    let script = Script { tests: [(0, failed)].into(), ..Script::default() };
    let config = SessionConfig { runs_per_test: 2, ..config(2) };
    let shown =
        scripted(&list, DistMode::Each, config, script, Detail { verbose: false, each: true });
    insta::assert_snapshot!(shown);
}

#[test]
fn an_interrupted_run() {
    let list = list(&["tests::a", "tests::b", "tests::c"]);
    let (out, err) = (Buffer::default(), Buffer::default());
    let detail = Detail { verbose: false, each: false };
    let mut reporter = TerminalReporter::with_output(
        &list,
        detail,
        vec![],
        Box::new(out.clone()),
        Box::new(err.clone()),
    );
    let result = |index, status, cause: Option<&str>| TestResult {
        index,
        status,
        cause: cause.map(String::from),
        duration: Duration::from_millis(3),
        output: Vec::new(),
        worker: Some(0),
        attempt: 1,
    };
    let reason = CancelReason::Signal("SIGINT".into());
    let mut summary = RunSummary::default();
    let events = [
        RunEvent::RunStarted { tests: 3, skipped: 0, workers: 2, mode: "load".into() },
        RunEvent::TestFinished(result(0, TestStatus::Passed, None)),
        RunEvent::RunCancelled(reason.clone()),
        RunEvent::TestFinished(result(1, TestStatus::NotRun, Some("interrupted by SIGINT"))),
        RunEvent::TestFinished(result(2, TestStatus::NotRun, Some("interrupted by SIGINT"))),
    ];
    for event in &events {
        if let RunEvent::TestFinished(r) = event {
            summary.add(r);
        }
        reporter.on_event(event);
    }
    reporter.on_event(&RunEvent::RunFinished(summary));
    insta::assert_snapshot!(format!("--- stdout\n{}--- stderr\n{}", out.text(), err.text()));
}
