//! How a batch decides that a test process is done, driven with scripted test binaries
//! (shell scripts that print what libtest would, and then misbehave): the end of a process
//! comes from its whole output, never from whichever timer fires first, and an outcome is
//! final only once libtest moved on.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::AtomicI32;
use std::time::{Duration, Instant};

use xdist_core::protocol::{BinarySpec, FromWorker, Outcome, RunLimits, TestReport};
use xdist_worker::batch::{Batch, Rest, Sink};
use xdist_worker::in_flight::InFlight;

const SUMMARY_1: &str =
    "test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.30s";

/// The frames a batch sent, and how many had been sent at each flush.
#[derive(Default)]
struct Frames {
    sent: Vec<FromWorker>,
    flushed_at: Vec<usize>,
}

impl Sink for Frames {
    fn send(&mut self, message: FromWorker) -> std::io::Result<()> {
        self.sent.push(message);
        Ok(())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.flushed_at.push(self.sent.len());
        Ok(())
    }
}

/// A test binary that runs `body` (sh) whatever its arguments. A child process writes it:
/// a file this process held open for writing would be inherited by a child another test
/// thread forks meanwhile, and starting the script would then fail with ETXTBSY.
fn script(name: &str, body: &str) -> BinarySpec {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("batch-end");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    let mut writer = Command::new("sh")
        .args(["-c", "cat > \"$0\" && chmod 755 \"$0\""])
        .arg(&path)
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = writer.stdin.take().unwrap();
    stdin.write_all(format!("#!/bin/sh\n{body}\n").as_bytes()).unwrap();
    drop(stdin);
    assert!(writer.wait().unwrap().success());
    BinarySpec::libtest(path.to_string_lossy(), dir.to_string_lossy())
}

/// Runs test `a` of `binary`; returns its report and how long the batch took.
fn run_one(binary: &BinarySpec, limits: &RunLimits) -> (TestReport, Duration) {
    let (mut reports, took) = run_batch(binary, &["a"], limits);
    assert_eq!(reports.len(), 1, "one report only");
    (reports.remove(0), took)
}

/// Runs `names` of `binary` in one batch; returns one report per test, in order.
fn run_batch(
    binary: &BinarySpec,
    names: &[&str],
    limits: &RunLimits,
) -> (Vec<TestReport>, Duration) {
    let started = Instant::now();
    let (frames, rest) = run_frames(binary, names, limits);
    let took = started.elapsed();
    assert_eq!(rest, Left::Done);
    let mut reports = finished(frames.sent);
    reports.sort_by_key(|r| r.index);
    let indices: Vec<u32> = reports.iter().map(|r| r.index).collect();
    assert_eq!(indices, (0..names.len() as u32).collect::<Vec<_>>(), "one report per test");
    (reports, took)
}

/// What a batch left to run, by test index.
#[derive(Debug, PartialEq, Eq)]
enum Left {
    Done,
    Rerun(Vec<u32>),
    OnePerProcess(Vec<u32>),
    Requeue(Vec<u32>),
}

/// Runs `names` of `binary` in one batch; returns what it sent and what is left of it.
fn run_frames(binary: &BinarySpec, names: &[&str], limits: &RunLimits) -> (Frames, Left) {
    run_frames_in_flight(binary, names, limits, None)
}

/// [`run_frames`], with the batch's tests in flight in `in_flight` (so that a steal may
/// take them while it runs).
fn run_frames_in_flight(
    binary: &BinarySpec,
    names: &[&str],
    limits: &RunLimits,
    in_flight: Option<&Mutex<InFlight>>,
) -> (Frames, Left) {
    if let Some(in_flight) = in_flight {
        let all: Vec<u32> = (0..names.len() as u32).collect();
        in_flight.lock().unwrap().begin(&all);
    }
    let group = AtomicI32::new(0);
    let batch = Batch {
        binary,
        binary_index: 0,
        tests: names.iter().enumerate().map(|(i, n)| (i as u32, *n)).collect(),
        include_ignored: false,
        filters: None,
        skips: None,
        no_capture: false,
        limits,
        current_group: &group,
        in_flight,
    };
    let mut frames = Frames::default();
    let indices = |tests: Vec<(u32, &str)>| tests.into_iter().map(|t| t.0).collect();
    let left = match batch.run(&mut frames).unwrap() {
        Rest::Done => Left::Done,
        Rest::Rerun(tests) => Left::Rerun(indices(tests)),
        Rest::OnePerProcess(tests) => Left::OnePerProcess(indices(tests)),
        Rest::Requeue(tests) => Left::Requeue(indices(tests)),
    };
    (frames, left)
}

fn finished(frames: Vec<FromWorker>) -> Vec<TestReport> {
    frames
        .into_iter()
        .filter_map(|f| match f {
            FromWorker::Finished(report) => Some(report),
            _ => None,
        })
        .collect()
}

fn setsid_available() -> bool {
    let ok = std::process::Command::new("setsid").arg("true").status().is_ok_and(|s| s.success());
    if !ok {
        assert!(std::env::var("CI").is_err(), "setsid (util-linux) is required in CI");
        let _ = std::io::stderr().write_all(b"\n!!! SKIPPED: setsid is not installed !!!\n");
    }
    ok
}

#[test]
fn output_that_arrives_after_the_exit_still_counts() {
    if !setsid_available() {
        return;
    }
    // The process starts two tests in quick succession (so a frame is still waiting for
    // its flush) and exits; the second result reaches the pipe 300 ms later, from a process
    // outside its group: what a reader thread delayed under load looks like to the batch.
    let summary = SUMMARY_1.replace("1 passed", "2 passed");
    let late = format!(
        "setsid sh -c \"sleep 0.4; printf 'ok\\n\\n{summary}\\n\\n'\" &\n# Time for it to leave the process group.\nsleep 0.1\nprintf '\\nrunning 2 tests\\ntest a ... '\nsleep 0.005\nprintf 'ok\\ntest b ... '\nexit 0"
    );
    let (reports, _) = run_batch(&script("late-output", &late), &["a", "b"], &RunLimits::default());
    for report in reports {
        assert_eq!(report.outcome, Outcome::Passed, "{}", String::from_utf8_lossy(&report.output));
    }
}

#[test]
fn a_pipe_held_open_after_the_exit_does_not_hang_the_batch() {
    if !setsid_available() {
        return;
    }
    let held = format!(
        "printf '\\nrunning 1 test\\ntest a ... ok\\n\\n{SUMMARY_1}\\n\\n'\nsetsid sleep 30 &\nsleep 0.1\nexit 0"
    );
    let (report, took) = run_one(&script("held-open", &held), &RunLimits::default());
    assert_eq!(report.outcome, Outcome::Passed);
    assert!(took < Duration::from_secs(15), "took {took:?}");
}

#[test]
fn a_result_word_then_exit_0_fails_the_test() {
    let body = "printf '\\nrunning 1 test\\ntest a ... all ok\\n'\nexit 0";
    let (report, _) = run_one(&script("exit0", body), &RunLimits::default());
    let Outcome::Failed { cause: Some(cause) } = report.outcome else {
        panic!("{:?}", report.outcome)
    };
    assert_eq!(cause, "test process exited with code 0 before the test finished");
}

#[test]
fn the_timeout_runs_on_after_a_fake_result() {
    let body = format!("printf '\\nrunning 1 test\\ntest a ... ok\\n\\n{SUMMARY_1}\\n'\nsleep 30");
    let limits = RunLimits { timeout_ms: Some(500), kill_grace_ms: 200, ..RunLimits::default() };
    let (report, took) = run_one(&script("fake-then-hang", &body), &limits);
    assert_eq!(report.outcome, Outcome::TimedOut { after_ms: 500 });
    assert!(took < Duration::from_secs(20), "took {took:?}");
}

#[test]
fn a_duration_ends_at_the_result_not_at_the_exit() {
    // The process lingers for 2 s after libtest's summary (say, a slow exit handler): the
    // duration that paces the next batches is the test's, about 0.3 s.
    let body = format!(
        "printf '\\nrunning 1 test\\ntest a ... '\nsleep 0.3\nprintf 'ok\\n\\n{SUMMARY_1}\\n\\n'\nsleep 2\nexit 0"
    );
    let (report, took) = run_one(&script("linger-after-summary", &body), &RunLimits::default());
    assert_eq!(report.outcome, Outcome::Passed);
    let duration = Duration::from_nanos(report.duration_nanos);
    assert!(took >= Duration::from_secs(2), "the batch waited for the exit: {took:?}");
    assert!(duration > Duration::ZERO && duration < Duration::from_millis(1500), "{duration:?}");
}

#[test]
fn a_process_that_exited_has_not_timed_out_while_its_output_drains() {
    if !setsid_available() {
        return;
    }
    // The test crashes (exit 1) while a process outside its group holds the pipe open: the
    // batch reads on for a second after the exit, past the 600 ms timeout.
    let body = "setsid sleep 5 &\nsleep 0.1\nprintf '\\nrunning 1 test\\ntest a ... '\nexit 1";
    let limits = RunLimits { timeout_ms: Some(600), kill_grace_ms: 200, ..RunLimits::default() };
    let (report, _) = run_one(&script("exit-while-held", body), &limits);
    let Outcome::Failed { cause: Some(cause) } = report.outcome else {
        panic!("{:?}", report.outcome)
    };
    assert_eq!(cause, "test process exited with code 1 before the test finished");
}

#[test]
fn frames_reach_the_controller_while_the_test_runs() {
    let body = format!(
        "sleep 0.1\nprintf '\\nrunning 1 test\\ntest a ... '\nsleep 0.3\nprintf 'ok\\n\\n{SUMMARY_1}\\n\\n'"
    );
    let (frames, rest) =
        run_frames(&script("flush-while-running", &body), &["a"], &RunLimits::default());
    assert_eq!(rest, Left::Done);
    let position = |f: fn(&FromWorker) -> bool| frames.sent.iter().position(f).unwrap();
    let started = position(|f| matches!(f, FromWorker::Started { index: 0 }));
    let finished = position(|f| matches!(f, FromWorker::Finished(_)));
    assert!(
        frames.flushed_at.iter().any(|&n| n > started && n <= finished),
        "`Started` was flushed only with `Finished`: flushes at {:?}, started {started}, finished {finished}",
        frames.flushed_at
    );
}

#[test]
fn a_test_killed_after_another_timed_out_did_not_time_out() {
    // `a` runs past the 400 ms timeout, handles SIGTERM and passes; libtest starts `b`, and
    // SIGKILL ends the process 300 ms later. `b` ran for 300 ms: whatever becomes of it, it
    // did not time out.
    let body = "trap 'printf \"ok\\ntest b ... \"; sleep 5' TERM\nprintf '\\nrunning 2 tests\\ntest a ... '\nsleep 5 &\nwait";
    let limits = RunLimits { timeout_ms: Some(400), kill_grace_ms: 300, ..RunLimits::default() };
    let (frames, rest) = run_frames(&script("term-handler", body), &["a", "b"], &limits);
    let reports = finished(frames.sent);
    let b = reports.iter().find(|r| r.index == 1);
    match (b, &rest) {
        (Some(b), Left::Done) => {
            assert!(!matches!(b.outcome, Outcome::TimedOut { .. }), "{:?}", b.outcome)
        }
        (None, Left::Rerun(rerun)) => assert_eq!(rerun, &[1]),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_test_that_ignores_sigterm_is_killed_after_the_grace_period() {
    let body = "trap '' TERM\nprintf '\\nrunning 1 test\\ntest a ... '\nsleep 30";
    let limits = RunLimits { timeout_ms: Some(300), kill_grace_ms: 300, ..RunLimits::default() };
    let (report, took) = run_one(&script("ignores-sigterm", body), &limits);
    assert_eq!(report.outcome, Outcome::TimedOut { after_ms: 300 });
    assert!(took < Duration::from_secs(15), "took {took:?}");
}

/// Runs `body` as a batch of `a`, `b`, `c`, `d` in flight, while another thread, 200 ms
/// in, asks to take `c` (index 2) as a steal would. Returns the frames, what is left, how
/// long it took, and whether `c` could be taken.
fn steal_c_while_running(name: &str, body: &str) -> (Frames, Left, Duration, bool) {
    let binary = script(name, body);
    let in_flight = Mutex::new(InFlight::default());
    let started = Instant::now();
    let (frames, rest, taken) = std::thread::scope(|scope| {
        let thief = scope.spawn(|| {
            std::thread::sleep(Duration::from_millis(200));
            let mut in_flight = in_flight.lock().unwrap();
            let can = in_flight.can_release(2);
            if can {
                in_flight.release(2);
            }
            can
        });
        let limits = RunLimits::default();
        let (frames, rest) =
            run_frames_in_flight(&binary, &["a", "b", "c", "d"], &limits, Some(&in_flight));
        (frames, rest, thief.join().unwrap())
    });
    (frames, rest, started.elapsed(), taken)
}

fn started_indices(frames: &Frames) -> Vec<u32> {
    frames
        .sent
        .iter()
        .filter_map(|f| match f {
            FromWorker::Started { index } => Some(*index),
            _ => None,
        })
        .collect()
}

#[test]
fn a_test_a_steal_took_from_the_running_process_cuts_it_at_its_start() {
    // `a` takes 600 ms, `b` 300 ms, `c` would take 5 s. `c` is taken while `a` runs: the
    // process is killed at `c`'s start line, `c` gets nothing from here (not even after its
    // start line, not even its "ok"), and `d`, not taken, goes back to the queue.
    let summary = SUMMARY_1.replace("1 passed", "4 passed");
    let body = format!(
        "printf '\\nrunning 4 tests\\ntest a ... '\nsleep 0.6\nprintf 'ok\\ntest b ... '\nsleep 0.3\nprintf 'ok\\ntest c ... '\nsleep 5\nprintf 'ok\\ntest d ... ok\\n\\n{summary}\\n\\n'"
    );
    let (frames, rest, took, taken) = steal_c_while_running("steal-in-process", &body);
    assert!(taken, "c was not started: it can be taken");
    assert_eq!(rest, Left::Requeue(vec![3]));
    assert!(took < Duration::from_secs(4), "the process was not cut: {took:?}");
    assert_eq!(started_indices(&frames), vec![0, 1], "c's start is not reported");
    let reports = finished(frames.sent);
    let outcomes: Vec<(u32, Outcome)> = reports.into_iter().map(|r| (r.index, r.outcome)).collect();
    assert_eq!(outcomes, vec![(0, Outcome::Passed), (1, Outcome::Passed)]);
    // Without a steal, the same process runs to its end.
    let binary = script("steal-in-process", &body);
    let (reports, _) = run_batch(&binary, &["a", "b", "c", "d"], &RunLimits::default());
    assert_eq!(reports.len(), 4);
}

#[test]
fn after_a_failure_nothing_is_taken_from_the_process() {
    // `a` fails at once: its captured output comes only at the end of the process, so the
    // steal 200 ms in is refused and the process runs to its end.
    let failures = "failures:\\n\\n---- a stdout ----\\nboom\\n\\nfailures:\\n    a\\n";
    let summary = "test result: FAILED. 3 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.30s";
    let body = format!(
        "printf '\\nrunning 4 tests\\ntest a ... FAILED\\ntest b ... '\nsleep 0.6\nprintf 'ok\\ntest c ... ok\\ntest d ... ok\\n\\n{failures}\\n{summary}\\n\\n'\nexit 101"
    );
    let (frames, rest, _, taken) = steal_c_while_running("steal-after-failure", &body);
    assert!(!taken, "a test of the process failed: nothing is taken");
    assert_eq!(rest, Left::Done);
    let reports = finished(frames.sent);
    assert_eq!(reports.len(), 4);
    let a = reports.iter().find(|r| r.index == 0).unwrap();
    assert!(matches!(a.outcome, Outcome::Failed { .. }), "{a:?}");
    assert!(String::from_utf8_lossy(&a.output).contains("boom"), "{a:?}");
}

#[test]
fn a_failure_carries_what_its_process_wrote_past_the_capture() {
    // `a` fails after writing to fd 2 itself (as a child process or `io::stderr()` does),
    // which libtest does not capture; `b` passes.
    let summary = "test result: FAILED. 1 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s";
    let body = format!(
        "printf '\\nrunning 2 tests\\ntest a ... '\necho 'from fd 2' >&2\nprintf 'FAILED\\ntest b ... ok\\n\\nfailures:\\n\\n---- a stdout ----\\ncaptured of a\\n\\n\\nfailures:\\n    a\\n\\n{summary}\\n\\n'\nexit 101"
    );
    let (reports, _) = run_batch(&script("stderr", &body), &["a", "b"], &RunLimits::default());
    assert!(matches!(reports[0].outcome, Outcome::Failed { .. }), "{:?}", reports[0].outcome);
    let output = String::from_utf8_lossy(&reports[0].output);
    assert!(output.starts_with("captured of a\n"), "{output:?}");
    assert!(output.contains("stderr of the test process"), "{output:?}");
    assert!(output.ends_with("from fd 2\n"), "{output:?}");
    assert_eq!(reports[1].outcome, Outcome::Passed);
}

#[test]
fn a_failure_whose_output_a_later_crash_took_says_so() {
    // `a` failed; `b` ended the process before libtest printed `a`'s captured output.
    let body = "printf '\\nrunning 2 tests\\ntest a ... FAILED\\ntest b ... '\nkill -ABRT $$";
    let (frames, _) = run_frames(&script("lost", body), &["a", "b"], &RunLimits::default());
    let reports = finished(frames.sent);
    let a = reports.iter().find(|r| r.index == 0).expect("a report for a");
    assert!(matches!(a.outcome, Outcome::Failed { .. }), "{:?}", a.outcome);
    let output = String::from_utf8_lossy(&a.output);
    assert!(output.contains("captured output is lost"), "{output:?}");
}
