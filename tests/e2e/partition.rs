//! `--partition`: the same shards as cargo-nextest, and shards that together run every
//! test exactly once with `cargo test`'s outcomes.

use crate::support::*;

const DEMO: &str = "examples/demo";
/// 340 tests in four binaries, 62 of them ignored.
const SHARDS: &str = "tests/fixtures/shards";

#[test]
fn shards_are_nextests_shards() {
    if !nextest_available("shards_are_nextests_shards") {
        return;
    }
    // Every shard of each kind, with ignored tests left out, run alone, or mixed in.
    let mut specs = vec!["hash:1/1".to_string()];
    for (kind, total) in [("count", 3), ("hash", 4), ("slice", 5)] {
        specs.extend((1..=total).map(|k| format!("{kind}:{k}/{total}")));
    }
    for spec in &specs {
        for ignored in ["default", "all", "only"] {
            let args = ["--partition", spec, "--run-ignored", ignored];
            let ours = xdist(SHARDS, "list").args(args).output().unwrap();
            assert!(ours.status.success(), "{}", text(&ours.stderr));
            let ours: Vec<String> = text(&ours.stdout).lines().map(String::from).collect();
            let theirs = nextest_selection(SHARDS, &args);
            assert!(!theirs.is_empty(), "{args:?}");
            assert_eq!(ours, theirs, "{args:?}");
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
