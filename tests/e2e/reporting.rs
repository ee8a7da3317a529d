//! Machine-readable reports on the demo workspace, checked against `cargo test`: the JSON
//! event stream on stdout and the JUnit file, each read back test by test.

use crate::support::*;

const DEMO: &str = "examples/demo";

#[test]
fn the_json_stream_has_one_finished_event_per_test_with_cargo_tests_outcome() {
    let want = cargo_test_outcomes(DEMO, &[], &[]);
    let out = xdist(DEMO, "run").args(["-n", "2", "--message-format", "json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(100));
    let stdout = text(&out.stdout);
    let mut got = Outcomes::new();
    let mut last = None;
    for line in stdout.lines() {
        let event: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert_eq!(event["version"], 1, "{line}");
        if event["event"] == "test-finished" {
            let outcome = match event["outcome"].as_str().unwrap() {
                "passed" => Outcome::Pass,
                "failed" | "timed-out" => Outcome::Fail,
                "skipped" => Outcome::Skip,
                other => panic!("unexpected outcome {other}: {line}"),
            };
            let id = event["id"].as_str().unwrap().to_string();
            assert!(got.insert(id, outcome).is_none(), "finished twice: {line}");
        }
        last = Some(event);
    }
    assert_eq!(got, want);
    let totals = last.expect("events");
    assert_eq!(totals["event"], "run-finished");
    assert_eq!(totals["passed"], 24);
    assert_eq!(totals["failed"], 2);
    // The human report went to stderr.
    let stderr = text(&out.stderr);
    assert!(stderr.trim_end().ends_with("xdist: 24 passed, 2 failed, 2 skipped"), "{stderr}");
}

#[test]
fn the_junit_file_holds_cargo_tests_outcomes() {
    let want = cargo_test_outcomes(DEMO, &[], &[]);
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("junit/demo.xml");
    let _ = std::fs::remove_file(&path);
    let out = xdist(DEMO, "run").args(["-n", "2", "--junit"]).arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(100));
    let xml = std::fs::read_to_string(&path).expect("the JUnit file");
    let doc = roxmltree::Document::parse(&xml).expect("well-formed XML");
    let mut got = Outcomes::new();
    for case in doc.descendants().filter(|n| n.has_tag_name("testcase")) {
        let id =
            format!("{} {}", case.attribute("classname").unwrap(), case.attribute("name").unwrap());
        let has = |tag: &str| case.children().any(|c| c.has_tag_name(tag));
        let outcome = if has("failure") {
            Outcome::Fail
        } else if has("skipped") {
            Outcome::Skip
        } else {
            Outcome::Pass
        };
        assert!(got.insert(id.clone(), outcome).is_none(), "{id} twice");
    }
    assert_eq!(got, want);
}

#[test]
fn in_github_actions_failures_are_annotated_at_their_panic_and_summarised() {
    let summary = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("github/summary.md");
    std::fs::create_dir_all(summary.parent().unwrap()).unwrap();
    let _ = std::fs::remove_file(&summary);
    let out = xdist(DEMO, "run")
        .args(["-n", "2"])
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", &summary)
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    // demo-core's assert_fails panics in demo-core/src/failing.rs (a path relative to the
    // workspace root, where GitHub looks for it).
    let annotation = stdout
        .lines()
        .find(|l| l.contains("title=demo-core failing%3A%3Atests%3A%3Aassert_fails"))
        .unwrap_or_else(|| panic!("no annotation:\n{stdout}"));
    assert!(annotation.starts_with("::error file=demo-core/src/failing.rs,line="), "{annotation}");
    assert_eq!(stdout.lines().filter(|l| l.starts_with("::error ")).count(), 2, "{stdout}");
    assert_eq!(final_line(&out), "xdist: 24 passed, 2 failed, 2 skipped");
    let written = std::fs::read_to_string(&summary).expect("a job summary");
    assert!(written.contains("| 24 | 2 | 0 | 0 | 2 | 0 |"), "{written}");
    assert!(written.contains("- `demo-core failing::tests::assert_fails`"), "{written}");
}
