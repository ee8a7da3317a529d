//! Target runners: `CARGO_TARGET_<TRIPLE>_RUNNER` wraps every test binary `cargo test` runs;
//! cargo-xdist must start the same binaries under it, for listing and for every batch, and
//! give the outcomes `cargo test` gives under it.

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::support::{cargo_test_outcomes, text, xdist, xdist_outcomes};

const DEMO: &str = "examples/demo";
const TARGETS: &str = "tests/fixtures/targets";
const HARNESSES: &str = "tests/fixtures/harnesses";

fn host_triple() -> String {
    let out = std::process::Command::new("rustc").arg("-vV").output().unwrap();
    let text = text(&out.stdout);
    text.lines().find_map(|l| l.strip_prefix("host: ")).unwrap().trim().to_string()
}

/// A target runner in `dir` that logs its command line to `$XDIST_RUNNER_LOG` and runs it:
/// the variable that sets it for the host, and its path.
fn logging_runner(dir: &Path) -> (String, String) {
    let runner = dir.join("log-runner.sh");
    fs::write(&runner, "#!/bin/sh\necho \"$*\" >> \"$XDIST_RUNNER_LOG\"\nexec \"$@\"\n").unwrap();
    fs::set_permissions(&runner, fs::Permissions::from_mode(0o755)).unwrap();
    let var = format!("CARGO_TARGET_{}_RUNNER", host_triple().to_uppercase().replace('-', "_"));
    (var, runner.to_string_lossy().into_owned())
}

/// The binaries (first word) the runner was started with, and the whole logged lines.
fn logged(log: &Path) -> (BTreeSet<String>, Vec<String>) {
    let lines: Vec<String> =
        fs::read_to_string(log).unwrap_or_default().lines().map(String::from).collect();
    let binaries = lines.iter().filter_map(|l| l.split(' ').next()).map(String::from).collect();
    (binaries, lines)
}

#[test]
fn tests_run_under_the_target_runner_as_cargo_test_runs_them() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("runner");
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    let (var, runner) = logging_runner(&dir);

    let cargo_log = dir.join("cargo.log");
    let cargo_log_str = cargo_log.to_string_lossy().into_owned();
    let env = [(var.as_str(), runner.as_str()), ("XDIST_RUNNER_LOG", cargo_log_str.as_str())];
    let expected = cargo_test_outcomes(DEMO, &env, &[]);
    let (cargo_binaries, _) = logged(&cargo_log);
    assert!(cargo_binaries.len() >= 4, "cargo test ran its binaries under the runner");

    let our_log = dir.join("xdist.log");
    // Listed, not taken from the listing cache of an earlier test's run.
    let _ = fs::remove_file(crate::support::target_dir().join("xdist").join("listings.json"));
    let out = xdist(DEMO, "run")
        .args(["-n", "2"])
        .env(&var, &runner)
        .env("XDIST_RUNNER_LOG", &our_log)
        .output()
        .unwrap();
    assert_eq!(xdist_outcomes(&out), expected, "{}", text(&out.stderr));
    let (our_binaries, lines) = logged(&our_log);
    assert_eq!(our_binaries, cargo_binaries, "the same binaries under the runner");
    for binary in &our_binaries {
        let listed = lines.iter().any(|l| l.starts_with(binary) && l.contains("--list"));
        let ran = lines.iter().any(|l| l.starts_with(binary) && l.contains("--exact"));
        assert!(listed && ran, "{binary} listed and run under the runner:\n{lines:#?}");
    }
}

/// The test names of each run of the `mimic` binary in a runner's log (the words after
/// `--`; listings left out).
fn mimic_runs(log: &Path) -> Vec<String> {
    let (_, lines) = logged(log);
    lines
        .iter()
        .filter(|l| {
            let binary = l.split(' ').next().unwrap_or_default();
            Path::new(binary).file_name().is_some_and(|f| f.to_string_lossy().starts_with("mimic-"))
        })
        .filter(|l| !l.contains("--list"))
        .cloned()
        .collect()
}

/// How many of `listed` a logged command line names after `--` (names may hold spaces:
/// `[tidy] kind_h`).
fn named(line: &str, listed: &[&str]) -> usize {
    let names = line.split_once(" -- ").map_or("", |(_, names)| names);
    listed.iter().filter(|n| names.contains(*n)).count()
}

#[test]
fn a_binary_that_takes_one_name_runs_in_one_process_that_skips_the_rest() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("one-name-history");
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    let (var, runner) = logging_runner(&dir);
    // A history of its own.
    let durations = dir.join("durations.json");
    let run = |log: &Path| {
        let out = xdist(HARNESSES, "run")
            .args(["--test", "mimic", "-n", "1", "--durations-file"])
            .arg(&durations)
            .env(&var, &runner)
            .env("XDIST_RUNNER_LOG", log)
            .output()
            .unwrap();
        (xdist_outcomes(&out), text(&out.stderr))
    };
    let (first, stderr) = run(&dir.join("first.log"));
    let names: Vec<String> =
        first.keys().map(|id| id.split_once(' ').unwrap().1.to_string()).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let runs = mimic_runs(&dir.join("first.log"));
    // libtest-mimic takes one filter: the first process of several names runs none; the
    // later ones name one test, or none and skip the others.
    assert!(runs.first().is_some_and(|l| named(l, &names) > 1), "{runs:?}\n{stderr}");
    assert!(runs[1..].iter().all(|l| named(l, &names) <= 1), "{runs:?}");
    assert!(first.len() > 1, "{first:?}");
    let history = fs::read_to_string(&durations).unwrap();
    assert!(history.contains("\"one_name\"") && history.contains("harnesses::mimic"), "{history}");
    let (second, stderr) = run(&dir.join("second.log"));
    assert_eq!(second, first, "{stderr}");
    let runs = mimic_runs(&dir.join("second.log"));
    assert_eq!(runs.len(), 1, "one process for the whole binary: {runs:?}");
    assert_eq!(named(&runs[0], &names), 0, "{runs:?}");
    // It skips the one test the run does not run (ignored) by its exact name.
    assert!(runs[0].contains("--exact") && runs[0].contains("--skip=ignored_e"), "{runs:?}");
}

#[test]
fn an_unchanged_binary_is_not_listed_again_and_a_rebuilt_one_is() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("listing-cache");
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    let (var, runner) = logging_runner(&dir);
    // A target dir of its own: no other test's run shares its listing cache.
    let target = dir.join("target");
    let run = |log: &Path| {
        let out = crate::support::xdist_in(TARGETS, "list", &target)
            .env(&var, &runner)
            .env("XDIST_RUNNER_LOG", log)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        (text(&out.stdout), logged(log).1)
    };
    let (first, _) = run(&dir.join("first.log"));
    let (second, lines) = run(&dir.join("second.log"));
    assert_eq!(first, second, "the same list from the cache");
    assert!(lines.is_empty(), "nothing listed again: {lines:#?}");
    // A binary written anew (as a rebuild writes it) is listed again, alone.
    let (binaries, listed) = logged(&dir.join("first.log"));
    assert!(listed.iter().any(|l| l.contains("--list")), "the first run listed: {listed:#?}");
    let touched = binaries.iter().next().unwrap().clone();
    let bytes = fs::read(&touched).unwrap();
    let perms = fs::metadata(&touched).unwrap().permissions();
    fs::remove_file(&touched).unwrap();
    fs::write(&touched, bytes).unwrap();
    fs::set_permissions(&touched, perms).unwrap();
    let (third, lines) = run(&dir.join("third.log"));
    assert_eq!(third, first);
    let relisted: BTreeSet<&str> = lines.iter().filter_map(|l| l.split(' ').next()).collect();
    assert_eq!(relisted, BTreeSet::from([touched.as_str()]), "{lines:#?}");
}

#[test]
fn batches_of_whole_modules_run_by_module_filter_with_cargo_tests_outcomes() {
    const SHARDS: &str = "tests/fixtures/shards";
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("module-filters");
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    let (var, runner) = logging_runner(&dir);
    let expected = cargo_test_outcomes(SHARDS, &[], &["--include-ignored"]);
    // Whole modules in one worker's queue (`--dist no`); a filter that leaves tests of each
    // module out (they must not run by module filter); a run spread over two workers.
    let cases: [&[&str]; 3] = [
        &["-n", "1", "--dist", "no"],
        &["-n", "1", "--dist", "no", "--skip", "common_name"],
        &["-n", "2"],
    ];
    for (k, args) in cases.iter().enumerate() {
        let log = dir.join(format!("run-{k}.log"));
        let mut cmd = xdist(SHARDS, "run");
        cmd.args(["--run-ignored", "all", "--no-history"]).args(*args);
        let out = cmd.env(&var, &runner).env("XDIST_RUNNER_LOG", &log).output().unwrap();
        let mut want = expected.clone();
        if args.contains(&"--skip") {
            want.retain(|id, _| !id.contains("common_name"));
        }
        assert_eq!(xdist_outcomes(&out), want, "{args:?}\n{}", text(&out.stderr));
        let (_, lines) = logged(&log);
        let by_module = lines.iter().filter(|l| !l.contains("--exact") && !l.contains("--list"));
        if k == 0 {
            assert!(by_module.count() > 0, "some batch ran by module filter: {lines:#?}");
        }
    }
}
