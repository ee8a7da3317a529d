//! The build step: `cargo test --no-run` with cargo's options and `cargo metadata`, giving
//! every test binary with its nextest binary id and what its environment needs (build
//! script out dirs, linked paths) — or the same read back from a test archive, with its
//! paths remapped to where the archive was unpacked and where the sources are now.

pub mod archive;
pub mod cargo;
pub mod doctests;
pub mod metadata_cache;
