//! Runs one batch: a single process of one test binary for a list of its tests, parsed as it
//! runs. Reports every test that ended, applies `--slow-timeout` and `--timeout` to the test
//! that is running, and hands back the tests that never started because the process died,
//! so the caller can run them again in a fresh process.

use std::collections::HashMap;
use std::io::{self, Read};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use xdist_core::TestIndex;
use xdist_core::protocol::{BinarySpec, FromWorker, Outcome, RunLimits, TestReport};

use crate::capture::BoundedOutput;
use crate::libtest::{StreamEvent, StreamParser, Verdict};

/// Where a batch sends its reports: frames may be buffered until `flush`.
pub trait Sink {
    /// Queues a frame for the controller.
    fn send(&mut self, message: FromWorker) -> io::Result<()>;
    /// Sends what is queued.
    fn flush(&mut self) -> io::Result<()>;
}

/// How long to keep reading after the process exited, for output still in the pipe (a
/// grandchild that escaped the process group may hold it open for ever).
const DRAIN_AFTER_EXIT: Duration = Duration::from_secs(1);

/// A read shorter than this is followed by a short pause, so that the next read takes many
/// lines at once.
const COALESCE_BELOW: usize = 16 * 1024;
const COALESCE_FOR: Duration = Duration::from_millis(1);

/// Frames go to the controller at least this often while a batch runs (and at its end,
/// and whenever the output pauses).
const FLUSH_EVERY: Duration = Duration::from_millis(20);

/// One batch: tests of one binary.
pub struct Batch<'a> {
    /// The binary.
    pub binary: &'a BinarySpec,
    /// The tests, as (index in the run, libtest name).
    pub tests: Vec<(TestIndex, &'a str)>,
    /// Pass `--include-ignored`.
    pub include_ignored: bool,
    /// Timeouts and output limits.
    pub limits: &'a RunLimits,
    /// Where the running process group is published, so that it can be killed if the
    /// controller goes away (0 when none runs).
    pub current_group: &'a AtomicI32,
}

enum Pipe {
    Stdout(Vec<u8>),
    StdoutClosed,
    Exited(io::Result<ExitStatus>),
}

impl<'a> Batch<'a> {
    /// Runs the batch once. Returns the tests to run again in a new process (those that
    /// never started because an earlier test of the process crashed).
    pub fn run(&self, sink: &mut dyn Sink) -> io::Result<Vec<(TestIndex, &'a str)>> {
        let names: Vec<&str> = self.tests.iter().map(|t| t.1).collect();
        let keep = usize::try_from(self.limits.output_keep).unwrap_or(usize::MAX);
        let mut command = Command::new(&self.binary.path);
        command.args(["--exact", "--test-threads=1", "--color=never"]);
        if self.include_ignored {
            command.arg("--include-ignored");
        }
        command
            .arg("--")
            .args(&names)
            .current_dir(&self.binary.cwd)
            .envs(self.binary.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own process group: a timeout kills the test and whatever it started.
            .process_group(0);
        let mut child = match command.spawn() {
            Ok(child) => child,
            Err(e) => {
                let cause = format!("could not start test binary {}: {e}", self.binary.path);
                for &(index, _) in &self.tests {
                    sink.send(failed(index, Some(cause.clone()), Duration::ZERO, Vec::new()))?;
                }
                return Ok(Vec::new());
            }
        };
        let pid = child.id();
        self.current_group.store(pid as i32, Ordering::SeqCst);
        sink.send(FromWorker::ProcessStarted { pid })?;
        sink.flush()?;

        let (tx, rx) = mpsc::channel();
        let mut stdout = child.stdout.take().expect("piped");
        let stdout_tx = tx.clone();
        thread::spawn(move || {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                match stdout.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if stdout_tx.send(Pipe::Stdout(buf[..n].to_vec())).is_err() {
                            return;
                        }
                        if n < COALESCE_BELOW {
                            // libtest writes a line at a time: let a few gather in the pipe
                            // rather than wake twice per test.
                            thread::sleep(COALESCE_FOR);
                        }
                    }
                }
            }
            let _ = stdout_tx.send(Pipe::StdoutClosed);
        });
        let mut stderr = child.stderr.take().expect("piped");
        let stderr_reader = thread::spawn(move || {
            let mut kept = BoundedOutput::new(keep);
            let mut buf = [0u8; 16 * 1024];
            while let Ok(n) = stderr.read(&mut buf) {
                if n == 0 {
                    break;
                }
                kept.push(&buf[..n]);
            }
            kept
        });
        thread::spawn(move || {
            let _ = tx.send(Pipe::Exited(child.wait()));
        });

        let mut run = BatchRun {
            tests: &self.tests,
            limits: self.limits,
            pid,
            started_at: HashMap::new(),
            slow_reports: HashMap::new(),
            failed: Vec::new(),
            ran_any: false,
            timed_out: None,
            sigkill_at: None,
        };
        let mut parser = StreamParser::new(&names, keep);
        let mut status = None;
        let mut stdout_open = true;
        let mut exited_at: Option<Instant> = None;
        let mut flushed_at = Instant::now();
        let mut unflushed = false;
        while stdout_open || status.is_none() {
            let mut wait = match exited_at {
                Some(at) => DRAIN_AFTER_EXIT.saturating_sub(at.elapsed()),
                None => run.next_wake(parser.running()),
            };
            if unflushed {
                wait = wait.min(FLUSH_EVERY.saturating_sub(flushed_at.elapsed()));
            }
            match rx.recv_timeout(wait) {
                Ok(Pipe::Stdout(bytes)) => {
                    for event in parser.feed(&bytes) {
                        run.on_event(event, sink)?;
                        unflushed = true;
                    }
                }
                Ok(Pipe::StdoutClosed) => stdout_open = false,
                Ok(Pipe::Exited(result)) => {
                    status = Some(result?);
                    exited_at = Some(Instant::now());
                    // Leftovers of the test (children in its group) go with it.
                    let _ = killpg(Pid::from_raw(pid as i32), Signal::SIGKILL);
                }
                Err(RecvTimeoutError::Timeout) if exited_at.is_some() => break,
                Err(RecvTimeoutError::Timeout) => {
                    run.on_tick(parser.running(), sink)?;
                    unflushed = true;
                }
                Err(RecvTimeoutError::Disconnected) => break,
            }
            // Frames travel in bursts: a flush per test would cost more than the test.
            if unflushed && flushed_at.elapsed() >= FLUSH_EVERY {
                sink.flush()?;
                flushed_at = Instant::now();
                unflushed = false;
            }
        }
        self.current_group.store(0, Ordering::SeqCst);
        sink.send(FromWorker::ProcessExited)?;
        let status = status.expect("the loop ends only after the exit");
        let stderr = stderr_reader.join().unwrap_or_else(|_| BoundedOutput::new(0)).into_bytes();
        let (events, end) = parser.finish();
        for event in events {
            run.on_event(event, sink)?;
        }
        let mut failure_output = end.failure_output;
        for (pos, duration, noise) in std::mem::take(&mut run.failed) {
            let mut output = failure_output.remove(&pos).unwrap_or_default();
            output.extend(noise);
            sink.send(failed(self.tests[pos].0, None, duration, output))?;
        }

        let unstarted: Vec<(TestIndex, &'a str)> =
            (0..names.len()).filter(|&p| !end.started[p]).map(|p| self.tests[p]).collect();
        if let Some((pos, mut output)) = end.unfinished {
            output.extend_from_slice(&stderr);
            let index = self.tests[pos].0;
            let elapsed = run.elapsed(pos);
            let outcome = match run.timed_out {
                Some(timed_out) if timed_out == pos => {
                    Outcome::TimedOut { after_ms: self.limits.timeout_ms.unwrap_or_default() }
                }
                _ => Outcome::Failed {
                    cause: Some(format!(
                        "test process {} before the test finished",
                        describe(status)
                    )),
                },
            };
            sink.send(report(index, outcome, elapsed, output))?;
            return Ok(unstarted);
        }
        if unstarted.is_empty() {
            return Ok(unstarted);
        }
        let cause = if end.completed {
            "the test binary did not run this test (its name was not found)".to_string()
        } else if run.ran_any {
            // Died between two tests: the rest deserve a fresh process.
            return Ok(unstarted);
        } else {
            format!("test process {} before running any test", describe(status))
        };
        for &(index, _) in &unstarted {
            sink.send(failed(index, Some(cause.clone()), Duration::ZERO, stderr.clone()))?;
        }
        Ok(Vec::new())
    }
}

/// State of one process while its output streams in.
struct BatchRun<'t, 'n> {
    tests: &'t [(TestIndex, &'n str)],
    limits: &'t RunLimits,
    pid: u32,
    started_at: HashMap<usize, Instant>,
    slow_reports: HashMap<usize, u64>,
    /// Failed tests wait for their captured output, printed after all tests.
    failed: Vec<(usize, Duration, Vec<u8>)>,
    ran_any: bool,
    /// The test that ran past `--timeout`.
    timed_out: Option<usize>,
    /// When a SIGTERMed group gets SIGKILL.
    sigkill_at: Option<Instant>,
}

impl BatchRun<'_, '_> {
    fn elapsed(&self, pos: usize) -> Duration {
        self.started_at.get(&pos).map_or(Duration::ZERO, Instant::elapsed)
    }

    /// How long to wait for output before checking the clocks again.
    fn next_wake(&self, running: Option<usize>) -> Duration {
        let mut wait = Duration::from_millis(500);
        if let Some(at) = self.sigkill_at {
            wait = wait.min(at.saturating_duration_since(Instant::now()));
        }
        if let Some(pos) = running {
            let elapsed = self.elapsed(pos);
            if let Some(timeout) = self.limits.timeout_ms.map(Duration::from_millis) {
                if self.timed_out.is_none() {
                    wait = wait.min(timeout.saturating_sub(elapsed));
                }
            }
            if let Some(slow) = self.limits.slow_ms.filter(|&ms| ms > 0) {
                let next = slow * (self.slow_reports.get(&pos).copied().unwrap_or(0) + 1);
                wait = wait.min(Duration::from_millis(next).saturating_sub(elapsed));
            }
        }
        wait.max(Duration::from_millis(1))
    }

    /// The clocks: report slow tests, and stop one that ran past its timeout.
    fn on_tick(&mut self, running: Option<usize>, sink: &mut dyn Sink) -> io::Result<()> {
        let group = Pid::from_raw(self.pid as i32);
        if self.sigkill_at.is_some_and(|at| Instant::now() >= at) {
            let _ = killpg(group, Signal::SIGKILL);
            self.sigkill_at = None;
        }
        let Some(pos) = running else { return Ok(()) };
        let elapsed = self.elapsed(pos);
        if let Some(slow) = self.limits.slow_ms.filter(|&ms| ms > 0) {
            let sent = self.slow_reports.entry(pos).or_default();
            if elapsed >= Duration::from_millis(slow * (*sent + 1)) {
                *sent += 1;
                let elapsed_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
                sink.send(FromWorker::Slow { index: self.tests[pos].0, elapsed_ms })?;
            }
        }
        if let Some(timeout) = self.limits.timeout_ms {
            if self.timed_out.is_none() && elapsed >= Duration::from_millis(timeout) {
                self.timed_out = Some(pos);
                let _ = killpg(group, Signal::SIGTERM);
                self.sigkill_at =
                    Some(Instant::now() + Duration::from_millis(self.limits.kill_grace_ms));
            }
        }
        Ok(())
    }

    fn on_event(&mut self, event: StreamEvent, sink: &mut dyn Sink) -> io::Result<()> {
        match event {
            StreamEvent::Started(pos) => {
                self.ran_any = true;
                self.started_at.insert(pos, Instant::now());
                sink.send(FromWorker::Started { index: self.tests[pos].0 })
            }
            StreamEvent::Ended { pos, verdict, noise } => {
                let duration = self.elapsed(pos);
                let outcome = match verdict {
                    Verdict::Ok => Outcome::Passed,
                    Verdict::Ignored => Outcome::Ignored,
                    Verdict::Failed => {
                        self.failed.push((pos, duration, noise));
                        return Ok(());
                    }
                };
                let output =
                    if noise.iter().all(u8::is_ascii_whitespace) { Vec::new() } else { noise };
                sink.send(report(self.tests[pos].0, outcome, duration, output))
            }
        }
    }
}

fn report(index: TestIndex, outcome: Outcome, duration: Duration, output: Vec<u8>) -> FromWorker {
    let duration_nanos = u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
    FromWorker::Finished(TestReport { index, outcome, duration_nanos, output })
}

fn failed(
    index: TestIndex,
    cause: Option<String>,
    duration: Duration,
    output: Vec<u8>,
) -> FromWorker {
    report(index, Outcome::Failed { cause }, duration, output)
}

/// "exited with code 3", "was killed by SIGSEGV (core dumped)".
pub fn describe(status: ExitStatus) -> String {
    if let Some(signal) = status.signal() {
        let name = Signal::try_from(signal)
            .map_or_else(|_| format!("signal {signal}"), |s| s.as_str().to_string());
        let core = if status.core_dumped() { " (core dumped)" } else { "" };
        format!("was killed by {name}{core}")
    } else {
        format!("exited with code {}", status.code().unwrap_or(-1))
    }
}
