//! The scheduler of whole units, shared by `loadscope`, `loadfile` and `loadgroup`.
//!
//! Each mode only supplies a key function ([`UnitKeyFn`]); tests with equal keys form one
//! unit, in list order. [`UnitScheduler`] queues and hands out the units.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::time::Duration;

use crate::{Assignment, SchedOptions, Scheduler, TestIndex, TestMeta, WorkerId, history};

/// Says which unit a test belongs to; `None` makes the test a unit of its own.
pub(crate) type UnitKeyFn = fn(&TestMeta) -> Option<String>;

/// A worker holding more uncompleted tests than this is not given another unit.
const TOP_UP_AT: usize = 2;

/// Schedules whole units of tests: a unit always goes to one worker as a whole, so a fixture
/// the unit shares (a `OnceLock` in its module) is built once.
///
/// It follows pytest-xdist's `LoadScopeScheduling`, with its known defects fixed:
///
/// - The queue holds the largest units first (stable, so ties keep first-appearance order);
///   with history, the units with the longest total estimated run time first instead
///   (unknown tests count as the median known duration). With reordering off
///   (`--no-loadscope-reorder`) the queue keeps first-appearance order, with or without
///   history: that switch exists for suites that depend on collection order.
/// - At the start every worker gets the head unit, then one more unit if it holds two tests
///   or fewer. Afterwards a worker whose holdings changed gets one more unit whenever it holds
///   two tests or fewer. Our workers run whatever they hold, so a worker holding a single
///   one-test unit does not wait for a second test (pytest-xdist #1327). Workers left without
///   a unit at the start get none; the session shuts them down.
/// - A removed worker's *uncompleted* tests go back as units, regrouped by their original
///   unit, at the **front** of the queue: they were due before everything still queued. The
///   test the caller marked complete (the one that crashed) is not requeued (PR #1371), and a
///   unit with nothing left never goes back, so no empty unit is ever sent (#1323, #1378).
/// - `requeue_front` (retries) puts a one-test unit at the front; pytest-xdist raises there.
/// - `--maxschedchunk` does not apply: a unit is never cut.
#[derive(Debug)]
pub struct UnitScheduler {
    queue: VecDeque<Vec<TestIndex>>,
    /// The unit each test was first grouped in, to regroup a removed worker's tests.
    unit_of: Vec<u32>,
    /// Each worker's uncompleted tests, in the order they were sent.
    workers: BTreeMap<WorkerId, Vec<TestIndex>>,
    /// Workers whose holdings changed since the last `schedule`.
    to_check: BTreeSet<WorkerId>,
    initial_sent: bool,
}

impl UnitScheduler {
    /// A scheduler over `units`, queued in the order given; each unit's tests run in the
    /// order given. Empty units are dropped.
    pub fn new(units: Vec<Vec<TestIndex>>) -> Self {
        let units: Vec<Vec<TestIndex>> = units.into_iter().filter(|u| !u.is_empty()).collect();
        let len = units.iter().flatten().map(|&i| i as usize + 1).max().unwrap_or(0);
        let mut unit_of = vec![u32::MAX; len];
        for (id, unit) in units.iter().enumerate() {
            for &index in unit {
                unit_of[index as usize] = u32::try_from(id).expect("fewer than 2^32 units");
            }
        }
        Self {
            queue: units.into(),
            unit_of,
            workers: BTreeMap::new(),
            to_check: BTreeSet::new(),
            initial_sent: false,
        }
    }

    /// Groups `tests` by `key` and queues the units as `options` say (see the type docs).
    pub(crate) fn build(tests: &[TestMeta], key: UnitKeyFn, options: &SchedOptions) -> Self {
        let mut units = group(tests, key);
        if options.loadscope_reorder {
            match history::estimates(tests, options) {
                Some(estimate) => units.sort_by_cached_key(|unit| {
                    std::cmp::Reverse(unit.iter().map(|&i| estimate[i as usize]).sum::<Duration>())
                }),
                None => units.sort_by_key(|unit| std::cmp::Reverse(unit.len())),
            }
        }
        // Units holding a test marked `first` (`--failed-first`) go ahead of the rest.
        units.sort_by_key(|unit| !unit.iter().any(|&i| tests[i as usize].first));
        Self::new(units)
    }

    /// Hands `worker` the head unit, if any.
    fn give_unit(&mut self, worker: WorkerId, plan: &mut BTreeMap<WorkerId, Vec<TestIndex>>) {
        let Some(unit) = self.queue.pop_front() else { return };
        self.workers.get_mut(&worker).expect("known worker").extend(&unit);
        plan.entry(worker).or_default().extend(unit);
    }

    fn wants_more(&self, worker: WorkerId) -> bool {
        self.workers.get(&worker).is_some_and(|held| held.len() <= TOP_UP_AT)
    }

    fn check_all(&mut self) {
        self.to_check.extend(self.workers.keys().copied());
    }
}

/// Tests grouped by `key`, units in order of first appearance, tests in list order.
fn group(tests: &[TestMeta], key: UnitKeyFn) -> Vec<Vec<TestIndex>> {
    let mut units: Vec<Vec<TestIndex>> = Vec::new();
    let mut by_key: HashMap<String, usize> = HashMap::new();
    for (index, test) in crate::index_range(tests.len()).zip(tests) {
        match key(test) {
            Some(k) => {
                let slot = *by_key.entry(k).or_insert_with(|| {
                    units.push(Vec::new());
                    units.len() - 1
                });
                units[slot].push(index);
            }
            None => units.push(vec![index]),
        }
    }
    units
}

/// How many units `key` makes of `tests`.
pub(crate) fn unit_count(tests: &[TestMeta], key: UnitKeyFn) -> usize {
    group(tests, key).len()
}

impl Scheduler for UnitScheduler {
    fn add_worker(&mut self, worker: WorkerId) {
        self.workers.entry(worker).or_default();
        self.to_check.insert(worker);
    }

    fn mark_complete(&mut self, worker: WorkerId, index: TestIndex, _duration: Duration) {
        if let Some(held) = self.workers.get_mut(&worker) {
            if let Some(pos) = held.iter().position(|&i| i == index) {
                held.remove(pos);
            }
            self.to_check.insert(worker);
        }
    }

    fn remove_worker(&mut self, worker: WorkerId) -> Vec<TestIndex> {
        self.to_check.remove(&worker);
        let Some(held) = self.workers.remove(&worker) else { return Vec::new() };
        let mut regrouped: Vec<Vec<TestIndex>> = Vec::new();
        let mut slot_of: HashMap<u32, usize> = HashMap::new();
        for &index in &held {
            match self.unit_of.get(index as usize).copied().filter(|&u| u != u32::MAX) {
                Some(unit) => {
                    let slot = *slot_of.entry(unit).or_insert_with(|| {
                        regrouped.push(Vec::new());
                        regrouped.len() - 1
                    });
                    regrouped[slot].push(index);
                }
                None => regrouped.push(vec![index]),
            }
        }
        for unit in regrouped.into_iter().rev() {
            self.queue.push_front(unit);
        }
        if !held.is_empty() {
            self.check_all();
        }
        held
    }

    fn schedule(&mut self) -> Vec<Assignment> {
        let mut plan = BTreeMap::new();
        if self.workers.is_empty() {
            return Vec::new();
        }
        if !self.initial_sent {
            self.initial_sent = true;
            self.to_check.clear();
            let ids: Vec<WorkerId> = self.workers.keys().copied().collect();
            for &worker in &ids {
                self.give_unit(worker, &mut plan);
            }
            // A second unit for workers holding little (pytest-xdist #277).
            for &worker in &ids {
                if self.wants_more(worker) {
                    self.give_unit(worker, &mut plan);
                }
            }
        } else {
            for worker in std::mem::take(&mut self.to_check) {
                if self.queue.is_empty() {
                    break;
                }
                if self.wants_more(worker) {
                    self.give_unit(worker, &mut plan);
                }
            }
        }
        plan.into_iter().map(|(worker, tests)| Assignment { worker, tests }).collect()
    }

    fn pending(&self, worker: WorkerId) -> Cow<'_, [TestIndex]> {
        Cow::Borrowed(self.workers.get(&worker).map_or(&[], Vec::as_slice))
    }

    fn is_finished(&self) -> bool {
        self.queue.is_empty() && self.workers.values().all(Vec::is_empty)
    }

    fn has_unsent(&self) -> bool {
        !self.queue.is_empty()
    }

    fn drain_unsent(&mut self) -> Vec<TestIndex> {
        self.queue.drain(..).flatten().collect()
    }

    fn requeue_front(&mut self, index: TestIndex) {
        self.queue.push_front(vec![index]);
        self.check_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sizes(plan: &[Assignment]) -> Vec<(WorkerId, usize)> {
        plan.iter().map(|a| (a.worker, a.tests.len())).collect()
    }

    fn with_workers(units: Vec<Vec<TestIndex>>, workers: u32) -> UnitScheduler {
        let mut s = UnitScheduler::new(units);
        for w in 0..workers {
            s.add_worker(w);
        }
        s
    }

    #[test]
    fn each_worker_gets_the_head_then_a_second_unit_if_it_holds_little() {
        let mut s = with_workers(vec![vec![0, 1, 2, 3], vec![4, 5], vec![6], vec![7, 8]], 2);
        let plan = s.schedule();
        // Worker 0 holds 4 (> 2): no second unit. Worker 1 holds 2: it also gets [6].
        assert_eq!(plan[0].tests, vec![0, 1, 2, 3]);
        assert_eq!(plan[1].tests, vec![4, 5, 6]);
        assert_eq!(s.queue, VecDeque::from([vec![7, 8]]));
    }

    #[test]
    fn top_up_is_one_whole_unit_once_two_or_fewer_remain() {
        let mut s = with_workers(vec![vec![0, 1, 2, 3, 4], vec![5, 6, 7], vec![8, 9]], 1);
        s.schedule();
        s.mark_complete(0, 0, Duration::ZERO);
        s.mark_complete(0, 1, Duration::ZERO);
        assert!(s.schedule().is_empty(), "holds 3");
        s.mark_complete(0, 2, Duration::ZERO);
        assert_eq!(s.schedule(), vec![Assignment { worker: 0, tests: vec![5, 6, 7] }]);
    }

    #[test]
    fn more_workers_than_units_leaves_the_rest_without_work() {
        let mut s = with_workers(vec![vec![0, 1, 2], vec![3, 4, 5]], 4);
        assert_eq!(sizes(&s.schedule()), vec![(0, 3), (1, 3)]);
        assert!(s.schedule().is_empty());
        assert!(!s.has_unsent(), "the session shuts workers 2 and 3 down");
    }

    #[test]
    fn crash_requeues_only_the_uncompleted_tests_as_units_in_front() {
        let mut s = with_workers(vec![vec![0, 1, 2], vec![3, 4], vec![5, 6, 7], vec![8]], 1);
        assert_eq!(s.schedule()[0].tests, vec![0, 1, 2]);
        s.mark_complete(0, 0, Duration::ZERO);
        assert_eq!(s.schedule()[0].tests, vec![3, 4], "held 2 after one completion");
        // Test 1 crashed: the caller marks it complete, then removes the worker.
        s.mark_complete(0, 1, Duration::ZERO);
        assert_eq!(s.remove_worker(0), vec![2, 3, 4]);
        assert_eq!(s.queue, VecDeque::from([vec![2], vec![3, 4], vec![5, 6, 7], vec![8]]));
        // The replacement gets one unit per change of its holdings, like any worker.
        s.add_worker(1);
        assert_eq!(s.schedule(), vec![Assignment { worker: 1, tests: vec![2] }]);
        s.mark_complete(1, 2, Duration::ZERO);
        assert_eq!(s.schedule(), vec![Assignment { worker: 1, tests: vec![3, 4] }]);
    }

    #[test]
    fn requeued_work_goes_at_once_to_a_worker_holding_little() {
        let mut s = with_workers(vec![vec![0, 1, 2], vec![3, 4, 5]], 2);
        s.schedule();
        for index in 3..6 {
            s.mark_complete(1, index, Duration::ZERO);
        }
        assert!(s.schedule().is_empty(), "nothing queued");
        assert_eq!(s.remove_worker(0), vec![0, 1, 2]);
        assert_eq!(s.schedule(), vec![Assignment { worker: 1, tests: vec![0, 1, 2] }]);
    }

    #[test]
    fn finished_units_never_go_back_empty() {
        let mut s = with_workers(vec![vec![0, 1], vec![2, 3, 4]], 1);
        assert_eq!(s.schedule()[0].tests, vec![0, 1, 2, 3, 4]);
        s.mark_complete(0, 0, Duration::ZERO);
        s.mark_complete(0, 1, Duration::ZERO);
        s.mark_complete(0, 2, Duration::ZERO);
        assert_eq!(s.remove_worker(0), vec![3, 4]);
        assert_eq!(s.queue, VecDeque::from([vec![3, 4]]), "no empty unit for [0, 1]");
    }

    #[test]
    fn a_replacement_with_a_one_test_unit_runs_it() {
        let mut s = with_workers(vec![vec![0, 1, 2], vec![3]], 1);
        s.schedule();
        s.mark_complete(0, 0, Duration::ZERO);
        assert_eq!(s.schedule()[0].tests, vec![3]);
        s.mark_complete(0, 3, Duration::ZERO);
        s.mark_complete(0, 1, Duration::ZERO);
        assert_eq!(s.remove_worker(0), vec![2]);
        s.add_worker(1);
        assert_eq!(s.schedule(), vec![Assignment { worker: 1, tests: vec![2] }]);
        s.mark_complete(1, 2, Duration::ZERO);
        assert!(s.is_finished());
    }

    #[test]
    fn requeue_front_is_a_one_test_unit_at_the_head() {
        let mut s = with_workers(vec![vec![0, 1, 2], vec![3, 4, 5]], 1);
        s.schedule();
        s.mark_complete(0, 0, Duration::ZERO);
        s.requeue_front(0);
        assert_eq!(s.schedule()[0].tests, vec![0], "a retry jumps the queue");
        assert_eq!(s.drain_unsent(), vec![3, 4, 5]);
    }

    #[test]
    fn units_holding_a_test_marked_first_go_first() {
        let mut tests: Vec<TestMeta> =
            ["a::x", "a::y", "a::z", "b::x", "c::x", "c::y"].map(|n| TestMeta::new("t", n)).into();
        tests[3].first = true;
        tests[5].first = true;
        let s = UnitScheduler::build(&tests, crate::loadscope::scope_key, &SchedOptions::default());
        let queue: Vec<Vec<TestIndex>> = s.queue.into_iter().collect();
        assert_eq!(queue, vec![vec![4, 5], vec![3], vec![0, 1, 2]], "then largest first");
    }

    #[test]
    fn empty_units_are_dropped() {
        let mut s = with_workers(vec![vec![], vec![0]], 1);
        assert_eq!(s.schedule(), vec![Assignment { worker: 0, tests: vec![0] }]);
    }
}
