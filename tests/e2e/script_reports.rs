//! Setup and teardown scripts in the machine-readable reports, on the `scripts` fixture:
//! the JSON stream has a `script-started` and a `script-finished` event per script (setup
//! before `run-started`, teardown after `run-finished`), and the JUnit file an `@setup` and
//! an `@teardown` suite with a case per script; a failing setup still leaves both before
//! the run ends with 105. The scripts' commands, exit codes and the text they print are
//! set here, so that is what the records must hold.

use std::path::Path;

use crate::scripts::Setup;
use crate::support::*;

const SETUP_CMD: &str = "echo setup-prints-this; echo SETUP_TOKEN=from-setup >> \"$XDIST_ENV\"";
const TEARDOWN_CMD: &str = "echo teardown-prints-this";

fn json_lines(stdout: &[u8]) -> Vec<serde_json::Value> {
    text(stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// The JUnit file's `(suite, case name, failure message, system-out)` of its script suites.
fn junit_scripts(path: &Path) -> Vec<(String, String, Option<String>, String)> {
    let xml = std::fs::read_to_string(path).expect("the JUnit file");
    let doc = roxmltree::Document::parse(&xml).expect("well-formed XML");
    let mut cases = Vec::new();
    for suite in doc.descendants().filter(|n| n.has_tag_name("testsuite")) {
        let name = suite.attribute("name").unwrap();
        if !name.starts_with('@') {
            continue;
        }
        for case in suite.children().filter(|n| n.has_tag_name("testcase")) {
            let child = |tag: &str| case.children().find(|c| c.has_tag_name(tag));
            cases.push((
                name.to_string(),
                case.attribute("name").unwrap().to_string(),
                child("failure").map(|f| f.attribute("message").unwrap_or_default().to_string()),
                child("system-out").and_then(|c| c.text()).unwrap_or_default().to_string(),
            ));
        }
    }
    cases
}

#[test]
fn scripts_that_pass_are_in_the_json_stream_and_the_junit_file() {
    let setup = Setup::new(&format!(
        "[[profile.st.setup]]\ncommand = [\"sh\", \"-c\", {SETUP_CMD:?}]\n\
         [[profile.st.teardown]]\ncommand = [\"sh\", \"-c\", {TEARDOWN_CMD:?}]\n"
    ));
    let junit = setup.path("junit.xml");
    let junit_arg = junit.to_str().unwrap();
    let out =
        setup.output(&["-E", "test(sees_token)", "--message-format", "json", "--junit", junit_arg]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let lines = json_lines(&out.stdout);
    let events: Vec<&str> = lines.iter().map(|l| l["event"].as_str().unwrap()).collect();
    let at = |event: &str| events.iter().position(|e| *e == event).unwrap();
    let last = |event: &str| events.iter().rposition(|e| *e == event).unwrap();
    // Setup before the run, teardown after it.
    assert_eq!(&events[..2], ["script-started", "script-finished"], "{events:?}");
    assert!(at("run-started") > 1 && last("script-started") > at("run-finished"), "{events:?}");
    let finished: Vec<&serde_json::Value> =
        lines.iter().filter(|l| l["event"] == "script-finished").collect();
    assert_eq!(finished.len(), 2);
    let (s, t) = (finished[0], finished[1]);
    assert_eq!((s["phase"].as_str(), s["index"].as_u64()), (Some("setup"), Some(0)));
    assert_eq!(s["command"], format!("sh -c {SETUP_CMD}"));
    assert_eq!((s["outcome"].as_str(), s["cause"].is_null()), (Some("passed"), true));
    assert_eq!(s["output"], "setup-prints-this\n");
    assert_eq!((t["phase"].as_str(), t["outcome"].as_str()), (Some("teardown"), Some("passed")));
    assert_eq!(t["output"], "teardown-prints-this\n");
    assert!(s["duration"].as_f64().unwrap() >= 0.0);

    let cases = junit_scripts(&junit);
    let want = [
        ("@setup", format!("sh -c {SETUP_CMD}"), None, "setup-prints-this\n"),
        ("@teardown", format!("sh -c {TEARDOWN_CMD}"), None, "teardown-prints-this\n"),
    ];
    let want: Vec<_> =
        want.into_iter().map(|(a, b, c, d)| (a.to_string(), b, c, d.to_string())).collect();
    assert_eq!(cases, want);
}

#[test]
fn a_failing_setup_is_reported_before_the_run_ends_with_105() {
    let setup = Setup::new(
        r#"
[[profile.st.setup]]
command = ["sh", "-c", "echo broken-setup-says-why; exit 7"]
[[profile.st.setup]]
command = ["touch", "{DIR}/second-setup"]
"#,
    );
    let junit = setup.path("junit.xml");
    let junit_arg = junit.to_str().unwrap();
    let out = setup.output(&["--message-format", "json", "--junit", junit_arg]);
    assert_eq!(out.status.code(), Some(105), "{}", text(&out.stderr));
    let lines = json_lines(&out.stdout);
    let events: Vec<&str> = lines.iter().map(|l| l["event"].as_str().unwrap()).collect();
    // The second setup never ran, and no test run started.
    assert_eq!(events, ["script-started", "script-finished"]);
    let finished = &lines[1];
    assert_eq!(finished["outcome"], "failed");
    assert_eq!(finished["cause"], "exit code 7");
    assert_eq!(finished["output"], "broken-setup-says-why\n");
    let cases = junit_scripts(&junit);
    assert_eq!(cases.len(), 1, "{cases:?}");
    let (suite, name, failure, system_out) = &cases[0];
    assert_eq!(suite, "@setup");
    assert_eq!(name, "sh -c echo broken-setup-says-why; exit 7");
    assert_eq!(failure.as_deref(), Some("exit code 7"));
    assert_eq!(system_out, "broken-setup-says-why\n");
}
