//! [`DSession`]: the controller's state machine. Events from workers go in; actions come out:
//! commands for the workers (spawn, send, steal, shut down, kill) and typed [`RunEvent`]s
//! for the subscribers (results, retries, slow tests, workers up and down, a cancelled run). It does no I/O and reads no clock, so every
//! path, crashes included, is driven by plain unit tests.
//!
//! Its promise: every test of the run is reported exactly once, and once every worker has
//! exited, [`DSession::is_done`] is true.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::events::{CancelReason, RunEvent, WorkerExit};
use crate::protocol::{Outcome, TestReport};
use crate::sched::Scheduler;
use crate::summary::{RunSummary, TestResult, TestStatus};
use crate::{TestIndex, WorkerId, worker_name};

/// Settings of a session.
#[derive(Clone, Copy, Debug)]
pub struct SessionConfig {
    /// Workers to start (never more than there are tests).
    pub workers: u32,
    /// How many times each worker seat may be restarted (`--max-worker-restart`): a seat is
    /// one worker of the first round and the line of replacements that follow it. A seat
    /// whose worker crashes once more is retired (not replaced); the run gives up only when
    /// every seat is retired.
    pub max_worker_restart: u32,
    /// Stop after this many failed tests (`-x` is 1).
    pub max_fail: Option<u32>,
    /// Run a failing test again up to this many times (`--retries`).
    pub retries: u32,
    /// Count a test that passed only on a retry as failed (`--flaky-result fail`).
    pub flaky_fails: bool,
    /// How many times each test runs, each time on another worker (`--dist each`: one per
    /// worker; otherwise 1).
    pub runs_per_test: u32,
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
    /// The worker put tests of a cut batch back in its queue: a steal may now succeed.
    Requeued {
        /// The worker.
        worker: WorkerId,
    },
    /// The worker read its setup and is ready for tests.
    Ready {
        /// The worker.
        worker: WorkerId,
    },
    /// The worker's process ended (its pipe closed, it broke the protocol, it fell silent, or
    /// it could not be started).
    Exited {
        /// The worker.
        worker: WorkerId,
        /// How it ended.
        cause: WorkerExit,
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
    /// Tell the subscribers.
    Emit(RunEvent),
}

/// One worker seat's restart budget.
#[derive(Debug, Default)]
struct Seat {
    crashes: u32,
    retired: bool,
}

#[derive(Debug, Default)]
struct WorkerState {
    running: Option<TestIndex>,
    shutting_down: bool,
    killed: bool,
}

/// The distributed session: one per run.
///
/// Inside, a test's runs are *slots*: slot `k * tests + i` is the `k`-th run of test `i`
/// (only `--dist each` has more than one). The scheduler deals slots; workers, events and
/// results name tests.
pub struct DSession {
    sched: Box<dyn Scheduler + Send>,
    config: SessionConfig,
    /// Tests in the list.
    tests: usize,
    reported: Vec<bool>,
    unreported: usize,
    /// Failed runs of each test so far.
    failed_runs: Vec<u32>,
    /// The worker each test was last sent to, until it reports it or gives it up (kept
    /// here so that checking a report costs O(1), whatever a worker holds).
    owner: Vec<Option<WorkerId>>,
    live: BTreeMap<WorkerId, WorkerState>,
    next_worker: WorkerId,
    /// The seat of every worker started so far (a replacement takes its predecessor's).
    seat_of: BTreeMap<WorkerId, usize>,
    /// The seats: one per worker of the first round.
    seats: Vec<Seat>,
    failed: u32,
    stop_reason: Option<CancelReason>,
    /// The outcomes reported so far.
    summary: RunSummary,
    /// A steal came back empty from this victim while it held this many tests: ask no more
    /// until it holds half as many, or a worker put tests back in its queue (`Requeued`).
    /// Under whole batching the victim's tests sit in its running process, so asking again
    /// at each completion would only be refused again.
    steal_refused: Option<(WorkerId, usize)>,
    /// Each test's retries, where they differ by test (per-test overrides).
    test_retries: Option<Vec<u32>>,
}

impl DSession {
    /// A session over `test_count` tests, each run `config.runs_per_test` times, scheduled
    /// by `sched` (built for as many slots).
    pub fn new(test_count: usize, sched: Box<dyn Scheduler + Send>, config: SessionConfig) -> Self {
        let slots = test_count * config.runs_per_test.max(1) as usize;
        Self {
            sched,
            config,
            tests: test_count,
            reported: vec![false; slots],
            unreported: slots,
            failed_runs: vec![0; slots],
            owner: vec![None; slots],
            live: BTreeMap::new(),
            next_worker: 0,
            seat_of: BTreeMap::new(),
            seats: Vec::new(),
            failed: 0,
            stop_reason: None,
            summary: RunSummary::default(),
            steal_refused: None,
            test_retries: None,
        }
    }

    /// Gives each test its own number of retries (`retries[i]` for test `i`) instead of
    /// `config.retries`; a test past the end keeps `config.retries`.
    pub fn with_test_retries(mut self, retries: Vec<u32>) -> Self {
        self.test_retries = Some(retries);
        self
    }

    /// How many times the test of `slot` may be retried.
    fn retries_of(&self, slot: TestIndex) -> u32 {
        let test = self.test_of(slot) as usize;
        self.test_retries.as_ref().and_then(|r| r.get(test).copied()).unwrap_or(self.config.retries)
    }

    /// How many outcomes the run will report.
    pub fn test_count(&self) -> usize {
        self.reported.len()
    }

    /// How many workers [`DSession::start`] spawns: never more than tests.
    pub fn initial_workers(&self) -> u32 {
        self.config.workers.min(self.reported.len() as u32)
    }

    /// The first actions: spawn the workers and send their first tests.
    pub fn start(&mut self) -> Vec<Action> {
        let mut actions = Vec::new();
        for seat in 0..self.initial_workers() as usize {
            self.seats.push(Seat::default());
            self.spawn(None, seat, &mut actions);
        }
        self.dispatch(&mut actions);
        actions
    }

    /// Whether another worker would find work: tests wait unsent and the run goes on.
    pub fn wants_more_workers(&self) -> bool {
        self.stop_reason.is_none() && self.sched.has_unsent()
    }

    /// How many workers are running now.
    pub fn live_workers(&self) -> usize {
        self.live.len()
    }

    /// Adds a worker (a new seat) while the run goes (`-n auto` following the work), and
    /// sends it its first tests; nothing when no test waits unsent.
    pub fn add_worker(&mut self) -> Vec<Action> {
        let mut actions = Vec::new();
        if !self.wants_more_workers() {
            return actions;
        }
        self.seats.push(Seat::default());
        let seat = self.seats.len() - 1;
        self.spawn(None, seat, &mut actions);
        self.dispatch(&mut actions);
        actions
    }

    /// Feeds one event in and returns what to do about it.
    pub fn handle(&mut self, event: Event) -> Vec<Action> {
        let mut actions = Vec::new();
        match event {
            Event::Started { worker, index } => {
                if let Some(slot) = self.slot_of(worker, index) {
                    self.live.get_mut(&worker).expect("held by a live worker").running = Some(slot);
                    actions.push(Action::Emit(RunEvent::TestStarted { index, worker }));
                }
            }
            Event::Ready { worker } => {
                if self.live.contains_key(&worker) {
                    actions.push(Action::Emit(RunEvent::WorkerReady { worker }));
                }
            }
            Event::Finished { worker, mut report } => {
                if let Some(slot) = self.slot_of(worker, report.index) {
                    report.index = slot;
                    self.finished(worker, report, &mut actions);
                }
            }
            Event::Requeued { .. } => self.steal_refused = None,
            Event::Released { worker, tests } => {
                self.steal_refused = tests.is_empty().then(|| (worker, self.sched.held(worker)));
                let tests: Vec<TestIndex> =
                    tests.into_iter().filter_map(|i| self.slot_of(worker, i)).collect();
                self.sched.steal_answered(worker, &tests);
                for &index in &tests {
                    if self.owner.get(index as usize) == Some(&Some(worker)) {
                        self.owner[index as usize] = None;
                    }
                }
                if let Some(reason) = self.stop_reason.clone() {
                    // A late answer after a stop: what it freed will not run.
                    for index in self.sched.drain_unsent() {
                        self.report(not_run(index, &reason.to_string()), &mut actions);
                    }
                }
            }
            Event::Slow { worker, index, elapsed } => {
                if self.slot_of(worker, index).is_some() {
                    actions.push(Action::Emit(RunEvent::TestSlow { index, worker, elapsed }));
                }
            }
            Event::Exited { worker, cause } => self.exited(worker, cause, &mut actions),
        }
        self.dispatch(&mut actions);
        actions
    }

    /// Stops the run now (Ctrl-C): nothing more is sent, every worker is killed, and the
    /// tests that did not finish are reported not run.
    pub fn interrupt(&mut self, reason: CancelReason) -> Vec<Action> {
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

    /// Why the run stopped early, if it did (the strongest reason given).
    pub fn stop_reason(&self) -> Option<&CancelReason> {
        self.stop_reason.as_ref()
    }

    /// The outcomes reported so far; every test's once the session is done.
    pub fn summary(&self) -> RunSummary {
        self.summary
    }

    /// The slot of `index` that `worker` holds, if it holds one and it is not reported.
    fn slot_of(&self, worker: WorkerId, index: TestIndex) -> Option<TestIndex> {
        if index as usize >= self.tests {
            return None;
        }
        let runs = self.config.runs_per_test.max(1);
        (0..runs)
            .map(|k| k * self.tests as TestIndex + index)
            .find(|&slot| self.holds(worker, slot))
    }

    /// The test a slot is a run of.
    fn test_of(&self, slot: TestIndex) -> TestIndex {
        slot % self.tests.max(1) as TestIndex
    }

    fn holds(&self, worker: WorkerId, index: TestIndex) -> bool {
        self.live.contains_key(&worker)
            && self.owner.get(index as usize) == Some(&Some(worker))
            && !self.reported[index as usize]
    }

    fn spawn(&mut self, replacing: Option<WorkerId>, seat: usize, actions: &mut Vec<Action>) {
        let worker = self.next_worker;
        self.next_worker += 1;
        self.seat_of.insert(worker, seat);
        self.live.insert(worker, WorkerState::default());
        self.sched.add_worker(worker);
        actions.push(Action::Spawn(worker));
        actions.push(Action::Emit(RunEvent::WorkerStarted { worker, replacing }));
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
        self.summary.add(&result);
        let mut result = result;
        result.index = self.test_of(result.index);
        actions.push(Action::Emit(RunEvent::TestFinished(result)));
    }

    /// A test ran to an outcome: report it, or, if it failed and has retries left, put it
    /// back at the front of the queue. Returns true when the outcome was final.
    fn conclude(&mut self, mut result: TestResult, actions: &mut Vec<Action>) -> bool {
        let index = result.index as usize;
        self.owner[index] = None;
        result.attempt = self.failed_runs[index] + 1;
        if result.is_failure()
            && self.failed_runs[index] < self.retries_of(result.index)
            && self.stop_reason.is_none()
        {
            self.failed_runs[index] += 1;
            self.sched.requeue_front(result.index);
            result.index = self.test_of(result.index);
            actions.push(Action::Emit(RunEvent::TestRetried(result)));
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
            first_panic: report.first_panic,
        };
        if !self.conclude(result, actions) {
            return;
        }
        if let Some(max) = self.config.max_fail {
            if self.failed >= max && self.stop_reason.is_none() {
                self.stop(CancelReason::TestFailures(max), actions);
            }
        }
    }

    fn exited(&mut self, worker: WorkerId, cause: WorkerExit, actions: &mut Vec<Action>) {
        let Some(state) = self.live.remove(&worker) else { return };
        let pending = self.sched.pending(worker).to_vec();
        let expected = state.shutting_down || state.killed || self.stop_reason.is_some();
        let exited = RunEvent::WorkerExited { worker, cause: cause.clone(), expected };
        if pending.is_empty() && (state.shutting_down || state.killed) {
            self.sched.remove_worker(worker);
            actions.push(Action::Emit(exited));
            return;
        }
        if state.killed || self.stop_reason.is_some() {
            self.sched.remove_worker(worker);
            actions.push(Action::Emit(exited));
            let reason = self.stop_reason.as_ref().map_or("run stopped".into(), |r| r.to_string());
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
        actions.push(Action::Emit(RunEvent::WorkerExited {
            worker,
            cause: cause.clone(),
            expected: false,
        }));
        let max = self.config.max_worker_restart;
        let seat = self.seat_of.get(&worker).copied().unwrap_or_default();
        let retire = self.seats.get_mut(seat).is_none_or(|s| {
            s.crashes += 1;
            s.retired = s.crashes > max;
            s.retired
        });
        if retire {
            actions.push(Action::Emit(RunEvent::WorkerRetired { worker, max }));
        }
        let give_up = retire && self.open_seat().is_none();
        if give_up {
            self.stop(CancelReason::CrashLimit { max, worker }, actions);
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
                first_panic: false,
            };
            self.conclude(result, actions);
        }
        if !retire && self.sched.has_unsent() {
            self.spawn(Some(worker), seat, actions);
        }
    }

    /// The first seat that is not retired.
    fn open_seat(&self) -> Option<usize> {
        self.seats.iter().position(|s| !s.retired)
    }

    /// True when some live worker can still be sent tests.
    fn has_open_worker(&self) -> bool {
        self.live.values().any(|s| !s.shutting_down && !s.killed)
    }

    /// Ends dispatch: unsent tests are reported not run, busy workers are killed (their
    /// unfinished tests are reported when they exit), idle ones shut down.
    fn stop(&mut self, reason: CancelReason, actions: &mut Vec<Action>) {
        if self.stop_reason.as_ref().is_none_or(|r| *r < reason) {
            self.stop_reason = Some(reason.clone());
            actions.push(Action::Emit(RunEvent::RunCancelled(reason)));
        }
        let reason = self.stop_reason.as_ref().map(ToString::to_string).unwrap_or_default();
        for index in self.sched.drain_unsent() {
            self.report(not_run(index, &reason), actions);
        }
        let workers: Vec<WorkerId> = self.live.keys().copied().collect();
        for worker in workers {
            let busy = self.sched.held(worker) > 0;
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
            // Work came back (a retry, or the tests of a retired seat) after every other
            // worker was told to finish: a seat with budget left takes it.
            if let Some(seat) = self.open_seat() {
                self.spawn(None, seat, actions);
            }
        }
        if self.stop_reason.is_none() {
            for assignment in self.sched.schedule() {
                for &index in &assignment.tests {
                    self.owner[index as usize] = Some(assignment.worker);
                }
                let tests = assignment.tests.iter().map(|&slot| self.test_of(slot)).collect();
                actions.push(Action::Send(assignment.worker, tests));
            }
            let backed_off = self.steal_refused.is_some_and(|(victim, held)| {
                self.live.contains_key(&victim) && self.sched.held(victim) > held / 2
            });
            if !backed_off {
                self.steal_refused = None;
                for steal in self.sched.steal_requests() {
                    let tests = steal.tests.iter().map(|&slot| self.test_of(slot)).collect();
                    actions.push(Action::Steal(steal.victim, tests));
                }
            }
        }
        let more_may_come =
            self.sched.has_unsent() || self.sched.steal_in_flight() || self.sched.may_steal_later();
        if more_may_come && self.stop_reason.is_none() {
            return;
        }
        let idle: Vec<WorkerId> = self
            .live
            .iter()
            .filter(|(w, s)| !s.shutting_down && !s.killed && self.sched.held(**w) == 0)
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
        first_panic: false,
    }
}

/// `1500` → `1.5s`.
fn seconds(ms: u64) -> String {
    format!("{}s", Duration::from_millis(ms).as_secs_f64())
}
