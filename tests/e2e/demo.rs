//! The example workspace: outcomes equal `cargo test`'s under every worker count and
//! `--dist` mode, a crash is attributed and its siblings still run, and tests see the
//! environment `cargo test` and pytest-xdist give them.

use std::sync::OnceLock;

use crate::support::*;

const DEMO: &str = "examples/demo";

fn expected() -> &'static Outcomes {
    static EXPECTED: OnceLock<Outcomes> = OnceLock::new();
    EXPECTED.get_or_init(|| cargo_test_outcomes(DEMO, &[], &[]))
}

fn assert_matches_cargo_test(args: &[&str]) {
    let out = xdist(DEMO, "run").args(args).arg("-v").output().expect("run cargo xdist");
    let got = xdist_outcomes(&out);
    assert_eq!(&got, expected(), "outcomes under {args:?}:\n{}", text(&out.stdout));
    assert_eq!(out.status.code(), Some(100), "two demo tests fail: {}", text(&out.stderr));
    let passed = got.values().filter(|o| **o == Outcome::Pass).count();
    let failed = got.values().filter(|o| **o == Outcome::Fail).count();
    let skipped = got.values().filter(|o| **o == Outcome::Skip).count();
    assert_eq!(
        final_line(&out),
        format!("xdist: {passed} passed, {failed} failed, {skipped} skipped")
    );
}

#[test]
fn one_worker_matches_cargo_test() {
    assert_matches_cargo_test(&["-n", "1"]);
}

#[test]
fn two_workers_match_cargo_test() {
    assert_matches_cargo_test(&["-n", "2"]);
}

#[test]
fn four_workers_match_cargo_test() {
    assert_matches_cargo_test(&["-n", "4"]);
}

#[test]
fn dist_no_matches_cargo_test() {
    assert_matches_cargo_test(&["--dist", "no"]);
}

#[test]
fn every_dist_mode_matches_cargo_test() {
    for mode in ["loadscope", "loadfile", "loadgroup", "worksteal"] {
        assert_matches_cargo_test(&["-n", "3", "--dist", mode]);
    }
}

#[test]
fn each_runs_every_test_on_every_worker() {
    let out = xdist(DEMO, "run").args(["-n", "2", "--dist", "each"]).output().unwrap();
    let got = xdist_outcomes(&out);
    for copy in 0..2 {
        let this_copy: Outcomes = got
            .iter()
            .filter_map(|(id, o)| {
                Some((id.strip_suffix(&format!(" @copy{copy}"))?.to_string(), *o))
            })
            .collect();
        let want: Outcomes = expected()
            .iter()
            .filter(|(_, o)| **o != Outcome::Skip)
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        assert_eq!(this_copy, want, "copy {copy}:\n{}", text(&out.stdout));
    }
    assert!(text(&out.stdout).starts_with("running 52 tests across 2 workers"));
}

/// Runs the fixture tests under `mode` with logging on; returns (test log, fixture log).
fn fixture_logs(mode: &str, name: &str) -> (String, String) {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("demo-log-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let out = xdist(DEMO, "run")
        .args(["-n", "3", "--dist", mode, "--no-history", "fixture", "math", "text", "env"])
        .env("DEMO_LOG_DIR", &dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    let tests = std::fs::read_to_string(dir.join("tests.log")).unwrap();
    let builds = std::fs::read_to_string(dir.join("fixture.log")).unwrap();
    (tests, builds)
}

#[test]
fn scopes_and_groups_stay_on_one_worker_and_build_the_fixture_once() {
    for mode in ["loadscope", "loadfile", "loadgroup"] {
        let (tests, builds) = fixture_logs(mode, mode);
        let workers: std::collections::BTreeSet<&str> = tests
            .lines()
            .filter_map(|l| l.split_whitespace().find(|w| w.starts_with("worker=")))
            .collect();
        let pids: std::collections::BTreeSet<&str> = tests
            .lines()
            .filter_map(|l| l.split_whitespace().find(|w| w.starts_with("pid=")))
            .collect();
        assert_eq!(tests.lines().count(), 5, "{mode}: {tests}");
        assert_eq!(workers.len(), 1, "{mode}: the fixture module ran on one worker:\n{tests}");
        assert_eq!(pids.len(), 1, "{mode}: in one process:\n{tests}");
        assert_eq!(builds.lines().count(), 1, "{mode}: the fixture was built once:\n{builds}");
    }
}

#[test]
fn durations_are_remembered_and_a_corrupt_history_is_ignored() {
    let file = target_dir().join("xdist").join("durations.json");
    let run =
        || xdist(DEMO, "run").args(["-n", "2", "--dist", "load", "fixture"]).output().unwrap();
    assert_eq!(run().status.code(), Some(0));
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    let fixture_1 = json["durations"]["demo-core fixture::tests::fixture_1"].as_f64();
    assert!(fixture_1.is_some(), "{json}");
    std::fs::write(&file, b"{ this is not json").unwrap();
    let out = run();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert!(
        json["durations"]["demo-core fixture::tests::fixture_1"].is_number(),
        "rewritten: {json}"
    );
}

#[test]
fn ignored_tests_run_when_asked() {
    let expected = cargo_test_outcomes(DEMO, &[], &["--include-ignored"]);
    let out = xdist(DEMO, "run").args(["-n", "2", "--run-ignored", "all"]).output().unwrap();
    assert_eq!(xdist_outcomes(&out), expected, "{}", text(&out.stdout));
    let only = xdist(DEMO, "run").args(["-n", "2", "--", "--ignored"]).output().unwrap();
    let got = xdist_outcomes(&only);
    assert_eq!(got.len(), 2, "{}", text(&only.stdout));
    assert_eq!(got["demo-core ignored::tests::ignored_fails"], Outcome::Fail);
    assert_eq!(got["demo-core ignored::tests::slow_but_passes"], Outcome::Pass);
}

#[test]
fn crash_fails_one_test_and_the_rest_of_its_binary_runs() {
    for args in [&["-n", "1"][..], &["-n", "3"], &["--dist", "no"]] {
        let out = xdist(DEMO, "run").args(args).env("DEMO_CRASH", "1").output().unwrap();
        let got = xdist_outcomes(&out);
        let mut want = expected().clone();
        want.insert("demo-core crash::tests::aborts_when_asked".into(), Outcome::Fail);
        assert_eq!(got, want, "under {args:?}:\n{}", text(&out.stdout));
        let stdout = text(&out.stdout);
        assert!(
            stdout.contains("test process was killed by SIGABRT before the test finished"),
            "{stdout}"
        );
    }
}

#[test]
fn filters_select_like_libtest() {
    let out = xdist(DEMO, "run").args(["-n", "2", "math", "--skip", "div"]).output().unwrap();
    let got: Vec<String> = xdist_outcomes(&out).into_keys().collect();
    assert_eq!(
        got,
        [
            "demo-core math::tests::adds",
            "demo-core math::tests::multiplies",
            "demo-core math::tests::result_ok"
        ]
    );
    assert_eq!(out.status.code(), Some(0));
    let exact = xdist(DEMO, "run").args(["--", "--exact", "math::tests::adds"]).output().unwrap();
    assert_eq!(xdist_outcomes(&exact).len(), 1, "{}", text(&exact.stdout));
    let bin = xdist(DEMO, "run").args(["-p", "demo-cli", "--test", "cli"]).output().unwrap();
    let got: Vec<String> = xdist_outcomes(&bin).into_keys().collect();
    assert_eq!(got, ["demo-cli::cli reads_runtime_bin_path", "demo-cli::cli runs_the_binary"]);
}

#[test]
fn tests_see_worker_ids_and_share_fixtures_within_a_process() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("demo-log");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let out = xdist(DEMO, "run")
        .args(["-n", "2", "--testrunuid", "run-42", "fixture", "xdist_env"])
        .env("DEMO_LOG_DIR", &dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    let tests = std::fs::read_to_string(dir.join("tests.log")).unwrap();
    let builds = std::fs::read_to_string(dir.join("fixture.log")).unwrap();
    let lines: Vec<&str> = tests.lines().collect();
    assert_eq!(lines.len(), 5, "{tests}");
    for line in &lines {
        assert!(line.contains(" worker=gw0") || line.contains(" worker=gw1"), "{line}");
    }
    // One fixture build per test process: never more builds than processes that ran tests.
    let pids: std::collections::BTreeSet<&str> =
        lines.iter().filter_map(|l| l.split_whitespace().find(|w| w.starts_with("pid="))).collect();
    assert_eq!(builds.lines().count(), pids.len(), "builds:\n{builds}\ntests:\n{tests}");
}

#[test]
fn list_prints_binary_id_and_name() {
    let out = xdist(DEMO, "list").output().unwrap();
    assert!(out.status.success());
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    let want: Vec<String> =
        expected().iter().filter(|(_, o)| **o != Outcome::Skip).map(|(id, _)| id.clone()).collect();
    let mut sorted = lines.clone();
    sorted.sort();
    assert_eq!(sorted, want);
    assert_eq!(
        lines.first(),
        Some(&"demo-cli::cli reads_runtime_bin_path"),
        "nextest's binary order"
    );
}

#[test]
fn list_matches_nextest() {
    if !nextest_available() {
        return;
    }
    let out = std::process::Command::new("cargo")
        .args([
            "nextest",
            "list",
            "--run-ignored",
            "all",
            "--message-format",
            "json",
            "--manifest-path",
        ])
        .arg(manifest(DEMO))
        .arg("--target-dir")
        .arg(target_dir())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut nextest = Vec::new();
    for (id, suite) in json["rust-suites"].as_object().unwrap() {
        for name in suite["testcases"].as_object().unwrap().keys() {
            nextest.push(format!("{id} {name}"));
        }
    }
    let ours = xdist(DEMO, "list").args(["--run-ignored", "all"]).output().unwrap();
    let ours: Vec<String> = text(&ours.stdout).lines().map(String::from).collect();
    assert_eq!(ours, nextest, "same tests in the same order as nextest");
}
