//! Cutting a process short at the start of a test given up to a steal, so that an idle
//! worker can run the tests a running process has not reached yet.
//!
//! A worker runs what a process holds in order. Before history knows which tests are slow,
//! a run of slow tests that sort together may all land in one process (their neighbours
//! were fast, so the batch was sized for fast tests). Under adaptive batching a steal may
//! therefore take tests the running process has not started (`in_flight.rs`): when libtest
//! reaches the first of them, its start line kills the process group. Those given up get no
//! outcome here; the others it had not reached go back to the front of the worker's queue.
//!
//! The test killed at its start line had just begun: it runs from the start on the worker
//! that took it. No steal takes from a process once a test of it failed, since libtest
//! prints a failure's captured output only when the process ends. When a test fails (or a
//! verdict comes to wait for the end) after a steal took tests of its process, the process
//! is not killed: it runs on to its end, and what it says of the tests given up is dropped
//! (they then run here too, but have their one outcome from the worker that took them).

use std::sync::Mutex;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use xdist_core::TestIndex;

use crate::in_flight::{self, InFlight};

/// A cut of one process, made at the start line of the first test given up to a steal.
#[derive(Debug)]
pub struct Cut<'a> {
    /// What a steal took (`None`: nothing is ever taken from this process).
    in_flight: Option<&'a Mutex<InFlight>>,
    /// The process group was killed (or had exited when the cut came).
    pub made: bool,
    /// Positions whose start line came at or after the cut: not reported as started.
    pub held: Vec<usize>,
    /// The process exited: its group id may be reused, so no kill.
    pub exited: bool,
    /// No kill: a test failed or a verdict waits for the end (their output comes last).
    locked: bool,
    group: Pid,
}

impl<'a> Cut<'a> {
    /// A cut of the process whose group is `group`, at tests `in_flight` gives up.
    pub fn new(in_flight: Option<&'a Mutex<InFlight>>, group: u32) -> Self {
        let group = Pid::from_raw(i32::try_from(group).unwrap_or(i32::MAX));
        Self { in_flight, made: false, held: Vec::new(), exited: false, locked: false, group }
    }

    /// The test `index` at `pos` is starting. Returns true when its start is not reported:
    /// it was given up (the cut is made now, unless locked) or the cut was made before.
    pub fn starting(&mut self, pos: usize, index: TestIndex) -> bool {
        let given_up = in_flight::with(self.in_flight, |f| f.starting(index)) == Some(true);
        if !self.made && given_up && !self.locked {
            if !self.exited {
                let _ = killpg(self.group, Signal::SIGKILL);
            }
            self.made = true;
        }
        if self.made {
            self.held.push(pos);
        }
        self.made || given_up
    }

    /// Takes `pos` out of the held starts; true when it was held (its start is reported late).
    pub fn release(&mut self, pos: usize) -> bool {
        match self.held.iter().position(|&p| p == pos) {
            Some(at) => {
                self.held.remove(at);
                true
            }
            None => false,
        }
    }

    /// Whether `index` was given up to a steal: nothing of it is reported.
    pub fn given_up(&self, index: TestIndex) -> bool {
        in_flight::with(self.in_flight, |f| f.is_released(index)) == Some(true)
    }

    /// No more steals from this process (a failure, a verdict waiting for the end, the exit),
    /// and no kill either.
    pub fn lock(&mut self) {
        self.locked = true;
        in_flight::with(self.in_flight, InFlight::lock);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_released_start_cuts_and_later_starts_are_held() {
        let in_flight = Mutex::new(InFlight::default());
        in_flight.lock().unwrap().begin(&[10, 11, 12]);
        in_flight.lock().unwrap().spawning([10, 11, 12], true);
        // A group id that no process has: the kill fails quietly.
        let mut cut = Cut::new(Some(&in_flight), i32::MAX as u32);
        assert!(!cut.starting(0, 10), "not given up");
        in_flight.lock().unwrap().release(12);
        assert!(!cut.starting(1, 11));
        assert!(cut.starting(2, 12), "given up: cut here");
        assert!(cut.made);
        assert!(cut.given_up(12) && !cut.given_up(11));
        assert!(cut.release(2));
        assert!(!cut.release(2));
    }

    #[test]
    fn after_a_failure_a_released_start_is_dropped_but_not_cut() {
        let in_flight = Mutex::new(InFlight::default());
        in_flight.lock().unwrap().begin(&[10, 11, 12]);
        in_flight.lock().unwrap().spawning([10, 11, 12], true);
        let mut cut = Cut::new(Some(&in_flight), i32::MAX as u32);
        in_flight.lock().unwrap().release(11);
        cut.lock();
        assert!(cut.starting(1, 11), "given up: not reported");
        assert!(!cut.made, "locked: no kill");
        assert!(!cut.starting(2, 12), "the process runs on");
    }

    #[test]
    fn without_steals_nothing_is_cut() {
        let mut cut = Cut::new(None, i32::MAX as u32);
        assert!(!cut.starting(0, 1));
        assert!(!cut.given_up(1));
    }
}
