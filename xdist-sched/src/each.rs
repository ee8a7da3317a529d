//! `--dist each`: every worker runs every test.
//!
//! The session's list holds one copy of the tests per worker: copy `k` is indices
//! `k * per_copy .. (k + 1) * per_copy`. Each worker is given one copy whole. A dead worker's
//! unfinished part of its copy waits for the next worker without one (its replacement) or,
//! sooner, for any live worker that has nothing left to do; a retried test goes back to its
//! copy the same way.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use crate::{Assignment, Scheduler, TestIndex, WorkerId};

#[derive(Debug, Default)]
struct Copy {
    unsent: VecDeque<TestIndex>,
    pending: Vec<TestIndex>,
    owner: Option<WorkerId>,
}

/// Hands each worker its own copy of the tests.
#[derive(Debug)]
pub struct EachScheduler {
    per_copy: usize,
    copies: Vec<Copy>,
    /// Live workers and the copy each owns, if any.
    workers: BTreeMap<WorkerId, Option<usize>>,
}

impl EachScheduler {
    /// `copies` copies of `per_copy` tests each.
    pub fn new(copies: usize, per_copy: usize) -> Self {
        let copies = (0..copies)
            .map(|k| Copy {
                unsent: (k * per_copy..(k + 1) * per_copy).map(|i| i as TestIndex).collect(),
                ..Copy::default()
            })
            .collect();
        Self { per_copy: per_copy.max(1), copies, workers: BTreeMap::new() }
    }

    fn copy_of(&self, worker: WorkerId) -> Option<usize> {
        self.workers.get(&worker).copied().flatten()
    }

    /// Gives orphaned copies with work to workers that own none or whose copy is done.
    fn adopt_orphans(&mut self) {
        let orphans: Vec<usize> = (0..self.copies.len())
            .filter(|&k| self.copies[k].owner.is_none() && !self.copies[k].unsent.is_empty())
            .collect();
        let mut free: BTreeSet<WorkerId> = self
            .workers
            .iter()
            .filter(|(_, copy)| {
                copy.is_none_or(|k| {
                    self.copies[k].pending.is_empty() && self.copies[k].unsent.is_empty()
                })
            })
            .map(|(&w, _)| w)
            .collect();
        for k in orphans {
            let Some(worker) = free.pop_first() else { return };
            if let Some(old) = self.copy_of(worker) {
                self.copies[old].owner = None;
            }
            self.copies[k].owner = Some(worker);
            self.workers.insert(worker, Some(k));
        }
    }
}

impl Scheduler for EachScheduler {
    fn add_worker(&mut self, worker: WorkerId) {
        let free = (0..self.copies.len()).find(|&k| self.copies[k].owner.is_none());
        if let Some(k) = free {
            self.copies[k].owner = Some(worker);
        }
        self.workers.insert(worker, free);
    }

    fn mark_complete(&mut self, worker: WorkerId, index: TestIndex, _duration: Duration) {
        if let Some(k) = self.copy_of(worker) {
            self.copies[k].pending.retain(|&i| i != index);
        }
    }

    fn remove_worker(&mut self, worker: WorkerId) -> Vec<TestIndex> {
        let Some(copy) = self.workers.remove(&worker).flatten() else { return Vec::new() };
        let copy = &mut self.copies[copy];
        copy.owner = None;
        let moved = std::mem::take(&mut copy.pending);
        for &index in moved.iter().rev() {
            copy.unsent.push_front(index);
        }
        moved
    }

    fn schedule(&mut self) -> Vec<Assignment> {
        self.adopt_orphans();
        let mut plan = Vec::new();
        for copy in &mut self.copies {
            let Some(worker) = copy.owner else { continue };
            if copy.unsent.is_empty() {
                continue;
            }
            let tests: Vec<TestIndex> = copy.unsent.drain(..).collect();
            copy.pending.extend(&tests);
            plan.push(Assignment { worker, tests });
        }
        plan
    }

    fn pending(&self, worker: WorkerId) -> Cow<'_, [TestIndex]> {
        Cow::Borrowed(self.copy_of(worker).map_or(&[], |k| self.copies[k].pending.as_slice()))
    }

    fn is_finished(&self) -> bool {
        self.copies.iter().all(|c| c.unsent.is_empty() && c.pending.is_empty())
    }

    fn has_unsent(&self) -> bool {
        self.copies.iter().any(|c| !c.unsent.is_empty())
    }

    fn drain_unsent(&mut self) -> Vec<TestIndex> {
        self.copies.iter_mut().flat_map(|c| c.unsent.drain(..).collect::<Vec<_>>()).collect()
    }

    fn requeue_front(&mut self, index: TestIndex) {
        let k = index as usize / self.per_copy;
        if let Some(copy) = self.copies.get_mut(k) {
            copy.unsent.push_front(index);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_worker_gets_a_whole_copy() {
        let mut s = EachScheduler::new(3, 4);
        for w in 0..3 {
            s.add_worker(w);
        }
        let plan = s.schedule();
        assert_eq!(plan.len(), 3);
        assert_eq!(plan[1], Assignment { worker: 1, tests: vec![4, 5, 6, 7] });
    }

    #[test]
    fn a_replacement_takes_over_the_dead_workers_copy() {
        let mut s = EachScheduler::new(2, 3);
        s.add_worker(0);
        s.add_worker(1);
        s.schedule();
        s.mark_complete(1, 3, Duration::ZERO);
        assert_eq!(s.remove_worker(1), vec![4, 5]);
        // Worker 0 is still busy with its own copy, so the copy waits for a newcomer.
        assert!(s.schedule().is_empty());
        s.add_worker(2);
        assert_eq!(s.schedule(), vec![Assignment { worker: 2, tests: vec![4, 5] }]);
    }

    #[test]
    fn an_idle_worker_adopts_an_orphaned_copy() {
        let mut s = EachScheduler::new(2, 2);
        s.add_worker(0);
        s.add_worker(1);
        s.schedule();
        s.mark_complete(0, 0, Duration::ZERO);
        s.mark_complete(0, 1, Duration::ZERO);
        s.remove_worker(1);
        assert_eq!(s.schedule(), vec![Assignment { worker: 0, tests: vec![2, 3] }]);
    }
}
