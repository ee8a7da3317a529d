//! Schedulers for cargo-xdist's `--dist` modes.
//!
//! A scheduler decides which worker runs which test. It is pure logic: it never spawns a
//! process, reads a clock or touches a pipe. The session (in `xdist-core`) tells it what
//! happened (a worker joined, finished a test, died) and asks it for the next
//! [`Assignment`]s to send. Tests are named by their index into the run's one test list.
//!
//! [`build_scheduler`] makes the scheduler of a [`DistMode`] from the run's [`TestMeta`]s
//! (binary id, name, source file, group, recorded duration). One file per mode:
//!
//! - `serial.rs`: `no`, everything on one worker.
//! - `each.rs`: `each`, every worker runs its own copy of every test.
//! - `load.rs`: `load`, pytest-xdist's chunked top-up over single tests.
//! - `units.rs`: the scheduler of whole units shared by `loadscope`, `loadfile` and
//!   `loadgroup`; each of `loadscope.rs`, `loadfile.rs` and `loadgroup.rs` only says which
//!   unit a test belongs to.
//! - `worksteal.rs`: `worksteal`, even slices and atomic steals.
//! - `holding.rs`: the tests a worker holds under `load` and `worksteal`, in the order sent.
//! - `history.rs`: ordering by recorded durations (longest first), used by every mode but `no`.
//! - `deal.rs`: dealing tests over workers by estimate, a process start counted per binary.
//! - `sim.rs`: [`simulate_makespan`], a discrete-event simulation of a whole run.

mod boundary;
mod deal;
mod each;
mod history;
mod holding;
mod load;
mod loadfile;
mod loadgroup;
mod loadscope;
mod serial;
mod sim;
mod units;
mod worksteal;

use std::time::Duration;

pub use each::EachScheduler;
pub use load::LoadScheduler;
pub use serial::SerialScheduler;
pub use sim::simulate_makespan;
pub use units::UnitScheduler;
pub use worksteal::WorkStealScheduler;

pub use xdist_core::sched::{Assignment, Scheduler, StealRequest};
pub use xdist_core::{TestIndex, WorkerId};

/// How many tests a steal asks of a victim holding `held`: half, always leaving it two
/// (pytest-xdist's `worksteal` rule, which `load` follows at the end of a run too).
pub(crate) fn steal_count(held: usize) -> usize {
    (held / 2).min(held.saturating_sub(2))
}

/// The `--dist` modes that exist.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DistMode {
    /// One worker runs every test in order.
    No,
    /// Every worker runs every test (one report per worker).
    Each,
    /// Chunks of tests go to whichever worker needs work (pytest-xdist's `load`).
    Load,
    /// Each module (binary id plus the name up to the last `::`) runs on one worker.
    LoadScope,
    /// Each source file (else top-level module, else binary) runs on one worker.
    LoadFile,
    /// Each named group runs on one worker, in list order; other tests behave as `load`.
    LoadGroup,
    /// Even slices at the start, then idle workers steal half of the longest queue.
    WorkSteal,
}

impl DistMode {
    /// Every mode, in the order the command line lists them.
    pub const ALL: [DistMode; 7] = [
        DistMode::No,
        DistMode::Each,
        DistMode::Load,
        DistMode::LoadScope,
        DistMode::LoadFile,
        DistMode::LoadGroup,
        DistMode::WorkSteal,
    ];

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            DistMode::No => "no",
            DistMode::Each => "each",
            DistMode::Load => "load",
            DistMode::LoadScope => "loadscope",
            DistMode::LoadFile => "loadfile",
            DistMode::LoadGroup => "loadgroup",
            DistMode::WorkSteal => "worksteal",
        }
    }

    /// The mode named `name` on the command line.
    pub fn parse(name: &str) -> Option<DistMode> {
        DistMode::ALL.into_iter().find(|mode| mode.name() == name)
    }

    /// The unit `test` belongs to under this mode: tests with equal keys always run on the
    /// same worker (unless a worker holding them dies). `None` for modes without units and
    /// for the ungrouped tests of `loadgroup`, which are units of their own.
    pub fn unit_key(self, test: &TestMeta) -> Option<String> {
        self.unit_key_fn().and_then(|key| key(test))
    }

    fn unit_key_fn(self) -> Option<units::UnitKeyFn> {
        match self {
            DistMode::LoadScope => Some(loadscope::scope_key),
            DistMode::LoadFile => Some(loadfile::file_key),
            DistMode::LoadGroup => Some(loadgroup::group_key),
            DistMode::No | DistMode::Each | DistMode::Load | DistMode::WorkSteal => None,
        }
    }
}

/// Settings shared by the schedulers.
#[derive(Clone, Copy, Debug)]
pub struct SchedConfig {
    /// Upper bound on the tests sent to a worker at once (`--maxschedchunk`).
    pub max_sched_chunk: Option<usize>,
}

/// What the schedulers know about one test of the list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TestMeta {
    /// The nextest-style id of the test binary (`crate`, `crate::bin/name`, ...).
    pub binary_id: String,
    /// The test's name inside its binary (`module::sub::test_name`).
    pub name: String,
    /// The source file defining the test, when known (`loadfile`).
    pub source_file: Option<String>,
    /// The named group of the test, when it has one (`loadgroup`).
    pub group: Option<String>,
    /// How long the test took last time, from the duration history.
    pub duration: Option<Duration>,
    /// Send it before the tests without this mark, whatever the history says
    /// (`--failed-first`); under the unit modes, its unit goes first.
    pub first: bool,
}

impl TestMeta {
    /// A test with nothing known beyond its binary and name.
    pub fn new(binary_id: impl Into<String>, name: impl Into<String>) -> Self {
        Self { binary_id: binary_id.into(), name: name.into(), ..Self::default() }
    }
}

/// Settings of [`build_scheduler`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SchedOptions {
    /// Upper bound on the tests `load` sends a worker at once (`--maxschedchunk`).
    pub max_sched_chunk: Option<usize>,
    /// Unit modes queue the largest units first (with history: the longest); off keeps
    /// first-appearance order, history or not (`--no-loadscope-reorder`).
    pub loadscope_reorder: bool,
    /// Order by recorded durations where known (off: `--no-history`).
    pub use_history: bool,
    /// `each`: how many copies of the tests the list holds (one per worker).
    pub copies: usize,
    /// The most workers the run may grow to (`-n auto` following the work), when it may:
    /// `load` then keeps the share of the later workers queued for them.
    pub may_grow_to: Option<usize>,
    /// What one more process of the suite's costliest binary pays once beyond its tests, as
    /// history knows it (loading debug info at its first panic under `RUST_BACKTRACE`):
    /// `load` hands out coarser chunks when it is high. Zero when unknown.
    pub process_cost: Duration,
}

impl Default for SchedOptions {
    fn default() -> Self {
        Self {
            max_sched_chunk: None,
            loadscope_reorder: true,
            use_history: true,
            copies: 1,
            may_grow_to: None,
            process_cost: Duration::ZERO,
        }
    }
}

/// Builds the scheduler of `mode` over `tests`; test `i` of the slice is [`TestIndex`] `i`.
pub fn build_scheduler(
    mode: DistMode,
    tests: &[TestMeta],
    options: &SchedOptions,
) -> Box<dyn Scheduler + Send> {
    let order = || history::run_order(tests, options);
    match mode {
        DistMode::No => Box::new(SerialScheduler::new(index_range(tests.len()).collect())),
        DistMode::Each => {
            let copies = options.copies.max(1);
            Box::new(EachScheduler::new(copies, tests.len() / copies))
        }
        DistMode::Load => {
            let sched = LoadScheduler::new(order(), options.max_sched_chunk)
                .growing_to(options.may_grow_to)
                .with_binaries(binaries(tests))
                .with_process_cost(options.process_cost);
            match history::estimates(tests, options) {
                Some(estimates) => Box::new(sched.with_estimates(estimates)),
                None => Box::new(sched),
            }
        }
        DistMode::WorkSteal => {
            let sched = WorkStealScheduler::new(order());
            match history::estimates(tests, options) {
                Some(estimates) => {
                    Box::new(sched.with_estimates(estimates).with_binaries(binaries(tests)))
                }
                None => Box::new(sched),
            }
        }
        DistMode::LoadScope | DistMode::LoadFile | DistMode::LoadGroup => {
            let key = mode.unit_key_fn().expect("unit modes have a key");
            Box::new(UnitScheduler::build(tests, key, options))
        }
    }
}

/// Builds the scheduler of `mode` over `test_count` tests (indices `0..test_count`) about
/// which nothing is known: under the unit modes every test is a unit of its own.
pub fn make_scheduler(
    mode: DistMode,
    test_count: usize,
    config: SchedConfig,
) -> Box<dyn Scheduler + Send> {
    let tests: Vec<TestMeta> = (0..test_count).map(|i| TestMeta::new(i.to_string(), "")).collect();
    let options =
        SchedOptions { max_sched_chunk: config.max_sched_chunk, ..SchedOptions::default() };
    build_scheduler(mode, &tests, &options)
}

/// The most workers `mode` can keep busy over `tests`: one for `no`, one per unit for the
/// unit modes, one per test otherwise. Starting more only costs start-up time.
pub fn useful_workers(mode: DistMode, tests: &[TestMeta]) -> usize {
    if tests.is_empty() {
        return 0;
    }
    match (mode, mode.unit_key_fn()) {
        (DistMode::No, _) => 1,
        (_, Some(key)) => units::unit_count(tests, key),
        (_, None) => tests.len(),
    }
}

/// Each test's binary id as a small number, for the deal's process-start cost.
fn binaries(tests: &[TestMeta]) -> Vec<u32> {
    deal::binary_numbers(tests.iter().map(|t| t.binary_id.as_str()))
}

fn index_range(len: usize) -> std::ops::Range<TestIndex> {
    0..TestIndex::try_from(len).expect("fewer than 2^32 tests")
}

#[cfg(test)]
mod conformance;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mode_names_round_trip() {
        for mode in DistMode::ALL {
            assert_eq!(DistMode::parse(mode.name()), Some(mode));
        }
        assert_eq!(DistMode::parse("sideways"), None);
        assert_eq!(DistMode::parse("LoadScope"), None);
    }

    #[test]
    fn useful_workers_follow_the_units() {
        let tests = [
            TestMeta::new("a", "m::t1"),
            TestMeta::new("a", "m::t2"),
            TestMeta::new("a", "n::t3"),
            TestMeta::new("b", "t4"),
        ];
        assert_eq!(useful_workers(DistMode::No, &tests), 1);
        assert_eq!(useful_workers(DistMode::Load, &tests), 4);
        assert_eq!(useful_workers(DistMode::LoadScope, &tests), 3);
        assert_eq!(useful_workers(DistMode::LoadGroup, &tests), 4);
        assert_eq!(useful_workers(DistMode::WorkSteal, &[]), 0);
    }

    #[test]
    fn make_scheduler_puts_each_test_in_its_own_unit() {
        let mut sched =
            make_scheduler(DistMode::LoadScope, 3, SchedConfig { max_sched_chunk: None });
        sched.add_worker(0);
        let sent: Vec<Vec<TestIndex>> = sched.schedule().into_iter().map(|a| a.tests).collect();
        // Two one-test units (the head, then one more while it holds two or fewer).
        assert_eq!(sent, vec![vec![0, 1]]);
    }
}
