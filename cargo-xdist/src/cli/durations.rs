//! The command line of the duration history: `--no-history` and `--durations-file` on
//! `run` and `list`, and `cargo xdist durations import|merge`.

use camino::Utf8PathBuf;
use clap::{Args, Subcommand};

/// Where a run's (or a listing's) duration history comes from.
#[derive(Debug, Default, Args)]
pub struct HistoryOptions {
    /// Do not use (or record) the durations of earlier runs.
    #[arg(long, conflicts_with = "durations_file", help_heading = "Distribution")]
    pub no_history: bool,
    /// Read the duration history from PATH (and, for `run`, write it back there) instead of
    /// `<target-dir>/xdist/durations.json`. A missing file is an empty history.
    #[arg(long, value_name = "PATH", help_heading = "Distribution")]
    pub durations_file: Option<Utf8PathBuf>,
}

/// `cargo xdist durations`.
#[derive(Debug, Args)]
pub struct DurationsArgs {
    #[command(subcommand)]
    pub command: DurationsCommand,
}

#[derive(Debug, Subcommand)]
pub enum DurationsCommand {
    /// Read test durations from JUnit XML reports into the history (id: `<classname>
    /// <name>` of each testcase).
    Import(ImportArgs),
    /// Combine duration histories (e.g. those written by the shards of one run): per test,
    /// the most recently recorded value.
    Merge(MergeArgs),
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The history to update [default: `<target-dir>/xdist/durations.json`].
    #[arg(long, value_name = "PATH", conflicts_with_all = ["target_dir", "manifest_path"])]
    pub durations_file: Option<Utf8PathBuf>,
    /// The target directory whose history to update [default: cargo's, from `cargo
    /// metadata`].
    #[arg(long, value_name = "DIR")]
    pub target_dir: Option<Utf8PathBuf>,
    /// The workspace whose target directory to use.
    #[arg(long, value_name = "PATH")]
    pub manifest_path: Option<Utf8PathBuf>,
    /// JUnit XML files (cargo-xdist's, cargo-nextest's, or any libtest-to-JUnit converter's).
    #[arg(value_name = "FILE", required = true)]
    pub files: Vec<Utf8PathBuf>,
}

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// Where to write the merged history (replaced if it exists).
    #[arg(long, short, value_name = "OUT")]
    pub output: Utf8PathBuf,
    /// Duration histories to merge.
    #[arg(value_name = "IN", required = true)]
    pub inputs: Vec<Utf8PathBuf>,
}
