//! `--partition`: the same shards as cargo-nextest, and shards that together run every
//! test exactly once with `cargo test`'s outcomes.

use crate::support::*;

const DEMO: &str = "examples/demo";

/// What `cargo nextest list` selects for these arguments, in its order.
fn nextest_selection(args: &[&str]) -> Vec<String> {
    let out = cargo()
        .args(["nextest", "list", "--message-format", "json", "--manifest-path"])
        .arg(manifest(DEMO))
        .arg("--target-dir")
        .arg(target_dir())
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut selected = Vec::new();
    for (id, suite) in json["rust-suites"].as_object().unwrap() {
        for (name, case) in suite["testcases"].as_object().unwrap() {
            if case["filter-match"]["status"] == "matches" {
                selected.push(format!("{id} {name}"));
            }
        }
    }
    selected
}

#[test]
fn shards_are_nextests_shards() {
    if !nextest_available("shards_are_nextests_shards") {
        return;
    }
    for spec in ["count:1/3", "count:3/3", "hash:1/3", "hash:2/3", "slice:2/3", "slice:4/5"] {
        for ignored in ["default", "all", "only"] {
            let args = ["--partition", spec, "--run-ignored", ignored];
            let ours = xdist(DEMO, "list").args(args).output().unwrap();
            assert!(ours.status.success(), "{}", text(&ours.stderr));
            let ours: Vec<String> = text(&ours.stdout).lines().map(String::from).collect();
            assert_eq!(ours, nextest_selection(&args), "{args:?}");
        }
    }
}

#[test]
fn two_slices_run_every_test_once_with_cargo_tests_outcomes() {
    let want = cargo_test_outcomes(DEMO, &[], &[]);
    let mut got = Outcomes::new();
    for shard in ["slice:1/2", "slice:2/2"] {
        let out = xdist(DEMO, "run").args(["-n", "2", "--partition", shard]).output().unwrap();
        for (id, outcome) in xdist_outcomes(&out) {
            assert!(got.insert(id.clone(), outcome).is_none(), "{id} in two shards");
        }
    }
    assert_eq!(got, want);
}
