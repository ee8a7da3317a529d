//! The cargo-xdist worker: reads frames of test indices from its stdin pipe, runs them in
//! batches (one libtest process per binary and batch), and writes a frame per test event to
//! its stdout pipe. A batch whose process crashes is reported test by test, and the tests it
//! never started run again in a fresh process.

pub mod batch;
pub mod capture;
pub mod libtest;

use std::io::{self, BufWriter, Read, Write};
use std::sync::mpsc;
use std::thread;

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
pub fn serve(mut input: impl Read + Send + 'static, output: impl Write) -> Result<(), WorkerError> {
    let setup = match codec::read_frame::<ToWorker>(&mut input)? {
        Some(ToWorker::Setup(setup)) => setup,
        _ => return Err(WorkerError::NoSetup),
    };
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        loop {
            let frame = codec::read_frame::<ToWorker>(&mut input);
            let end = !matches!(frame, Ok(Some(ToWorker::Run(_))));
            if tx.send(frame).is_err() || end {
                break;
            }
        }
    });
    let mut output = BufWriter::new(output);
    let mut sink = |message: FromWorker| codec::write_frame(&mut output, &message).map_err(into_io);
    let mut queue: Vec<TestIndex> = Vec::new();
    let mut shutting_down = false;
    loop {
        if queue.is_empty() {
            if shutting_down {
                return Ok(());
            }
            match rx.recv() {
                Ok(frame) => shutting_down |= take(frame?, &mut queue)?,
                Err(_) => return Ok(()),
            }
        }
        // Everything already sent joins this round of batches.
        while let Ok(frame) = rx.try_recv() {
            shutting_down |= take(frame?, &mut queue)?;
        }
        run_queue(&setup, std::mem::take(&mut queue), &mut sink)?;
    }
}

/// Adds a frame's tests to the queue; true when the controller asked to shut down (or left).
fn take(frame: Option<ToWorker>, queue: &mut Vec<TestIndex>) -> Result<bool, WorkerError> {
    match frame {
        Some(ToWorker::Run(tests)) => {
            queue.extend(tests);
            Ok(false)
        }
        Some(ToWorker::Shutdown) | None => Ok(true),
        Some(ToWorker::Setup(_)) => Err(WorkerError::NoSetup),
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
                keep: capture::DEFAULT_KEEP,
            };
            tests = batch.run(sink)?;
        }
    }
    Ok(())
}

/// The worker's entry point: serves the controller on stdin/stdout.
pub fn main() -> std::process::ExitCode {
    match serve(io::stdin(), io::stdout().lock()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xdist-worker: {e}");
            std::process::ExitCode::from(3)
        }
    }
}
