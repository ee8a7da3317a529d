//! `cargo xdist durations import|merge`: JUnit reports into a duration history, and the
//! histories of a run's shards into one.

use camino::Utf8PathBuf;

use crate::cli::durations::{DurationsArgs, DurationsCommand, ImportArgs, MergeArgs};
use crate::errors::{DurationsError, MetadataError, XdistError, exit_code};
use crate::plan::history::History;
use crate::plan::junit_durations::junit_durations;

/// Runs a `durations` subcommand; returns the exit code.
pub fn durations(args: &DurationsArgs) -> Result<u8, XdistError> {
    match &args.command {
        DurationsCommand::Import(args) => import(args),
        DurationsCommand::Merge(args) => merge(args),
    }
}

fn import(args: &ImportArgs) -> Result<u8, XdistError> {
    let mut history = match &args.durations_file {
        Some(path) => History::open_or_empty(path)?,
        None => History::load(&target_dir(args)?),
    };
    let mut count = 0usize;
    for path in &args.files {
        let xml = std::fs::read_to_string(path)
            .map_err(|source| DurationsError::Read { path: path.clone(), source })?;
        for (id, secs) in junit_durations(path, &xml)? {
            history.set(id, secs);
            count += 1;
        }
    }
    save(&mut history)?;
    eprintln!(
        "xdist: imported {count} test durations from {} file(s) into {}",
        args.files.len(),
        history.location()
    );
    Ok(exit_code::OK)
}

fn merge(args: &MergeArgs) -> Result<u8, XdistError> {
    let mut merged = History::empty(args.output.clone());
    for path in &args.inputs {
        merged.merge(History::open(path)?);
    }
    save(&mut merged)?;
    eprintln!("xdist: merged {} histories into {}", args.inputs.len(), args.output);
    Ok(exit_code::OK)
}

fn save(history: &mut History) -> Result<(), DurationsError> {
    history
        .save()
        .map_err(|source| DurationsError::Write { path: history.location().into(), source })
}

/// `--target-dir`, else cargo's target directory for `--manifest-path` (or the current
/// workspace), as `cargo metadata` reports it.
fn target_dir(args: &ImportArgs) -> Result<Utf8PathBuf, XdistError> {
    if let Some(dir) = &args.target_dir {
        return Ok(dir.clone());
    }
    let mut command = cargo_metadata::MetadataCommand::new();
    command.no_deps();
    if let Some(manifest) = &args.manifest_path {
        command.manifest_path(manifest);
    }
    let metadata = command.exec().map_err(MetadataError::from)?;
    Ok(metadata.target_directory)
}
