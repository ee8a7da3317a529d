//! `--dist no`: every test goes to the first worker, in list order, in one assignment.

use std::borrow::Cow;
use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use crate::{Assignment, Scheduler, TestIndex, WorkerId};

/// Sends the whole queue to one worker at a time; a replacement worker gets what its
/// predecessor left unfinished.
#[derive(Debug)]
pub struct SerialScheduler {
    queue: VecDeque<TestIndex>,
    pending: BTreeMap<WorkerId, Vec<TestIndex>>,
}

impl SerialScheduler {
    /// A scheduler over `tests`, run in the order given.
    pub fn new(tests: Vec<TestIndex>) -> Self {
        Self { queue: tests.into(), pending: BTreeMap::new() }
    }
}

impl Scheduler for SerialScheduler {
    fn add_worker(&mut self, worker: WorkerId) {
        self.pending.entry(worker).or_default();
    }

    fn mark_complete(&mut self, worker: WorkerId, index: TestIndex, _duration: Duration) {
        if let Some(held) = self.pending.get_mut(&worker) {
            if let Some(pos) = held.iter().position(|&i| i == index) {
                held.remove(pos);
            }
        }
    }

    fn remove_worker(&mut self, worker: WorkerId) -> Vec<TestIndex> {
        let held = self.pending.remove(&worker).unwrap_or_default();
        // Unfinished tests keep their place at the front: they were next in order.
        for &index in held.iter().rev() {
            self.queue.push_front(index);
        }
        held
    }

    fn schedule(&mut self) -> Vec<Assignment> {
        if self.queue.is_empty() {
            return Vec::new();
        }
        let Some((&worker, _)) = self.pending.iter().next() else {
            return Vec::new();
        };
        let tests: Vec<TestIndex> = self.queue.drain(..).collect();
        self.pending.get_mut(&worker).expect("worker exists").extend(&tests);
        vec![Assignment { worker, tests }]
    }

    fn pending(&self, worker: WorkerId) -> Cow<'_, [TestIndex]> {
        Cow::Borrowed(self.pending.get(&worker).map_or(&[], Vec::as_slice))
    }

    fn is_finished(&self) -> bool {
        self.queue.is_empty() && self.pending.values().all(Vec::is_empty)
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
}
