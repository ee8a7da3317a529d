//! A profile override whose `filter` is a filterset sets a `group`: under `--dist loadgroup`
//! every test the filterset selects runs on one worker (the JSON stream names the worker of
//! each test), on the `swarm` fixture's 30-test binaries `s01` and `s02`. Without the
//! override the same tests spread over the workers, so it is the group that holds them.

use std::collections::{BTreeMap, BTreeSet};

use crate::support::*;

const SWARM: &str = "tests/fixtures/swarm";
const SELECTION: &str = "binary_id(swarm::s01) | binary_id(swarm::s02)";
/// The override's filterset: `t01`..`t09` of both binaries, 18 tests.
const GROUPED: &str = "test(/^t0[1-9]$/) & (binary_id(swarm::s01) | binary_id(swarm::s02))";

/// Test id → the worker that ran it, from a run's JSON stream.
fn workers(args: &[&str], xdg: Option<&std::path::Path>) -> BTreeMap<String, String> {
    let mut cmd = xdist(SWARM, "run");
    if let Some(xdg) = xdg {
        cmd.env("XDG_CONFIG_HOME", xdg);
    }
    let out = cmd
        .args(["-n", "3", "--dist", "loadgroup", "--no-history", "--message-format", "json"])
        .args(["-E", SELECTION])
        .args(args)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let mut workers = BTreeMap::new();
    for line in text(&out.stdout).lines() {
        let event: serde_json::Value = serde_json::from_str(line).unwrap();
        if event["event"] == "test-finished" {
            let id = event["id"].as_str().unwrap().to_string();
            workers.insert(id, event["worker"].as_str().unwrap().to_string());
        }
    }
    assert_eq!(workers.len(), 60);
    workers
}

fn grouped(id: &str) -> bool {
    let (binary, name) = id.split_once(' ').unwrap();
    ["swarm::s01", "swarm::s02"].contains(&binary) && name.len() == 3 && name.starts_with("t0")
}

#[test]
fn a_filterset_override_group_keeps_its_tests_on_one_worker() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("cargo-xdist");
    std::fs::create_dir_all(&config).unwrap();
    let profile =
        format!("[[profile.grouped.overrides]]\nfilter = {GROUPED:?}\ngroup = \"early\"\n");
    std::fs::write(config.join("config.toml"), profile).unwrap();

    let with = workers(&["--profile", "grouped"], Some(dir.path()));
    let of_group: BTreeSet<&str> =
        with.iter().filter(|(id, _)| grouped(id)).map(|(_, w)| w.as_str()).collect();
    assert_eq!(with.keys().filter(|id| grouped(id)).count(), 18);
    assert_eq!(of_group.len(), 1, "the group ran on one worker: {with:?}");
    let all: BTreeSet<&str> = with.values().map(String::as_str).collect();
    assert!(all.len() > 1, "the other tests spread: {with:?}");

    let without = workers(&[], None);
    let spread: BTreeSet<&str> =
        without.iter().filter(|(id, _)| grouped(id)).map(|(_, w)| w.as_str()).collect();
    assert!(spread.len() > 1, "without the override they spread: {without:?}");
}
