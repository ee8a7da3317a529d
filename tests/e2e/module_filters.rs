//! Batches that cut modules (`tests/fixtures/modules`: modules of 40 tests `case_1` ..
//! `case_40`, so the name of a cut module's `case_1` occurs inside `case_12`'s): a worker
//! names whole modules and the cut ones' tests as filters of one process where that
//! selects only them (xdist-worker/src/filters.rs). Whatever it chose, every test runs
//! exactly once (each test logs its name as it runs) with `cargo test`'s outcomes.

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
        let mut runs: BTreeMap<String, usize> = BTreeMap::new();
        for name in std::fs::read_to_string(&log).unwrap().lines() {
            *runs.entry(name.to_string()).or_default() += 1;
        }
        assert_eq!(runs.len(), 400, "-n {workers}: {} tests ran", runs.len());
        let twice: Vec<_> = runs.iter().filter(|(_, n)| **n != 1).collect();
        assert!(twice.is_empty(), "-n {workers}: ran more than once: {twice:?}");
    }
}
