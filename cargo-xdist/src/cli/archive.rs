//! The archive options: `cargo xdist archive` and `run|list --archive-file`, spelt as
//! cargo-nextest spells them.

use camino::Utf8PathBuf;
use clap::{Args, ValueEnum};

use super::CargoOptions;

/// `cargo xdist archive`.
#[derive(Debug, Args)]
pub struct ArchiveArgs {
    #[command(flatten)]
    pub cargo: CargoOptions,
    /// The archive to write (a `.tar.zst` file).
    #[arg(long, value_name = "PATH", help_heading = "Archive")]
    pub archive_file: Utf8PathBuf,
    /// The archive's format; `auto` goes by the file name.
    #[arg(long, value_enum, default_value_t = ArchiveFormat::Auto, help_heading = "Archive")]
    pub archive_format: ArchiveFormat,
    /// zstd compression level (-7 to 22; 0 is zstd's default).
    #[arg(long, value_name = "N", default_value_t = 0, allow_negative_numbers = true,
          value_parser = clap::value_parser!(i32).range(-7..=22), help_heading = "Archive")]
    pub zstd_level: i32,
}

/// Running from an archive instead of a build.
#[derive(Debug, Default, Args)]
#[command(next_help_heading = "Archive")]
pub struct ArchiveSource {
    /// Run the tests of this archive (`cargo xdist archive` or `cargo nextest archive`)
    /// instead of building.
    #[arg(long, value_name = "PATH", conflicts_with = "CargoOptions")]
    pub archive_file: Option<Utf8PathBuf>,
    /// The archive's format; `auto` goes by the file name.
    #[arg(long, value_enum, requires = "archive_file")]
    pub archive_format: Option<ArchiveFormat>,
    /// Where the workspace's sources are now (tests run in their package's dir there).
    #[arg(long, value_name = "DIR", requires = "archive_file")]
    pub workspace_remap: Option<Utf8PathBuf>,
    /// Unpack into this existing dir instead of a temporary one.
    #[arg(long, value_name = "DIR", requires = "archive_file")]
    pub extract_to: Option<Utf8PathBuf>,
    /// With --extract-to: write over an earlier extraction.
    #[arg(long, requires = "extract_to")]
    pub extract_overwrite: bool,
    /// Keep the temporary extraction dir (its path is printed).
    #[arg(long, requires = "archive_file", conflicts_with = "extract_to")]
    pub persist_extract_tempdir: bool,
    /// Refuse an archive that unpacks to more than this many bytes.
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_MAX_BYTES, requires = "archive_file")]
    pub extract_max_bytes: u64,
}

/// 64 GiB: far above any real build, far below a full disk.
pub const DEFAULT_MAX_BYTES: u64 = 64 << 30;

/// Archive formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ArchiveFormat {
    /// By the file name (it must end in `.tar.zst`).
    Auto,
    /// A zstd-compressed tar stream.
    #[value(alias = "tar-zstd")]
    TarZst,
}

impl ArchiveFormat {
    /// Whether `path` may be read or written in this format.
    pub fn accepts(self, path: &Utf8PathBuf) -> bool {
        self == ArchiveFormat::TarZst || path.as_str().ends_with(".tar.zst")
    }
}
