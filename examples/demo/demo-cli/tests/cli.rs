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

/// `cargo test` sets `CARGO_BIN_EXE_<name>` only at compile time, so this
/// passes when the variable is unset at runtime; when a runner does set it,
/// it must point at an existing file.
#[test]
fn reads_runtime_bin_path() {
    match std::env::var_os("CARGO_BIN_EXE_demo-cli") {
        None => {}
        Some(path) => assert!(
            Path::new(&path).is_file(),
            "CARGO_BIN_EXE_demo-cli={} is not a file",
            Path::new(&path).display()
        ),
    }
}
