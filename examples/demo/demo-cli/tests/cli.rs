//! Integration tests that run the `demo-cli` binary.

use std::path::Path;
use std::process::Command;

#[test]
fn runs_the_binary() {
    let output = Command::new(env!("CARGO_BIN_EXE_demo-cli"))
        .args(["one", "two"])
        .output()
        .expect("spawn demo-cli");
    assert!(output.status.success(), "demo-cli failed: {output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("hello from demo-cli"),
        "unexpected stdout: {stdout:?}"
    );
    assert!(stdout.contains("one two"), "unexpected stdout: {stdout:?}");
}

/// `cargo test` (1.95) sets `CARGO_BIN_EXE_<name>` at runtime too, to the
/// file its compile-time value names; so must any runner that claims to match
/// it.
#[test]
fn reads_runtime_bin_path() {
    let path = std::env::var_os("CARGO_BIN_EXE_demo-cli")
        .expect("CARGO_BIN_EXE_demo-cli is set at runtime");
    let path = Path::new(&path);
    assert!(
        path.is_file(),
        "CARGO_BIN_EXE_demo-cli={} is not a file",
        path.display()
    );
    assert_eq!(
        path.canonicalize().expect("canonicalize the runtime path"),
        Path::new(env!("CARGO_BIN_EXE_demo-cli"))
            .canonicalize()
            .expect("canonicalize the compile-time path"),
        "CARGO_BIN_EXE_demo-cli differs from its compile-time value"
    );
}
