//! Runs a whole binary as one test: a `harness = false` binary that neither lists nor
//! filters (a plain `main`), started as `cargo test` starts it: no arguments, the binary's
//! cwd and environment, in a process group of its own. Its exit status is the outcome
//! (`Passed` on 0; else `Failed`, with how it ended as the cause), and its stdout then its
//! stderr, each bounded, are the test's output. `--slow-timeout` and `--timeout` apply to it
//! as to any test.

use std::io;
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use xdist_core::protocol::{FromWorker, Outcome, OutputStream};

use super::clock::TestClock;
use super::output::{Arrival, ProcessOutput};
use super::{Batch, FLUSH_EVERY, Rest, Sink, report};
use crate::capture::BoundedOutput;
use crate::command::{self, describe};

/// Runs the batch's first test as its whole binary. A whole binary has one test, so the
/// batch holds no other unless it was sent twice; any other is left for a fresh process.
pub(super) fn run<'a>(batch: &Batch<'a>, sink: &mut dyn Sink) -> io::Result<Rest<'a>> {
    let Some((&(index, _), others)) = batch.tests.split_first() else { return Ok(Rest::Done) };
    let rest = if others.is_empty() { Rest::Done } else { Rest::Rerun(others.to_vec()) };
    let spec = batch.binary;
    let command = command::test_command(&spec.runner, &spec.path, &spec.cwd, &spec.env);
    let ran = match run_process(batch, command, index, 1, sink)? {
        Ok(ran) => ran,
        Err(cause) => {
            let outcome = Outcome::Failed { cause: Some(cause) };
            sink.send(report(index, outcome, Duration::ZERO, Vec::new()))?;
            return Ok(rest);
        }
    };
    let outcome = if ran.timed_out {
        Outcome::TimedOut { after_ms: ran.timeout_ms.unwrap_or_default() }
    } else if ran.status.success() {
        Outcome::Passed
    } else {
        Outcome::Failed { cause: Some(format!("test process {}", describe(ran.status))) }
    };
    let mut captured = ran.stdout;
    captured.extend(ran.stderr);
    sink.send(report(index, outcome, ran.duration, captured))?;
    Ok(rest)
}

/// A process run to its end as one unit of work.
pub(super) struct WholeRun {
    /// How it ended.
    pub status: ExitStatus,
    /// Its stdout and stderr, each bounded.
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// Killed by `--timeout` (or `--timeout` x `tests` for a process of several tests).
    pub timed_out: bool,
    /// The timeout that applied, in milliseconds.
    pub timeout_ms: Option<u64>,
    /// From start to exit.
    pub duration: Duration,
}

/// Runs `command` in its own process group, reporting `index` started, with the batch's
/// `--slow-timeout` and `--timeout` (scaled by `tests`, the tests the process runs) applied
/// to the process as a whole; `Err` says why it could not start.
pub(super) fn run_process(
    batch: &Batch<'_>,
    mut command: std::process::Command,
    index: xdist_core::TestIndex,
    tests: u32,
    sink: &mut dyn Sink,
) -> io::Result<Result<WholeRun, String>> {
    let keep = usize::try_from(batch.limits.output_keep).unwrap_or(usize::MAX);
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    command::isolate(&mut command);
    let child = match command.spawn() {
        Ok(child) => child,
        Err(e) => {
            let program = command.get_program().to_string_lossy().into_owned();
            return Ok(Err(format!("could not start test binary {program}: {e}")));
        }
    };
    let pid = child.id();
    batch.current_group.store(pid as i32, Ordering::SeqCst);
    sink.send(FromWorker::ProcessStarted { pid })?;
    let indices = [index];
    let mut limits = batch.limits.clone();
    limits.timeout_ms = limits.timeout_ms.map(|ms| ms.saturating_mul(u64::from(tests.max(1))));
    let mut clock = TestClock::new(&indices, &limits, pid);
    clock.started(0);
    sink.send(FromWorker::Started { index })?;
    sink.flush()?;
    let mut output = ProcessOutput::start(child, keep, batch.no_capture)?;
    // `--no-capture`: the user's copy of what the process writes, as it comes.
    let forward = |stream, bytes: &[u8], sink: &mut dyn Sink| -> io::Result<()> {
        if !batch.no_capture || bytes.is_empty() {
            return Ok(());
        }
        // A process of several tests (a library's doctests) names none of them.
        let index = (tests == 1).then_some(index);
        sink.send(FromWorker::Output { index, stream, bytes: bytes.to_vec() })
    };

    let mut stdout = BoundedOutput::new(keep);
    let mut status: Option<ExitStatus> = None;
    let mut leaked = false;
    let mut look_at = clock.next_look(Some(0));
    let mut flushed_at = Instant::now();
    let mut unflushed = false;
    // As in a batch: the end is the exit and all output before it, whichever timer woke.
    while !output.is_whole() {
        let mut until = output.drain_deadline().unwrap_or(look_at);
        if unflushed {
            until = until.min(flushed_at + FLUSH_EVERY);
        }
        match output.next(until) {
            Arrival::Stdout(bytes) => {
                forward(OutputStream::Stdout, &bytes, sink)?;
                unflushed |= batch.no_capture;
                stdout.push(&bytes);
            }
            Arrival::Stderr(bytes) => {
                forward(OutputStream::Stderr, &bytes, sink)?;
                unflushed = true;
            }
            Arrival::Exited(result) => {
                status = Some(result?);
                // The test ends with its process; what it left in its group goes with it.
                clock.showing(0, true);
                leaked = command::stop_leftovers(pid, &batch.limits.leak);
            }
            Arrival::Nothing => {}
        }
        let now = Instant::now();
        if status.is_none() && now >= look_at {
            clock.look(Some(0), sink)?;
            look_at = clock.next_look(Some(0));
            unflushed = true;
        }
        if unflushed && now >= flushed_at + FLUSH_EVERY {
            sink.flush()?;
            flushed_at = now;
            unflushed = false;
        }
    }
    batch.current_group.store(0, Ordering::SeqCst);
    sink.send(batch.exited(leaked, output.usage()))?;
    let status = status.ok_or_else(|| io::Error::other("the stream ended before the exit"))?;
    let (stderr, unforwarded) = output.stderr_and_unforwarded();
    forward(OutputStream::Stderr, &unforwarded, sink)?;
    Ok(Ok(WholeRun {
        status,
        stdout: stdout.into_bytes(),
        stderr,
        timed_out: clock.timed_out.is_some(),
        timeout_ms: clock.timeout_ms(0),
        duration: clock.duration(0),
    }))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;
    use std::sync::Mutex;
    use std::sync::atomic::AtomicI32;

    use xdist_core::protocol::{BinarySpec, Harness, RunLimits, TestReport};

    use super::*;

    /// Held while scripts are written and run: a script being written while another thread
    /// forks cannot be started (ETXTBSY).
    static SCRIPTS: Mutex<()> = Mutex::new(());

    use crate::batch::test_frames::Frames;

    /// Runs `body` (sh) as a whole binary, as test 7; returns its frames and its report.
    fn run_script(name: &str, body: &str, limits: &RunLimits) -> (Vec<FromWorker>, TestReport) {
        run_script_with(name, body, limits, false)
    }

    /// [`run_script`], under `--no-capture` if `no_capture`.
    fn run_script_with(
        name: &str,
        body: &str,
        limits: &RunLimits,
        no_capture: bool,
    ) -> (Vec<FromWorker>, TestReport) {
        let _scripts = SCRIPTS.lock().unwrap_or_else(|e| e.into_inner());
        let dir = std::env::temp_dir().join(format!("xdist-whole-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        let spec = BinarySpec {
            env: vec![("XDIST_WHOLE_PROBE".into(), "42".into())],
            harness: Harness::Whole,
            ..BinarySpec::libtest(path.to_string_lossy(), dir.to_string_lossy())
        };
        let group = AtomicI32::new(0);
        let batch = Batch {
            binary: &spec,
            binary_index: 0,
            tests: vec![(7, "pkg::main")],
            include_ignored: true,
            filters: None,
            skips: None,
            no_capture,
            limits,
            current_group: &group,
            in_flight: None,
        };
        let mut frames = Frames::default();
        assert_eq!(batch.run(&mut frames).unwrap(), Rest::Done);
        assert_eq!(group.load(Ordering::SeqCst), 0, "no group left published");
        let report = frames
            .0
            .iter()
            .find_map(|f| match f {
                FromWorker::Finished(r) => Some(r.clone()),
                _ => None,
            })
            .expect("a report");
        assert_eq!(report.index, 7);
        (frames.0, report)
    }

    fn text(report: &TestReport) -> String {
        String::from_utf8_lossy(&report.output).into_owned()
    }

    #[test]
    fn a_whole_binary_passes_on_exit_0_with_no_arguments_where_it_is_told() {
        let body = r#"echo "args=$# cwd=$PWD probe=$XDIST_WHOLE_PROBE"; echo "to stderr" >&2"#;
        let (frames, report) = run_script("passes", body, &RunLimits::default());
        assert_eq!(report.outcome, Outcome::Passed);
        let dir = std::env::temp_dir().join(format!("xdist-whole-{}", std::process::id()));
        let want = format!("args=0 cwd={} probe=42\nto stderr\n", dir.display());
        assert_eq!(text(&report), want);
        let kinds: Vec<&str> = frames
            .iter()
            .map(|f| match f {
                FromWorker::ProcessStarted { .. } => "process",
                FromWorker::Started { .. } => "started",
                FromWorker::ProcessExited { .. } => "exited",
                FromWorker::Finished(_) => "finished",
                _ => "other",
            })
            .collect();
        assert_eq!(kinds, ["process", "started", "exited", "finished"]);
    }

    #[test]
    fn under_no_capture_the_output_is_forwarded_as_it_comes() {
        let body = "echo 'out 1'; echo 'err' >&2; sleep 0.1; echo 'out 2'";
        for no_capture in [false, true] {
            let (frames, report) = run_script_with("live", body, &RunLimits::default(), no_capture);
            assert_eq!(report.outcome, Outcome::Passed);
            let mut forwarded = [Vec::new(), Vec::new()];
            let (mut inside, mut outside) = (false, 0);
            for frame in &frames {
                match frame {
                    FromWorker::ProcessStarted { .. } => inside = true,
                    FromWorker::ProcessExited { .. } => inside = false,
                    FromWorker::Output { index, stream, bytes } => {
                        assert_eq!(*index, Some(7));
                        outside += usize::from(!inside);
                        forwarded[usize::from(*stream == OutputStream::Stderr)].extend(bytes);
                    }
                    _ => {}
                }
            }
            let [out, err] = forwarded.map(|b| String::from_utf8(b).unwrap());
            if no_capture {
                assert_eq!((out.as_str(), err.as_str()), ("out 1\nout 2\n", "err\n"));
                assert_eq!(outside, 0, "forwarded while the process runs: {frames:?}");
            } else {
                assert_eq!((out.as_str(), err.as_str()), ("", ""), "nothing forwarded");
            }
            assert!(text(&report).contains("out 1\nout 2\n"), "the report keeps it");
        }
    }

    #[test]
    fn a_whole_binary_fails_with_how_it_ended() {
        let (_, report) = run_script(
            "fails",
            "echo 'on stdout'; echo 'on stderr' >&2; exit 3",
            &RunLimits::default(),
        );
        let cause = Some("test process exited with code 3".to_string());
        assert_eq!(report.outcome, Outcome::Failed { cause });
        assert_eq!(text(&report), "on stdout\non stderr\n");
        let (_, report) = run_script("crashes", "kill -SEGV $$", &RunLimits::default());
        let Outcome::Failed { cause: Some(cause) } = &report.outcome else {
            panic!("{:?}", report.outcome)
        };
        assert!(cause.starts_with("test process was killed by SIGSEGV"), "{cause}");
    }

    #[test]
    fn timeouts_and_slow_reports_apply_to_a_whole_binary() {
        let limits =
            RunLimits { timeout_ms: Some(300), slow_ms: Some(100), ..RunLimits::default() };
        let started = Instant::now();
        let (frames, report) = run_script("hangs", "echo 'hanging'; sleep 30", &limits);
        assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
        assert_eq!(report.outcome, Outcome::TimedOut { after_ms: 300 });
        assert!(text(&report).starts_with("hanging\n"), "{}", text(&report));
        let slow = frames.iter().filter(|f| matches!(f, FromWorker::Slow { index: 7, .. })).count();
        assert!(slow >= 2, "{frames:?}");
    }

    #[test]
    fn a_whole_binary_output_is_bounded() {
        let limits = RunLimits { output_keep: 1000, ..RunLimits::default() };
        let (_, report) = run_script("chatty", "yes 'a line of output' | head -c 100000", &limits);
        assert_eq!(report.outcome, Outcome::Passed);
        assert!(report.output.len() < 3000, "{}", report.output.len());
        assert!(text(&report).contains("bytes of output truncated by cargo-xdist"));
    }
}
