//! `--lf` and `--ff`: the selection cut down to, or reordered by, the tests that did not
//! pass last time ([`Outcomes`]: failed, timed out, not run because the run stopped, or new
//! to the record).

use crate::cli::rerun::NoFailures;
use crate::collect::Collected;
use crate::collect::shard::Sharding;
use crate::config::settings::Selection;
use crate::errors::XdistError;
use crate::plan::outcomes::Outcomes;

/// What `--lf`/`--ff` made of the selection.
#[derive(Debug, PartialEq, Eq)]
pub struct Rerun {
    /// The first this many selected tests are the ones to run first.
    pub first: usize,
    /// What to tell the user (on stderr).
    pub message: Option<String>,
    /// `--lf --lfnf none` with nothing to rerun: run nothing.
    pub nothing: bool,
}

/// Picks the run's tests from the filtered collection: the shard of `--partition` (flag,
/// environment or profile), then what `--lf`/`--ff` ask for, whose message goes to stderr.
pub fn select(
    collected: &mut Collected,
    sharding: Option<Sharding<'_>>,
    selection: &Selection,
    outcomes: &Outcomes,
) -> Result<Rerun, XdistError> {
    if let Some(sharding) = &sharding {
        collected.shard(sharding)?;
    }
    let rerun = apply(
        collected,
        outcomes,
        selection.last_failed,
        selection.failed_first,
        selection.no_failures,
    );
    if let Some(message) = &rerun.message {
        eprintln!("{message}");
    }
    Ok(rerun)
}

/// Cuts (`last_failed`) or reorders (`failed_first`) the selection of `collected`.
pub fn apply(
    collected: &mut Collected,
    outcomes: &Outcomes,
    last_failed: bool,
    failed_first: bool,
    no_failures: NoFailures,
) -> Rerun {
    let mut rerun = Rerun { first: 0, message: None, nothing: false };
    if !last_failed && !failed_first {
        return rerun;
    }
    let total = collected.selected.len();
    let (again, done): (Vec<usize>, Vec<usize>) = collected
        .selected
        .iter()
        .partition(|&&i| outcomes.get(&collected.full.test_id(i)).is_none_or(|o| !o.is_done()));
    let flag = if last_failed { "--last-failed" } else { "--failed-first" };
    if outcomes.is_empty() {
        rerun.message =
            Some(format!("xdist: {flag}: no outcomes recorded yet; running all {total} tests"));
        return rerun;
    }
    if again.is_empty() {
        if last_failed && no_failures == NoFailures::None {
            rerun.message =
                Some(format!("xdist: {flag}: no failures recorded; running none (--lfnf none)"));
            rerun.nothing = true;
            collected.selected.clear();
            collected.ignored.clear();
        } else {
            rerun.message =
                Some(format!("xdist: {flag}: no failures recorded; running all {total} tests"));
        }
        return rerun;
    }
    let count = again.len();
    let tests = if count == 1 { "test" } else { "tests" };
    if last_failed {
        rerun.message = Some(format!(
            "xdist: {flag}: running the {count} {tests} that did not pass last time \
             ({} passed, left out)",
            done.len()
        ));
        collected.selected = again;
        collected.ignored.clear();
    } else {
        rerun.message = Some(format!(
            "xdist: {flag}: the {count} {tests} that did not pass last time run first"
        ));
        collected.selected = again.into_iter().chain(done).collect();
    }
    rerun.first = count;
    rerun
}
