//! `--timeline PATH` on the hostile fixture with retries: the Chrome trace parsed back has
//! every test once per attempt on the track of the worker that ran it (as the JSON event
//! stream of the same run says), slices of one track never overlap, and every test slice
//! lies inside one of its track's process slices.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::support::*;

const HOSTILE: &str = "tests/fixtures/hostile";

/// (ts, end) of a slice.
fn span(e: &Value) -> (u64, u64) {
    let ts = e["ts"].as_u64().expect("ts");
    (ts, ts + e["dur"].as_u64().expect("dur"))
}

fn never_overlap(what: &str, tid: u64, mut spans: Vec<(u64, u64)>) {
    spans.sort();
    for pair in spans.windows(2) {
        assert!(pair[0].1 <= pair[1].0, "{what} slices overlap on track {tid}: {pair:?}");
    }
}

#[test]
fn the_timeline_shows_every_attempt_on_its_worker() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("deep/trace.json");
    let out = xdist(HOSTILE, "run")
        .args(["-n", "3", "--retries", "1", "--message-format", "json", "--timeline"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(100), "{}", text(&out.stderr));
    // (id, worker, attempt) of every run attempt, from the event stream.
    let mut want = BTreeMap::<(String, String, u64), u32>::new();
    for line in text(&out.stdout).lines() {
        let line: Value = serde_json::from_str(line).unwrap();
        let event = line["event"].as_str().unwrap();
        if !matches!(event, "test-finished" | "test-retried") {
            continue;
        }
        let (Some(worker), outcome) = (line["worker"].as_str(), line["outcome"].as_str()) else {
            continue;
        };
        if event == "test-finished" && matches!(outcome, Some("not-run" | "skipped")) {
            continue;
        }
        let key = (
            line["id"].as_str().unwrap().to_string(),
            worker.to_string(),
            line["attempt"].as_u64().unwrap(),
        );
        *want.entry(key).or_default() += 1;
    }
    assert!(want.len() > 30, "retries add attempts: {want:?}");

    let trace: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let events = trace["traceEvents"].as_array().expect("traceEvents");
    let names: BTreeMap<u64, String> = events
        .iter()
        .filter(|e| e["ph"] == "M" && e["name"] == "thread_name")
        .map(|e| (e["tid"].as_u64().unwrap(), e["args"]["name"].as_str().unwrap().to_string()))
        .collect();
    let slices = |cat: &str| -> Vec<&Value> {
        events
            .iter()
            .filter(|e| e["ph"] == "X" && e["cat"].as_str().unwrap().split(',').next() == Some(cat))
            .collect()
    };
    let (tests, processes) = (slices("test"), slices("process"));
    let mut got = BTreeMap::<(String, String, u64), u32>::new();
    for t in &tests {
        let tid = t["tid"].as_u64().unwrap();
        let worker = t["args"]["worker"].as_str().unwrap().to_string();
        assert_eq!(names[&tid], worker, "a test on its worker's track: {t}");
        let key = (
            t["name"].as_str().unwrap().to_string(),
            worker,
            t["args"]["attempt"].as_u64().unwrap(),
        );
        *got.entry(key).or_default() += 1;
        let (start, end) = span(t);
        assert!(
            processes.iter().any(|p| {
                let (ps, pe) = span(p);
                p["tid"] == t["tid"] && ps <= start && end <= pe
            }),
            "{t} is in none of its track's processes"
        );
    }
    assert_eq!(got, want, "every attempt once, on the worker that ran it");
    for &tid in names.keys() {
        let on = |slices: &[&Value]| -> Vec<(u64, u64)> {
            slices.iter().filter(|s| s["tid"].as_u64() == Some(tid)).map(|s| span(s)).collect()
        };
        never_overlap("test", tid, on(&tests));
        never_overlap("process", tid, on(&processes));
    }
    // Retries and crashes are marked.
    let marked = |name: &str, key: &str| {
        tests.iter().any(|t| t["name"] == format!("hostile {name}") && t["args"][key] == true)
    };
    assert!(marked("t::l_fails_normally", "retried"));
    assert!(marked("t::b_abort", "crashed"));
    assert!(!marked("t::l_fails_normally", "crashed"));
    assert!(tests.iter().any(|t| t["cat"] == "test,retried"));
}
