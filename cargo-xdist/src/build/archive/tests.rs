//! Hostile and broken archives: each is refused with an error naming the entry, and nothing
//! is written outside the extraction dir. The archives are made byte by byte here (raw tar
//! headers, so paths the `tar` crate would refuse to write can be written).

use std::fs;
use std::os::unix::fs::symlink;

use camino::{Utf8Path, Utf8PathBuf};

use super::extract::{checked_path, unpack};
use super::read::open;
use super::{BINARIES_METADATA, CARGO_METADATA, XDIST_MANIFEST};
use crate::cli::archive::ArchiveSource;
use crate::errors::ArchiveError;

/// A scratch dir: `base/` holds the archive and `dest/`; `outside/` is where an escape
/// would land.
struct Scratch {
    _dir: tempfile::TempDir,
    base: Utf8PathBuf,
}

impl Scratch {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let base = Utf8PathBuf::from_path_buf(dir.path().canonicalize().unwrap()).unwrap();
        fs::create_dir(base.join("dest")).unwrap();
        fs::create_dir(base.join("outside")).unwrap();
        Self { _dir: dir, base }
    }

    fn dest(&self) -> Utf8PathBuf {
        self.base.join("dest")
    }

    fn archive(&self, tar: &[u8]) -> Utf8PathBuf {
        let path = self.base.join("a.tar.zst");
        fs::write(&path, zstd::encode_all(tar, 0).unwrap()).unwrap();
        path
    }

    /// Every path under `base` but the archive and what is under `dest/`.
    fn written_outside_dest(&self) -> Vec<String> {
        let mut found = Vec::new();
        let mut stack = vec![self.base.clone()];
        while let Some(dir) = stack.pop() {
            for entry in dir.read_dir_utf8().unwrap().flatten() {
                let path = entry.path().to_path_buf();
                let rel = path.strip_prefix(&self.base).unwrap().to_string();
                if rel == "dest" || rel.starts_with("dest/") || rel == "a.tar.zst" {
                    continue;
                }
                if rel != "outside" {
                    found.push(rel);
                }
                if entry.file_type().unwrap().is_dir() {
                    stack.push(path);
                }
            }
        }
        found
    }
}

/// One raw tar entry: a GNU header with `name` written as is, then the data.
fn entry(name: &[u8], kind: u8, data: &[u8], link: &[u8]) -> Vec<u8> {
    let mut header = tar::Header::new_gnu();
    header.as_old_mut().name[..name.len()].copy_from_slice(name);
    header.as_old_mut().linkname[..link.len()].copy_from_slice(link);
    header.set_size(data.len() as u64);
    header.set_mode(0o644);
    header.set_mtime(1);
    header.set_entry_type(tar::EntryType::new(kind));
    header.set_cksum();
    let mut out = header.as_bytes().to_vec();
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(512) * 512, 0);
    out
}

fn file(name: &str, data: &[u8]) -> Vec<u8> {
    entry(name.as_bytes(), b'0', data, b"")
}

fn tar_of(entries: &[Vec<u8>]) -> Vec<u8> {
    let mut out: Vec<u8> = entries.concat();
    out.extend_from_slice(&[0; 1024]);
    out
}

fn refused(scratch: &Scratch, tar: &[u8]) -> String {
    let archive = scratch.archive(tar);
    let err = unpack(&archive, &scratch.dest(), 1 << 30).expect_err("refused");
    assert!(!err.to_string().contains('\n'), "{err}");
    assert_eq!(scratch.written_outside_dest(), Vec::<String>::new(), "{err}");
    err.to_string()
}

#[test]
fn paths_that_leave_target_are_refused_by_name() {
    let cases = [
        ("target/../../outside/evil", "`..` components"),
        ("target/debug/../../../evil", "`..` components"),
        ("/tmp/xdist-absolute-evil", "absolute paths"),
        ("src/main.rs", "does not start with `target/`"),
        ("./target/debug/x", "plain path components"),
        ("target//x", "plain path components"),
        ("evil", "does not start with `target/`"),
    ];
    for (name, reason) in cases {
        let scratch = Scratch::new();
        let tar = tar_of(&[file("target/ok", b"ok"), file(name, b"evil")]);
        let message = refused(&scratch, &tar);
        assert!(message.contains(&format!("refused entry `{name}`")), "{message}");
        assert!(message.contains(reason), "{name}: {message}");
        assert!(!Utf8Path::new("/tmp/xdist-absolute-evil").exists());
    }
}

#[test]
fn links_and_devices_are_refused() {
    for (kind, reason) in [
        (b'2', "symbolic links"),
        (b'1', "hard links"),
        (b'3', "only regular files"),
        (b'6', "only regular"),
    ] {
        let scratch = Scratch::new();
        let link = scratch.base.join("outside");
        let tar = tar_of(&[
            entry(b"target/escape", kind, b"", link.as_str().as_bytes()),
            file("target/escape/planted", b"evil"),
        ]);
        let message = refused(&scratch, &tar);
        assert!(message.contains("refused entry `target/escape`"), "{message}");
        assert!(message.contains(reason), "{message}");
        assert_eq!(fs::read_dir(&link).unwrap().count(), 0, "{message}");
    }
}

#[test]
fn a_symlink_already_in_the_destination_is_not_followed() {
    let scratch = Scratch::new();
    symlink(scratch.base.join("outside"), scratch.dest().join("target")).unwrap();
    let message = refused(&scratch, &tar_of(&[file("target/planted", b"evil")]));
    assert!(message.contains("cannot write entry `target/planted`"), "{message}");
    assert_eq!(fs::read_dir(scratch.base.join("outside")).unwrap().count(), 0);

    // A symlink in a file's place is replaced, not written through.
    let scratch = Scratch::new();
    fs::create_dir(scratch.dest().join("target")).unwrap();
    let victim = scratch.base.join("outside").join("victim");
    fs::write(&victim, b"keep").unwrap();
    symlink(&victim, scratch.dest().join("target").join("x")).unwrap();
    unpack(&scratch.archive(&tar_of(&[file("target/x", b"new")])), &scratch.dest(), 1 << 20)
        .unwrap();
    assert_eq!(fs::read(&victim).unwrap(), b"keep");
    assert_eq!(fs::read(scratch.dest().join("target/x")).unwrap(), b"new");
}

#[test]
fn a_bad_header_checksum_is_an_error_naming_the_entry_before() {
    let scratch = Scratch::new();
    let mut bad = file("target/second", b"data");
    bad[148..156].copy_from_slice(b"0000000\0");
    let message = refused(&scratch, &tar_of(&[file("target/first", b"1"), bad]));
    assert!(message.contains("the entry after `target/first`"), "{message}");
    assert!(message.contains("checksum"), "{message}");
}

#[test]
fn a_truncated_stream_is_an_error() {
    let scratch = Scratch::new();
    let big: Vec<u8> = (0..200_000u32).flat_map(|i| i.to_le_bytes()).collect();
    let tar = tar_of(&[file("target/first", b"1"), file("target/big", &big)]);
    let whole = zstd::encode_all(&tar[..], 0).unwrap();
    for cut in [whole.len() / 2, whole.len() - 1, whole.len() - 4] {
        let path = scratch.base.join("a.tar.zst");
        fs::write(&path, &whole[..cut]).unwrap();
        let _ = fs::remove_dir_all(scratch.dest().join("target"));
        let err = unpack(&path, &scratch.dest(), 1 << 30).expect_err("truncated");
        assert!(matches!(err, ArchiveError::Read { .. }), "cut at {cut}: {err}");
    }
    // Zeros after the end marker (GNU tar pads to whole records): the marker is read long
    // before the frame ends,
    // and a frame cut in that padding is still an error.
    let mut padded = tar.clone();
    padded.resize(tar.len() + (2 << 20), 0);
    let whole = zstd::encode_all(&padded[..], 0).unwrap();
    let path = scratch.base.join("a.tar.zst");
    fs::write(&path, &whole[..whole.len() - 2]).unwrap();
    let _ = fs::remove_dir_all(scratch.dest().join("target"));
    let err = unpack(&path, &scratch.dest(), 1 << 30).expect_err("truncated in the padding");
    assert!(err.to_string().contains("the end of the zstd stream"), "{err}");
    // An uncompressed tar cut mid-entry (zstd frame whole).
    let cut_tar = &tar[..tar.len() - 1024 - 300_000];
    let message = refused(&scratch, cut_tar);
    assert!(message.contains("entry `target/big`"), "{message}");
}

#[test]
fn a_decompression_bomb_stops_at_the_limit() {
    let scratch = Scratch::new();
    let zeros = vec![0u8; 4 << 20];
    let tar = tar_of(&[file("target/a", &zeros), file("target/b", &zeros)]);
    let archive = scratch.archive(&tar);
    assert!(fs::metadata(&archive).unwrap().len() < 64 << 10, "compresses well");
    let err = unpack(&archive, &scratch.dest(), 6 << 20).expect_err("over the limit");
    assert!(err.to_string().contains("entry `target/b`"), "{err}");
    assert!(!scratch.dest().join("target/b").exists());
    let unpacked = unpack(&archive, &scratch.dest(), 8 << 20).unwrap();
    assert_eq!(unpacked.bytes, 8 << 20);
}

#[test]
fn directory_entries_and_pax_headers_are_read() {
    let scratch = Scratch::new();
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_ustar();
    header.set_entry_type(tar::EntryType::Directory);
    header.set_mode(0o755);
    header.set_size(0);
    builder.append_data(&mut header, "target/dir/", &[][..]).unwrap();
    let long = format!("target/{}/file", "d".repeat(150));
    let mut header = tar::Header::new_ustar();
    header.set_mode(0o755);
    header.set_size(2);
    builder.append_data(&mut header, &long, &b"hi"[..]).unwrap();
    let tar = builder.into_inner().unwrap();
    let unpacked = unpack(&scratch.archive(&tar), &scratch.dest(), 1 << 20).unwrap();
    assert_eq!(unpacked.files, 1);
    assert!(scratch.dest().join("target/dir").is_dir());
    assert_eq!(fs::read(scratch.dest().join(&long)).unwrap(), b"hi");
}

fn source(scratch: &Scratch, archive: Utf8PathBuf) -> (ArchiveSource, Utf8PathBuf) {
    let source = ArchiveSource {
        archive_file: Some(archive.clone()),
        extract_to: Some(scratch.dest()),
        extract_max_bytes: 1 << 30,
        ..ArchiveSource::default()
    };
    (source, archive)
}

fn open_error(scratch: &Scratch, tar: &[u8]) -> String {
    let (source, archive) = source(scratch, scratch.archive(tar));
    let Err(err) = open(&source, &archive) else { panic!("opened") };
    assert_eq!(scratch.written_outside_dest(), Vec::<String>::new());
    err.to_string()
}

#[test]
fn missing_or_malformed_metadata_is_named() {
    let scratch = Scratch::new();
    let message = open_error(&scratch, &tar_of(&[file("target/debug/x", b"x")]));
    assert!(
        message.contains(&format!("metadata file `{BINARIES_METADATA}` not found")),
        "{message}"
    );

    let scratch = Scratch::new();
    let message =
        open_error(&scratch, &tar_of(&[file(BINARIES_METADATA, b"{\"rust-build-meta\":")]));
    assert!(message.contains(&format!("`{BINARIES_METADATA}` is malformed")), "{message}");

    let summary = br#"{"rust-build-meta": {"target-directory": "/t", "base-output-directories": [],
        "non-test-binaries": {}, "linked-paths": []}, "rust-binaries": {}}"#;
    let scratch = Scratch::new();
    let message = open_error(&scratch, &tar_of(&[file(BINARIES_METADATA, summary)]));
    assert!(message.contains(&format!("metadata file `{CARGO_METADATA}` not found")), "{message}");

    let scratch = Scratch::new();
    let tar = tar_of(&[file(BINARIES_METADATA, summary), file(CARGO_METADATA, b"[]")]);
    let message = open_error(&scratch, &tar);
    assert!(message.contains(&format!("`{CARGO_METADATA}` is malformed")), "{message}");
}

#[test]
fn a_newer_format_version_is_refused() {
    let summary = br#"{"rust-build-meta": {"target-directory": "/t", "base-output-directories": [],
        "non-test-binaries": {}, "linked-paths": []}, "rust-binaries": {}}"#;
    let metadata = br#"{"packages": [], "workspace_members": [], "resolve": null,
        "target_directory": "/t", "version": 1, "workspace_root": "/nowhere", "metadata": null}"#;
    let scratch = Scratch::new();
    let tar = tar_of(&[
        file(BINARIES_METADATA, summary),
        file(CARGO_METADATA, metadata),
        file(XDIST_MANIFEST, b"{\"format-version\": 2}"),
    ]);
    let message = open_error(&scratch, &tar);
    assert!(message.contains("format version 2 is newer"), "{message}");
}

#[test]
fn an_existing_extraction_is_kept_unless_overwriting() {
    let scratch = Scratch::new();
    fs::create_dir(scratch.dest().join("target")).unwrap();
    let (mut source, archive) =
        source(&scratch, scratch.archive(&tar_of(&[file("target/x", b"x")])));
    let Err(err) = open(&source, &archive) else { panic!("opened") };
    assert!(err.to_string().contains("already exists"), "{err}");
    assert!(!scratch.dest().join("target/x").exists());
    source.extract_overwrite = true;
    let Err(err) = open(&source, &archive) else { panic!("opened") };
    assert!(err.to_string().contains("not found"), "{err}");
    assert!(scratch.dest().join("target/x").exists());
}

#[test]
fn checked_paths_keep_plain_components() {
    assert_eq!(checked_path("target/debug/x").unwrap(), Utf8PathBuf::from("target/debug/x"));
    assert_eq!(checked_path("target/dir/").unwrap(), Utf8PathBuf::from("target/dir"));
    assert!(checked_path("target").is_ok());
    assert!(checked_path("targets/x").is_err());
    assert!(checked_path("").is_err());
}

#[test]
fn metadata_naming_binaries_outside_the_archive_is_refused() {
    let metadata = br#"{"packages": [], "workspace_members": [], "resolve": null,
        "target_directory": "/t", "version": 1, "workspace_root": "/", "metadata": null}"#;
    let binary = |path: &str| {
        format!(
            r#"{{"rust-build-meta": {{"target-directory": "/t", "base-output-directories": [],
            "non-test-binaries": {{}}, "linked-paths": []}}, "rust-binaries": {{"p": {{
            "binary-id": "p", "binary-name": "p", "package-id": "p", "kind": "lib",
            "binary-path": "{path}", "build-platform": "target"}}}}}}"#
        )
    };
    let linked = r#"{"rust-build-meta": {"target-directory": "/t", "base-output-directories": [],
        "non-test-binaries": {}, "linked-paths": ["../../usr/lib"]}, "rust-binaries": {}}"#;
    let cases = [binary("/usr/bin/env"), binary("/t/../usr/bin/env"), linked.to_string()];
    for summary in cases {
        let scratch = Scratch::new();
        let tar =
            tar_of(&[file(BINARIES_METADATA, summary.as_bytes()), file(CARGO_METADATA, metadata)]);
        let message = open_error(&scratch, &tar);
        assert!(message.contains("outside the archive's target dir"), "{message}");
    }
}
