//! The archive shipped to ssh sites when the run built locally, kept in
//! `<target-dir>/xdist/ship/archive-ID.tar.zst` beside `archive-ID.key` (its content key):
//! ID is the build's identity (every entry's name; the JSON entries' bytes; each file's
//! path, size, modification time and inode, as the listing cache identifies binaries), so
//! an unchanged build reuses the archive written before: it is neither written, compressed
//! nor read again. A changed build writes a new one (through a temporary file and a
//! rename) and removes all but the newest few others.

use std::os::unix::fs::MetadataExt;

use camino::{Utf8Path, Utf8PathBuf};

use super::ship::{self, Item};
use crate::build::archive::write::{self, ArchiveInput};
use crate::build::cargo::{self as cargo_build, Libdirs};
use crate::cli::RunArgs;

/// Archives kept besides the one a run uses (another build of the same target dir may be
/// shipping one of them at the same time).
const KEEP: usize = 3;

/// The run's archive as an item, and the standard library's dir the local setup points at
/// (the archive's copy replaces it remotely).
pub fn local_archive(
    build: &cargo_build::BuildOutput,
    args: &RunArgs,
) -> Result<(Item, Option<String>), String> {
    let host_triple = cargo_build::host_triple()?;
    let cross_triple = args.cargo.target.as_deref();
    let metadata_json =
        cargo_build::full_metadata_json(&args.cargo, cross_triple.unwrap_or(&host_triple))?;
    let Libdirs::Sysroot(sysroot) = &build.libdirs else {
        return Err("the local build has no sysroot".into());
    };
    let libdir = |triple: &str| {
        let dir = sysroot.as_ref()?.join("lib").join("rustlib").join(triple).join("lib");
        dir.is_dir().then_some(dir)
    };
    let target_libdir = cross_triple.and_then(libdir);
    let input = ArchiveInput {
        build,
        cargo_metadata_json: &metadata_json,
        host_triple: &host_triple,
        cross_triple,
        host_libdir: libdir(&host_triple),
        target_libdir: target_libdir.clone(),
    };
    let local_libdir = target_libdir.or_else(|| libdir(&host_triple)).map(String::from);
    let root = &build.metadata.workspace_root;
    let mut id = ship::Key::new();
    id.field(env!("CARGO_PKG_VERSION").as_bytes());
    write::identity(&input, root, &mut |bytes| id.add(bytes))
        .map_err(|e| format!("cannot read the build: {e}"))?;
    let dir = build.target_dir.join("xdist").join("ship");
    let archive = dir.join(format!("archive-{}.tar.zst", id.finish()));
    let key_file = archive.with_extension("key");
    if let Some(item) = reuse(&archive, &key_file) {
        return Ok((item, local_libdir));
    }
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot make {dir}: {e}"))?;
    write::write(&archive, 0, &input, root)
        .map_err(|e| format!("cannot write the run's archive: {e}"))?;
    let item = ship::archive_item(archive.as_std_path())
        .map_err(|e| format!("cannot read the archive {archive}: {e}"))?;
    let key = format!("{} {}\n", item.key, item.bytes);
    let tmp = key_file.with_extension(format!("key.{}.tmp", std::process::id()));
    // Without its key file the archive is only read again next time.
    if std::fs::write(&tmp, key).and_then(|()| std::fs::rename(&tmp, &key_file)).is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    prune(&dir, &archive);
    Ok((item, local_libdir))
}

/// The archive written before for this identity, if it and its key are there and whole.
fn reuse(archive: &Utf8Path, key_file: &Utf8Path) -> Option<Item> {
    let text = std::fs::read_to_string(key_file).ok()?;
    let (key, bytes) = text.trim_end().split_once(' ')?;
    let bytes: u64 = bytes.parse().ok()?;
    let on_disk = std::fs::metadata(archive).ok()?.len();
    (on_disk == bytes && key.len() == 32).then(|| Item {
        what: "archive",
        key: key.to_string(),
        file: archive.to_path_buf().into_std_path_buf(),
        bytes,
    })
}

/// Removes the archives (and keys) older than the newest [`KEEP`] besides `current`.
fn prune(dir: &Utf8Path, current: &Utf8Path) {
    let Ok(entries) = dir.read_dir_utf8() else { return };
    let mut old: Vec<(i64, Utf8PathBuf)> = entries
        .flatten()
        .map(|e| e.path().to_path_buf())
        .filter(|p| p != current && p.extension() == Some("zst"))
        .filter_map(|p| Some((std::fs::metadata(&p).ok()?.mtime(), p)))
        .collect();
    old.sort_by(|a, b| b.cmp(a));
    for (_, path) in old.into_iter().skip(KEEP) {
        let _ = std::fs::remove_file(path.with_extension("key"));
        let _ = std::fs::remove_file(&path);
    }
}
