//! From an archive to a build: unpack it (into `--extract-to DIR` or a temporary dir that
//! lives as long as the run), read its two metadata files, and remap every path as nextest
//! does (reference notes §2): the target dir becomes `<dest>/target`, the workspace root
//! becomes `--workspace-remap DIR` (test cwd, `CARGO_MANIFEST_DIR`, source files), a path
//! outside the old prefix stays as it was, and build scripts' `rustc-env` values are not
//! remapped. The result is the same [`BuildOutput`] a local build gives, so listing and
//! running do not know where the binaries came from.

use std::collections::BTreeMap;
use std::fs;

use camino::{Utf8Path, Utf8PathBuf};
use cargo_metadata::{Metadata, PackageId, TargetKind};

use super::extract::{self, HOST_LIBDIR, TARGET_LIBDIR};
use super::summary::BinaryListSummary;
use super::{BINARIES_METADATA, CARGO_METADATA, FORMAT_VERSION, XDIST_CONFIG, XDIST_MANIFEST};
use crate::build::cargo::{BuildOutput, BuildScriptOutput, BuiltBinary, Libdirs, is_lib_like};
use crate::cli::archive::{ArchiveFormat, ArchiveSource};
use crate::errors::ArchiveError;

/// An unpacked archive, ready to list.
pub struct Opened {
    /// The build, remapped.
    pub build: BuildOutput,
    /// The dir whose `.config/xdist.toml` holds the groups: the workspace's, else the copy
    /// in the archive.
    pub config_root: Utf8PathBuf,
    /// The temporary extraction dir, removed when this is dropped.
    pub temp: Option<tempfile::TempDir>,
}

/// Unpacks and reads the archive `source` names.
pub fn open(source: &ArchiveSource, archive: &Utf8Path) -> Result<Opened, ArchiveError> {
    let format = source.archive_format.unwrap_or(ArchiveFormat::Auto);
    if !format.accepts(&archive.to_path_buf()) {
        return Err(ArchiveError::Format { archive: archive.to_path_buf() });
    }
    let (dest, temp) = destination(source)?;
    let unpacked = extract::unpack(archive, &dest, source.extract_max_bytes)?;
    let read = |entry: &'static str| {
        fs::read(dest.join(entry))
            .map_err(|_| ArchiveError::MissingMetadata { archive: archive.to_path_buf(), entry })
    };
    let bad = |entry: &'static str| {
        move |source| ArchiveError::BadMetadata { archive: archive.to_path_buf(), entry, source }
    };
    let summary: BinaryListSummary =
        serde_json::from_slice(&read(BINARIES_METADATA)?).map_err(bad(BINARIES_METADATA))?;
    let metadata: Metadata =
        serde_json::from_slice(&read(CARGO_METADATA)?).map_err(bad(CARGO_METADATA))?;
    if let Some(path) = outside_path(&summary) {
        return Err(ArchiveError::OutsidePath { archive: archive.to_path_buf(), path });
    }
    if let Ok(bytes) = fs::read(dest.join(XDIST_MANIFEST)) {
        let manifest: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(bad(XDIST_MANIFEST))?;
        let found = manifest.get("format-version").and_then(serde_json::Value::as_u64);
        match found {
            Some(v) if v <= u64::from(FORMAT_VERSION) => {}
            Some(v) => {
                return Err(ArchiveError::Version {
                    archive: archive.to_path_buf(),
                    found: u32::try_from(v).unwrap_or(u32::MAX),
                    supported: FORMAT_VERSION,
                });
            }
            None => {
                let source = serde::de::Error::custom("no numeric `format-version`");
                return Err(bad(XDIST_MANIFEST)(source));
            }
        }
    }
    let workspace_root = match &source.workspace_remap {
        Some(dir) => existing_dir("--workspace-remap", dir)?,
        None => metadata.workspace_root.clone(),
    };
    let manifest = workspace_root.join("Cargo.toml");
    if !manifest.is_file() {
        return Err(ArchiveError::NoWorkspace { manifest });
    }
    let libdirs = [(unpacked.host_libdir, HOST_LIBDIR), (unpacked.target_libdir, TARGET_LIBDIR)]
        .into_iter()
        .filter(|(present, _)| *present)
        .map(|(_, dir)| dest.join(dir))
        .collect();
    let build = remapped_build(summary, metadata, &dest.join("target"), &workspace_root, libdirs);
    let config_root = if workspace_root.join(".config").join("xdist.toml").is_file() {
        workspace_root
    } else {
        // `<dest>/target/xdist/workspace`, whose `.config/xdist.toml` is the archive's copy.
        dest.join(XDIST_CONFIG).parent().and_then(Utf8Path::parent).map_or(dest, Into::into)
    };
    Ok(Opened { build, config_root, temp })
}

/// `--extract-to DIR` (which must exist, and hold no `target/` unless overwriting), else a
/// new temporary dir.
fn destination(
    source: &ArchiveSource,
) -> Result<(Utf8PathBuf, Option<tempfile::TempDir>), ArchiveError> {
    if let Some(dir) = &source.extract_to {
        let dir = existing_dir("--extract-to", dir)?;
        if !source.extract_overwrite && fs::symlink_metadata(dir.join("target")).is_ok() {
            return Err(ArchiveError::DestinationExists { dir });
        }
        return Ok((dir, None));
    }
    let temp = tempfile::Builder::new()
        .prefix("xdist-archive-")
        .tempdir()
        .map_err(|source| ArchiveError::TempDir { source })?;
    let path = temp.path().canonicalize().map_err(|source| ArchiveError::TempDir { source })?;
    let path = Utf8PathBuf::from_path_buf(path).map_err(|p| ArchiveError::TempDir {
        source: std::io::Error::other(format!("{} is not UTF-8", p.display())),
    })?;
    if source.persist_extract_tempdir {
        let kept = temp.keep();
        eprintln!("xdist: the archive is unpacked in {} (kept)", kept.display());
        return Ok((path, None));
    }
    Ok((path, Some(temp)))
}

/// The first path of the summary that would not land inside the unpacked target dir: a
/// test binary not under the build's target dir, or any relative path (non-test binaries,
/// out dirs, linked paths) that is absolute or has a `..`. Running such a binary, or
/// loading libraries from such a dir, would run what the archive did not bring.
fn outside_path(summary: &BinaryListSummary) -> Option<String> {
    let meta = &summary.rust_build_meta;
    let old_target = meta.build_directory.as_ref().unwrap_or(&meta.target_directory);
    let plain = |p: &Utf8Path| {
        !p.as_str().is_empty()
            && p.components().all(|c| matches!(c, camino::Utf8Component::Normal(_)))
    };
    let binaries = summary.rust_binaries.iter().map(|(_, b)| &b.binary_path);
    for path in binaries {
        if !path.strip_prefix(old_target).is_ok_and(plain) {
            return Some(path.to_string());
        }
    }
    let relative = meta
        .non_test_binaries
        .values()
        .flatten()
        .map(|b| &b.path)
        .chain(meta.build_script_out_dirs.values())
        .chain(&meta.linked_paths);
    for path in relative {
        if !plain(path) {
            return Some(path.to_string());
        }
    }
    None
}

/// `dir` made absolute and canonical; it must be a directory.
fn existing_dir(flag: &'static str, dir: &Utf8Path) -> Result<Utf8PathBuf, ArchiveError> {
    let bad = |source| ArchiveError::BadDir { flag, dir: dir.to_path_buf(), source };
    let canonical = dir.canonicalize_utf8().map_err(bad)?;
    if !canonical.is_dir() {
        return Err(bad(std::io::Error::other("not a directory")));
    }
    Ok(canonical)
}

/// `path` with the prefix `from` replaced by `to`; a path outside `from` is kept.
pub fn remap(path: &Utf8Path, from: &Utf8Path, to: &Utf8Path) -> Utf8PathBuf {
    match path.strip_prefix(from) {
        Ok(rest) if rest.as_str().is_empty() => to.to_path_buf(),
        Ok(rest) => to.join(rest),
        Err(_) => path.to_path_buf(),
    }
}

/// The archive's build with paths under the unpacked target dir and the remapped workspace.
fn remapped_build(
    summary: BinaryListSummary,
    mut metadata: Metadata,
    target_dir: &Utf8Path,
    workspace_root: &Utf8Path,
    libdirs: Vec<Utf8PathBuf>,
) -> BuildOutput {
    let meta = summary.rust_build_meta;
    let target_triple = meta.target_platform.clone();
    let old_target = meta.build_directory.as_ref().unwrap_or(&meta.target_directory).clone();
    let old_root = metadata.workspace_root.clone();
    for package in &mut metadata.packages {
        package.manifest_path = remap(&package.manifest_path, &old_root, workspace_root);
        for target in &mut package.targets {
            target.src_path = remap(&target.src_path, &old_root, workspace_root);
        }
    }
    metadata.workspace_root = workspace_root.to_path_buf();
    metadata.target_directory = target_dir.to_path_buf();
    let under_target = |relative: &Utf8Path| target_dir.join(relative);
    let binaries = summary
        .rust_binaries
        .into_iter()
        .map(|(_, binary)| {
            let kind = serde_json::from_value(serde_json::Value::String(binary.kind.clone()))
                .unwrap_or(TargetKind::Unknown(binary.kind.clone()));
            let package_id = PackageId { repr: binary.package_id };
            let src_path = source_file(&metadata, &package_id, &binary.binary_name, &kind);
            BuiltBinary {
                id: binary.binary_id,
                path: remap(&binary.binary_path, &old_target, target_dir),
                package_id,
                kind,
                target_name: binary.binary_name,
                src_path,
            }
        })
        .collect();
    let mut bin_exes: BTreeMap<PackageId, Vec<(String, Utf8PathBuf)>> = BTreeMap::new();
    let mut dylibs: BTreeMap<PackageId, Vec<(String, Utf8PathBuf)>> = BTreeMap::new();
    for (package, list) in meta.non_test_binaries {
        for binary in list {
            let set = if binary.kind == "bin-exe" { &mut bin_exes } else { &mut dylibs };
            let entry = set.entry(PackageId { repr: package.clone() }).or_default();
            entry.push((binary.name, under_target(&binary.path)));
        }
    }
    let mut infos = meta.build_script_info.unwrap_or_default();
    let build_scripts = meta
        .build_script_out_dirs
        .into_iter()
        .map(|(package, out_dir)| {
            let env = infos.remove(&package).map(|i| i.envs.into_iter().collect());
            let output = BuildScriptOutput {
                out_dir: Some(under_target(&out_dir)),
                env: env.unwrap_or_default(),
            };
            (PackageId { repr: package }, output)
        })
        .collect();
    BuildOutput {
        binaries,
        bin_exes,
        build_scripts,
        linked_paths: meta.linked_paths.iter().map(|p| under_target(p)).collect(),
        dylibs,
        metadata,
        libdirs: Libdirs::Fixed(libdirs),
        target_dir: target_dir.to_path_buf(),
        target_triple,
    }
}

/// The root source file of a package's target (for `--dist loadfile`), from cargo metadata.
fn source_file(
    metadata: &Metadata,
    package: &PackageId,
    name: &str,
    kind: &TargetKind,
) -> Utf8PathBuf {
    metadata
        .packages
        .iter()
        .find(|p| &p.id == package)
        .and_then(|p| {
            p.targets.iter().find(|t| {
                t.name == name
                    && t.kind.iter().any(|k| k == kind || (is_lib_like(k) && is_lib_like(kind)))
            })
        })
        .map(|t| t.src_path.clone())
        .unwrap_or_default()
}
