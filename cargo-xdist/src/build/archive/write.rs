//! Writes a build as a nextest-compatible archive (reference notes §1, §10): a tar stream in
//! one zstd frame with its content checksum, regular files only, every path under `target/`,
//! in nextest's order: `binaries-metadata.json`, `cargo-metadata.json`, the test binaries in
//! binary-id order, the `[[bin]]` executables and dynamic libraries, the top level of each
//! build script's `OUT_DIR` and of each linked path, cargo-xdist's own additions under
//! `target/xdist/` (a format version, the duration history, `.config/xdist.toml`), and the
//! standard library's dynamic library. The file appears whole or not at all (written beside
//! its destination, then renamed).

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fs;
use std::io::{self, Write};
use std::time::SystemTime;

use camino::{Utf8Path, Utf8PathBuf};
use cargo_metadata::TargetKind;
use xdist_core::testlist::compare_binary_ids;

use super::summary::{
    BinaryListSummary, BuildScriptInfo, HostPlatform, Libdir, NonTestBinary, PlatformSummary,
    Platforms, RustBuildMeta, RustTestBinary,
};
use super::{BINARIES_METADATA, CARGO_METADATA, FORMAT_VERSION, XDIST_CONFIG, XDIST_MANIFEST};
use crate::build::cargo::{BuildOutput, is_lib_like};
use crate::collect::test_env::strip_link_kind;
use crate::errors::ArchiveError;
use crate::plan::history::History;

/// What goes into an archive besides the build itself.
pub struct ArchiveInput<'a> {
    /// The build.
    pub build: &'a BuildOutput,
    /// `cargo metadata --format-version=1 --all-features --filter-platform <triple>`, as is.
    pub cargo_metadata_json: &'a str,
    /// The host's triple.
    pub host_triple: &'a str,
    /// `--target`, when cross-compiling.
    pub cross_triple: Option<&'a str>,
    /// The host's and (when cross-compiling) the target's rustc libdir.
    pub host_libdir: Option<Utf8PathBuf>,
    /// See `host_libdir`.
    pub target_libdir: Option<Utf8PathBuf>,
}

/// What was written.
#[derive(Debug, Default)]
pub struct ArchiveStats {
    /// Test binaries.
    pub binaries: usize,
    /// Entries.
    pub files: usize,
    /// Their bytes before compression.
    pub bytes: u64,
}

/// The summary nextest writes for this build.
pub fn summary(input: &ArchiveInput<'_>) -> BinaryListSummary {
    let build = input.build;
    let target_dir = &build.target_dir;
    let relative = |path: &Utf8Path| path.strip_prefix(target_dir).ok().map(Utf8Path::to_path_buf);
    let mut binaries: Vec<_> = build.binaries.iter().collect();
    binaries.sort_by(|a, b| compare_binary_ids(&a.id, &b.id));
    let base_output_directories: BTreeSet<String> = binaries
        .iter()
        .filter_map(|b| relative(b.path.parent()?.parent()?))
        .map(|dir| dir.to_string())
        .collect();
    let mut non_test_binaries: BTreeMap<String, Vec<NonTestBinary>> = BTreeMap::new();
    let sets = [("bin-exe", &build.bin_exes), ("dylib", &build.dylibs)];
    for (kind, set) in sets {
        for (package, files) in set {
            for (name, path) in files {
                let Some(path) = relative(path) else { continue };
                non_test_binaries.entry(package.repr.clone()).or_default().push(NonTestBinary {
                    name: name.clone(),
                    kind: kind.to_string(),
                    path,
                    build_platform: Some("target".into()),
                });
            }
        }
    }
    for list in non_test_binaries.values_mut() {
        list.sort_by(|a, b| (&a.name, &a.kind, &a.path).cmp(&(&b.name, &b.kind, &b.path)));
    }
    // Out dirs of the workspace packages that have a test binary, as nextest keeps them.
    let tested: HashSet<&str> = binaries.iter().map(|b| b.package_id.repr.as_str()).collect();
    let members: HashSet<&str> =
        build.metadata.workspace_members.iter().map(|id| id.repr.as_str()).collect();
    let mut out_dirs = BTreeMap::new();
    let mut infos = BTreeMap::new();
    for (package, script) in &build.build_scripts {
        let id = package.repr.as_str();
        let Some(out_dir) = script.out_dir.as_deref().and_then(relative) else { continue };
        if !tested.contains(id) || !members.contains(id) {
            continue;
        }
        out_dirs.insert(id.to_string(), out_dir);
        let envs = script.env.iter().cloned().collect();
        infos.insert(id.to_string(), BuildScriptInfo { envs });
    }
    let linked_paths: BTreeSet<Utf8PathBuf> =
        build.linked_paths.iter().filter_map(|path| relative(strip_link_kind(path))).collect();
    let libdir = |dir: &Option<Utf8PathBuf>| match dir {
        Some(path) => Libdir::Available { path: path.clone() },
        None => Libdir::Unavailable { reason: "rustc-failed".into() },
    };
    let host = HostPlatform {
        platform: PlatformSummary::new(input.host_triple),
        libdir: libdir(&input.host_libdir),
    };
    let targets: Vec<HostPlatform> = input
        .cross_triple
        .map(|triple| HostPlatform {
            platform: PlatformSummary::new(triple),
            libdir: libdir(&input.target_libdir),
        })
        .into_iter()
        .collect();
    let target_platform = input.cross_triple.unwrap_or(input.host_triple);
    BinaryListSummary {
        rust_build_meta: RustBuildMeta {
            target_directory: target_dir.clone(),
            build_directory: None,
            base_output_directories: base_output_directories.into_iter().collect(),
            non_test_binaries,
            build_script_out_dirs: out_dirs,
            build_script_info: Some(infos),
            linked_paths: linked_paths.into_iter().collect(),
            platforms: Some(Platforms { host, targets }),
            target_platforms: vec![PlatformSummary::new(target_platform)],
            target_platform: input.cross_triple.map(String::from),
        },
        rust_binaries: binaries
            .iter()
            .map(|b| {
                let binary = RustTestBinary {
                    binary_id: b.id.clone(),
                    binary_name: b.target_name.clone(),
                    package_id: b.package_id.repr.clone(),
                    kind: nextest_kind(&b.kind).to_string(),
                    binary_path: b.path.clone(),
                    build_platform: if b.kind == TargetKind::ProcMacro { "host" } else { "target" }
                        .into(),
                };
                (b.id.clone(), binary)
            })
            .collect(),
    }
}

/// nextest's `kind` of a test binary: every lib-like crate type is `lib`.
fn nextest_kind(kind: &TargetKind) -> String {
    if is_lib_like(kind) { "lib".into() } else { kind.to_string() }
}

/// Writes the archive to `path` (zstd `level`; 0 is zstd's default).
pub fn write(
    path: &Utf8Path,
    level: i32,
    input: &ArchiveInput<'_>,
    workspace_root: &Utf8Path,
) -> Result<ArchiveStats, ArchiveError> {
    let create = |source: io::Error| ArchiveError::Create { archive: path.to_path_buf(), source };
    let dir = path.parent().filter(|d| !d.as_str().is_empty()).unwrap_or(Utf8Path::new("."));
    let tmp = tempfile::Builder::new()
        .prefix(".xdist-archive-")
        .suffix(".part")
        .tempfile_in(dir)
        .map_err(create)?;
    let mut encoder = zstd::stream::write::Encoder::new(tmp, level).map_err(create)?;
    encoder.include_checksum(true).map_err(create)?;
    let mut writer = EntryWriter {
        sink: TarSink(tar::Builder::new(encoder)),
        seen: HashSet::new(),
        stats: ArchiveStats::default(),
        archive: path,
    };
    add_entries(&mut writer, input, workspace_root)?;
    let stats = std::mem::take(&mut writer.stats);
    let encoder = writer.sink.0.into_inner().map_err(create)?;
    let mut tmp = encoder.finish().map_err(create)?;
    tmp.flush().map_err(create)?;
    tmp.persist(path).map_err(|e| create(e.error))?;
    Ok(stats)
}

/// Feeds `feed` what [`write`] would put in an archive, without reading a file: each
/// entry's name, the bytes of those written from memory, and for a file on disk its size,
/// modification time and inode (cargo writes a new file for every build). The duration
/// history is left out (only a controller reads it). Equal identities: an archive written
/// before still holds this build.
pub fn identity(
    input: &ArchiveInput<'_>,
    workspace_root: &Utf8Path,
    feed: &mut dyn FnMut(&[u8]),
) -> Result<(), ArchiveError> {
    let mut writer = EntryWriter {
        sink: IdentitySink(feed),
        seen: HashSet::new(),
        stats: ArchiveStats::default(),
        archive: Utf8Path::new("(identity)"),
    };
    add_entries(&mut writer, input, workspace_root)
}

/// Every entry of the archive of `input`, in nextest's order.
fn add_entries<S: Sink>(
    writer: &mut EntryWriter<'_, S>,
    input: &ArchiveInput<'_>,
    workspace_root: &Utf8Path,
) -> Result<(), ArchiveError> {
    let archive = writer.archive.to_path_buf();
    let create = |source: io::Error| ArchiveError::Create { archive: archive.clone(), source };
    let summary = summary(input);
    let json = serde_json::to_string_pretty(&summary).map_err(io::Error::other).map_err(create)?;
    writer.add_bytes(BINARIES_METADATA, json.as_bytes(), 0o664).map_err(create)?;
    writer
        .add_bytes(CARGO_METADATA, input.cargo_metadata_json.as_bytes(), 0o664)
        .map_err(create)?;
    let target_dir = &input.build.target_dir;
    for (_, binary) in &summary.rust_binaries {
        writer.add_under_target(target_dir, &binary.binary_path)?;
        writer.stats.binaries += 1;
    }
    let meta = &summary.rust_build_meta;
    for binary in meta.non_test_binaries.values().flatten() {
        writer.add_under_target(target_dir, &target_dir.join(&binary.path))?;
    }
    for dir in meta.build_script_out_dirs.values().chain(&meta.linked_paths) {
        writer.add_top_level(target_dir, &target_dir.join(dir))?;
    }
    let manifest = format!("{{\"format-version\":{FORMAT_VERSION}}}\n");
    writer.add_bytes(XDIST_MANIFEST, manifest.as_bytes(), 0o664).map_err(create)?;
    let history = History::path(target_dir);
    if history.is_file() {
        writer.add_file(&history, HISTORY)?;
    }
    let config = workspace_root.join(".config").join("xdist.toml");
    if config.is_file() {
        writer.add_file(&config, XDIST_CONFIG)?;
    }
    let libdirs = [
        (&input.host_libdir, super::extract::HOST_LIBDIR),
        (&input.target_libdir, super::extract::TARGET_LIBDIR),
    ];
    for (libdir, into) in libdirs {
        if let Some(libstd) = libdir.as_deref().and_then(find_libstd) {
            let name = format!("{into}/{}", libstd.file_name().unwrap_or_default());
            writer.add_file(&libstd, &name)?;
        } else if (libdir.is_some() || into == super::extract::HOST_LIBDIR) && S::WARNS {
            eprintln!(
                "warning: the standard library's dynamic library was not found; the archive goes without it"
            );
        }
        if input.cross_triple.is_none() {
            break;
        }
    }
    Ok(())
}

/// The duration history's name in an archive.
pub const HISTORY: &str = "target/xdist/durations.json";

/// Where the entries go.
trait Sink {
    /// Whether a missing piece is worth a warning (only when writing).
    const WARNS: bool;
    /// An entry from memory.
    fn bytes(&mut self, name: &str, bytes: &[u8], mode: u32) -> io::Result<()>;
    /// The file at `path` as `name`; returns its size.
    fn file(&mut self, path: &Utf8Path, name: &str) -> io::Result<u64>;
}

/// Into a tar stream.
struct TarSink<W: Write>(tar::Builder<W>);

impl<W: Write> Sink for TarSink<W> {
    const WARNS: bool = true;

    /// As nextest writes its JSON files.
    fn bytes(&mut self, name: &str, bytes: &[u8], mode: u32) -> io::Result<()> {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(mode);
        header.set_uid(0);
        header.set_gid(0);
        let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
        header.set_mtime(now.as_secs());
        header.set_entry_type(tar::EntryType::Regular);
        self.0.append_data(&mut header, name, bytes)
    }

    /// Symlinks followed, with the file's mode and mtime.
    fn file(&mut self, path: &Utf8Path, name: &str) -> io::Result<u64> {
        let size = fs::metadata(path)?.len();
        let mut file = fs::File::open(path)?;
        self.0.append_file(name, &mut file)?;
        Ok(size)
    }
}

/// Into a build's identity (see [`identity`]).
struct IdentitySink<'f>(&'f mut dyn FnMut(&[u8]));

impl IdentitySink<'_> {
    fn field(&mut self, bytes: &[u8]) {
        (self.0)(&(bytes.len() as u64).to_le_bytes());
        (self.0)(bytes);
    }
}

impl Sink for IdentitySink<'_> {
    const WARNS: bool = false;

    fn bytes(&mut self, name: &str, bytes: &[u8], mode: u32) -> io::Result<()> {
        self.field(name.as_bytes());
        self.field(&mode.to_le_bytes());
        self.field(bytes);
        Ok(())
    }

    fn file(&mut self, path: &Utf8Path, name: &str) -> io::Result<u64> {
        use std::os::unix::fs::MetadataExt;
        if name == HISTORY {
            return Ok(0);
        }
        let meta = fs::metadata(path)?;
        self.field(name.as_bytes());
        self.field(path.as_str().as_bytes());
        let stamp = [meta.len(), meta.mtime() as u64, meta.mtime_nsec() as u64, meta.ino()];
        for word in stamp.into_iter().chain([u64::from(meta.mode())]) {
            self.field(&word.to_le_bytes());
        }
        Ok(meta.len())
    }
}

/// The first `libstd-*.so` / `libstd-*.dylib` / `std-*.dll` in `libdir`, as nextest picks it.
fn find_libstd(libdir: &Utf8Path) -> Option<Utf8PathBuf> {
    let mut names: Vec<Utf8PathBuf> = libdir
        .read_dir_utf8()
        .ok()?
        .flatten()
        .map(|e| e.path().to_path_buf())
        .filter(|p| {
            let name = p.file_name().unwrap_or_default();
            (name.starts_with("libstd-") && (name.ends_with(".so") || name.ends_with(".dylib")))
                || (name.starts_with("std-") && name.ends_with(".dll"))
        })
        .collect();
    names.sort();
    names.into_iter().next()
}

struct EntryWriter<'a, S: Sink> {
    sink: S,
    seen: HashSet<String>,
    stats: ArchiveStats,
    archive: &'a Utf8Path,
}

impl<S: Sink> EntryWriter<'_, S> {
    /// An entry written from memory; the first writer of a name wins.
    fn add_bytes(&mut self, name: &str, bytes: &[u8], mode: u32) -> io::Result<()> {
        if !self.seen.insert(name.to_string()) {
            return Ok(());
        }
        self.sink.bytes(name, bytes, mode)?;
        self.stats.files += 1;
        self.stats.bytes += bytes.len() as u64;
        Ok(())
    }

    /// A file on disk as `name`; the first writer of a name wins.
    fn add_file(&mut self, path: &Utf8Path, name: &str) -> Result<(), ArchiveError> {
        if !self.seen.insert(name.to_string()) {
            return Ok(());
        }
        let size = self.sink.file(path, name).map_err(|source| ArchiveError::Add {
            archive: self.archive.to_path_buf(),
            path: path.to_path_buf(),
            source,
        })?;
        self.stats.files += 1;
        self.stats.bytes += size;
        Ok(())
    }

    /// A file inside the target dir, at `target/<its path relative to the target dir>`.
    fn add_under_target(
        &mut self,
        target_dir: &Utf8Path,
        path: &Utf8Path,
    ) -> Result<(), ArchiveError> {
        let relative = path.strip_prefix(target_dir).map_err(|_| ArchiveError::Add {
            archive: self.archive.to_path_buf(),
            path: path.to_path_buf(),
            source: io::Error::other(format!("not inside the target dir {target_dir}")),
        })?;
        self.add_file(path, &format!("target/{relative}"))
    }

    /// The files directly inside `dir` (no recursion, as nextest archives them); a missing
    /// dir is left out with a warning.
    fn add_top_level(&mut self, target_dir: &Utf8Path, dir: &Utf8Path) -> Result<(), ArchiveError> {
        let entries = match dir.read_dir_utf8() {
            Ok(entries) => entries,
            Err(e) => {
                if S::WARNS {
                    eprintln!("warning: {dir} is not archived: {e}");
                }
                return Ok(());
            }
        };
        let mut files: Vec<Utf8PathBuf> =
            entries.flatten().map(|e| e.path().to_path_buf()).filter(|p| p.is_file()).collect();
        files.sort();
        for file in files {
            self.add_under_target(target_dir, &file)?;
        }
        Ok(())
    }
}
