//! Workers as local child processes: this executable started with the hidden worker
//! argument, frames on its stdin and stdout pipes. One task writes a worker's frames, one
//! reads them, one waits for its exit. The worker runs in its own process group, so a
//! terminal's Ctrl-C reaches only the controller, and its test processes die with it.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdout, Command};
use tokio::sync::{mpsc, oneshot};
use xdist_core::codec::{self, FrameError};
use xdist_core::events::WorkerExit;
use xdist_core::protocol::{FromWorker, ToWorker};
use xdist_core::{WorkerId, worker_name};

use super::{Heard, LinkEvent, LinkEvents, StartError, Transport, WorkerLink};

/// How long an aborted worker has to exit before it is killed.
const ABORT_GRACE: Duration = Duration::from_secs(2);

/// Starts workers as child processes.
pub struct LocalTransport {
    /// The executable (cargo-xdist itself).
    pub program: PathBuf,
    /// Its arguments (the hidden worker subcommand).
    pub args: Vec<String>,
    /// `XDIST_WORKER_COUNT`.
    pub count: u32,
    /// `XDIST_TESTRUN_UID`.
    pub testrun_uid: String,
    /// The encoded setup frame, sent first to every worker.
    pub setup_frame: Arc<Vec<u8>>,
}

impl LocalTransport {
    /// The worker process's command, before its pipes are set.
    fn command(&self, worker: WorkerId) -> Command {
        let mut command = Command::new(&self.program);
        command
            .args(&self.args)
            .env("XDIST_WORKER", worker_name(worker))
            .env("XDIST_WORKER_COUNT", self.count.to_string())
            .env("XDIST_TESTRUN_UID", &self.testrun_uid);
        command
    }

    /// Starts `worker` with this setup frame instead of the transport's own.
    pub fn start_with(
        &mut self,
        worker: WorkerId,
        setup: Arc<Vec<u8>>,
        events: LinkEvents,
    ) -> Result<Box<dyn WorkerLink>, StartError> {
        let program = self.program.display().to_string();
        start_process(worker, self.command(worker), &program, setup, events, None)
    }
}

impl Transport for LocalTransport {
    fn start(
        &mut self,
        worker: WorkerId,
        events: LinkEvents,
    ) -> Result<Box<dyn WorkerLink>, StartError> {
        let setup = Arc::clone(&self.setup_frame);
        self.start_with(worker, setup, events)
    }
}

/// Rewrites how a worker process ended (an ssh worker names its host).
pub type DescribeExit = Arc<dyn Fn(WorkerExit) -> WorkerExit + Send + Sync>;

/// Starts `command` as worker `worker` in its own process group, frames on its stdin and
/// stdout, `setup` written first.
pub fn start_process(
    worker: WorkerId,
    mut command: Command,
    program: &str,
    setup: Arc<Vec<u8>>,
    events: LinkEvents,
    describe: Option<DescribeExit>,
) -> Result<Box<dyn WorkerLink>, StartError> {
    let mut child = command
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|source| StartError::Spawn { program: program.to_string(), source })?;
    let stdin = child.stdin.take().expect("piped");
    let stdout = child.stdout.take().expect("piped");
    let (frames, to_write) = mpsc::unbounded_channel::<Outgoing>();
    tokio::spawn(async move {
        let mut stdin = stdin;
        // A worker that died at once shows up as a closed pipe on the reading side.
        if stdin.write_all(&setup).await.is_err() {
            return;
        }
        let mut to_write = to_write;
        while let Some(outgoing) = to_write.recv().await {
            let bytes = match outgoing {
                Outgoing::Frame(bytes) => bytes,
                Outgoing::Close => return,
            };
            if stdin.write_all(&bytes).await.is_err() || stdin.flush().await.is_err() {
                return;
            }
        }
    });
    let (kill_tx, kill_rx) = oneshot::channel();
    let heard = Heard::now();
    tokio::spawn(watch(worker, child, stdout, kill_rx, events, heard.clone(), describe));
    let kill = Arc::new(std::sync::Mutex::new(Some(kill_tx)));
    Ok(Box::new(LocalLink { frames, kill, heard }))
}

enum Outgoing {
    Frame(Vec<u8>),
    Close,
}

struct LocalLink {
    frames: mpsc::UnboundedSender<Outgoing>,
    /// Fired once, by `kill` or by an abort's grace timer, whichever comes first.
    kill: Arc<std::sync::Mutex<Option<oneshot::Sender<()>>>>,
    heard: Heard,
}

fn fire(kill: &std::sync::Mutex<Option<oneshot::Sender<()>>>) {
    if let Some(kill) = kill.lock().ok().and_then(|mut k| k.take()) {
        let _ = kill.send(());
    }
}

impl LocalLink {
    fn queue(&self, message: &ToWorker) {
        if let Ok(bytes) = codec::encode_frame(message) {
            let _ = self.frames.send(Outgoing::Frame(bytes));
        }
    }
}

impl WorkerLink for LocalLink {
    fn send(&mut self, message: ToWorker) {
        self.queue(&message);
    }

    fn shut_down(&mut self) {
        self.queue(&ToWorker::Shutdown);
        let _ = self.frames.send(Outgoing::Close);
    }

    fn abort(&mut self) {
        self.queue(&ToWorker::Abort);
        let kill = Arc::clone(&self.kill);
        tokio::spawn(async move {
            tokio::time::sleep(ABORT_GRACE).await;
            fire(&kill);
        });
    }

    fn kill(&mut self) {
        fire(&self.kill);
    }

    fn last_heard(&self) -> std::time::Instant {
        self.heard.at()
    }
}

/// Reads the worker's frames until its pipe closes, then reports how it ended. A kill
/// request ends it at once.
async fn watch(
    worker: WorkerId,
    mut child: Child,
    stdout: ChildStdout,
    kill: oneshot::Receiver<()>,
    events: LinkEvents,
    heard: Heard,
    describe: Option<DescribeExit>,
) {
    let reading = read_frames(worker, stdout, &events, &heard);
    tokio::pin!(reading);
    let mut kill = kill;
    let mut killed = false;
    let broken = loop {
        tokio::select! {
            broken = &mut reading => break broken,
            request = &mut kill, if !killed => {
                killed = true;
                if request.is_ok() {
                    let _ = child.start_kill();
                }
            }
        }
    };
    if broken.is_some() {
        let _ = child.start_kill();
    }
    let status = child.wait().await;
    let cause = match (broken, status) {
        (Some(cause), _) => cause,
        (None, Ok(status)) => exit_cause(status),
        (None, Err(e)) => WorkerExit::Protocol(format!("could not be waited for: {e}")),
    };
    let cause = match describe {
        Some(describe) => describe(cause),
        None => cause,
    };
    let _ = events.send((worker, LinkEvent::Closed(cause)));
}

/// Forwards frames until the stream ends; returns the protocol error that ended it, if any.
async fn read_frames(
    worker: WorkerId,
    stdout: ChildStdout,
    events: &LinkEvents,
    heard: &Heard,
) -> Option<WorkerExit> {
    let mut stdout = BufReader::with_capacity(64 * 1024, stdout);
    loop {
        match read_frame(&mut stdout).await {
            Ok(Some(frame)) => {
                heard.stamp();
                if events.send((worker, LinkEvent::Frame(frame))).is_err() {
                    return None;
                }
            }
            Ok(None) => return None,
            Err(FrameError::Io(e)) => {
                return Some(WorkerExit::Protocol(format!("pipe error: {e}")));
            }
            Err(other) => return Some(WorkerExit::Protocol(format!("sent a bad frame ({other})"))),
        }
    }
}

/// One frame, or `None` at a clean end of the stream between frames.
async fn read_frame(
    input: &mut (impl AsyncReadExt + Unpin),
) -> Result<Option<FromWorker>, FrameError> {
    let mut prefix = [0u8; 4];
    let mut got = 0;
    while got < 4 {
        match input.read(&mut prefix[got..]).await? {
            0 if got == 0 => return Ok(None),
            0 => return Err(FrameError::Truncated { expected: 4, got }),
            n => got += n,
        }
    }
    let len = codec::payload_len(prefix)?;
    let mut payload = vec![0u8; len];
    let mut filled = 0;
    while filled < len {
        match input.read(&mut payload[filled..]).await? {
            0 => return Err(FrameError::Truncated { expected: len, got: filled }),
            n => filled += n,
        }
    }
    codec::decode_payload(&payload).map(Some)
}

/// How a worker process ended, as the session is told.
pub fn exit_cause(status: std::process::ExitStatus) -> WorkerExit {
    use std::os::unix::process::ExitStatusExt;
    match status.signal() {
        Some(signal) => WorkerExit::Signal(
            nix::sys::signal::Signal::try_from(signal)
                .map_or_else(|_| format!("signal {signal}"), |s| s.as_str().to_string()),
        ),
        None => WorkerExit::Code(status.code().unwrap_or(-1)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn garbage_after_a_frame_is_a_protocol_error() {
        let mut bytes = codec::encode_frame(&FromWorker::Heartbeat).unwrap();
        bytes.extend_from_slice(&[3, 0, 0, 0, 0xde, 0xad, 0xbe]);
        let mut input = &bytes[..];
        assert_eq!(read_frame(&mut input).await.unwrap(), Some(FromWorker::Heartbeat));
        let err = read_frame(&mut input).await.unwrap_err();
        assert!(err.to_string().starts_with("malformed frame"), "{err}");
        assert_eq!(read_frame(&mut input).await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_frame_cut_short_is_truncated() {
        let bytes = codec::encode_frame(&FromWorker::Started { index: 7 }).unwrap();
        let mut input = &bytes[..bytes.len() - 1];
        assert!(matches!(read_frame(&mut input).await, Err(FrameError::Truncated { .. })));
        let mut prefix_only = &bytes[..2];
        assert!(matches!(read_frame(&mut prefix_only).await, Err(FrameError::Truncated { .. })));
    }
}
