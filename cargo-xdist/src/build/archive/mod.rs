//! nextest-compatible test archives: [`write`] turns a build into a `.tar.zst` that
//! `cargo nextest run --archive-file` runs, [`extract`] unpacks one without trusting it,
//! and [`read`] turns an unpacked archive (ours or nextest's) back into a build whose paths
//! point where the archive and the sources now are. [`summary`] is the archive's
//! `binaries-metadata.json`.

pub mod extract;
pub mod read;
pub mod summary;
pub mod write;

#[cfg(test)]
mod tests;

/// nextest's description of the build.
pub const BINARIES_METADATA: &str = "target/nextest/binaries-metadata.json";
/// `cargo metadata` of the workspace, as cargo printed it.
pub const CARGO_METADATA: &str = "target/nextest/cargo-metadata.json";
/// cargo-xdist's own manifest: `{"format-version": N}`. nextest ignores it.
pub const XDIST_MANIFEST: &str = "target/xdist/archive.json";
/// The build machine's `.config/xdist.toml` (its groups), for a run without the sources'.
pub const XDIST_CONFIG: &str = "target/xdist/workspace/.config/xdist.toml";
/// The newest format of cargo-xdist's additions this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;
