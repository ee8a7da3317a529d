//! Builds the tests the way `cargo test --no-run` does and reads what cargo built from its
//! JSON messages: the test binaries (with nextest's binary ids), the packages' `[[bin]]`
//! executables, and what build scripts produced. `cargo metadata` runs alongside for the
//! package details the test environment needs.

use std::collections::{BTreeMap, BTreeSet};
use std::io::BufReader;
use std::process::{Command, Stdio};
use std::thread;

use camino::{Utf8Path, Utf8PathBuf};
use cargo_metadata::{Message, Metadata, MetadataCommand, PackageId, TargetKind};

use super::metadata_cache;
use crate::cli::CargoOptions;
use crate::errors::{BuildError, InternalError, MetadataError, XdistError};

/// A test binary cargo built.
#[derive(Clone, Debug)]
pub struct BuiltBinary {
    /// nextest's binary id.
    pub id: String,
    /// The executable.
    pub path: Utf8PathBuf,
    /// Its package.
    pub package_id: PackageId,
    /// Cargo's target kind (`lib`, `bin`, `test`, ...).
    pub kind: TargetKind,
    /// The target's name.
    pub target_name: String,
    /// The target's root source file.
    pub src_path: Utf8PathBuf,
}

/// What a build script left for the tests of its package.
#[derive(Clone, Debug, Default)]
pub struct BuildScriptOutput {
    /// Its `OUT_DIR`.
    pub out_dir: Option<Utf8PathBuf>,
    /// `cargo:rustc-env` variables.
    pub env: Vec<(String, String)>,
}

/// Everything the build produced that running tests needs.
#[derive(Debug)]
pub struct BuildOutput {
    /// Test binaries, in the order cargo reported them.
    pub binaries: Vec<BuiltBinary>,
    /// `[[bin]]` executables by package: (target name, path).
    pub bin_exes: BTreeMap<PackageId, Vec<(String, Utf8PathBuf)>>,
    /// Build script results by package.
    pub build_scripts: BTreeMap<PackageId, BuildScriptOutput>,
    /// Library search paths of every build script (`cargo:rustc-link-search`), as written,
    /// kind and all (`native=/path`), in cargo's order: sorted as paths (component by
    /// component, so a bare `/path` comes before `all=...`, which comes before `native=...`),
    /// each once.
    pub linked_paths: BTreeSet<Utf8PathBuf>,
    /// Dynamic libraries (`dylib`, `cdylib` targets) by package: (target name, file).
    pub dylibs: BTreeMap<PackageId, Vec<(String, Utf8PathBuf)>>,
    /// `cargo metadata` of the workspace.
    pub metadata: Metadata,
    /// Where the standard library's dynamic library is, for the dynamic library path.
    pub libdirs: Libdirs,
    /// The target directory in use (`--target-dir`, else cargo's).
    pub target_dir: Utf8PathBuf,
    /// The cross-compilation target (`--target`), or `None` for the host.
    pub target_triple: Option<String>,
}

/// Where the tests find the standard library's dynamic library (which proc-macro and
/// `-C prefer-dynamic` tests load).
#[derive(Clone, Debug)]
pub enum Libdirs {
    /// rustc's sysroot (if found): the libdir is that of the target a binary was built for.
    Sysroot(Option<Utf8PathBuf>),
    /// Fixed dirs: an archive's copies of the host's and the target's libdir.
    Fixed(Vec<Utf8PathBuf>),
}

/// The cargo that runs this subcommand (`CARGO`), else `cargo`.
pub fn cargo_program() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string())
}

/// `cargo metadata --no-deps`, as asked with `--manifest-path` `manifest`.
fn ask_metadata(manifest: Option<Utf8PathBuf>) -> Result<Metadata, MetadataError> {
    let mut command = MetadataCommand::new();
    command.cargo_path(cargo_program()).no_deps();
    if let Some(path) = manifest {
        command.manifest_path(path);
    }
    command.exec().map_err(MetadataError::from)
}

/// Runs `cargo test --no-run` (diagnostics on stderr as usual) and gathers its output.
/// `cargo metadata` runs alongside, unless an earlier run's answer still holds
/// (`metadata_cache.rs`).
pub fn build(options: &CargoOptions) -> Result<BuildOutput, XdistError> {
    let manifest = options.manifest_path.clone();
    let cwd =
        Utf8PathBuf::from_path_buf(std::env::current_dir().unwrap_or_default()).unwrap_or_default();
    let dirs = metadata_cache::likely_target_dirs(&cwd, options.target_dir.as_deref());
    let cached = metadata_cache::find(&cwd, manifest.as_deref(), dirs);
    let asked = cached.is_none().then(|| {
        let manifest = manifest.clone();
        thread::spawn(move || ask_metadata(manifest))
    });
    let sysroot = thread::spawn(find_sysroot);

    let mut binaries = Vec::new();
    let mut bin_exes: BTreeMap<PackageId, Vec<(String, Utf8PathBuf)>> = BTreeMap::new();
    let mut build_scripts: BTreeMap<PackageId, BuildScriptOutput> = BTreeMap::new();
    let mut linked_paths = BTreeSet::new();
    let mut dylibs: BTreeMap<PackageId, Vec<(String, Utf8PathBuf)>> = BTreeMap::new();
    // `--doc` alone builds no test binary: `cargo test --doc` (see doctests.rs) builds the
    // libraries, and `--no-run` with `--doc` is refused by cargo.
    if !options.doc {
        let mut child = Command::new(cargo_program())
            .args(["test", "--no-run", "--message-format", "json-render-diagnostics"])
            .args(options.to_cargo_args())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|source| BuildError::Spawn { source })?;
        let stdout = child.stdout.take().expect("piped");
        for message in Message::parse_stream(BufReader::new(stdout)) {
            let message = message.map_err(|source| BuildError::UnreadableOutput { source })?;
            match message {
                Message::CompilerArtifact(artifact) => {
                    let is_dylib =
                        |k: &TargetKind| matches!(k, TargetKind::DyLib | TargetKind::CDyLib);
                    if !artifact.profile.test && artifact.target.kind.iter().any(is_dylib) {
                        let files = artifact.filenames.iter().filter(|f| is_dylib_file(f)).cloned();
                        let name = artifact.target.name.clone();
                        let entry = dylibs.entry(artifact.package_id.clone()).or_default();
                        entry.extend(files.map(|f| (name.clone(), f)));
                    }
                    let Some(executable) = artifact.executable else { continue };
                    let kind = artifact.target.kind.first().cloned().unwrap_or(TargetKind::Lib);
                    if artifact.profile.test {
                        let package_name =
                            package_name(&artifact.package_id, &artifact.manifest_path);
                        binaries.push(BuiltBinary {
                            id: binary_id(&package_name, &kind, &artifact.target.name),
                            path: executable,
                            package_id: artifact.package_id,
                            kind,
                            target_name: artifact.target.name,
                            src_path: artifact.target.src_path,
                        });
                    } else if kind == TargetKind::Bin {
                        bin_exes
                            .entry(artifact.package_id)
                            .or_default()
                            .push((artifact.target.name, executable));
                    }
                }
                Message::BuildScriptExecuted(script) => {
                    linked_paths.extend(script.linked_paths);
                    let entry = build_scripts.entry(script.package_id).or_default();
                    entry.out_dir = Some(script.out_dir);
                    entry.env.extend(script.env);
                }
                _ => {}
            }
        }
        let status = child.wait().map_err(|source| BuildError::Wait { source })?;
        if !status.success() {
            return Err(BuildError::Failed { status }.into());
        }
    }
    let given_target_dir = options.target_dir.as_ref().map(|dir| cwd.join(dir));
    let (metadata, from_cache) = match asked {
        Some(asked) => (asked.join().map_err(|_| InternalError::MetadataThreadPanicked)??, false),
        None => {
            let paths: Vec<&Utf8Path> = binaries.iter().map(|b| b.path.as_path()).collect();
            let built: Vec<&PackageId> =
                binaries.iter().map(|b| &b.package_id).chain(bin_exes.keys()).collect();
            let fitting =
                cached.and_then(|cached| cached.fits(given_target_dir.as_deref(), &paths, &built));
            match fitting {
                Some(metadata) => (metadata, true),
                None => (ask_metadata(manifest.clone())?, false),
            }
        }
    };
    let sysroot = sysroot.join().ok().flatten();
    for binary in &mut binaries {
        if let Some(package) = metadata.packages.iter().find(|p| p.id == binary.package_id) {
            binary.id = binary_id(&package.name, &binary.kind, &binary.target_name);
        }
    }
    let target_dir = given_target_dir.unwrap_or_else(|| metadata.target_directory.clone());
    if !from_cache {
        metadata_cache::store(
            metadata_cache::Key::new(cwd, manifest, target_dir.clone()),
            &metadata,
        );
    }
    Ok(BuildOutput {
        binaries,
        bin_exes,
        build_scripts,
        linked_paths,
        dylibs,
        metadata,
        libdirs: Libdirs::Sysroot(sysroot),
        target_dir,
        target_triple: options.target.clone(),
    })
}

/// A dynamic library by its file name (`.so`, `.dylib`, `.dll`).
fn is_dylib_file(path: &Utf8PathBuf) -> bool {
    matches!(path.extension(), Some("so" | "dylib" | "dll"))
}

/// `cargo metadata --format-version=1 --all-features --filter-platform <triple>` as cargo
/// prints it, with the cargo options that change it: what nextest stores in an archive.
pub fn full_metadata_json(options: &CargoOptions, triple: &str) -> Result<String, String> {
    let mut command = Command::new(cargo_program());
    command.args(["metadata", "--format-version=1", "--all-features", "--filter-platform", triple]);
    if let Some(path) = &options.manifest_path {
        command.arg("--manifest-path").arg(path);
    }
    for (flag, on) in
        [("--locked", options.locked), ("--offline", options.offline), ("--frozen", options.frozen)]
    {
        if on {
            command.arg(flag);
        }
    }
    if let Some(dir) = &options.target_dir {
        command.env("CARGO_TARGET_DIR", dir);
    }
    let out = command.stderr(Stdio::inherit()).output().map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!("cargo metadata {}", xdist_worker::command::describe(out.status)));
    }
    String::from_utf8(out.stdout).map_err(|_| "its output is not UTF-8".to_string())
}

/// The host's target triple, from `rustc -vV`.
pub fn host_triple() -> Result<String, String> {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_string());
    let out = Command::new(&rustc).arg("-vV").stderr(Stdio::inherit()).output();
    let out = out.map_err(|e| format!("cannot run {rustc}: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|line| line.strip_prefix("host: "))
        .map(|triple| triple.trim().to_string())
        .ok_or_else(|| format!("no `host:` line in `{rustc} -vV`"))
}

/// `rustc --print cfg --target <triple>`, one fact a line (`unix`, `target_os="linux"`);
/// nothing if rustc fails.
pub fn target_cfg(triple: &str) -> Vec<String> {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_string());
    let out = Command::new(rustc).args(["--print", "cfg", "--target", triple]).output();
    out.ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).lines().map(String::from).collect())
        .unwrap_or_default()
}

/// rustc's sysroot. Under `cargo xdist`, cargo runs from `<sysroot>/bin/cargo` and says so in
/// `CARGO`, which saves starting rustc (through rustup's proxy) for `--print sysroot`.
fn find_sysroot() -> Option<Utf8PathBuf> {
    let from_cargo = std::env::var("CARGO").ok().map(Utf8PathBuf::from).and_then(|cargo| {
        let root = cargo.parent()?.parent()?.to_path_buf();
        root.join("lib").join("rustlib").is_dir().then_some(root)
    });
    if from_cargo.is_some() && std::env::var_os("RUSTC").is_none() {
        return from_cargo;
    }
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_string());
    let out =
        Command::new(rustc).args(["--print", "sysroot"]).stderr(Stdio::null()).output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    out.status.success().then(|| Utf8PathBuf::from(text.trim()))
}

/// The package name as the package id spells it (`path+file:///ws/alpha#0.1.0` or
/// `...#name@0.1.0`); used when `cargo metadata` does not know the package.
fn package_name(id: &PackageId, manifest: &Utf8PathBuf) -> String {
    let repr = &id.repr;
    if let Some((_, frag)) = repr.rsplit_once('#') {
        if let Some((name, _version)) = frag.split_once('@') {
            return name.to_string();
        }
    }
    manifest
        .parent()
        .and_then(|dir| dir.file_name())
        .map_or_else(|| repr.clone(), ToString::to_string)
}

/// A library crate type (`lib`, `rlib`, `dylib`, `cdylib`, `staticlib`): nextest's `lib`.
pub fn is_lib_like(kind: &TargetKind) -> bool {
    matches!(
        kind,
        TargetKind::Lib
            | TargetKind::RLib
            | TargetKind::DyLib
            | TargetKind::CDyLib
            | TargetKind::StaticLib
    )
}

/// nextest's binary id: `pkg` for a library, `pkg::name` for an integration test,
/// `pkg::kind/name` otherwise.
pub fn binary_id(package: &str, kind: &TargetKind, target: &str) -> String {
    match kind {
        k if is_lib_like(k) => package.to_string(),
        TargetKind::ProcMacro => package.to_string(),
        TargetKind::Test => format!("{package}::{target}"),
        other => format!("{package}::{other}/{target}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_ids_follow_nextest() {
        assert_eq!(binary_id("alpha", &TargetKind::Lib, "alpha"), "alpha");
        assert_eq!(binary_id("alpha", &TargetKind::ProcMacro, "alpha"), "alpha");
        assert_eq!(binary_id("beta", &TargetKind::Test, "integ"), "beta::integ");
        assert_eq!(binary_id("beta", &TargetKind::Bin, "beta-cli"), "beta::bin/beta-cli");
        assert_eq!(binary_id("beta", &TargetKind::Example, "ex"), "beta::example/ex");
        assert_eq!(binary_id("beta", &TargetKind::Bench, "b"), "beta::bench/b");
    }
}
