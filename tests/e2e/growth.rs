//! `-n auto` following the work (cargo-xdist/src/drive/growth.rs): while the CPUs stay idle
//! and tests wait unsent, workers are added; a fixed `-n` stays fixed. The measured CPU share
//! is stood in for by `XDIST_TEST_CPU_BUSY`, so the outcome does not depend on how busy the
//! machine running these tests is; the rule on real `/proc/stat` figures is unit-tested.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::support::{text, xdist};

const STALL: &str = "tests/fixtures/stall";

/// Runs the sixteen 400 ms sleepers with `args` and the CPU share `busy`; returns the
/// workers that ran a test and each test's number of finished events.
fn run_sleepers(args: &[&str], busy: &str) -> (BTreeSet<String>, Vec<(String, usize)>, u64) {
    let built = xdist(STALL, "list").output().unwrap();
    assert!(built.status.success(), "{}", text(&built.stderr));
    let out = xdist(STALL, "run")
        .args(args)
        .args(["--no-history", "--message-format", "json", "t::sleeper_"])
        .env("STALL_SLEEP_MS", "400")
        .env("XDIST_TEST_CPU_BUSY", busy)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let events: Vec<Value> =
        text(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let mut workers = BTreeSet::new();
    let mut finished: std::collections::BTreeMap<String, usize> = Default::default();
    let mut initial = 0;
    for event in &events {
        match event["event"].as_str() {
            Some("run-started") => initial = event["workers"].as_u64().unwrap(),
            Some("test-finished") => {
                workers.insert(event["worker"].as_str().unwrap().to_string());
                *finished.entry(event["name"].as_str().unwrap().to_string()).or_default() += 1;
            }
            _ => {}
        }
    }
    (workers, finished.into_iter().collect(), initial)
}

fn sixteen_once(finished: &[(String, usize)]) {
    let expected: Vec<(String, usize)> =
        (0..16).map(|i| (format!("t::sleeper_{i:02}"), 1)).collect();
    assert_eq!(finished, expected, "every sleeper finished exactly once");
}

#[test]
fn auto_adds_workers_while_the_cpus_stay_idle() {
    // 16 × 400 ms on 2 workers takes 3.2 s; the first look comes after 1 s.
    let (workers, finished, initial) = run_sleepers(&["-n", "auto", "--maxprocesses", "2"], "0.0");
    sixteen_once(&finished);
    assert_eq!(initial, 2);
    // --maxprocesses caps the growth too.
    assert_eq!(workers.len(), 2, "{workers:?}");
    let (workers, finished, initial) = run_sleepers(&["-n", "auto"], "0.0");
    sixteen_once(&finished);
    assert!(workers.len() as u64 > initial, "{initial} at the start, ran on {workers:?}");
}

#[test]
fn busy_cpus_or_a_fixed_count_keep_the_workers() {
    let (workers, finished, initial) = run_sleepers(&["-n", "auto"], "0.95");
    sixteen_once(&finished);
    assert!(workers.len() as u64 <= initial, "{initial} at the start, ran on {workers:?}");
    let (workers, finished, _) = run_sleepers(&["-n", "2"], "0.0");
    sixteen_once(&finished);
    assert!(workers.len() <= 2, "{workers:?}");
}

/// Runs the sixteen sleepers under `-n n` with the history in `file`, spinning on the CPU
/// instead of sleeping when `spin`; the looks see busy CPUs, so only the history can widen
/// the start. Returns the workers at the start.
fn start_with_history(n: &str, file: &std::path::Path, spin: bool) -> u64 {
    let mut run = xdist(STALL, "run");
    run.args(["-n", n, "--message-format", "json", "--durations-file"])
        .arg(file)
        .arg("t::sleeper_")
        .env("STALL_SLEEP_MS", "300")
        .env("XDIST_TEST_CPU_BUSY", "0.95");
    if spin {
        run.env("STALL_SPIN", "1");
    }
    let out = run.output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let started = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|e| e["event"] == "run-started")
        .expect("a run-started event");
    started["workers"].as_u64().unwrap()
}

/// The CPU share the history file recorded for the stall fixture's library tests.
fn recorded_share(file: &std::path::Path) -> f64 {
    let history: Value = serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap();
    history["cpu_share"]["stall"].as_f64().unwrap_or_else(|| panic!("no share: {history}"))
}

#[test]
fn a_second_auto_run_starts_as_wide_as_its_tests_left_the_cpus_idle() {
    let built = xdist(STALL, "list").output().unwrap();
    assert!(built.status.success(), "{}", text(&built.stderr));
    let cpus = std::thread::available_parallelism().unwrap().get() as u64;
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("growth-history");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (sleeping, spinning) = (dir.join("sleep.json"), dir.join("spin.json"));
    // First runs: nothing known, one worker per CPU at the start (16 tests: at most 16).
    assert_eq!(start_with_history("auto", &sleeping, false), cpus.min(16));
    assert_eq!(start_with_history("auto", &spinning, true), cpus.min(16));
    let (asleep, busy) = (recorded_share(&sleeping), recorded_share(&spinning));
    assert!(asleep < 0.5, "sleeping tests used {asleep} of a CPU");
    assert!(busy > 2.0 * asleep, "spinning tests used {busy}, sleeping ones {asleep}");
    // Second runs: the sleepers start with 8 workers per CPU (capped by their 16 tests),
    // the spinners with about one per CPU.
    let wide = start_with_history("auto", &sleeping, false);
    assert_eq!(wide, (8 * cpus).min(16), "sleepers' start, share {asleep}");
    let narrow = start_with_history("auto", &spinning, true);
    assert!(narrow < wide, "spinners started {narrow} workers (share {busy}), sleepers {wide}");
    assert_eq!(start_with_history("2", &sleeping, false), 2, "a fixed -n stays fixed");
}
