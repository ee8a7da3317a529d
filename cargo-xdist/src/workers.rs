//! Drives a [`DSession`] with real worker processes: carries out its actions (spawn, send,
//! shut down, kill) on worker pipes and feeds it what the workers report. One reader thread
//! per worker turns its stdout frames into events; this loop is the only writer. It also
//! watches for workers that fall silent, and for SIGINT/SIGTERM/SIGHUP, which stop the run.

use std::collections::{HashMap, VecDeque};
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use xdist_core::codec::{self, FrameError};
use xdist_core::protocol::{FromWorker, ToWorker, WorkerSetup};
use xdist_core::summary::TestResult;
use xdist_core::{Action, DSession, Event, TestIndex, WorkerId, worker_name};

use crate::errors::XdistError;

/// How to start a worker.
pub struct WorkerCommand {
    /// The executable (cargo-xdist itself).
    pub program: PathBuf,
    /// Its arguments (the hidden worker subcommand).
    pub args: Vec<String>,
    /// `XDIST_WORKER_COUNT`.
    pub count: u32,
    /// `XDIST_TESTRUN_UID`.
    pub testrun_uid: String,
    /// A worker that sends nothing (not even a heartbeat) for this long is killed.
    pub silence_timeout: Duration,
}

/// Receives what the run produces, for the terminal.
pub trait RunObserver {
    /// A test has its outcome.
    fn on_result(&mut self, result: TestResult);
    /// A test failed and runs again.
    fn on_retry(&mut self, result: &TestResult);
    /// A test has been running for `elapsed`.
    fn on_slow(&mut self, index: TestIndex, worker: WorkerId, elapsed: Duration);
    /// A message about the run (a crashed worker, a stop).
    fn on_note(&mut self, note: &str);
    /// Nothing more is ready for now: show what was reported.
    fn flush(&mut self) {}
}

/// How a driven run ended.
#[derive(Debug, Default)]
pub struct DriveOutcome {
    /// The signal that interrupted the run, if one did.
    pub interrupted_by: Option<Signal>,
}

enum Message {
    Frame(WorkerId, FromWorker),
    Closed(WorkerId, Option<String>),
    Signal(i32),
}

struct RunningWorker {
    child: Child,
    stdin: Option<ChildStdin>,
    /// The process group of the test process it runs now, if any.
    test_group: Option<u32>,
    last_heard: Instant,
    killed: bool,
}

/// Runs the session to its end.
pub fn drive(
    session: &mut DSession,
    setup: WorkerSetup,
    command: &WorkerCommand,
    observer: &mut dyn RunObserver,
) -> Result<DriveOutcome, XdistError> {
    let setup_frame = codec::encode_frame(&ToWorker::Setup(setup))
        .map_err(|e| XdistError::Internal(format!("encoding the test list: {e}")))?;
    let (tx, rx) = mpsc::channel();
    watch_signals(tx.clone())?;
    let mut driver = Driver { command, setup_frame, tx, workers: HashMap::new() };
    let mut outcome = DriveOutcome::default();
    let mut actions: VecDeque<Action> = session.start().into();
    loop {
        while let Some(action) = actions.pop_front() {
            driver.execute(action, observer)?;
        }
        if session.is_done() {
            return Ok(outcome);
        }
        match driver.next_message(&rx, observer) {
            Some(Message::Signal(raw)) => {
                let signal = Signal::try_from(raw).unwrap_or(Signal::SIGINT);
                if outcome.interrupted_by.is_some() {
                    // A second signal: no more waiting.
                    driver.kill_all();
                    return Ok(outcome);
                }
                outcome.interrupted_by = Some(signal);
                actions.extend(session.interrupt(&format!("interrupted by {}", signal.as_str())));
            }
            Some(message) => {
                if let Some(event) = driver.event(message) {
                    actions.extend(session.handle(event));
                }
            }
            None => {
                for (worker, cause) in driver.silent_workers() {
                    actions.extend(session.handle(Event::Exited { worker, cause }));
                }
            }
        }
    }
}

/// Forwards SIGINT, SIGTERM and SIGHUP to the run loop.
fn watch_signals(tx: Sender<Message>) -> Result<(), XdistError> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])
        .map_err(|e| XdistError::Internal(format!("cannot watch signals: {e}")))?;
    thread::spawn(move || {
        for signal in signals.forever() {
            if tx.send(Message::Signal(signal)).is_err() {
                return;
            }
        }
    });
    Ok(())
}

struct Driver<'a> {
    command: &'a WorkerCommand,
    setup_frame: Vec<u8>,
    tx: Sender<Message>,
    workers: HashMap<WorkerId, RunningWorker>,
}

impl Driver<'_> {
    /// Carries out one action.
    fn execute(
        &mut self,
        action: Action,
        observer: &mut dyn RunObserver,
    ) -> Result<(), XdistError> {
        match action {
            Action::Spawn(worker) => self.spawn(worker).map_err(|e| {
                XdistError::Internal(format!(
                    "cannot start worker {} ({}): {e}",
                    worker_name(worker),
                    self.command.program.display()
                ))
            })?,
            Action::Send(worker, tests) => self.send(worker, &ToWorker::Run(tests)),
            Action::Steal(worker, tests) => self.send(worker, &ToWorker::Steal(tests)),
            Action::Shutdown(worker) => {
                self.send(worker, &ToWorker::Shutdown);
                if let Some(w) = self.workers.get_mut(&worker) {
                    w.stdin = None;
                }
            }
            Action::Kill(worker) => {
                if let Some(w) = self.workers.get_mut(&worker) {
                    kill(w);
                }
            }
            Action::Report(result) => observer.on_result(result),
            Action::Retry(result) => observer.on_retry(&result),
            Action::Slow { index, worker, elapsed } => observer.on_slow(index, worker, elapsed),
            Action::Note(note) => observer.on_note(&note),
        }
        Ok(())
    }

    fn spawn(&mut self, worker: WorkerId) -> std::io::Result<()> {
        let mut child = Command::new(&self.command.program)
            .args(&self.command.args)
            .env("XDIST_WORKER", worker_name(worker))
            .env("XDIST_WORKER_COUNT", self.command.count.to_string())
            .env("XDIST_TESTRUN_UID", &self.command.testrun_uid)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            // Its own process group: a terminal's Ctrl-C reaches only the controller, which
            // then stops every worker and test itself.
            .process_group(0)
            .spawn()?;
        let mut stdin = child.stdin.take().expect("piped");
        let stdout = child.stdout.take().expect("piped");
        // A worker that died at once shows up as a closed pipe below.
        let _ = stdin.write_all(&self.setup_frame).and_then(|()| stdin.flush());
        let tx = self.tx.clone();
        thread::spawn(move || read_worker(worker, stdout, &tx));
        let running = RunningWorker {
            child,
            stdin: Some(stdin),
            test_group: None,
            last_heard: Instant::now(),
            killed: false,
        };
        self.workers.insert(worker, running);
        Ok(())
    }

    fn send(&mut self, worker: WorkerId, message: &ToWorker) {
        if let Some(stdin) = self.workers.get_mut(&worker).and_then(|w| w.stdin.as_mut()) {
            // A dead worker's write fails; its reader reports the exit.
            let _ = codec::write_frame(stdin, message);
        }
    }

    /// The next message, or `None` after a second of quiet (time to check for silence).
    /// The observer shows what it has before the loop waits.
    fn next_message(
        &mut self,
        rx: &Receiver<Message>,
        observer: &mut dyn RunObserver,
    ) -> Option<Message> {
        if let Ok(message) = rx.try_recv() {
            return Some(message);
        }
        observer.flush();
        match rx.recv_timeout(Duration::from_secs(1)) {
            Ok(message) => Some(message),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => unreachable!("the driver holds a sender"),
        }
    }

    /// Turns a worker's message into a session event (frames only it needs are handled here).
    fn event(&mut self, message: Message) -> Option<Event> {
        let (worker, frame) = match message {
            Message::Frame(worker, frame) => (worker, frame),
            Message::Closed(worker, error) => return Some(self.closed(worker, error)),
            Message::Signal(_) => return None,
        };
        let running = self.workers.get_mut(&worker)?;
        running.last_heard = Instant::now();
        match frame {
            FromWorker::Started { index } => Some(Event::Started { worker, index }),
            FromWorker::Finished(report) => Some(Event::Finished { worker, report }),
            FromWorker::Slow { index, elapsed_ms } => {
                Some(Event::Slow { worker, index, elapsed: Duration::from_millis(elapsed_ms) })
            }
            FromWorker::ProcessStarted { pid } => {
                running.test_group = Some(pid);
                None
            }
            FromWorker::ProcessExited => {
                running.test_group = None;
                None
            }
            FromWorker::Released(tests) => Some(Event::Released { worker, tests }),
            FromWorker::Heartbeat => None,
        }
    }

    fn closed(&mut self, worker: WorkerId, error: Option<String>) -> Event {
        let cause = match self.workers.remove(&worker) {
            Some(mut w) => {
                drop(w.stdin.take());
                if error.is_some() {
                    kill(&mut w);
                }
                let status = w.child.wait();
                // A dead worker may leave its test process behind: stop it too.
                kill(&mut w);
                match (error, status) {
                    (Some(e), _) => e,
                    (None, Ok(status)) => xdist_worker::batch::describe(status),
                    (None, Err(e)) => format!("could not be waited for: {e}"),
                }
            }
            None => error.unwrap_or_else(|| "exited".into()),
        };
        Event::Exited { worker, cause }
    }

    /// Kills workers that have sent nothing for too long; returns them with the cause.
    fn silent_workers(&mut self) -> Vec<(WorkerId, String)> {
        let limit = self.command.silence_timeout;
        let silent: Vec<WorkerId> = self
            .workers
            .iter()
            .filter(|(_, w)| !w.killed && w.last_heard.elapsed() > limit)
            .map(|(&id, _)| id)
            .collect();
        silent
            .into_iter()
            .map(|worker| {
                let cause = format!("sent nothing for {}s and was killed", limit.as_secs_f64());
                if let Some(w) = self.workers.get_mut(&worker) {
                    kill(w);
                }
                // Its reader reports the closed pipe later; the session already knows.
                self.workers.remove(&worker).map(|mut w| w.child.wait());
                (worker, cause)
            })
            .collect()
    }

    fn kill_all(&mut self) {
        for w in self.workers.values_mut() {
            kill(w);
        }
    }
}

impl Drop for Driver<'_> {
    /// Whatever way the run ends, no worker or test process outlives it.
    fn drop(&mut self) {
        for (_, mut w) in self.workers.drain() {
            kill(&mut w);
            let _ = w.child.wait();
        }
    }
}

fn read_worker(worker: WorkerId, stdout: impl std::io::Read, tx: &Sender<Message>) {
    let mut stdout = std::io::BufReader::with_capacity(64 * 1024, stdout);
    loop {
        match codec::read_frame::<FromWorker>(&mut stdout) {
            Ok(Some(message)) => {
                if tx.send(Message::Frame(worker, message)).is_err() {
                    return;
                }
            }
            Ok(None) => {
                let _ = tx.send(Message::Closed(worker, None));
                return;
            }
            Err(e) => {
                let cause = match e {
                    FrameError::Io(e) => format!("pipe error: {e}"),
                    other => format!("sent a bad frame ({other})"),
                };
                let _ = tx.send(Message::Closed(worker, Some(cause)));
                return;
            }
        }
    }
}

/// SIGKILLs the worker's process group and the group of the test process it runs.
fn kill(worker: &mut RunningWorker) {
    worker.killed = true;
    if let Some(group) = worker.test_group {
        let _ = killpg(Pid::from_raw(group as i32), Signal::SIGKILL);
    }
    let _ = killpg(Pid::from_raw(worker.child.id() as i32), Signal::SIGKILL);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_worker_that_writes_garbage_is_closed_with_the_reason() {
        let mut bytes = codec::encode_frame(&FromWorker::Heartbeat).unwrap();
        bytes.extend_from_slice(&[3, 0, 0, 0, 0xde, 0xad, 0xbe]);
        let (tx, rx) = mpsc::channel();
        read_worker(7, std::io::Cursor::new(bytes), &tx);
        assert!(matches!(rx.recv().unwrap(), Message::Frame(7, FromWorker::Heartbeat)));
        let Message::Closed(7, Some(cause)) = rx.recv().unwrap() else { panic!("not closed") };
        assert!(cause.starts_with("sent a bad frame (malformed frame"), "{cause}");
    }

    #[test]
    fn a_worker_that_cannot_start_is_a_one_line_error() {
        use xdist_core::SessionConfig;
        use xdist_sched::{DistMode, SchedConfig, make_scheduler};
        let sched = make_scheduler(DistMode::Load, 1, SchedConfig { max_sched_chunk: None });
        let config = SessionConfig {
            workers: 1,
            max_worker_restart: 1,
            max_fail: None,
            retries: 0,
            flaky_fails: false,
        };
        let mut session = DSession::new(1, sched, config);
        let command = WorkerCommand {
            program: "/nonexistent/cargo-xdist".into(),
            args: vec![],
            count: 1,
            testrun_uid: "uid".into(),
            silence_timeout: Duration::from_secs(60),
        };
        struct Ignore;
        impl RunObserver for Ignore {
            fn on_result(&mut self, _: TestResult) {}
            fn on_retry(&mut self, _: &TestResult) {}
            fn on_slow(&mut self, _: TestIndex, _: WorkerId, _: Duration) {}
            fn on_note(&mut self, _: &str) {}
        }
        let setup = WorkerSetup {
            binaries: vec![],
            tests: vec![],
            include_ignored: false,
            limits: Default::default(),
            batching: Default::default(),
        };
        let err = drive(&mut session, setup, &command, &mut Ignore).unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("cannot start worker gw0 (/nonexistent/cargo-xdist): "), "{text}");
        assert!(!text.contains('\n'));
    }
}
