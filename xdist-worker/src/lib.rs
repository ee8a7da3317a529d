//! The cargo-xdist worker: reads frames of test indices from its stdin pipe, runs them in
//! batches (one libtest process per binary and batch), and writes a frame per test event to
//! its stdout pipe. A batch whose process crashes is reported test by test, and the tests it
//! never started run again in a fresh process.

pub mod batch;
pub mod capture;
pub mod libtest;

use std::io::{self, BufWriter, Read, Write};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use std::time::Duration;

use xdist_core::TestIndex;
use xdist_core::codec::{self, FrameError};
use xdist_core::protocol::{FromWorker, ToWorker, WorkerSetup};

use crate::batch::Batch;

/// Why a worker stopped before its controller told it to.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// A frame could not be read or written.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// The first frame was not the setup.
    #[error("protocol error: expected the setup frame first")]
    NoSetup,
    /// A test index outside the list.
    #[error("protocol error: test index {0} is out of range")]
    BadIndex(TestIndex),
    /// Reporting to the controller failed.
    #[error("pipe error: {0}")]
    Io(#[from] io::Error),
}

/// Serves one controller over `input`/`output` until it sends `Shutdown` or closes the pipe.
pub fn serve(
    mut input: impl Read + Send + 'static,
    output: impl Write + Send + 'static,
) -> Result<(), WorkerError> {
    let setup = match codec::read_frame::<ToWorker>(&mut input)? {
        Some(ToWorker::Setup(setup)) => setup,
        _ => return Err(WorkerError::NoSetup),
    };
    let current_group = Arc::new(AtomicI32::new(0));
    let (tx, rx) = mpsc::channel::<ToWorker>();
    let group = Arc::clone(&current_group);
    thread::spawn(move || {
        loop {
            let frame = codec::read_frame::<ToWorker>(&mut input);
            match frame {
                Ok(Some(ToWorker::Run(tests))) => {
                    if tx.send(ToWorker::Run(tests)).is_err() {
                        return;
                    }
                }
                Ok(Some(ToWorker::Shutdown)) => {
                    let _ = tx.send(ToWorker::Shutdown);
                    return;
                }
                _ => {
                    // The controller is gone (or mad): stop the running test and leave.
                    kill_group(&group);
                    std::process::exit(4);
                }
            }
        }
    });
    let output = Arc::new(Mutex::new(BufWriter::new(output)));
    start_heartbeat(Arc::clone(&output), Duration::from_millis(setup.limits.heartbeat_ms.max(10)));
    let mut sink = |message: FromWorker| {
        let mut out = output.lock().map_err(|_| io::Error::other("output lock poisoned"))?;
        codec::write_frame(&mut *out, &message).map_err(into_io)
    };
    let mut queue: Vec<TestIndex> = Vec::new();
    let mut shutting_down = false;
    loop {
        if queue.is_empty() {
            if shutting_down {
                return Ok(());
            }
            match rx.recv() {
                Ok(frame) => shutting_down |= take(frame, &mut queue)?,
                Err(_) => return Ok(()),
            }
        }
        // Everything already sent joins this round of batches.
        while let Ok(frame) = rx.try_recv() {
            shutting_down |= take(frame, &mut queue)?;
        }
        run_queue(&setup, std::mem::take(&mut queue), &current_group, &mut sink)?;
    }
}

/// Tells the controller, periodically, that this worker is alive.
fn start_heartbeat<W: Write + Send + 'static>(output: Arc<Mutex<W>>, every: Duration) {
    thread::spawn(move || {
        loop {
            thread::sleep(every);
            let Ok(mut out) = output.lock() else { return };
            if codec::write_frame(&mut *out, &FromWorker::Heartbeat).is_err() {
                return;
            }
        }
    });
}

fn kill_group(group: &AtomicI32) {
    let pgid = group.load(Ordering::SeqCst);
    if pgid > 0 {
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(pgid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}

/// Adds a frame's tests to the queue; true when the controller asked to shut down.
fn take(frame: ToWorker, queue: &mut Vec<TestIndex>) -> Result<bool, WorkerError> {
    match frame {
        ToWorker::Run(tests) => {
            queue.extend(tests);
            Ok(false)
        }
        ToWorker::Shutdown => Ok(true),
        ToWorker::Setup(_) => Err(WorkerError::NoSetup),
    }
}

fn into_io(e: FrameError) -> io::Error {
    match e {
        FrameError::Io(e) => e,
        other => io::Error::other(other.to_string()),
    }
}

/// Runs `queue` as one batch per binary (in order of first appearance), re-running in a
/// fresh process whatever a crash kept from starting.
fn run_queue(
    setup: &WorkerSetup,
    queue: Vec<TestIndex>,
    current_group: &AtomicI32,
    sink: &mut batch::Sink<'_>,
) -> Result<(), WorkerError> {
    let mut by_binary: Vec<(u32, Vec<(TestIndex, &str)>)> = Vec::new();
    for index in queue {
        let test = setup.tests.get(index as usize).ok_or(WorkerError::BadIndex(index))?;
        match by_binary.iter_mut().find(|(b, _)| *b == test.binary) {
            Some((_, tests)) => tests.push((index, &test.name)),
            None => by_binary.push((test.binary, vec![(index, &test.name)])),
        }
    }
    for (binary, mut tests) in by_binary {
        let binary = setup.binaries.get(binary as usize).ok_or(WorkerError::BadIndex(binary))?;
        while !tests.is_empty() {
            let batch = Batch {
                binary,
                tests,
                include_ignored: setup.include_ignored,
                limits: &setup.limits,
                current_group,
            };
            tests = batch.run(sink)?;
        }
    }
    Ok(())
}

/// The worker's entry point: serves the controller on stdin/stdout.
pub fn main() -> std::process::ExitCode {
    match serve(io::stdin(), io::stdout()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xdist-worker: {e}");
            std::process::ExitCode::from(3)
        }
    }
}
