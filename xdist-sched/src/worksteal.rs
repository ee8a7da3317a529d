//! `--dist worksteal`: even slices at the start, then idle workers steal half of the
//! longest queue, one atomic steal at a time. [`WorkStealScheduler`] holds the rules.

use std::borrow::Cow;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};
use std::time::Duration;

use crate::deal::{Costs, StealRefusal, deal, estimate_of, worth_stealing};
use crate::holding::Holding;
use crate::{Assignment, Scheduler, StealRequest, TestIndex, WorkerId};

/// A worker holding fewer tests than this may receive more (pytest-xdist's "two pending"
/// rule: our workers do not need it, but it hides the round trip of the next assignment).
const MIN_PENDING: usize = 2;

/// pytest-xdist's `WorkStealingScheduling`, over test indices, with atomic steals.
///
/// - A worker is *idle* when it holds fewer than two tests (`MIN_PENDING`). `schedule` splits
///   whatever is queued evenly over the idle workers, in contiguous slices: at the start every
///   worker is idle, so the list is cut into near-equal slices (10 tests on 3 workers: 3, 3, 4).
/// - With history the queue is sorted longest first (LPT) instead of keeping collection
///   order, and the split is even in estimated *time* rather than in count: each test in
///   turn goes to the idle worker with the least estimated work (fewest tests on ties), the
///   classic LPT list schedule. A contiguous split of a sorted queue would give the first
///   worker all the longest tests, and steals, which move the victim's *last* tests and
///   leave it two, cannot undo that: simulated on bench/gen.py's sleepy suite (4 workers)
///   it ends 10 % over the lower bound, against 1 % for the dealt split. Each worker's share
///   stays longest first, so what is stolen late is short.
/// - When nothing is queued and some worker is idle, `steal_requests` asks the live worker
///   with the longest queue (lowest id on ties) for the tail `min(len / 2, len - 2)` of it.
///   Only one steal is in flight at a time; none is asked when that count is 0.
/// - The requested tests stay the victim's ([`Scheduler::pending`]) until it answers. The
///   answer (`steal_answered`) clears the in-flight marker and moves what the victim really
///   gave up (all or nothing) to the queue, for the next `schedule` to hand out. An empty
///   answer is retried on a later call. A removed victim clears the marker; its late answer,
///   if one ever came, is ignored, since its tests were requeued already.
/// - A removed worker's uncompleted tests go to the back of the queue.
///
/// Idle workers are kept in a set and workers indexed by queue length, so a completion costs
/// `O(log workers)`, not a scan of every worker.
#[derive(Debug)]
pub struct WorkStealScheduler {
    queue: VecDeque<TestIndex>,
    /// Each live worker's uncompleted tests, in the order they were sent.
    workers: BTreeMap<WorkerId, Holding>,
    /// Live workers holding fewer than [`MIN_PENDING`] tests.
    idle: BTreeSet<WorkerId>,
    /// Live workers by how many tests they hold; the last one is the next victim.
    by_len: BTreeSet<(usize, Reverse<WorkerId>)>,
    /// The victim of the steal in flight.
    stealing_from: Option<WorkerId>,
    /// The last tail found not worth a steal.
    refused: StealRefusal,
    /// Estimated run time of each test, when history knows some.
    estimates: Option<Vec<Duration>>,
    /// Each test's binary, numbered, so the deal counts a process start per binary.
    binaries: Option<Vec<u32>>,
}

impl WorkStealScheduler {
    /// A scheduler over `tests`, split in the order given.
    pub fn new(tests: Vec<TestIndex>) -> Self {
        Self {
            queue: tests.into(),
            workers: BTreeMap::new(),
            idle: BTreeSet::new(),
            by_len: BTreeSet::new(),
            stealing_from: None,
            refused: StealRefusal::default(),
            estimates: None,
            binaries: None,
        }
    }

    /// Splits by estimated run time (`estimates[index]`) instead of by count (type docs).
    /// The tests should come longest first.
    pub fn with_estimates(mut self, estimates: Vec<Duration>) -> Self {
        self.estimates = Some(estimates);
        self
    }

    /// Names each test's binary (`binaries[index]`), so the deal keeps a binary on as few
    /// workers as its work allows (see `deal.rs`).
    pub fn with_binaries(mut self, binaries: Vec<u32>) -> Self {
        self.binaries = Some(binaries);
        self
    }

    /// The queue split over `idle` workers: even contiguous slices, or dealt by estimates.
    fn split(&mut self, idle: &[WorkerId]) -> Vec<(WorkerId, Vec<TestIndex>)> {
        let Some(estimates) = &self.estimates else {
            let mut slices = Vec::new();
            for (i, &worker) in idle.iter().enumerate() {
                let take = self.queue.len() / (idle.len() - i);
                slices.push((worker, self.queue.drain(..take).collect()));
            }
            return slices;
        };
        let estimate = |index: &TestIndex| estimate_of(estimates, *index);
        let loads: Vec<(Duration, usize)> = idle
            .iter()
            .map(|worker| {
                let held = &self.workers[worker];
                (held.tests().iter().map(estimate).sum(), held.len())
            })
            .collect();
        let costs = Costs { estimates, binaries: self.binaries.as_deref() };
        let shares = deal(self.queue.drain(..), &loads, costs);
        idle.iter().copied().zip(shares).collect()
    }

    /// Changes `worker`'s holdings through `change`, keeping the indexes in step.
    fn update(&mut self, worker: WorkerId, change: impl FnOnce(&mut Holding)) {
        let Some(held) = self.workers.get_mut(&worker) else { return };
        let before = held.len();
        change(held);
        let after = held.len();
        if before != after {
            self.by_len.remove(&(before, Reverse(worker)));
            self.by_len.insert((after, Reverse(worker)));
            if after < MIN_PENDING {
                self.idle.insert(worker);
            } else {
                self.idle.remove(&worker);
            }
        }
    }
}

impl Scheduler for WorkStealScheduler {
    fn add_worker(&mut self, worker: WorkerId) {
        self.refused.forget();
        if self.workers.insert(worker, Holding::default()).is_none() {
            self.idle.insert(worker);
            self.by_len.insert((0, Reverse(worker)));
        }
    }

    fn mark_complete(&mut self, worker: WorkerId, index: TestIndex, _duration: Duration) {
        self.update(worker, |held| held.remove(index));
    }

    fn remove_worker(&mut self, worker: WorkerId) -> Vec<TestIndex> {
        self.refused.forget();
        let Some(held) = self.workers.remove(&worker) else { return Vec::new() };
        self.idle.remove(&worker);
        self.by_len.remove(&(held.len(), Reverse(worker)));
        if self.stealing_from == Some(worker) {
            // A dead victim never answers.
            self.stealing_from = None;
        }
        let held = held.into_vec();
        self.queue.extend(&held);
        held
    }

    fn schedule(&mut self) -> Vec<Assignment> {
        if self.queue.is_empty() || self.idle.is_empty() {
            return Vec::new();
        }
        let idle: Vec<WorkerId> = self.idle.iter().copied().collect();
        let mut plan = Vec::new();
        for (worker, tests) in self.split(&idle) {
            if !tests.is_empty() {
                self.refused.forget();
                self.update(worker, |held| held.extend(&tests));
                plan.push(Assignment { worker, tests });
            }
        }
        plan
    }

    fn pending(&self, worker: WorkerId) -> Cow<'_, [TestIndex]> {
        self.workers.get(&worker).map_or(Cow::Borrowed(&[][..]), Holding::tests)
    }

    fn is_finished(&self) -> bool {
        let most_held = self.by_len.last().map_or(0, |&(len, _)| len);
        self.queue.is_empty() && self.stealing_from.is_none() && most_held == 0
    }

    fn has_unsent(&self) -> bool {
        !self.queue.is_empty()
    }

    fn drain_unsent(&mut self) -> Vec<TestIndex> {
        self.queue.drain(..).collect()
    }

    fn requeue_front(&mut self, index: TestIndex) {
        self.queue.push_front(index);
    }

    fn steal_requests(&mut self) -> Vec<StealRequest> {
        if self.stealing_from.is_some() || !self.queue.is_empty() || self.idle.is_empty() {
            return Vec::new();
        }
        let Some(&(len, Reverse(victim))) = self.by_len.last() else { return Vec::new() };
        let count = crate::steal_count(len);
        if count == 0 {
            return Vec::new();
        }
        if self.refused.stands(victim, len) {
            return Vec::new();
        }
        let tests = self.workers[&victim].tail(count);
        if !worth_stealing(&tests, self.estimates.as_deref(), None) {
            self.refused.refuse(victim, len);
            return Vec::new();
        }
        self.stealing_from = Some(victim);
        vec![StealRequest { victim, tests }]
    }

    fn steal_in_flight(&self) -> bool {
        self.stealing_from.is_some()
    }

    fn may_steal_later(&self) -> bool {
        self.by_len.last().is_some_and(|&(len, _)| crate::steal_count(len) > 0)
    }

    /// Moves what `victim` gave up to the queue. After a stop (`drain_unsent`) the session
    /// should drain again if a late answer put tests back.
    fn steal_answered(&mut self, victim: WorkerId, released: &[TestIndex]) {
        self.refused.forget();
        if self.stealing_from == Some(victim) {
            self.stealing_from = None;
        }
        let Some(held) = self.workers.get(&victim) else { return };
        let released: HashSet<TestIndex> = released.iter().copied().collect();
        let moved: Vec<TestIndex> =
            held.tests().iter().copied().filter(|index| released.contains(index)).collect();
        if moved.is_empty() {
            return;
        }
        self.update(victim, |held| {
            held.release(&moved);
        });
        self.queue.extend(moved);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn started(tests: u32, workers: u32) -> (WorkStealScheduler, Vec<Assignment>) {
        let mut s = WorkStealScheduler::new((0..tests).collect());
        for w in 0..workers {
            s.add_worker(w);
        }
        let plan = s.schedule();
        (s, plan)
    }

    fn done(s: &mut WorkStealScheduler, worker: WorkerId, tests: impl IntoIterator<Item = u32>) {
        for index in tests {
            s.mark_complete(worker, index, Duration::ZERO);
        }
    }

    #[test]
    fn the_start_is_even_contiguous_slices() {
        let (_, plan) = started(10, 3);
        let slices: Vec<Vec<TestIndex>> = plan.into_iter().map(|a| a.tests).collect();
        assert_eq!(slices, vec![vec![0, 1, 2], vec![3, 4, 5], vec![6, 7, 8, 9]]);
        let (_, plan) = started(1, 3);
        assert_eq!(plan, vec![Assignment { worker: 2, tests: vec![0] }], "no empty slice");
    }

    #[test]
    fn with_history_the_split_is_even_in_time() {
        let ms = [400, 300, 200, 100, 100, 100, 100, 0, 0];
        let estimates = ms.iter().map(|&m| Duration::from_millis(m)).collect();
        let mut s = WorkStealScheduler::new((0..9).collect()).with_estimates(estimates);
        s.add_worker(0);
        s.add_worker(1);
        let slices: Vec<Vec<TestIndex>> = s.schedule().into_iter().map(|a| a.tests).collect();
        // Each test to the lighter worker (fewer tests, then lower id, on ties).
        assert_eq!(slices, vec![vec![0, 3, 4, 6], vec![1, 2, 5, 7, 8]]);
    }

    #[test]
    fn an_idle_worker_steals_half_the_tail_of_the_longest_queue() {
        let (mut s, _) = started(20, 2);
        assert!(s.steal_requests().is_empty(), "nobody is idle");
        done(&mut s, 1, 10..19);
        assert!(s.schedule().is_empty(), "nothing queued");
        let asked = s.steal_requests();
        assert_eq!(asked, vec![StealRequest { victim: 0, tests: (5..10).collect() }]);
        assert!(s.steal_requests().is_empty(), "one steal in flight");
        assert_eq!(s.pending(0).len(), 10, "asked-for tests stay the victim's until it answers");
        assert!(!s.is_finished());
        s.steal_answered(0, &asked[0].tests);
        assert_eq!(&s.pending(0)[..], &[0, 1, 2, 3, 4]);
        assert_eq!(s.schedule(), vec![Assignment { worker: 1, tests: (5..10).collect() }]);
    }

    #[test]
    fn a_victim_keeps_two() {
        let (mut s, _) = started(6, 2);
        done(&mut s, 1, 3..6);
        assert_eq!(s.steal_requests()[0].tests, vec![2], "min(3 / 2, 3 - 2)");
        s.steal_answered(0, &[2]);
        s.schedule();
        done(&mut s, 1, [2]);
        assert!(s.steal_requests().is_empty(), "the victim holds 2: nothing to steal");
    }

    #[test]
    fn an_answer_after_the_victim_ran_the_tests_is_empty_and_retried() {
        let (mut s, _) = started(20, 2);
        done(&mut s, 1, 10..20);
        let asked = s.steal_requests().remove(0);
        // The victim ran 9 before the steal reached it: it gives up nothing.
        done(&mut s, 0, [9]);
        s.steal_answered(0, &[]);
        assert!(s.schedule().is_empty());
        assert_eq!(&s.pending(0)[..], &(0..9).collect::<Vec<_>>()[..]);
        let again = s.steal_requests();
        assert_eq!(again[0].tests, (5..9).collect::<Vec<_>>(), "retried on what is left");
        assert_ne!(again[0].tests, asked.tests);
    }

    #[test]
    fn an_answer_after_the_victim_finished_everything_clears_the_marker() {
        let (mut s, _) = started(8, 2);
        done(&mut s, 1, 4..8);
        s.steal_requests();
        done(&mut s, 0, 0..4);
        assert!(!s.is_finished(), "a steal is in flight");
        s.steal_answered(0, &[]);
        assert!(s.is_finished());
    }

    #[test]
    fn a_dead_victim_clears_the_marker_and_its_late_answer_is_ignored() {
        let (mut s, _) = started(20, 2);
        done(&mut s, 1, 10..20);
        let asked = s.steal_requests().remove(0);
        done(&mut s, 0, [0]);
        assert_eq!(s.remove_worker(0), (1..10).collect::<Vec<_>>());
        s.steal_answered(0, &asked.tests);
        assert_eq!(s.queue.len(), 9, "no test twice");
        s.add_worker(2);
        let plan = s.schedule();
        let sent: usize = plan.iter().map(|a| a.tests.len()).sum();
        assert_eq!(sent, 9);
        assert_eq!(plan[0].worker, 1, "split over the idle workers, 1 and 2");
        assert!(s.steal_requests().is_empty(), "nobody idle");
    }

    #[test]
    fn a_released_test_the_victim_does_not_hold_is_not_moved() {
        let (mut s, _) = started(8, 2);
        done(&mut s, 1, 4..8);
        s.steal_requests();
        s.steal_answered(0, &[3, 7]);
        assert_eq!(&s.pending(0)[..], &[0, 1, 2]);
        assert_eq!(s.drain_unsent(), vec![3]);
    }
}
