//! The tests a worker has taken from its inbox for its current batch and not started yet,
//! shared by the batch that runs them and the thread that answers steals.
//!
//! Under adaptive batching a steal may take such tests too, not only those still in the
//! inbox: a test of a batch whose process has not been started yet is left out when it is
//! started; a test of the running process is taken only while that process can still be cut
//! (no test of it failed, no verdict waits for its end, it has not exited), and the process
//! is killed when libtest reaches it (`batch/cut.rs`). A test given up this way never gets
//! an outcome from this worker, whatever its process printed for it.

use std::collections::HashSet;
use std::sync::Mutex;

use xdist_core::TestIndex;

/// Tests taken for the current batch, not started yet, and those given up to a steal.
#[derive(Debug, Default)]
pub struct InFlight {
    /// Taken for the batch, not started, not given up.
    open: HashSet<TestIndex>,
    /// The open tests the running process holds.
    running: HashSet<TestIndex>,
    /// Whether the running process can still be cut at a test's start.
    cuttable: bool,
    /// Given up to a steal: no outcome from this worker.
    released: HashSet<TestIndex>,
}

impl InFlight {
    /// A batch of `tests` was taken from the inbox.
    pub fn begin(&mut self, tests: &[TestIndex]) {
        *self = Self { open: tests.iter().copied().collect(), ..Self::default() };
    }

    /// The batch is over: nothing is in flight (what it put back is in the inbox).
    pub fn end(&mut self) {
        *self = Self::default();
    }

    /// Whether a steal may take `test`.
    pub fn can_release(&self, test: TestIndex) -> bool {
        self.open.contains(&test) && (self.cuttable || !self.running.contains(&test))
    }

    /// Gives `test` up to a steal (call only when [`Self::can_release`]).
    pub fn release(&mut self, test: TestIndex) {
        self.open.remove(&test);
        self.running.remove(&test);
        self.released.insert(test);
    }

    /// Whether `test` was given up to a steal.
    pub fn is_released(&self, test: TestIndex) -> bool {
        self.released.contains(&test)
    }

    /// A process is started for `tests` (already without the released ones); `cuttable`:
    /// it may be cut at a test's start, so a steal may take its tests.
    pub fn spawning(&mut self, tests: impl IntoIterator<Item = TestIndex>, cuttable: bool) {
        self.running = tests.into_iter().filter(|t| self.open.contains(t)).collect();
        self.cuttable = cuttable;
    }

    /// The running process can no longer be cut: a test failed (its captured output comes
    /// at the end), a verdict waits for the end, or it exited.
    pub fn lock(&mut self) {
        self.cuttable = false;
    }

    /// A process ended and these tests of it have their outcomes: never given up now.
    pub fn settle(&mut self, tests: impl IntoIterator<Item = TestIndex>) {
        for test in tests {
            self.open.remove(&test);
            self.running.remove(&test);
        }
        self.cuttable = false;
    }

    /// libtest reached `test`; true when it was given up (the process must stop here).
    pub fn starting(&mut self, test: TestIndex) -> bool {
        if self.released.contains(&test) {
            return true;
        }
        self.open.remove(&test);
        self.running.remove(&test);
        false
    }
}

/// Runs `f` on the batch in flight, if steals may take from it (`None`: they may not, or its
/// lock was poisoned by a panic, which ends the worker anyway).
pub fn with<T>(
    in_flight: Option<&Mutex<InFlight>>,
    f: impl FnOnce(&mut InFlight) -> T,
) -> Option<T> {
    in_flight.and_then(|m| m.lock().ok()).map(|mut in_flight| f(&mut in_flight))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_unstarted_tests_of_a_cuttable_process_or_of_later_batches_can_be_released() {
        let mut in_flight = InFlight::default();
        in_flight.begin(&[1, 2, 3, 4]);
        in_flight.spawning([1, 2], false);
        assert!(!in_flight.can_release(1), "the running process cannot be cut");
        assert!(in_flight.can_release(3), "a later batch's test");
        in_flight.release(3);
        assert!(in_flight.is_released(3));
        assert!(!in_flight.can_release(3), "given up once");
        in_flight.spawning([1, 2], true);
        assert!(!in_flight.starting(1));
        assert!(!in_flight.can_release(1), "started");
        assert!(in_flight.can_release(2));
        in_flight.lock();
        assert!(!in_flight.can_release(2), "locked after a failure");
        assert!(in_flight.can_release(4));
        in_flight.release(4);
        assert!(in_flight.starting(4), "a released test's start stops the process");
        assert!(!in_flight.can_release(9), "never taken");
        in_flight.spawning([5], false);
        in_flight.begin(&[5, 6]);
        in_flight.spawning([5], false);
        in_flight.settle([5]);
        assert!(!in_flight.can_release(5), "ran whole, never started by libtest: settled");
        assert!(in_flight.can_release(6));
        in_flight.end();
        assert!(!in_flight.is_released(3));
        assert!(!in_flight.can_release(2));
    }
}
