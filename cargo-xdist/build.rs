//! Records the target triple this binary is built for (the remote platform check names it).

fn main() {
    let target = std::env::var("TARGET").unwrap_or_default();
    println!("cargo:rustc-env=XDIST_BUILT_FOR={target}");
    println!("cargo:rerun-if-changed=build.rs");
}
