//! Runs one batch: a single process of one test binary for a list of its tests, parsed as it
//! runs. Reports every test whose outcome is final, applies `--slow-timeout` and `--timeout`
//! to the test whose outcome is open, and hands back the tests that never started because
//! the process died, so the caller can run them again in a fresh process. A binary that
//! runs whole (a plain `main`, [`Harness::Whole`]) is one test, run by `whole.rs`; a
//! library's doctests ([`Harness::Doctest`]) run under rustdoc, by `doctest.rs`. What the
//! process leaves in its group is stopped by [`command::stop_leftovers`]; `leak.rs` fails
//! its tests for it under `--leak-result fail`.

mod clock;
mod cut;
mod doctest;
mod leak;
mod output;
#[cfg(test)]
mod test_frames;
mod whole;

use std::io;
use std::process::{ExitStatus, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant};

use xdist_core::TestIndex;
use xdist_core::protocol::{
    BinarySpec, FromWorker, Harness, Outcome, OutputStream, RunLimits, TestReport,
};

use crate::command::{self, describe};
use crate::in_flight::{self, InFlight};
use crate::libtest::{StreamEvent, StreamParser, Verdict};
use clock::TestClock;
use cut::Cut;
use output::{Arrival, ProcessOutput};

/// Where a batch sends its reports: frames may be buffered until `flush`.
pub trait Sink {
    /// Queues a frame for the controller.
    fn send(&mut self, message: FromWorker) -> io::Result<()>;
    /// Sends what is queued.
    fn flush(&mut self) -> io::Result<()>;
}

/// Frames go to the controller at least this often while a batch runs (and at its end,
/// and whenever the output pauses).
const FLUSH_EVERY: Duration = Duration::from_millis(20);

/// Before what a failed test's process wrote to stderr beyond libtest's capture.
const STDERR_HEADER: &[u8] = xdist_core::protocol::PROCESS_STDERR_HEADER.as_bytes();

/// In place of a failed test's captured output that its process never printed.
const LOST_SECTION: &[u8] = b"(its captured output is lost: libtest prints it when its process \
ends normally, and this one did not)\n";

/// What is left of a batch after its process.
#[derive(Debug, PartialEq, Eq)]
pub enum Rest<'a> {
    /// Every test has its outcome.
    Done,
    /// These never started because an earlier test crashed: run them in a fresh process.
    Rerun(Vec<(TestIndex, &'a str)>),
    /// The process of several names ran none of them and did not end normally (a harness
    /// that takes one name per process rejected the command line): none has an outcome;
    /// run them one per process.
    OnePerProcess(Vec<(TestIndex, &'a str)>),
    /// The process was cut short at a test given up to a steal (`cut.rs`): these have no
    /// outcome; put them back in front of the worker's queue, to be batched again.
    Requeue(Vec<(TestIndex, &'a str)>),
}

/// One batch: tests of one binary.
pub struct Batch<'a> {
    /// The binary.
    pub binary: &'a BinarySpec,
    /// Its index in `WorkerSetup::binaries`.
    pub binary_index: u32,
    /// The tests, as (index in the run, libtest name).
    pub tests: Vec<(TestIndex, &'a str)>,
    /// Pass `--include-ignored`.
    pub include_ignored: bool,
    /// Substring filters that select exactly `tests` (see `filters.rs`), passed instead of
    /// their names with `--exact`.
    pub filters: Option<Vec<String>>,
    /// Names to skip (`--exact --skip=NAME`), passed instead of any name: the binary runs
    /// all its other tests, `tests`, in their order (see `skips.rs`).
    pub skips: Option<Vec<String>>,
    /// `--no-capture`: pass libtest's `--nocapture` and forward the process's output as it
    /// comes (the batch holds one test, so the output is that test's).
    pub no_capture: bool,
    /// Timeouts and output limits.
    pub limits: &'a RunLimits,
    /// Where the running process group is published, so that it can be killed if the
    /// controller goes away (0 when none runs).
    pub current_group: &'a AtomicI32,
    /// What a steal took from the worker's batch in flight (adaptive batching): the
    /// process is cut at the first such test's start (`cut.rs`). `None`: nothing is taken.
    pub in_flight: Option<&'a Mutex<InFlight>>,
}

impl<'a> Batch<'a> {
    /// Runs the batch once; says what is left to run, and how. Under `--leak-result fail`
    /// its outcomes are held until its process has exited, to charge a leak (`leak.rs`).
    pub fn run(&self, sink: &mut dyn Sink) -> io::Result<Rest<'a>> {
        if !self.limits.leak.fail {
            return self.run_process(sink);
        }
        let mut charge = leak::LeakCharge::new(sink);
        let rest = self.run_process(&mut charge)?;
        charge.release()?;
        Ok(rest)
    }

    /// The frame that says the batch's process ended, with what it used.
    pub(crate) fn exited(&self, leaked: bool, usage: output::ProcessUsage) -> FromWorker {
        let millis = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        FromWorker::ProcessExited {
            leaked,
            binary: self.binary_index,
            cpu_ms: millis(usage.cpu),
            wall_ms: millis(usage.wall),
        }
    }

    fn run_process(&self, sink: &mut dyn Sink) -> io::Result<Rest<'a>> {
        // libtest prints passing tests' captured output after all tests: their reports wait
        // for the end of the process, and a cut would lose them too. Only a libtest process
        // is cut at a test's start; steals take nothing from the others once started.
        let show_output = self.binary.show_output && !self.no_capture;
        let cuttable =
            self.binary.harness == Harness::Libtest && !show_output && self.skips.is_none();
        in_flight::with(self.in_flight, |f| f.spawning(self.tests.iter().map(|t| t.0), cuttable));
        match self.binary.harness {
            Harness::Whole => return whole::run(self, sink),
            Harness::Doctest => return doctest::run(self, sink),
            Harness::Libtest => {}
        }
        let names: Vec<&str> = self.tests.iter().map(|t| t.1).collect();
        let indices: Vec<TestIndex> = self.tests.iter().map(|t| t.0).collect();
        let keep = usize::try_from(self.limits.output_keep).unwrap_or(usize::MAX);
        let spec = self.binary;
        let mut command = command::test_command(&spec.runner, &spec.path, &spec.cwd, &spec.env);
        command.args(["--test-threads=1", "--color=never"]);
        if self.include_ignored {
            command.arg("--include-ignored");
        }
        if self.no_capture {
            command.arg("--nocapture");
        }
        if show_output {
            command.arg("--show-output");
        }
        match (&self.skips, &self.filters) {
            (Some(skips), _) => command.args(crate::skips::skip_args(skips)),
            (None, Some(filters)) => command.arg("--").args(filters),
            (None, None) => command.arg("--exact").arg("--").args(&names),
        };
        command.stdout(Stdio::piped()).stderr(Stdio::piped());
        command::isolate(&mut command);
        let child = match command.spawn() {
            Ok(child) => child,
            Err(e) => {
                let cause = format!("could not start test binary {}: {e}", self.binary.path);
                for &(index, _) in &self.tests {
                    sink.send(failed(index, Some(cause.clone()), Duration::ZERO, Vec::new()))?;
                }
                return Ok(Rest::Done);
            }
        };
        let pid = child.id();
        self.current_group.store(pid as i32, Ordering::SeqCst);
        sink.send(FromWorker::ProcessStarted { pid })?;
        sink.flush()?;
        let mut output = ProcessOutput::start(child, keep, self.no_capture)?;
        let forward_index = self.tests.first().map(|t| t.0).filter(|_| self.tests.len() == 1);
        let forward = |stream, bytes: &[u8], sink: &mut dyn Sink| -> io::Result<()> {
            if !self.no_capture || bytes.is_empty() {
                return Ok(());
            }
            sink.send(FromWorker::Output { index: forward_index, stream, bytes: bytes.to_vec() })
        };

        let mut run = BatchRun {
            tests: &indices,
            clock: TestClock::new(&indices, self.limits, pid),
            running: None,
            failed: Vec::new(),
            cut: Cut::new(self.in_flight.filter(|_| cuttable), pid),
            passed: show_output.then(Vec::new),
            first_panic: None,
        };
        let mut parser = match self.skips {
            Some(_) => StreamParser::in_given_order(&names, keep),
            None => StreamParser::new(&names, keep),
        };
        let mut status: Option<ExitStatus> = None;
        let mut leaked = false;
        let mut flushed_at = Instant::now();
        let mut unflushed = false;
        let mut look_at = run.clock.next_look(None);
        // The end is decided by the stream alone: whichever timer wakes the loop, it ends
        // only once the exit and all output before it have been read.
        while !output.is_whole() {
            let mut until = output.drain_deadline().unwrap_or(look_at);
            if unflushed {
                until = until.min(flushed_at + FLUSH_EVERY);
            }
            match output.next(until) {
                Arrival::Stdout(bytes) => {
                    // The user's copy; the outcomes come from the parser alone.
                    forward(OutputStream::Stdout, &bytes, sink)?;
                    unflushed |= self.no_capture;
                    let events = parser.feed(&bytes);
                    if parser.has_unsettled() {
                        run.cut.lock();
                    }
                    for event in events {
                        run.on_event(event, parser.should_panic(), sink)?;
                        unflushed = true;
                    }
                    if let Some(pos) = parser.running() {
                        run.clock.showing(pos, parser.showing_verdict() == Some(pos));
                    }
                }
                Arrival::Exited(result) => {
                    status = Some(result?);
                    // Its group is gone (its id may be reused): no kill from now on.
                    run.cut.exited = true;
                    run.cut.lock();
                    // Leftovers of the test (children in its group) go with it.
                    leaked = command::stop_leftovers(pid, &self.limits.leak);
                }
                Arrival::Stderr(bytes) => {
                    forward(OutputStream::Stderr, &bytes, sink)?;
                    unflushed = true;
                }
                Arrival::Nothing => {}
            }
            let now = Instant::now();
            if status.is_none() && now >= look_at {
                run.clock.look(parser.running(), sink)?;
                look_at = run.clock.next_look(parser.running());
                unflushed = true;
            }
            // Frames travel in bursts: a flush per test would cost more than the test.
            if unflushed && now >= flushed_at + FLUSH_EVERY {
                sink.flush()?;
                flushed_at = now;
                unflushed = false;
            }
        }
        self.current_group.store(0, Ordering::SeqCst);
        sink.send(self.exited(leaked, output.usage()))?;
        let status = status.ok_or_else(|| io::Error::other("the stream ended before the exit"))?;
        let (stderr, unforwarded) = output.stderr_and_unforwarded();
        forward(OutputStream::Stderr, &unforwarded, sink)?;
        let should_panic = parser.should_panic().to_vec();
        let (events, end) = parser.finish(status.code());
        for event in events {
            run.on_event(event, &should_panic, sink)?;
        }
        let mut failure_output = end.failure_output;
        // The process's stderr goes with its first failure; the others name that one.
        let mut stderr_with: Option<&str> = None;
        for (pos, duration, noise) in std::mem::take(&mut run.failed) {
            let section = failure_output.remove(&pos);
            let lost = section.is_none() && !end.completed;
            let mut output = section.unwrap_or_default();
            output.extend(noise);
            if lost {
                output.extend_from_slice(LOST_SECTION);
            }
            if self.no_capture {
                // Not captured by libtest: the panic message is on stderr.
                output.extend_from_slice(&stderr);
            } else if !stderr.is_empty() {
                // What no capture holds (direct writes to fd 2, child processes, a harness
                // that captures nothing): the process's, as it cannot be split between
                // its tests.
                match stderr_with {
                    None => {
                        output.extend_from_slice(STDERR_HEADER);
                        output.extend_from_slice(&stderr);
                        stderr_with = Some(names[pos]);
                    }
                    Some(first) => output.extend_from_slice(
                        format!("\n(its test process's stderr is shown with `{first}`)\n")
                            .as_bytes(),
                    ),
                }
            }
            sink.send(failed(indices[pos], None, duration, output))?;
        }
        let mut success_output = end.success_output;
        for (pos, duration, noise) in run.passed.take().unwrap_or_default() {
            let mut output = success_output.remove(&pos).unwrap_or_default();
            output.extend(noise);
            let report = report(indices[pos], Outcome::Passed, duration, visible(output));
            sink.send(first_panic(report, run.first_panic == Some(pos)))?;
        }

        // A test given up to a steal has no outcome here, and is not run again here.
        let kept = |p: &usize| !run.cut.given_up(indices[*p]);
        let none_ran = !end.started.iter().take(names.len()).any(|&s| s);
        let unstarted: Vec<(TestIndex, &'a str)> = (0..names.len())
            .filter(|&p| !end.started[p])
            .filter(kept)
            .map(|p| self.tests[p])
            .collect();
        let end_unfinished = end.unfinished.filter(|(p, _)| kept(p));
        if run.cut.made {
            // The tests cut at their start, and those after them, have no outcome: those
            // not given up go back.
            let mut back: Vec<usize> = (0..names.len())
                .filter(|&p| !end.started[p])
                .chain(run.cut.held.clone())
                .filter(kept)
                .collect();
            back.sort_unstable();
            back.dedup();
            if let Some((pos, mut output)) = end_unfinished.filter(|(p, _)| !back.contains(p)) {
                output.extend_from_slice(&stderr);
                let cause = format!("test process {} before the test finished", describe(status));
                sink.send(failed(indices[pos], Some(cause), run.clock.duration(pos), output))?;
            }
            return Ok(Rest::Requeue(back.into_iter().map(|p| self.tests[p]).collect()));
        }
        if let Some((pos, mut output)) = end_unfinished {
            output.extend_from_slice(&stderr);
            let outcome = match run.clock.timed_out {
                Some(timed_out) if timed_out == pos => {
                    Outcome::TimedOut { after_ms: run.clock.timeout_ms(pos).unwrap_or_default() }
                }
                _ => Outcome::Failed {
                    cause: Some(format!(
                        "test process {} before the test finished",
                        describe(status)
                    )),
                },
            };
            sink.send(report(indices[pos], outcome, run.clock.duration(pos), output))?;
            return Ok(if unstarted.is_empty() { Rest::Done } else { Rest::Rerun(unstarted) });
        }
        if unstarted.is_empty() {
            return Ok(Rest::Done);
        }
        let hung_starting = run.clock.timed_out_starting;
        if !end.completed && none_ran && names.len() > 1 && !hung_starting {
            return Ok(Rest::OnePerProcess(unstarted));
        }
        let cause = if end.completed {
            "the test binary did not run this test (its name was not found)".to_string()
        } else if hung_starting {
            let after = Duration::from_millis(run.clock.timeout_ms(0).unwrap_or_default());
            format!(
                "test process ran past --timeout ({}s) before running any test",
                after.as_secs_f64()
            )
        } else {
            format!("test process {} before running any test", describe(status))
        };
        for &(index, _) in &unstarted {
            sink.send(failed(index, Some(cause.clone()), Duration::ZERO, stderr.clone()))?;
        }
        Ok(Rest::Done)
    }
}

/// The outcomes of one process while its output streams in.
struct BatchRun<'t> {
    tests: &'t [TestIndex],
    clock: TestClock<'t>,
    /// The test that started last.
    running: Option<usize>,
    /// Failed tests wait for their captured output, printed after all tests.
    failed: Vec<(usize, Duration, Vec<u8>)>,
    /// The cut at a test given up to a steal.
    cut: Cut<'t>,
    /// Under `--show-output`, passing tests wait for theirs too.
    passed: Option<Vec<(usize, Duration, Vec<u8>)>>,
    /// The first `should_panic` test that passed in this process, whose time
    /// holds what the process's first panic costs (`TestReport::first_panic`).
    first_panic: Option<usize>,
}

impl BatchRun<'_> {
    fn on_event(
        &mut self,
        event: StreamEvent,
        should_panic: &[bool],
        sink: &mut dyn Sink,
    ) -> io::Result<()> {
        match event {
            StreamEvent::Started(pos) => {
                if let Some(before) = self.running.replace(pos) {
                    // libtest moved on: the test before ended by now at the latest.
                    self.clock.showing(before, true);
                }
                self.clock.started(pos);
                if self.cut.starting(pos, self.tests[pos]) {
                    return Ok(());
                }
                sink.send(FromWorker::Started { index: self.tests[pos] })
            }
            StreamEvent::Ended { pos, verdict, noise } => {
                // A failure may not have panicked (an `Err`, a `should_panic` test that did
                // not): only a `should_panic` test that passed surely did.
                let panicked =
                    verdict == Verdict::Ok && should_panic.get(pos).copied().unwrap_or(false);
                if panicked && self.first_panic.is_none() {
                    self.first_panic = Some(pos);
                }
                let held = self.cut.release(pos);
                if self.cut.given_up(self.tests[pos]) {
                    // Another worker runs it: whatever this process said of it is dropped.
                    return Ok(());
                }
                if held {
                    // It ended before the cut reached it: it counts, start and all.
                    sink.send(FromWorker::Started { index: self.tests[pos] })?;
                }
                let duration = self.clock.duration(pos);
                let outcome = match verdict {
                    Verdict::Ok => Outcome::Passed,
                    Verdict::Ignored => Outcome::Ignored,
                    Verdict::Failed => {
                        // Its captured output comes at the end: no more steals from here.
                        self.cut.lock();
                        self.failed.push((pos, duration, noise));
                        return Ok(());
                    }
                };
                if let (Outcome::Passed, Some(passed)) = (&outcome, self.passed.as_mut()) {
                    passed.push((pos, duration, noise));
                    return Ok(());
                }
                let report = report(self.tests[pos], outcome, duration, visible(noise));
                sink.send(first_panic(report, self.first_panic == Some(pos)))
            }
        }
    }
}

/// Output that is only whitespace is none.
fn visible(output: Vec<u8>) -> Vec<u8> {
    if output.iter().all(u8::is_ascii_whitespace) { Vec::new() } else { output }
}

fn report(index: TestIndex, outcome: Outcome, duration: Duration, output: Vec<u8>) -> FromWorker {
    let duration_nanos = u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
    FromWorker::Finished(TestReport { index, outcome, duration_nanos, output, first_panic: false })
}

/// `frame`, a test's report, marked as its process's first panic when `first` holds.
fn first_panic(mut frame: FromWorker, first: bool) -> FromWorker {
    if let FromWorker::Finished(report) = &mut frame {
        report.first_panic = first;
    }
    frame
}

fn failed(
    index: TestIndex,
    cause: Option<String>,
    duration: Duration,
    output: Vec<u8>,
) -> FromWorker {
    report(index, Outcome::Failed { cause }, duration, output)
}
