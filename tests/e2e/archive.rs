//! Archives across tools: the demo workspace (build-script `OUT_DIR`, `CARGO_BIN_EXE_*`, a
//! proc-macro) is built once into a target dir of its own, archived by `cargo xdist archive`
//! and by `cargo nextest archive`, its sources copied elsewhere, and the target dir deleted.
//! Then each tool runs each archive from a third directory with `--workspace-remap`, and
//! every run must give, test by test, the outcomes nextest gives on its own archive.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use crate::support::{
    Outcome, Outcomes, cargo, copy_tree, manifest, nextest_available, repo_root, text,
    xdist_outcomes,
};

const DEMO: &str = "examples/demo";

/// The two archives, the moved sources and a directory to run from.
struct Moved {
    ours: PathBuf,
    theirs: PathBuf,
    workspace: PathBuf,
    elsewhere: PathBuf,
    /// The duration history of the build's target dir, as it was when archived.
    history: Vec<u8>,
}

fn xdist_bin() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cargo-xdist"));
    cmd.arg("xdist").env_remove("RUST_BACKTRACE");
    cmd.env_remove("GITHUB_ACTIONS").env_remove("GITHUB_STEP_SUMMARY");
    cmd
}

fn moved() -> &'static Moved {
    static MOVED: OnceLock<Moved> = OnceLock::new();
    MOVED.get_or_init(|| {
        let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("archives");
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(&root).unwrap();
        let target = root.join("build-target");
        let ours = root.join("ours.tar.zst");
        let theirs = root.join("theirs.tar.zst");
        let in_demo = |cmd: &mut Command| -> Output {
            let out = cmd
                .current_dir(repo_root().join(DEMO))
                .arg("--manifest-path")
                .arg(manifest(DEMO))
                .arg("--target-dir")
                .arg(&target)
                .output()
                .unwrap();
            assert!(out.status.success(), "{}", text(&out.stderr));
            out
        };
        // A run first, so the build machine has a duration history to ship.
        in_demo(xdist_bin().args(["run", "-q", "--no-tests", "pass", "math"]));
        in_demo(xdist_bin().args(["archive", "--archive-file"]).arg(&ours));
        in_demo(cargo().args(["nextest", "archive", "--archive-file"]).arg(&theirs));
        let history = fs::read(target.join("xdist").join("durations.json")).unwrap();
        fs::remove_dir_all(&target).unwrap();
        let workspace = root.join("moved").join("demo");
        copy_tree(&repo_root().join(DEMO), &workspace);
        let elsewhere = root.join("elsewhere");
        fs::create_dir_all(&elsewhere).unwrap();
        Moved { ours, theirs, workspace, elsewhere, history }
    })
}

/// `cargo nextest run` on an archive, with its per-test status lines parsed.
fn nextest_outcomes(archive: &Path, moved: &Moved) -> Outcomes {
    let out = cargo()
        .current_dir(&moved.elsewhere)
        .args(["nextest", "run", "--no-fail-fast", "--status-level", "all"])
        .args(["--final-status-level", "none", "--failure-output", "never"])
        .arg("--archive-file")
        .arg(archive)
        .arg("--workspace-remap")
        .arg(&moved.workspace)
        .env_remove("RUST_BACKTRACE")
        .output()
        .unwrap();
    let stderr = text(&out.stderr);
    let mut outcomes = Outcomes::new();
    for line in stderr.lines() {
        let line = line.trim_start();
        let Some((status, rest)) = line.split_once(" [") else { continue };
        let outcome = match status {
            "PASS" => Outcome::Pass,
            "SKIP" => Outcome::Skip,
            "FAIL" | "TIMEOUT" | "ABORT" | "SIGSEGV" | "SIGABRT" | "SIGKILL" => Outcome::Fail,
            _ => continue,
        };
        let Some((_, rest)) = rest.split_once("] ") else { continue };
        let id = match rest.strip_prefix('(') {
            Some(counted) => counted.split_once(") ").map_or(counted, |(_, id)| id),
            None => rest,
        };
        outcomes.insert(id.to_string(), outcome);
    }
    assert!(outcomes.len() > 20, "nextest ran the archive:\n{stderr}");
    outcomes
}

fn xdist_on(archive: &Path, moved: &Moved, args: &[&str]) -> Output {
    xdist_bin()
        .current_dir(&moved.elsewhere)
        .arg("run")
        .arg("--archive-file")
        .arg(archive)
        .arg("--workspace-remap")
        .arg(&moved.workspace)
        .args(args)
        .output()
        .unwrap()
}

/// nextest on its own archive: what every other run must match.
fn reference(moved: &Moved) -> &'static Outcomes {
    static REFERENCE: OnceLock<Outcomes> = OnceLock::new();
    REFERENCE.get_or_init(|| nextest_outcomes(&moved.theirs, moved))
}

#[test]
fn each_tool_runs_the_others_archive_with_the_same_outcomes() {
    if !nextest_available("each_tool_runs_the_others_archive_with_the_same_outcomes") {
        return;
    }
    let moved = moved();
    let expected = reference(moved);
    assert!(expected.values().any(|o| *o == Outcome::Fail), "the demo has failing tests");
    assert_eq!(&nextest_outcomes(&moved.ours, moved), expected, "nextest on our archive");
    for archive in [&moved.theirs, &moved.ours] {
        let out = xdist_on(archive, moved, &["-n", "2"]);
        assert_eq!(&xdist_outcomes(&out), expected, "cargo xdist on {}", archive.display());
        assert_eq!(out.status.code(), Some(100), "{}", text(&out.stderr));
    }
}

#[test]
fn every_dist_mode_filter_and_retry_works_on_an_archive() {
    if !nextest_available("every_dist_mode_filter_and_retry_works_on_an_archive") {
        return;
    }
    let moved = moved();
    let expected = reference(moved);
    for mode in ["no", "each", "load", "loadscope", "loadfile", "loadgroup", "worksteal"] {
        // `each` runs every test on every worker: one worker keeps one line a test.
        let workers = if mode == "each" { "1" } else { "2" };
        let out = xdist_on(&moved.ours, moved, &["-n", workers, "--dist", mode]);
        assert_eq!(&xdist_outcomes(&out), expected, "--dist {mode}:\n{}", text(&out.stderr));
    }
    let out = xdist_on(&moved.ours, moved, &["--retries", "1", "--timeout", "60", "--", "math"]);
    let math: Outcomes = expected
        .iter()
        .filter(|(id, _)| id.contains("math"))
        .map(|(k, v)| (k.clone(), *v))
        .collect();
    assert_eq!(xdist_outcomes(&out), math, "{}", text(&out.stderr));
}

#[test]
fn listing_an_archive_matches_nextest() {
    if !nextest_available("listing_an_archive_matches_nextest") {
        return;
    }
    let moved = moved();
    for archive in [&moved.ours, &moved.theirs] {
        let nextest = cargo()
            .current_dir(&moved.elsewhere)
            .args(["nextest", "list", "--run-ignored", "all", "--message-format", "json"])
            .arg("--archive-file")
            .arg(archive)
            .arg("--workspace-remap")
            .arg(&moved.workspace)
            .output()
            .unwrap();
        assert!(nextest.status.success(), "{}", text(&nextest.stderr));
        let json: serde_json::Value = serde_json::from_slice(&nextest.stdout).unwrap();
        let mut want = Vec::new();
        for (id, suite) in json["rust-suites"].as_object().unwrap() {
            for name in suite["testcases"].as_object().unwrap().keys() {
                want.push(format!("{id} {name}"));
            }
        }
        let ours = xdist_bin()
            .current_dir(&moved.elsewhere)
            .args(["list", "--run-ignored", "all", "--archive-file"])
            .arg(archive)
            .arg("--workspace-remap")
            .arg(&moved.workspace)
            .output()
            .unwrap();
        assert!(ours.status.success(), "{}", text(&ours.stderr));
        let got: Vec<String> = text(&ours.stdout).lines().map(String::from).collect();
        assert_eq!(got, want, "{}", archive.display());
    }
}

/// Reads an archive's entries with the tar and zstd crates.
fn entries(archive: &Path) -> Vec<(String, Vec<u8>)> {
    use std::io::Read;
    let decoder = zstd::stream::read::Decoder::new(fs::File::open(archive).unwrap()).unwrap();
    let mut tar = tar::Archive::new(decoder);
    let mut out = Vec::new();
    for entry in tar.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().to_string_lossy().into_owned();
        let mut data = Vec::new();
        entry.read_to_end(&mut data).unwrap();
        out.push((name, data));
    }
    out
}

#[test]
fn our_archive_has_nextests_entries_and_our_history() {
    if !nextest_available("our_archive_has_nextests_entries_and_our_history") {
        return;
    }
    let moved = moved();
    let ours = entries(&moved.ours);
    let theirs = entries(&moved.theirs);
    let names = |list: &[(String, Vec<u8>)]| -> Vec<String> {
        list.iter().map(|(n, _)| n.clone()).filter(|n| !n.starts_with("target/xdist/")).collect()
    };
    assert_eq!(names(&ours), names(&theirs), "the same entries, in the same order");
    for ((name, a), (_, b)) in ours.iter().zip(&theirs) {
        if name.ends_with("binaries-metadata.json") {
            let a: serde_json::Value = serde_json::from_slice(a).unwrap();
            let b: serde_json::Value = serde_json::from_slice(b).unwrap();
            assert_eq!(a, b, "{name}");
        }
    }
    let history = ours.iter().find(|(n, _)| n == "target/xdist/durations.json");
    assert_eq!(history.map(|(_, d)| d), Some(&moved.history), "the build machine's history");
}

#[test]
fn bad_archive_runs_fail_with_one_line() {
    let moved = if nextest_available("bad_archive_runs_fail_with_one_line") {
        moved()
    } else {
        return;
    };
    let run = |archive: &Path, extra: &[&str], remap: &Path| {
        xdist_bin()
            .current_dir(&moved.elsewhere)
            .arg("run")
            .arg("--archive-file")
            .arg(archive)
            .arg("--workspace-remap")
            .arg(remap)
            .args(extra)
            .output()
            .unwrap()
    };
    let one_error = |out: &Output, code: i32, needle: &str| {
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{stderr}");
        let first = stderr.lines().next().unwrap_or_default();
        assert!(first.starts_with("error: ") && first.contains(needle), "{stderr}");
    };
    let renamed = moved.elsewhere.join("archive.tar.gz");
    fs::copy(&moved.ours, &renamed).unwrap();
    one_error(&run(&renamed, &[], &moved.workspace), 103, "must end in `.tar.zst`");
    let junk = moved.elsewhere.join("junk.tar.zst");
    fs::write(&junk, b"not zstd at all").unwrap();
    one_error(&run(&junk, &[], &moved.workspace), 103, "junk.tar.zst");
    one_error(&run(&moved.ours, &[], &moved.elsewhere), 103, "--workspace-remap");
    one_error(&run(&moved.ours, &["-p", "demo-core"], &moved.workspace), 2, "cannot be used");
}

#[test]
fn the_archives_groups_apply_when_the_sources_have_none() {
    if !nextest_available("the_archives_groups_apply_when_the_sources_have_none") {
        return;
    }
    let moved = moved();
    let bare = moved.workspace.with_file_name("demo-without-config");
    if !bare.exists() {
        copy_tree(&moved.workspace, &bare);
        fs::remove_dir_all(bare.join(".config")).unwrap();
    }
    let log = moved.elsewhere.join("group-log");
    let _ = fs::remove_dir_all(&log);
    fs::create_dir_all(&log).unwrap();
    let out = xdist_bin()
        .current_dir(&moved.elsewhere)
        .args(["run", "-n", "3", "--dist", "loadgroup", "--no-history", "--archive-file"])
        .arg(&moved.ours)
        .arg("--workspace-remap")
        .arg(&bare)
        .args(["fixture", "math", "text"])
        .env("DEMO_LOG_DIR", &log)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let tests = fs::read_to_string(log.join("tests.log")).unwrap();
    let workers: std::collections::BTreeSet<&str> = tests
        .lines()
        .filter_map(|l| l.split_whitespace().find(|w| w.starts_with("worker=")))
        .collect();
    assert_eq!(tests.lines().count(), 5, "{tests}");
    assert_eq!(workers.len(), 1, "the archive's slow-fixture group kept them together:\n{tests}");
}
