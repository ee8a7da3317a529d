//! The hostile fixture: aborts, segfaults, early exits (even with status 0), stack overflow,
//! a panic in a destructor, stray and non-UTF-8 bytes on fd 1, 20,000-line outputs, and
//! output (its own or a child's) that imitates libtest's result, start and summary lines. Every
//! test gets exactly the outcome of `tests/fixtures/hostile/EXPECTED.tsv`, in every mode.

use crate::support::*;

pub const HOSTILE: &str = "tests/fixtures/hostile";

pub fn expected() -> Outcomes {
    let table = std::fs::read_to_string(repo_root().join(HOSTILE).join("EXPECTED.tsv")).unwrap();
    table
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let cols: Vec<&str> = line.split('\t').collect();
            let outcome = match cols[2] {
                "pass" => Outcome::Pass,
                "fail" => Outcome::Fail,
                "skip" => Outcome::Skip,
                other => panic!("bad outcome {other} in EXPECTED.tsv"),
            };
            (format!("{} {}", cols[0], cols[1]), outcome)
        })
        .collect()
}

#[test]
fn every_test_gets_its_expected_outcome_in_every_mode() {
    let want = expected();
    assert_eq!(want.len(), 30);
    let modes = ["no", "load", "loadscope", "loadfile", "loadgroup", "worksteal"];
    let runs = modes
        .iter()
        .map(|m| vec!["-n", "3", "--dist", m])
        // Under `--show-output` libtest's end starts with passing tests' captured text.
        .chain([vec!["-n", "1"], vec!["-n", "4"], vec!["-n", "3", "--success-output", "final"]]);
    for args in runs {
        let args = &args[..];
        let out = xdist(HOSTILE, "run").args(args).output().unwrap();
        assert_eq!(xdist_outcomes(&out), want, "under {args:?}:\n{}", text(&out.stdout));
        assert_eq!(out.status.code(), Some(100));
        assert_eq!(final_line(&out), "xdist: 14 passed, 15 failed, 1 skipped");
    }
}

#[test]
fn crash_causes_are_named() {
    let out = xdist(HOSTILE, "run").args(["-n", "2"]).output().unwrap();
    let stdout = text(&out.stdout);
    for (test, cause) in [
        ("t::b_abort", "test process was killed by SIGABRT before the test finished"),
        ("t::d_segfault", "test process was killed by SIGSEGV"),
        ("t::e_exit0", "test process exited with code 0 before the test finished"),
        ("t::f_exit3", "test process exited with code 3 before the test finished"),
        ("t::g_stack_overflow", "has overflowed its stack"),
        ("t::h_panic_in_drop", "panic in a destructor during cleanup"),
        ("t::r_ok_then_exit0", "test process exited with code 0 before the test finished"),
        ("t::s_ok_then_abort", "test process was killed by SIGABRT before the test finished"),
        ("t::t_fake_summary_then_panic", "after a fake summary"),
        ("t::v_child_prints_libtest_lines", "after a child printed libtest's lines"),
    ] {
        let section = stdout
            .split("\n---- ")
            .find(|s| s.starts_with(&format!("hostile {test} ----")))
            .unwrap_or_else(|| panic!("no failure section for {test}:\n{stdout}"));
        assert!(section.contains(cause), "{test}: {section}");
    }
}

#[test]
fn a_hang_after_a_fake_result_times_out() {
    let out = xdist(HOSTILE, "run")
        .args(["-n", "2", "--timeout", "2", "--", "x_fake_ok_then_hang", "y_pass"])
        .env("HOSTILE_HANG", "1")
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    let outcomes = xdist_outcomes(&out);
    assert_eq!(outcomes["hostile t::x_fake_ok_then_hang"], Outcome::Fail, "{stdout}");
    assert_eq!(outcomes["hostile t::y_pass"], Outcome::Pass, "{stdout}");
    assert!(stdout.contains("TIMEOUT"), "{stdout}");
    assert_eq!(final_line(&out), "xdist: 1 passed, 1 failed, 0 skipped");
}

/// `--no-capture`: tests print as they run, each line after its worker's name, and printing
/// libtest's own lines (`ok`, `FAILED`, a later test's start line, a summary) changes no
/// outcome.
#[test]
fn no_capture_streams_output_and_keeps_every_outcome() {
    let want = expected();
    for args in [
        &["-n", "3", "--no-capture"][..],
        &["-n", "1", "--nocapture"],
        &["-n", "2", "--", "--nocapture"],
    ] {
        let out = xdist(HOSTILE, "run").args(args).output().unwrap();
        let stdout = text(&out.stdout);
        let stderr = text(&out.stderr);
        assert_eq!(xdist_outcomes(&out), want, "under {args:?}:\n{stdout}");
        assert_eq!(out.status.code(), Some(100));
        assert_eq!(final_line(&out), "xdist: 14 passed, 15 failed, 1 skipped");
        // What the tests printed, live, after the worker's name.
        let prefixed = |text: &str, line: &str| {
            text.lines().any(|l| {
                l.strip_prefix("[gw")
                    .and_then(|l| l.split_once("] "))
                    .is_some_and(|(n, rest)| n.chars().all(|c| c.is_ascii_digit()) && rest == line)
            })
        };
        for line in [
            "test t::q_pass_after_noise ... ok",
            "test result: FAILED. 0 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out",
            "test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out",
        ] {
            assert!(prefixed(&stdout, line), "no `[gwN] {line}` under {args:?}:\n{stdout}");
        }
        assert!(prefixed(&stderr, "after printing an ok summary"), "{stderr}");
    }
    // Captured (the default), the tests' prints stay out of the report.
    let out = xdist(HOSTILE, "run").args(["-n", "2"]).output().unwrap();
    assert!(!text(&out.stdout).contains("] test t::q_pass_after_noise ... ok"));
}
