//! The session driven with real schedulers and simulated workers: every test is reported
//! exactly once, crashes and retries included, in every mode.

use std::collections::{BTreeMap, BTreeSet};

use xdist_core::events::{CancelReason, RunEvent, WorkerExit};
use xdist_core::protocol::{Outcome, TestReport};
use xdist_core::summary::{TestResult, TestStatus};
use xdist_core::{Action, DSession, Event, SessionConfig, TestIndex, WorkerId, worker_name};
use xdist_sched::{DistMode, SchedConfig, make_scheduler};

fn session(tests: usize, workers: u32, mode: DistMode, max_fail: Option<u32>) -> DSession {
    let sched = make_scheduler(mode, tests, SchedConfig { max_sched_chunk: None });
    let config = SessionConfig {
        workers,
        max_worker_restart: 2,
        max_fail,
        retries: 0,
        flaky_fails: false,
        runs_per_test: 1,
    };
    DSession::new(tests, sched, config)
}

fn report(index: TestIndex, outcome: Outcome) -> TestReport {
    TestReport {
        index,
        outcome,
        duration_nanos: 1_000,
        output: b"out".to_vec(),
        first_panic: false,
    }
}

fn pass(worker: WorkerId, index: TestIndex) -> Event {
    Event::Finished { worker, report: report(index, Outcome::Passed) }
}

/// Plays the part of the workers: each runs what it is sent, in order, until told to stop.
/// `script` decides per test whether the worker dies while running it.
struct Harness {
    session: DSession,
    queues: BTreeMap<WorkerId, Vec<TestIndex>>,
    shutdown: Vec<WorkerId>,
    results: Vec<TestResult>,
    retried: Vec<TestResult>,
    notes: Vec<String>,
    /// Test index → how many of its runs fail before one passes.
    flaky: BTreeMap<TestIndex, u32>,
    /// Each worker's seat: a first-round worker's own id, inherited by its replacements.
    seat: BTreeMap<WorkerId, WorkerId>,
    /// Seat → how many more of its workers fail to start (an unreachable or broken host).
    dead_on_start: BTreeMap<WorkerId, u32>,
    /// The workers already given their chance to fail at start.
    seen: BTreeSet<WorkerId>,
    /// The workers whose crash retired their seat.
    retired: Vec<WorkerId>,
    /// Every steal is refused (a worker running what it holds in one process).
    refuse_steals: bool,
    /// How many steals were asked.
    steals: usize,
}

impl Harness {
    fn new(session: DSession) -> Self {
        let mut h = Harness {
            session,
            queues: BTreeMap::new(),
            shutdown: vec![],
            results: vec![],
            retried: vec![],
            notes: vec![],
            flaky: BTreeMap::new(),
            seat: BTreeMap::new(),
            dead_on_start: BTreeMap::new(),
            seen: BTreeSet::new(),
            retired: vec![],
            refuse_steals: false,
            steals: 0,
        };
        let actions = h.session.start();
        h.apply(actions);
        h
    }

    fn apply(&mut self, actions: Vec<Action>) {
        for action in actions {
            match action {
                Action::Spawn(w) => {
                    self.queues.insert(w, vec![]);
                }
                Action::Send(w, tests) => {
                    assert!(!self.shutdown.contains(&w), "sent work to gw{w} after its shutdown");
                    self.queues.get_mut(&w).expect("spawned").extend(tests);
                }
                Action::Shutdown(w) => self.shutdown.push(w),
                Action::Steal(w, tests) => {
                    // The worker gives the tests up if none has started: its queue front is
                    // what runs next, so anything still queued counts as not started.
                    let queue = self.queues.get_mut(&w).expect("steal from a live worker");
                    self.steals += 1;
                    let all_queued = !self.refuse_steals && tests.iter().all(|t| queue.contains(t));
                    let released = if all_queued { tests } else { vec![] };
                    queue.retain(|t| !released.contains(t));
                    let more = self.session.handle(Event::Released { worker: w, tests: released });
                    self.apply(more);
                }
                Action::Kill(w) => {
                    self.queues.remove(&w);
                    let more = self.session.handle(Event::Exited {
                        worker: w,
                        cause: WorkerExit::Signal("SIGKILL".into()),
                    });
                    self.apply(more);
                }
                Action::Emit(RunEvent::TestFinished(r)) => self.results.push(r),
                Action::Emit(RunEvent::TestRetried(r)) => self.retried.push(r),
                Action::Emit(RunEvent::WorkerStarted { worker, replacing }) => {
                    let seat = replacing.map_or(worker, |w| self.seat[&w]);
                    self.seat.insert(worker, seat);
                    if let Some(w) = replacing {
                        self.notes.push(format!("replacing crashed worker {}", worker_name(w)));
                    }
                }
                Action::Emit(RunEvent::WorkerRetired { worker, .. }) => self.retired.push(worker),
                Action::Emit(RunEvent::RunCancelled(reason)) => self.notes.push(reason.to_string()),
                Action::Emit(_) => {}
            }
        }
    }

    /// Runs until nothing is left; `crash_on` names tests that kill their worker the first
    /// time they run.
    fn run(&mut self, crash_on: &[TestIndex], fail_on: &[TestIndex]) {
        let mut crash_on = crash_on.to_vec();
        for _ in 0..10_000 {
            if self.session.is_done() {
                return;
            }
            let fresh = self.queues.keys().copied().find(|w| !self.seen.contains(w));
            if let Some(w) = fresh {
                self.seen.insert(w);
                let left = self.dead_on_start.get_mut(&self.seat[&w]).filter(|n| **n > 0);
                if let Some(n) = left {
                    *n -= 1;
                    self.queues.remove(&w);
                    let cause = WorkerExit::SpawnFailed("host down".into());
                    let actions = self.session.handle(Event::Exited { worker: w, cause });
                    self.apply(actions);
                }
                continue;
            }
            let Some((&w, queue)) = self.queues.iter_mut().find(|(_, q)| !q.is_empty()) else {
                // Nobody has work: those told to shut down exit now.
                let w = *self.queues.keys().next().expect("a live worker while not done");
                assert!(self.shutdown.contains(&w), "gw{w} idle but never shut down: a hang");
                self.queues.remove(&w);
                let actions =
                    self.session.handle(Event::Exited { worker: w, cause: WorkerExit::Code(0) });
                self.apply(actions);
                continue;
            };
            let index = queue.remove(0);
            let actions = self.session.handle(Event::Started { worker: w, index });
            self.apply(actions);
            if let Some(pos) = crash_on.iter().position(|&i| i == index) {
                crash_on.remove(pos);
                self.queues.remove(&w);
                let actions = self.session.handle(Event::Exited {
                    worker: w,
                    cause: WorkerExit::Signal("SIGKILL".into()),
                });
                self.apply(actions);
                continue;
            }
            let flaky_left = self.flaky.get_mut(&index).filter(|n| **n > 0);
            let fails = fail_on.contains(&index) || flaky_left.is_some();
            if let Some(n) = flaky_left {
                *n -= 1;
            }
            let outcome = if fails { Outcome::Failed { cause: None } } else { Outcome::Passed };
            let actions =
                self.session.handle(Event::Finished { worker: w, report: report(index, outcome) });
            self.apply(actions);
        }
        panic!("session never finished");
    }

    fn status_of(&self, index: TestIndex) -> Vec<TestStatus> {
        self.results.iter().filter(|r| r.index == index).map(|r| r.status).collect()
    }
}

#[test]
fn all_pass_on_many_workers() {
    let mut h = Harness::new(session(50, 4, DistMode::Load, None));
    h.run(&[], &[]);
    assert_eq!(h.results.len(), 50);
    assert!(h.results.iter().all(|r| r.status == TestStatus::Passed));
    assert_eq!(h.shutdown.len(), 4);
}

#[test]
fn never_more_workers_than_tests() {
    let mut s = session(3, 8, DistMode::Load, None);
    let spawned = s.start().iter().filter(|a| matches!(a, Action::Spawn(_))).count();
    assert_eq!(spawned, 3);
    let mut empty = session(0, 8, DistMode::Load, None);
    assert!(empty.start().is_empty());
    assert!(empty.is_done());
}

#[test]
fn worker_dying_mid_batch_fails_only_the_running_test() {
    for mode in [DistMode::Load, DistMode::No] {
        let mut h = Harness::new(session(40, 2, mode, None));
        h.run(&[7], &[]);
        assert_eq!(h.status_of(7), vec![TestStatus::Failed], "{mode:?}");
        let crash = h.results.iter().find(|r| r.index == 7).expect("reported");
        assert!(
            crash
                .cause
                .as_deref()
                .unwrap()
                .contains("crashed while running this test: was killed by SIGKILL")
        );
        for i in (0..40).filter(|&i| i != 7) {
            assert_eq!(h.status_of(i), vec![TestStatus::Passed], "test {i} under {mode:?}");
        }
        if mode == DistMode::No {
            // The only worker died with tests left: a replacement must take them.
            assert!(
                h.notes.iter().any(|n| n.starts_with("replacing crashed worker")),
                "{:?}",
                h.notes
            );
        }
    }
}

#[test]
fn too_many_crashes_end_the_run_with_not_run_tests() {
    let mut h = Harness::new(session(30, 1, DistMode::Load, None));
    h.run(&[0, 1, 2, 3, 4], &[]);
    assert!(h.session.is_done());
    assert_eq!(reason(&h), Some("maximum crashed workers reached: 2".to_string()));
    for i in 0..30 {
        assert_eq!(h.status_of(i).len(), 1, "test {i} has exactly one outcome");
    }
    assert_eq!(h.status_of(0), vec![TestStatus::Failed]);
    assert!(h.results.iter().any(|r| r.status == TestStatus::NotRun));
}

#[test]
fn maxfail_stops_dispatch_and_reports_the_rest_not_run() {
    let mut h = Harness::new(session(100, 2, DistMode::Load, Some(1)));
    h.run(&[], &[3]);
    assert_eq!(reason(&h), Some("stopping after 1 failure".to_string()));
    assert_eq!(h.results.len(), 100);
    let not_run = h.results.iter().filter(|r| r.status == TestStatus::NotRun).count();
    assert!(not_run > 50, "only {not_run} not run");
}

#[test]
fn late_and_duplicate_reports_are_ignored() {
    let mut s = session(4, 1, DistMode::No, None);
    s.start();
    assert_eq!(s.handle(pass(0, 0)).len(), 1);
    assert!(s.handle(pass(0, 0)).is_empty(), "a second report of test 0");
    assert!(s.handle(pass(5, 1)).is_empty(), "a report from an unknown worker");
}

#[test]
fn interrupt_kills_every_worker_and_reports_everything() {
    let mut h = Harness::new(session(20, 2, DistMode::Load, None));
    let actions = h.session.interrupt(CancelReason::Signal("SIGINT".into()));
    h.apply(actions);
    assert!(h.session.is_done());
    assert_eq!(h.results.len(), 20);
    assert!(h.results.iter().all(|r| r.status == TestStatus::NotRun));
}

fn retrying(tests: usize, workers: u32, retries: u32, flaky_fails: bool) -> DSession {
    let sched = make_scheduler(DistMode::Load, tests, SchedConfig { max_sched_chunk: None });
    let config = SessionConfig {
        workers,
        max_worker_restart: 2,
        max_fail: None,
        retries,
        flaky_fails,
        runs_per_test: 1,
    };
    DSession::new(tests, sched, config)
}

#[test]
fn a_test_that_passes_on_retry_is_flaky() {
    let mut h = Harness::new(retrying(20, 2, 2, false));
    h.flaky.insert(5, 1);
    h.run(&[], &[9]);
    assert_eq!(h.results.len(), 20);
    let five = h.results.iter().find(|r| r.index == 5).unwrap();
    assert_eq!((five.status, five.attempt, five.is_flaky()), (TestStatus::Passed, 2, true));
    let nine = h.results.iter().find(|r| r.index == 9).unwrap();
    assert_eq!((nine.status, nine.attempt), (TestStatus::Failed, 3), "two retries, then final");
    assert_eq!(h.retried.iter().filter(|r| r.index == 9).count(), 2);
}

#[test]
fn per_test_retries_replace_the_run_wide_number() {
    let mut retries = vec![0; 20];
    retries[9] = 2;
    let mut h = Harness::new(retrying(20, 2, 1, false).with_test_retries(retries));
    h.run(&[], &[4, 9]);
    let attempts = |i: u32| h.results.iter().find(|r| r.index == i).unwrap().attempt;
    assert_eq!(attempts(9), 3, "two retries of its own");
    assert_eq!(attempts(4), 1, "none of its own, whatever the run's");
}

#[test]
fn flaky_result_fail_fails_the_test() {
    let mut h = Harness::new(retrying(4, 1, 1, true));
    h.flaky.insert(0, 1);
    h.run(&[], &[]);
    let zero = h.results.iter().find(|r| r.index == 0).unwrap();
    assert_eq!(zero.status, TestStatus::Failed);
    assert!(zero.cause.as_deref().unwrap().starts_with("flaky"));
}

#[test]
fn a_retry_after_every_worker_finished_gets_a_new_worker() {
    // One test per worker: each is shut down as soon as it finishes; the retry needs a worker.
    let mut h = Harness::new(retrying(2, 2, 1, false));
    h.flaky.insert(1, 1);
    h.run(&[], &[]);
    assert_eq!(h.results.len(), 2);
    assert!(h.results.iter().all(|r| r.status == TestStatus::Passed));
}

#[test]
fn a_crashed_test_is_retried_on_a_replacement() {
    let mut h = Harness::new(retrying(10, 1, 1, false));
    // The first run of test 3 kills its worker; the retry passes.
    h.run(&[3], &[]);
    let three = h.results.iter().find(|r| r.index == 3).unwrap();
    assert_eq!((three.status, three.attempt), (TestStatus::Passed, 2));
}

#[test]
fn worksteal_moves_work_to_idle_workers_and_loses_nothing() {
    let sched = make_scheduler(DistMode::WorkSteal, 40, SchedConfig { max_sched_chunk: None });
    let mut h = Harness::new(DSession::new(40, sched, plain_config(3, 1)));
    h.run(&[5, 30], &[7]);
    assert_eq!(h.results.len(), 40);
    let mut seen: Vec<u32> = h.results.iter().map(|r| r.index).collect();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 40, "each test exactly once");
}

#[test]
fn a_refused_steal_is_asked_again_only_once_the_victim_holds_half() {
    let sched = make_scheduler(DistMode::WorkSteal, 400, SchedConfig { max_sched_chunk: None });
    let session = DSession::new(400, sched, plain_config(2, 1));
    let mut h = Harness::new(session);
    h.refuse_steals = true;
    h.run(&[], &[]);
    let mut seen: Vec<u32> = h.results.iter().map(|r| r.index).collect();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 400, "each test exactly once");
    // Asking at every completion of the victim would be about a hundred steals; halving
    // the holding between asks is a handful.
    assert!(h.steals <= 12, "{} steals asked", h.steals);
}

/// `workers` workers, two crashes allowed, no retries or stop, each test run `runs` times.
fn plain_config(workers: u32, runs: u32) -> SessionConfig {
    SessionConfig {
        workers,
        max_worker_restart: 2,
        max_fail: None,
        retries: 0,
        flaky_fails: false,
        runs_per_test: runs,
    }
}

fn reason(h: &Harness) -> Option<String> {
    h.session.stop_reason().map(ToString::to_string)
}

#[test]
fn each_runs_every_test_once_per_worker_under_its_own_index() {
    let sched = xdist_sched::EachScheduler::new(3, 10);
    let mut h = Harness::new(DSession::new(10, Box::new(sched), plain_config(3, 3)));
    h.run(&[], &[6]);
    assert!(h.session.is_done());
    assert_eq!(h.results.len(), 30);
    for i in 0..10 {
        let mut workers: Vec<WorkerId> =
            h.results.iter().filter(|r| r.index == i).filter_map(|r| r.worker).collect();
        workers.sort_unstable();
        assert_eq!(workers, vec![0, 1, 2], "test {i} ran once on each worker");
    }
    assert_eq!(h.status_of(6), vec![TestStatus::Failed; 3]);
    assert_eq!(h.session.summary().failed, 3);
}

/// `workers` workers of 30 tests, `--max-worker-restart 2`, and `dead[k]` of seat `k`'s
/// workers failing to start.
fn dying_seats(mode: DistMode, workers: u32, dead: &[(WorkerId, u32)]) -> Harness {
    let mut h = Harness::new(session(30, workers, mode, None));
    h.dead_on_start.extend(dead.iter().copied());
    h.run(&[], &[]);
    assert!(h.session.is_done());
    for i in 0..30 {
        assert_eq!(h.status_of(i).len(), 1, "test {i} has exactly one outcome under {mode:?}");
    }
    h
}

#[test]
fn a_seat_that_keeps_crashing_is_retired_while_the_others_run_everything() {
    for mode in [DistMode::Load, DistMode::LoadScope, DistMode::WorkSteal] {
        // Seat 0's host never comes up: its worker and two replacements die, then it retires.
        let h = dying_seats(mode, 2, &[(0, u32::MAX)]);
        assert_eq!(reason(&h), None, "the run goes on under {mode:?}: {:?}", h.notes);
        assert!(h.results.iter().all(|r| r.status == TestStatus::Passed), "{mode:?}");
        assert!(h.results.iter().all(|r| h.seat[&r.worker.unwrap()] == 1), "all ran on seat 1");
        assert_eq!(h.retired.len(), 1, "{mode:?}");
        assert_eq!(h.seat[&h.retired[0]], 0);
        let replaced = h.notes.iter().filter(|n| n.starts_with("replacing crashed")).count();
        assert_eq!(replaced, 2, "two restarts for seat 0 under {mode:?}: {:?}", h.notes);
    }
}

#[test]
fn crashes_of_one_seat_do_not_spend_another_seats_budget() {
    // Four crashes in all, two per seat: within each seat's budget of two.
    let h = dying_seats(DistMode::Load, 2, &[(0, 2), (1, 2)]);
    assert_eq!(reason(&h), None, "{:?}", h.notes);
    assert!(h.retired.is_empty());
    assert!(h.results.iter().all(|r| r.status == TestStatus::Passed));
    let seats: BTreeSet<WorkerId> = h.results.iter().map(|r| h.seat[&r.worker.unwrap()]).collect();
    assert_eq!(seats, BTreeSet::from([0, 1]), "both seats ran tests");
}

#[test]
fn when_every_seat_is_retired_the_rest_is_not_run() {
    let h = dying_seats(DistMode::Load, 2, &[(0, u32::MAX), (1, u32::MAX)]);
    assert_eq!(reason(&h), Some("maximum crashed workers reached: 2".to_string()));
    assert_eq!(h.retired.len(), 2);
    assert!(h.results.iter().all(|r| r.status == TestStatus::NotRun));
    let started = h.seat.len();
    assert_eq!(started, 6, "each seat's worker and its two replacements, no more");
}
