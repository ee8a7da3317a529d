//! The options of workers beyond local processes: `--tx` specs (docs/remote.md).

use clap::Args;

#[derive(Clone, Debug, Default, Args)]
pub struct RemoteOptions {
    /// A worker environment: `popen` (a local worker) or
    /// `ssh=[user@]host[:port][//chdir=DIR][//env:NAME=VALUE]`; `N*SPEC` makes N workers
    /// (repeatable). `-n` replaces it, as in pytest-xdist.
    #[arg(long = "tx", value_name = "SPEC", help_heading = "Distribution")]
    pub tx: Vec<String>,
}
