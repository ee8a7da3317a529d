//! Drives a [`DSession`] with real worker processes: carries out its actions (spawn, send,
//! shut down, kill) on worker pipes and feeds it what the workers report. One reader thread
//! per worker turns its stdout frames into events; this loop is the only writer.

use std::collections::{HashMap, VecDeque};
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread;

use xdist_core::codec::{self, FrameError};
use xdist_core::protocol::{FromWorker, ToWorker, WorkerSetup};
use xdist_core::summary::TestResult;
use xdist_core::{Action, DSession, Event, WorkerId, worker_name};

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
}

/// Receives what the run produces, for the terminal.
pub trait RunObserver {
    /// A test has its outcome.
    fn on_result(&mut self, result: TestResult);
    /// A message about the run (a crashed worker, a stop).
    fn on_note(&mut self, note: &str);
}

enum Message {
    Frame(WorkerId, FromWorker),
    Closed(WorkerId, Option<String>),
}

struct RunningWorker {
    child: Child,
    stdin: Option<ChildStdin>,
}

/// Runs the session to its end.
pub fn drive(
    session: &mut DSession,
    setup: WorkerSetup,
    command: &WorkerCommand,
    observer: &mut dyn RunObserver,
) -> Result<(), XdistError> {
    let setup_frame = codec::encode_frame(&ToWorker::Setup(setup))
        .map_err(|e| XdistError::Internal(format!("encoding the test list: {e}")))?;
    let (tx, rx) = mpsc::channel();
    let mut driver = Driver { command, setup_frame, tx, workers: HashMap::new() };
    let mut actions: VecDeque<Action> = session.start().into();
    loop {
        while let Some(action) = actions.pop_front() {
            if let Some(event) = driver.execute(action, observer) {
                actions.extend(session.handle(event));
            }
        }
        if session.is_done() {
            return Ok(());
        }
        let event = driver.next_event(&rx)?;
        actions.extend(session.handle(event));
    }
}

struct Driver<'a> {
    command: &'a WorkerCommand,
    setup_frame: Vec<u8>,
    tx: Sender<Message>,
    workers: HashMap<WorkerId, RunningWorker>,
}

impl Driver<'_> {
    /// Carries out one action; returns an event when the action itself failed (a worker
    /// that could not start).
    fn execute(&mut self, action: Action, observer: &mut dyn RunObserver) -> Option<Event> {
        match action {
            Action::Spawn(worker) => {
                if let Err(e) = self.spawn(worker) {
                    return Some(Event::Exited { worker, cause: format!("could not start: {e}") });
                }
            }
            Action::Send(worker, tests) => self.send(worker, &ToWorker::Run(tests)),
            Action::Shutdown(worker) => {
                self.send(worker, &ToWorker::Shutdown);
                if let Some(w) = self.workers.get_mut(&worker) {
                    w.stdin = None;
                }
            }
            Action::Kill(worker) => {
                if let Some(w) = self.workers.get_mut(&worker) {
                    kill_group(&w.child);
                }
            }
            Action::Report(result) => observer.on_result(result),
            Action::Note(note) => observer.on_note(&note),
        }
        None
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
            // Its own process group, so that killing it stops its test processes too.
            .process_group(0)
            .spawn()?;
        let mut stdin = child.stdin.take().expect("piped");
        let stdout = child.stdout.take().expect("piped");
        // A worker that died at once shows up as a closed pipe below.
        let _ = stdin.write_all(&self.setup_frame).and_then(|()| stdin.flush());
        let tx = self.tx.clone();
        thread::spawn(move || read_worker(worker, stdout, &tx));
        self.workers.insert(worker, RunningWorker { child, stdin: Some(stdin) });
        Ok(())
    }

    fn send(&mut self, worker: WorkerId, message: &ToWorker) {
        if let Some(stdin) = self.workers.get_mut(&worker).and_then(|w| w.stdin.as_mut()) {
            // A dead worker's write fails; its reader reports the exit.
            let _ = codec::write_frame(stdin, message);
        }
    }

    fn next_event(&mut self, rx: &Receiver<Message>) -> Result<Event, XdistError> {
        let message =
            rx.recv().map_err(|_| XdistError::Internal("all worker pipes closed early".into()))?;
        Ok(match message {
            Message::Frame(worker, FromWorker::Started { index }) => {
                Event::Started { worker, index }
            }
            Message::Frame(worker, FromWorker::Finished(report)) => {
                Event::Finished { worker, report }
            }
            Message::Closed(worker, error) => {
                let cause = match self.workers.remove(&worker) {
                    Some(mut w) => {
                        drop(w.stdin.take());
                        if error.is_some() {
                            kill_group(&w.child);
                        }
                        let status = w.child.wait();
                        // The group may still hold test processes of a dead worker.
                        kill_group(&w.child);
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
        })
    }
}

fn read_worker(worker: WorkerId, mut stdout: impl std::io::Read, tx: &Sender<Message>) {
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

/// SIGKILLs the worker's whole process group (the worker and its test processes).
fn kill_group(child: &Child) {
    use nix::sys::signal::{Signal, killpg};
    use nix::unistd::Pid;
    let pid = Pid::from_raw(child.id() as i32);
    let _ = killpg(pid, Signal::SIGKILL);
}
