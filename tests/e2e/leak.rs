//! What a test process leaves running (`--leak-timeout`, `--leak-result`, `--leak-kill`),
//! on the targets fixture's `leak` binary: `leaks_a_child` starts a `sleep` that holds the
//! process's stdout and writes its pid to a file; `runs_after_the_leak` starts nothing.
//! With `-n 1` both tests run in one process.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support::*;

const TARGETS: &str = "tests/fixtures/targets";
const LEAK_NOTICE: &str = "LEAK [gw0] a test process of targets::leak left processes running";

/// A scratch dir of this test: the child's pid file and a user config dir.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("leak-options").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `cargo xdist run --test leak -n 1 <args>`, the child sleeping `child_secs`.
fn run_leak(dir: &Path, child_secs: &str, args: &[&str]) -> (Command, PathBuf) {
    let pid_file = dir.join("pid");
    let _ = std::fs::remove_file(&pid_file);
    let mut cmd = xdist(TARGETS, "run");
    cmd.args(["--test", "leak", "-n", "1"])
        .args(args)
        .env("XDIST_LEAK_PID_FILE", &pid_file)
        .env("XDIST_LEAK_CHILD_SECS", child_secs);
    (cmd, pid_file)
}

/// Whether process `pid` still runs (a zombie counts as gone).
fn alive(pid: i32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let state = stat.rsplit_once(") ").and_then(|(_, rest)| rest.chars().next());
    !matches!(state, None | Some('Z'))
}

fn pid_of(pid_file: &Path) -> i32 {
    std::fs::read_to_string(pid_file).unwrap().trim().parse().unwrap()
}

fn report(out: &Output) -> String {
    format!("stdout:\n{}\nstderr:\n{}", text(&out.stdout), text(&out.stderr))
}

#[test]
fn a_longer_leak_timeout_lets_a_child_that_exits_soon_finish() {
    let dir = scratch("timeout");
    // The child exits 0.3 s after the test: past the default 100 ms, it leaked.
    let (mut cmd, _) = run_leak(&dir, "0.3", &[]);
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", report(&out));
    assert!(text(&out.stderr).contains(LEAK_NOTICE), "{}", report(&out));
    // Given 2 s, it ends by itself: no leak.
    let (mut cmd, pid_file) = run_leak(&dir, "0.3", &["--leak-timeout", "2s"]);
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", report(&out));
    assert!(!text(&out.stderr).contains("LEAK"), "{}", report(&out));
    assert!(!alive(pid_of(&pid_file)));
    // The same from the environment.
    let (mut cmd, _) = run_leak(&dir, "0.3", &[]);
    let out = cmd.env("XDIST_LEAK_TIMEOUT", "2000ms").output().unwrap();
    assert!(!text(&out.stderr).contains("LEAK"), "{}", report(&out));
}

#[test]
fn leak_result_fail_fails_every_test_of_the_process_that_leaked() {
    let dir = scratch("fail");
    // nextest's table form, in the user's config file.
    let xdg = dir.join("xdg");
    std::fs::create_dir_all(xdg.join("cargo-xdist")).unwrap();
    std::fs::write(
        xdg.join("cargo-xdist/config.toml"),
        "[profile.strict]\nleak-timeout = { period = \"100ms\", result = \"fail\" }\n",
    )
    .unwrap();
    let (mut cmd, pid_file) = run_leak(&dir, "60", &["--profile", "strict"]);
    let out = cmd.env("XDG_CONFIG_HOME", &xdg).output().unwrap();
    assert_eq!(out.status.code(), Some(100), "failures exit with 100:\n{}", report(&out));
    let stdout = text(&out.stdout);
    // Both tests ran in the process that leaked; which one started the child is not known.
    for test in ["leaks_a_child", "runs_after_the_leak"] {
        let line = format!("LEAK-FAIL targets::leak {test}");
        assert!(stdout.lines().any(|l| l.trim() == line), "{line}:\n{}", report(&out));
    }
    assert!(text(&out.stderr).contains(LEAK_NOTICE), "{}", report(&out));
    assert!(!alive(pid_of(&pid_file)), "a leak that fails is still killed");
    // A process that leaks nothing passes under the same profile.
    let (mut cmd, _) = run_leak(&dir, "60", &["--profile", "strict", "--skip", "leaks_a_child"]);
    let out = cmd.env("XDG_CONFIG_HOME", &xdg).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", report(&out));
    // The flag wins over the profile.
    let (mut cmd, _) = run_leak(&dir, "60", &["--profile", "strict", "--leak-result", "pass"]);
    let out = cmd.env("XDG_CONFIG_HOME", &xdg).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", report(&out));
    assert!(text(&out.stderr).contains(LEAK_NOTICE), "{}", report(&out));
}

#[test]
fn leak_kill_false_leaves_the_child_running() {
    let dir = scratch("keep");
    let (mut cmd, pid_file) = run_leak(&dir, "60", &["--leak-kill", "false"]);
    let out = cmd.output().unwrap();
    let pid = pid_of(&pid_file);
    let still_running = alive(pid);
    if still_running {
        let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
    }
    assert_eq!(out.status.code(), Some(0), "{}", report(&out));
    let notice = format!("{LEAK_NOTICE} after it exited; they were left running");
    assert!(text(&out.stderr).contains(&notice), "{}", report(&out));
    assert!(still_running, "the child {pid} was killed:\n{}", report(&out));
}

#[test]
fn by_default_no_leaked_child_outlives_the_run() {
    let dir = scratch("default");
    let (mut cmd, pid_file) = run_leak(&dir, "60", &[]);
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", report(&out));
    assert!(text(&out.stderr).contains(LEAK_NOTICE), "{}", report(&out));
    let pid = pid_of(&pid_file);
    assert!(!alive(pid), "the leaked child {pid} still runs");
}
