//! [`DSession`]: the controller's state machine. Events from workers go in; actions (spawn,
//! send, shut down, kill, report) come out. It does no I/O and reads no clock, so every
//! path, crashes included, is driven by plain unit tests.
//!
//! Its promise: every test of the run is reported exactly once, and once every worker has
//! exited, [`DSession::is_done`] is true.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::protocol::{Outcome, TestReport};
use crate::sched::Scheduler;
use crate::summary::{TestResult, TestStatus};
use crate::{TestIndex, WorkerId, worker_name};

/// Settings of a session.
#[derive(Clone, Copy, Debug)]
pub struct SessionConfig {
    /// Workers to start (never more than there are tests).
    pub workers: u32,
    /// Crashed workers to replace before the run gives up (`--max-worker-restart`).
    pub max_worker_restart: u32,
    /// Stop after this many failed tests (`-x` is 1).
    pub max_fail: Option<u32>,
    /// Run a failing test again up to this many times (`--retries`).
    pub retries: u32,
    /// Count a test that passed only on a retry as failed (`--flaky-result fail`).
    pub flaky_fails: bool,
}

/// Something that happened to a worker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// The worker began running a test.
    Started {
        /// The worker.
        worker: WorkerId,
        /// The test.
        index: TestIndex,
    },
    /// The worker finished a test.
    Finished {
        /// The worker.
        worker: WorkerId,
        /// How the test ended.
        report: TestReport,
    },
    /// A test has been running for a long time (`--slow-timeout`).
    Slow {
        /// The worker.
        worker: WorkerId,
        /// The test.
        index: TestIndex,
        /// How long it has run.
        elapsed: Duration,
    },
    /// The worker answered a steal: it gave up these tests (all asked for, or none).
    Released {
        /// The worker.
        worker: WorkerId,
        /// The tests it gave up.
        tests: Vec<TestIndex>,
    },
    /// The worker's process ended (its pipe closed, or it broke the protocol).
    Exited {
        /// The worker.
        worker: WorkerId,
        /// How it ended, e.g. "killed by signal SIGKILL".
        cause: String,
    },
}

/// What the driver must do next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Start a worker process with this id.
    Spawn(WorkerId),
    /// Send these tests to the worker.
    Send(WorkerId, Vec<TestIndex>),
    /// Tell the worker to exit after its tests.
    Shutdown(WorkerId),
    /// Ask the worker to give up these tests (all or none).
    Steal(WorkerId, Vec<TestIndex>),
    /// Stop the worker and its test processes now.
    Kill(WorkerId),
    /// A test has its outcome.
    Report(TestResult),
    /// A test failed and will run again; this was its outcome this time.
    Retry(TestResult),
    /// A test is still running after `elapsed`.
    Slow {
        /// The test.
        index: TestIndex,
        /// The worker running it.
        worker: WorkerId,
        /// How long it has run.
        elapsed: Duration,
    },
    /// A message for the user, e.g. "replacing crashed worker gw1".
    Note(String),
}

#[derive(Debug, Default)]
struct WorkerState {
    running: Option<TestIndex>,
    shutting_down: bool,
    killed: bool,
}

/// The distributed session: one per run.
pub struct DSession {
    sched: Box<dyn Scheduler + Send>,
    config: SessionConfig,
    reported: Vec<bool>,
    unreported: usize,
    /// Failed runs of each test so far.
    failed_runs: Vec<u32>,
    /// The worker each test was last sent to, until it reports it or gives it up (kept
    /// here so that checking a report costs O(1), whatever a worker holds).
    owner: Vec<Option<WorkerId>>,
    live: BTreeMap<WorkerId, WorkerState>,
    next_worker: WorkerId,
    crashed: u32,
    failed: u32,
    stop_reason: Option<String>,
    /// A steal came back empty: ask again only after some test finished.
    steal_backoff: bool,
}

impl DSession {
    /// A session over `test_count` tests, scheduled by `sched` (built for the same count).
    pub fn new(test_count: usize, sched: Box<dyn Scheduler + Send>, config: SessionConfig) -> Self {
        Self {
            sched,
            config,
            reported: vec![false; test_count],
            unreported: test_count,
            failed_runs: vec![0; test_count],
            owner: vec![None; test_count],
            live: BTreeMap::new(),
            next_worker: 0,
            crashed: 0,
            failed: 0,
            stop_reason: None,
            steal_backoff: false,
        }
    }

    /// How many workers [`DSession::start`] spawns: never more than tests.
    pub fn initial_workers(&self) -> u32 {
        self.config.workers.min(self.reported.len() as u32)
    }

    /// The first actions: spawn the workers and send their first tests.
    pub fn start(&mut self) -> Vec<Action> {
        let mut actions = Vec::new();
        for _ in 0..self.initial_workers() {
            self.spawn(&mut actions);
        }
        self.dispatch(&mut actions);
        actions
    }

    /// Feeds one event in and returns what to do about it.
    pub fn handle(&mut self, event: Event) -> Vec<Action> {
        let mut actions = Vec::new();
        match event {
            Event::Started { worker, index } => {
                if self.holds(worker, index) {
                    self.live.get_mut(&worker).expect("held by a live worker").running =
                        Some(index);
                }
            }
            Event::Finished { worker, report } => {
                self.steal_backoff = false;
                self.finished(worker, report, &mut actions);
            }
            Event::Released { worker, tests } => {
                self.steal_backoff = tests.is_empty();
                self.sched.steal_answered(worker, &tests);
                for &index in &tests {
                    if self.owner.get(index as usize) == Some(&Some(worker)) {
                        self.owner[index as usize] = None;
                    }
                }
                if let Some(reason) = self.stop_reason.clone() {
                    // A late answer after a stop: what it freed will not run.
                    for index in self.sched.drain_unsent() {
                        self.report(not_run(index, &reason), &mut actions);
                    }
                }
            }
            Event::Slow { worker, index, elapsed } => {
                if self.holds(worker, index) {
                    actions.push(Action::Slow { index, worker, elapsed });
                }
            }
            Event::Exited { worker, cause } => self.exited(worker, &cause, &mut actions),
        }
        self.dispatch(&mut actions);
        actions
    }

    /// Stops the run now (Ctrl-C): nothing more is sent, every worker is killed, and the
    /// tests that did not finish are reported not run.
    pub fn interrupt(&mut self, reason: &str) -> Vec<Action> {
        let mut actions = Vec::new();
        self.stop(reason, &mut actions);
        for (&worker, state) in &mut self.live {
            if !state.killed {
                state.killed = true;
                actions.push(Action::Kill(worker));
            }
        }
        actions
    }

    /// True once every test is reported and every worker has exited.
    pub fn is_done(&self) -> bool {
        self.unreported == 0 && self.live.is_empty()
    }

    /// Why the run stopped early, if it did.
    pub fn stop_reason(&self) -> Option<&str> {
        self.stop_reason.as_deref()
    }

    fn holds(&self, worker: WorkerId, index: TestIndex) -> bool {
        self.live.contains_key(&worker)
            && self.owner.get(index as usize) == Some(&Some(worker))
            && !self.reported[index as usize]
    }

    fn spawn(&mut self, actions: &mut Vec<Action>) {
        let worker = self.next_worker;
        self.next_worker += 1;
        self.live.insert(worker, WorkerState::default());
        self.sched.add_worker(worker);
        actions.push(Action::Spawn(worker));
    }

    fn report(&mut self, result: TestResult, actions: &mut Vec<Action>) {
        let slot = &mut self.reported[result.index as usize];
        if *slot {
            return;
        }
        *slot = true;
        self.unreported -= 1;
        if result.is_failure() {
            self.failed += 1;
        }
        actions.push(Action::Report(result));
    }

    /// A test ran to an outcome: report it, or, if it failed and has retries left, put it
    /// back at the front of the queue. Returns true when the outcome was final.
    fn conclude(&mut self, mut result: TestResult, actions: &mut Vec<Action>) -> bool {
        let index = result.index as usize;
        self.owner[index] = None;
        result.attempt = self.failed_runs[index] + 1;
        if result.is_failure()
            && self.failed_runs[index] < self.config.retries
            && self.stop_reason.is_none()
        {
            self.failed_runs[index] += 1;
            self.sched.requeue_front(result.index);
            actions.push(Action::Retry(result));
            return false;
        }
        if result.is_flaky() && self.config.flaky_fails {
            result.status = TestStatus::Failed;
            let failures = result.attempt - 1;
            result.cause = Some(format!(
                "flaky: failed {failures} time(s) before passing (--flaky-result fail)"
            ));
        }
        self.report(result, actions);
        true
    }

    fn finished(&mut self, worker: WorkerId, report: TestReport, actions: &mut Vec<Action>) {
        if !self.holds(worker, report.index) {
            return;
        }
        let state = self.live.get_mut(&worker).expect("held by a live worker");
        if state.running == Some(report.index) {
            state.running = None;
        }
        let duration = Duration::from_nanos(report.duration_nanos);
        self.sched.mark_complete(worker, report.index, duration);
        let (status, cause) = match report.outcome {
            Outcome::Passed => (TestStatus::Passed, None),
            Outcome::Failed { cause } => (TestStatus::Failed, cause),
            Outcome::Ignored => (TestStatus::Skipped, None),
            Outcome::TimedOut { after_ms } => {
                (TestStatus::TimedOut, Some(format!("timed out after {}", seconds(after_ms))))
            }
        };
        let result = TestResult {
            index: report.index,
            status,
            cause,
            duration,
            output: report.output,
            worker: Some(worker),
            attempt: 1,
        };
        if !self.conclude(result, actions) {
            return;
        }
        if let Some(max) = self.config.max_fail {
            if self.failed >= max && self.stop_reason.is_none() {
                let plural = if max == 1 { "" } else { "s" };
                self.stop(&format!("stopping after {max} failure{plural}"), actions);
            }
        }
    }

    fn exited(&mut self, worker: WorkerId, cause: &str, actions: &mut Vec<Action>) {
        let Some(state) = self.live.remove(&worker) else { return };
        let pending = self.sched.pending(worker).to_vec();
        if pending.is_empty() && (state.shutting_down || state.killed) {
            self.sched.remove_worker(worker);
            return;
        }
        if state.killed || self.stop_reason.is_some() {
            self.sched.remove_worker(worker);
            let reason = self.stop_reason.clone().unwrap_or_else(|| "run stopped".into());
            for index in pending {
                self.report(not_run(index, &reason), actions);
            }
            return;
        }
        let name = worker_name(worker);
        let crashed_test = state.running.filter(|i| pending.contains(i));
        if let Some(index) = crashed_test {
            self.sched.mark_complete(worker, index, Duration::ZERO);
        }
        self.sched.remove_worker(worker);
        actions.push(Action::Note(format!("[{name}] worker down: {cause}")));
        self.crashed += 1;
        let give_up = self.crashed > self.config.max_worker_restart;
        if give_up {
            let reason = if self.config.max_worker_restart == 0 {
                format!("worker {name} crashed and worker restarting disabled")
            } else {
                format!("maximum crashed workers reached: {}", self.config.max_worker_restart)
            };
            self.stop(&reason, actions);
        }
        if let Some(index) = crashed_test {
            let result = TestResult {
                index,
                status: TestStatus::Failed,
                cause: Some(format!("worker '{name}' crashed while running this test: {cause}")),
                duration: Duration::ZERO,
                output: Vec::new(),
                worker: Some(worker),
                attempt: 1,
            };
            self.conclude(result, actions);
        }
        if !give_up && self.sched.has_unsent() {
            actions.push(Action::Note(format!("replacing crashed worker {name}")));
            self.spawn(actions);
        }
    }

    /// True when some live worker can still be sent tests.
    fn has_open_worker(&self) -> bool {
        self.live.values().any(|s| !s.shutting_down && !s.killed)
    }

    /// Ends dispatch: unsent tests are reported not run, busy workers are killed (their
    /// unfinished tests are reported when they exit), idle ones shut down.
    fn stop(&mut self, reason: &str, actions: &mut Vec<Action>) {
        if self.stop_reason.is_none() {
            self.stop_reason = Some(reason.to_string());
            actions.push(Action::Note(reason.to_string()));
        }
        for index in self.sched.drain_unsent() {
            self.report(not_run(index, reason), actions);
        }
        let workers: Vec<WorkerId> = self.live.keys().copied().collect();
        for worker in workers {
            let busy = !self.sched.pending(worker).is_empty();
            let state = self.live.get_mut(&worker).expect("live");
            if busy && !state.killed {
                state.killed = true;
                actions.push(Action::Kill(worker));
            }
        }
    }

    /// Sends what the scheduler plans, and shuts down workers that have nothing left to do.
    fn dispatch(&mut self, actions: &mut Vec<Action>) {
        if self.stop_reason.is_none() && self.sched.has_unsent() && !self.has_open_worker() {
            // Work came back (a retry) after every worker was told to finish.
            self.spawn(actions);
        }
        if self.stop_reason.is_none() {
            for assignment in self.sched.schedule() {
                for &index in &assignment.tests {
                    self.owner[index as usize] = Some(assignment.worker);
                }
                actions.push(Action::Send(assignment.worker, assignment.tests));
            }
            if !self.steal_backoff {
                for steal in self.sched.steal_requests() {
                    actions.push(Action::Steal(steal.victim, steal.tests));
                }
            }
        }
        let more_may_come = self.sched.has_unsent() || self.sched.steal_in_flight();
        if more_may_come && self.stop_reason.is_none() {
            return;
        }
        let idle: Vec<WorkerId> = self
            .live
            .iter()
            .filter(|(w, s)| !s.shutting_down && !s.killed && self.sched.pending(**w).is_empty())
            .map(|(w, _)| *w)
            .collect();
        for worker in idle {
            self.live.get_mut(&worker).expect("live").shutting_down = true;
            self.sched.remove_worker(worker);
            actions.push(Action::Shutdown(worker));
        }
    }
}

fn not_run(index: TestIndex, reason: &str) -> TestResult {
    TestResult {
        index,
        status: TestStatus::NotRun,
        cause: Some(reason.to_string()),
        duration: Duration::ZERO,
        output: Vec::new(),
        worker: None,
        attempt: 1,
    }
}

/// `1500` → `1.5s`.
fn seconds(ms: u64) -> String {
    format!("{}s", Duration::from_millis(ms).as_secs_f64())
}
