//! A first run (no history) on a cluster of slow tests that sort together
//! (`tests/fixtures/cluster`): under `load` and `worksteal` the cluster is spread over the
//! workers, a steal taking the tests a running process has not reached
//! (xdist-worker/src/in_flight.rs), with `cargo test`'s outcomes, each test exactly once;
//! and on many small binaries (`tests/fixtures/swarm`) a first run starts about one process
//! per binary, not two (no probe process, chunks that end at binary boundaries).

use std::collections::BTreeMap;

use serde_json::Value;

use crate::support::*;

const CLUSTER: &str = "tests/fixtures/cluster";
const SWARM: &str = "tests/fixtures/swarm";

#[test]
fn a_first_run_spreads_a_cluster_of_slow_tests_over_the_workers() {
    let want = cargo_test_outcomes(CLUSTER, &[], &[]);
    assert_eq!(want.len(), 88, "{want:?}");
    for dist in ["load", "worksteal"] {
        let out = xdist(CLUSTER, "run")
            .args(["-n", "2", "--no-history", "--dist", dist, "--message-format", "json"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "--dist {dist}: {}", text(&out.stderr));
        let mut got = Outcomes::new();
        let mut slow_by_worker: BTreeMap<String, usize> = BTreeMap::new();
        for line in text(&out.stdout).lines() {
            let event: Value = serde_json::from_str(line).unwrap();
            if event["event"] != "test-finished" {
                continue;
            }
            let id = event["id"].as_str().unwrap().to_string();
            let outcome = match event["outcome"].as_str() {
                Some("passed") => Outcome::Pass,
                Some("skipped") => Outcome::Skip,
                _ => Outcome::Fail,
            };
            if id.contains("m::slow_") {
                *slow_by_worker.entry(event["worker"].as_str().unwrap().into()).or_default() += 1;
            }
            assert!(got.insert(id.clone(), outcome).is_none(), "--dist {dist}: {id} twice");
        }
        assert_eq!(got, want, "--dist {dist}");
        // 8 × 300 ms: each worker runs some of them (an even split is 4 and 4).
        let counts: Vec<usize> = slow_by_worker.values().copied().collect();
        assert_eq!(counts.len(), 2, "--dist {dist}: the slow tests ran on {slow_by_worker:?}");
        assert!(counts.iter().all(|&c| c >= 2), "--dist {dist}: {slow_by_worker:?}");
    }
}

#[test]
fn a_first_run_starts_about_one_process_per_small_binary() {
    let want = cargo_test_outcomes(SWARM, &[], &[]);
    let dir = tempfile::tempdir().unwrap();
    let trace_path = dir.path().join("trace.json");
    let out = xdist(SWARM, "run")
        .args(["-n", "2", "--no-history", "--message-format", "json", "--timeline"])
        .arg(&trace_path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let mut got = Outcomes::new();
    for line in text(&out.stdout).lines() {
        let event: Value = serde_json::from_str(line).unwrap();
        if event["event"] == "test-finished" {
            let id = event["id"].as_str().unwrap().to_string();
            let outcome = if event["outcome"] == "passed" { Outcome::Pass } else { Outcome::Fail };
            assert!(got.insert(id.clone(), outcome).is_none(), "{id} twice");
        }
    }
    assert_eq!(got, want);
    // The binaries, from cargo test's outcomes; the processes, from the trace.
    let binaries: std::collections::BTreeSet<&str> =
        want.keys().map(|id| id.split_once(' ').expect("<binary-id> <name>").0).collect();
    assert!(binaries.len() >= 12, "{binaries:?}");
    let trace: Value = serde_json::from_slice(&std::fs::read(&trace_path).unwrap()).unwrap();
    let processes = trace["traceEvents"]
        .as_array()
        .expect("traceEvents")
        .iter()
        .filter(|e| e["ph"] == "X" && e["cat"] == "process")
        .count();
    // Two workers: about one process per binary (a split or two at chunk ends and at the
    // end of the run, under load); a probe per binary and worker would be about twice that.
    assert!(
        processes <= binaries.len() + 3,
        "{processes} processes for {} binaries",
        binaries.len()
    );
}
