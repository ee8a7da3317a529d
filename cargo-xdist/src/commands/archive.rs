//! `cargo xdist archive`: build the tests, then write them, with what running them needs,
//! to a nextest-compatible `.tar.zst` (docs/archives.md).

use std::time::Instant;

use crate::build::archive::write::{self, ArchiveInput};
use crate::build::cargo::{self as cargo_build, Libdirs};
use crate::cli::archive::ArchiveArgs;
use crate::errors::{ArchiveError, XdistError, exit_code};

/// Builds and archives; returns the exit code.
pub fn archive(args: &ArchiveArgs) -> Result<u8, XdistError> {
    let path = &args.archive_file;
    if !args.archive_format.accepts(path) {
        return Err(ArchiveError::Format { archive: path.clone() }.into());
    }
    let build = cargo_build::build(&args.cargo)?;
    let started = Instant::now();
    let host_triple =
        cargo_build::host_triple().map_err(|detail| ArchiveError::HostTriple { detail })?;
    let cross_triple = args.cargo.target.as_deref();
    let metadata_triple = cross_triple.unwrap_or(&host_triple);
    let cargo_metadata_json = cargo_build::full_metadata_json(&args.cargo, metadata_triple)
        .map_err(|detail| ArchiveError::Metadata { detail })?;
    let Libdirs::Sysroot(sysroot) = &build.libdirs else {
        unreachable!("a local build finds the sysroot")
    };
    let libdir = |triple: &str| {
        let dir = sysroot.as_ref()?.join("lib").join("rustlib").join(triple).join("lib");
        dir.is_dir().then_some(dir)
    };
    let input = ArchiveInput {
        build: &build,
        cargo_metadata_json: &cargo_metadata_json,
        host_triple: &host_triple,
        cross_triple,
        host_libdir: libdir(&host_triple),
        target_libdir: cross_triple.and_then(libdir),
    };
    let workspace_root = &build.metadata.workspace_root;
    let stats = write::write(path, args.zstd_level, &input, workspace_root)?;
    eprintln!(
        "    Archived {} files ({} test binaries, {:.1} MB) to {path} in {:.2}s",
        stats.files,
        stats.binaries,
        stats.bytes as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );
    Ok(exit_code::OK)
}
