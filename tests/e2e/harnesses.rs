//! Custom harnesses: a libtest-mimic `harness = false` target takes one filter per
//! process and pads its result lines. Every trial gets the outcome `cargo test` gives it,
//! in every mode.

use crate::support::*;

const HARNESSES: &str = "tests/fixtures/harnesses";

#[test]
fn a_libtest_mimic_harness_matches_cargo_test_in_every_mode() {
    let want = cargo_test_outcomes(HARNESSES, &[], &[]);
    assert_eq!(want.len(), 7, "{want:?}");
    assert_eq!(want["harnesses::mimic fails_c"], Outcome::Fail);
    let modes = ["no", "load", "loadscope", "loadfile", "loadgroup", "worksteal", "each"];
    let runs = modes
        .iter()
        .map(|m| vec!["-n", "2", "--dist", m])
        .chain([vec!["-n", "1"], vec!["-n", "4"]]);
    for args in runs {
        let out = xdist(HARNESSES, "run").args(&args).output().unwrap();
        let stdout = text(&out.stdout);
        assert_eq!(out.status.code(), Some(100), "{args:?}:\n{stdout}");
        if args.contains(&"each") {
            continue;
        }
        assert_eq!(xdist_outcomes(&out), want, "under {args:?}:\n{stdout}");
        // The failure is the trial's own, with its message, not a rejected command line.
        assert!(stdout.contains("deliberate failure of fails_c"), "{stdout}");
        assert!(!stdout.contains("before running any test"), "{stdout}");
    }
}
