//! In-process workers for tests: each plays a real worker's part over the same link
//! interface (ready, start and finish tests in order, answer steals all-or-nothing, shut down,
//! abort), with outcomes from a script, and records every message it was sent and every
//! kill, so a test can see what went over the protocol.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;
use xdist_core::events::WorkerExit;
use xdist_core::protocol::{FromWorker, Outcome, TestReport, ToWorker};
use xdist_core::{TestIndex, WorkerId};

use super::{Heard, LinkEvent, LinkEvents, StartError, Transport, WorkerLink};

/// How a scripted test behaves.
#[derive(Clone, Debug)]
pub enum Behaviour {
    /// It ends with this outcome and output.
    Ends(Outcome, Vec<u8>),
    /// Its worker dies (SIGKILL) while it runs.
    KillsWorker,
    /// It never ends.
    Hangs,
    /// It fails (with this output) the first time it runs, and passes after.
    FailsOnce(Vec<u8>),
}

/// What the fake workers do, and what happened to them.
#[derive(Default)]
pub struct Script {
    /// Tests not listed pass, with no output.
    pub tests: HashMap<TestIndex, Behaviour>,
    /// Workers that cannot be started.
    pub unstartable: HashSet<WorkerId>,
    /// How often each test has run.
    pub runs: Mutex<HashMap<TestIndex, u32>>,
}

/// What a worker was told, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Told {
    /// A protocol message.
    Message(ToWorker),
    /// A kill by the transport (of the worker it started).
    Kill,
}

/// The fake transport.
#[derive(Default)]
pub struct FakeTransport {
    script: Arc<Script>,
    /// Every worker's messages, by worker.
    pub log: Arc<Mutex<Vec<(WorkerId, Told)>>>,
}

impl FakeTransport {
    /// Workers that follow `script`.
    pub fn new(script: Script) -> Self {
        Self { script: Arc::new(script), log: Arc::default() }
    }

    /// What `worker` was told.
    pub fn told(&self, worker: WorkerId) -> Vec<Told> {
        let log = self.log.lock().expect("log");
        log.iter().filter(|(w, _)| *w == worker).map(|(_, t)| t.clone()).collect()
    }
}

impl Transport for FakeTransport {
    fn start(
        &mut self,
        worker: WorkerId,
        events: LinkEvents,
    ) -> Result<Box<dyn WorkerLink>, StartError> {
        if self.script.unstartable.contains(&worker) {
            return Err(StartError::Spawn {
                program: "fake-worker".into(),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "removed"),
            });
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let heard = Heard::now();
        tokio::spawn(play(worker, Arc::clone(&self.script), rx, events, heard.clone()));
        Ok(Box::new(FakeLink { worker, tx, log: Arc::clone(&self.log), heard }))
    }
}

struct FakeLink {
    worker: WorkerId,
    tx: mpsc::UnboundedSender<Told>,
    log: Arc<Mutex<Vec<(WorkerId, Told)>>>,
    heard: Heard,
}

impl FakeLink {
    fn tell(&self, told: Told) {
        self.log.lock().expect("log").push((self.worker, told.clone()));
        let _ = self.tx.send(told);
    }
}

impl WorkerLink for FakeLink {
    fn send(&mut self, message: ToWorker) {
        self.tell(Told::Message(message));
    }
    fn shut_down(&mut self) {
        self.tell(Told::Message(ToWorker::Shutdown));
    }
    fn abort(&mut self) {
        self.tell(Told::Message(ToWorker::Abort));
    }
    fn kill(&mut self) {
        self.tell(Told::Kill);
    }
    fn last_heard(&self) -> std::time::Instant {
        self.heard.at()
    }
}

/// One fake worker's life.
async fn play(
    worker: WorkerId,
    script: Arc<Script>,
    mut rx: mpsc::UnboundedReceiver<Told>,
    events: LinkEvents,
    heard: Heard,
) {
    let send = |frame| {
        heard.stamp();
        let _ = events.send((worker, LinkEvent::Frame(frame)));
    };
    let close = |cause| {
        let _ = events.send((worker, LinkEvent::Closed(cause)));
    };
    send(FromWorker::Ready);
    let mut queue: VecDeque<TestIndex> = VecDeque::new();
    let mut shutting_down = false;
    let mut hung = false;
    loop {
        let wait = hung || (queue.is_empty() && !shutting_down);
        let told = if wait {
            match rx.recv().await {
                Some(told) => Some(told),
                None => return close(WorkerExit::Code(4)),
            }
        } else {
            rx.try_recv().ok()
        };
        // Every message waiting is handled before the next test runs.
        if let Some(told) = told {
            match told {
                Told::Message(ToWorker::Run(tests)) => queue.extend(tests),
                Told::Message(ToWorker::Steal(tests)) => {
                    let all = tests.iter().all(|t| queue.contains(t));
                    let released = if all { tests } else { Vec::new() };
                    queue.retain(|t| !released.contains(t));
                    send(FromWorker::Released(released));
                }
                Told::Message(ToWorker::Shutdown) => shutting_down = true,
                Told::Message(ToWorker::Abort) => return close(WorkerExit::Code(5)),
                Told::Message(ToWorker::Setup(_)) => {}
                Told::Kill => return close(WorkerExit::Signal("SIGKILL".into())),
            }
            continue;
        }
        if let Some(index) = queue.pop_front() {
            send(FromWorker::Started { index });
            match script.tests.get(&index).cloned() {
                None => send(finished(index, Outcome::Passed, Vec::new())),
                Some(Behaviour::Ends(outcome, output)) => send(finished(index, outcome, output)),
                Some(Behaviour::KillsWorker) => return close(WorkerExit::Signal("SIGKILL".into())),
                Some(Behaviour::Hangs) => hung = true,
                Some(Behaviour::FailsOnce(output)) => {
                    let mut runs = script.runs.lock().expect("runs");
                    let run = runs.entry(index).or_default();
                    *run += 1;
                    let outcome =
                        if *run == 1 { Outcome::Failed { cause: None } } else { Outcome::Passed };
                    send(finished(index, outcome, if *run == 1 { output } else { Vec::new() }));
                }
            }
            tokio::task::yield_now().await;
        } else if shutting_down {
            return close(WorkerExit::Code(0));
        }
    }
}

fn finished(index: TestIndex, outcome: Outcome, output: Vec<u8>) -> FromWorker {
    FromWorker::Finished(TestReport {
        index,
        outcome,
        duration_nanos: 1_000_000,
        output,
        first_panic: false,
    })
}

/// A session's settings for tests: `workers` workers, room for four crashes, no retries.
pub fn session_config(workers: u32) -> xdist_core::SessionConfig {
    xdist_core::SessionConfig {
        workers,
        max_worker_restart: 4,
        max_fail: None,
        retries: 0,
        flaky_fails: false,
        runs_per_test: 1,
    }
}

/// Drives a session over `tests` tests (each run `config.runs_per_test` times) under
/// `mode` on fake workers following `script`, telling `subscribers`; returns the session
/// and the transport, for what they saw.
pub fn run_scripted(
    tests: usize,
    mode: xdist_sched::DistMode,
    config: xdist_core::SessionConfig,
    script: Script,
    shape: &crate::drive::RunShape,
    subscribers: &mut [&mut dyn xdist_core::events::RunSubscriber],
) -> (xdist_core::DSession, FakeTransport) {
    use xdist_sched::{DistMode, EachScheduler, SchedConfig, make_scheduler};
    let runs = config.runs_per_test.max(1) as usize;
    let sched: Box<dyn xdist_core::Scheduler + Send> = match mode {
        DistMode::Each => Box::new(EachScheduler::new(runs, tests)),
        _ => make_scheduler(mode, tests, SchedConfig { max_sched_chunk: None }),
    };
    let mut session = xdist_core::DSession::new(tests, sched, config);
    let mut transport = FakeTransport::new(script);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(crate::drive::drive(&mut session, &mut transport, shape, subscribers));
    (session, transport)
}
