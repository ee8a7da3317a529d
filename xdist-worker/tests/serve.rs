//! The worker on in-memory pipes: the frames it answers with, for a real test binary (this
//! crate's own unit tests are not used; `/bin/sh` stands in as a libtest-like binary) and for
//! a binary that does not exist.

use std::io::{Cursor, Write};
use std::sync::{Arc, Mutex};

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

/// A stand-in for a libtest binary: a shell script that prints libtest's stream for the
/// names it is given, in name order as libtest runs them: `a` passes, `b` fails, `c` exits
/// the process, and the script never gives `d` a result.
fn fake_binary(dir: &std::path::Path) -> String {
    let path = dir.join("fake-libtest");
    std::fs::write(
        &path,
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
    .unwrap();
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    path.to_string_lossy().into_owned()
}

fn setup(path: String, names: &[&str]) -> ToWorker {
    ToWorker::Setup(WorkerSetup {
        binaries: vec![BinarySpec { path, cwd: "/".into(), env: vec![] }],
        tests: names.iter().map(|n| TestSpec { binary: 0, name: n.to_string() }).collect(),
        include_ignored: false,
        limits: RunLimits::default(),
        batching: Batching::Whole,
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
    assert_eq!(results[1].2, "", "a crash loses captured output, as under cargo test");
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
