//! The subcommands, each a short spine of named calls into the steps: `run`, `list`,
//! `archive`, `durations`, `show-config`, and the hidden `simulate`.

pub mod archive;
pub mod durations;
pub mod list;
pub mod looponfail;
pub mod run;
pub mod show_config;
pub mod simulate;

use camino::Utf8Path;

use crate::collect::Collected;
use crate::config::settings::{self, ConfigPaths, FlagValue, Resolved};
use crate::errors::{ConfigError, XdistError};

/// The settings of a run over `collected`: `flags` over the environment over the profile
/// (`--profile`: `profile`) of the files of its workspace. Warnings about the files go to
/// stderr.
pub fn settings_for(
    collected: &Collected,
    flags: Vec<FlagValue>,
    profile: Option<&str>,
) -> Result<Resolved, ConfigError> {
    let paths = ConfigPaths::new(collected.config_root.as_std_path(), &settings::process_env);
    let resolved = settings::resolve(flags, profile, &settings::process_env, &paths)?;
    for warning in &resolved.warnings {
        eprintln!("warning: {warning}");
    }
    Ok(resolved)
}

/// Whether the settings of a run in the workspace configured at `config_root` (`flags` over
/// the environment over the profile `profile`) ask for doctests: asked while collecting,
/// before the rest is resolved (the files' warnings are printed once, by [`settings_for`]).
pub fn doctests_wanted(
    flags: &[FlagValue],
    profile: Option<&str>,
    config_root: &Utf8Path,
) -> Result<bool, XdistError> {
    let paths = ConfigPaths::new(config_root.as_std_path(), &settings::process_env);
    let resolved = settings::resolve(flags.to_vec(), profile, &settings::process_env, &paths)?;
    Ok(resolved.doctests())
}
