//! No test is lost: timeouts, slow tests, retries, huge outputs, a worker killed mid-run,
//! and SIGINT, on the `stall` fixture.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::support::*;

const STALL: &str = "tests/fixtures/stall";

fn state_dir(name: &str) -> PathBuf {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("stall-state").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn a_hanging_test_times_out_and_its_batch_goes_on() {
    let out = xdist(STALL, "run")
        .args(["-n", "1", "--timeout", "1", "--kill-grace", "0.2"])
        .args(["--", "--exact", "t::hang", "t::hang_with_child", "t::sleeper_00", "t::slow"])
        .env("STALL_SLEEP_MS", "10")
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    let got = xdist_outcomes(&out);
    assert_eq!(got["stall t::hang"], Outcome::Fail, "{stdout}");
    assert_eq!(got["stall t::hang_with_child"], Outcome::Fail, "{stdout}");
    assert_eq!(got["stall t::sleeper_00"], Outcome::Pass, "{stdout}");
    assert_eq!(got["stall t::slow"], Outcome::Fail, "1.5 s is past the 1 s timeout: {stdout}");
    assert!(stdout.contains("    TIMEOUT stall t::hang\n"), "{stdout}");
    assert!(stdout.contains("timed out after 1s"), "{stdout}");
    assert!(stdout.contains("xdist: 3 timed out"), "{stdout}");
    assert_eq!(out.status.code(), Some(100));
}

#[test]
fn cargo_config_env_reaches_the_tests() {
    let out = xdist(STALL, "run").args(["--", "--exact", "t::config_env"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    assert_eq!(final_line(&out), "xdist: 1 passed, 0 failed, 0 skipped");
}

#[test]
fn slow_tests_are_announced() {
    let out = xdist(STALL, "run")
        .args(["-n", "1", "--slow-timeout", "0.5", "--", "--exact", "t::slow"])
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    let slow_lines = stdout.lines().filter(|l| l.trim_start().starts_with("SLOW [gw0]")).count();
    assert!((2..=3).contains(&slow_lines), "one SLOW line per 0.5 s of 1.5 s:\n{stdout}");
    assert_eq!(out.status.code(), Some(0), "{stdout}");
}

#[test]
fn retries_make_a_flaky_test_pass_and_say_so() {
    let dir = state_dir("flaky");
    let out = xdist(STALL, "run")
        .args(["-n", "2", "--retries", "2", "--", "--exact", "t::flaky", "t::always_fails"])
        .env("STALL_STATE_DIR", &dir)
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    let got = xdist_outcomes(&out);
    assert_eq!(got["stall t::always_fails"], Outcome::Fail, "{stdout}");
    assert!(stdout.contains("    FLAKY stall t::flaky\n"), "{stdout}");
    assert!(
        stdout.contains("xdist: 1 flaky (passed on a retry):\n    stall t::flaky (attempt 2)"),
        "{stdout}"
    );
    assert_eq!(stdout.matches("RETRY stall t::always_fails").count(), 2, "{stdout}");
    assert_eq!(final_line(&out), "xdist: 1 passed, 1 failed, 0 skipped");

    let dir = state_dir("flaky-fail");
    let strict = xdist(STALL, "run")
        .args(["--retries", "1", "--flaky-result", "fail", "--", "--exact", "t::flaky"])
        .env("STALL_STATE_DIR", &dir)
        .output()
        .unwrap();
    assert_eq!(strict.status.code(), Some(100), "{}", text(&strict.stdout));
    assert!(text(&strict.stdout).contains("flaky: failed 1 time(s) before passing"));
}

#[test]
fn huge_outputs_are_cut_to_the_limit() {
    let out = xdist(STALL, "run")
        .args(["--output-limit", "65536", "--", "--exact", "t::huge_output", "t::long_line"])
        .output()
        .unwrap();
    let got = xdist_outcomes(&out);
    assert_eq!(got["stall t::huge_output"], Outcome::Fail);
    assert_eq!(got["stall t::long_line"], Outcome::Pass);
    assert!(
        out.stdout.len() < 400 * 1024,
        "printed {} bytes for 96 MB of output",
        out.stdout.len()
    );
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("bytes of output truncated by cargo-xdist"),
        "{}",
        &stdout[..2000.min(stdout.len())]
    );
    assert!(stdout.contains("fails after printing a lot"), "the end of the output is kept");
}

/// Pids of every process below `root` (from /proc).
fn descendants(root: u32) -> Vec<u32> {
    let mut parents = std::collections::HashMap::<u32, Vec<u32>>::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        // The parent pid is the second field after the parenthesised command name.
        let Some(after) = stat.rsplit_once(") ").map(|(_, a)| a) else { continue };
        let Some(ppid) = after.split_whitespace().nth(1).and_then(|p| p.parse().ok()) else {
            continue;
        };
        parents.entry(ppid).or_default().push(pid);
    }
    let mut out = Vec::new();
    let mut stack = vec![root];
    while let Some(pid) = stack.pop() {
        for &child in parents.get(&pid).into_iter().flatten() {
            out.push(child);
            stack.push(child);
        }
    }
    out
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|stat| !stat.rsplit_once(") ").is_some_and(|(_, a)| a.starts_with('Z')))
}

fn cmdline(pid: u32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline")).map(|b| text(&b)).unwrap_or_default()
}

/// Starts a run of the sixteen sleepers and waits until `lines` tests have finished.
fn start_sleepers(args: &[&str], sleep_ms: &str, lines: usize) -> (Child, Vec<String>) {
    // Build first, so the timing below is about running.
    let built = xdist(STALL, "list").output().unwrap();
    assert!(built.status.success());
    let mut child = xdist(STALL, "run")
        .args(args)
        .args(["--no-history", "t::sleeper_"])
        .env("STALL_SLEEP_MS", sleep_ms)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut seen = Vec::new();
    while seen.iter().filter(|l: &&String| l.contains("PASS")).count() < lines {
        let mut line = String::new();
        assert!(reader.read_line(&mut line).unwrap() > 0, "run ended early: {seen:?}");
        seen.push(line);
    }
    // Keep draining in the background so the run never blocks on a full pipe.
    let rest = std::thread::spawn(move || {
        let mut all = Vec::new();
        for line in reader.lines() {
            all.push(line.unwrap());
        }
        all
    });
    REST.with(|r| *r.borrow_mut() = Some(rest));
    (child, seen)
}

thread_local! {
    static REST: std::cell::RefCell<Option<std::thread::JoinHandle<Vec<String>>>> = const { std::cell::RefCell::new(None) };
}

fn rest_of_output() -> Vec<String> {
    REST.with(|r| r.borrow_mut().take()).map(|h| h.join().unwrap()).unwrap_or_default()
}

/// Kills (or stops) one worker mid-run and checks that every sleeper still ends exactly
/// once; returns the run's stderr.
fn lose_a_worker(extra: &[&str], signal: nix::sys::signal::Signal) -> String {
    let mut args = vec!["-n", "2", "-v"];
    args.extend_from_slice(extra);
    let (mut child, mut lines) = start_sleepers(&args, "300", 2);
    let workers: Vec<u32> = descendants(child.id())
        .into_iter()
        .filter(|&pid| cmdline(pid).contains("__xdist-worker"))
        .collect();
    assert_eq!(workers.len(), 2, "two workers running");
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(workers[0] as i32), signal).unwrap();
    let started = Instant::now();
    let status = child.wait().unwrap();
    assert!(started.elapsed() < Duration::from_secs(30), "the run ended");
    lines.extend(rest_of_output());
    let stdout = lines.join("\n");
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    let reported: Vec<&str> = lines
        .iter()
        .filter_map(|l| {
            let l = l.trim_start();
            (l.starts_with("PASS") || l.starts_with("FAIL")).then(|| l.rsplit_once(' ').unwrap().1)
        })
        .collect();
    let mut unique = reported.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 16, "each sleeper exactly once:\n{stdout}");
    assert_eq!(reported.len(), 16, "no test reported twice:\n{stdout}");
    assert!(stderr.contains("replacing crashed worker"), "{stderr}");
    let crashed = lines.iter().filter(|l| l.trim_start().starts_with("FAIL")).count();
    assert!(crashed <= 1, "only the test the worker was running fails:\n{stdout}");
    if crashed == 1 {
        assert!(stdout.contains("crashed while running this test"), "{stdout}");
    }
    assert_eq!(status.code(), Some(if crashed == 1 { 100 } else { 0 }), "{stdout}");
    stderr
}

#[test]
fn a_worker_killed_mid_run_loses_nothing() {
    let stderr = lose_a_worker(&[], nix::sys::signal::Signal::SIGKILL);
    assert!(stderr.contains("worker down: was killed by SIGKILL"), "{stderr}");
}

#[test]
fn a_silent_worker_is_killed_and_replaced() {
    let stderr =
        lose_a_worker(&["--worker-silence-timeout", "1.5"], nix::sys::signal::Signal::SIGSTOP);
    assert!(stderr.contains("worker down: sent nothing for 1.5s and was killed"), "{stderr}");
}

#[test]
fn sigint_stops_everything_within_two_seconds() {
    stops_everything_on(nix::sys::signal::Signal::SIGINT);
}

#[test]
fn sigterm_and_sighup_stop_everything_too() {
    stops_everything_on(nix::sys::signal::Signal::SIGTERM);
    stops_everything_on(nix::sys::signal::Signal::SIGHUP);
}

fn stops_everything_on(signal: nix::sys::signal::Signal) {
    let (mut child, mut lines) = start_sleepers(&["-n", "2"], "2000", 1);
    let family = descendants(child.id());
    let workers = family.iter().filter(|&&p| cmdline(p).contains("__xdist-worker")).count();
    let tests = family.iter().filter(|&&p| cmdline(p).contains("t::sleeper_")).count();
    assert!(workers >= 1 && tests >= 1, "workers and test processes run: {family:?}");
    let sent = Instant::now();
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), signal).unwrap();
    let status = child.wait().unwrap();
    let took = sent.elapsed();
    lines.extend(rest_of_output());
    let stdout = lines.join("\n");
    assert!(took < Duration::from_secs(2), "took {took:?}");
    assert_eq!(status.code(), Some(130), "{stdout}");
    assert!(stdout.contains(&format!("xdist: interrupted by {}", signal.as_str())), "{stdout}");
    assert!(lines.last().unwrap().starts_with("xdist: "), "{stdout}");
    assert!(stdout.contains("tests not run"), "{stdout}");
    std::thread::sleep(Duration::from_millis(200));
    let survivors: Vec<u32> = family.into_iter().filter(|&p| alive(p)).collect();
    assert!(survivors.is_empty(), "left behind: {survivors:?}");
}
