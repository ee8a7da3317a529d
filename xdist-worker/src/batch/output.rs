//! The output of one test process, read on threads of its own: stdout in chunks as it
//! arrives, stderr kept bounded, and the exit status. Says when the stream is whole: at the
//! end of stdout, or, once the process has exited, when nothing more has arrived for a while
//! and nothing is left unread in the pipe (a grandchild that left the process group may hold
//! the pipe open for ever). Which timer woke the caller never decides it. Also measures
//! the process's CPU time and its time from start to exit ([`ProcessUsage`]).

use std::io::{self, Read};
use std::os::fd::{AsFd, OwnedFd};
use std::process::{Child, ExitStatus};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, never, select};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use crate::capture::BoundedOutput;

/// How long to keep reading after the exit once output has stopped arriving.
const DRAIN_AFTER_EXIT: Duration = Duration::from_secs(1);
/// The most time spent reading after the exit, for a grandchild that keeps writing.
const DRAIN_AT_MOST: Duration = Duration::from_secs(10);

/// How long to wait for the end of stderr when stdout did not end either.
const STDERR_GRACE: Duration = Duration::from_millis(100);

/// A read shorter than this is followed by a short pause, so that the next read takes many
/// lines at once (a wake of the reader and of the batch loop per chunk, not per test). The
/// pause ends early when the process exits, so the end of a process is read at once.
const COALESCE_BELOW: usize = 16 * 1024;
const COALESCE_FOR: Duration = Duration::from_millis(4);

/// What woke the caller.
pub enum Arrival {
    /// Bytes from stdout.
    Stdout(Vec<u8>),
    /// Bytes from stderr, when it is forwarded live (`--no-capture`).
    Stderr(Vec<u8>),
    /// The process exited (the first time only).
    Exited(io::Result<ExitStatus>),
    /// Nothing new before the deadline, or stdout ended.
    Nothing,
}

/// What a test process used: its CPU time (user and system, with the children it waited
/// for) and its time from start to exit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProcessUsage {
    /// CPU time.
    pub cpu: Duration,
    /// Start to exit.
    pub wall: Duration,
}

/// The CPU time of this process's waited-for children so far (zero where it cannot be
/// read). A worker runs one test process at a time, so the growth across one wait is that
/// process's.
fn children_cpu() -> Duration {
    use nix::sys::resource::{UsageWho, getrusage};
    getrusage(UsageWho::RUSAGE_CHILDREN)
        .map(|u| {
            let (user, system) = (u.user_time(), u.system_time());
            let micros = |t: nix::sys::time::TimeVal| {
                Duration::from_secs(u64::try_from(t.tv_sec()).unwrap_or(0))
                    + Duration::from_micros(u64::try_from(t.tv_usec()).unwrap_or(0))
            };
            micros(user) + micros(system)
        })
        .unwrap_or_default()
}

/// The streams of a running test process.
pub struct ProcessOutput {
    stdout: Receiver<Vec<u8>>,
    exit: Receiver<(io::Result<ExitStatus>, ProcessUsage)>,
    usage: ProcessUsage,
    /// What stderr brought so far, and a channel that disconnects at its end.
    stderr: Arc<Mutex<BoundedOutput>>,
    stderr_end: Receiver<()>,
    /// Chunks of stderr as they come, when they are forwarded live.
    stderr_live: Receiver<Vec<u8>>,
    /// The read end of stdout, to ask whether output waits unread.
    probe: OwnedFd,
    stdout_ended: bool,
    exited_at: Option<Instant>,
    last_output_at: Instant,
}

impl ProcessOutput {
    /// Starts reading `child`'s piped stdout and stderr (keeping `keep` bytes at each end
    /// of stderr) and waiting for its exit; `live_stderr` also hands stderr's chunks out as
    /// they come ([`Arrival::Stderr`]).
    pub fn start(mut child: Child, keep: usize, live_stderr: bool) -> io::Result<Self> {
        let mut stdout = child.stdout.take().ok_or_else(|| io::Error::other("stdout not piped"))?;
        let mut stderr = child.stderr.take().ok_or_else(|| io::Error::other("stderr not piped"))?;
        let probe = stdout.as_fd().try_clone_to_owned()?;
        let (stdout_tx, stdout_rx) = crossbeam_channel::unbounded();
        // Disconnects when the process has exited.
        let (exit_seen_tx, exit_seen) = crossbeam_channel::bounded::<()>(0);
        thread::spawn(move || {
            let mut buf = vec![0u8; 64 * 1024];
            // Ends (and so disconnects the channel) at end of file.
            while let Ok(n @ 1..) = stdout.read(&mut buf) {
                if stdout_tx.send(buf[..n].to_vec()).is_err() {
                    return;
                }
                if n < COALESCE_BELOW {
                    // libtest writes a line at a time: let a few gather in the pipe rather
                    // than wake twice per test.
                    let _ = exit_seen.recv_timeout(COALESCE_FOR);
                }
            }
        });
        let kept = Arc::new(Mutex::new(BoundedOutput::new(keep)));
        let (stderr_end_tx, stderr_end) = crossbeam_channel::bounded::<()>(0);
        let kept_by_reader = Arc::clone(&kept);
        let (live_tx, live_rx) = crossbeam_channel::unbounded();
        let stderr_live = if live_stderr { live_rx } else { never() };
        thread::spawn(move || {
            let _end = stderr_end_tx;
            let mut buf = [0u8; 16 * 1024];
            while let Ok(n @ 1..) = stderr.read(&mut buf) {
                if live_stderr {
                    let _ = live_tx.send(buf[..n].to_vec());
                }
                match kept_by_reader.lock() {
                    Ok(mut kept) => kept.push(&buf[..n]),
                    Err(_) => return,
                }
            }
        });
        let (exit_tx, exit_rx) = crossbeam_channel::bounded(1);
        let (started, cpu_before) = (Instant::now(), children_cpu());
        thread::spawn(move || {
            let status = child.wait();
            drop(exit_seen_tx);
            let usage = ProcessUsage {
                cpu: children_cpu().saturating_sub(cpu_before),
                wall: started.elapsed(),
            };
            let _ = exit_tx.send((status, usage));
        });
        Ok(Self {
            stdout: stdout_rx,
            exit: exit_rx,
            usage: ProcessUsage::default(),
            stderr: kept,
            stderr_end,
            stderr_live,
            probe,
            stdout_ended: false,
            exited_at: None,
            last_output_at: Instant::now(),
        })
    }

    /// Waits until something arrives or `until` passes.
    pub fn next(&mut self, until: Instant) -> Arrival {
        let timeout = until.saturating_duration_since(Instant::now());
        select! {
            recv(self.stdout) -> bytes => match bytes {
                Ok(bytes) => {
                    self.last_output_at = Instant::now();
                    Arrival::Stdout(bytes)
                }
                Err(_) => {
                    self.stdout_ended = true;
                    self.stdout = never();
                    Arrival::Nothing
                }
            },
            recv(self.stderr_live) -> bytes => match bytes {
                Ok(bytes) => Arrival::Stderr(bytes),
                Err(_) => {
                    self.stderr_live = never();
                    Arrival::Nothing
                }
            },
            recv(self.exit) -> exit => {
                self.exit = never();
                self.exited_at = Some(Instant::now());
                match exit {
                    Ok((status, usage)) => {
                        self.usage = usage;
                        Arrival::Exited(status)
                    }
                    Err(_) => Arrival::Exited(Err(io::Error::other("wait thread lost"))),
                }
            },
            default(timeout) => Arrival::Nothing,
        }
    }

    /// After the exit: when to stop waiting for more output if none arrives.
    pub fn drain_deadline(&self) -> Option<Instant> {
        let exited_at = self.exited_at?;
        let quiet = self.last_output_at.max(exited_at) + DRAIN_AFTER_EXIT;
        Some(quiet.min(exited_at + DRAIN_AT_MOST))
    }

    /// The process exited and its stdout has been read to its end (or to the deadline,
    /// with nothing left unread in the pipe).
    pub fn is_whole(&self) -> bool {
        let (Some(exited_at), Some(deadline)) = (self.exited_at, self.drain_deadline()) else {
            return false;
        };
        let now = Instant::now();
        self.stdout_ended
            || now >= exited_at + DRAIN_AT_MOST
            || (now >= deadline && self.stdout.is_empty() && !self.unread_in_pipe())
    }

    /// What the process used (zero until it exited).
    pub fn usage(&self) -> ProcessUsage {
        self.usage
    }

    /// Whether the pipe holds bytes the reader has not taken yet.
    fn unread_in_pipe(&self) -> bool {
        let mut fds = [PollFd::new(self.probe.as_fd(), PollFlags::POLLIN)];
        matches!(poll(&mut fds, PollTimeout::ZERO), Ok(1..))
            && fds[0].revents().is_some_and(|r| r.contains(PollFlags::POLLIN))
    }

    /// What the process wrote to stderr: to its end, or what arrived by a short wait when
    /// something still holds it open; and the live stderr chunks not handed out yet
    /// (`--no-capture`).
    pub fn stderr_and_unforwarded(self) -> (Vec<u8>, Vec<u8>) {
        let wait = if self.stdout_ended { DRAIN_AFTER_EXIT } else { STDERR_GRACE };
        let _ = self.stderr_end.recv_timeout(wait);
        let rest = self.stderr_live.try_iter().flatten().collect();
        let kept = self.stderr.lock().map(|kept| kept.clone().into_bytes()).unwrap_or_default();
        (kept, rest)
    }
}

#[cfg(test)]
mod tests {
    use std::fs::File;
    use std::io::Write;

    use crossbeam_channel::Sender;

    use super::*;

    /// The output of a process that exited `exited_ms` ago, last wrote `quiet_ms` ago and has
    /// its stdout open: the sender of its chunks and the write end of its pipe.
    fn exited(exited_ms: u64, quiet_ms: u64) -> (ProcessOutput, Sender<Vec<u8>>, File) {
        let ago = |ms| Instant::now().checked_sub(Duration::from_millis(ms)).unwrap();
        let (probe, write) = nix::unistd::pipe().unwrap();
        let (chunks, stdout) = crossbeam_channel::unbounded();
        let (_, stderr_end) = crossbeam_channel::bounded(0);
        let output = ProcessOutput {
            stdout,
            exit: never(),
            usage: ProcessUsage::default(),
            stderr: Arc::new(Mutex::new(BoundedOutput::new(16))),
            stderr_end,
            stderr_live: never(),
            probe,
            stdout_ended: false,
            exited_at: Some(ago(exited_ms)),
            last_output_at: ago(quiet_ms),
        };
        (output, chunks, File::from(write))
    }

    #[test]
    fn the_end_of_stdout_after_the_exit_is_the_end_at_once() {
        let (mut output, chunks, write) = exited(0, 0);
        assert!(!output.is_whole(), "the pipe is open and the exit is fresh");
        drop((chunks, write));
        assert!(matches!(output.next(Instant::now()), Arrival::Nothing));
        assert!(output.stdout_ended);
        assert!(output.is_whole());
    }

    #[test]
    fn a_pipe_held_open_ends_the_stream_a_quiet_second_after_the_exit() {
        let (output, chunks, _write) = exited(1500, 1500);
        assert!(output.is_whole());
        chunks.send(b"ok\n".to_vec()).unwrap();
        assert!(!output.is_whole(), "a chunk waits to be parsed");
        let (output, _chunks, _write) = exited(1500, 100);
        assert!(!output.is_whole(), "output arrived 100 ms ago");
    }

    #[test]
    fn bytes_left_in_the_pipe_keep_the_stream_open_until_the_cap() {
        let (output, _chunks, mut write) = exited(1500, 1500);
        assert!(!output.unread_in_pipe());
        write.write_all(b"ok\n").unwrap();
        assert!(output.unread_in_pipe());
        assert!(!output.is_whole(), "the reader has not taken them yet");
        let (output, _chunks, mut write) = exited(DRAIN_AT_MOST.as_millis() as u64 + 100, 1500);
        write.write_all(b"still writing\n").unwrap();
        assert!(output.is_whole(), "reading after the exit ends at the cap");
    }

    #[test]
    fn a_closed_empty_pipe_holds_nothing_unread() {
        let (output, _chunks, write) = exited(1500, 1500);
        drop(write);
        assert!(!output.unread_in_pipe());
    }
}
