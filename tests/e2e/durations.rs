//! `--partition duration:M/N`, `--durations-file` and `cargo xdist durations import|merge`
//! on the demo workspace: shards that together run every test once with `cargo test`'s
//! outcomes, units kept whole, histories merged back, and nextest's JUnit imported.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Output;

use crate::support::*;

const DEMO: &str = "examples/demo";
const NO_HISTORY_NOTICE: &str = "no recorded durations";

/// An empty scratch directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("durations").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The `durations` map of a history file.
fn durations_in(path: &Path) -> BTreeMap<String, f64> {
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    json["durations"]
        .as_object()
        .unwrap_or_else(|| panic!("no durations in {}", path.display()))
        .iter()
        .map(|(id, secs)| (id.clone(), secs.as_f64().unwrap()))
        .collect()
}

/// The tests `cargo test` runs (not the ignored ones): what an unpartitioned run selects.
fn cargo_test_runs() -> BTreeSet<String> {
    cargo_test_run_ids(DEMO)
}

fn lines(out: &Output) -> Vec<String> {
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout).lines().map(String::from).collect()
}

#[test]
fn duration_shards_run_every_test_once_and_merge_back_into_one_history() {
    let dir = scratch("shards");
    let base = dir.join("base.json");
    // Record a history with one unpartitioned run (the demo has failing tests: exit 100).
    let out = xdist(DEMO, "run").args(["-n", "2", "--durations-file"]).arg(&base).output().unwrap();
    assert_eq!(out.status.code(), Some(100), "{}", text(&out.stderr));
    let recorded = durations_in(&base);
    assert_eq!(recorded.keys().cloned().collect::<BTreeSet<_>>(), cargo_test_runs());

    let want = cargo_test_outcomes(DEMO, &[], &[]);
    let mut got = Outcomes::new();
    let mut shard_files = Vec::new();
    for k in 1..=3 {
        // Every shard starts from the same history, as CI jobs restoring one cache do.
        let file = dir.join(format!("shard{k}.json"));
        std::fs::copy(&base, &file).unwrap();
        let spec = format!("duration:{k}/3");
        let out = xdist(DEMO, "run")
            .args(["-n", "2", "--partition", &spec, "--durations-file"])
            .arg(&file)
            .output()
            .unwrap();
        assert!(!text(&out.stderr).contains(NO_HISTORY_NOTICE), "{}", text(&out.stderr));
        for (id, outcome) in xdist_outcomes(&out) {
            assert!(got.insert(id.clone(), outcome).is_none(), "{id} in two shards");
        }
        shard_files.push(file);
    }
    assert_eq!(got, want);

    // Each shard wrote back the durations of the tests it ran; merged, every test has the
    // value of the shard that ran it.
    let merged = dir.join("merged.json");
    let out = xdist_bin()
        .args(["durations", "merge", "--output"])
        .arg(&merged)
        .args(&shard_files)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let merged = durations_in(&merged);
    let base = durations_in(&base);
    let mut changed = 0;
    for file in &shard_files {
        let shard = durations_in(file);
        for (id, secs) in &shard {
            if base.get(id) != Some(secs) {
                changed += 1;
                assert_eq!(merged.get(id), Some(secs), "{id}: the shard that ran it wins");
            }
        }
    }
    assert!(changed > recorded.len() / 2, "the shards recorded new durations: {changed}");
    assert_eq!(merged.keys().collect::<Vec<_>>(), base.keys().collect::<Vec<_>>());
}

#[test]
fn duration_shards_cover_the_selection_when_tests_came_and_went_and_keep_scopes_whole() {
    let dir = scratch("changed");
    let runs = cargo_test_runs();
    // A history of another list: half the tests unknown (new since), and some gone.
    let mut durations = serde_json::Map::new();
    for (i, id) in runs.iter().enumerate().filter(|(i, _)| i % 2 == 0) {
        durations.insert(id.clone(), serde_json::json!(0.001 * (i as f64 + 1.0)));
    }
    durations.insert("demo-core gone::test".into(), serde_json::json!(5.0));
    durations.insert("gone-crate t".into(), serde_json::json!(2.0));
    let file = dir.join("history.json");
    let json = serde_json::json!({"version": 1, "durations": durations});
    std::fs::write(&file, json.to_string()).unwrap();

    for dist in ["load", "loadscope"] {
        let mut seen = BTreeSet::new();
        let mut shard_of_scope: BTreeMap<String, u32> = BTreeMap::new();
        for k in 1..=4u32 {
            let spec = format!("duration:{k}/4");
            let out = xdist(DEMO, "list")
                .args(["--dist", dist, "--partition", &spec, "--durations-file"])
                .arg(&file)
                .output()
                .unwrap();
            assert!(!text(&out.stderr).contains(NO_HISTORY_NOTICE), "{}", text(&out.stderr));
            for id in lines(&out) {
                // loadscope's unit: the binary id and the module path of the name.
                let (binary, name) = id.split_once(' ').unwrap();
                let scope = match name.rsplit_once("::") {
                    Some((module, _)) => format!("{binary} {module}"),
                    None => binary.to_string(),
                };
                let first = *shard_of_scope.entry(scope.clone()).or_insert(k);
                if dist == "loadscope" {
                    assert_eq!(first, k, "{scope} split across shards");
                }
                assert!(seen.insert(id.clone()), "{id} in two shards ({dist})");
            }
        }
        assert_eq!(seen, runs, "{dist}");
    }
    // A listing does not write the history.
    assert!(durations_in(&file).contains_key("gone-crate t"));
}

#[test]
fn without_history_duration_shards_say_so_once_and_deal_slices() {
    let dir = scratch("none");
    for k in 1..=2 {
        let missing = dir.join("missing.json");
        let duration = xdist(DEMO, "list")
            .args(["--partition", &format!("duration:{k}/2"), "--durations-file"])
            .arg(&missing)
            .output()
            .unwrap();
        let stderr = text(&duration.stderr);
        assert_eq!(stderr.matches(NO_HISTORY_NOTICE).count(), 1, "{stderr}");
        let slice = xdist(DEMO, "list").args(["--partition", &format!("slice:{k}/2")]).output();
        assert_eq!(lines(&duration), lines(&slice.unwrap()), "duration:{k}/2 is slice:{k}/2");
        assert!(!missing.exists(), "a listing writes no history");
    }
}

/// `<classname> <name>` → `time` of every testcase that ran, read straight from the XML.
fn junit_times(path: &Path) -> BTreeMap<String, f64> {
    let xml = std::fs::read_to_string(path).unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap();
    doc.descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .filter(|n| !n.children().any(|c| c.has_tag_name("skipped")))
        .map(|n| {
            let id =
                format!("{} {}", n.attribute("classname").unwrap(), n.attribute("name").unwrap());
            (id, n.attribute("time").unwrap().parse().unwrap())
        })
        .collect()
}

#[test]
fn our_junit_imports_into_the_target_dir_cargo_metadata_names() {
    let dir = scratch("ours");
    let junit = dir.join("run.xml");
    let out = xdist(DEMO, "run").args(["-n", "2", "--no-history", "--junit"]).arg(&junit).output();
    assert_eq!(out.unwrap().status.code(), Some(100));
    let want = junit_times(&junit);
    assert_eq!(want.keys().cloned().collect::<BTreeSet<_>>(), cargo_test_runs());
    // No --durations-file or --target-dir: `cargo metadata` of the manifest says where the
    // target dir is (here CARGO_TARGET_DIR's).
    let target = dir.join("target");
    let out = xdist_bin()
        .args(["durations", "import", "--manifest-path"])
        .arg(manifest(DEMO))
        .arg(&junit)
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(durations_in(&target.join("xdist/durations.json")), want);
}

#[test]
fn nextests_junit_durations_import_under_our_test_ids() {
    if !nextest_available("nextests_junit_durations_import_under_our_test_ids") {
        return;
    }
    let dir = scratch("import");
    let config = dir.join("nextest.toml");
    let store = dir.join("store");
    let toml = format!(
        "[store]\ndir = {:?}\n[profile.xdist-import.junit]\npath = \"junit.xml\"\n",
        store.display().to_string()
    );
    std::fs::write(&config, toml).unwrap();
    let out = cargo()
        .current_dir(repo_root().join(DEMO))
        .args(["nextest", "run", "--no-fail-fast", "--profile", "xdist-import", "--config-file"])
        .arg(&config)
        .arg("--manifest-path")
        .arg(manifest(DEMO))
        .arg("--target-dir")
        .arg(target_dir())
        .output()
        .unwrap();
    let junit = store.join("xdist-import/junit.xml");
    assert!(junit.exists(), "nextest wrote no JUnit: {}", text(&out.stderr));
    // What nextest measured, read straight from its XML.
    let want = junit_times(&junit);
    // nextest's ids are the ones `cargo test` runs, under cargo-xdist's naming.
    assert_eq!(want.keys().cloned().collect::<BTreeSet<_>>(), cargo_test_runs());

    let history = dir.join("imported.json");
    let out = xdist_bin()
        .args(["durations", "import", "--durations-file"])
        .arg(&history)
        .arg(&junit)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(durations_in(&history), want);
    // Into a target dir's history, too; then shards are planned by it.
    let target = dir.join("target");
    let out =
        xdist_bin().args(["durations", "import", "--target-dir"]).arg(&target).arg(&junit).output();
    assert!(out.unwrap().status.success());
    assert_eq!(durations_in(&target.join("xdist/durations.json")), want);
    let out = xdist(DEMO, "list")
        .args(["--partition", "duration:1/2", "--durations-file"])
        .arg(&history)
        .output()
        .unwrap();
    assert!(!text(&out.stderr).contains(NO_HISTORY_NOTICE), "{}", text(&out.stderr));
}

#[test]
fn bad_duration_inputs_are_one_line_errors_with_exit_2() {
    let dir = scratch("bad");
    let xml = dir.join("bad.xml");
    std::fs::write(
        &xml,
        "<testsuites>\n<testcase name=\"a\" classname=\"b\" time=\"x\"/>\n</testsuites>",
    )
    .unwrap();
    let json = dir.join("bad.json");
    std::fs::write(&json, "{\"version\": 1, \"durations\": [").unwrap();
    let history = dir.join("h.json");
    let (none_xml, none_json) = (dir.join("none.xml"), dir.join("none.json"));
    let cases: [(Vec<&std::ffi::OsStr>, String); 4] = [
        (
            vec!["import".as_ref(), "--durations-file".as_ref(), history.as_ref(), xml.as_ref()],
            format!(
                "error: {}:2:1: testcase `time` must be a number of seconds, got `x`",
                xml.display()
            ),
        ),
        (
            vec!["import".as_ref(), "--durations-file".as_ref(), json.as_ref(), none_xml.as_ref()],
            format!("error: {}: not a duration history: ", json.display()),
        ),
        (
            vec!["merge".as_ref(), "-o".as_ref(), history.as_ref(), json.as_ref()],
            format!("error: {}: not a duration history: ", json.display()),
        ),
        (
            vec!["merge".as_ref(), "-o".as_ref(), history.as_ref(), none_json.as_ref()],
            format!("error: cannot read {}: ", none_json.display()),
        ),
    ];
    for (args, want) in cases {
        let out = xdist_bin().arg("durations").args(&args).output().unwrap();
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.starts_with(&want), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(!history.exists(), "nothing written on error");
    }
    // A bad --durations-file for a listing (or a run) is the same error.
    let out = xdist(DEMO, "list")
        .args(["--partition", "duration:1/2", "--durations-file"])
        .arg(&json)
        .output();
    let out = out.unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("not a duration history"), "{}", text(&out.stderr));
    let out = xdist(DEMO, "run").args(["--no-history", "--durations-file"]).arg(&json).output();
    let out = out.unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).starts_with("error: the argument '--no-history' cannot be used"));
}
