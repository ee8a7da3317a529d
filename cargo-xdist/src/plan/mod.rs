//! The plan of a run, between the list and the drive loop: how many workers, the scheduler
//! of the `--dist` mode over what it is told about each test ([`metas`], with
//! [`source_files`], the groups, the duration [`history`] (which [`junit_durations`] can
//! fill from JUnit reports) and, for `--ff`, the [`rerun`] order from the recorded
//! [`outcomes`]), the session's settings (per-test retries included), the worker setup
//! (limits, per-test ones included, and the batching policy), and what the reporter shows.

pub mod history;
pub mod junit_durations;
pub mod metas;
pub mod outcomes;
pub mod rerun;
pub mod sorted_read;
pub mod source_files;

use std::collections::BTreeMap;
use std::time::Duration;

use xdist_core::protocol::{
    Batching, BinarySpec, Harness, LeakPolicy, RunLimits, TestLimits, TestSpec, WorkerSetup,
};
use xdist_core::testlist::{RunIgnored, TestFilter, TestList};
use xdist_core::{DSession, SessionConfig};
use xdist_sched::{DistMode, SchedOptions, TestMeta, build_scheduler, useful_workers};

use crate::cli::FlakyResult;
use crate::cli::display::OutputWhen;
use crate::cli::leak::LeakResult;
use crate::collect::Collected;
use crate::config::filterset::BinaryFacts;
use crate::config::groups::Groups;
use crate::config::options::worker_count;
use crate::config::settings::RunSettings;
use crate::drive::RunShape;
use crate::drive::growth::{GROW_FACTOR, Growth, suite_cpu_share};
use crate::errors::XdistError;
use crate::report::terminal::Detail;
use history::{History, backtraces_in, inherited_backtraces};
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

/// Plans the run of `collected`'s selected tests, the first `first` of which run first
/// (`--ff`), on `specs` workers when `--tx` gives them (else as `-n` says).
pub fn plan(
    settings: &RunSettings,
    filter: &TestFilter,
    collected: &Collected,
    first: usize,
    specs: Option<u32>,
) -> Result<Plan, XdistError> {
    let mode = settings.dist;
    let mut workers = match specs {
        Some(specs) => specs,
        None => worker_count(settings.numprocesses.as_deref(), settings.maxprocesses)?,
    };
    if mode == DistMode::No {
        workers = 1;
    }
    let max_fail = settings.max_fail;
    let groups =
        Groups::new(&settings.group_flags, settings.override_groups(), settings.groups.clone())?;
    let history = History::for_run(&settings.history, &collected.target_dir)?;
    let list = collected.run_list();
    let mut metas = test_metas(&list, &groups, history.as_ref(), mode == DistMode::LoadFile);
    for meta in metas.iter_mut().take(first) {
        meta.first = true;
    }
    // `each`: every test runs once per worker (the scheduler deals one slot per run);
    // every other mode: once, and never on more workers than it can keep busy.
    let copies = if mode == DistMode::Each { workers as usize } else { 1 };
    if mode == DistMode::Each {
        metas = (0..copies).flat_map(|_| metas.iter().cloned()).collect();
    } else {
        workers = workers.min(u32::try_from(useful_workers(mode, &metas)).unwrap_or(u32::MAX));
    }
    let growth = growth(settings, mode, specs, workers, &metas);
    // Tests that used little CPU last time start as wide as they can keep the CPUs busy.
    if let (Some(growth), Some(history)) = (growth, &history) {
        if let Some(share) = suite_cpu_share(&metas, |id| history.cpu_share(id)) {
            let cpus = crate::config::options::available_cpus();
            workers = growth.starting_workers(cpus, share, workers);
        }
    }
    let options = SchedOptions {
        max_sched_chunk: settings.maxschedchunk.map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
        loadscope_reorder: settings.loadscope_reorder,
        use_history: history.is_some(),
        copies,
        may_grow_to: growth.map(|g| g.max as usize),
        process_cost: history.as_ref().map_or(Duration::ZERO, |h| process_cost(h, &list)),
    };
    let sched = build_scheduler(mode, &metas, &options);
    let config = SessionConfig {
        workers,
        max_worker_restart: settings.max_worker_restart.unwrap_or(4),
        max_fail,
        retries: settings.retries,
        flaky_fails: settings.flaky_result == FlakyResult::Fail,
        runs_per_test: u32::try_from(copies).unwrap_or(u32::MAX),
    };
    let per_test = PerTest::of(settings, &list);
    let mut session = DSession::new(list.tests.len(), sched, config);
    if let Some(retries) = per_test.retries {
        session = session.with_test_retries(retries);
    }
    let skipped: Vec<String> =
        collected.ignored.iter().map(|&i| collected.full.test_id(i)).collect();
    let limits = RunLimits {
        slow_ms: settings.slow_timeout.map(millis),
        timeout_ms: settings.timeout.map(millis),
        kill_grace_ms: millis(settings.kill_grace),
        output_keep: settings.output_limit / 2,
        per_test: per_test.limits,
        leak: LeakPolicy {
            timeout_ms: millis(settings.leak_timeout),
            fail: settings.leak_result == LeakResult::Fail,
            kill: settings.leak_kill,
        },
        ..RunLimits::default()
    };
    let include_ignored = filter.run_ignored != RunIgnored::Default;
    let known = metas.iter().any(|meta| meta.duration.is_some()) && history.is_some();
    let mut setup = worker_setup(&list, include_ignored, limits, batching(mode, max_fail, known));
    for (binary, unlisted) in setup.binaries.iter_mut().zip(unlisted_names(collected)) {
        binary.unlisted = unlisted;
    }
    for (spec, binary) in setup.binaries.iter_mut().zip(&list.binaries) {
        spec.one_name =
            history.as_ref().is_some_and(|h| h.takes_one_name(&binary.id, &binary.path));
    }
    // Success output of a libtest binary comes from libtest's `--show-output`; a custom
    // harness may not take it, and its passing tests' output is not captured anyway.
    if settings.success_output != OutputWhen::Never {
        for (spec, binary) in setup.binaries.iter_mut().zip(&list.binaries) {
            spec.show_output = binary.harness == Harness::Libtest
                && !collected.custom_harnesses.contains(&binary.id);
        }
    }
    setup.first = u32::try_from(first).unwrap_or(u32::MAX);
    Ok(Plan {
        list,
        session,
        setup,
        shape: RunShape {
            skipped: skipped.len(),
            mode: mode.name().to_string(),
            silence_timeout: settings.worker_silence_timeout,
            growth,
        },
        detail: Detail {
            verbose: settings.verbose,
            each: mode == DistMode::Each,
            quiet: settings.quiet,
            slowest: settings.durations,
            failure_output: settings.failure_output,
            success_output: settings.success_output,
            leaks_left: !settings.leak_kill,
            ..Detail::default()
        },
        skipped,
        history,
    })
}

/// What the profile's overrides give single tests.
#[derive(Debug, Default, PartialEq)]
struct PerTest {
    /// Each test's retries, when an override sets some.
    retries: Option<Vec<u32>>,
    /// The tests whose slow or timeout limit an override sets.
    limits: BTreeMap<u32, TestLimits>,
}

impl PerTest {
    fn of(settings: &RunSettings, list: &TestList) -> Self {
        let mut per_test = PerTest::default();
        if settings.overrides.is_empty() {
            return per_test;
        }
        let mut retries = Vec::with_capacity(list.tests.len());
        let facts: Vec<BinaryFacts> = list.binaries.iter().map(BinaryFacts::of).collect();
        for (i, test) in list.tests.iter().enumerate() {
            let binary = &list.binaries[test.binary as usize];
            let query = facts[test.binary as usize].query(&binary.id, &test.name);
            let found = settings.test_override(&list.test_id(i), Some(&query));
            retries.push(found.retries.unwrap_or(settings.retries));
            let limits = TestLimits {
                slow_ms: found.slow_timeout.map(millis),
                timeout_ms: found.timeout.map(millis),
            };
            if limits != TestLimits::default() {
                per_test.limits.insert(u32::try_from(i).unwrap_or(u32::MAX), limits);
            }
        }
        if retries.iter().any(|&r| r != settings.retries) {
            per_test.retries = Some(retries);
        }
        per_test
    }
}

/// Paced batches where work must stay stealable before it starts (worksteal) or stoppable
/// (`-x`: a failure is known when its process ends, since libtest prints captured output
/// last); movable ones for `load` while no history says which tests are slow (a cluster of
/// slow tests that sort together must not stay locked in one process, where no idle worker
/// can take them, yet a probe per binary would cost small binaries a second process each);
/// whole ones elsewhere, since tests that share a per-process fixture pay for it once per
/// process (regex's suite: more processes made its first run slower, not faster).
fn batching(mode: DistMode, max_fail: Option<u32>, history_known: bool) -> Batching {
    if mode == DistMode::WorkSteal || max_fail.is_some() {
        Batching::Adaptive
    } else if mode == DistMode::Load && !history_known {
        Batching::Movable
    } else {
        Batching::Whole
    }
}

/// `-n auto` (the default) on this machine alone may add workers while CPUs stay idle
/// (`drive/growth.rs`); a fixed `-n`, `--tx`, `no` and `each` keep their count.
fn growth(
    settings: &RunSettings,
    mode: DistMode,
    specs: Option<u32>,
    workers: u32,
    metas: &[TestMeta],
) -> Option<Growth> {
    let auto = matches!(settings.numprocesses.as_deref(), None | Some("auto"));
    if !auto || specs.is_some() || matches!(mode, DistMode::No | DistMode::Each) {
        return None;
    }
    if std::env::var_os("XDIST_AUTO_NUM_WORKERS").is_some() {
        return None;
    }
    let cpus = crate::config::options::available_cpus();
    let useful = u32::try_from(useful_workers(mode, metas)).unwrap_or(u32::MAX);
    let max = (cpus.saturating_mul(GROW_FACTOR))
        .min(useful)
        .min(settings.maxprocesses.unwrap_or(u32::MAX));
    (max > workers).then_some(Growth { max })
}

/// What one more process of the run's costliest binary pays once, by the history: only
/// while panics capture backtraces (`RUST_BACKTRACE`), the one cost it learns.
fn process_cost(history: &History, list: &TestList) -> Duration {
    let inherited = inherited_backtraces();
    list.binaries
        .iter()
        .filter(|b| backtraces_in(&b.env, inherited))
        .filter_map(|b| history.process_cost(&b.id))
        .max()
        .unwrap_or_default()
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

/// Per binary, the names of the tests listed that the run does not run.
fn unlisted_names(collected: &Collected) -> Vec<Vec<String>> {
    let mut unlisted = vec![Vec::new(); collected.full.binaries.len()];
    let mut runs = vec![false; collected.full.tests.len()];
    for &i in &collected.selected {
        runs[i] = true;
    }
    for (test, _) in collected.full.tests.iter().zip(&runs).filter(|(_, runs)| !**runs) {
        unlisted[test.binary as usize].push(test.name.clone());
    }
    unlisted
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
                unlisted: Vec::new(),
                harness: b.harness,
                one_name: false,
                show_output: false,
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
        first: 0,
        no_capture: false,
    }
}
