//! cargo's other targets: doctests (`--doc`, `--doctests`) give `cargo test`'s outcome for
//! each doctest, in every mode; examples and benches are selected as cargo selects them;
//! a test that leaks a child process neither stalls the run nor leaves the child behind.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use crate::support::*;

const TARGETS: &str = "tests/fixtures/targets";

/// `cargo test --doc`'s outcome for each doctest, as `targets::doc <name>` (rustdoc adds
/// ` - compile` / ` - compile fail` to `no_run` / `compile_fail` doctests when it runs
/// them; their listed names, which cargo-xdist uses, are without it).
fn cargo_doc_outcomes() -> &'static Outcomes {
    static DOC: OnceLock<Outcomes> = OnceLock::new();
    DOC.get_or_init(|| {
        let out = cargo()
            .current_dir(repo_root().join(TARGETS))
            .args(["test", "--doc", "--no-fail-fast", "--manifest-path"])
            .arg(manifest(TARGETS))
            .arg("--target-dir")
            .arg(target_dir())
            .output()
            .unwrap();
        let mut outcomes = Outcomes::new();
        for line in text(&out.stdout).lines() {
            let Some((name, word)) =
                line.strip_prefix("test ").and_then(|l| l.rsplit_once(" ... "))
            else {
                continue;
            };
            let name = name.trim_end_matches(" - compile fail").trim_end_matches(" - compile");
            let outcome = match word {
                "ok" => Outcome::Pass,
                "FAILED" => Outcome::Fail,
                w if w.starts_with("ignored") => Outcome::Skip,
                _ => continue,
            };
            outcomes.insert(format!("targets::doc {name}"), outcome);
        }
        assert!(outcomes.len() >= 7, "cargo test --doc ran the doctests:\n{}", text(&out.stdout));
        outcomes
    })
}

#[test]
fn doc_runs_only_doctests_with_cargo_tests_outcomes() {
    let want = cargo_doc_outcomes();
    assert!(
        want.values().any(|o| *o == Outcome::Fail) && want.values().any(|o| *o == Outcome::Skip)
    );
    // `--tx 2*popen`: local workers from specs run doctests as `-n` ones do.
    let runs =
        [&["-n", "1"][..], &["-n", "4"], &["-n", "2", "--dist", "worksteal"], &["--tx", "2*popen"]];
    for args in runs {
        let out = xdist(TARGETS, "run").arg("--doc").args(args).output().unwrap();
        assert_eq!(&xdist_outcomes(&out), want, "{args:?}\n{}", text(&out.stderr));
        assert_eq!(out.status.code(), Some(100));
    }
    let listed = xdist(TARGETS, "list").args(["--doc", "--run-ignored", "all"]).output().unwrap();
    let listed: BTreeSet<String> = text(&listed.stdout).lines().map(String::from).collect();
    assert_eq!(listed, want.keys().cloned().collect(), "list --doc");
    let without = xdist(TARGETS, "list").output().unwrap();
    assert!(text(&without.stderr).contains("doctests of 1 library are not run"), "a notice");
    assert!(!text(&without.stdout).contains("::doc "), "and no doctest");
}

#[test]
fn doctests_join_a_full_run_in_every_mode() {
    // Under `cargo test` the leaked child holds the output pipe open for its whole minute.
    let mut want = cargo_test_outcomes(TARGETS, &[], &["--skip", "leaks_a_child"]);
    want.extend(cargo_doc_outcomes().clone());
    for mode in ["load", "loadscope", "loadfile", "loadgroup", "worksteal", "no"] {
        let out = xdist(TARGETS, "run")
            .args(["--doctests", "-n", "3", "--dist", mode, "--skip", "leaks_a_child"])
            .output()
            .unwrap();
        assert_eq!(xdist_outcomes(&out), want, "--dist {mode}\n{}", text(&out.stderr));
    }
}

#[test]
fn examples_and_benches_are_selected_as_nextest_selects_them() {
    if !nextest_available("examples_and_benches_are_selected_as_nextest_selects_them") {
        return;
    }
    for selection in
        [&["--examples"][..], &["--benches"], &["--bench", "speed", "--example", "sample"]]
    {
        let want = nextest_selection(TARGETS, selection);
        let ours = xdist(TARGETS, "list").args(selection).output().unwrap();
        let ours: Vec<String> = text(&ours.stdout).lines().map(String::from).collect();
        assert!(!want.is_empty());
        assert_eq!(ours, want, "{selection:?}");
    }
}

/// The doctest outcomes of a run (`targets::doc <name>`).
fn doc_outcomes(out: &std::process::Output) -> Outcomes {
    xdist_outcomes(out).into_iter().filter(|(id, _)| id.starts_with("targets::doc ")).collect()
}

#[test]
fn a_profile_with_doctests_true_runs_them_in_a_normal_run() {
    // `.config/xdist.toml` of the fixture: `[profile.doctests] doctests = true`.
    let want = cargo_doc_outcomes();
    let out =
        xdist(TARGETS, "run").args(["--profile", "doctests", "--lib", "-n", "2"]).output().unwrap();
    assert_eq!(&doc_outcomes(&out), want, "{}", text(&out.stderr));
    let lib = xdist_outcomes(&out).len() - want.len();
    assert!(lib > 0, "and the library's own tests");
    assert_eq!(out.status.code(), Some(100), "a doctest fails");
    let listed = xdist(TARGETS, "list")
        .args(["--profile", "doctests", "--lib", "--run-ignored", "all"])
        .output()
        .unwrap();
    let listed = text(&listed.stdout);
    let docs: BTreeSet<&str> = listed.lines().filter(|l| l.starts_with("targets::doc ")).collect();
    assert_eq!(docs, want.keys().map(String::as_str).collect(), "list --profile doctests");
    // The default profile leaves them out, and a variable beats the profile.
    let plain = xdist(TARGETS, "run").args(["--lib", "-n", "2"]).output().unwrap();
    assert!(doc_outcomes(&plain).is_empty(), "{}", text(&plain.stdout));
    assert!(text(&plain.stderr).contains("doctests of 1 library are not run"));
    let off = xdist(TARGETS, "run")
        .args(["--profile", "doctests", "--lib", "-n", "2"])
        .env("XDIST_DOCTESTS", "false")
        .output()
        .unwrap();
    assert!(doc_outcomes(&off).is_empty(), "{}", text(&off.stdout));
    assert_eq!(off.status.code(), Some(0), "{}", text(&off.stderr));
    let shown = xdist(TARGETS, "show-config").args(["--profile", "doctests"]).output().unwrap();
    let line = text(&shown.stdout).lines().find(|l| l.starts_with("doctests =")).map(String::from);
    let line = line.unwrap_or_default();
    assert!(line.starts_with("doctests = true "), "{line}");
    assert!(line.ends_with("xdist.toml [profile.doctests]"), "{line}");
}

#[test]
fn a_leaked_child_is_stopped_with_its_test_process() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("leak");
    std::fs::create_dir_all(&dir).unwrap();
    let pid_file = dir.join("pid");
    let _ = std::fs::remove_file(&pid_file);
    let out = xdist(TARGETS, "run")
        .args(["--test", "leak", "-n", "1"])
        .env("XDIST_LEAK_PID_FILE", &pid_file)
        .output()
        .unwrap();
    let outcomes = xdist_outcomes(&out);
    assert_eq!(outcomes["targets::leak leaks_a_child"], Outcome::Pass, "{}", text(&out.stderr));
    assert_eq!(outcomes["targets::leak runs_after_the_leak"], Outcome::Pass);
    let leak = "LEAK [gw0] a test process of targets::leak left processes running";
    assert!(text(&out.stderr).contains(leak), "the leak is told:\n{}", text(&out.stderr));
    let clean =
        xdist(TARGETS, "run").args(["--test", "leak", "--skip", "leaks_a_child"]).output().unwrap();
    assert!(!text(&clean.stderr).contains("LEAK"), "{}", text(&clean.stderr));
    let pid: i32 = std::fs::read_to_string(&pid_file).unwrap().trim().parse().unwrap();
    // The child is gone (a zombie until init reaps it counts as gone).
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let state = stat.rsplit_once(") ").map(|(_, rest)| rest.chars().next());
    assert!(matches!(state, None | Some(Some('Z'))), "the leaked child {pid} still runs: {stat}");
}
