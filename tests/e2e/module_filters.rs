//! Batches that cut modules (`tests/fixtures/modules`: modules of 40 tests `case_1` ..
//! `case_40`, so the name of a cut module's `case_1` occurs inside `case_12`'s): a worker
//! names whole modules and the cut ones' tests as filters of one process where that
//! selects only them (xdist-worker/src/filters.rs). Whatever it chose, every test runs
//! exactly once (each test logs its process and name as it runs) with `cargo test`'s
//! outcomes. The one documented exception: a steal took a test from a process in which a
//! test failed afterwards; that process runs on so that the failure keeps its output, and
//! the stolen test runs elsewhere too (docs/scheduling.md).

use std::collections::BTreeMap;

use crate::support::*;

const MODULES: &str = "tests/fixtures/modules";

#[test]
fn batches_that_cut_modules_run_each_test_exactly_once() {
    let want = cargo_test_outcomes(MODULES, &[], &[]);
    assert_eq!(want.len(), 400, "{want:?}");
    for workers in ["1", "2"] {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("ran.txt");
        // Chunks of at most 90 tests: each holds whole modules and cuts one or two.
        let out = xdist(MODULES, "run")
            .args(["-n", workers, "--no-history", "--maxschedchunk", "90"])
            .env("MODULES_RAN", &log)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(100), "-n {workers}: {}", text(&out.stderr));
        assert_eq!(xdist_outcomes(&out), want, "-n {workers}");
        // Each test's runs, as (process, place in the log).
        let mut runs: BTreeMap<String, Vec<(String, usize)>> = BTreeMap::new();
        let ran = std::fs::read_to_string(&log).unwrap();
        let lines: Vec<(&str, &str)> =
            ran.lines().map(|l| l.split_once(' ').expect("pid and name")).collect();
        for (at, (pid, name)) in lines.iter().enumerate() {
            runs.entry(name.to_string()).or_default().push((pid.to_string(), at));
        }
        assert_eq!(runs.len(), 400, "-n {workers}: {} tests ran", runs.len());
        // A test that ran twice: once in a process where a test had failed before it.
        let failed_before = |pid: &str, at: usize| {
            lines[..at].iter().any(|(p, name)| *p == pid && name.ends_with('7'))
        };
        let twice: Vec<_> = runs
            .iter()
            .filter(|(_, r)| {
                r.len() > 2 || (r.len() == 2 && !r.iter().any(|(p, at)| failed_before(p, *at)))
            })
            .collect();
        assert!(twice.is_empty(), "-n {workers}: ran more than once: {twice:?}");
    }
}
