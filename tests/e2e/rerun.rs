//! `--lf`, `--ff` and a profile's per-test overrides, on a copy of tests/fixtures/rerun that
//! each test edits (the repository's copy is never touched). Each copy builds into a target
//! dir of its own, since the outcome record lives in the target dir.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support::{copy_tree, repo_root, text};

/// A copy of the fixture, its target dir and an empty user config dir.
struct Copy {
    _dir: tempfile::TempDir,
    root: PathBuf,
    target: PathBuf,
    xdg: PathBuf,
}

impl Copy {
    fn new(name: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("rerun");
        copy_tree(&repo_root().join("tests/fixtures/rerun"), &root);
        let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("rerun-{name}"));
        let _ = std::fs::remove_dir_all(target.join("xdist"));
        let xdg = dir.path().join("xdg");
        Self { _dir: dir, root, target, xdg }
    }

    fn run(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_cargo-xdist"));
        cmd.current_dir(&self.root)
            .args(["xdist", "run", "--manifest-path"])
            .arg(self.root.join("Cargo.toml"))
            .arg("--target-dir")
            .arg(&self.target)
            .args(args)
            .env("XDG_CONFIG_HOME", &self.xdg)
            .env_remove("RUST_BACKTRACE")
            .env_remove("GITHUB_ACTIONS")
            .env_remove("GITHUB_STEP_SUMMARY");
        for (var, _) in std::env::vars().filter(|(v, _)| v.starts_with("XDIST_")) {
            cmd.env_remove(var);
        }
        cmd.output().expect("run cargo xdist")
    }

    fn fix(&self) {
        let lib = self.root.join("src/lib.rs");
        let source = std::fs::read_to_string(&lib).unwrap();
        assert!(source.contains("FIXED: bool = false"));
        std::fs::write(&lib, source.replace("FIXED: bool = false", "FIXED: bool = true")).unwrap();
    }
}

/// `(outcome word, test name)` of each result line, in order.
fn results(output: &Output) -> Vec<(String, String)> {
    text(&output.stdout)
        .lines()
        .filter_map(|line| {
            let (word, rest) = line.trim_start().split_once(' ')?;
            matches!(word, "PASS" | "FAIL" | "TIMEOUT" | "FLAKY")
                .then(|| (word.to_string(), rest.rsplit(' ').next().unwrap_or(rest).to_string()))
        })
        .collect()
}

fn names(output: &Output) -> Vec<String> {
    let mut names: Vec<String> = results(output).into_iter().map(|(_, name)| name).collect();
    names.sort();
    names
}

/// The JSON events of `--message-format json` of one kind: (test name, the event).
fn events(output: &Output, kind: &str) -> Vec<(String, serde_json::Value)> {
    text(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).expect("a JSON line"))
        .filter(|e| e["event"] == kind)
        .map(|e| (e["name"].as_str().unwrap_or_default().to_string(), e))
        .collect()
}

fn explain(output: &Output) -> String {
    format!("stdout:\n{}\nstderr:\n{}", text(&output.stdout), text(&output.stderr))
}

const ALL_FOUR: [&str; 4] =
    ["tests::a_passes", "tests::b_passes", "tests::m_toggles", "tests::z_passes"];

#[test]
fn last_failed_reruns_what_did_not_pass_until_it_is_fixed() {
    let copy = Copy::new("lf");
    let first = copy.run(&["--skip", "slow::"]);
    assert_eq!(first.status.code(), Some(100), "{}", explain(&first));
    assert_eq!(names(&first), ALL_FOUR);

    let again = copy.run(&["--lf", "--skip", "slow::"]);
    assert_eq!(again.status.code(), Some(100), "{}", explain(&again));
    assert_eq!(results(&again), [("FAIL".to_string(), "tests::m_toggles".to_string())]);
    assert!(
        text(&again.stderr).contains("running the 1 test that did not pass last time (3 passed"),
        "{}",
        explain(&again)
    );

    copy.fix();
    let fixed = copy.run(&["--last-failed", "--skip", "slow::"]);
    assert_eq!(fixed.status.code(), Some(0), "{}", explain(&fixed));
    assert_eq!(results(&fixed), [("PASS".to_string(), "tests::m_toggles".to_string())]);

    let nothing_failed = copy.run(&["--lf", "--skip", "slow::"]);
    assert_eq!(nothing_failed.status.code(), Some(0), "{}", explain(&nothing_failed));
    assert_eq!(names(&nothing_failed), ALL_FOUR, "--lfnf all, the default: everything");
    assert!(text(&nothing_failed.stderr).contains("no failures recorded; running all 4 tests"));

    let none = copy.run(&["--lf", "--lfnf", "none", "--skip", "slow::"]);
    assert_eq!(none.status.code(), Some(0), "{}", explain(&none));
    assert!(results(&none).is_empty(), "{}", explain(&none));
    assert!(text(&none.stderr).contains("running none"), "{}", explain(&none));

    // A test the record has never seen has not passed yet.
    let new = copy.run(&["--lf"]);
    assert_eq!(names(&new), ["slow::sleeps"], "{}", explain(&new));
}

#[test]
fn failed_first_sends_what_failed_before_the_rest() {
    let copy = Copy::new("ff");
    let first = copy.run(&["-n", "1", "--skip", "slow::"]);
    assert_eq!(first.status.code(), Some(100), "{}", explain(&first));
    let started = |output: &Output| -> Vec<String> {
        events(output, "test-started").into_iter().map(|(name, _)| name).collect()
    };
    let plain = copy.run(&["-n", "1", "--skip", "slow::", "--message-format", "json"]);
    assert_eq!(started(&plain), ALL_FOUR, "without --ff: one process, libtest's name order");

    let ff = copy.run(&["-n", "1", "--ff", "--skip", "slow::", "--message-format", "json"]);
    assert_eq!(ff.status.code(), Some(100), "{}", explain(&ff));
    let order = started(&ff);
    assert_eq!(order[0], "tests::m_toggles", "{}", explain(&ff));
    let mut rest = order[1..].to_vec();
    rest.sort();
    assert_eq!(rest, ["tests::a_passes", "tests::b_passes", "tests::z_passes"]);
    assert!(text(&ff.stderr).contains("the 1 test that did not pass last time run first"));
}

#[test]
fn a_profile_override_gives_matching_tests_their_own_timeout_and_retries() {
    let copy = Copy::new("overrides");
    let tight = copy.run(&["--profile", "tight", "--message-format", "json"]);
    assert_eq!(tight.status.code(), Some(100), "{}", explain(&tight));
    let finished = events(&tight, "test-finished");
    let outcome = |name: &str| {
        let (_, event) = finished.iter().find(|(n, _)| n == name).expect(name);
        event["outcome"].as_str().unwrap().to_string()
    };
    assert_eq!(outcome("slow::sleeps"), "timed-out", "its own 1 s timeout");
    assert_eq!(outcome("tests::m_toggles"), "failed");
    let retried: Vec<String> =
        events(&tight, "test-retried").into_iter().map(|(name, _)| name).collect();
    assert_eq!(retried, ["tests::m_toggles"], "the profile's retries; none for slow::");

    let flag = copy.run(&["--profile", "tight", "--timeout", "30", "slow::"]);
    assert_eq!(flag.status.code(), Some(0), "a flag beats the override: {}", explain(&flag));
    assert_eq!(results(&flag), [("PASS".to_string(), "slow::sleeps".to_string())]);
}
