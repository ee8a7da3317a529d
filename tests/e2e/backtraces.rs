//! `RUST_BACKTRACE` and the duration history on the demo workspace: a process's first panic
//! (which then loads the binary's debug info) is kept out of the test's recorded duration
//! and recorded as the binary's process cost instead; without it, every test that ran is
//! recorded and no process cost is.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::support::*;

const DEMO: &str = "examples/demo";

/// A fresh history file path for one test.
fn history_file(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("backtraces").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("durations.json")
}

/// Runs the demo once with `backtrace` as RUST_BACKTRACE (or unset) into a fresh history;
/// returns the history's JSON.
fn history_after_run(name: &str, backtrace: Option<&str>) -> Value {
    let file = history_file(name);
    let mut cmd = xdist(DEMO, "run");
    cmd.args(["-n", "2", "--durations-file"]).arg(&file);
    if let Some(value) = backtrace {
        cmd.env("RUST_BACKTRACE", value);
    }
    let out = cmd.output().unwrap();
    assert!(final_line(&out).starts_with("xdist: "), "{}", text(&out.stderr));
    serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap()
}

fn recorded(history: &Value) -> BTreeSet<String> {
    history["durations"].as_object().unwrap().keys().cloned().collect()
}

#[test]
fn without_backtraces_every_test_that_ran_is_recorded_and_no_process_cost() {
    let history = history_after_run("off", Some("0"));
    let ran = cargo_test_run_ids(DEMO);
    assert_eq!(recorded(&history), ran);
    assert!(history.get("process_cost").is_none(), "{history}");
}

#[test]
fn under_backtraces_a_first_panic_is_the_binarys_process_cost() {
    let history = history_after_run("on", Some("1"));
    let costs = history["process_cost"].as_object().unwrap_or_else(|| panic!("{history}"));
    // The demo's `demo-core` lib holds a `should_panic` test, so it panics in every run.
    assert!(costs.contains_key("demo-core"), "{history}");
    let ran = cargo_test_run_ids(DEMO);
    let recorded = recorded(&history);
    let unrecorded: Vec<&String> = ran.difference(&recorded).collect();
    assert!(!unrecorded.is_empty(), "a first panic of a new test is not recorded: {history}");
    for id in unrecorded {
        let binary = id.split_once(' ').unwrap().0;
        assert!(costs.contains_key(binary), "{id} unrecorded, yet {binary} has no cost");
    }
    assert!(recorded.is_subset(&ran), "{history}");
}
