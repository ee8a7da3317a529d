//! The worker on in-memory pipes: the frames it answers with, for a real test binary (this
//! crate's own unit tests are not used; `/bin/sh` stands in as a libtest-like binary) and for
//! a binary that does not exist; and, on socket pairs driven frame by frame, how it answers
//! steals.

use std::io::{Cursor, Write};
use std::os::unix::net::UnixStream;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use xdist_core::codec::{encode_frame, read_frame};
use xdist_core::protocol::{
    Batching, BinarySpec, FromWorker, Outcome, RunLimits, TestReport, TestSpec, ToWorker,
    WorkerSetup,
};

#[derive(Clone, Default)]
struct SharedBuf(Arc<Mutex<Vec<u8>>>);

impl Write for SharedBuf {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Runs a worker over `frames` and returns every frame it wrote (heartbeats left out).
fn serve(frames: &[ToWorker]) -> Vec<FromWorker> {
    let mut input = Vec::new();
    for frame in frames {
        input.extend(encode_frame(frame).unwrap());
    }
    let out = SharedBuf::default();
    xdist_worker::serve(Cursor::new(input), out.clone()).unwrap();
    let bytes = out.0.lock().unwrap().clone();
    let mut reader = Cursor::new(bytes);
    let mut messages = Vec::new();
    while let Some(message) = read_frame::<FromWorker>(&mut reader).unwrap() {
        if message != FromWorker::Heartbeat {
            messages.push(message);
        }
    }
    messages
}

/// Writes the shell script `script` as the executable `name` in `dir`; returns its path.
fn script(dir: &std::path::Path, name: &str, script: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    path.to_string_lossy().into_owned()
}

/// A stand-in for a libtest binary: a shell script that prints libtest's stream for the
/// names it is given, in name order as libtest runs them: `a` passes, `b` fails, `c` exits
/// the process, and the script never gives `d` a result.
fn fake_binary(dir: &std::path::Path) -> String {
    script(
        dir,
        "fake-libtest",
        r#"#!/bin/sh
while [ "$1" != "--" ]; do shift; done; shift
echo; echo "running $# tests"
for name in $(printf '%s\n' "$@" | sort); do
  printf 'test %s ... ' "$name"
  case "$name" in
    a) echo ok ;;
    b) echo FAILED ;;
    c) exit 0 ;;
  esac
done
printf '\nfailures:\n\n---- b stdout ----\nb went wrong\n\n\nfailures:\n    b\n\ntest result: FAILED. 1 passed; 1 failed\n'
"#,
    )
}

fn setup(path: String, names: &[&str]) -> ToWorker {
    ToWorker::Setup(WorkerSetup {
        binaries: vec![BinarySpec::libtest(path, "/")],
        tests: names.iter().map(|n| TestSpec { binary: 0, name: n.to_string() }).collect(),
        include_ignored: false,
        limits: RunLimits::default(),
        batching: Batching::Whole,
        first: 0,
        no_capture: false,
    })
}

fn finished(messages: &[FromWorker]) -> Vec<(u32, Outcome, String)> {
    messages
        .iter()
        .filter_map(|m| match m {
            FromWorker::Finished(TestReport { index, outcome, output, .. }) => {
                Some((*index, outcome.clone(), String::from_utf8_lossy(output).into_owned()))
            }
            _ => None,
        })
        .collect()
}

/// A libtest-like binary whose tests `p1` and `p2` are `should_panic` tests that pass and
/// `a` an ordinary one, printed as libtest prints them.
fn should_panic_binary(dir: &std::path::Path) -> String {
    script(
        dir,
        "panicking-libtest",
        r#"#!/bin/sh
while [ "$1" != "--" ]; do shift; done; shift
echo; echo "running $# tests"
for name in $(printf '%s\n' "$@" | sort); do
  case "$name" in
    p*) echo "test $name - should panic ... ok" ;;
    *) echo "test $name ... ok" ;;
  esac
done
printf '\ntest result: ok. %s passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s\n\n' "$#"
"#,
    )
}

#[test]
fn only_the_first_test_of_a_process_to_panic_is_marked() {
    let dir = std::env::temp_dir().join(format!("xdist-worker-panics-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let binary = should_panic_binary(&dir);
    let messages = serve(&[
        setup(binary, &["p2", "a", "p1"]),
        ToWorker::Run(vec![0, 1, 2]),
        ToWorker::Shutdown,
    ]);
    let mut marks: Vec<(u32, bool)> = messages
        .iter()
        .filter_map(|m| match m {
            FromWorker::Finished(TestReport { index, outcome, first_panic, .. }) => {
                assert_eq!(*outcome, Outcome::Passed, "{messages:?}");
                Some((*index, *first_panic))
            }
            _ => None,
        })
        .collect();
    marks.sort_unstable();
    // Name order runs `a`, `p1`, `p2`: `p1` panics first.
    assert_eq!(marks, vec![(0, false), (1, false), (2, true)], "{messages:?}");
}

#[test]
fn a_batch_is_reported_test_by_test_and_an_early_exit_reruns_the_rest() {
    let dir = std::env::temp_dir().join(format!("xdist-worker-serve-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let binary = fake_binary(&dir);
    // `c` exits the process before `b`'s captured output was printed; `d` (after `c` in name
    // order) runs in a fresh process, which ends without a result for it.
    let messages = serve(&[
        setup(binary, &["a", "b", "c", "d"]),
        ToWorker::Run(vec![3, 2, 1, 0]),
        ToWorker::Shutdown,
    ]);
    let mut results = finished(&messages);
    results.sort_by_key(|r| r.0);
    assert_eq!(results.len(), 4, "{messages:?}");
    assert_eq!(results[0].1, Outcome::Passed);
    assert!(matches!(results[1].1, Outcome::Failed { cause: None }));
    // A crash loses captured output, as under cargo test; the report says so.
    assert!(results[1].2.starts_with("(its captured output is lost"), "{:?}", results[1].2);
    let early = Outcome::Failed {
        cause: Some("test process exited with code 0 before the test finished".into()),
    };
    assert_eq!(results[2].1, early);
    assert_eq!(results[3].1, early, "d ran in a second process");
    let processes =
        messages.iter().filter(|m| matches!(m, FromWorker::ProcessStarted { .. })).count();
    assert_eq!(processes, 2);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_missing_binary_fails_each_test_with_the_reason() {
    let messages = serve(&[
        setup("/nonexistent/test-binary".into(), &["x", "y"]),
        ToWorker::Run(vec![0, 1]),
        ToWorker::Shutdown,
    ]);
    let results = finished(&messages);
    assert_eq!(results.len(), 2);
    for (_, outcome, _) in results {
        let Outcome::Failed { cause: Some(cause) } = outcome else { panic!("{outcome:?}") };
        assert!(
            cause.starts_with("could not start test binary /nonexistent/test-binary"),
            "{cause}"
        );
    }
}

#[test]
fn a_run_frame_before_the_setup_is_an_error() {
    let input = encode_frame(&ToWorker::Run(vec![0])).unwrap();
    let err = xdist_worker::serve(Cursor::new(input), SharedBuf::default()).unwrap_err();
    assert!(err.to_string().contains("expected the setup frame first"), "{err}");
}

/// A libtest-like script whose test `held` does not end until the file `$XDIST_FAKE_GO`
/// exists (or 30 s have passed); every test passes, and the stream ends with libtest's
/// summary and status 0.
fn fake_holding_binary(dir: &std::path::Path) -> String {
    let path = dir.join("fake-libtest-held");
    std::fs::write(
        &path,
        r#"#!/bin/sh
names=""
for arg in "$@"; do case "$arg" in -*) ;; *) names="$names $arg" ;; esac; done
count=$(printf '%s\n' $names | grep -c .)
echo; echo "running $count tests"
for name in $(printf '%s\n' $names | sort); do
  printf 'test %s ... ' "$name"
  if [ "$name" = held ]; then
    i=0
    while [ ! -e "$XDIST_FAKE_GO" ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done
  fi
  echo ok
done
printf '\ntest result: ok. %d passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s\n\n' "$count"
"#,
    )
    .unwrap();
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    path.to_string_lossy().into_owned()
}

/// A worker served on socket pairs: frames go in one at a time, and what it answers is read
/// as it comes.
struct LiveWorker {
    /// Never closed while the worker serves: a worker whose controller goes away exits the
    /// process (this test binary, before a failing test's message is out), so `Drop` leaks
    /// it, and only [`LiveWorker::shut_down`] closes it.
    input: Option<UnixStream>,
    frames: mpsc::Receiver<FromWorker>,
    /// Every frame seen so far, heartbeats left out.
    seen: Vec<FromWorker>,
    served: Option<std::thread::JoinHandle<Result<(), xdist_worker::WorkerError>>>,
}

impl Drop for LiveWorker {
    fn drop(&mut self) {
        std::mem::forget(self.input.take());
    }
}

impl LiveWorker {
    fn start(setup: &ToWorker) -> Self {
        let (mut input, worker_in) = UnixStream::pair().unwrap();
        let (worker_out, output) = UnixStream::pair().unwrap();
        let served = std::thread::spawn(move || xdist_worker::serve(worker_in, worker_out));
        input.write_all(&encode_frame(setup).unwrap()).unwrap();
        let (tx, frames) = mpsc::channel();
        std::thread::spawn(move || {
            let mut output = std::io::BufReader::new(output);
            while let Ok(Some(frame)) = read_frame::<FromWorker>(&mut output) {
                if frame != FromWorker::Heartbeat && tx.send(frame).is_err() {
                    return;
                }
            }
        });
        Self { input: Some(input), frames, seen: Vec::new(), served: Some(served) }
    }

    fn send(&mut self, frame: &ToWorker) {
        let input = self.input.as_mut().expect("not shut down");
        input.write_all(&encode_frame(frame).unwrap()).unwrap();
    }

    /// Waits (at most 30 s) for the next frame `wanted` accepts, and returns it.
    fn wait_for(&mut self, what: &str, wanted: impl Fn(&FromWorker) -> bool) -> FromWorker {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let frame = self
                .frames
                .recv_timeout(left)
                .unwrap_or_else(|e| panic!("no {what} ({e}); frames so far: {:?}", self.seen));
            self.seen.push(frame.clone());
            if wanted(&frame) {
                return frame;
            }
        }
    }

    /// Sends `Shutdown` and waits for the worker to finish what it holds; returns every
    /// frame seen.
    fn shut_down(mut self) -> Vec<FromWorker> {
        self.send(&ToWorker::Shutdown);
        self.served.take().expect("served once").join().unwrap().unwrap();
        // The worker has stopped reading: closing its input now is harmless.
        drop(self.input.take());
        std::mem::take(&mut self.seen)
    }

    /// The answer to a steal of `tests`.
    fn steal(&mut self, tests: Vec<u32>) -> Vec<u32> {
        self.send(&ToWorker::Steal(tests.clone()));
        match self.wait_for(&format!("answer to the steal of {tests:?}"), |f| {
            matches!(f, FromWorker::Released(_))
        }) {
            FromWorker::Released(released) => released,
            _ => unreachable!(),
        }
    }
}

/// The setup of four tests of [`fake_holding_binary`] in `dir` (`held` first), batched so.
fn holding_setup(dir: &std::path::Path, batching: Batching) -> ToWorker {
    let go = dir.join("go");
    let path = fake_holding_binary(dir);
    let names = ["held", "queued_1", "queued_2", "queued_3"];
    ToWorker::Setup(WorkerSetup {
        binaries: vec![BinarySpec {
            env: vec![("XDIST_FAKE_GO".into(), go.to_string_lossy().into_owned())],
            ..BinarySpec::libtest(path, "/")
        }],
        tests: names.iter().map(|n| TestSpec { binary: 0, name: n.to_string() }).collect(),
        include_ignored: false,
        limits: RunLimits::default(),
        batching,
        first: 0,
        no_capture: false,
    })
}

#[test]
fn a_steal_releases_queued_tests_and_never_one_handed_to_a_process() {
    let dir = std::env::temp_dir().join(format!("xdist-worker-steal-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let go = dir.join("go");
    let setup = holding_setup(&dir, Batching::Whole);
    let mut worker = LiveWorker::start(&setup);
    worker.send(&ToWorker::Run(vec![0]));
    // `held` is in a test process now, which does not end until `go` exists.
    worker.wait_for("the process of `held`", |f| matches!(f, FromWorker::ProcessStarted { .. }));
    worker.send(&ToWorker::Run(vec![1, 2, 3]));
    let held_released = worker.steal(vec![0]);
    let queued_released = worker.steal(vec![2, 3]);
    let mixed_released = worker.steal(vec![1, 0]);
    std::fs::write(&go, b"").unwrap();
    assert_eq!(held_released, Vec::<u32>::new(), "a test handed to a process stays");
    assert_eq!(queued_released, vec![2, 3], "queued tests are given up");
    assert_eq!(mixed_released, Vec::<u32>::new(), "all or nothing: `held` is not queued");
    worker.wait_for("the result of queued_1", |f| {
        matches!(f, FromWorker::Finished(TestReport { index: 1, .. }))
    });
    let seen = worker.shut_down();
    let mut results = finished(&seen);
    results.sort_by_key(|r| r.0);
    let outcomes: Vec<(u32, Outcome)> = results.into_iter().map(|(i, o, _)| (i, o)).collect();
    assert_eq!(outcomes, [(0, Outcome::Passed), (1, Outcome::Passed)], "{seen:?}");
    let started_released = seen.iter().any(|f| matches!(f, FromWorker::Started { index: 2 | 3 }));
    assert!(!started_released, "released tests never start here: {seen:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn under_adaptive_batching_a_steal_takes_what_the_running_process_has_not_started() {
    let dir = std::env::temp_dir().join(format!("xdist-worker-steal-in-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let go = dir.join("go");
    let mut worker = LiveWorker::start(&holding_setup(&dir, Batching::Adaptive));
    // All four in one process (a binary not seen yet is probed with 8): `held` runs first.
    worker.send(&ToWorker::Run(vec![0, 1, 2, 3]));
    worker.wait_for("the start of `held`", |f| matches!(f, FromWorker::Started { index: 0 }));
    let held_released = worker.steal(vec![0]);
    let tail_released = worker.steal(vec![2, 3]);
    std::fs::write(&go, b"").unwrap();
    assert_eq!(held_released, Vec::<u32>::new(), "a started test stays");
    assert_eq!(tail_released, vec![2, 3], "tests the process has not reached are given up");
    worker.wait_for("the result of queued_1", |f| {
        matches!(f, FromWorker::Finished(TestReport { index: 1, .. }))
    });
    worker.wait_for("the end of the process", |f| matches!(f, FromWorker::ProcessExited { .. }));
    let seen = worker.shut_down();
    let mut results = finished(&seen);
    results.sort_by_key(|r| r.0);
    let outcomes: Vec<(u32, Outcome)> = results.into_iter().map(|(i, o, _)| (i, o)).collect();
    assert_eq!(outcomes, [(0, Outcome::Passed), (1, Outcome::Passed)], "{seen:?}");
    let given_up = seen.iter().any(|f| matches!(f, FromWorker::Started { index: 2 | 3 }));
    assert!(!given_up, "given-up tests never start here: {seen:?}");
    let processes = seen.iter().filter(|f| matches!(f, FromWorker::ProcessStarted { .. })).count();
    assert_eq!(processes, 1, "nothing was left to run again: {seen:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}
