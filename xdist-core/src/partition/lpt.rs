//! `--partition duration:M/N`'s planner: longest processing time first (LPT) over jobs with
//! a cost, deterministic so that every shard of a CI matrix computes the same plan from the
//! same list and history. No I/O: the caller says what a job is (a test, or a whole unit of
//! `loadscope`/`loadfile`/`loadgroup`) and what each test costs.
//!
//! - Jobs are sorted by cost, longest first; equal costs by key (byte-wise).
//! - Each job goes to the shard with the least work so far; equal loads to the lowest index.
//! - A test without a recorded duration costs the median of the known ones (the mean of the
//!   two middle ones for an even count), as the `--dist` modes estimate it; when nothing
//!   is known every test costs the same, and the plan deals the jobs by key.
//!
//! LPT's makespan is at most `(4/3 - 1/(3N))` times the optimum, and so at most that times
//! `max(longest job, total / N)` (Graham, 1969).

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// One piece of work that goes to a single shard, whole.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Job {
    /// What ties are broken by: unique among the jobs of one plan.
    pub key: String,
    /// How long it takes, in any unit (cargo-xdist uses nanoseconds).
    pub cost: u64,
}

/// The shard (0-based, `< shards`) of each job of `jobs`, in the same order.
///
/// # Panics
///
/// Never for `shards == 0`: every job then goes to shard 0.
pub fn assign(jobs: &[Job], shards: u64) -> Vec<u64> {
    let shards = shards.max(1);
    let mut order: Vec<usize> = (0..jobs.len()).collect();
    order.sort_by(|&a, &b| {
        let (a, b) = (&jobs[a], &jobs[b]);
        b.cost.cmp(&a.cost).then_with(|| a.key.as_bytes().cmp(b.key.as_bytes()))
    });
    // Min-heap of (load, shard): the least loaded shard, the lowest index on equal loads.
    // Only as many shards as jobs can receive any, so the heap never outgrows the list.
    let live = shards.min(jobs.len() as u64);
    let mut heap: BinaryHeap<Reverse<(u128, u64)>> = (0..live).map(|s| Reverse((0, s))).collect();
    let mut shard_of = vec![0u64; jobs.len()];
    for job in order {
        let Some(Reverse((load, shard))) = heap.pop() else { break };
        shard_of[job] = shard;
        heap.push(Reverse((load + u128::from(jobs[job].cost), shard)));
    }
    shard_of
}

/// Every test's cost: its recorded one, or the median of the recorded ones (see the module
/// documentation); `1` each when none is recorded.
pub fn estimate(durations: &[Option<u64>]) -> Vec<u64> {
    let mut known: Vec<u64> = durations.iter().flatten().copied().collect();
    known.sort_unstable();
    let mid = known.len() / 2;
    let median = match known.len() {
        0 => 1,
        n if n % 2 == 1 => known[mid],
        _ => known[mid - 1] / 2 + known[mid] / 2 + (known[mid - 1] % 2 + known[mid] % 2) / 2,
    };
    durations.iter().map(|d| d.unwrap_or(median)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jobs(costs: &[u64]) -> Vec<Job> {
        costs.iter().enumerate().map(|(i, &cost)| Job { key: format!("j{i:02}"), cost }).collect()
    }

    fn loads(jobs: &[Job], shards: u64) -> Vec<u64> {
        let mut loads = vec![0; shards as usize];
        for (job, shard) in jobs.iter().zip(assign(jobs, shards)) {
            loads[shard as usize] += job.cost;
        }
        loads
    }

    #[test]
    fn longest_first_to_the_least_loaded_shard() {
        // Sorted: 7 (j01), 5 (j03), 4 (j00), 3 (j02), 3 (j04). After 7 and 5, the 4 goes to
        // the 5 shard (9), a 3 to the 7 shard (10), the other 3 to the 9 shard (12).
        let jobs = jobs(&[4, 7, 3, 5, 3]);
        assert_eq!(assign(&jobs, 2), vec![1, 0, 0, 1, 1]);
        assert_eq!(loads(&jobs, 2), vec![10, 12]);
    }

    #[test]
    fn slice_would_put_the_long_cluster_on_one_shard_and_lpt_does_not() {
        // Four long tests that sort together, then many short ones: round-robin in list
        // order would give both shards two long ones only by luck of parity; LPT always
        // splits them evenly and fills in with the short ones.
        let costs = [100, 100, 100, 100, 1, 1, 1, 1, 1, 1, 1, 1];
        let jobs = jobs(&costs);
        assert_eq!(loads(&jobs, 2), vec![204, 204]);
        assert_eq!(loads(&jobs, 3), vec![200, 104, 104]);
    }

    #[test]
    fn ties_go_by_key_then_to_the_lowest_shard() {
        let jobs = vec![
            Job { key: "b".into(), cost: 1 },
            Job { key: "a".into(), cost: 1 },
            Job { key: "c".into(), cost: 1 },
        ];
        assert_eq!(assign(&jobs, 2), vec![1, 0, 0]);
        assert_eq!(assign(&jobs, 5), vec![1, 0, 2]);
        assert_eq!(assign(&jobs, 0), vec![0, 0, 0]);
        assert!(assign(&[], 3).is_empty());
    }

    #[test]
    fn unknown_tests_cost_the_median_of_the_known() {
        assert_eq!(estimate(&[Some(10), None, Some(30), Some(20)]), vec![10, 20, 30, 20]);
        assert_eq!(estimate(&[Some(10), None, Some(40), Some(20), Some(30)]), [10, 25, 40, 20, 30]);
        assert_eq!(estimate(&[Some(u64::MAX), Some(u64::MAX), None])[2], u64::MAX);
        assert_eq!(estimate(&[None, None]), vec![1, 1]);
    }
}
