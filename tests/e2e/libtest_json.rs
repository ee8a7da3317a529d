//! `--message-format libtest-json` against real libtest: `cargo test -- -Z unstable-options
//! --format json --report-time` (stable libtest prints it under `RUSTC_BOOTSTRAP=1`) and a
//! cargo-xdist run of the demo workspace give the same suite blocks: per binary the same
//! tests, each with `started` and the same result event with the same fields, and the same
//! suite counts.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::support::*;

const DEMO: &str = "examples/demo";

/// A test's result line: (name, event, its fields).
type TestKey = (String, String, BTreeSet<String>);

/// One suite block: its end (event, passed, failed, ignored, fields), `test_count` and
/// its tests' results, sorted.
type Block = ((String, u64, u64, u64, BTreeSet<String>), u64, Vec<TestKey>);

fn fields(line: &Value, skip: &[&str]) -> BTreeSet<String> {
    let object = line.as_object().expect("an object");
    object.keys().filter(|k| !skip.contains(&k.as_str())).cloned().collect()
}

/// The blocks of a libtest JSON stream, sorted; every test's result follows its `started`.
fn blocks(stdout: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut open: Option<(u64, Vec<TestKey>, BTreeSet<String>)> = None;
    for line in stdout.lines().filter(|l| l.trim_start().starts_with('{')) {
        let line: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        let event = line["event"].as_str().expect("event").to_string();
        match (line["type"].as_str().expect("type"), event.as_str()) {
            ("suite", "started") => {
                assert!(open.is_none(), "suites interleave");
                open = Some((
                    line["test_count"].as_u64().expect("count"),
                    Vec::new(),
                    BTreeSet::new(),
                ));
            }
            ("suite", _) => {
                let (count, mut tests, started) = open.take().expect("a suite ends unstarted");
                let ran: BTreeSet<String> = tests.iter().map(|t| t.0.clone()).collect();
                assert_eq!(started, ran, "every test starts once, then ends");
                tests.sort();
                let n = |k: &str| line[k].as_u64().expect("a count");
                let end = (event, n("passed"), n("failed"), n("ignored"), fields(&line, &[]));
                assert_eq!(count as usize, tests.len(), "test_count");
                blocks.push((end, count, tests));
            }
            ("test", "started") => {
                let (_, _, started) = open.as_mut().expect("a test outside a suite");
                assert!(started.insert(line["name"].as_str().unwrap().to_string()));
            }
            ("test", _) => {
                let (_, tests, started) = open.as_mut().expect("a test outside a suite");
                let name = line["name"].as_str().unwrap().to_string();
                assert!(started.contains(&name), "{name} ended before it started");
                // `#[ignore = "why"]` gives a `message` that `--list` does not show.
                let skip: &[&str] = if event == "ignored" { &["message"] } else { &[] };
                tests.push((name, event, fields(&line, skip)));
            }
            other => panic!("unexpected line {other:?}"),
        }
    }
    assert!(open.is_none(), "a suite never ended");
    blocks.sort();
    blocks
}

#[test]
fn libtest_json_matches_libtest_itself() {
    let real = cargo()
        .current_dir(repo_root().join(DEMO))
        .args(["test", "--no-fail-fast", "--lib", "--bins", "--tests", "--manifest-path"])
        .arg(manifest(DEMO))
        .arg("--target-dir")
        .arg(target_dir())
        .args(["--", "-Z", "unstable-options", "--format", "json", "--report-time"])
        .env("RUSTC_BOOTSTRAP", "1")
        .env_remove("RUST_BACKTRACE")
        .output()
        .unwrap();
    let want = blocks(&text(&real.stdout));
    assert!(want.len() >= 3, "{}", text(&real.stderr));
    let ours =
        xdist(DEMO, "run").args(["-n", "3", "--message-format", "libtest-json"]).output().unwrap();
    let stdout = text(&ours.stdout);
    assert!(stdout.lines().all(|l| l.starts_with('{')), "only JSON on stdout:\n{stdout}");
    assert!(text(&ours.stderr).contains("xdist: "), "the human report is on stderr");
    assert_eq!(blocks(&stdout), want, "ours:\n{stdout}\nlibtest's:\n{}", text(&real.stdout));
    assert_eq!(ours.status.code(), real.status.code().map(|_| 100));
}
