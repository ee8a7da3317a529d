//! `--dist load`: pytest-xdist's load scheduler.
//!
//! At the start every worker gets one contiguous chunk of about a quarter of its share
//! (fewer tests than two per worker go out one at a time, round-robin). Each completed test
//! may top its worker up from the front of the queue, between a low and a high water mark
//! that shrink as the queue drains. A removed worker's unfinished tests go to the back of
//! the queue.
//!
//! With history, [`build_scheduler`](crate::build_scheduler) hands this scheduler the tests
//! longest first (LPT, unknown tests counted as the median; see `history.rs`) instead of in
//! collection order; the algorithm itself is unchanged, so the long tests go out first and
//! the short ones fill the gaps at the end.
//!
//! One addition for batching workers, which run what they hold in one process: a top-up is
//! at least [`BATCH_TARGET`] worth of tests, judged by a moving average of the durations
//! seen so far (never more than the worker's fair share of the queue). Top-ups of tests
//! that take microseconds would otherwise cost a process start each and win nothing in
//! balance: 2,000 tiny tests take 4 processes on 2 workers instead of about 40. The average
//! follows the tests as they get slower, so slow tests keep fine-grained top-ups. With
//! history, a suite whose whole estimated work is small goes out at once. When history
//! knows that a process of some binary costs much more than a start (its first panic under
//! `RUST_BACKTRACE` loads debug info), the start and the top-ups split no finer than a few
//! such costs.

use std::borrow::Cow;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use crate::boundary::aligned_end;
use crate::deal::{
    Costs, STEAL_WORTH, StealRefusal, TINY, deal, estimate_of, work_up_to, worth_stealing,
};
use crate::holding::Holding;
use crate::{Assignment, Scheduler, StealRequest, TestIndex, WorkerId};

/// A test that took at least this long marks its worker as busy with slow tests: it is not
/// topped up while it still holds two or more.
const SLOW_TEST: Duration = Duration::from_millis(100);

/// With history: below this much estimated work per worker, everything goes out at once.
const COARSE_BELOW: Duration = Duration::from_millis(250);

/// With history, the part of the estimated work held back at the start to top workers up
/// at the end; the rest is dealt at once, a process per binary and worker. A part that
/// holds only tiny tests is dealt too (steals balance the end instead).
const KEEP_BACK: f64 = 0.2;

/// With history, a run that may grow (`-n auto`) shares its queue with the workers to come
/// only when it holds at least this much work per worker: shorter runs end before they grow.
const GROWTH_WORTH: Duration = Duration::from_secs(1);

/// The longest queue whose estimates are summed to tell whether it is little work.
const LITTLE_WORK_SCAN: usize = 256;

/// A top-up carries at least this much estimated work (one process start is a few ms).
const BATCH_TARGET: Duration = Duration::from_millis(100);

/// With a known process cost, a worker's share under this many process costs goes out at
/// once, and a top-up carries at least this many: a finer split costs more than it balances.
const PROCESS_COSTS_PER_CHUNK: u32 = 4;

/// Completions needed before their average stands for the tests not yet run.
const MIN_SAMPLES: u32 = 8;

/// pytest-xdist's `LoadScheduling`, over test indices.
#[derive(Debug)]
pub struct LoadScheduler {
    queue: VecDeque<TestIndex>,
    total: usize,
    max_chunk: usize,
    workers: BTreeMap<WorkerId, WorkerState>,
    /// Workers whose holdings changed since the last `schedule`.
    to_check: BTreeSet<WorkerId>,
    initial_sent: bool,
    /// Estimated run time of each test, when history knows some.
    estimates: Option<Vec<Duration>>,
    /// Mean of the estimates, when there are some.
    mean_estimate: Option<Duration>,
    /// Each test's binary, numbered, so the deal counts a process start per binary.
    binaries: Option<Vec<u32>>,
    /// The most workers the run may grow to.
    grow_to: Option<usize>,
    /// The worker asked to give up tests, until it answers.
    stealing_from: Option<WorkerId>,
    /// The last tail found not worth a steal.
    refused: StealRefusal,
    /// Moving average (in seconds) and count of the durations reported so far.
    observed: (f64, u32),
    /// What one more process of the costliest binary pays once beyond its tests.
    process_cost: Duration,
}

#[derive(Debug, Default)]
struct WorkerState {
    pending: Holding,
    last_duration: Duration,
}

impl LoadScheduler {
    /// A scheduler over `tests`; `max_chunk` bounds any one assignment (`--maxschedchunk`).
    pub fn new(tests: Vec<TestIndex>, max_chunk: Option<usize>) -> Self {
        let total = tests.len();
        Self {
            queue: tests.into(),
            total,
            max_chunk: max_chunk.unwrap_or(total).max(1),
            workers: BTreeMap::new(),
            to_check: BTreeSet::new(),
            initial_sent: false,
            estimates: None,
            mean_estimate: None,
            binaries: None,
            grow_to: None,
            stealing_from: None,
            refused: StealRefusal::default(),
            observed: (0.0, 0),
            process_cost: Duration::ZERO,
        }
    }

    /// The duration of a test not yet run: the recent average, else the history's mean.
    fn typical_duration(&self) -> Option<Duration> {
        let (average, count) = self.observed;
        if count >= MIN_SAMPLES {
            Some(Duration::from_secs_f64(average))
        } else {
            self.mean_estimate
        }
    }

    /// With history: true when the whole suite is too little work to split finely (under
    /// [`COARSE_BELOW`] per worker, or a few of its costliest processes).
    fn is_coarse(&self) -> bool {
        let Some(mean) = self.mean_estimate else { return false };
        let per_worker = self.queue.len().div_ceil(self.workers.len().max(1));
        let below = COARSE_BELOW.max(self.process_cost.saturating_mul(PROCESS_COSTS_PER_CHUNK));
        mean.saturating_mul(u32::try_from(per_worker).unwrap_or(u32::MAX)) < below
    }

    /// The least work a top-up carries: [`BATCH_TARGET`], or a few of the costliest
    /// processes when those cost more.
    fn batch_target(&self) -> Duration {
        BATCH_TARGET.max(self.process_cost.saturating_mul(PROCESS_COSTS_PER_CHUNK))
    }

    /// Whether what is queued is estimated (by history, else by the average so far) at less
    /// than [`STEAL_WORTH`]: not worth splitting over workers.
    fn queue_is_little_work(&self) -> bool {
        // Summed only over a short queue, so a top-up stays cheap on huge suites.
        if self.estimates.is_some() && self.queue.len() > LITTLE_WORK_SCAN {
            return false;
        }
        let queued = self.queue.iter().copied();
        work_up_to(
            queued,
            self.queue.len(),
            self.estimates.as_deref(),
            self.typical_duration(),
            STEAL_WORTH,
        )
        .is_some_and(|work| work < STEAL_WORTH)
    }

    /// How many workers the start's deal is shared by: the live ones, or the most the run
    /// may grow to when history says the work is long enough for it to grow
    /// ([`GROWTH_WORTH`] per worker), so that the workers to come find work queued. Top-ups
    /// are sized the same way (a big top-up locks its tests into one process before the
    /// workers to come are there); each still carries [`BATCH_TARGET`] of work or more, so
    /// a run that never grows pays a process start per 100 ms of work at most.
    fn sharers(&self) -> usize {
        let live = self.workers.len().max(1);
        let (Some(most), Some(mean)) = (self.grow_to, self.mean_estimate) else { return live };
        let per_worker = mean.saturating_mul(u32::try_from(self.total / live).unwrap_or(u32::MAX));
        if most > live && per_worker >= GROWTH_WORTH { most } else { live }
    }

    /// How many tests make a top-up's worth of work (0 while that is unknown).
    fn tests_per_batch_target(&self) -> usize {
        match self.typical_duration() {
            Some(typical) if !typical.is_zero() => {
                (self.batch_target().as_secs_f64() / typical.as_secs_f64()).min(1e9) as usize
            }
            Some(_) => usize::MAX,
            None => 0,
        }
    }

    /// Deals the start by estimated run time (`estimates[index]`) instead of in contiguous
    /// chunks. The queue is then longest first, and contiguous chunks would hand the first
    /// worker all the longest tests; dealt, each test goes to the worker with the least
    /// estimated work so far (fewer tests, then the lower id, on ties).
    pub fn with_estimates(mut self, estimates: Vec<Duration>) -> Self {
        let count = u32::try_from(estimates.len()).unwrap_or(u32::MAX).max(1);
        self.mean_estimate = Some(estimates.iter().sum::<Duration>() / count);
        self.estimates = Some(estimates);
        self
    }

    /// The run may grow to `workers` (`-n auto`): with history, the start keeps the later
    /// workers' share queued (a worker holding its whole share would leave them nothing).
    pub fn growing_to(mut self, workers: Option<usize>) -> Self {
        self.grow_to = workers;
        self
    }

    /// Names each test's binary (`binaries[index]`), so the deal keeps a binary on as few
    /// workers as its work allows (see `deal.rs`) and chunks end at binary boundaries
    /// nearby (see `boundary.rs`).
    pub fn with_binaries(mut self, binaries: Vec<u32>) -> Self {
        self.binaries = Some(binaries);
        self
    }

    /// One more process of the costliest binary pays `cost` once beyond its tests: the
    /// start and the top-ups split the work no finer than a few such costs.
    pub fn with_process_cost(mut self, cost: Duration) -> Self {
        self.process_cost = cost;
        self
    }

    fn initial(&mut self) -> Vec<Assignment> {
        self.initial_sent = true;
        let count = self.workers.len();
        let mut plan: BTreeMap<WorkerId, Vec<TestIndex>> = BTreeMap::new();
        let coarse = self.is_coarse();
        if let Some(estimates) = &self.estimates {
            // One worker has nothing to balance: holding work back would only cost processes.
            let alone = count == 1 && self.grow_to.is_none_or(|most| most <= 1);
            let take = if self.total < 2 * count || coarse || alone {
                self.queue.len()
            } else {
                // All but the last part of the estimated work, which tops workers up at the
                // end (the queue is longest first, so what is kept back is short).
                let total: Duration = self.queue.iter().map(|&i| estimate_of(estimates, i)).sum();
                let later = 1.0 - count as f64 / self.sharers() as f64;
                let by_work = |kept: f64| {
                    let target = total.mul_f64(1.0 - kept);
                    let mut dealt = Duration::ZERO;
                    self.queue
                        .iter()
                        .take_while(|&&i| {
                            let below = dealt < target;
                            dealt += estimate_of(estimates, i);
                            below
                        })
                        .count()
                };
                let mut take = by_work(KEEP_BACK.max(later));
                // Tiny tests kept back would only cost a process per top-up: a worker that
                // ends early steals instead (only the workers to come keep a share back).
                let tail_is_tiny =
                    self.queue.range(take..).all(|&i| estimate_of(estimates, i) < TINY);
                if tail_is_tiny && later < KEEP_BACK {
                    take = if later > 0.0 { by_work(later) } else { self.queue.len() };
                }
                take.min(self.max_chunk.saturating_mul(count)).max(count).min(self.queue.len())
            };
            let costs = Costs { estimates, binaries: self.binaries.as_deref() };
            let ids: Vec<WorkerId> = self.workers.keys().copied().collect();
            let shares = deal(self.queue.drain(..take), &vec![(Duration::ZERO, 0); count], costs);
            plan.extend(ids.into_iter().zip(shares));
        } else if self.total < 2 * count {
            // Few tests: one at a time, round-robin, until all are out.
            let ids: Vec<WorkerId> = self.workers.keys().copied().collect();
            for (i, index) in self.queue.drain(..).enumerate() {
                plan.entry(ids[i % count]).or_default().push(index);
            }
        } else {
            let per_worker = self.queue.len() / count;
            let chunk = (per_worker / 4).min(self.max_chunk).max(2);
            let ids: Vec<WorkerId> = self.workers.keys().copied().collect();
            for worker in ids {
                let take = self.aligned(chunk.min(self.queue.len()));
                plan.insert(worker, self.queue.drain(..take).collect());
            }
        }
        self.record(plan)
    }

    fn record(&mut self, plan: BTreeMap<WorkerId, Vec<TestIndex>>) -> Vec<Assignment> {
        plan.into_iter()
            .filter(|(_, tests)| !tests.is_empty())
            .map(|(worker, tests)| {
                let state = self.workers.get_mut(&worker).expect("planned for a known worker");
                state.pending.extend(&tests);
                self.refused.forget();
                Assignment { worker, tests }
            })
            .collect()
    }

    /// `take` tests from the front of the queue, moved to a binary boundary nearby when the
    /// tests it moves are less work than a top-up carries (see `boundary.rs`).
    fn aligned(&self, take: usize) -> usize {
        let Some(binaries) = &self.binaries else { return take };
        let most = self.max_chunk.min(self.queue.len());
        let (estimates, typical) = (self.estimates.as_deref(), self.typical_duration());
        aligned_end(&self.queue, take, most, binaries, |moved| {
            let target = self.batch_target();
            work_up_to(moved.iter().copied(), moved.len(), estimates, typical, target)
                .is_none_or(|work| work < target)
        })
    }

    /// How many tests to send `worker` now, following pytest-xdist's top-up rule.
    fn top_up_size(&self, worker: WorkerId) -> usize {
        let Some(state) = self.workers.get(&worker) else { return 0 };
        if self.queue.is_empty() {
            return 0;
        }
        let sharers = self.sharers();
        let per_worker = self.queue.len() / sharers;
        let low = (per_worker / 4).max(2);
        let high = (per_worker / 2).max(2);
        let held = state.pending.len();
        if held >= low {
            return 0;
        }
        if state.last_duration >= SLOW_TEST && held >= 2 {
            return 0;
        }
        if self.queue_is_little_work() {
            // Halving what is left would cost a process per piece and win less than that.
            return self.queue.len().min(self.max_chunk);
        }
        let pytest = (high - held).min((2usize.saturating_sub(held)).max(self.max_chunk));
        // Batching: at least a process worth of work, at most a fair share of the queue.
        let fair_share = self.queue.len().div_ceil(sharers);
        let by_time = self.tests_per_batch_target().min(fair_share).min(self.max_chunk);
        pytest.max(by_time)
    }
}

impl Scheduler for LoadScheduler {
    fn add_worker(&mut self, worker: WorkerId) {
        self.workers.entry(worker).or_default();
        self.to_check.insert(worker);
        self.refused.forget();
    }

    fn mark_complete(&mut self, worker: WorkerId, index: TestIndex, duration: Duration) {
        if let Some(state) = self.workers.get_mut(&worker) {
            state.pending.remove(index);
            state.last_duration = duration;
            self.to_check.insert(worker);
            // A short memory, so a switch to slower tests shows within a few completions.
            let (average, count) = &mut self.observed;
            let weight = if *count < MIN_SAMPLES { 1.0 / f64::from(*count + 1) } else { 0.2 };
            *average += (duration.as_secs_f64() - *average) * weight;
            *count += 1;
        }
    }

    fn remove_worker(&mut self, worker: WorkerId) -> Vec<TestIndex> {
        self.to_check.remove(&worker);
        self.refused.forget();
        if self.stealing_from == Some(worker) {
            // A dead victim never answers.
            self.stealing_from = None;
        }
        let Some(state) = self.workers.remove(&worker) else { return Vec::new() };
        let pending = state.pending.into_vec();
        self.queue.extend(&pending);
        // Everyone else may now take the requeued work.
        self.to_check.extend(self.workers.keys().copied());
        pending
    }

    fn schedule(&mut self) -> Vec<Assignment> {
        if self.workers.is_empty() {
            return Vec::new();
        }
        if !self.initial_sent {
            self.to_check.clear();
            return self.initial();
        }
        let mut plan = BTreeMap::new();
        for worker in std::mem::take(&mut self.to_check) {
            let take = self.aligned(self.top_up_size(worker).min(self.queue.len()));
            if take > 0 {
                plan.insert(worker, self.queue.drain(..take).collect());
            }
        }
        self.record(plan)
    }

    fn pending(&self, worker: WorkerId) -> Cow<'_, [TestIndex]> {
        self.workers.get(&worker).map_or(Cow::Borrowed(&[][..]), |s| s.pending.tests())
    }

    fn held(&self, worker: WorkerId) -> usize {
        self.workers.get(&worker).map_or(0, |s| s.pending.len())
    }

    fn is_finished(&self) -> bool {
        self.queue.is_empty()
            && self.stealing_from.is_none()
            && self.workers.values().all(|s| s.pending.is_empty())
    }

    fn has_unsent(&self) -> bool {
        !self.queue.is_empty()
    }

    fn drain_unsent(&mut self) -> Vec<TestIndex> {
        self.queue.drain(..).collect()
    }

    fn requeue_front(&mut self, index: TestIndex) {
        self.queue.push_front(index);
        self.to_check.extend(self.workers.keys().copied());
    }

    /// At the end of the run, a worker with nothing left may take half of the tail of the
    /// longest holding (as `worksteal` does): a run of slow tests handed to one worker
    /// before their durations were known need not finish there.
    fn steal_requests(&mut self) -> Vec<StealRequest> {
        if self.stealing_from.is_some() || !self.queue.is_empty() {
            return Vec::new();
        }
        if !self.workers.values().any(|s| s.pending.is_empty()) {
            return Vec::new();
        }
        let Some((&victim, state)) =
            self.workers.iter().max_by_key(|(w, s)| (s.pending.len(), Reverse(**w)))
        else {
            return Vec::new();
        };
        let len = state.pending.len();
        let count = crate::steal_count(len);
        if count == 0 {
            return Vec::new();
        }
        // The victim's last test says more of its tail than the run's average does.
        let typical = self.typical_duration().map(|typical| typical.max(state.last_duration));
        if self.estimates.is_none() {
            // The tail weighs its length times the typical duration: no need to read it.
            let work = work_up_to([], count, None, typical, STEAL_WORTH);
            if work.is_some_and(|work| work < STEAL_WORTH) {
                return Vec::new();
            }
        } else if self.refused.stands(victim, len) {
            return Vec::new();
        }
        let tests = state.pending.tail(count);
        if !worth_stealing(&tests, self.estimates.as_deref(), typical) {
            self.refused.refuse(victim, len);
            return Vec::new();
        }
        self.stealing_from = Some(victim);
        vec![StealRequest { victim, tests }]
    }

    fn steal_answered(&mut self, victim: WorkerId, released: &[TestIndex]) {
        self.refused.forget();
        if self.stealing_from == Some(victim) {
            self.stealing_from = None;
        }
        let Some(state) = self.workers.get_mut(&victim) else { return };
        if !state.pending.release(released) {
            return;
        }
        // What was freed runs next, on whoever needs work.
        for &index in released.iter().rev() {
            self.queue.push_front(index);
        }
        self.to_check.extend(self.workers.keys().copied());
    }

    fn steal_in_flight(&self) -> bool {
        self.stealing_from.is_some()
    }

    fn may_steal_later(&self) -> bool {
        self.queue.is_empty()
            && self.workers.values().any(|s| crate::steal_count(s.pending.len()) > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sizes(plan: &[Assignment]) -> Vec<usize> {
        plan.iter().map(|a| a.tests.len()).collect()
    }

    #[test]
    fn initial_chunks_are_contiguous_quarters() {
        let mut s = LoadScheduler::new((0..100).collect(), None);
        for w in 0..4 {
            s.add_worker(w);
        }
        let plan = s.schedule();
        assert_eq!(sizes(&plan), vec![6, 6, 6, 6]);
        assert_eq!(plan[1].tests, (6..12).collect::<Vec<_>>());
    }

    #[test]
    fn with_history_the_start_is_dealt_not_chunked() {
        // 40 tests longest first (index 0 longest); 4 workers, chunks of 2.
        let estimates: Vec<Duration> = (0..40).rev().map(Duration::from_secs).collect();
        let mut s = LoadScheduler::new((0..40).collect(), None).with_estimates(estimates);
        for w in 0..4 {
            s.add_worker(w);
        }
        let plan = s.schedule();
        let firsts: Vec<TestIndex> = plan.iter().map(|a| a.tests[0]).collect();
        assert_eq!(firsts, vec![0, 1, 2, 3], "the four longest go to four workers");
        assert_eq!(plan[3].tests[..2], [3, 4], "the least loaded worker takes the next");
        // 780 s in all: the longest 22 tests (627 s) make the first 80 %; 18 stay queued.
        assert_eq!(plan.iter().map(|a| a.tests.len()).sum::<usize>(), 22);
        assert_eq!(s.drain_unsent(), (22..40).collect::<Vec<_>>());
    }

    /// Runs `s` to the end over workers 0 and 1, each completing the front of its holding
    /// in `micros` a test, in turns; counts the processes the assignments cost (one per
    /// binary in each assignment, as a batching worker starts them).
    fn processes_of_a_run(mut s: LoadScheduler, binaries: &[u32], micros: u64) -> usize {
        s.add_worker(0);
        s.add_worker(1);
        let mut processes = 0;
        let mut done = 0;
        loop {
            for assignment in s.schedule() {
                let mut seen: Vec<u32> =
                    assignment.tests.iter().map(|&t| binaries[t as usize]).collect();
                seen.dedup();
                processes += seen.len();
            }
            let mut progressed = false;
            for worker in [0, 1] {
                if let Some(&front) = s.pending(worker).first() {
                    s.mark_complete(worker, front, Duration::from_micros(micros));
                    done += 1;
                    progressed = true;
                }
            }
            if !progressed && !s.has_unsent() {
                break;
            }
        }
        assert_eq!(done, binaries.len(), "every test ran once");
        processes
    }

    #[test]
    fn chunks_of_small_binaries_end_at_their_boundaries() {
        // 25 binaries of 60 tests (as many small integration-test files): chunks of about
        // a quarter of a worker's share, then top-ups; without boundaries about 40 starts.
        let binaries: Vec<u32> = (0..1500).map(|i| i / 60).collect();
        let tiny = LoadScheduler::new((0..1500).collect(), None).with_binaries(binaries.clone());
        assert!(processes_of_a_run(tiny, &binaries, 20) <= 27);
        // A binary boundary farther than half a chunk away does not move the chunk.
        let big: Vec<u32> = (0..1500).map(|i| u32::from(i >= 1400)).collect();
        let s = LoadScheduler::new((0..1500).collect(), None).with_binaries(big.clone());
        let mut probe = LoadScheduler::new((0..1500).collect(), None).with_binaries(big.clone());
        probe.add_worker(0);
        probe.add_worker(1);
        assert_eq!(sizes(&probe.schedule()), vec![187, 187]);
        assert!(processes_of_a_run(s, &big, 20) >= 3);
    }

    #[test]
    fn tiny_tests_get_top_ups_of_a_fair_share() {
        let mut s = LoadScheduler::new((0..2000).collect(), None);
        s.add_worker(0);
        s.add_worker(1);
        assert_eq!(sizes(&s.schedule()), vec![250, 250], "pytest-xdist's start");
        for i in 0..63 {
            s.mark_complete(0, i, Duration::from_micros(20));
            assert!(s.schedule().is_empty(), "worker 0 still holds enough");
        }
        s.mark_complete(0, 63, Duration::from_micros(20));
        assert_eq!(sizes(&s.schedule()), vec![750], "1,500 x 20 µs left: a fair share at once");
    }

    #[test]
    fn top_ups_shrink_when_tests_get_slower() {
        let mut s = LoadScheduler::new((0..2000).collect(), None);
        s.add_worker(0);
        s.add_worker(1);
        s.schedule();
        for i in 0..40 {
            s.mark_complete(0, i, Duration::from_micros(20));
        }
        for i in 40..64 {
            s.mark_complete(0, i, Duration::from_millis(20));
        }
        // 20 ms tests: 100 ms is five of them; pytest-xdist's own top-up is larger here.
        assert_eq!(sizes(&s.schedule()), vec![189]);
    }

    #[test]
    fn slow_tests_keep_the_fine_grained_top_ups() {
        let mut s = LoadScheduler::new((0..2000).collect(), None);
        s.add_worker(0);
        s.add_worker(1);
        s.schedule();
        for i in 0..70 {
            s.mark_complete(0, i, Duration::from_millis(5));
        }
        let plan = s.schedule();
        assert_eq!(sizes(&plan), vec![195], "refilled to the high mark, 1,500 x 5 ms left");
    }

    #[test]
    fn with_history_tiny_suites_go_out_whole() {
        let estimates = vec![Duration::from_micros(30); 1000];
        let mut s = LoadScheduler::new((0..1000).collect(), None).with_estimates(estimates);
        s.add_worker(0);
        s.add_worker(1);
        assert_eq!(sizes(&s.schedule()), vec![500, 500]);
    }

    #[test]
    fn with_history_costly_processes_make_a_suite_go_out_whole() {
        // 400 ms per worker: kept back in part at the usual process start, all out at once
        // when a process costs 200 ms (the 800 ms of four such starts are more than a share).
        let schedule = |cost: Duration| {
            let estimates = vec![Duration::from_millis(20); 40];
            let mut s = LoadScheduler::new((0..40).collect(), None)
                .with_estimates(estimates)
                .with_process_cost(cost);
            s.add_worker(0);
            s.add_worker(1);
            sizes(&s.schedule()).iter().sum::<usize>()
        };
        assert!(schedule(Duration::ZERO) < 40, "a part is kept back to top workers up");
        assert_eq!(schedule(Duration::from_millis(200)), 40);
    }

    #[test]
    fn tiny_tests_are_not_kept_back_but_for_the_workers_to_come() {
        let dealt = |tests: u32, ms: u64, grow_to: Option<usize>| {
            let estimates = vec![Duration::from_millis(ms); tests as usize];
            let mut s = LoadScheduler::new((0..tests).collect(), None)
                .with_estimates(estimates)
                .growing_to(grow_to);
            s.add_worker(0);
            s.add_worker(1);
            sizes(&s.schedule()).iter().sum::<usize>()
        };
        assert_eq!(dealt(1000, 1, None), 1000, "a tail of tiny tests is stolen, not topped up");
        assert!(dealt(1000, 20, None) < 1000, "longer tests keep a part back");
        // 2 s a worker, growing to 4: half stays queued for workers 3 and 4.
        assert_eq!(dealt(4000, 1, Some(4)), 2000);
    }

    #[test]
    fn an_idle_worker_steals_the_tail_of_the_longest_holding() {
        let mut s = LoadScheduler::new((0..20).collect(), None);
        s.add_worker(0);
        s.add_worker(1);
        assert_eq!(sizes(&s.schedule()), vec![2, 2]);
        // Worker 1 is handed everything else, then worker 0 finishes its two.
        s.drain_unsent();
        s.record(BTreeMap::from([(1, (4..20).collect())]));
        s.mark_complete(0, 0, Duration::ZERO);
        s.mark_complete(0, 1, Duration::ZERO);
        assert!(s.schedule().is_empty());
        let steals = s.steal_requests();
        assert_eq!(steals, vec![StealRequest { victim: 1, tests: (11..20).collect() }]);
        assert!(s.steal_requests().is_empty(), "one steal at a time");
        assert!(!s.is_finished());
        s.steal_answered(1, &(11..20).collect::<Vec<_>>());
        let plan = s.schedule();
        assert_eq!(plan[0].worker, 0, "the stolen tests go to the idle worker");
        assert_eq!(plan[0].tests[0], 11);
    }

    #[test]
    fn tiny_tests_are_not_worth_stealing() {
        for (ms, steals) in [(1, false), (100, true)] {
            let estimates = vec![Duration::from_millis(ms); 20];
            let mut s = LoadScheduler::new((0..20).collect(), None).with_estimates(estimates);
            s.add_worker(0);
            s.add_worker(1);
            s.schedule();
            s.drain_unsent();
            for w in [0, 1] {
                let held = s.pending(w).to_vec();
                for index in held {
                    s.mark_complete(w, index, Duration::from_millis(ms));
                }
            }
            s.record(BTreeMap::from([(1, (0..20).collect())]));
            // 9 tests of 1 ms cost less than the thief's process start and the victim's.
            assert_eq!(!s.steal_requests().is_empty(), steals, "{ms} ms tests");
        }
    }

    #[test]
    fn a_refused_tail_is_weighed_again_as_the_holding_shrinks() {
        // Worker 1 holds 64 tests: 32 of 100 ms, then 32 of 0.1 ms (its tail). Worker 0 is
        // idle: the tail is not worth a steal.
        let mut estimates = vec![Duration::from_millis(100); 32];
        estimates.extend(vec![Duration::from_micros(100); 32]);
        let mut s = LoadScheduler::new(Vec::new(), None).with_estimates(estimates);
        s.add_worker(0);
        s.add_worker(1);
        s.initial_sent = true;
        s.record(BTreeMap::from([(1, (0..64).collect())]));
        assert!(s.steal_requests().is_empty());
        // The cheap tests finish first (libtest's order is not the order sent): the tail
        // now reaches the slow ones, and a steal is asked for within a sixteenth of the
        // holding, not at once (weighing a tail costs the tail).
        let mut asked_at = None;
        for (done, index) in (32..64).rev().enumerate() {
            s.mark_complete(1, index, Duration::from_micros(100));
            if !s.steal_requests().is_empty() {
                asked_at = Some(done + 1);
                break;
            }
        }
        let asked_at = asked_at.expect("the slow tail is stolen");
        // 64 held when refused: weighed again at 60 held, when the tail of 30 holds 100 ms
        // tests.
        assert_eq!(asked_at, 4);
        let request = s.stealing_from;
        assert_eq!(request, Some(1));
    }

    #[test]
    fn a_queue_of_little_work_goes_out_whole() {
        for (ms, whole) in [(1, true), (100, false)] {
            let estimates = vec![Duration::from_millis(ms); 1000];
            let mut s = LoadScheduler::new((0..1000).collect(), None).with_estimates(estimates);
            s.add_worker(0);
            s.add_worker(1);
            s.schedule();
            // Whatever the start dealt, 15 tests are left.
            s.queue = (985..1000).collect();
            for index in s.pending(0).to_vec() {
                s.mark_complete(0, index, Duration::from_millis(ms));
            }
            // 15 tests of 1 ms: one process; of 100 ms: still split between the workers.
            assert_eq!(s.top_up_size(0) == 15, whole, "{ms} ms tests");
        }
    }

    #[test]
    fn few_tests_go_round_robin() {
        let mut s = LoadScheduler::new((0..5).collect(), None);
        for w in 0..3 {
            s.add_worker(w);
        }
        let plan = s.schedule();
        assert_eq!(plan[0].tests, vec![0, 3]);
        assert_eq!(plan[1].tests, vec![1, 4]);
        assert_eq!(plan[2].tests, vec![2]);
    }

    #[test]
    fn top_up_refills_to_high_water_mark() {
        // pytest-xdist's worked example: 100 tests, 4 workers; min 4, max 9 after the start.
        let mut s = LoadScheduler::new((0..100).collect(), None);
        for w in 0..4 {
            s.add_worker(w);
        }
        s.schedule();
        for i in 0..2 {
            s.mark_complete(0, i, Duration::from_millis(1));
            assert!(s.schedule().is_empty(), "worker 0 still holds {}", 6 - i - 1);
        }
        s.mark_complete(0, 2, Duration::from_millis(1));
        let plan = s.schedule();
        assert_eq!(sizes(&plan), vec![6], "refilled from 3 held to 9");
        assert_eq!(plan[0].tests, (24..30).collect::<Vec<_>>());
    }

    #[test]
    fn slow_worker_is_not_topped_up_while_holding_two() {
        let mut s = LoadScheduler::new((0..100).collect(), None);
        for w in 0..4 {
            s.add_worker(w);
        }
        s.schedule();
        for i in 0..4 {
            s.mark_complete(0, i, Duration::from_millis(500));
        }
        assert!(s.schedule().is_empty());
    }

    #[test]
    fn max_sched_chunk_bounds_the_initial_chunk() {
        let mut s = LoadScheduler::new((0..1000).collect(), Some(3));
        s.add_worker(0);
        s.add_worker(1);
        assert_eq!(sizes(&s.schedule()), vec![3, 3]);
    }

    #[test]
    fn history_sends_the_longest_tests_first() {
        use crate::{DistMode, SchedOptions, TestMeta, build_scheduler};
        // Test i took i × 100 ms; test 5 is new and counts as the median (800 ms). It goes
        // before test 8, whose estimate is equal, since ties keep collection order.
        let tests: Vec<TestMeta> = (0..16u64)
            .map(|i| TestMeta {
                duration: (i != 5).then(|| Duration::from_millis(100 * i)),
                ..TestMeta::new("b", format!("t{i}"))
            })
            .collect();
        let mut s = build_scheduler(DistMode::Load, &tests, &SchedOptions::default());
        s.add_worker(0);
        s.add_worker(1);
        let plan = s.schedule();
        // 12.3 s in all; the first 80 % (9.84 s) is reached with test 8. Dealt by estimated
        // load: 15 | 14, then 13 to the lighter, then 12 to the other, and so on.
        assert_eq!(plan[0].tests, vec![15, 12, 11, 5, 8]);
        assert_eq!(plan[1].tests, vec![14, 13, 10, 9]);
        assert_eq!(s.drain_unsent(), vec![7, 6, 4, 3, 2, 1, 0]);
    }

    #[test]
    fn removed_worker_work_goes_to_the_back() {
        let mut s = LoadScheduler::new((0..100).collect(), None);
        s.add_worker(0);
        s.add_worker(1);
        s.schedule();
        let moved = s.remove_worker(0);
        assert_eq!(moved, (0..12).collect::<Vec<_>>());
        assert_eq!(s.queue.back(), Some(&11));
        assert!(!s.is_finished());
    }
}
