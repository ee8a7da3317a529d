//! The command line of what a test process leaves running: `--leak-timeout`,
//! `--leak-result` and `--leak-kill` (docs/robustness.md).

use std::time::Duration;

use clap::{Args, ValueEnum};

use crate::config::keys::{Kind, Value};

/// What happens to processes a test process leaves in its group.
#[derive(Debug, Default, Args)]
pub struct LeakOptions {
    /// How long a test process's children may run after it before they count as leaked:
    /// `0.5`, `500ms`, `2s` [default: 100ms].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, help_heading = "Timeouts and retries")]
    pub leak_timeout: Option<Duration>,
    /// How the tests of a process that leaked count: pass (a LEAK notice) or fail
    /// (LEAK-FAIL, every test of the process) [default: pass].
    #[arg(long, value_enum, help_heading = "Timeouts and retries")]
    pub leak_result: Option<LeakResult>,
    /// Kill leaked processes (`false`: leave them running, for suites that start daemons
    /// on purpose) [default: true].
    #[arg(long, value_name = "BOOL", help_heading = "Timeouts and retries")]
    pub leak_kill: Option<bool>,
}

/// How the tests of a test process that leaked count.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LeakResult {
    /// They keep their outcomes; the leak is told as a LEAK notice.
    Pass,
    /// Those that passed fail (LEAK-FAIL).
    Fail,
}

/// A duration as a profile writes it.
fn parse_duration(text: &str) -> Result<Duration, String> {
    match Kind::Seconds.check_text(text)? {
        Value::Seconds(duration) => Ok(duration),
        other => Err(format!("expected a duration, got {other}")),
    }
}
