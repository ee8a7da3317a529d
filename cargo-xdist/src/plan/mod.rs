//! The plan of a run, between the list and the drive loop: how many workers, the scheduler
//! of the `--dist` mode over what it is told about each test ([`metas`], with
//! [`source_files`], the groups and the duration [`history`], which [`junit_durations`] can
//! fill from JUnit reports), the session's settings, the worker setup (limits and the
//! batching policy), and what the reporter shows.

pub mod history;
pub mod junit_durations;
pub mod metas;
pub mod source_files;

use std::time::Duration;

use xdist_core::protocol::{Batching, BinarySpec, RunLimits, TestSpec, WorkerSetup};
use xdist_core::testlist::{RunIgnored, TestFilter, TestList};
use xdist_core::{DSession, SessionConfig};
use xdist_sched::{DistMode, SchedOptions, build_scheduler, useful_workers};

use crate::cli::{FlakyResult, RunArgs};
use crate::collect::Collected;
use crate::config::groups::Groups;
use crate::config::options::worker_count;
use crate::drive::RunShape;
use crate::errors::XdistError;
use crate::report::terminal::Detail;
use history::History;
use metas::test_metas;

/// Everything a run needs once its tests are known.
pub struct Plan {
    /// The tests that run.
    pub list: TestList,
    /// The session, with its scheduler.
    pub session: DSession,
    /// What every worker is told first.
    pub setup: WorkerSetup,
    /// What the drive loop needs to know of the run.
    pub shape: RunShape,
    /// How much the terminal shows.
    pub detail: Detail,
    /// Ids of tests left out before the run.
    pub skipped: Vec<String>,
    /// The duration history, unless `--no-history`.
    pub history: Option<History>,
}

/// Plans the run of `collected`'s selected tests.
pub fn plan(
    args: &RunArgs,
    filter: &TestFilter,
    collected: &Collected,
) -> Result<Plan, XdistError> {
    let mode = args.dist;
    let mut workers = worker_count(args.numprocesses.as_deref(), args.maxprocesses)?;
    if mode == DistMode::No {
        workers = 1;
    }
    let max_fail = if args.exitfirst { Some(1) } else { args.maxfail };
    let groups = Groups::load(&collected.config_root, &args.group)?;
    let history = History::for_run(&args.history, &collected.target_dir)?;
    let list = collected.run_list();
    let mut metas = test_metas(&list, &groups, history.as_ref());
    // `each`: every test runs once per worker (the scheduler deals one slot per run);
    // every other mode: once, and never on more workers than it can keep busy.
    let copies = if mode == DistMode::Each { workers as usize } else { 1 };
    if mode == DistMode::Each {
        metas = (0..copies).flat_map(|_| metas.iter().cloned()).collect();
    } else {
        workers = workers.min(u32::try_from(useful_workers(mode, &metas)).unwrap_or(u32::MAX));
    }
    let options = SchedOptions {
        max_sched_chunk: args.maxschedchunk.map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
        loadscope_reorder: !args.no_loadscope_reorder,
        use_history: history.is_some(),
        copies,
    };
    let sched = build_scheduler(mode, &metas, &options);
    let config = SessionConfig {
        workers,
        max_worker_restart: args.max_worker_restart.unwrap_or(4 * workers),
        max_fail,
        retries: args.retries,
        flaky_fails: args.flaky_result == FlakyResult::Fail,
        runs_per_test: u32::try_from(copies).unwrap_or(u32::MAX),
    };
    let session = DSession::new(list.tests.len(), sched, config);
    let skipped: Vec<String> =
        collected.ignored.iter().map(|&i| collected.full.test_id(i)).collect();
    let limits = RunLimits {
        slow_ms: args.slow_timeout.map(millis),
        timeout_ms: args.timeout.map(millis),
        kill_grace_ms: millis(args.kill_grace),
        output_keep: args.output_limit / 2,
        ..RunLimits::default()
    };
    let include_ignored = filter.run_ignored != RunIgnored::Default;
    let setup = worker_setup(&list, include_ignored, limits, batching(mode, max_fail));
    Ok(Plan {
        list,
        session,
        setup,
        shape: RunShape {
            skipped: skipped.len(),
            mode: mode.name().to_string(),
            silence_timeout: args.worker_silence_timeout,
        },
        detail: Detail {
            verbose: args.verbose,
            each: mode == DistMode::Each,
            quiet: args.quiet,
            slowest: args.durations,
            failure_output: args.display.failure_output,
            success_output: args.display.success_output,
            ..Detail::default()
        },
        skipped,
        history,
    })
}

/// Paced batches where work must stay movable (worksteal) or stoppable (`-x`: a failure is
/// known when its process ends, since libtest prints captured output last); whole ones
/// elsewhere, since tests that share a per-process fixture pay for it once per process
/// (regex's suite: more processes made its first run slower, not faster).
fn batching(mode: DistMode, max_fail: Option<u32>) -> Batching {
    if mode == DistMode::WorkSteal || max_fail.is_some() {
        Batching::Adaptive
    } else {
        Batching::Whole
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

fn worker_setup(
    list: &TestList,
    include_ignored: bool,
    limits: RunLimits,
    batching: Batching,
) -> WorkerSetup {
    WorkerSetup {
        binaries: list
            .binaries
            .iter()
            .map(|b| BinarySpec {
                path: b.path.clone(),
                cwd: b.cwd.clone(),
                env: b.env.clone(),
                runner: b.runner.clone(),
                args: b.args.clone(),
                harness: b.harness,
            })
            .collect(),
        tests: list
            .tests
            .iter()
            .map(|t| TestSpec { binary: t.binary, name: t.name.clone() })
            .collect(),
        include_ignored,
        limits,
        batching,
    }
}
