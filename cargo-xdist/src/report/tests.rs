//! What the reporters write for scripted runs: the real session, scheduler and drive loop
//! with fake workers, and the reporters writing to buffers. The terminal is snapshotted;
//! the JSON stream is checked against its schema and against the scripted behaviours.

use std::time::Duration;

use xdist_core::SessionConfig;
use xdist_core::events::{CancelReason, RunEvent, RunSubscriber};
use xdist_core::protocol::Outcome;
use xdist_core::summary::{RunSummary, TestResult, TestStatus};
use xdist_core::testlist::TestList;
use xdist_sched::DistMode;

use super::terminal::{Detail, TerminalReporter};
use super::test_support::{Buffer, list};
use crate::drive::RunShape;
use crate::drive::transport::fake::{Behaviour, Script, run_scripted, session_config as config};

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
    let shape = RunShape {
        skipped: 1,
        mode: mode.name().into(),
        silence_timeout: Duration::from_secs(60),
        growth: None,
    };
    run_scripted(list.tests.len(), mode, config, script, &shape, &mut [&mut reporter]);
    format!("--- stdout\n{}--- stderr\n{}", out.text(), err.text())
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
    let shown = scripted(&list, DistMode::Load, config, script(), Detail::default());
    insta::assert_snapshot!(shown);
}

#[test]
fn verbose_lines_name_the_worker_and_duration() {
    let list = list(&NAMES);
    let shown = scripted(
        &list,
        DistMode::No,
        config(1),
        script(),
        Detail { verbose: true, ..Detail::default() },
    );
    insta::assert_snapshot!(shown);
}

#[test]
fn each_shows_every_run_with_its_worker() {
    let list = list(&["tests::fails", "tests::ok"]);
    let failed = Behaviour::Ends(Outcome::Failed { cause: None }, b"boom\n".to_vec());
    let script = Script { tests: [(0, failed)].into(), ..Script::default() };
    let config = SessionConfig { runs_per_test: 2, ..config(2) };
    let shown =
        scripted(&list, DistMode::Each, config, script, Detail { each: true, ..Detail::default() });
    insta::assert_snapshot!(shown);
}

#[test]
fn an_interrupted_run() {
    let list = list(&["tests::a", "tests::b", "tests::c"]);
    let (out, err) = (Buffer::default(), Buffer::default());
    let detail = Detail::default();
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
        first_panic: false,
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

/// Runs `list` with `script` and returns the JSON stream's lines, parsed.
fn scripted_json(list: &TestList, config: SessionConfig, script: Script) -> Vec<serde_json::Value> {
    let out = Buffer::default();
    let skipped = vec![("demo".to_string(), "tests::skipped_before".to_string())];
    let mut stream = super::json::JsonStream::with_style(list, skipped, out.clone(), false);
    let shape = RunShape {
        skipped: 1,
        mode: "load".into(),
        silence_timeout: Duration::from_secs(60),
        growth: None,
    };
    run_scripted(list.tests.len(), DistMode::Load, config, script, &shape, &mut [&mut stream]);
    out.text().lines().map(|l| serde_json::from_str(l).expect("each line is JSON")).collect()
}

/// The stream's schema, compiled.
fn event_schema() -> (boon::Schemas, boon::SchemaIndex) {
    let schema_path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/json-events.schema.json");
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(schema_path).unwrap()).unwrap();
    let mut schemas = boon::Schemas::new();
    let mut compiler = boon::Compiler::new();
    compiler.add_resource("file:///json-events.schema.json", schema).unwrap();
    let id = compiler.compile("file:///json-events.schema.json", &mut schemas).unwrap();
    (schemas, id)
}

#[test]
fn script_events_follow_the_schema() {
    use crate::scripts::{ScriptRecord, ScriptResult};
    let (schemas, id) = event_schema();
    let record = |phase, index, result| ScriptRecord {
        phase,
        index,
        command: "sh -c true".into(),
        duration: Duration::from_millis(12),
        result,
        output: b"said \xff something\n".to_vec(),
    };
    let records = [
        record("setup", 0, ScriptResult::Passed),
        record("setup", 1, ScriptResult::Failed("exit code 3".into())),
        record("teardown", 0, ScriptResult::Interrupted("SIGINT".into())),
    ];
    let out = Buffer::default();
    let list = list(&NAMES);
    super::json::JsonStream::with_style(&list, Vec::new(), out.clone(), false).scripts(&records);
    let lines: Vec<serde_json::Value> =
        out.text().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 6);
    for line in &lines {
        if let Err(e) = schemas.validate(line, id) {
            panic!("{line} does not follow the schema: {e}");
        }
    }
    let outcomes: Vec<&str> = lines.iter().filter_map(|l| l["outcome"].as_str()).collect();
    assert_eq!(outcomes, ["passed", "failed", "interrupted"]);
    assert_eq!(lines[3]["cause"], "exit code 3");
    assert_eq!(lines[5]["phase"], "teardown");
    let mut wrong = lines[1].clone();
    wrong["phase"] = "midway".into();
    assert!(schemas.validate(&wrong, id).is_err(), "the schema checks the phase");
}

#[test]
fn every_json_line_follows_the_schema_and_every_test_finishes_once() {
    let (schemas, id) = event_schema();

    let list = list(&NAMES);
    let config = SessionConfig { retries: 1, max_fail: None, ..config(2) };
    let lines = scripted_json(&list, config, script());
    for line in &lines {
        if let Err(e) = schemas.validate(line, id) {
            panic!("{line} does not follow the schema: {e}");
        }
    }
    let events: Vec<&str> = lines.iter().map(|l| l["event"].as_str().unwrap()).collect();
    assert_eq!(events.first(), Some(&"run-started"));
    assert_eq!(events.last(), Some(&"run-finished"));
    // The scripted behaviours say what each test must end as (retries: 1).
    let want = [
        ("demo tests::crash", "failed"),
        ("demo tests::fails", "failed"),
        ("demo tests::flaky", "passed"),
        ("demo tests::hangs_up", "timed-out"),
        ("demo tests::ok_a", "passed"),
        ("demo tests::ok_b", "passed"),
        ("demo tests::skipped_before", "skipped"),
    ];
    let mut finished: Vec<(String, String)> = lines
        .iter()
        .filter(|l| l["event"] == "test-finished")
        .map(|l| (l["id"].as_str().unwrap().into(), l["outcome"].as_str().unwrap().into()))
        .collect();
    finished.sort();
    let want: Vec<(String, String)> =
        want.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
    assert_eq!(finished, want, "exactly one test-finished per test");
    let flaky = lines
        .iter()
        .find(|l| l["event"] == "test-finished" && l["id"] == "demo tests::flaky")
        .unwrap();
    assert_eq!((flaky["flaky"].as_bool(), flaky["attempt"].as_u64()), (Some(true), Some(2)));
    let totals = lines.last().unwrap();
    let count = |o: &str| finished.iter().filter(|f| f.1 == o).count() as u64;
    assert_eq!(totals["passed"].as_u64(), Some(count("passed")));
    assert_eq!(totals["failed"].as_u64(), Some(count("failed") + count("timed-out")));
    assert_eq!(totals["timed-out"].as_u64(), Some(count("timed-out")));
    assert_eq!(totals["skipped"].as_u64(), Some(count("skipped")));
    assert!(lines.iter().any(|l| l["event"] == "test-retried"));
    assert!(lines.iter().any(|l| l["event"] == "worker-exited" && l["cause"]["kind"] == "signal"));
}

#[test]
fn github_annotations_point_at_the_panic_and_the_job_summary_counts() {
    let list = list(&NAMES);
    let (out, summary) = (Buffer::default(), Buffer::default());
    let mut github = super::github::GithubReporter::new(
        &list,
        "/src",
        Box::new(out.clone()),
        Some(Box::new(summary.clone())),
    );
    let shape = RunShape {
        skipped: 0,
        mode: "load".into(),
        silence_timeout: Duration::from_secs(60),
        growth: None,
    };
    let config = SessionConfig { retries: 1, ..config(1) };
    run_scripted(list.tests.len(), DistMode::Load, config, script(), &shape, &mut [&mut github]);
    let annotations = out.text();
    // Panic locations are relative to the workspace root already (cargo compiles members
    // from there).
    assert!(
        annotations.contains("::error file=src/lib.rs,line=3,title=demo tests%3A%3Afails::boom"),
        "{annotations}"
    );
    insta::assert_snapshot!(format!("--- stdout\n{annotations}--- summary\n{}", summary.text()));
}

#[test]
fn quiet_shows_failures_and_the_summary_and_durations_lists_the_slowest() {
    let list = list(&NAMES);
    let detail = Detail { quiet: true, slowest: 2, ..Detail::default() };
    let shown = scripted(&list, DistMode::Load, config(1), script(), detail);
    let stdout = shown.split("--- stderr").next().unwrap();
    assert!(!stdout.contains("PASS"), "{stdout}");
    assert!(!stdout.contains("running 6 tests"), "{stdout}");
    assert!(stdout.contains("    FAIL demo tests::fails"), "{stdout}");
    assert!(stdout.contains("xdist: slowest 2 tests:"), "{stdout}");
    let last = stdout.trim_end().lines().last().unwrap();
    assert!(last.starts_with("xdist: ") && last.contains(" passed, "), "{last}");
    insta::assert_snapshot!(shown);
}

/// [`script`] with output from a passing test too.
fn script_with_passing_output() -> Script {
    let mut script = script();
    script.tests.insert(4, Behaviour::Ends(Outcome::Passed, b"ok_a says hello\n".to_vec()));
    script
}

#[test]
fn failure_and_success_output_come_when_asked() {
    use crate::cli::display::OutputWhen::*;
    let list = list(&NAMES);
    for (failure_output, success_output) in
        [(Immediate, Final), (ImmediateFinal, Immediate), (Never, Never)]
    {
        let detail = Detail { failure_output, success_output, ..Detail::default() };
        let shown = scripted(&list, DistMode::No, config(1), script_with_passing_output(), detail);
        let name = format!("output_failure_{failure_output:?}_success_{success_output:?}");
        insta::assert_snapshot!(name, shown);
    }
}

#[test]
fn the_counter_numbers_each_line() {
    let list = list(&NAMES);
    let config = SessionConfig { retries: 1, ..config(1) };
    let detail = Detail { counter: true, ..Detail::default() };
    let shown = scripted(&list, DistMode::Load, config, script(), detail);
    assert!(shown.contains("    PASS (3/6) demo tests::ok_b"), "{shown}");
    insta::assert_snapshot!(shown);
}

/// `--no-capture`: bytes cut anywhere come out as whole lines, each after its worker's
/// name, stdout to the report and stderr to stderr; a process's unfinished line when it
/// ends.
#[test]
fn live_output_is_prefixed_line_by_line() {
    use xdist_core::protocol::OutputStream::{Stderr, Stdout};
    let list = list(&["tests::ok_a"]);
    let (out, err) = (Buffer::default(), Buffer::default());
    let mut reporter = TerminalReporter::with_output(
        &list,
        Detail::default(),
        Vec::new(),
        Box::new(out.clone()),
        Box::new(err.clone()),
    );
    let output = |worker, stream, bytes: &[u8]| RunEvent::TestOutput {
        worker,
        index: Some(0),
        stream,
        bytes: bytes.to_vec(),
    };
    for event in [
        output(0, Stdout, b"test tests::ok_a ... hel"),
        output(1, Stdout, b"other\n"),
        output(0, Stdout, b"lo\nok\n\ntest res"),
        output(0, Stderr, b"warn\n"),
        RunEvent::ProcessExited {
            worker: 0,
            leaked: false,
            binary: 0,
            cpu: Duration::ZERO,
            wall: Duration::ZERO,
        },
    ] {
        reporter.on_event(&event);
    }
    reporter.flush();
    assert_eq!(
        out.text(),
        "[gw1] other\n[gw0] test tests::ok_a ... hello\n[gw0] ok\n[gw0] \n[gw0] test res\n"
    );
    assert_eq!(err.text(), "[gw0] warn\n");
}

/// libtest's JSON of a scripted run with a worker crash, a failure, a flaky test and a
/// timeout: one block, each test started then ended, flaky as `ok`, the crash and the
/// timeout as `failed` with their cause in `message`, the counts adding up.
#[test]
fn libtest_json_of_a_scripted_run() {
    use super::libtest_json::LibtestJson;
    let list = list(&NAMES);
    let out = Buffer::default();
    let skipped = vec![("demo".to_string(), "tests::skipped_before".to_string())];
    let mut lines = LibtestJson::new(&list, skipped, out.clone());
    let shape = RunShape {
        skipped: 1,
        mode: "load".into(),
        silence_timeout: Duration::from_secs(60),
        growth: None,
    };
    let config = SessionConfig { retries: 1, ..config(1) };
    run_scripted(list.tests.len(), DistMode::Load, config, script(), &shape, &mut [&mut lines]);
    let lines: Vec<serde_json::Value> =
        out.text().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let brief: Vec<String> = lines
        .iter()
        .map(|l| {
            let name = l["name"].as_str().map_or(String::new(), |n| format!(" {n}"));
            let message = l["message"].as_str().map_or(String::new(), |m| format!(" ({m})"));
            format!(
                "{} {}{name}{message}",
                l["type"].as_str().unwrap(),
                l["event"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(brief.first().map(String::as_str), Some("suite started"));
    assert_eq!(lines[0]["test_count"], 7);
    let results: Vec<&String> =
        brief.iter().filter(|l| l.starts_with("test ") && !l.contains(" started ")).collect();
    assert_eq!(results.len(), 7, "{brief:#?}");
    assert!(brief.contains(&"test ok tests::flaky".to_string()), "{brief:#?}");
    assert!(brief.contains(&"test ignored tests::skipped_before".to_string()), "{brief:#?}");
    assert!(brief.iter().any(|l| l.starts_with("test failed tests::crash (worker")), "{brief:#?}");
    assert!(brief.contains(&"test failed tests::fails".to_string()), "{brief:#?}");
    assert!(brief.iter().any(|l| l.starts_with("test failed tests::hangs_up (")), "{brief:#?}");
    for (i, line) in lines.iter().enumerate().filter(|(_, l)| l["event"] == "started") {
        if line["type"] == "test" {
            assert_eq!(lines[i + 1]["name"], line["name"], "a result right after its start");
        }
    }
    let end = lines.last().unwrap();
    assert_eq!((end["type"].as_str(), end["event"].as_str()), (Some("suite"), Some("failed")));
    let count = |k: &str| end[k].as_u64().unwrap();
    assert_eq!((count("passed"), count("failed"), count("ignored")), (3, 3, 1));
    assert!(lines.iter().filter(|l| l["event"] == "ok").all(|l| l["exec_time"].is_f64()));
}

/// The timeline of a scripted run marks the worker that crashed, the crashed test and the
/// retried attempt, and names a track per worker.
#[test]
fn the_timeline_marks_crashes_and_retries() {
    use super::timeline::Timeline;
    let list = list(&NAMES);
    let mut timeline = Timeline::new(&list, std::path::Path::new("unused.json"));
    let shape = RunShape {
        skipped: 0,
        mode: "load".into(),
        silence_timeout: Duration::from_secs(60),
        growth: None,
    };
    let config = SessionConfig { retries: 1, ..config(1) };
    run_scripted(list.tests.len(), DistMode::Load, config, script(), &shape, &mut [&mut timeline]);
    let events = timeline.events();
    let crash = events.iter().find(|e| e["cat"] == "crash").expect("a crash marker");
    assert_eq!(crash["ph"], "i");
    assert!(crash["name"].as_str().unwrap().starts_with("gw0 crashed"), "{crash}");
    let tests: Vec<&serde_json::Value> =
        events.iter().filter(|e| e["ph"] == "X" && e["cat"] != "process").collect();
    let crashed = tests
        .iter()
        .find(|t| t["name"] == "demo tests::crash" && t["tid"] == crash["tid"])
        .expect("the crashed test on the crashed worker's track");
    assert_eq!(crashed["args"]["crashed"], true, "{crashed}");
    let flaky: Vec<_> = tests.iter().filter(|t| t["name"] == "demo tests::flaky").collect();
    assert_eq!(flaky.len(), 2, "one slice per attempt: {flaky:?}");
    assert!(flaky.iter().any(|t| t["cat"] == "test,retried" && t["args"]["attempt"] == 1));
    assert!(flaky.iter().any(|t| t["cat"] == "test" && t["args"]["outcome"] == "passed"));
    let tracks = events.iter().filter(|e| e["name"] == "thread_name").count();
    assert!(tracks >= 2, "the crashed worker and its replacement");
}
