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
    let stdout = text(&out.stdout);
    let want: Outcomes = expected()
        .iter()
        .filter(|(_, o)| **o != Outcome::Skip)
        .map(|(k, v)| (k.clone(), *v))
        .collect();
    for worker in ["gw0", "gw1"] {
        // Each run's line names its worker: `PASS [gw0] [   0.001s] <binary-id> <test>`.
        let tag = format!("[{worker}] ");
        let lines: Vec<&str> = stdout.lines().filter(|l| l.contains(&tag)).collect();
        let this_worker = outcomes_of_lines(&lines);
        assert_eq!(this_worker, want, "{worker}:\n{stdout}");
    }
    assert!(stdout.starts_with("running 52 tests across 2 workers"));
}

/// Outcomes from `PASS`/`FAIL` lines that carry a worker and a duration.
fn outcomes_of_lines(lines: &[&str]) -> Outcomes {
    lines
        .iter()
        .filter_map(|line| {
            let (label, rest) = line.trim_start().split_once(' ')?;
            let outcome = match label {
                "PASS" => Outcome::Pass,
                "FAIL" | "TIMEOUT" => Outcome::Fail,
                _ => return None,
            };
            Some((rest.rsplit_once("s] ")?.1.to_string(), outcome))
        })
        .collect()
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
    // Its own target dir, so its own `durations.json`: the other tests' runs, in parallel,
    // write the shared one, and could rewrite it between the steps below.
    let target = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("history-target");
    let file = target.join("xdist").join("durations.json");
    let _ = std::fs::remove_file(&file);
    let run = || {
        xdist_in(DEMO, "run", &target)
            .args(["-n", "2", "--dist", "load", "fixture"])
            .output()
            .unwrap()
    };
    let out = run();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
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
        // `xdist_env` then fails unless it sees these values.
        .env("DEMO_EXPECT_TESTRUNUID", "run-42")
        .env("DEMO_EXPECT_WORKER_COUNT", "2")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    let outcomes = xdist_outcomes(&out);
    assert_eq!(outcomes.len(), 6, "{}", text(&out.stdout));
    assert_eq!(outcomes["demo-core env::tests::xdist_env"], Outcome::Pass);
    let seen = std::fs::read_to_string(dir.join("xdist-env.log")).unwrap();
    assert!(
        seen == "xdist_env worker=gw0 count=2 uid=run-42\n"
            || seen == "xdist_env worker=gw1 count=2 uid=run-42\n",
        "what xdist_env saw: {seen}"
    );
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

/// The variables cargo sets for a test process (`CARGO_*` with `CARGO_BIN_EXE_<name>`,
/// `OUT_DIR`, the dynamic library path in cargo's order) are the same under `cargo xdist
/// run` as under `cargo test`,
/// including `CARGO_PKG_RUST_VERSION` as the manifest writes it (`1.85`) and the build
/// script's link paths (one inside the target dir that does not exist, one outside that
/// cargo leaves off).
#[test]
fn test_processes_get_the_variables_cargo_test_gives() {
    let root = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("demo-env");
    let (by_cargo, by_xdist) = (root.join("cargo"), root.join("xdist"));
    for dir in [&by_cargo, &by_xdist] {
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir).unwrap();
    }
    let filters = ["cargo_env", "out_dir_runtime", "reads_runtime_bin_path"];
    let dir = by_cargo.to_str().unwrap();
    let under_cargo = cargo_test_outcomes(DEMO, &[("DEMO_LOG_DIR", dir)], &filters);
    let out = xdist(DEMO, "run")
        .args(["-n", "2"])
        .args(filters)
        .env("DEMO_LOG_DIR", &by_xdist)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    assert_eq!(xdist_outcomes(&out), under_cargo, "{}", text(&out.stdout));
    assert_eq!(under_cargo.len(), 3, "{under_cargo:?}");
    for file in ["env-demo_core.txt", "env-out_dir.txt"] {
        let read = |dir: &std::path::Path| -> Vec<String> {
            let text = std::fs::read_to_string(dir.join(file))
                .unwrap_or_else(|e| panic!("{}: {e}", dir.join(file).display()));
            text.lines().map(String::from).collect()
        };
        let (want, got) = (read(&by_cargo), read(&by_xdist));
        assert!(want.iter().any(|l| l.starts_with("CARGO_PKG_RUST_VERSION=1.85")), "{want:?}");
        let path_var = if cfg!(target_os = "macos") {
            "DYLD_FALLBACK_LIBRARY_PATH="
        } else {
            "LD_LIBRARY_PATH="
        };
        assert!(want.iter().any(|l| l.starts_with(path_var)), "{want:?}");
        assert_eq!(got, want, "{file}: cargo-xdist (left) and cargo test (right)");
    }
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
    if !nextest_available("list_matches_nextest") {
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
