//! The environment a test process gets, as `cargo test` (and nextest) give it: cargo's
//! `[env]` configuration, cwd = the package root, `CARGO_MANIFEST_DIR`, `CARGO_PKG_*`,
//! `OUT_DIR` and build script variables, `CARGO_BIN_EXE_<name>` for integration tests and
//! benches, and the dynamic library path. Values are cargo's own where cargo has one
//! (checked against cargo 1.95 by printing them under `cargo test`; the demo workspace's
//! end-to-end test compares them): `CARGO_PKG_RUST_VERSION` as the manifest writes it, the
//! library path in cargo's order.

use std::collections::BTreeSet;

use camino::{Utf8Path, Utf8PathBuf};
use cargo_metadata::{Package, TargetKind};
use xdist_core::protocol::Harness;
use xdist_core::testlist::TestBinary;

use crate::build::cargo::{BuildOutput, BuiltBinary, Libdirs};

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
        env.extend(package_vars(package, &build.metadata.workspace_root));
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
        runner: Vec::new(),
        args: Vec::new(),
        kind: built.kind.to_string(),
        src_path: built.src_path.to_string(),
        // Listing decides (see `listing.rs`).
        harness: Harness::Libtest,
    }
}

fn package_vars(package: &Package, workspace_root: &Utf8Path) -> Vec<(String, String)> {
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
        ("CARGO_PKG_RUST_VERSION".into(), rust_version(package, workspace_root)),
        (
            "CARGO_PKG_README".into(),
            package.readme.as_ref().map(ToString::to_string).unwrap_or_default(),
        ),
    ]
}

/// `rust-version` as cargo passes it on: as the manifest writes it (`1.70` stays `1.70`;
/// `cargo metadata`'s parsed version would say `1.70.0`), read from the package's manifest
/// or, for `rust-version.workspace = true`, the workspace's `[workspace.package]`.
fn rust_version(package: &Package, workspace_root: &Utf8Path) -> String {
    let Some(parsed) = &package.rust_version else { return String::new() };
    rust_version_as_written(&package.manifest_path, workspace_root)
        .unwrap_or_else(|| parsed.to_string())
}

fn rust_version_as_written(manifest: &Utf8Path, workspace_root: &Utf8Path) -> Option<String> {
    let read = |path: &Utf8Path| -> Option<toml::Table> {
        toml::from_str(&std::fs::read_to_string(path).ok()?).ok()
    };
    match read(manifest)?.get("package")?.get("rust-version")? {
        toml::Value::String(written) => Some(written.clone()),
        toml::Value::Table(t) if t.get("workspace")?.as_bool()? => {
            let root = read(&workspace_root.join("Cargo.toml"))?;
            Some(root.get("workspace")?.get("package")?.get("rust-version")?.as_str()?.to_string())
        }
        _ => None,
    }
}

/// The dynamic library path as cargo sets it for a test: the build scripts' link paths
/// inside the binary's profile dir (cargo leaves off those outside it, as likely to shadow
/// system libraries), the profile dir, its `deps`, the sysroot's libdir of the target the
/// binary was built for (where the dynamic `libstd` of proc-macro and `prefer-dynamic` tests
/// is), then whatever the variable already held. On macOS an empty inherited value is
/// replaced by the system's defaults, as cargo does.
///
/// The link paths come in cargo's order: cargo keeps them as written (`native=/path`) in a
/// sorted set and takes the kind off only here, so a bare path comes before an `all=` one,
/// which comes before a `native=` one, and a directory given with two kinds is there twice.
fn dylib_path(binary: &Utf8Path, build: &BuildOutput) -> String {
    let deps = binary.parent();
    let profile = deps.and_then(Utf8Path::parent);
    let mut dirs: Vec<Utf8PathBuf> = Vec::new();
    if let Some(profile) = profile {
        dirs.extend(linked_dirs(&build.linked_paths, profile));
        dirs.push(profile.to_path_buf());
    }
    dirs.extend(deps.map(Utf8Path::to_path_buf));
    match &build.libdirs {
        Libdirs::Sysroot(sysroot) => {
            dirs.extend(sysroot.as_deref().and_then(|sysroot| target_libdir(sysroot, profile)));
        }
        Libdirs::Fixed(fixed) => dirs.extend(fixed.iter().cloned()),
    }
    let mut parts: Vec<String> = dirs.into_iter().map(String::from).collect();
    match std::env::var(DYLIB_PATH_VAR) {
        // Empty entries stay, as in cargo's `split_paths`.
        Ok(inherited) => parts.extend(inherited.split(':').map(String::from)),
        Err(_) if cfg!(target_os = "macos") => {
            if let Some(home) = std::env::var_os("HOME") {
                parts.push(format!("{}/lib", home.to_string_lossy()));
            }
            parts.extend(["/usr/local/lib".to_string(), "/usr/lib".to_string()]);
        }
        Err(_) => {}
    }
    parts.join(":")
}

/// The directories of `linked` (cargo's `-L` values, in cargo's order) inside `profile`,
/// with their kind taken off.
fn linked_dirs<'a>(
    linked: &'a BTreeSet<Utf8PathBuf>,
    profile: &'a Utf8Path,
) -> impl Iterator<Item = Utf8PathBuf> + 'a {
    linked
        .iter()
        .map(|path| strip_link_kind(path))
        .filter(move |dir| dir.starts_with(profile))
        .map(Utf8Path::to_path_buf)
}

/// `native=/path` → `/path`, for the kinds rustc's `-L` takes; anything else is a path.
pub(crate) fn strip_link_kind(path: &Utf8Path) -> &Utf8Path {
    match path.as_str().split_once('=') {
        Some(("native" | "crate" | "dependency" | "framework" | "all", dir)) => Utf8Path::new(dir),
        _ => path,
    }
}

/// rustc's `--print target-libdir` for the target the binary was built for, without
/// starting rustc: `<sysroot>/lib/rustlib/<triple>/lib`. Built with `--target`, the binary
/// sits in `<target-dir>/<triple>/<profile>/deps`; otherwise the triple is the host's: the
/// only target the sysroot has, else the one with host tools (`bin`), else the first whose
/// name has this machine's architecture and OS.
fn target_libdir(sysroot: &Utf8Path, profile: Option<&Utf8Path>) -> Option<Utf8PathBuf> {
    let rustlib = sysroot.join("lib").join("rustlib");
    let libdir = |triple: &str| Some(rustlib.join(triple).join("lib")).filter(|d| d.is_dir());
    let cross = profile.and_then(Utf8Path::parent).and_then(Utf8Path::file_name);
    if let Some(dir) = cross.and_then(libdir) {
        return Some(dir);
    }
    let mut triples: Vec<String> = rustlib
        .read_dir_utf8()
        .ok()?
        .flatten()
        .map(|e| e.file_name().to_string())
        .filter(|t| libdir(t).is_some())
        .collect();
    triples.sort();
    let with_tools: Vec<&String> =
        triples.iter().filter(|t| rustlib.join(t.as_str()).join("bin").is_dir()).collect();
    let host = if let [only] = triples.as_slice() {
        only
    } else if let [only] = with_tools.as_slice() {
        *only
    } else {
        let (arch, os) = (std::env::consts::ARCH, std::env::consts::OS);
        triples.iter().find(|t| t.starts_with(arch) && t.contains(os))?
    };
    libdir(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_kinds_are_stripped() {
        assert_eq!(strip_link_kind("native=/x/y".into()), "/x/y");
        assert_eq!(strip_link_kind("all=/x/y".into()), "/x/y");
        assert_eq!(strip_link_kind("/x/y".into()), "/x/y");
        assert_eq!(strip_link_kind("/x=y/z".into()), "/x=y/z");
        assert_eq!(strip_link_kind("static=/x".into()), "static=/x");
    }

    /// The order `cargo test` (cargo 1.95) gave `LD_LIBRARY_PATH` for a build script that
    /// printed these `cargo:rustc-link-search` values, all under its `OUT_DIR`, plus one
    /// outside the target dir: bare paths first, then by kind in name order; within a kind
    /// component by component (`a/b` before `a-b`); `dup` once per kind.
    #[test]
    fn linked_dirs_are_in_cargo_order() {
        let out = "/ws/target/debug/build/pkg-0123/out";
        let printed = [
            "native=zeta",
            "all=beta",
            "omega",
            "native=alpha",
            "crate=gamma",
            "dependency=delta",
            "framework=eps",
            "a-b",
            "a/b",
            "native=dup",
            "all=dup",
            "dup",
            "Upper",
        ];
        let mut linked: BTreeSet<Utf8PathBuf> = printed
            .iter()
            .map(|entry| match entry.split_once('=') {
                Some((kind, dir)) => format!("{kind}={out}/{dir}").into(),
                None => format!("{out}/{entry}").into(),
            })
            .collect();
        linked.insert("native=/usr/lib/outside-target".into());
        linked.insert(format!("native={out}/zeta").into());
        let dirs: Vec<String> = linked_dirs(&linked, "/ws/target/debug".into())
            .map(|dir| dir.as_str().strip_prefix(out).unwrap().to_string())
            .collect();
        let cargo = [
            "/Upper", "/a/b", "/a-b", "/dup", "/omega", "/beta", "/dup", "/gamma", "/delta",
            "/eps", "/alpha", "/dup", "/zeta",
        ];
        assert_eq!(dirs, cargo);
    }
}
