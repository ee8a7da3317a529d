//! The environment a test process gets, as `cargo test` (and nextest) give it: cargo's
//! `[env]` configuration, cwd = the package root, `CARGO_MANIFEST_DIR`, `CARGO_PKG_*`,
//! `OUT_DIR` and build script variables, `CARGO_BIN_EXE_<name>` for integration tests and
//! benches, and the dynamic library path.

use camino::{Utf8Path, Utf8PathBuf};
use cargo_metadata::{Package, TargetKind};
use xdist_core::testlist::TestBinary;

use crate::cargo_build::{BuildOutput, BuiltBinary};

#[cfg(target_os = "macos")]
const DYLIB_PATH_VAR: &str = "DYLD_FALLBACK_LIBRARY_PATH";
#[cfg(not(target_os = "macos"))]
const DYLIB_PATH_VAR: &str = "LD_LIBRARY_PATH";

/// The binary with its cwd and environment filled in; `config_env` (cargo's `[env]`) comes
/// first, so cargo's own variables override it, as under `cargo test`.
pub fn test_binary(
    built: &BuiltBinary,
    build: &BuildOutput,
    config_env: &[(String, String)],
) -> TestBinary {
    let package = build.metadata.packages.iter().find(|p| p.id == built.package_id);
    let manifest_dir = package
        .and_then(|p| p.manifest_path.parent())
        .map(Utf8Path::to_path_buf)
        .or_else(|| build.metadata.workspace_root.clone().into())
        .unwrap_or_default();
    let mut env: Vec<(String, String)> = config_env.to_vec();
    env.push(("CARGO_MANIFEST_DIR".into(), manifest_dir.to_string()));
    if let Some(package) = package {
        env.push(("CARGO_MANIFEST_PATH".into(), package.manifest_path.to_string()));
        env.extend(package_vars(package));
    }
    if let Some(script) = build.build_scripts.get(&built.package_id) {
        if let Some(out_dir) = &script.out_dir {
            env.push(("OUT_DIR".into(), out_dir.to_string()));
        }
        env.extend(script.env.iter().cloned());
    }
    if matches!(built.kind, TargetKind::Test | TargetKind::Bench) {
        for (name, path) in build.bin_exes.get(&built.package_id).into_iter().flatten() {
            env.push((format!("CARGO_BIN_EXE_{name}"), path.to_string()));
        }
    }
    env.push((DYLIB_PATH_VAR.into(), dylib_path(&built.path, build)));
    TestBinary {
        id: built.id.clone(),
        path: built.path.to_string(),
        cwd: manifest_dir.to_string(),
        env,
        kind: built.kind.to_string(),
        src_path: built.src_path.to_string(),
    }
}

fn package_vars(package: &Package) -> Vec<(String, String)> {
    let v = &package.version;
    let text = |s: &Option<String>| s.clone().unwrap_or_default();
    vec![
        ("CARGO_PKG_NAME".into(), package.name.to_string()),
        ("CARGO_PKG_VERSION".into(), v.to_string()),
        ("CARGO_PKG_VERSION_MAJOR".into(), v.major.to_string()),
        ("CARGO_PKG_VERSION_MINOR".into(), v.minor.to_string()),
        ("CARGO_PKG_VERSION_PATCH".into(), v.patch.to_string()),
        ("CARGO_PKG_VERSION_PRE".into(), v.pre.to_string()),
        ("CARGO_PKG_AUTHORS".into(), package.authors.join(":")),
        ("CARGO_PKG_DESCRIPTION".into(), text(&package.description)),
        ("CARGO_PKG_HOMEPAGE".into(), text(&package.homepage)),
        ("CARGO_PKG_REPOSITORY".into(), text(&package.repository)),
        ("CARGO_PKG_LICENSE".into(), text(&package.license)),
        (
            "CARGO_PKG_LICENSE_FILE".into(),
            package.license_file.as_ref().map(ToString::to_string).unwrap_or_default(),
        ),
        (
            "CARGO_PKG_RUST_VERSION".into(),
            package.rust_version.as_ref().map(ToString::to_string).unwrap_or_default(),
        ),
        (
            "CARGO_PKG_README".into(),
            package.readme.as_ref().map(ToString::to_string).unwrap_or_default(),
        ),
    ]
}

/// Build scripts' link paths that exist, the profile dir and its `deps`, the toolchain's
/// library directories, then whatever the variable already held; no duplicates.
fn dylib_path(binary: &Utf8Path, build: &BuildOutput) -> String {
    let mut dirs: Vec<Utf8PathBuf> =
        build.linked_paths.iter().filter(|p| p.exists()).cloned().collect();
    if let Some(deps) = binary.parent() {
        if let Some(profile) = deps.parent() {
            dirs.push(profile.to_path_buf());
        }
        dirs.push(deps.to_path_buf());
    }
    if let Some(sysroot) = &build.sysroot {
        // The host libdir (rustc's own libraries), then each target libdir, where the
        // dynamic `libstd` lives that proc-macro and `prefer-dynamic` tests link to.
        dirs.push(sysroot.join("lib"));
        let rustlib = sysroot.join("lib").join("rustlib");
        if let Ok(entries) = rustlib.read_dir_utf8() {
            let mut targets: Vec<Utf8PathBuf> = entries
                .flatten()
                .map(|e| e.path().join("lib"))
                .filter(|lib| lib.is_dir())
                .collect();
            targets.sort();
            dirs.extend(targets);
        }
    }
    let mut parts: Vec<String> = dirs.into_iter().map(|d| d.to_string()).collect();
    if let Ok(inherited) = std::env::var(DYLIB_PATH_VAR) {
        parts.extend(inherited.split(':').filter(|s| !s.is_empty()).map(String::from));
    }
    let mut seen = std::collections::HashSet::new();
    parts.retain(|p| seen.insert(p.clone()));
    parts.join(":")
}
