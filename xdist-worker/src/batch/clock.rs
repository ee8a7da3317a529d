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
    /// When each test started, by batch position.
    started_at: Vec<Option<Instant>>,
    /// Whether any test started.
    any_started: bool,
    /// When each test last showed its result (its duration ends there).
    shown_at: Vec<Option<Instant>>,
    slow_reports: HashMap<usize, u64>,
    /// The test that ran past `--timeout`.
    pub timed_out: Option<usize>,
    /// The process ran past `--timeout` before any test started (a harness that hangs in
    /// its own setup).
    pub timed_out_starting: bool,
    /// When the process started.
    spawned_at: Instant,
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
            started_at: vec![None; tests.len()],
            any_started: false,
            shown_at: vec![None; tests.len()],
            slow_reports: HashMap::new(),
            timed_out: None,
            timed_out_starting: false,
            spawned_at: Instant::now(),
            sigkill_at: None,
        }
    }

    /// The test at `pos` started now.
    pub fn started(&mut self, pos: usize) {
        *slot(&mut self.started_at, pos) = Some(Instant::now());
        self.any_started = true;
    }

    /// The running test `pos` shows a result now (`shown`), or its result was taken back by
    /// more output.
    pub fn showing(&mut self, pos: usize, shown: bool) {
        let at = slot(&mut self.shown_at, pos);
        if !shown {
            *at = None;
        } else if at.is_none() {
            *at = Some(Instant::now());
        }
    }

    /// How long the test at `pos` ran: to the result it showed, or until now.
    pub fn duration(&self, pos: usize) -> Duration {
        let Some(start) = self.started_at.get(pos).copied().flatten() else {
            return Duration::ZERO;
        };
        self.shown_at
            .get(pos)
            .copied()
            .flatten()
            .unwrap_or_else(Instant::now)
            .saturating_duration_since(start)
    }

    fn elapsed(&self, pos: usize) -> Duration {
        self.started_at.get(pos).copied().flatten().map_or(Duration::ZERO, |at| at.elapsed())
    }

    /// When the clocks next need a look, with `running` the test whose outcome is open.
    pub fn next_look(&self, running: Option<usize>) -> Instant {
        let mut wait = LOOK_EVERY;
        if let Some(at) = self.sigkill_at {
            wait = wait.min(at.saturating_duration_since(Instant::now()));
        }
        if let (None, Some(timeout)) = (running, self.starting_timeout()) {
            wait = wait.min(timeout.saturating_sub(self.spawned_at.elapsed()));
        }
        if let Some(pos) = running {
            let elapsed = self.elapsed(pos);
            if let Some(timeout) = self.timeout_ms(pos).map(Duration::from_millis) {
                if self.timed_out.is_none() {
                    wait = wait.min(timeout.saturating_sub(elapsed));
                }
            }
            if let Some(slow) = self.slow_ms(pos).filter(|&ms| ms > 0) {
                let next = slow * (self.slow_reports.get(&pos).copied().unwrap_or(0) + 1);
                wait = wait.min(Duration::from_millis(next).saturating_sub(elapsed));
            }
        }
        Instant::now() + wait.max(Duration::from_millis(1))
    }

    /// The timeout of the test at `pos` (per-test overrides included).
    pub fn timeout_ms(&self, pos: usize) -> Option<u64> {
        self.tests.get(pos).and_then(|&index| self.limits.timeout_ms_of(index))
    }

    fn slow_ms(&self, pos: usize) -> Option<u64> {
        self.tests.get(pos).and_then(|&index| self.limits.slow_ms_of(index))
    }

    /// The timeout that applies before the first test starts (the first test's), while it
    /// can still fire.
    fn starting_timeout(&self) -> Option<Duration> {
        let waiting = !self.any_started && !self.timed_out_starting;
        self.timeout_ms(0).filter(|_| waiting).map(Duration::from_millis)
    }

    /// SIGTERM to the process group now, SIGKILL after the grace period.
    fn terminate(&mut self) {
        let _ = killpg(self.group, Signal::SIGTERM);
        self.sigkill_at = Some(Instant::now() + Duration::from_millis(self.limits.kill_grace_ms));
    }

    /// Reports the running test if slow, and stops it if it ran past its timeout.
    pub fn look(&mut self, running: Option<usize>, sink: &mut dyn Sink) -> io::Result<()> {
        if self.sigkill_at.is_some_and(|at| Instant::now() >= at) {
            let _ = killpg(self.group, Signal::SIGKILL);
            self.sigkill_at = None;
        }
        if let (None, Some(timeout)) = (running, self.starting_timeout()) {
            if self.spawned_at.elapsed() >= timeout {
                self.timed_out_starting = true;
                self.terminate();
            }
        }
        let Some(pos) = running else { return Ok(()) };
        let elapsed = self.elapsed(pos);
        if let Some(slow) = self.slow_ms(pos).filter(|&ms| ms > 0) {
            let sent = self.slow_reports.entry(pos).or_default();
            if elapsed >= Duration::from_millis(slow * (*sent + 1)) {
                *sent += 1;
                let elapsed_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
                sink.send(FromWorker::Slow { index: self.tests[pos], elapsed_ms })?;
            }
        }
        if let Some(timeout) = self.timeout_ms(pos) {
            if self.timed_out.is_none() && elapsed >= Duration::from_millis(timeout) {
                self.timed_out = Some(pos);
                self.terminate();
            }
        }
        Ok(())
    }
}

/// The entry of batch position `pos` (the list grows for a position past its end).
fn slot(times: &mut Vec<Option<Instant>>, pos: usize) -> &mut Option<Instant> {
    if pos >= times.len() {
        times.resize(pos + 1, None);
    }
    &mut times[pos]
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader};
    use std::os::unix::process::{CommandExt, ExitStatusExt};
    use std::process::{Child, Command, Stdio};

    use xdist_core::protocol::TestLimits;

    use super::*;

    use crate::batch::test_frames::Frames;

    /// A process in a group of its own for the clocks to signal, ignoring SIGTERM (as do
    /// the children it runs) once it has said so.
    fn group() -> Child {
        let mut child = Command::new("sh")
            .args(["-c", "trap '' TERM; echo ready; exec sleep 30"])
            .stdout(Stdio::piped())
            .process_group(0)
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap()).read_line(&mut line).unwrap();
        assert_eq!(line, "ready\n");
        child
    }

    fn ago(ms: u64) -> Instant {
        Instant::now().checked_sub(Duration::from_millis(ms)).unwrap()
    }

    /// `clock`'s test 0 started `ms` ago.
    fn started_ago(clock: &mut TestClock, ms: u64) -> Instant {
        let at = ago(ms);
        *slot(&mut clock.started_at, 0) = Some(at);
        clock.any_started = true;
        at
    }

    fn slow_reports(frames: &Frames) -> Vec<u64> {
        let slow = |f: &FromWorker| match f {
            FromWorker::Slow { index: 7, elapsed_ms } => *elapsed_ms,
            other => panic!("{other:?}"),
        };
        frames.0.iter().map(slow).collect()
    }

    #[test]
    fn a_duration_runs_to_the_result_shown_and_on_when_it_is_taken_back() {
        let limits = RunLimits::default();
        let mut child = group();
        let mut clock = TestClock::new(&[7], &limits, child.id());
        assert_eq!(clock.duration(0), Duration::ZERO, "not started");
        clock.started(0);
        started_ago(&mut clock, 400);
        clock.showing(0, true);
        let shown = clock.duration(0);
        assert!(shown >= Duration::from_millis(400), "{shown:?}");
        std::thread::sleep(Duration::from_millis(2));
        clock.showing(0, true);
        assert_eq!(clock.duration(0), shown, "the first time it showed counts");
        clock.showing(0, false);
        std::thread::sleep(Duration::from_millis(2));
        assert!(clock.duration(0) > shown, "runs on once the result is taken back");
        child.kill().unwrap();
        child.wait().unwrap();
    }

    #[test]
    fn a_slow_test_is_reported_once_per_period() {
        let limits = RunLimits { slow_ms: Some(300), ..RunLimits::default() };
        let mut child = group();
        let mut clock = TestClock::new(&[7], &limits, child.id());
        let mut frames = Frames::default();
        clock.look(None, &mut frames).unwrap();
        started_ago(&mut clock, 100);
        clock.look(Some(0), &mut frames).unwrap();
        assert_eq!(slow_reports(&frames), Vec::<u64>::new(), "not slow yet");
        started_ago(&mut clock, 350);
        clock.look(Some(0), &mut frames).unwrap();
        clock.look(Some(0), &mut frames).unwrap();
        let reports = slow_reports(&frames);
        assert_eq!(reports.len(), 1, "one report per period: {reports:?}");
        assert!(reports[0] >= 350, "{reports:?}");
        started_ago(&mut clock, 650);
        clock.look(Some(0), &mut frames).unwrap();
        clock.look(Some(0), &mut frames).unwrap();
        let reports = slow_reports(&frames);
        assert_eq!(reports.len(), 2, "the second period: {reports:?}");
        assert!(reports[1] >= 650, "{reports:?}");
        assert_eq!(clock.timed_out, None);
        child.kill().unwrap();
        child.wait().unwrap();
    }

    #[test]
    fn the_clocks_wake_when_the_next_slow_report_is_due() {
        let limits = RunLimits { slow_ms: Some(300), ..RunLimits::default() };
        let mut child = group();
        let mut clock = TestClock::new(&[7], &limits, child.id());
        // Due at the start plus 300 ms, and then 600 ms (the wait is at most `LOOK_EVERY`).
        for (ago, reports, due) in [(50, 0, 300), (450, 1, 600)] {
            let start = started_ago(&mut clock, ago);
            if reports > 0 {
                clock.slow_reports.insert(0, reports);
            }
            let due = start + Duration::from_millis(due);
            let next = clock.next_look(Some(0));
            assert!(next >= due, "{:?} early", due - next);
            let latest = due.max(Instant::now()) + Duration::from_millis(10);
            assert!(next <= latest, "{:?} late", next - due);
        }
        child.kill().unwrap();
        child.wait().unwrap();
    }

    #[test]
    fn a_slow_timeout_of_zero_reports_nothing_and_does_not_spin() {
        let limits = RunLimits { slow_ms: Some(0), ..RunLimits::default() };
        let mut child = group();
        let mut clock = TestClock::new(&[7], &limits, child.id());
        started_ago(&mut clock, 1000);
        let before = Instant::now();
        assert!(clock.next_look(Some(0)) >= before + LOOK_EVERY);
        let mut frames = Frames::default();
        clock.look(Some(0), &mut frames).unwrap();
        assert_eq!(slow_reports(&frames), Vec::<u64>::new());
        child.kill().unwrap();
        child.wait().unwrap();
    }

    #[test]
    fn a_timeout_sends_sigterm_then_sigkill_after_the_grace_period() {
        let limits =
            RunLimits { timeout_ms: Some(10_000), kill_grace_ms: 5_000, ..RunLimits::default() };
        let mut child = group();
        let mut clock = TestClock::new(&[7], &limits, child.id());
        let mut frames = Frames::default();
        started_ago(&mut clock, 100);
        clock.look(Some(0), &mut frames).unwrap();
        assert_eq!(clock.timed_out, None, "within its timeout");
        assert_eq!(clock.sigkill_at, None);
        started_ago(&mut clock, 10_100);
        let before = Instant::now();
        clock.look(Some(0), &mut frames).unwrap();
        assert_eq!(clock.timed_out, Some(0));
        let sigkill_at = clock.sigkill_at.expect("SIGKILL planned");
        assert!(sigkill_at >= before + Duration::from_millis(5_000), "the grace period is kept");
        // Still within the grace period (the process ignores SIGTERM): no SIGKILL yet.
        clock.look(Some(0), &mut frames).unwrap();
        assert_eq!(clock.sigkill_at, Some(sigkill_at), "SIGKILL still planned for then");
        assert!(child.try_wait().unwrap().is_none());
        // The grace period is over.
        clock.sigkill_at = Some(ago(1));
        clock.look(Some(0), &mut frames).unwrap();
        assert_eq!(clock.sigkill_at, None);
        assert_eq!(child.wait().unwrap().signal(), Some(Signal::SIGKILL as i32));
        assert!(frames.0.is_empty(), "{:?}", frames.0);
    }

    #[test]
    fn a_test_with_limits_of_its_own_is_held_to_them_and_the_others_to_the_run_s() {
        let mut limits =
            RunLimits { timeout_ms: Some(60_000), slow_ms: Some(60_000), ..RunLimits::default() };
        let own = TestLimits { slow_ms: Some(100), timeout_ms: Some(200) };
        limits.per_test.insert(7, own);
        let mut child = group();
        let mut clock = TestClock::new(&[7, 8], &limits, child.id());
        assert_eq!((clock.timeout_ms(0), clock.timeout_ms(1)), (Some(200), Some(60_000)));
        let mut frames = Frames::default();
        *slot(&mut clock.started_at, 1) = Some(ago(300));
        clock.any_started = true;
        clock.look(Some(1), &mut frames).unwrap();
        assert_eq!((clock.timed_out, frames.0.len()), (None, 0), "test 8 has a minute");
        started_ago(&mut clock, 300);
        clock.look(Some(0), &mut frames).unwrap();
        assert_eq!(slow_reports(&frames).len(), 1, "slow after its own 100 ms");
        assert_eq!(clock.timed_out, Some(0), "timed out after its own 200 ms");
        child.kill().unwrap();
        child.wait().unwrap();
    }

    #[test]
    fn a_process_that_hangs_before_its_first_test_is_stopped_once() {
        let limits =
            RunLimits { timeout_ms: Some(10_000), kill_grace_ms: 5_000, ..RunLimits::default() };
        let mut child = group();
        let mut clock = TestClock::new(&[7], &limits, child.id());
        let mut frames = Frames::default();
        clock.look(None, &mut frames).unwrap();
        assert!(!clock.timed_out_starting, "within its timeout");
        clock.spawned_at = ago(10_100);
        clock.look(None, &mut frames).unwrap();
        assert!(clock.timed_out_starting);
        let sigkill_at = clock.sigkill_at.expect("SIGKILL planned");
        // The process ignores SIGTERM: the next looks leave the SIGKILL where it was.
        clock.look(None, &mut frames).unwrap();
        assert_eq!(clock.sigkill_at, Some(sigkill_at), "terminated once, not again");
        let before = Instant::now();
        assert!(clock.next_look(None) >= before + LOOK_EVERY, "no spinning");
        clock.sigkill_at = Some(ago(1));
        clock.look(None, &mut frames).unwrap();
        assert_eq!(child.wait().unwrap().signal(), Some(Signal::SIGKILL as i32));
        assert_eq!(clock.timed_out, None);
        assert!(frames.0.is_empty(), "{:?}", frames.0);
    }
}
