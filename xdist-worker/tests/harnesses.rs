//! Test binaries that are not libtest, played by shell scripts: a harness that takes one
//! name per process (as libtest-mimic's do) and one that pads its names. The worker must
//! give each test the outcome the harness gives it, and call nothing a failure just because
//! the command line had several names.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use xdist_core::codec;
use xdist_core::protocol::{
    Batching, BinarySpec, FromWorker, Outcome, RunLimits, TestSpec, ToWorker, WorkerSetup,
};

/// A harness that rejects more than one name; for one name it passes `ok_*` tests, fails
/// `bad_*` ones and pads names to align its result lines. `fail_start` names a test whose
/// process cannot start at all.
const ONE_NAME: &str = r#"#!/bin/sh
while [ "$1" != "--" ]; do shift; done; shift
if [ $# -gt 1 ]; then echo "error: unexpected argument '$2' found" >&2; exit 2; fi
case "$1" in
  broken_*) echo "cannot start" >&2; exit 3 ;;
esac
printf '\nrunning 1 test\n'
case "$1" in
  ok_*) printf 'test %s    ... ok\n\ntest result: ok. 1 passed; 0 failed; 0 ignored; 0 filtered out; finished in 0.00s\n\n' "$1"; exit 0 ;;
  *) printf 'test %s    ... FAILED\n\nfailures:\n\n---- %s stdout ----\nit failed\n\n\nfailures:\n    %s\n\ntest result: FAILED. 0 passed; 1 failed; 0 ignored; 0 filtered out; finished in 0.00s\n\n' "$1" "$1" "$1"; exit 101 ;;
esac
"#;

/// The harness, written once per test (tests run in parallel: a script being written
/// cannot be started, ETXTBSY).
fn harness(test: &str) -> BinarySpec {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("harnesses");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("one-name-{test}"));
    std::fs::write(&path, ONE_NAME).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    BinarySpec::libtest(path.to_string_lossy(), dir.to_string_lossy())
}

/// Serves a worker over in-memory pipes with `names` in one `Run` frame; returns each
/// test's outcome and output, and how many processes it started.
fn serve(test: &str, names: &[&str]) -> (Vec<(String, Outcome, String)>, usize) {
    let (results, processes, _) = serve_known(test, names, false);
    (results, processes)
}

/// [`serve`], the binary marked `one_name` as an earlier run found it; also returns the
/// binaries the worker said take one name.
fn serve_known(
    test: &str,
    names: &[&str],
    one_name: bool,
) -> (Vec<(String, Outcome, String)>, usize, Vec<u32>) {
    let setup = WorkerSetup {
        binaries: vec![BinarySpec { one_name, ..harness(test) }],
        tests: names.iter().map(|n| TestSpec { binary: 0, name: n.to_string() }).collect(),
        include_ignored: false,
        limits: RunLimits::default(),
        batching: Batching::Whole,
        first: 0,
        no_capture: false,
    };
    let mut input = Vec::new();
    codec::write_frame(&mut input, &ToWorker::Setup(setup)).unwrap();
    codec::write_frame(&mut input, &ToWorker::Run((0..names.len() as u32).collect())).unwrap();
    codec::write_frame(&mut input, &ToWorker::Shutdown).unwrap();
    let output = SharedBuf::default();
    xdist_worker::serve(std::io::Cursor::new(input), output.clone()).unwrap();
    let bytes = output.0.lock().unwrap().clone();
    let mut reader = &bytes[..];
    let (mut results, mut processes, mut told) = (Vec::new(), 0, Vec::new());
    while let Some(frame) = codec::read_frame::<FromWorker>(&mut reader).unwrap() {
        match frame {
            FromWorker::Finished(r) => results.push((
                names[r.index as usize].to_string(),
                r.outcome,
                String::from_utf8_lossy(&r.output).into_owned(),
            )),
            FromWorker::ProcessStarted { .. } => processes += 1,
            FromWorker::OneNamePerProcess { binary } => told.push(binary),
            _ => {}
        }
    }
    results.sort_by(|a, b| a.0.cmp(&b.0));
    (results, processes, told)
}

#[derive(Clone, Default)]
struct SharedBuf(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for SharedBuf {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_harness_that_takes_one_name_gets_one_name_per_process() {
    let (results, processes) = serve("split", &["ok_a", "bad_b", "ok_c", "broken_d"]);
    let outcomes: Vec<(&str, &Outcome)> = results.iter().map(|r| (r.0.as_str(), &r.1)).collect();
    assert_eq!(outcomes[0], ("bad_b", &Outcome::Failed { cause: None }));
    assert_eq!(outcomes[1].0, "broken_d");
    let Outcome::Failed { cause: Some(cause) } = outcomes[1].1 else { panic!("{results:?}") };
    assert_eq!(cause, "test process exited with code 3 before running any test");
    assert!(results[1].2.contains("cannot start"), "its stderr is its output");
    assert_eq!(outcomes[2], ("ok_a", &Outcome::Passed));
    assert_eq!(outcomes[3], ("ok_c", &Outcome::Passed));
    assert!(results[0].2.contains("it failed"), "the failure's own output: {results:?}");
    // One rejected process of four names, then one per name.
    assert_eq!(processes, 5);
}

#[test]
fn the_controller_is_told_once_and_a_known_one_name_binary_gets_one_name_from_the_start() {
    let names = ["ok_a", "bad_b", "ok_c"];
    let (found, processes, told) = serve_known("tell", &names, false);
    assert_eq!((processes, told), (4, vec![0]), "one rejected process, then one per name");
    let (known, processes, told) = serve_known("known", &names, true);
    assert_eq!((processes, told), (3, vec![]), "no process of several names");
    let outcomes = |r: &[(String, Outcome, String)]| -> Vec<(String, Outcome)> {
        r.iter().map(|(n, o, _)| (n.clone(), o.clone())).collect()
    };
    assert_eq!(outcomes(&known), outcomes(&found));
}

#[test]
fn a_single_name_that_cannot_start_is_a_failure_at_once() {
    let (results, processes) = serve("single", &["broken_x"]);
    assert_eq!(processes, 1);
    assert!(matches!(results[0].1, Outcome::Failed { cause: Some(_) }), "{results:?}");
}

#[test]
fn a_harness_that_hangs_before_its_first_test_is_stopped_by_the_timeout() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("harnesses");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("hangs-in-setup");
    std::fs::write(&path, "#!/bin/sh\nsleep 30\n").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    let binary = BinarySpec::libtest(path.to_string_lossy(), dir.to_string_lossy());
    let limits = RunLimits { timeout_ms: Some(500), kill_grace_ms: 200, ..RunLimits::default() };
    let group = std::sync::atomic::AtomicI32::new(0);
    let batch = xdist_worker::batch::Batch {
        binary: &binary,
        binary_index: 0,
        tests: vec![(0, "a"), (1, "b")],
        include_ignored: false,
        filters: None,
        skips: None,
        no_capture: false,
        limits: &limits,
        current_group: &group,
        in_flight: None,
    };
    let mut frames = Frames::default();
    let started = std::time::Instant::now();
    let rest = batch.run(&mut frames).unwrap();
    assert_eq!(rest, xdist_worker::batch::Rest::Done, "not split: it hung, it did not refuse");
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    let causes: Vec<String> = frames
        .0
        .iter()
        .filter_map(|f| match f {
            FromWorker::Finished(r) => match &r.outcome {
                Outcome::Failed { cause: Some(c) } => Some(c.clone()),
                other => panic!("{other:?}"),
            },
            _ => None,
        })
        .collect();
    assert_eq!(causes, vec!["test process ran past --timeout (0.5s) before running any test"; 2]);
}

#[derive(Default)]
struct Frames(Vec<FromWorker>);

impl xdist_worker::batch::Sink for Frames {
    fn send(&mut self, message: FromWorker) -> std::io::Result<()> {
        self.0.push(message);
        Ok(())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
