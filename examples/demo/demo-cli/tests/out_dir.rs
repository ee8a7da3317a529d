//! Integration tests for build-script outputs (`OUT_DIR`, `rustc-env`).

use std::path::Path;

#[test]
fn out_dir_compile_time() {
    let content = include_str!(concat!(env!("OUT_DIR"), "/generated.txt"));
    assert_eq!(content, "generated");
    assert_eq!(env!("DEMO_GENERATED"), "yes");
}

/// `cargo test` (1.95) sets `OUT_DIR` and the build script's `rustc-env`
/// variables at runtime too, to the values the test was compiled with; so must
/// any runner that claims to match it. With `DEMO_LOG_DIR` set, it also writes
/// the variables cargo sets to `env-out_dir.txt` (see `demo-core`'s `env.rs`).
#[test]
fn out_dir_runtime() {
    let dir = std::env::var_os("OUT_DIR").expect("OUT_DIR is set at runtime");
    assert_eq!(Path::new(&dir), Path::new(env!("OUT_DIR")), "OUT_DIR");
    let file = Path::new(&dir).join("generated.txt");
    assert!(file.is_file(), "{} does not exist", file.display());
    assert_eq!(
        std::env::var("DEMO_GENERATED").as_deref(),
        Ok("yes"),
        "the build script's rustc-env at runtime"
    );
    assert_eq!(
        std::env::var("CARGO_PKG_RUST_VERSION").as_deref(),
        Ok(env!("CARGO_PKG_RUST_VERSION"))
    );
    dump_env("env-out_dir.txt");
}

/// Writes `CARGO*`, `OUT_DIR` and the dynamic library path, one `NAME=value`
/// per line in name order, to `$DEMO_LOG_DIR/<file>` if `DEMO_LOG_DIR` is set.
fn dump_env(file: &str) {
    let Some(dir) = std::env::var_os("DEMO_LOG_DIR") else {
        return;
    };
    let mut vars: Vec<(String, String)> = std::env::vars()
        .filter(|(name, _)| {
            name.starts_with("CARGO")
                || name == "OUT_DIR"
                || name == "LD_LIBRARY_PATH"
                || name == "DYLD_FALLBACK_LIBRARY_PATH"
        })
        .collect();
    vars.sort();
    let text: String = vars.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
    let path = Path::new(&dir).join(file);
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}
