//! How a run looks on the terminal: the live progress display, colors, and when a test's
//! output is shown (nextest's `--show-progress`, `--color`, `--failure-output` and
//! `--success-output`).

use clap::{Args, ValueEnum};

/// The terminal's options of `cargo xdist run`.
#[derive(Debug, Default, Args)]
pub struct DisplayOptions {
    /// How the run's progress shows: a live bar and a line per worker, a counter on each
    /// line, or plain lines.
    #[arg(long, value_enum, value_name = "WHEN", default_value_t = ShowProgress::Auto, help_heading = "Reporting")]
    pub show_progress: ShowProgress,
    /// When to color the output (under `auto`, `CARGO_TERM_COLOR` and `NO_COLOR` count).
    #[arg(long, value_enum, value_name = "WHEN", default_value_t = ColorChoice::Auto, help_heading = "Reporting")]
    pub color: ColorChoice,
    /// When a failed test's output is shown: as it fails, after the run, both, or never.
    #[arg(long, value_enum, value_name = "WHEN", default_value_t = OutputWhen::Final, help_heading = "Reporting")]
    pub failure_output: OutputWhen,
    /// When a passing test's output is shown (as --failure-output).
    #[arg(long, value_enum, value_name = "WHEN", default_value_t = OutputWhen::Never, help_heading = "Reporting")]
    pub success_output: OutputWhen,
    /// Let tests print as they run (libtest's --nocapture), each line after its worker's
    /// name; each test runs in a process of its own.
    #[arg(long, visible_alias = "nocapture", help_heading = "Reporting")]
    pub no_capture: bool,
    /// Also write a Chrome trace of the run to PATH (a track per worker; open it in
    /// Perfetto or chrome://tracing).
    #[arg(long, value_name = "PATH", help_heading = "Reporting")]
    pub timeline: Option<std::path::PathBuf>,
}

/// `--show-progress`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum ShowProgress {
    /// A bar on a terminal outside CI, else none.
    #[default]
    Auto,
    /// The live bar and worker lines (drawn only on a terminal).
    Bar,
    /// A `(done/total)` counter on each test's line.
    Counter,
    /// Plain lines.
    None,
}

/// `--color`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    /// On a terminal, unless the environment says otherwise.
    #[default]
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

/// When a test's output is shown (`--failure-output`, `--success-output`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum OutputWhen {
    /// Right after the test's line.
    Immediate,
    /// After the run, before the summary (as `cargo test`).
    #[default]
    Final,
    /// Both.
    ImmediateFinal,
    /// Never.
    Never,
}

impl OutputWhen {
    /// Whether the output comes right after the test's line.
    pub fn immediate(self) -> bool {
        matches!(self, OutputWhen::Immediate | OutputWhen::ImmediateFinal)
    }

    /// Whether the output comes after the run.
    pub fn last(self) -> bool {
        matches!(self, OutputWhen::Final | OutputWhen::ImmediateFinal)
    }
}
