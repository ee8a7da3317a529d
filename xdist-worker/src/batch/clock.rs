//! The clocks of one test process: when each test started and showed its result, the
//! `--slow-timeout` reports of the running test, and its `--timeout` (SIGTERM to the
//! process group, SIGKILL after the grace period). The clocks run for a test until its
//! outcome is final, not merely until it printed something that looks like one.

use std::collections::HashMap;
use std::io;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use xdist_core::TestIndex;
use xdist_core::protocol::{FromWorker, RunLimits};

use super::Sink;

/// The longest wait between two looks at the clocks.
const LOOK_EVERY: Duration = Duration::from_millis(500);

/// Timing state of one process, by batch position.
pub struct TestClock<'t> {
    tests: &'t [TestIndex],
    limits: &'t RunLimits,
    /// The process group.
    group: Pid,
    started_at: HashMap<usize, Instant>,
    /// When each test last showed its result (its duration ends there).
    shown_at: HashMap<usize, Instant>,
    slow_reports: HashMap<usize, u64>,
    /// The test that ran past `--timeout`.
    pub timed_out: Option<usize>,
    /// When a SIGTERMed group gets SIGKILL.
    sigkill_at: Option<Instant>,
}

impl<'t> TestClock<'t> {
    /// Clocks for the tests of one process (`tests` by batch position) in process group
    /// `pid`.
    pub fn new(tests: &'t [TestIndex], limits: &'t RunLimits, pid: u32) -> Self {
        Self {
            tests,
            limits,
            group: Pid::from_raw(pid as i32),
            started_at: HashMap::new(),
            shown_at: HashMap::new(),
            slow_reports: HashMap::new(),
            timed_out: None,
            sigkill_at: None,
        }
    }

    /// The test at `pos` started now.
    pub fn started(&mut self, pos: usize) {
        self.started_at.insert(pos, Instant::now());
    }

    /// The running test `pos` shows a result now (`shown`), or its result was taken back by
    /// more output.
    pub fn showing(&mut self, pos: usize, shown: bool) {
        if shown {
            self.shown_at.entry(pos).or_insert_with(Instant::now);
        } else {
            self.shown_at.remove(&pos);
        }
    }

    /// How long the test at `pos` ran: to the result it showed, or until now.
    pub fn duration(&self, pos: usize) -> Duration {
        let Some(start) = self.started_at.get(&pos) else { return Duration::ZERO };
        self.shown_at
            .get(&pos)
            .copied()
            .unwrap_or_else(Instant::now)
            .saturating_duration_since(*start)
    }

    fn elapsed(&self, pos: usize) -> Duration {
        self.started_at.get(&pos).map_or(Duration::ZERO, Instant::elapsed)
    }

    /// When the clocks next need a look, with `running` the test whose outcome is open.
    pub fn next_look(&self, running: Option<usize>) -> Instant {
        let mut wait = LOOK_EVERY;
        if let Some(at) = self.sigkill_at {
            wait = wait.min(at.saturating_duration_since(Instant::now()));
        }
        if let Some(pos) = running {
            let elapsed = self.elapsed(pos);
            if let Some(timeout) = self.limits.timeout_ms.map(Duration::from_millis) {
                if self.timed_out.is_none() {
                    wait = wait.min(timeout.saturating_sub(elapsed));
                }
            }
            if let Some(slow) = self.limits.slow_ms.filter(|&ms| ms > 0) {
                let next = slow * (self.slow_reports.get(&pos).copied().unwrap_or(0) + 1);
                wait = wait.min(Duration::from_millis(next).saturating_sub(elapsed));
            }
        }
        Instant::now() + wait.max(Duration::from_millis(1))
    }

    /// Reports the running test if slow, and stops it if it ran past its timeout.
    pub fn look(&mut self, running: Option<usize>, sink: &mut dyn Sink) -> io::Result<()> {
        if self.sigkill_at.is_some_and(|at| Instant::now() >= at) {
            let _ = killpg(self.group, Signal::SIGKILL);
            self.sigkill_at = None;
        }
        let Some(pos) = running else { return Ok(()) };
        let elapsed = self.elapsed(pos);
        if let Some(slow) = self.limits.slow_ms.filter(|&ms| ms > 0) {
            let sent = self.slow_reports.entry(pos).or_default();
            if elapsed >= Duration::from_millis(slow * (*sent + 1)) {
                *sent += 1;
                let elapsed_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
                sink.send(FromWorker::Slow { index: self.tests[pos], elapsed_ms })?;
            }
        }
        if let Some(timeout) = self.limits.timeout_ms {
            if self.timed_out.is_none() && elapsed >= Duration::from_millis(timeout) {
                self.timed_out = Some(pos);
                let _ = killpg(self.group, Signal::SIGTERM);
                self.sigkill_at =
                    Some(Instant::now() + Duration::from_millis(self.limits.kill_grace_ms));
            }
        }
        Ok(())
    }
}
