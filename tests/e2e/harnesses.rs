//! Custom harnesses: a libtest-mimic `harness = false` target takes one filter per process
//! and pads its result lines; a libtest2-like one rejects `--list --format terse` and lists
//! with a plain `--list` (answering `--list --ignored` in three ways); two plain `main`s
//! neither list nor filter, and run whole as one test named after their binary id. Every
//! test gets the outcome `cargo test --no-fail-fast` gives it, in every mode.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use crate::support::*;

const HARNESSES: &str = "tests/fixtures/harnesses";

/// The fixture's plain `main`s, by binary id.
const PLAIN_MAINS: [&str; 2] = ["harnesses::plain_fail", "harnesses::plain_pass"];

/// Each test's outcome under `cargo test --no-fail-fast`, a plain `main` as the one test
/// `<binary-id> <binary-id>` (computed once: several tests compare with it).
fn cargo_test_expected() -> &'static Outcomes {
    static EXPECTED: OnceLock<Outcomes> = OnceLock::new();
    EXPECTED.get_or_init(|| {
        let ids = binary_ids(HARNESSES);
        // cargo's stderr (its `Running` lines and `error: test failed`) and the binaries'
        // stdout in one file, in the order they were written.
        let log_path = Path::new(env!("CARGO_TARGET_TMPDIR")).join("harnesses-cargo-test.log");
        let log = File::create(&log_path).expect("create the log");
        let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .current_dir(repo_root().join(HARNESSES))
            .args(["test", "--no-fail-fast", "--manifest-path"])
            .arg(manifest(HARNESSES))
            .arg("--target-dir")
            .arg(target_dir())
            // A backtrace per panic, interleaved with the trials' lines, only adds noise.
            .env_remove("RUST_BACKTRACE")
            .stdout(log.try_clone().expect("dup the log"))
            .stderr(log)
            .status()
            .expect("run cargo test");
        let log = text(&std::fs::read(&log_path).expect("read the log"));
        assert_eq!(status.code(), Some(101), "{log}");
        let (outcomes, plain) = parse_cargo_test(&log, &ids);
        assert_eq!(plain, PLAIN_MAINS, "the binaries with no libtest lines:\n{log}");
        outcomes
    })
}

/// Reads the interleaved output of `cargo test`: each `Running <src> (<path>)` line starts a
/// binary, libtest's `test NAME ... RESULT` lines are its tests. A binary that printed no
/// `running N tests` line is a plain `main`: one test, failed if cargo said `error: test
/// failed` before the next binary. Returns the outcomes and the plain mains' ids.
fn parse_cargo_test(log: &str, ids: &BTreeMap<String, String>) -> (Outcomes, Vec<String>) {
    struct Binary {
        id: String,
        libtest: bool,
        failed: bool,
    }
    let mut binaries: Vec<Binary> = Vec::new();
    let mut outcomes = Outcomes::new();
    // A multi-threaded harness's start line may be cut by another trial's panic message on
    // stderr (the same file): `test a ... ` alone, its result word on a line of its own
    // after the message. Such a test takes the next bare result word.
    let mut open: Option<String> = None;
    for line in log.lines() {
        if let Some(name) = open.as_ref().filter(|_| matches!(line, "ok" | "FAILED" | "ignored")) {
            let outcome = match line {
                "ok" => Outcome::Pass,
                "FAILED" => Outcome::Fail,
                _ => Outcome::Skip,
            };
            outcomes.insert(name.clone(), outcome);
            open = None;
            continue;
        }
        if let Some(rest) = line.trim_start().strip_prefix("Running ") {
            let path = rest.rsplit_once('(').map(|(_, p)| p.trim_end_matches(')'));
            let file = path.and_then(|p| Path::new(p).file_name()).expect("a binary path");
            let file = file.to_string_lossy();
            let id = ids.get(file.as_ref()).unwrap_or_else(|| panic!("no id for {file}"));
            binaries.push(Binary { id: id.clone(), libtest: false, failed: false });
            continue;
        }
        let Some(binary) = binaries.last_mut() else { continue };
        if line.starts_with("error: test failed, to rerun pass") {
            binary.failed = true;
        } else if line.starts_with("running ")
            && (line.ends_with(" tests") || line.ends_with(" test"))
        {
            binary.libtest = true;
        } else if let Some(name) =
            line.strip_prefix("test ").and_then(|rest| rest.strip_suffix(" ... "))
        {
            open = Some(format!("{} {}", binary.id, unpadded(name)));
        } else if let Some((name, result)) =
            line.strip_prefix("test ").and_then(|rest| rest.split_once(" ... "))
        {
            // Custom harnesses pad names (and kinds) to align their result lines.
            let outcome = match result {
                "ok" => Outcome::Pass,
                "FAILED" => Outcome::Fail,
                r if r.starts_with("ignored") => Outcome::Skip,
                _ => continue,
            };
            outcomes.insert(format!("{} {}", binary.id, unpadded(name)), outcome);
        }
    }
    let mut plain = Vec::new();
    for binary in binaries.iter().filter(|b| !b.libtest) {
        let outcome = if binary.failed { Outcome::Fail } else { Outcome::Pass };
        outcomes.insert(format!("{0} {0}", binary.id), outcome);
        plain.push(binary.id.clone());
    }
    (outcomes, plain)
}

/// A name as libtest-mimic lists it, from a result line that pads names and kinds to
/// align (`       z`, `[a]    x` beside `[long] y`).
fn unpadded(name: &str) -> String {
    let name = name.trim();
    match name.strip_prefix('[').and_then(|rest| rest.split_once(']')) {
        Some((kind, bare)) => format!("[{kind}] {}", bare.trim_start()),
        None => name.to_string(),
    }
}

/// Every outcome line of a run, by test id (`--dist each` reports a test once per worker).
fn outcomes_per_run(stdout: &str) -> BTreeMap<String, Vec<Outcome>> {
    let mut runs: BTreeMap<String, Vec<Outcome>> = BTreeMap::new();
    for line in stdout.lines() {
        let (outcome, rest) = match line.trim_start().split_once(' ') {
            Some(("PASS" | "FLAKY", rest)) => (Outcome::Pass, rest),
            Some(("FAIL" | "TIMEOUT", rest)) => (Outcome::Fail, rest),
            Some(("SKIP", rest)) => (Outcome::Skip, rest),
            _ => continue,
        };
        // `[gwN] [  0.001s] ` before the id under `-v` and `each`.
        let id = rest.rsplit_once("s] ").map_or(rest, |(_, id)| id);
        runs.entry(id.to_string()).or_default().push(outcome);
    }
    runs
}

#[test]
fn cargo_test_sees_every_harness() {
    let want = cargo_test_expected();
    assert_eq!(want.len(), 25, "{want:?}");
    assert_eq!(want["harnesses::mimic fails_c"], Outcome::Fail);
    assert_eq!(want["harnesses::mimic bench_g"], Outcome::Pass);
    assert_eq!(want["harnesses::mimic [tidy] kind_h"], Outcome::Fail);
    assert_eq!(want["harnesses::plainlist beta_long_name"], Outcome::Fail);
    assert_eq!(want["harnesses::plainlist gamma"], Outcome::Skip);
    assert_eq!(want["harnesses::plain_pass harnesses::plain_pass"], Outcome::Pass);
    assert_eq!(want["harnesses::plain_fail harnesses::plain_fail"], Outcome::Fail);
}

#[test]
fn every_harness_matches_cargo_test_in_every_mode() {
    let want = cargo_test_expected();
    let modes = ["no", "load", "loadscope", "loadfile", "loadgroup", "worksteal", "each"];
    let runs = modes
        .iter()
        .map(|m| vec!["-n", "2", "--dist", m])
        // Success output asks libtest for `--show-output`, never a custom harness.
        .chain([vec!["-n", "1"], vec!["-n", "4"], vec!["-n", "2", "--success-output", "final"]]);
    for args in runs {
        let out = xdist(HARNESSES, "run").args(&args).output().unwrap();
        let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
        let context = format!("under {args:?}:\n{stdout}\n--- stderr\n{stderr}");
        assert_eq!(out.status.code(), Some(100), "{context}");
        let got = outcomes_per_run(&stdout);
        assert_eq!(got.keys().collect::<Vec<_>>(), want.keys().collect::<Vec<_>>(), "{context}");
        for (id, runs) in &got {
            let expected = want[id];
            assert!(
                runs.iter().all(|&o| o == expected),
                "{id}: {runs:?}, not {expected:?}, {context}"
            );
            // Under `each` every worker runs every test; one skipped at listing is shown once.
            let times = if args.contains(&"each") { 2 } else { 1 };
            let once_skipped = expected == Outcome::Skip && runs.len() == 1;
            assert!(
                runs.len() == times || once_skipped,
                "{id} ran {} times, {context}",
                runs.len()
            );
        }
        // Failures are the tests' own, with their messages, not rejected command lines.
        for message in [
            "deliberate failure of fails_c",
            // A libtest-mimic trial of a kind: its failure section names it bare.
            "deliberate failure of kind_h",
            "deliberate failure of beta_long_name",
            // A plain main's failure: how it ended, then what it printed.
            "test process exited with code 1\nplain_fail: about to fail\n\
             plain_fail: deliberate failure of a plain main\n",
        ] {
            assert!(stdout.contains(message), "{message:?} missing {context}");
        }
        assert!(!stdout.contains("before running any test"), "{context}");
        for id in PLAIN_MAINS {
            let notice = format!("xdist: {id} does not list its tests; it runs as one test\n");
            assert!(stderr.contains(&notice), "{notice:?} missing {context}");
        }
        assert_eq!(stderr.matches("does not list its tests").count(), 2, "{context}");
    }
}

#[test]
fn list_shows_a_plain_main_as_one_test() {
    let want = cargo_test_expected();
    let out = xdist(HARNESSES, "list").output().unwrap();
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let listed: Vec<&str> = stdout.lines().collect();
    for id in PLAIN_MAINS {
        assert!(listed.contains(&format!("{id} {id}").as_str()), "{stdout}");
        assert!(stderr.contains(&format!("xdist: {id} does not list its tests")), "{stderr}");
    }
    // What `cargo test` ran, but for the tests the listing knew to be ignored.
    for id in &listed {
        assert!(want.contains_key(*id), "{id} is not a test of cargo test");
    }
    for (id, outcome) in want {
        if *outcome != Outcome::Skip {
            assert!(listed.contains(&id.as_str()), "{id} not listed:\n{stdout}");
        }
    }
    assert!(listed.contains(&"harnesses::plainlist gamma"), "ignored only when run");
    assert!(!listed.contains(&"harnesses::plainlist_marks gamma"), "listed as ignored");

    let out = xdist(HARNESSES, "list").args(["--message-format", "json"]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let binaries = json["binaries"].as_array().expect("binaries");
    let plain = binaries.iter().find(|b| b["binary-id"] == PLAIN_MAINS[1]).expect("plain_pass");
    assert_eq!(plain["harness"], "whole", "{plain}");
    assert_eq!(plain["tests"].as_array().map(Vec::len), Some(1), "{plain}");
    assert_eq!(plain["tests"][0]["name"], PLAIN_MAINS[1], "{plain}");
    let mimic = binaries.iter().find(|b| b["binary-id"] == "harnesses::mimic").expect("mimic");
    assert_eq!(mimic["harness"], "libtest", "{mimic}");
}

#[test]
fn a_start_line_cut_by_another_trials_panic_still_counts() {
    let log = "     Running tests/mimic.rs (/t/debug/deps/mimic-0)\n\nrunning 2 tests\ntest check_a           ... \nthread '<unnamed>' panicked at tests/mimic.rs:17:36:\na trial that panics\nok\ntest panics_f          ... FAILED\n";
    let ids = BTreeMap::from([("mimic-0".to_string(), "harnesses::mimic".to_string())]);
    let (outcomes, _) = parse_cargo_test(log, &ids);
    assert_eq!(outcomes["harnesses::mimic check_a"], Outcome::Pass);
    assert_eq!(outcomes["harnesses::mimic panics_f"], Outcome::Fail);
}

/// `-- --exact NAME` selects what libtest-mimic's own `--exact NAME` runs: a trial of a kind
/// by its bare name as well as by its listed `[kind] name`.
#[test]
fn exact_names_select_what_libtest_mimic_runs() {
    cargo_test_expected(); // The fixture is built.
    for name in ["kind_i", "[tidy] kind_i", "check_a"] {
        let cargo = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .current_dir(repo_root().join(HARNESSES))
            .args(["test", "--test", "mimic", "--manifest-path"])
            .arg(manifest(HARNESSES))
            .arg("--target-dir")
            .arg(target_dir())
            .args(["--", "--exact", name])
            .output()
            .expect("run cargo test");
        let cargo_out = text(&cargo.stdout);
        let ran: Vec<&str> = cargo_out
            .lines()
            .filter_map(|l| l.strip_prefix("test ")?.split_once(" ... ").map(|(n, _)| n.trim()))
            .collect();
        assert_eq!(ran.len(), 1, "cargo test -- --exact {name}:\n{cargo_out}");
        let args = ["--test", "mimic", "--", "--exact", name];
        let out = xdist(HARNESSES, "run").args(args).output().unwrap();
        let stdout = text(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "--exact {name}:\n{stdout}{}", text(&out.stderr));
        assert_eq!(final_line(&out), "xdist: 1 passed, 0 failed, 0 skipped", "{stdout}");
        assert!(stdout.contains(&format!("harnesses::mimic {}", ran[0])), "{stdout}");
    }
}
