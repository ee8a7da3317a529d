//! The contract between the session and the schedulers of the `--dist` modes: the ids they
//! share, the [`Scheduler`] trait, and what a scheduler hands out ([`Assignment`],
//! [`StealRequest`]). The implementations live in `xdist-sched`, one file per mode.

use std::borrow::Cow;
use std::time::Duration;

/// A worker slot, numbered from 0 (`gw0`, `gw1`, ...). Replacements get fresh numbers.
pub type WorkerId = u32;

/// The position of a test in the run's test list.
pub type TestIndex = u32;

/// Tests to send to one worker, in the order it should run them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Assignment {
    /// The worker that runs the tests.
    pub worker: WorkerId,
    /// The tests, as indices into the test list.
    pub tests: Vec<TestIndex>,
}

/// The contract every `--dist` mode implements.
///
/// Invariants every implementation keeps: each index is handed out once (until a worker that
/// held it is removed, which puts it back), [`Scheduler::pending`] lists exactly the indices
/// sent to a worker and not yet completed, and once every worker has been given its work and
/// every pending test completed, [`Scheduler::is_finished`] is true.
pub trait Scheduler {
    /// A worker is ready to receive tests.
    fn add_worker(&mut self, worker: WorkerId);

    /// `worker` finished test `index`, which took `duration`.
    fn mark_complete(&mut self, worker: WorkerId, index: TestIndex, duration: Duration);

    /// `worker` is gone. Its pending tests go back to be scheduled elsewhere; they are
    /// returned so the caller can tell which ones moved.
    fn remove_worker(&mut self, worker: WorkerId) -> Vec<TestIndex>;

    /// The next tests to send. Called after every change; returns nothing when no worker
    /// needs more work yet.
    fn schedule(&mut self) -> Vec<Assignment>;

    /// The tests sent to `worker` and not yet completed.
    fn pending(&self, worker: WorkerId) -> Cow<'_, [TestIndex]>;

    /// How many tests `worker` holds: `pending(worker).len()`, which a scheduler whose
    /// `pending` builds its answer can say without building it.
    fn held(&self, worker: WorkerId) -> usize {
        self.pending(worker).len()
    }

    /// True when no test is queued and none is pending on a worker.
    fn is_finished(&self) -> bool;

    /// True when tests are still waiting to be sent to some worker.
    fn has_unsent(&self) -> bool;

    /// Removes every test not yet sent to a worker (for `-x`/`--maxfail`) and returns them.
    fn drain_unsent(&mut self) -> Vec<TestIndex>;

    /// Puts a completed test back at the front of the queue, to run again (`--retries`).
    fn requeue_front(&mut self, index: TestIndex);

    /// Steals to ask for now (only `worksteal` steals): each victim should give up the
    /// listed tests, all of them or none. At most one steal is in flight at a time.
    fn steal_requests(&mut self) -> Vec<StealRequest> {
        Vec::new()
    }

    /// `victim` answered a steal: it gave up `released` (all that was asked, or nothing).
    fn steal_answered(&mut self, victim: WorkerId, released: &[TestIndex]) {
        let _ = (victim, released);
    }

    /// True while a steal request waits for its answer: idle workers should wait for the
    /// tests it may free rather than shut down.
    fn steal_in_flight(&self) -> bool {
        false
    }

    /// True while a worker holds enough that a later steal may take some of it (a steal
    /// not worth it now may be once its tests turn out slow): idle workers then stay.
    fn may_steal_later(&self) -> bool {
        false
    }
}

/// A request that a worker give up tests it holds but has not started.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StealRequest {
    /// The worker asked.
    pub victim: WorkerId,
    /// The tests it should give up (the tail of its queue).
    pub tests: Vec<TestIndex>,
}
