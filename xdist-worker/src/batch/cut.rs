//! Cutting a process short at a test boundary, so that the tests it has not started can move
//! to an idle worker.
//!
//! A worker runs what a process holds in order, and nothing of a running process can be
//! stolen. Before history knows which tests are slow, a run of slow tests that sort together
//! may all land in one process (their neighbours were fast, so the batch was sized for fast
//! tests). Under adaptive batching the batch therefore stops itself once one of its tests
//! turns out slow: at the next test's start line the process group is killed, that test and
//! the ones after it go back to the front of the worker's queue, to be batched again by the
//! durations now known (smaller batches, which a steal can take). A batch whose rest, each
//! test as slow as that one, is no more than a second of work runs on.
//!
//! The test killed at its start line had just begun: it runs again from the start in the
//! next process, as the rest of a batch does after a crash. No cut is made once a test of
//! the process has failed, since libtest prints a failure's captured output only when the
//! process ends.

use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

/// A cut is made only when the tests left, each as slow as the one that armed it, would
/// take longer than this (adaptive batching's work per process).
const STILL_WORTH: Duration = Duration::from_secs(1);

/// A cut of one process: armed by a slow test, made at the next start line.
#[derive(Debug)]
pub struct Cut {
    /// A test at least this long arms the cut (`None`: never cut).
    after: Option<Duration>,
    /// The slow test that armed the cut took this long.
    armed: Option<Duration>,
    /// The process group was killed.
    pub made: bool,
    /// Positions whose start line came at or after the cut: not reported as started.
    pub held: Vec<usize>,
    /// No cut now: a verdict waits for the process's end, or the process already exited.
    pub blocked: bool,
    group: Pid,
}

impl Cut {
    /// A cut of the process whose group is `group`, armed by tests of `after` or longer.
    pub fn new(after: Option<Duration>, group: u32) -> Self {
        let group = Pid::from_raw(i32::try_from(group).unwrap_or(i32::MAX));
        Self { after, armed: None, made: false, held: Vec::new(), blocked: false, group }
    }

    /// A test ended (passed or ignored) after `took`.
    pub fn ended(&mut self, took: Duration) {
        if self.after.is_some_and(|after| took >= after) {
            self.armed = Some(took);
        }
    }

    /// The test at `pos` is starting, with `left` tests (it included) not started yet and
    /// `failed` telling whether one of the process failed. Returns true when the start is
    /// held: the cut is made now (or was before).
    pub fn starting(&mut self, pos: usize, left: usize, failed: bool) -> bool {
        // Worth a new process only when what is left, were it as slow, is more than a
        // process's worth of work: a batch already sized by the slow tests runs on.
        let much_left = self.armed.is_some_and(|took| {
            took.saturating_mul(u32::try_from(left).unwrap_or(u32::MAX)) > STILL_WORTH
        });
        if !self.made && much_left && !failed && !self.blocked && left >= 2 {
            let _ = killpg(self.group, Signal::SIGKILL);
            self.made = true;
        }
        if self.made {
            self.held.push(pos);
        }
        self.made
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slow_test_arms_the_cut_which_waits_for_the_next_start() {
        // A group id that no process has: the kill fails quietly.
        let mut cut = Cut::new(Some(Duration::from_millis(200)), i32::MAX as u32);
        cut.ended(Duration::from_millis(5));
        assert!(!cut.starting(1, 5, false), "fast tests do not arm it");
        cut.ended(Duration::from_millis(300));
        assert!(!cut.starting(2, 4, true), "not after a failure");
        assert!(!cut.starting(3, 1, false), "not for the last test");
        assert!(!cut.starting(3, 3, false), "3 × 300 ms left: the batch is small enough");
        cut.blocked = true;
        assert!(!cut.starting(3, 4, false), "not while blocked");
        cut.blocked = false;
        assert!(cut.starting(3, 4, false));
        assert!(cut.made);
        assert!(cut.starting(4, 1, false), "later starts are held too");
        assert!(cut.release(4));
        assert!(!cut.release(4));
        assert_eq!(cut.held, vec![3]);
    }

    #[test]
    fn without_a_threshold_nothing_is_cut() {
        let mut cut = Cut::new(None, i32::MAX as u32);
        cut.ended(Duration::from_secs(60));
        assert!(!cut.starting(1, 10, false));
    }
}
