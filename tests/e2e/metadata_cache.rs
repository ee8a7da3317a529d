//! The metadata cache (`cargo-xdist/src/build/metadata_cache.rs`) on a workspace made in a
//! temp dir: a second run reuses the first run's `cargo metadata` (the cache file is not
//! rewritten), and a manifest edited between runs is read again, so the test environment
//! follows it (`CARGO_PKG_DESCRIPTION` at run time equals what cargo compiled in).

use std::path::Path;

use crate::support::*;

fn write_workspace(root: &Path, description: &str) {
    std::fs::create_dir_all(root.join("tests")).unwrap();
    let manifest = format!(
        "[package]\nname = \"meta\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\
         description = \"{description}\"\n\n[workspace]\n"
    );
    std::fs::write(root.join("Cargo.toml"), manifest).unwrap();
    let test = "#[test]\nfn description_is_current() {\n    \
                assert_eq!(std::env::var(\"CARGO_PKG_DESCRIPTION\").unwrap(), \
                env!(\"CARGO_PKG_DESCRIPTION\"));\n}\n";
    std::fs::write(root.join("tests/env.rs"), test).unwrap();
}

fn run(root: &Path) -> std::process::Output {
    let mut cmd = xdist_bin();
    cmd.current_dir(root).args(["run", "-n", "1"]).env_remove("CARGO_TARGET_DIR");
    cmd.output().unwrap()
}

#[test]
fn a_second_run_reuses_the_metadata_until_a_manifest_changes() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write_workspace(root, "first");
    let out = run(root);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let cache = root.join("target/xdist/metadata.json");
    let written = std::fs::metadata(&cache).expect("the cache is written").modified().unwrap();
    let out = run(root);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let again = std::fs::metadata(&cache).unwrap().modified().unwrap();
    assert_eq!(written, again, "an unchanged workspace reuses the cache");
    // A new description: cargo rebuilds, and the run's environment must say the same.
    write_workspace(root, "second");
    let out = run(root);
    assert_eq!(out.status.code(), Some(0), "{}{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(final_line(&out), "xdist: 1 passed, 0 failed, 0 skipped");
    let cached = std::fs::read_to_string(&cache).unwrap();
    assert!(cached.contains("\"second\""), "{cached}");
}
