//! The JUnit report of scripted runs (the real session, scheduler and drive loop with fake
//! workers), snapshotted with times redacted, and parsed back with an XML reader: every
//! test has exactly one testcase (one per run under `each`), with the status its scripted
//! behaviour gives.

use std::collections::BTreeMap;
use std::time::Duration;

use xdist_core::SessionConfig;
use xdist_core::events::{CancelReason, RunEvent, RunSubscriber};
use xdist_core::protocol::Outcome;
use xdist_core::summary::{RunSummary, TestResult, TestStatus};
use xdist_core::testlist::TestList;
use xdist_sched::DistMode;

use super::junit::{DEFAULT_RUN_NAME, JunitError, JunitReporter};
use super::test_support::{Buffer, list, list_of};
use crate::drive::RunShape;
use crate::drive::transport::fake::{Behaviour, Script, run_scripted, session_config as config};

/// Runs `list` on fake workers following `script`, with `skipped` (indices into `full`)
/// left out before the run; returns the report.
fn scripted(
    list: &TestList,
    mode: DistMode,
    config: SessionConfig,
    script: Script,
    skipped: (&TestList, &[usize]),
) -> String {
    let out = Buffer::default();
    let mut junit = JunitReporter::with_writer(list, Box::new(out.clone()), DEFAULT_RUN_NAME)
        .with_skipped_before(skipped.0, skipped.1);
    let shape = RunShape {
        skipped: skipped.1.len(),
        mode: mode.name().into(),
        silence_timeout: Duration::from_secs(60),
        growth: None,
    };
    run_scripted(list.tests.len(), mode, config, script, &shape, &mut [&mut junit]);
    junit.finish().expect("the report is written");
    out.text()
}

/// The XML with every `time` and `timestamp` attribute's value replaced.
fn redact(xml: &str) -> String {
    let mut out = String::with_capacity(xml.len());
    let mut rest = xml;
    loop {
        let next = [" time=\"", " timestamp=\""]
            .iter()
            .filter_map(|attr| rest.find(attr).map(|at| (at, at + attr.len())))
            .min();
        let Some((_, value)) = next else { break };
        out.push_str(&rest[..value]);
        out.push_str("[redacted]");
        let end = rest[value..].find('"').expect("a closed attribute");
        rest = &rest[value + end..];
    }
    out.push_str(rest);
    out
}

/// A testcase's status, as read back from the XML.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Status {
    Pass,
    /// Passed after this many failures (`flakyFailure`s).
    Flaky(usize),
    /// Failed (`failure` with this `type`) and was rerun this many times (`rerunFailure`s).
    Fail {
        ty: &'static str,
        reruns: usize,
    },
    /// `--flaky-result fail`: a `failure` of type `flaky failure` after this many failures.
    FlakyFail(usize),
    /// `skipped` with this message.
    Skipped(String),
}

/// What one testcase should be: its status and its `attempt` property.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Expect {
    status: Status,
    attempt: Option<u32>,
}

/// What the script makes of each test of `list` with `retries` (and `--flaky-result fail`
/// when `flaky_fails`).
fn expected(
    list: &TestList,
    script: &Script,
    retries: u32,
    flaky_fails: bool,
) -> BTreeMap<String, Expect> {
    let mut expect = BTreeMap::new();
    for index in 0..list.tests.len() {
        let failing = |ty| Expect {
            status: Status::Fail { ty, reruns: retries as usize },
            attempt: Some(retries + 1),
        };
        let e = match script.tests.get(&(index as u32)) {
            None | Some(Behaviour::Ends(Outcome::Passed, _)) => {
                Expect { status: Status::Pass, attempt: Some(1) }
            }
            Some(Behaviour::Ends(Outcome::Failed { .. }, _) | Behaviour::KillsWorker) => {
                failing("test failure")
            }
            Some(Behaviour::Ends(Outcome::TimedOut { .. }, _)) => failing("test timeout"),
            Some(Behaviour::Ends(Outcome::Ignored, _)) => {
                Expect { status: Status::Skipped("ignored".into()), attempt: Some(1) }
            }
            Some(Behaviour::FailsOnce(_)) if retries == 0 => {
                Expect { status: Status::Fail { ty: "test failure", reruns: 0 }, attempt: Some(1) }
            }
            Some(Behaviour::FailsOnce(_)) if flaky_fails => {
                Expect { status: Status::FlakyFail(1), attempt: Some(2) }
            }
            Some(Behaviour::FailsOnce(_)) => Expect { status: Status::Flaky(1), attempt: Some(2) },
            Some(Behaviour::Hangs) => unreachable!("no test hangs in these scripts"),
        };
        expect.insert(list.test_id(index), e);
    }
    expect
}

/// Tests left out before the run: skipped, `ignored`, no attempt.
fn expect_skipped_before(
    expect: &mut BTreeMap<String, Expect>,
    full: &TestList,
    skipped: &[usize],
) {
    for &index in skipped {
        let e = Expect { status: Status::Skipped("ignored".into()), attempt: None };
        expect.insert(full.test_id(index), e);
    }
}

/// Every testcase of the report as `(<classname> <name>, what it is)`, checking on the way
/// that each sits in the testsuite of its classname, that the worker in an `each` name is
/// its `worker` property, and that the counts in the attributes add up.
fn read_back(xml: &str) -> Vec<(String, Expect)> {
    let doc = roxmltree::Document::parse(xml).expect("well-formed XML");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    let count = |node: roxmltree::Node, attr: &str| -> usize {
        node.attribute(attr).expect(attr).parse().expect("a count")
    };
    let mut cases = Vec::new();
    let mut totals = [0; 3];
    for suite in root.children().filter(|n| n.has_tag_name("testsuite")) {
        let suite_name = suite.attribute("name").expect("a suite name");
        let mut counts = [0; 3];
        for case in suite.children().filter(|n| n.is_element()) {
            assert_eq!(case.tag_name().name(), "testcase");
            let name = case.attribute("name").expect("a name");
            let classname = case.attribute("classname").expect("a classname");
            assert_eq!(classname, suite_name, "testcase {name} in another binary's suite");
            let children = |tag: &'static str| case.children().filter(move |n| n.has_tag_name(tag));
            let failures: Vec<_> = children("failure").collect();
            let skipped: Vec<_> = children("skipped").collect();
            let (reruns, flaky) =
                (children("rerunFailure").count(), children("flakyFailure").count());
            assert_eq!(children("error").count(), 0);
            let status = match (failures.as_slice(), skipped.as_slice()) {
                ([], [skip]) => {
                    assert_eq!((reruns, flaky), (0, 0));
                    Status::Skipped(skip.attribute("message").expect("a message").into())
                }
                ([failure], []) if failure.attribute("type") == Some("flaky failure") => {
                    assert_eq!(reruns, 0);
                    Status::FlakyFail(flaky)
                }
                ([failure], []) => {
                    assert_eq!(flaky, 0);
                    let ty = match failure.attribute("type") {
                        Some("test failure") => "test failure",
                        Some("test timeout") => "test timeout",
                        other => panic!("failure type {other:?}"),
                    };
                    assert!(failure.attribute("message").is_some_and(|m| !m.is_empty()));
                    Status::Fail { ty, reruns }
                }
                ([], []) if flaky > 0 => Status::Flaky(flaky),
                ([], []) => {
                    assert_eq!(reruns, 0);
                    Status::Pass
                }
                _ => {
                    panic!("testcase {name}: {} failures, {} skips", failures.len(), skipped.len())
                }
            };
            match status {
                Status::Fail { .. } | Status::FlakyFail(_) => counts[1] += 1,
                Status::Skipped(_) => counts[2] += 1,
                Status::Pass | Status::Flaky(_) => {}
            }
            counts[0] += 1;
            let property = |wanted: &str| {
                case.descendants()
                    .filter(|n| n.has_tag_name("property"))
                    .find(|n| n.attribute("name") == Some(wanted))
                    .and_then(|n| n.attribute("value"))
            };
            if let Some(worker) = name.strip_suffix(']').and_then(|n| n.rsplit_once(" [gw")) {
                assert_eq!(property("worker"), Some(format!("gw{}", worker.1).as_str()));
            }
            let attempt = property("attempt").map(|a| a.parse().expect("a number"));
            cases.push((format!("{classname} {name}"), Expect { status, attempt }));
        }
        assert_eq!(
            [count(suite, "tests"), count(suite, "failures"), count(suite, "skipped")],
            counts,
            "the counts of suite {suite_name}"
        );
        assert_eq!(count(suite, "errors"), 0);
        for (total, n) in totals.iter_mut().zip(counts) {
            *total += n;
        }
    }
    assert_eq!([count(root, "tests"), count(root, "failures"), count(root, "skipped")], totals);
    cases
}

/// Exactly one testcase per test, with the expected status.
fn check_one_each(xml: &str, expect: &BTreeMap<String, Expect>) {
    let mut seen: BTreeMap<String, Vec<Expect>> = BTreeMap::new();
    for (id, e) in read_back(xml) {
        seen.entry(id).or_default().push(e);
    }
    for (id, cases) in &seen {
        assert_eq!(cases.len(), 1, "{id} has {} testcases", cases.len());
    }
    let seen: BTreeMap<String, Expect> =
        seen.into_iter().map(|(id, mut cases)| (id, cases.remove(0))).collect();
    assert_eq!(&seen, expect);
}

fn failure_output(test: &str) -> Vec<u8> {
    format!(
        "thread '{test}' panicked at src/lib.rs:3:5:\nboom\nnote: run with `RUST_BACKTRACE=1`\n"
    )
    .into_bytes()
}

#[test]
fn every_outcome_in_its_binarys_suite() {
    let list = list_of(&[
        (
            "demo",
            &[
                ("tests::crash", false),
                ("tests::fails", false),
                ("tests::hangs_up", false),
                ("tests::ignored_by_libtest", false),
                ("tests::ok_a", false),
                ("tests::ok_b", false),
            ],
        ),
        ("demo::integ", &[("integ_ok", false)]),
    ]);
    // The tests left out before the run come from the whole list, with a binary whose
    // every test is ignored.
    let full = list_of(&[
        ("demo", &[("tests::ok_a", false), ("tests::skipped_before", true)]),
        ("other", &[("ignored_here", true)]),
    ]);
    let skipped = [1, 2];
    let script = || Script {
        tests: [
            (0, Behaviour::KillsWorker),
            (1, Behaviour::Ends(Outcome::Failed { cause: None }, failure_output("tests::fails"))),
            (2, Behaviour::Ends(Outcome::TimedOut { after_ms: 2000 }, b"partial\n".to_vec())),
            (3, Behaviour::Ends(Outcome::Ignored, Vec::new())),
        ]
        .into(),
        ..Script::default()
    };
    let xml = scripted(&list, DistMode::Load, config(1), script(), (&full, &skipped));
    insta::assert_snapshot!(redact(&xml));

    let mut expect = expected(&list, &script(), 0, false);
    expect_skipped_before(&mut expect, &full, &skipped);
    check_one_each(&xml, &expect);
    // What the failures say comes from the script: the panic line, the crash, the timeout.
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let case = |name: &str| {
        doc.descendants().find(|n| n.attribute("name") == Some(name)).expect("the testcase")
    };
    let failure =
        |name: &str| case(name).children().find(|n| n.has_tag_name("failure")).expect("a failure");
    assert_eq!(
        failure("tests::fails").attribute("message"),
        Some("thread 'tests::fails' panicked at src/lib.rs:3:5")
    );
    assert_eq!(
        failure("tests::fails").text(),
        Some("thread 'tests::fails' panicked at src/lib.rs:3:5:\nboom")
    );
    let out = |name: &str| {
        case(name).children().find(|n| n.has_tag_name("system-out")).and_then(|n| n.text())
    };
    assert_eq!(out("tests::fails").map(str::as_bytes), Some(&failure_output("tests::fails")[..]));
    assert_eq!(out("tests::hangs_up"), Some("partial\n"));
    assert!(failure("tests::crash").attribute("message").unwrap().contains("crashed"));
    assert_eq!(failure("tests::hangs_up").attribute("message"), Some("timed out after 2s"));
    assert_eq!(case("tests::ok_a").attribute("time"), Some("0.001"));
}

#[test]
fn retries_become_flaky_and_rerun_failures() {
    let list = list(&["tests::crash", "tests::fails", "tests::flaky", "tests::ok", "tests::slow"]);
    let script = || Script {
        tests: [
            (0, Behaviour::KillsWorker),
            (1, Behaviour::Ends(Outcome::Failed { cause: None }, failure_output("tests::fails"))),
            (2, Behaviour::FailsOnce(failure_output("tests::flaky"))),
            (4, Behaviour::Ends(Outcome::TimedOut { after_ms: 500 }, b"partial\n".to_vec())),
        ]
        .into(),
        ..Script::default()
    };
    let config = SessionConfig { retries: 2, ..config(1) };
    let xml = scripted(&list, DistMode::Load, config, script(), (&list, &[]));
    insta::assert_snapshot!(redact(&xml));
    check_one_each(&xml, &expected(&list, &script(), 2, false));
}

#[test]
fn a_flaky_result_counted_as_failed() {
    let list = list(&["tests::flaky", "tests::ok"]);
    let script = || Script {
        tests: [(0, Behaviour::FailsOnce(failure_output("tests::flaky")))].into(),
        ..Script::default()
    };
    let config = SessionConfig { retries: 1, flaky_fails: true, ..config(1) };
    let xml = scripted(&list, DistMode::Load, config, script(), (&list, &[]));
    insta::assert_snapshot!(redact(&xml));
    check_one_each(&xml, &expected(&list, &script(), 1, true));
}

#[test]
fn exitfirst_reports_the_rest_not_run() {
    let list = list(&["tests::a_fails", "tests::b", "tests::c"]);
    let script = || Script {
        tests: [(0, Behaviour::Ends(Outcome::Failed { cause: None }, b"boom\n".to_vec()))].into(),
        ..Script::default()
    };
    let config = SessionConfig { max_fail: Some(1), ..config(1) };
    let xml = scripted(&list, DistMode::No, config, script(), (&list, &[]));
    insta::assert_snapshot!(redact(&xml));
    // One worker runs the tests in order: the first fails, the run stops before the rest.
    let mut expect = expected(&list, &script(), 0, false);
    for id in ["demo tests::b", "demo tests::c"] {
        let not_run =
            Expect { status: Status::Skipped("stopping after 1 failure".into()), attempt: None };
        expect.insert(id.into(), not_run);
    }
    check_one_each(&xml, &expect);
}

#[test]
fn each_names_every_run_by_its_worker() {
    let list = list(&["tests::fails", "tests::ok"]);
    let script = || Script {
        tests: [(0, Behaviour::Ends(Outcome::Failed { cause: None }, b"boom\n".to_vec()))].into(),
        ..Script::default()
    };
    let config = SessionConfig { runs_per_test: 2, ..config(2) };
    let xml = scripted(&list, DistMode::Each, config, script(), (&list, &[]));
    insta::assert_snapshot!(redact(&xml));
    // One case per test and worker.
    let mut expect = BTreeMap::new();
    for (id, e) in expected(&list, &script(), 0, false) {
        for worker in ["gw0", "gw1"] {
            expect.insert(format!("{id} [{worker}]"), e.clone());
        }
    }
    check_one_each(&xml, &expect);
}

#[test]
fn each_with_a_retry_keeps_runs_apart() {
    // The script fails the first run of the test, whichever worker runs it: one worker's
    // case is flaky, the other's passed at once.
    let list = list(&["tests::flaky"]);
    let script = Script {
        tests: [(0, Behaviour::FailsOnce(b"first\n".to_vec()))].into(),
        ..Script::default()
    };
    let config = SessionConfig { runs_per_test: 2, retries: 1, ..config(2) };
    let xml = scripted(&list, DistMode::Each, config, script, (&list, &[]));
    let cases = read_back(&xml);
    let mut names: Vec<&str> = cases.iter().map(|(id, _)| id.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["demo tests::flaky [gw0]", "demo tests::flaky [gw1]"]);
    let mut statuses: Vec<Expect> = cases.into_iter().map(|(_, e)| e).collect();
    statuses.sort();
    assert_eq!(
        statuses,
        [
            Expect { status: Status::Pass, attempt: Some(1) },
            Expect { status: Status::Flaky(1), attempt: Some(2) },
        ]
    );
}

fn result(index: u32, status: TestStatus, worker: Option<u32>, attempt: u32) -> TestResult {
    TestResult {
        index,
        status,
        cause: None,
        duration: Duration::from_millis(3),
        output: Vec::new(),
        worker,
        attempt,
        first_panic: false,
    }
}

fn feed(reporter: &mut JunitReporter, mode: &str, events: Vec<RunEvent>) {
    reporter.on_event(&RunEvent::RunStarted {
        tests: 1,
        skipped: 0,
        workers: 2,
        mode: mode.into(),
    });
    for event in &events {
        reporter.on_event(event);
    }
    reporter.on_event(&RunEvent::RunFinished(RunSummary::default()));
}

#[test]
fn a_retry_cut_short_by_a_stop_is_told_in_the_skip() {
    let list = list(&["tests::a"]);
    let out = Buffer::default();
    let mut junit = JunitReporter::with_writer(&list, Box::new(out.clone()), DEFAULT_RUN_NAME);
    let reason = CancelReason::Signal("SIGINT".into());
    let failed =
        TestResult { cause: Some("boom".into()), ..result(0, TestStatus::Failed, Some(0), 1) };
    let not_run = TestResult {
        cause: Some(reason.to_string()),
        duration: Duration::ZERO,
        ..result(0, TestStatus::NotRun, None, 1)
    };
    let events = vec![
        RunEvent::TestRetried(failed),
        RunEvent::RunCancelled(reason),
        RunEvent::TestFinished(not_run),
    ];
    feed(&mut junit, "load", events);
    junit.finish().unwrap();
    let xml = out.text();
    let expect = Expect { status: Status::Skipped("interrupted by SIGINT".into()), attempt: None };
    assert_eq!(read_back(&xml), [("demo tests::a".to_string(), expect)]);
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let skipped = doc.descendants().find(|n| n.has_tag_name("skipped")).unwrap();
    assert_eq!(skipped.text(), Some("attempt 1 failed: boom"));
}

#[test]
fn each_runs_of_one_worker_get_distinct_names() {
    // A worker that adopts a crashed worker's copy runs the same test twice.
    let list = list(&["tests::a"]);
    let out = Buffer::default();
    let mut junit = JunitReporter::with_writer(&list, Box::new(out.clone()), DEFAULT_RUN_NAME);
    let events = vec![
        RunEvent::TestFinished(result(0, TestStatus::Passed, Some(0), 1)),
        RunEvent::TestFinished(result(0, TestStatus::Passed, Some(0), 1)),
    ];
    feed(&mut junit, "each", events);
    junit.finish().unwrap();
    let xml = out.text();
    let names: Vec<String> = read_back(&xml).into_iter().map(|(id, _)| id).collect();
    assert_eq!(names, ["demo tests::a [gw0]", "demo tests::a [gw0] (2)"]);
}

/// A fresh directory under the system's temporary one.
fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("xdist-junit-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn the_file_is_written_when_the_run_finishes() {
    let list = list(&["tests::a"]);
    let dir = scratch("file");
    let path = dir.join("nested").join("junit.xml");
    let mut junit = JunitReporter::new(&list, &path, "my-run");
    assert_eq!(junit.path(), Some(path.as_path()));
    feed(
        &mut junit,
        "load",
        vec![RunEvent::TestFinished(result(0, TestStatus::Passed, Some(1), 1))],
    );
    let written = std::fs::read_to_string(&path).expect("written on RunFinished");
    junit.finish().expect("no error");
    let expect = Expect { status: Status::Pass, attempt: Some(1) };
    assert_eq!(read_back(&written), [("demo tests::a".to_string(), expect)]);
    let doc = roxmltree::Document::parse(&written).unwrap();
    assert_eq!(doc.root_element().attribute("name"), Some("my-run"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_file_that_cannot_be_written_is_an_error_with_its_cause() {
    let list = list(&["tests::a"]);
    let dir = scratch("error");
    std::fs::create_dir_all(&dir).unwrap();
    // The path is a directory: the write fails.
    let mut junit = JunitReporter::new(&list, &dir, DEFAULT_RUN_NAME);
    feed(
        &mut junit,
        "load",
        vec![RunEvent::TestFinished(result(0, TestStatus::Passed, Some(0), 1))],
    );
    let error = junit.finish().expect_err("a directory is not a file");
    assert!(matches!(&error, JunitError::WriteFile { path, .. } if *path == dir));
    assert!(error.to_string().starts_with("could not write the JUnit report to "));
    assert!(std::error::Error::source(&error).is_some());
    std::fs::remove_dir_all(&dir).unwrap();
}
