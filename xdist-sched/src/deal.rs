//! Dealing tests over workers by estimated time (LPT), counting a process start for every
//! test binary a worker gets a share of.
//!
//! Workers run what they hold in one process per test binary, so splitting a binary over two
//! workers costs a second process start. For a binary whose tests take microseconds that
//! start is the whole cost: 25 small binaries dealt test by test over 2 workers start 50
//! processes where 25 would do. So each test goes to the worker where it finishes the dealt
//! work soonest, a worker that has none of its binary yet paying [`PROCESS_START`] more: a
//! binary stays on one worker until that worker is a process start ahead of the least loaded
//! one, and long tests still spread as plain LPT spreads them.
//!
//! Looking at every worker for every test would cost tests × workers; a binary's tests come
//! mostly together in the queue, so only two places are weighed: the worker that got the
//! binary's previous test, and the least loaded worker (a heap with stale entries skipped).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Duration;

use crate::{TestIndex, WorkerId};

/// What one more process of a test binary costs a worker: exec, dynamic linking and
/// libtest's start, a few milliseconds for a test binary on a laptop.
pub(crate) const PROCESS_START: Duration = Duration::from_millis(5);

/// Below this a test is tiny: how long it takes is noise next to a process start.
pub(crate) const TINY: Duration = Duration::from_millis(10);

/// A steal moves at least this much estimated work: what it buys must outweigh the thief's
/// extra process starts (one per binary) and the victim's restart.
pub(crate) const STEAL_WORTH: Duration = Duration::from_millis(20);

/// The most tests [`worth_stealing`] looks at.
const STEAL_SCAN: usize = 4096;

/// Whether stealing `tests` is worth its process starts: judged by their estimates (the
/// first [`STEAL_SCAN`] of them), else by `typical` per test; with neither known, it is.
pub(crate) fn worth_stealing(
    tests: &[TestIndex],
    estimates: Option<&[Duration]>,
    typical: Option<Duration>,
) -> bool {
    let scanned = &tests[..tests.len().min(STEAL_SCAN)];
    let counted = if estimates.is_some() { scanned } else { tests };
    work_up_to(counted.iter().copied(), counted.len(), estimates, typical, STEAL_WORTH)
        .is_none_or(|work| work >= STEAL_WORTH)
}

/// A victim whose tail was found not worth a steal, and how many tests it held then. By
/// estimates a tail changes only as tests complete, so it is weighed again once the victim
/// holds a sixteenth fewer (at once after [`StealRefusal::forget`], when anything else
/// changed), not at every completion: weighing a tail costs the tail.
#[derive(Debug, Default)]
pub(crate) struct StealRefusal(Option<(WorkerId, usize)>);

impl StealRefusal {
    /// Whether `victim`, holding `held` tests now, is still passed over.
    pub(crate) fn stands(&self, victim: WorkerId, held: usize) -> bool {
        self.0.is_some_and(|(refused, at)| refused == victim && held + (at / 16).max(1) > at)
    }

    /// `victim`'s tail, with `held` tests held, was not worth a steal.
    pub(crate) fn refuse(&mut self, victim: WorkerId, held: usize) {
        self.0 = Some((victim, held));
    }

    /// Something changed besides completions: the next tail is weighed.
    pub(crate) fn forget(&mut self) {
        self.0 = None;
    }
}

/// The estimated work of `tests` (`count` of them), summed only until it reaches `limit`:
/// by their estimates, else `typical` each; `None` when neither is known.
pub(crate) fn work_up_to(
    tests: impl IntoIterator<Item = TestIndex>,
    count: usize,
    estimates: Option<&[Duration]>,
    typical: Option<Duration>,
    limit: Duration,
) -> Option<Duration> {
    match (estimates, typical) {
        (Some(estimates), _) => {
            // Summed until it is enough (a long run of tiny tests would cost a scan per event).
            let mut work = Duration::ZERO;
            for index in tests {
                work += estimate_of(estimates, index);
                if work >= limit {
                    break;
                }
            }
            Some(work)
        }
        (None, Some(typical)) => {
            Some(typical.saturating_mul(u32::try_from(count).unwrap_or(u32::MAX)))
        }
        (None, None) => None,
    }
}

/// Test `index`'s estimate (nothing for an index past the estimates).
pub(crate) fn estimate_of(estimates: &[Duration], index: TestIndex) -> Duration {
    estimates.get(index as usize).copied().unwrap_or_default()
}

/// Per-test estimates and binaries, indexed by [`TestIndex`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Costs<'a> {
    pub estimates: &'a [Duration],
    /// Each test's binary as a small number; `None` deals as plain LPT.
    pub binaries: Option<&'a [u32]>,
}

impl Costs<'_> {
    fn estimate(&self, index: TestIndex) -> Duration {
        estimate_of(self.estimates, index)
    }
}

/// Deals `tests` (longest first, as the queue holds them) over slots whose work so far is
/// `loads` (estimated time, tests held); returns each slot's share, in dealt order.
///
/// The tests before the queue's tail of tiny ones (under [`TINY`], which the queue keeps in
/// collection order) are dealt one by one, LPT, ties to fewer tests, then the lower slot.
/// The tiny tail is cut into contiguous slices that bring the slots to one level (water
/// filling): for tiny tests only the number of processes and of names matters, and a
/// contiguous slice needs one process per binary and names whole modules.
pub(crate) fn deal(
    tests: impl IntoIterator<Item = TestIndex>,
    loads: &[(Duration, usize)],
    costs: Costs<'_>,
) -> Vec<Vec<TestIndex>> {
    let mut shares: Vec<Vec<TestIndex>> = vec![Vec::new(); loads.len()];
    if loads.is_empty() {
        return shares;
    }
    let tests: Vec<TestIndex> = tests.into_iter().collect();
    let tail_start = tests
        .iter()
        .rposition(|&index| costs.estimate(index) >= TINY)
        .map_or(0, |last_long| last_long + 1);
    let mut dealer = Dealer::new(loads, costs);
    for &index in &tests[..tail_start] {
        let slot = dealer.choose(index);
        dealer.place(slot, index);
        shares[slot].push(index);
    }
    dealer.fill(&tests[tail_start..], &mut shares);
    shares
}

/// The slots' loads while dealing, and which binaries each slot has a process of.
struct Dealer<'a> {
    costs: Costs<'a>,
    state: Vec<(Duration, usize)>,
    heap: BinaryHeap<Reverse<(Duration, usize, usize)>>,
    /// The slot that got each binary's last test.
    last_slot: Vec<Option<usize>>,
    has_binary: Vec<Vec<bool>>,
}

impl<'a> Dealer<'a> {
    fn new(loads: &[(Duration, usize)], costs: Costs<'a>) -> Self {
        let heap = loads
            .iter()
            .enumerate()
            .map(|(slot, &(load, held))| Reverse((load, held, slot)))
            .collect();
        Self {
            costs,
            state: loads.to_vec(),
            heap,
            last_slot: Vec::new(),
            has_binary: vec![Vec::new(); loads.len()],
        }
    }

    fn binary(&self, index: TestIndex) -> Option<usize> {
        let binaries = self.costs.binaries?;
        Some(binaries.get(index as usize).copied().unwrap_or(0) as usize)
    }

    /// What placing a test of `binary` on `slot` adds beyond the test: a process start when
    /// the slot has none of that binary yet.
    fn start_cost(&self, slot: usize, binary: Option<usize>) -> Duration {
        match binary {
            Some(b) if !self.has_binary[slot].get(b).copied().unwrap_or(false) => PROCESS_START,
            _ => Duration::ZERO,
        }
    }

    /// The least loaded slot (stale heap entries are dropped on the way).
    fn least(&mut self) -> usize {
        loop {
            let Reverse((load, held, slot)) = *self.heap.peek().expect("an entry per slot");
            if self.state[slot] == (load, held) {
                return slot;
            }
            self.heap.pop();
        }
    }

    /// Where `index` finishes soonest: the least loaded slot, or the slot that got its
    /// binary's previous test when moving would cost a process start more than staying.
    fn choose(&mut self, index: TestIndex) -> usize {
        let least = self.least();
        let Some(binary) = self.binary(index) else { return least };
        match self.last_slot.get(binary).copied().flatten() {
            Some(current) if current != least => {
                let stay = self.state[current].0 + self.start_cost(current, Some(binary));
                let move_to = self.state[least].0 + self.start_cost(least, Some(binary));
                if stay <= move_to { current } else { least }
            }
            _ => least,
        }
    }

    fn place(&mut self, slot: usize, index: TestIndex) {
        if let Some(binary) = self.binary(index) {
            let start = self.start_cost(slot, Some(binary));
            self.state[slot].0 += start;
            let has = &mut self.has_binary[slot];
            if has.len() <= binary {
                has.resize(binary + 1, false);
            }
            has[binary] = true;
            if self.last_slot.len() <= binary {
                self.last_slot.resize(binary + 1, None);
            }
            self.last_slot[binary] = Some(slot);
        }
        self.state[slot].0 += self.costs.estimate(index);
        self.state[slot].1 += 1;
        self.heap.push(Reverse((self.state[slot].0, self.state[slot].1, slot)));
    }

    /// Cuts `tail` into contiguous slices that fill the least loaded slots to one level.
    fn fill(&mut self, tail: &[TestIndex], shares: &mut [Vec<TestIndex>]) {
        if tail.is_empty() {
            return;
        }
        // The tail's work: its tests, and a process start per binary in it.
        let mut work: Duration = tail.iter().map(|&i| self.costs.estimate(i)).sum();
        let mut binaries: Vec<usize> = tail.iter().filter_map(|&i| self.binary(i)).collect();
        binaries.sort_unstable();
        binaries.dedup();
        work += PROCESS_START * u32::try_from(binaries.len()).unwrap_or(u32::MAX);
        // Slots by load; the level is where the tail's work tops up the lowest ones.
        let mut order: Vec<usize> = (0..self.state.len()).collect();
        order.sort_by_key(|&slot| (self.state[slot], slot));
        let mut level = Duration::ZERO;
        let mut filled = 0;
        let mut below = Duration::ZERO;
        for (count, &slot) in order.iter().enumerate() {
            let candidate = (work + below + self.state[slot].0) / (count as u32 + 1);
            if candidate < self.state[slot].0 {
                break;
            }
            below += self.state[slot].0;
            level = candidate;
            filled = count + 1;
        }
        let mut rest = tail.iter().copied().peekable();
        for (position, &slot) in order[..filled].iter().enumerate() {
            let last = position + 1 == filled;
            while let Some(&index) = rest.peek() {
                let binary = self.binary(index);
                let cost = self.costs.estimate(index) + self.start_cost(slot, binary);
                if !last && self.state[slot].0 + cost > level {
                    break;
                }
                rest.next();
                self.place(slot, index);
                shares[slot].push(index);
            }
        }
    }
}

/// Numbers each test's binary id (first seen, first numbered), for [`Costs::binaries`].
pub(crate) fn binary_numbers<'a>(binary_ids: impl IntoIterator<Item = &'a str>) -> Vec<u32> {
    let mut seen: std::collections::HashMap<&'a str, u32> = std::collections::HashMap::new();
    binary_ids
        .into_iter()
        .map(|id| {
            let next = u32::try_from(seen.len()).unwrap_or(u32::MAX);
            *seen.entry(id).or_insert(next)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn micros(us: &[u64]) -> Vec<Duration> {
        us.iter().map(|&u| Duration::from_micros(u)).collect()
    }

    #[test]
    fn without_binaries_it_is_plain_lpt() {
        let estimates = micros(&[90_000, 70_000, 50_000, 30_000]);
        let costs = Costs { estimates: &estimates, binaries: None };
        let shares = deal(0..4, &[(Duration::ZERO, 0); 2], costs);
        assert_eq!(shares, vec![vec![0, 3], vec![1, 2]]);
    }

    #[test]
    fn small_binaries_stay_whole() {
        // 6 binaries of 20 tests of 50 µs: 1 ms of work each, far below a process start.
        let estimates = vec![Duration::from_micros(50); 120];
        let binaries: Vec<u32> = (0..120).map(|i| i / 20).collect();
        let costs = Costs { estimates: &estimates, binaries: Some(&binaries) };
        let shares = deal(0..120, &[(Duration::ZERO, 0); 2], costs);
        for share in &shares {
            let mut seen: Vec<u32> = share.iter().map(|&i| binaries[i as usize]).collect();
            seen.dedup();
            let whole = seen
                .iter()
                .all(|b| share.iter().filter(|&&i| binaries[i as usize] == *b).count() == 20);
            assert!(whole, "a binary was split: {seen:?}");
        }
        assert_eq!(shares[0].len(), 60, "three binaries each: {shares:?}");
    }

    #[test]
    fn a_big_binary_is_still_split_evenly() {
        // One binary of 1,000 tests of 1 ms: two workers get 500 ms each, give or take.
        let estimates = vec![Duration::from_millis(1); 1000];
        let binaries = vec![0u32; 1000];
        let costs = Costs { estimates: &estimates, binaries: Some(&binaries) };
        let shares = deal(0..1000, &[(Duration::ZERO, 0); 2], costs);
        let diff = shares[0].len().abs_diff(shares[1].len());
        assert!(diff <= 6, "uneven split: {} and {}", shares[0].len(), shares[1].len());
        // Contiguous runs: the first worker's share is one block of the queue.
        let first = &shares[0];
        assert!(first.windows(2).filter(|w| w[1] != w[0] + 1).count() <= 1, "{first:?}");
    }

    #[test]
    fn long_tests_spread_as_lpt_does() {
        let estimates = micros(&[2_400_000, 900_000, 800_000, 700_000, 600_000]);
        let binaries = vec![0u32; 5];
        let costs = Costs { estimates: &estimates, binaries: Some(&binaries) };
        let shares = deal(0..5, &[(Duration::ZERO, 0); 2], costs);
        assert_eq!(shares, vec![vec![0], vec![1, 2, 3, 4]]);
    }

    #[test]
    fn stealing_is_worth_it_only_above_a_few_process_starts() {
        let estimates = micros(&[1_000, 1_000, 30_000]);
        assert!(!worth_stealing(&[0, 1], Some(&estimates), None));
        assert!(worth_stealing(&[1, 2], Some(&estimates), None));
        assert!(!worth_stealing(&[0, 1], None, Some(Duration::from_millis(2))));
        assert!(worth_stealing(&[0, 1], None, Some(Duration::from_millis(10))));
        assert!(worth_stealing(&[0], None, None), "nothing known: steal");
    }

    #[test]
    fn binary_numbers_follow_first_sight() {
        assert_eq!(binary_numbers(["b", "a", "b", "c", "a"]), vec![0, 1, 0, 2, 1]);
    }

    #[test]
    fn long_tests_are_dealt_and_the_tiny_tail_fills_contiguously() {
        // Two long tests, then 100 tiny ones of 1 ms in two binaries.
        let mut estimates = micros(&[300_000, 200_000]);
        estimates.extend(vec![Duration::from_millis(1); 100]);
        let binaries: Vec<u32> = (0..102).map(|i| u32::from(i >= 52)).collect();
        let costs = Costs { estimates: &estimates, binaries: Some(&binaries) };
        let shares = deal(0..102, &[(Duration::ZERO, 0); 2], costs);
        // The 200 ms worker is topped up to the 300 ms one's level first: about 95 tiny tests
        // there (one contiguous run), the rest after the long test.
        assert_eq!(shares[0][0], 0);
        assert_eq!(shares[1][0], 1);
        let tail_of = |share: &Vec<TestIndex>| share[1..].to_vec();
        let (a, b) = (tail_of(&shares[0]), tail_of(&shares[1]));
        assert!(b.len() > 80, "the lighter worker takes most of the tail: {b:?}");
        for run in [&a, &b] {
            assert!(run.windows(2).all(|w| w[1] == w[0] + 1), "not contiguous: {run:?}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(300))]
        #[test]
        fn every_test_is_dealt_once_in_queue_order_and_loads_stay_close(
            raw in proptest::collection::vec((0u64..40_000, 0u32..4), 0..200),
            slots in 1usize..6,
            with_binaries: bool,
        ) {
            let mut raw = raw;
            // The queue holds long tests first and the tiny ones last, as `run_order` does.
            raw.sort_by_key(|&(us, _)| std::cmp::Reverse(u64::from(us >= 10_000)));
            let estimates: Vec<Duration> = raw.iter().map(|&(us, _)| Duration::from_micros(us)).collect();
            let binaries: Vec<u32> = raw.iter().map(|&(_, b)| b).collect();
            let costs = Costs { estimates: &estimates, binaries: with_binaries.then_some(&binaries[..]) };
            let count = TestIndex::try_from(raw.len()).unwrap();
            let shares = deal(0..count, &vec![(Duration::ZERO, 0); slots], costs);
            let mut all: Vec<TestIndex> = shares.iter().flatten().copied().collect();
            all.sort_unstable();
            proptest::prop_assert_eq!(all, (0..count).collect::<Vec<_>>());
            for share in &shares {
                proptest::prop_assert!(share.windows(2).all(|w| w[0] < w[1]), "order kept");
            }
            // Each share's real cost: its tests plus a process start per binary in it.
            let cost = |share: &Vec<TestIndex>| {
                let mut seen: Vec<u32> = share.iter().map(|&i| binaries[i as usize]).collect();
                seen.sort_unstable();
                seen.dedup();
                let starts = if with_binaries { seen.len() as u32 } else { 0 };
                share.iter().map(|&i| estimates[i as usize]).sum::<Duration>() + PROCESS_START * starts
            };
            let costs: Vec<Duration> = shares.iter().map(cost).collect();
            let average = costs.iter().sum::<Duration>() / slots as u32;
            let longest = estimates.iter().max().copied().unwrap_or_default();
            let slack = longest + PROCESS_START * (slots as u32 + 1);
            let worst = costs.iter().max().copied().unwrap_or_default();
            proptest::prop_assert!(worst <= average + slack, "{costs:?} average {average:?}");
        }
    }
}
