//! Runs one batch: a single process of one test binary for a list of its tests, parsed as it
//! runs. Reports every test that ended, and hands back the tests that never started because
//! the process died, so the caller can run them again in a fresh process.

use std::collections::HashMap;
use std::io::{self, Read};
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use xdist_core::TestIndex;
use xdist_core::protocol::{BinarySpec, FromWorker, Outcome, TestReport};

use crate::capture::BoundedOutput;
use crate::libtest::{StreamEvent, StreamParser, Verdict};

/// Where a batch sends its reports.
pub type Sink<'a> = dyn FnMut(FromWorker) -> io::Result<()> + 'a;

/// One batch: tests of one binary.
pub struct Batch<'a> {
    /// The binary.
    pub binary: &'a BinarySpec,
    /// The tests, as (index in the run, libtest name).
    pub tests: Vec<(TestIndex, &'a str)>,
    /// Pass `--include-ignored`.
    pub include_ignored: bool,
    /// Bytes of output kept at each end of a test's output.
    pub keep: usize,
}

impl<'a> Batch<'a> {
    /// Runs the batch once. Returns the tests to run again in a new process (those that
    /// never started because an earlier test of the process crashed).
    pub fn run(&self, sink: &mut Sink<'_>) -> io::Result<Vec<(TestIndex, &'a str)>> {
        let names: Vec<&str> = self.tests.iter().map(|t| t.1).collect();
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
            .stderr(Stdio::piped());
        let mut child = match command.spawn() {
            Ok(child) => child,
            Err(e) => {
                let cause = format!("could not start test binary {}: {e}", self.binary.path);
                for &(index, _) in &self.tests {
                    sink(failed(index, Some(cause.clone()), Duration::ZERO, Vec::new()))?;
                }
                return Ok(Vec::new());
            }
        };
        let mut stdout = child.stdout.take().expect("piped");
        let mut stderr = child.stderr.take().expect("piped");
        let keep = self.keep;
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

        let mut run = BatchRun {
            tests: &self.tests,
            started_at: HashMap::new(),
            failed: Vec::new(),
            ran_any: false,
        };
        let mut parser = StreamParser::new(&names, self.keep);
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match stdout.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            };
            for event in parser.feed(&buf[..n]) {
                run.on_event(event, sink)?;
            }
        }
        let status = child.wait()?;
        let stderr = stderr_reader.join().unwrap_or_else(|_| BoundedOutput::new(0)).into_bytes();
        let started: Vec<bool> = (0..names.len()).map(|p| parser.has_started(p)).collect();
        let (events, end) = parser.finish();
        for event in events {
            run.on_event(event, sink)?;
        }
        let mut failure_output = end.failure_output;
        for (pos, duration, noise) in std::mem::take(&mut run.failed) {
            let mut output = failure_output.remove(&pos).unwrap_or_default();
            output.extend(noise);
            sink(failed(self.tests[pos].0, None, duration, output))?;
        }

        let unstarted: Vec<(TestIndex, &'a str)> =
            (0..names.len()).filter(|&p| !started[p]).map(|p| self.tests[p]).collect();
        if let Some((pos, mut output)) = end.unfinished {
            output.extend_from_slice(&stderr);
            let cause = format!("test process {} before the test finished", describe(status));
            sink(failed(self.tests[pos].0, Some(cause), run.elapsed(pos), output))?;
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
            sink(failed(index, Some(cause.clone()), Duration::ZERO, stderr.clone()))?;
        }
        Ok(Vec::new())
    }
}

/// State of one process while its output streams in.
struct BatchRun<'t, 'n> {
    tests: &'t [(TestIndex, &'n str)],
    started_at: HashMap<usize, Instant>,
    /// Failed tests wait for their captured output, printed after all tests.
    failed: Vec<(usize, Duration, Vec<u8>)>,
    ran_any: bool,
}

impl BatchRun<'_, '_> {
    fn elapsed(&self, pos: usize) -> Duration {
        self.started_at.get(&pos).map_or(Duration::ZERO, Instant::elapsed)
    }

    fn on_event(&mut self, event: StreamEvent, sink: &mut Sink<'_>) -> io::Result<()> {
        match event {
            StreamEvent::Started(pos) => {
                self.ran_any = true;
                self.started_at.insert(pos, Instant::now());
                sink(FromWorker::Started { index: self.tests[pos].0 })
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
                sink(report(self.tests[pos].0, outcome, duration, output))
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

/// "exited with code 3", "was killed by signal SIGSEGV (core dumped)".
pub fn describe(status: ExitStatus) -> String {
    if let Some(signal) = status.signal() {
        let name = nix::sys::signal::Signal::try_from(signal)
            .map_or_else(|_| format!("signal {signal}"), |s| s.as_str().to_string());
        let core = if status.core_dumped() { " (core dumped)" } else { "" };
        format!("was killed by {name}{core}")
    } else {
        format!("exited with code {}", status.code().unwrap_or(-1))
    }
}
