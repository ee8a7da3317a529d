//! `cargo xdist list`: the tests a run would run, as `<binary-id> <test name>` lines or JSON
//! (a binary that runs whole, a plain `main`, has the one test `<binary-id> <binary-id>`).
//! The profile's `partition` and `--lf`/`--ff` pick tests as they do for `run`.

use std::collections::HashSet;
use std::io::Write;

use xdist_core::protocol::Harness;

use crate::cli::{ListArgs, ListFormat};
use crate::collect::collect;
use crate::collect::shard::Sharding;
use crate::commands::{doctests_wanted, settings_for};
use crate::config::filterset::Filtersets;
use crate::config::groups::Groups;
use crate::config::settings::{doctests_flag, selection_flag_values};
use crate::errors::{UsageError, XdistError, exit_code};
use crate::plan::outcomes::Outcomes;
use crate::plan::rerun;

/// Lists the selected tests; returns the exit code.
pub fn list(args: &ListArgs) -> Result<u8, XdistError> {
    let filter = args.filter.to_filter()?;
    let filtersets = Filtersets::from_flags(&args.filter.filterset).map_err(UsageError::from)?;
    let mut flags = selection_flag_values(&args.filter, &args.rerun);
    flags.extend(doctests_flag(&args.cargo));
    let profile = args.profile.profile.as_deref();
    let wanted = |root: &camino::Utf8Path| doctests_wanted(&flags, profile, root);
    let mut collected = collect(&args.cargo, &args.archive, &filter, &wanted)?;
    let resolved = settings_for(&collected, flags.clone(), profile)?;
    let selection = resolved.selection();
    filtersets.with_default(&resolved, args.filter.ignore_default_filter).select(&mut collected);
    let groups = Groups::new(&args.group, Vec::new(), resolved.groups.clone())?;
    let sharding = selection.partition.map(|partition| Sharding {
        partition,
        dist: args.dist,
        groups: &groups,
        history: &args.history,
    });
    let outcomes = Outcomes::load(&collected.target_dir);
    rerun::select(&mut collected, sharding, &selection, &outcomes)?;
    let full = &collected.full;
    match args.message_format {
        ListFormat::Oneline => {
            let mut out = String::new();
            for &i in &collected.selected {
                out.push_str(&full.test_id(i));
                out.push('\n');
            }
            write_stdout(&out);
        }
        ListFormat::Json => {
            let selected: HashSet<usize> = collected.selected.iter().copied().collect();
            let binaries: Vec<serde_json::Value> = full
                .binaries
                .iter()
                .enumerate()
                .map(|(b, binary)| {
                    let tests: Vec<serde_json::Value> = full
                        .tests
                        .iter()
                        .enumerate()
                        .filter(|(_, t)| t.binary as usize == b)
                        .map(|(i, t)| {
                            serde_json::json!({
                                "name": t.name,
                                "ignored": t.ignored,
                                "selected": selected.contains(&i),
                            })
                        })
                        .collect();
                    serde_json::json!({
                        "binary-id": binary.id,
                        "binary-path": binary.path,
                        "kind": binary.kind,
                        "cwd": binary.cwd,
                        "harness": match binary.harness {
                            Harness::Libtest => "libtest",
                            Harness::Whole => "whole",
                            Harness::Doctest => "doctest",
                        },
                        "tests": tests,
                    })
                })
                .collect();
            write_stdout(&format!("{}\n", serde_json::json!({ "binaries": binaries })));
        }
    }
    Ok(exit_code::OK)
}

/// Writes to stdout; a reader that went away (`cargo xdist list | head`) is not an error.
fn write_stdout(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}
