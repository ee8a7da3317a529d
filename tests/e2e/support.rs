//! Helpers: where the fixtures are, running `cargo xdist` and `cargo test` on them, and
//! reading per-test outcomes out of their output.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A test's outcome as both tools report it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    Pass,
    Fail,
    Skip,
}

/// `<binary-id> <test name>` → outcome.
pub type Outcomes = BTreeMap<String, Outcome>;

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_path_buf()
}

/// The manifest of a fixture workspace: `examples/demo` or `tests/fixtures/NAME`.
pub fn manifest(fixture: &str) -> PathBuf {
    repo_root().join(fixture).join("Cargo.toml")
}

/// The target dir every fixture shares, so each builds once per test run.
pub fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("fixtures")
}

/// `cargo xdist <args>` on `fixture`, with the shared target dir.
pub fn xdist(fixture: &str, subcommand: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cargo-xdist"));
    // From the fixture's directory, as a user runs it (cargo's config is found from there).
    cmd.current_dir(repo_root().join(fixture));
    cmd.args(["xdist", subcommand, "--manifest-path"])
        .arg(manifest(fixture))
        .arg("--target-dir")
        .arg(target_dir())
        .env_remove("RUST_BACKTRACE");
    cmd
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Per-test outcomes from `cargo xdist run` output (its `PASS`/`FAIL`/`SKIP` lines).
pub fn xdist_outcomes(output: &Output) -> Outcomes {
    let stdout = text(&output.stdout);
    let mut outcomes = Outcomes::new();
    for line in stdout.lines() {
        let line = line.trim_start();
        let (outcome, rest) = match line.split_once(' ') {
            Some(("PASS" | "FLAKY", rest)) => (Outcome::Pass, rest),
            Some(("FAIL" | "TIMEOUT", rest)) => (Outcome::Fail, rest),
            Some(("SKIP", rest)) => (Outcome::Skip, rest),
            _ => continue,
        };
        // `-v` adds `[gwN] [  0.001s] ` before the id.
        let id = rest.rsplit_once("s] ").map_or(rest, |(_, id)| id).to_string();
        assert!(outcomes.insert(id.clone(), outcome).is_none(), "{id} reported twice:\n{stdout}");
    }
    outcomes
}

/// The last line of a run.
pub fn final_line(output: &Output) -> String {
    text(&output.stdout).lines().last().unwrap_or_default().to_string()
}

/// Binary path file name → binary id, from `cargo xdist list --message-format json`.
pub fn binary_ids(fixture: &str) -> BTreeMap<String, String> {
    let out = xdist(fixture, "list").args(["--message-format", "json"]).output().expect("run list");
    assert!(out.status.success(), "list failed: {}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("list json");
    json["binaries"]
        .as_array()
        .expect("binaries")
        .iter()
        .map(|b| {
            let path = Path::new(b["binary-path"].as_str().expect("path"));
            let file = path.file_name().expect("file name").to_string_lossy().into_owned();
            (file, b["binary-id"].as_str().expect("id").to_string())
        })
        .collect()
}

/// Per-test outcomes under plain `cargo test --no-fail-fast` (with `extra` libtest args).
pub fn cargo_test_outcomes(fixture: &str, env: &[(&str, &str)], extra: &[&str]) -> Outcomes {
    let ids = binary_ids(fixture);
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(repo_root().join(fixture))
        .args(["test", "--no-fail-fast", "--manifest-path"])
        .arg(manifest(fixture))
        .arg("--target-dir")
        .arg(target_dir())
        .arg("--")
        .args(extra)
        .envs(env.iter().copied())
        .output()
        .expect("run cargo test");
    let stderr = text(&out.stderr);
    let stdout = text(&out.stdout);
    // cargo prints `Running <src> (<path>)` on stderr and libtest's lines on stdout, so
    // stitch them together by order: each `running N tests` block follows one `Running`.
    let binaries: Vec<String> = stderr
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("Running "))
        .filter_map(|l| l.rsplit_once('(').map(|(_, p)| p.trim_end_matches(')').to_string()))
        .filter_map(|p| Path::new(&p).file_name().map(|f| f.to_string_lossy().into_owned()))
        .collect();
    let mut outcomes = Outcomes::new();
    let mut block = 0usize;
    let mut current: Option<&String> = None;
    for line in stdout.lines() {
        if line.starts_with("running ") && (line.ends_with(" tests") || line.ends_with(" test")) {
            current = binaries.get(block).and_then(|b| ids.get(b));
            block += 1;
            continue;
        }
        let Some(rest) = line.strip_prefix("test ") else { continue };
        let Some((name, result)) = rest.split_once(" ... ") else { continue };
        let name = name.trim_end_matches(" - should panic");
        let outcome = match result {
            "ok" => Outcome::Pass,
            "FAILED" => Outcome::Fail,
            r if r.starts_with("ignored") => Outcome::Skip,
            _ => continue,
        };
        if let Some(id) = current {
            outcomes.insert(format!("{id} {name}"), outcome);
        }
    }
    assert!(!outcomes.is_empty(), "no outcomes parsed from cargo test:\n{stdout}\n{stderr}");
    outcomes
}

/// Whether cargo-nextest can be run: locally a missing nextest skips loudly; in CI it fails.
pub fn nextest_available() -> bool {
    let ok = Command::new("cargo")
        .args(["nextest", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(std::env::var("CI").is_err(), "cargo-nextest is required in CI but is missing");
        eprintln!(
            "\n!!! SKIPPED: cargo-nextest is not installed; install it to run this test !!!\n"
        );
    }
    ok
}
