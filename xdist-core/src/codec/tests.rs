use std::io::Cursor;

use proptest::prelude::*;

use super::*;
use crate::protocol::{
    Batching, BinarySpec, FromWorker, Harness, Outcome, OutputStream, RunLimits, TestLimits,
    TestReport, TestSpec, ToWorker, WorkerSetup,
};

fn outcome() -> impl Strategy<Value = Outcome> {
    prop_oneof![
        Just(Outcome::Passed),
        Just(Outcome::Ignored),
        prop::option::of(".{0,40}").prop_map(|cause| Outcome::Failed { cause }),
        any::<u64>().prop_map(|after_ms| Outcome::TimedOut { after_ms }),
    ]
}

fn from_worker() -> impl Strategy<Value = FromWorker> {
    prop_oneof![
        any::<u32>().prop_map(|index| FromWorker::Started { index }),
        (any::<u32>(), any::<u64>())
            .prop_map(|(index, elapsed_ms)| FromWorker::Slow { index, elapsed_ms }),
        any::<u32>().prop_map(|pid| FromWorker::ProcessStarted { pid }),
        Just(FromWorker::Heartbeat),
        (any::<bool>(), any::<u32>(), any::<u64>(), any::<u64>()).prop_map(
            |(leaked, binary, cpu_ms, wall_ms)| FromWorker::ProcessExited {
                leaked,
                binary,
                cpu_ms,
                wall_ms
            }
        ),
        any::<u32>().prop_map(|binary| FromWorker::OneNamePerProcess { binary }),
        Just(FromWorker::Ready),
        Just(FromWorker::Requeued),
        prop::collection::vec(any::<u32>(), 0..20).prop_map(FromWorker::Released),
        (
            any::<u32>(),
            outcome(),
            any::<u64>(),
            prop::collection::vec(any::<u8>(), 0..300),
            any::<bool>()
        )
            .prop_map(|(index, outcome, duration_nanos, output, first_panic)| {
                FromWorker::Finished(TestReport {
                    index,
                    outcome,
                    duration_nanos,
                    output,
                    first_panic,
                })
            }),
        (any::<Option<u32>>(), any::<bool>(), prop::collection::vec(any::<u8>(), 0..300)).prop_map(
            |(index, err, bytes)| {
                let stream = if err { OutputStream::Stderr } else { OutputStream::Stdout };
                FromWorker::Output { index, stream, bytes }
            }
        ),
    ]
}

fn to_worker() -> impl Strategy<Value = ToWorker> {
    let harness = prop_oneof![Just(Harness::Libtest), Just(Harness::Whole)];
    let binary = (
        ".{0,30}",
        ".{0,30}",
        prop::collection::vec((".{0,10}", ".{0,10}"), 0..4),
        harness,
        any::<bool>(),
    )
        .prop_map(|(path, cwd, env, harness, one_name)| BinarySpec {
            path,
            cwd,
            env,
            runner: Vec::new(),
            args: Vec::new(),
            unlisted: Vec::new(),
            harness,
            one_name,
            show_output: harness == Harness::Libtest,
        });
    let test = (any::<u32>(), ".{0,40}").prop_map(|(binary, name)| TestSpec { binary, name });
    prop_oneof![
        Just(ToWorker::Shutdown),
        Just(ToWorker::Abort),
        prop::collection::vec(any::<u32>(), 0..100).prop_map(ToWorker::Run),
        prop::collection::vec(any::<u32>(), 0..100).prop_map(ToWorker::Steal),
        (prop::collection::vec(binary, 0..4), prop::collection::vec(test, 0..20), any::<bool>())
            .prop_map(|(binaries, tests, include_ignored)| {
                let mut limits = RunLimits::default();
                let per_test = TestLimits { slow_ms: Some(5), timeout_ms: None };
                limits.per_test.insert(tests.len() as u32, per_test);
                let batching = if include_ignored { Batching::Adaptive } else { Batching::Whole };
                let first = tests.len() as u32 / 2;
                let no_capture = first % 2 == 1;
                let setup = WorkerSetup {
                    binaries,
                    tests,
                    include_ignored,
                    limits,
                    batching,
                    first,
                    no_capture,
                };
                ToWorker::Setup(setup)
            }),
    ]
}

proptest! {
    #[test]
    fn worker_messages_round_trip(messages in prop::collection::vec(from_worker(), 0..10)) {
        let mut stream = Vec::new();
        for m in &messages {
            write_frame(&mut stream, m).unwrap();
        }
        let mut input = Cursor::new(stream);
        for m in &messages {
            let decoded = read_frame::<FromWorker>(&mut input).unwrap();
            prop_assert_eq!(decoded.as_ref(), Some(m));
        }
        prop_assert!(read_frame::<FromWorker>(&mut input).unwrap().is_none());
    }

    #[test]
    fn controller_messages_round_trip(message in to_worker()) {
        let frame = encode_frame(&message).unwrap();
        let decoded = read_frame::<ToWorker>(&mut Cursor::new(frame)).unwrap();
        prop_assert_eq!(decoded, Some(message));
    }

    #[test]
    fn any_truncation_is_an_error(message in from_worker(), cut in any::<prop::sample::Index>()) {
        let frame = encode_frame(&message).unwrap();
        let cut = 1 + cut.index(frame.len() - 1);
        let result = read_frame::<FromWorker>(&mut Cursor::new(&frame[..cut]));
        prop_assert!(result.is_err(), "a frame cut at {cut} of {} decoded", frame.len());
    }

    #[test]
    fn garbage_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let mut input = Cursor::new(bytes);
        for _ in 0..10 {
            match read_frame::<FromWorker>(&mut input) {
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => break,
            }
        }
    }
}

#[test]
fn oversized_prefix_is_rejected_before_reading() {
    let mut frame = (MAX_FRAME_LEN + 1).to_le_bytes().to_vec();
    frame.extend_from_slice(&[0; 16]);
    let err = read_frame::<FromWorker>(&mut Cursor::new(frame)).unwrap_err();
    assert!(matches!(err, FrameError::TooLarge(n) if n == MAX_FRAME_LEN + 1), "{err}");
}

#[test]
fn lying_prefix_is_truncated_not_allocated() {
    let mut frame = (MAX_FRAME_LEN - 1).to_le_bytes().to_vec();
    frame.extend_from_slice(b"short");
    let err = read_frame::<FromWorker>(&mut Cursor::new(frame)).unwrap_err();
    assert!(err.to_string().starts_with("truncated frame"), "{err}");
}

#[test]
fn unknown_variant_is_malformed() {
    let frame = [1, 0, 0, 0, 0xEE];
    let err = read_frame::<FromWorker>(&mut Cursor::new(frame)).unwrap_err();
    assert!(matches!(err, FrameError::Malformed(_)), "{err}");
}

#[test]
fn trailing_bytes_are_malformed() {
    let mut frame = encode_frame(&ToWorker::Shutdown).unwrap();
    frame.push(0);
    frame[0] += 1;
    let err = read_frame::<ToWorker>(&mut Cursor::new(frame)).unwrap_err();
    assert!(err.to_string().contains("trailing"), "{err}");
}
