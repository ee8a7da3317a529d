//! Unpacks a `.tar.zst` archive into a directory, trusting nothing in it (reference notes
//! §1.6, and more): every entry's path must be UTF-8, start with `target/` and have only
//! plain components; only regular files and directories are written (a symlink, hard link,
//! or device entry is refused; GNU sparse files are unpacked whole); tar's header checksums are checked (by the `tar`
//! crate) and zstd's content checksum too; a stream that ends early is an error, not a
//! shorter archive; the bytes written are capped (a decompression bomb stops at the cap);
//! and nothing already in the directory is followed out of it: an existing symlink on the
//! way to an entry is an error, one in the entry's place is replaced, not written through.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read};
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, SystemTime};

use camino::{Utf8Path, Utf8PathBuf};
use tar::EntryType;

use crate::errors::ArchiveError;

/// Where nextest keeps the host's and the cross target's standard library in an archive.
pub const HOST_LIBDIR: &str = "target/nextest/libdirs/host";
/// See [`HOST_LIBDIR`].
pub const TARGET_LIBDIR: &str = "target/nextest/libdirs/target/0";

/// What was unpacked.
#[derive(Debug, Default)]
pub struct Unpacked {
    /// Regular files written.
    pub files: usize,
    /// Their bytes.
    pub bytes: u64,
    /// Whether an entry lies under [`HOST_LIBDIR`].
    pub host_libdir: bool,
    /// Whether an entry lies under [`TARGET_LIBDIR`].
    pub target_libdir: bool,
}

/// Unpacks `archive` into `dest` (an existing directory), writing at most `max_bytes`.
pub fn unpack(
    archive: &Utf8Path,
    dest: &Utf8Path,
    max_bytes: u64,
) -> Result<Unpacked, ArchiveError> {
    let file = File::open(archive)
        .map_err(|source| ArchiveError::Open { archive: archive.to_path_buf(), source })?;
    let read_error = |context: String, source: io::Error| ArchiveError::Read {
        archive: archive.to_path_buf(),
        context,
        source,
    };
    let decoder = zstd::stream::read::Decoder::new(BufReader::new(file))
        .map_err(|source| read_error("the zstd stream".into(), source))?;
    let mut tar = tar::Archive::new(decoder);
    let mut unpacked = Unpacked::default();
    let mut last: Option<String> = None;
    let after = |last: &Option<String>| match last {
        Some(name) => format!("the entry after `{name}`"),
        None => "the first entry".to_string(),
    };
    let entries = tar.entries().map_err(|source| read_error(after(&last), source))?;
    for entry in entries {
        let mut entry = entry.map_err(|source| read_error(after(&last), source))?;
        let name = String::from_utf8(entry.path_bytes().into_owned()).map_err(|e| {
            refused(archive, &String::from_utf8_lossy(e.as_bytes()), "the path is not UTF-8")
        })?;
        let relative = checked_path(&name).map_err(|reason| refused(archive, &name, reason))?;
        let kind = entry.header().entry_type();
        let target = dest.join(&relative);
        match kind {
            EntryType::Directory => {
                make_dirs(dest, &relative, true).map_err(|e| write_error(archive, &name, e))?;
            }
            // GNU sparse entries are regular files with holes: nextest writes them for sparse
            // binaries, and the tar crate reads them back whole.
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
                let size = entry.size();
                let room = max_bytes.saturating_sub(unpacked.bytes);
                if size > room {
                    return Err(ArchiveError::TooLarge {
                        archive: archive.into(),
                        entry: name,
                        max_bytes,
                    });
                }
                make_dirs(dest, &relative, false).map_err(|e| write_error(archive, &name, e))?;
                let mut out = replace_file(&target).map_err(|e| write_error(archive, &name, e))?;
                let copied = io::copy(&mut (&mut entry).take(size), &mut out)
                    .map_err(|source| read_error(format!("entry `{name}`"), source))?;
                if copied != size {
                    let short = io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("the stream ends after {copied} of {size} bytes"),
                    );
                    return Err(read_error(format!("entry `{name}`"), short));
                }
                finish_file(&out, entry.header()).map_err(|e| write_error(archive, &name, e))?;
                unpacked.files += 1;
                unpacked.bytes += size;
            }
            other => {
                let what = match other {
                    EntryType::Symlink => "symbolic links are not allowed",
                    EntryType::Link => "hard links are not allowed",
                    _ => "only regular files and directories are allowed",
                };
                return Err(refused(archive, &name, what));
            }
        }
        unpacked.host_libdir |= name.starts_with(&format!("{HOST_LIBDIR}/"));
        unpacked.target_libdir |= name.starts_with(&format!("{TARGET_LIBDIR}/"));
        last = Some(name);
    }
    // The tar stream ends at its end marker; read zstd's frame to its end, so a cut stream
    // or a wrong content checksum is found.
    io::copy(&mut tar.into_inner(), &mut io::sink())
        .map_err(|source| read_error("the end of the zstd stream".into(), source))?;
    Ok(unpacked)
}

fn refused(archive: &Utf8Path, entry: &str, reason: &'static str) -> ArchiveError {
    ArchiveError::Refused { archive: archive.to_path_buf(), entry: entry.to_string(), reason }
}

fn write_error(archive: &Utf8Path, entry: &str, source: io::Error) -> ArchiveError {
    ArchiveError::Write { archive: archive.to_path_buf(), entry: entry.to_string(), source }
}

/// The entry's path as plain components under `target/`, or why it is refused.
pub fn checked_path(name: &str) -> Result<Utf8PathBuf, &'static str> {
    if name.starts_with('/') {
        return Err("absolute paths are not allowed");
    }
    let trimmed = name.strip_suffix('/').unwrap_or(name);
    let parts: Vec<&str> = trimmed.split('/').collect();
    if parts.contains(&"..") {
        return Err("`..` components are not allowed");
    }
    if parts.iter().any(|p| p.is_empty() || *p == "." || p.contains('\\')) {
        return Err("only plain path components are allowed");
    }
    if parts.first() != Some(&"target") {
        return Err("the path does not start with `target/`");
    }
    Ok(parts.iter().collect())
}

/// Creates the directories leading to `relative` (and `relative` itself when `whole`)
/// under `dest`, refusing to pass through anything that is not a real directory.
fn make_dirs(dest: &Utf8Path, relative: &Utf8Path, whole: bool) -> io::Result<()> {
    let components: Vec<_> = relative.components().collect();
    let upto = if whole { components.len() } else { components.len().saturating_sub(1) };
    let mut dir = dest.to_path_buf();
    for component in &components[..upto] {
        dir.push(component);
        match fs::symlink_metadata(&dir) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => {
                return Err(io::Error::other(format!(
                    "{dir} is in the way: it exists and is not a directory (a symlink is never followed)"
                )));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => fs::create_dir(&dir)?,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// A new file at `path`; whatever was there (a file, a symlink) is removed, not followed.
fn replace_file(path: &Utf8Path) -> io::Result<File> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => {
            return Err(io::Error::other(format!("{path} is a directory")));
        }
        Ok(_) => fs::remove_file(path)?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    OpenOptions::new().write(true).create_new(true).open(path)
}

/// The entry's permission bits (never set-id bits) and modification time.
fn finish_file(file: &File, header: &tar::Header) -> io::Result<()> {
    let mode = header.mode().map_or(0o644, |m| m & 0o777);
    file.set_permissions(fs::Permissions::from_mode(mode))?;
    if let Ok(mtime) = header.mtime() {
        file.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(mtime))?;
    }
    Ok(())
}
