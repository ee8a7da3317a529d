//! How many queued tests a worker puts in its next process under adaptive batching: as many
//! as fit in about a second by the durations seen so far of each binary's tests, and at
//! first a small probe of a binary not seen yet. Tests left in the queue can still be given
//! up to a steal, so slow tests that sort together do not end up locked into one process.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use xdist_core::TestIndex;
use xdist_core::protocol::WorkerSetup;

/// Estimated work one process takes on.
const BATCH_TIME: Duration = Duration::from_secs(1);
/// Tests of a binary not seen yet in one process.
const PROBE: usize = 8;

/// Per-binary moving average of test durations.
#[derive(Debug, Default)]
pub struct Pace {
    average_secs: HashMap<u32, f64>,
}

impl Pace {
    /// Records a finished test of `binary`.
    pub fn record(&mut self, binary: u32, took: Duration) {
        let took = took.as_secs_f64();
        self.average_secs
            .entry(binary)
            .and_modify(|average| *average += (took - *average) * 0.3)
            .or_insert(took);
    }

    /// How many tests from the front of `queue` the next process should run (at least one).
    pub fn batch_len(&self, setup: &WorkerSetup, queue: &VecDeque<TestIndex>) -> usize {
        let mut budget = BATCH_TIME.as_secs_f64();
        let mut probed: HashMap<u32, usize> = HashMap::new();
        for (taken, &index) in queue.iter().enumerate() {
            let Some(test) = setup.tests.get(index as usize) else { return taken.max(1) };
            match self.average_secs.get(&test.binary) {
                Some(&average) => {
                    budget -= average;
                    if budget < 0.0 {
                        return taken.max(1);
                    }
                }
                None => {
                    let seen = probed.entry(test.binary).or_default();
                    if *seen == PROBE {
                        return taken.max(1);
                    }
                    *seen += 1;
                }
            }
        }
        queue.len()
    }
}

#[cfg(test)]
mod tests {
    use xdist_core::protocol::{Batching, RunLimits, TestSpec};

    use super::*;

    fn setup(binaries: &[u32]) -> WorkerSetup {
        WorkerSetup {
            binaries: vec![],
            tests: binaries
                .iter()
                .map(|&binary| TestSpec { binary, name: String::new() })
                .collect(),
            include_ignored: false,
            limits: RunLimits::default(),
            batching: Batching::Adaptive,
            first: 0,
            no_capture: false,
        }
    }

    #[test]
    fn unknown_binaries_are_probed_then_paced_by_their_speed() {
        let setup = setup(&[0; 3000]);
        let queue: VecDeque<TestIndex> = (0..3000).collect();
        let mut pace = Pace::default();
        assert_eq!(pace.batch_len(&setup, &queue), PROBE);
        pace.record(0, Duration::from_micros(100));
        assert_eq!(pace.batch_len(&setup, &queue), 3000, "tiny tests: everything at once");
        let mut slow = Pace::default();
        slow.record(0, Duration::from_millis(300));
        assert_eq!(slow.batch_len(&setup, &queue), 3, "a second of 300 ms tests");
        slow.record(0, Duration::from_secs(5));
        assert_eq!(slow.batch_len(&setup, &queue), 1, "never less than one");
    }
}
