//! `--lf/--last-failed`, `--ff/--failed-first` and `--lfnf`: rerun what did not pass last
//! time (pytest's spellings), and `--profile`, which picks the profile of the configuration
//! files (docs/rerun.md, docs/configuration.md).

use clap::{Args, ValueEnum};

/// Which tests to run by the outcomes of the last run.
#[derive(Debug, Default, Args)]
#[command(next_help_heading = "Rerunning")]
pub struct RerunArgs {
    /// Run only the tests that did not pass last time: failed, timed out, not run because
    /// the run stopped, or new.
    #[arg(long = "last-failed", visible_alias = "lf")]
    pub last_failed: bool,
    /// Run the tests that did not pass last time first, then the rest.
    #[arg(long = "failed-first", visible_alias = "ff")]
    pub failed_first: bool,
    /// With --lf and nothing to rerun: run every test, or none (exit 0) [default: all].
    #[arg(
        long = "last-failed-no-failures",
        visible_alias = "lfnf",
        value_enum,
        value_name = "WHICH"
    )]
    pub no_failures: Option<NoFailures>,
}

/// What `--lf` runs when nothing failed last time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum NoFailures {
    /// Every selected test.
    All,
    /// No test; the run exits 0.
    None,
}

/// The profile of `.config/xdist.toml` (and the user's file) to use.
#[derive(Debug, Default, Args)]
#[command(next_help_heading = "Configuration")]
pub struct ProfileArgs {
    /// Use this profile of `.config/xdist.toml` [env: XDIST_PROFILE] [default: default].
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
}
