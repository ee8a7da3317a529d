//! Writes `$OUT_DIR/generated.txt` and sets `DEMO_GENERATED=yes` for the
//! package's compilation units, so tests can check build-script outputs.
//! It also adds library search paths, which the dynamic library path of the
//! tests gets in cargo's order: `$OUT_DIR/lib` (created) and `$OUT_DIR/more`
//! (never created), both inside the target dir, and the package's own `src`,
//! outside it, which cargo leaves off.

use std::path::PathBuf;

fn main() {
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR is set by cargo"));
    std::fs::write(out_dir.join("generated.txt"), "generated")
        .expect("write $OUT_DIR/generated.txt");
    println!("cargo:rustc-env=DEMO_GENERATED=yes");
    std::fs::create_dir_all(out_dir.join("lib")).expect("create $OUT_DIR/lib");
    println!(
        "cargo:rustc-link-search=native={}",
        out_dir.join("lib").display()
    );
    println!(
        "cargo:rustc-link-search=native={}",
        out_dir.join("more").display()
    );
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR");
    println!("cargo:rustc-link-search=native={manifest_dir}/src");
    println!("cargo:rerun-if-changed=build.rs");
}
