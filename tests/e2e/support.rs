//! Helpers: where the fixtures are, running `cargo xdist` and `cargo test` on them, and
//! reading per-test outcomes out of their output.

use std::collections::BTreeMap;
use std::io::Write;
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
    xdist_in(fixture, subcommand, &target_dir())
}

/// `cargo xdist <args>` on `fixture`, with the target dir `target` (and the duration history
/// in it).
pub fn xdist_in(fixture: &str, subcommand: &str, target: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cargo-xdist"));
    // From the fixture's directory, as a user runs it (cargo's config is found from there).
    cmd.current_dir(repo_root().join(fixture));
    cmd.args(["xdist", subcommand, "--manifest-path"])
        .arg(manifest(fixture))
        .arg("--target-dir")
        .arg(target)
        .env_remove("RUST_BACKTRACE")
        // Under GitHub Actions, nested runs would annotate and write the job summary.
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITHUB_STEP_SUMMARY")
        // Neither the person's own settings nor an outer run's profile apply.
        .env("XDG_CONFIG_HOME", Path::new(env!("CARGO_TARGET_TMPDIR")).join("no-user-config"));
    for (var, _) in std::env::vars().filter(|(v, _)| v.starts_with("XDIST_")) {
        cmd.env_remove(var);
    }
    cmd
}

/// `cargo xdist` with no fixture (for `durations`), from the scratch directory.
pub fn xdist_bin() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cargo-xdist"));
    cmd.current_dir(env!("CARGO_TARGET_TMPDIR")).arg("xdist").env_remove("RUST_BACKTRACE");
    cmd
}

pub fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
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

/// Binary path file name → nextest's binary id, from cargo's own JSON (not from cargo-xdist,
/// whose ids are what is under test): `cargo test --no-run --message-format json` names
/// each test executable with its package id and target, `cargo metadata` the package's name.
/// The id is `pkg` for a lib or proc-macro, `pkg::name` for an integration test and
/// `pkg::kind/name` for a bin, example or bench (nextest-compat.md, 4.2).
pub fn binary_ids(fixture: &str) -> BTreeMap<String, String> {
    let metadata = cargo()
        .args(["metadata", "--no-deps", "--format-version", "1", "--manifest-path"])
        .arg(manifest(fixture))
        .output()
        .expect("run cargo metadata");
    assert!(metadata.status.success(), "cargo metadata failed: {}", text(&metadata.stderr));
    let metadata: serde_json::Value = serde_json::from_slice(&metadata.stdout).expect("json");
    let names: BTreeMap<&str, &str> = metadata["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .map(|p| (p["id"].as_str().expect("id"), p["name"].as_str().expect("name")))
        .collect();
    let build = cargo()
        .current_dir(repo_root().join(fixture))
        .args(["test", "--no-run", "--message-format", "json", "--manifest-path"])
        .arg(manifest(fixture))
        .arg("--target-dir")
        .arg(target_dir())
        .output()
        .expect("run cargo test --no-run");
    assert!(build.status.success(), "cargo test --no-run failed: {}", text(&build.stderr));
    let mut ids = BTreeMap::new();
    for line in text(&build.stdout).lines() {
        let message: serde_json::Value = serde_json::from_str(line).expect("a JSON message");
        if message["reason"] != "compiler-artifact" || message["profile"]["test"] != true {
            continue;
        }
        let Some(executable) = message["executable"].as_str() else { continue };
        let package = names[message["package_id"].as_str().expect("package_id")];
        let target = &message["target"];
        let name = target["name"].as_str().expect("target name");
        let id = match target["kind"][0].as_str().expect("target kind") {
            "lib" | "rlib" | "dylib" | "cdylib" | "staticlib" | "proc-macro" => package.into(),
            "test" => format!("{package}::{name}"),
            kind => format!("{package}::{kind}/{name}"),
        };
        let file = Path::new(executable).file_name().expect("file name");
        ids.insert(file.to_string_lossy().into_owned(), id);
    }
    assert!(!ids.is_empty(), "no test executables in cargo's JSON:\n{}", text(&build.stdout));
    ids
}

/// Per-test outcomes under plain `cargo test --no-fail-fast` (with `extra` libtest args).
pub fn cargo_test_outcomes(fixture: &str, env: &[(&str, &str)], extra: &[&str]) -> Outcomes {
    cargo_test_outcomes_in(fixture, &target_dir(), env, extra)
}

/// The ids of the tests `cargo test` runs on `fixture` to a pass or a failure (not the
/// ignored ones).
pub fn cargo_test_run_ids(fixture: &str) -> std::collections::BTreeSet<String> {
    cargo_test_outcomes(fixture, &[], &[])
        .into_iter()
        .filter(|(_, outcome)| *outcome != Outcome::Skip)
        .map(|(id, _)| id)
        .collect()
}

/// [`cargo_test_outcomes`] with `target` as the target dir.
pub fn cargo_test_outcomes_in(
    fixture: &str,
    target: &Path,
    env: &[(&str, &str)],
    extra: &[&str],
) -> Outcomes {
    let ids = binary_ids(fixture);
    let out = cargo()
        .current_dir(repo_root().join(fixture))
        .args(["test", "--no-fail-fast", "--manifest-path"])
        .arg(manifest(fixture))
        .arg("--target-dir")
        .arg(target)
        .arg("--")
        .args(extra)
        .env_remove("RUST_BACKTRACE")
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
            // Doc-test blocks come after every `Running` binary, and have no id.
            current = binaries.get(block).map(|file| {
                ids.get(file).unwrap_or_else(|| panic!("no binary id for {file} in {ids:?}"))
            });
            block += 1;
            continue;
        }
        let Some(rest) = line.strip_prefix("test ") else { continue };
        let Some((name, result)) = rest.split_once(" ... ") else { continue };
        // Custom harnesses pad names to align their result lines.
        let name = name.trim_end().trim_end_matches(" - should panic");
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

/// Whether cargo-nextest can be run. Missing, it fails the test in CI (`CI` set to anything
/// but `false` or `0`); elsewhere the test skips, and says so on the terminal.
pub fn nextest_available(test: &str) -> bool {
    let ok = cargo().args(["nextest", "--version"]).output().is_ok_and(|o| o.status.success());
    if !ok {
        let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
        assert!(!ci, "cargo-nextest is required in CI but is missing");
        loud(&format!(
            "SKIPPED {test}: cargo-nextest is not installed; install it to run this test"
        ));
    }
    ok
}

/// Writes `message` where the person running the tests sees it: straight to fd 2, since
/// libtest captures only what `print!`/`eprint!` write (a passing test's capture is never
/// shown), and, when fd 2 is not the terminal (a runner holds it), to the terminal as well.
pub fn loud(message: &str) {
    use std::io::IsTerminal;
    let line = format!("\n!!! {message} !!!\n\n");
    let mut stderr = std::io::stderr();
    let _ = stderr.write_all(line.as_bytes());
    if !stderr.is_terminal() {
        if let Ok(mut tty) = std::fs::OpenOptions::new().write(true).open("/dev/tty") {
            let _ = tty.write_all(line.as_bytes());
        }
    }
}

/// What `cargo nextest list` selects (`filter-match: matches`) for these arguments on
/// `fixture`, as `<binary-id> <name>`, in nextest's order.
pub fn nextest_selection(fixture: &str, args: &[&str]) -> Vec<String> {
    let out = cargo()
        .args(["nextest", "list", "--message-format", "json", "--manifest-path"])
        .arg(manifest(fixture))
        .arg("--target-dir")
        .arg(target_dir())
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "nextest {args:?}: {}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut selected = Vec::new();
    for (id, suite) in json["rust-suites"].as_object().unwrap() {
        for (name, case) in suite["testcases"].as_object().unwrap() {
            if case["filter-match"]["status"] == "matches" {
                selected.push(format!("{id} {name}"));
            }
        }
    }
    selected
}

/// Copies a source tree (a fixture to a temp dir), leaving out any `target/`.
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let path = entry.path();
        if entry.file_name() == "target" {
            continue;
        }
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&path, &to.join(entry.file_name()));
        } else {
            std::fs::copy(&path, to.join(entry.file_name())).unwrap();
        }
    }
}
