//! `--success-output`: what a passing test printed through libtest's capture is shown (and
//! stored in JUnit) when asked for, and only then, without changing any outcome. Checked on
//! the hostile fixture, whose passing `t::pb_prints_failed_lines_passes` prints imitations
//! of libtest's failure lines and summary (its source says what), and against its
//! `EXPECTED.tsv`. Only tests whose process reaches libtest's end are selected: a process
//! that crashes never prints its captured output.

use crate::hostile::{HOSTILE, expected};
use crate::support::*;

const PB: &str = "t::pb_prints_failed_lines_passes";
/// A line `t::pb_prints_failed_lines_passes` prints with `println!`.
const PB_LINE: &str = "test t::pc_prints_ok_summary_then_fails ... FAILED";
/// Passing and failing tests of the fixture, none of which crashes.
const SELECTED: &str =
    "test(pb_prints) | test(k_big) | test(l_fails) | test(m_pass) | test(pc_prints) | test(q_pass)";

fn want() -> Outcomes {
    let names = ["pb_prints", "k_big", "l_fails", "m_pass", "pc_prints", "q_pass"];
    let mut want = expected();
    want.retain(|id, _| names.iter().any(|n| id.contains(&format!("t::{n}"))));
    assert_eq!(want.len(), 6);
    want
}

/// The block the report shows for `test` in its `successes:` part, if any.
fn success_block(stdout: &str, test: &str) -> Option<String> {
    // Between the part's `successes:` and the one of its list.
    let successes = stdout.split("\nsuccesses:\n").nth(1)?;
    successes
        .split("\n---- ")
        .find(|s| s.starts_with(&format!("hostile {test} ----")))
        .map(str::to_string)
}

#[test]
fn passing_tests_output_is_shown_with_success_output_final_and_outcomes_stay() {
    let want = want();
    for dist in ["load", "loadfile"] {
        let out = xdist(HOSTILE, "run")
            .args(["-n", "2", "--dist", dist, "--success-output", "final", "-E", SELECTED])
            .output()
            .unwrap();
        let stdout = text(&out.stdout);
        assert_eq!(xdist_outcomes(&out), want, "--dist {dist}:\n{stdout}");
        assert_eq!(out.status.code(), Some(100));
        assert_eq!(final_line(&out), "xdist: 4 passed, 2 failed, 0 skipped");
        let block = success_block(&stdout, PB).unwrap_or_else(|| panic!("no block:\n{stdout}"));
        assert!(block.contains(PB_LINE), "{block}");
        assert!(block.contains("\n    t::pb_prints_failed_lines_passes\n"), "{block}");
        // Each block holds its own test's text: none other claims pb's lines.
        let claimed = stdout.matches(PB_LINE).count();
        assert_eq!(claimed, 1, "{stdout}");
        // A passing test that prints 20,000 captured lines has them (bounded) too.
        let big = success_block(&stdout, "t::k_big_output").expect("k_big_output's block");
        assert!(big.contains("captured line 0\n"), "{}", &big[..200.min(big.len())]);
    }
}

#[test]
fn without_success_output_a_passing_tests_captured_text_is_not_shown() {
    let out = xdist(HOSTILE, "run").args(["-n", "2", "-E", SELECTED]).output().unwrap();
    let stdout = text(&out.stdout);
    assert_eq!(xdist_outcomes(&out), want());
    assert!(!stdout.contains(PB_LINE), "{stdout}");
    assert!(!stdout.contains("captured line 0\n"), "{stdout}");
}

#[test]
fn junit_stores_passing_tests_output_when_success_output_is_on() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("junit");
    for (flag, stored) in [("final", true), ("never", false)] {
        let path = dir.join(format!("hostile-success-{flag}.xml"));
        let _ = std::fs::remove_file(&path);
        let out = xdist(HOSTILE, "run")
            .args(["-n", "2", "--success-output", flag, "-E", SELECTED, "--junit"])
            .arg(&path)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(100));
        let xml = std::fs::read_to_string(&path).expect("the JUnit file");
        let doc = roxmltree::Document::parse(&xml).expect("well-formed XML");
        let case = doc
            .descendants()
            .find(|n| n.has_tag_name("testcase") && n.attribute("name") == Some(PB))
            .expect("pb's case");
        assert!(!case.children().any(|c| c.has_tag_name("failure")), "pb passes");
        let system_out = case
            .children()
            .find(|c| c.has_tag_name("system-out"))
            .and_then(|c| c.text())
            .unwrap_or_default();
        assert_eq!(system_out.contains(PB_LINE), stored, "--success-output {flag}: {system_out}");
    }
}
