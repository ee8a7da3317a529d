//! Exit codes and one-line errors for bad input, build failures and empty selections.

use std::process::Command;

use crate::support::*;

fn run_args(args: &[&str]) -> std::process::Output {
    xdist("examples/demo", "run").args(args).output().expect("run cargo xdist")
}

#[test]
fn usage_errors_exit_2_with_one_line() {
    for (args, needle) in [
        (&["-n", "0"][..], "-n must be at least 1"),
        (&["-n", "abc"], "got `abc`"),
        (&["--maxprocesses", "0"], "--maxprocesses must be at least 1"),
        (&["--dist", "sideways"], "invalid value 'sideways'"),
        (&["--", "--frobnicate"], "unsupported libtest argument after `--`: --frobnicate"),
        (&["--timeout", "-1"], "must be a positive number of seconds, got `-1`"),
        (&["--timeout", "abc"], "must be a number of seconds, got `abc`"),
        (&["--slow-timeout", "0"], "must be a positive number of seconds"),
    ] {
        let out = run_args(args);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

#[test]
fn bad_worker_counts_are_refused_before_anything_is_built() {
    // A manifest that does not exist: cargo would fail, so the check must come first.
    for (args, needle) in [
        (&["-n", "0"][..], "-n must be at least 1"),
        (&["-n", "many"], "got `many`"),
        (&["--maxprocesses", "0"], "--maxprocesses must be at least 1"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_cargo-xdist"))
            .args(["xdist", "run", "--manifest-path", "/nonexistent/xdist/Cargo.toml"])
            .args(args)
            .output()
            .expect("run cargo xdist");
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
}

#[test]
fn no_matching_tests_exit_4_unless_allowed() {
    let out = run_args(&["no-such-test-anywhere"]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("no tests to run"));
    let out = run_args(&["--no-tests", "pass", "no-such-test-anywhere"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(final_line(&out), "xdist: 0 passed, 0 failed, 0 skipped");
}

#[test]
fn passing_selection_exits_0() {
    let out = run_args(&["-n", "2", "text::"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    assert_eq!(final_line(&out), "xdist: 4 passed, 0 failed, 0 skipped");
    assert!(text(&out.stdout).starts_with("running 4 tests across 2 workers\n"));
}

#[test]
fn never_more_workers_than_tests() {
    let out = run_args(&["-n", "8", "math::tests::adds"]);
    assert!(
        text(&out.stdout).starts_with("running 1 test across 1 worker\n"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn exitfirst_stops_and_reports_not_run() {
    // Chunks of two: the stop comes between batches.
    let out = run_args(&["-n", "1", "-x", "--maxschedchunk", "2", "--no-history"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(100));
    assert!(stdout.contains("xdist: stopping after 1 failure"), "{stdout}");
    let outcomes = xdist_outcomes(&out);
    let failed = outcomes.values().filter(|o| **o == Outcome::Fail).count();
    // Results already finished when the stop came are kept; nothing after them runs.
    assert!(failed >= 1, "{stdout}");
    let not_run: usize = stdout
        .lines()
        .find_map(|l| l.strip_prefix("xdist: ")?.strip_suffix(" tests not run")?.parse().ok())
        .unwrap_or_else(|| panic!("no not-run count:\n{stdout}"));
    assert!(not_run > 0);
    assert_eq!(outcomes.len() + not_run, 28, "every test accounted for:\n{stdout}");
}

#[test]
fn build_failure_exits_101() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("broken-ws");
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::write(
        dir.join("Cargo.toml"),
        "[package]\nname = \"broken\"\nversion = \"0.1.0\"\nedition = \"2021\"\n[workspace]\n",
    )
    .unwrap();
    std::fs::write(dir.join("src/lib.rs"), "pub fn f() -> u32 { \"not a number\" }\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_cargo-xdist"))
        .args(["xdist", "run", "--manifest-path"])
        .arg(dir.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(dir.join("target"))
        .output()
        .unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(101), "{stderr}");
    assert!(stderr.contains("mismatched types"), "cargo's own diagnostics are shown: {stderr}");
    assert!(
        stderr.lines().last().unwrap().starts_with("error: building the tests failed"),
        "{stderr}"
    );
}

#[test]
fn missing_manifest_is_a_clear_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_cargo-xdist"))
        .args(["xdist", "run", "--manifest-path", "/nonexistent/Cargo.toml"])
        .output()
        .unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(101), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn unwritable_target_dir_is_a_build_failure() {
    let out = Command::new(env!("CARGO_BIN_EXE_cargo-xdist"))
        .args(["xdist", "run", "--manifest-path"])
        .arg(manifest("examples/demo"))
        .args(["--target-dir", "/proc/xdist-cannot-write-here"])
        .output()
        .unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(101), "{stderr}");
    assert!(
        stderr.lines().last().unwrap().starts_with("error: building the tests failed"),
        "{stderr}"
    );
}
