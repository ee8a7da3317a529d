//! The drive loop with in-process fake workers: the real session, scheduler and loop, with
//! scripted workers that crash, hang, cannot start or go silent.

use std::time::Duration;

use xdist_core::events::{RunEvent, RunSubscriber};
use xdist_core::protocol::{Outcome, ToWorker};
use xdist_core::summary::{TestResult, TestStatus};
use xdist_core::{DSession, SessionConfig, TestIndex};
use xdist_sched::{DistMode, SchedConfig, make_scheduler};

use super::transport::fake::{Behaviour, FakeTransport, Script, Told, session_config as config};
use super::{RunShape, drive};

#[derive(Default)]
pub(crate) struct Recorder(pub Vec<RunEvent>);

impl RunSubscriber for Recorder {
    fn on_event(&mut self, event: &RunEvent) {
        self.0.push(event.clone());
    }
}

impl Recorder {
    fn results(&self) -> Vec<&TestResult> {
        self.0
            .iter()
            .filter_map(|e| if let RunEvent::TestFinished(r) = e { Some(r) } else { None })
            .collect()
    }

    /// Each test's outcomes, by index.
    fn outcomes(&self, tests: usize) -> Vec<Vec<TestStatus>> {
        let mut by_test = vec![Vec::new(); tests];
        for r in self.results() {
            by_test[r.index as usize].push(r.status);
        }
        by_test
    }
}

pub(crate) async fn run_fake(
    tests: usize,
    mode: DistMode,
    config: SessionConfig,
    transport: &mut FakeTransport,
    silence: Duration,
) -> Recorder {
    let sched: Box<dyn xdist_core::Scheduler + Send> = match mode {
        DistMode::Each => {
            Box::new(xdist_sched::EachScheduler::new(config.runs_per_test as usize, tests))
        }
        _ => make_scheduler(mode, tests, SchedConfig { max_sched_chunk: None }),
    };
    let mut session = DSession::new(tests, sched, config);
    let shape =
        RunShape { skipped: 0, mode: mode.name().into(), silence_timeout: silence, growth: None };
    let mut recorder = Recorder::default();
    drive(&mut session, transport, &shape, &mut [&mut recorder]).await;
    assert!(session.is_done());
    recorder
}

const QUIET: Duration = Duration::from_secs(60);

#[tokio::test]
async fn every_test_ends_once_and_the_stream_is_framed() {
    let mut transport = FakeTransport::default();
    let rec = run_fake(30, DistMode::Load, config(3), &mut transport, QUIET).await;
    assert!(matches!(rec.0.first(), Some(RunEvent::RunStarted { tests: 30, workers: 3, .. })));
    let RunEvent::RunFinished(summary) = rec.0.last().unwrap() else { panic!("{:?}", rec.0) };
    assert_eq!(summary.passed, 30);
    assert!(rec.outcomes(30).iter().all(|o| *o == vec![TestStatus::Passed]));
    let ready = rec.0.iter().filter(|e| matches!(e, RunEvent::WorkerReady { .. })).count();
    assert_eq!(ready, 3);
}

#[tokio::test]
async fn a_replacement_that_cannot_start_counts_as_a_crash_and_nothing_is_lost() {
    // gw0 dies at test 3; its replacements gw1 and gw2 cannot start; gw3 can.
    let script = Script {
        tests: [(3, Behaviour::KillsWorker)].into(),
        unstartable: [1, 2].into(),
        ..Script::default()
    };
    let mut transport = FakeTransport::new(script);
    let rec = run_fake(10, DistMode::Load, config(1), &mut transport, QUIET).await;
    let outcomes = rec.outcomes(10);
    assert!(outcomes.iter().all(|o| o.len() == 1), "{outcomes:?}");
    assert_eq!(outcomes[3], vec![TestStatus::Failed]);
    assert!(outcomes.iter().enumerate().all(|(i, o)| i == 3 || o[0] == TestStatus::Passed));
    let spawn_failures = rec
        .0
        .iter()
        .filter(|e| {
            matches!(
                e,
                RunEvent::WorkerExited {
                    cause: xdist_core::events::WorkerExit::SpawnFailed(_),
                    expected: false,
                    ..
                }
            )
        })
        .count();
    assert_eq!(spawn_failures, 2);
}

#[tokio::test]
async fn when_no_replacement_can_start_the_rest_is_not_run() {
    let script = Script {
        tests: [(0, Behaviour::KillsWorker)].into(),
        unstartable: (1..100).collect(),
        ..Script::default()
    };
    let mut transport = FakeTransport::new(script);
    let rec = run_fake(10, DistMode::Load, config(1), &mut transport, QUIET).await;
    let outcomes = rec.outcomes(10);
    assert!(outcomes.iter().all(|o| o.len() == 1), "{outcomes:?}");
    assert_eq!(outcomes[0], vec![TestStatus::Failed]);
    assert!(outcomes[1..].iter().all(|o| o[0] == TestStatus::NotRun));
    assert!(rec.0.iter().any(|e| matches!(e, RunEvent::RunCancelled(_))));
}

#[tokio::test]
async fn stopping_a_test_is_a_protocol_message() {
    // -x: test 0 fails while test 1 hangs on the other worker, which must be told to abort
    // (and is never signalled by the transport).
    let failed = Behaviour::Ends(Outcome::Failed { cause: None }, b"boom\n".to_vec());
    let script = Script { tests: [(0, failed), (1, Behaviour::Hangs)].into(), ..Script::default() };
    let mut transport = FakeTransport::new(script);
    let config = SessionConfig { max_fail: Some(1), ..config(2) };
    let rec = run_fake(2, DistMode::Load, config, &mut transport, QUIET).await;
    assert_eq!(rec.outcomes(2), vec![vec![TestStatus::Failed], vec![TestStatus::NotRun]]);
    let hung_on = (0..2)
        .find(|&w| transport.told(w).contains(&Told::Message(ToWorker::Run(vec![1]))))
        .expect("test 1 was sent");
    let told = transport.told(hung_on);
    assert!(told.contains(&Told::Message(ToWorker::Abort)), "{told:?}");
    assert!(!told.contains(&Told::Kill), "{told:?}");
}

#[tokio::test]
async fn a_silent_worker_is_killed_on_its_own_deadline() {
    let tests: Vec<(TestIndex, Behaviour)> = vec![(0, Behaviour::Hangs)];
    let script = Script { tests: tests.into_iter().collect(), ..Script::default() };
    let mut transport = FakeTransport::new(script);
    let started = std::time::Instant::now();
    let rec =
        run_fake(40, DistMode::Load, config(2), &mut transport, Duration::from_millis(300)).await;
    let outcomes = rec.outcomes(40);
    assert!(outcomes.iter().all(|o| o.len() == 1), "{outcomes:?}");
    let hung = rec.results().into_iter().find(|r| r.index == 0).unwrap();
    assert_eq!(hung.status, TestStatus::Failed);
    let cause = hung.cause.as_deref().unwrap();
    assert!(cause.ends_with("sent nothing for 0.3s and was killed"), "{cause}");
    assert!(started.elapsed() < Duration::from_secs(30));
}

#[tokio::test]
async fn each_runs_every_test_on_every_worker_from_one_list() {
    let mut transport = FakeTransport::default();
    let config = SessionConfig { runs_per_test: 3, ..config(3) };
    let rec = run_fake(8, DistMode::Each, config, &mut transport, QUIET).await;
    for i in 0..8 {
        let mut workers: Vec<u32> =
            rec.results().iter().filter(|r| r.index == i).filter_map(|r| r.worker).collect();
        workers.sort_unstable();
        assert_eq!(workers, vec![0, 1, 2], "test {i} ran once on every worker");
    }
    for w in 0..3 {
        let sent: Vec<TestIndex> = transport
            .told(w)
            .into_iter()
            .filter_map(|t| if let Told::Message(ToWorker::Run(v)) = t { Some(v) } else { None })
            .flatten()
            .collect();
        assert!(sent.iter().all(|&i| i < 8), "worker {w} was sent list indices: {sent:?}");
    }
}
