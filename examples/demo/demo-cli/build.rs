//! Writes `$OUT_DIR/generated.txt` and sets `DEMO_GENERATED=yes` for the
//! package's compilation units, so tests can check build-script outputs.

use std::path::PathBuf;

fn main() {
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR is set by cargo"));
    std::fs::write(out_dir.join("generated.txt"), "generated")
        .expect("write $OUT_DIR/generated.txt");
    println!("cargo:rustc-env=DEMO_GENERATED=yes");
    println!("cargo:rerun-if-changed=build.rs");
}
