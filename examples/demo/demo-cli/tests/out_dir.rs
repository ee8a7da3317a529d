//! Integration tests for build-script outputs (`OUT_DIR`, `rustc-env`).

use std::path::Path;

#[test]
fn out_dir_compile_time() {
    let content = include_str!(concat!(env!("OUT_DIR"), "/generated.txt"));
    assert_eq!(content, "generated");
    assert_eq!(env!("DEMO_GENERATED"), "yes");
}

/// `OUT_DIR` is only guaranteed at compile time. `cargo test` (1.95) also sets
/// it at runtime for packages with a build script, but other runners may not;
/// so this passes when it is unset and, when set, the generated file must be
/// there.
#[test]
fn out_dir_runtime() {
    match std::env::var_os("OUT_DIR") {
        None => {}
        Some(dir) => {
            let file = Path::new(&dir).join("generated.txt");
            assert!(file.is_file(), "{} does not exist", file.display());
        }
    }
}
