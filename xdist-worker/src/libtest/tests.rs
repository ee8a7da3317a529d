use super::*;

const NAMES: [&str; 5] = [
    "failing::tests::assert_fails",
    "failing::tests::result_err",
    "ignored::tests::slow",
    "math::tests::adds",
    "math::tests::panics",
];

/// What libtest 1.95 prints for a batch of the five tests above.
const BATCH: &str = "
running 5 tests
test failing::tests::assert_fails ... FAILED
test failing::tests::result_err ... FAILED
test ignored::tests::slow ... ignored, slow
test math::tests::adds ... ok
test math::tests::panics - should panic ... ok

failures:

---- failing::tests::assert_fails stdout ----
captured stdout

thread 'failing::tests::assert_fails' (4974) panicked at src/failing.rs:9:9:
deliberate failure

---- failing::tests::result_err stdout ----
Error: \"deliberate\"


failures:
    failing::tests::assert_fails
    failing::tests::result_err

test result: FAILED. 2 passed; 2 failed; 1 ignored; 0 measured; 17 filtered out; finished in 0.10s

";

fn verdicts(events: &[StreamEvent]) -> Vec<(usize, Verdict)> {
    events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::Ended { pos, verdict, .. } => Some((*pos, *verdict)),
            StreamEvent::Started(_) => None,
        })
        .collect()
}

fn parse_in_chunks(bytes: &[u8], chunk: usize) -> (Vec<StreamEvent>, StreamEnd) {
    let mut p = StreamParser::new(&NAMES, 1 << 20);
    let mut events = Vec::new();
    for c in bytes.chunks(chunk) {
        events.extend(p.feed(c));
    }
    let (last, end) = p.finish();
    events.extend(last);
    (events, end)
}

#[test]
fn a_whole_batch_in_any_chunking() {
    for chunk in [1, 3, 7, 64, 10_000] {
        let (events, end) = parse_in_chunks(BATCH.as_bytes(), chunk);
        assert_eq!(
            verdicts(&events),
            vec![
                (0, Verdict::Failed),
                (1, Verdict::Failed),
                (2, Verdict::Ignored),
                (3, Verdict::Ok),
                (4, Verdict::Ok)
            ],
            "chunk {chunk}"
        );
        let starts = events.iter().filter(|e| matches!(e, StreamEvent::Started(_))).count();
        assert_eq!(starts, 5, "each start announced once (chunk {chunk})");
        assert!(end.completed && end.unfinished.is_none());
        let first = String::from_utf8(end.failure_output[&0].clone()).unwrap();
        assert!(
            first.starts_with("captured stdout\n\nthread 'failing::tests::assert_fails'"),
            "{first:?}"
        );
        assert!(first.ends_with("deliberate failure\n"), "{first:?}");
        assert_eq!(end.failure_output[&1], b"Error: \"deliberate\"\n");
    }
}

#[test]
fn a_crash_leaves_the_running_test_unfinished() {
    let stream = b"\nrunning 3 tests\ntest math::tests::adds ... ok\ntest math::tests::panics - should panic ... partial \xff bytes";
    let (events, end) = parse_in_chunks(stream, 5);
    assert_eq!(verdicts(&events), vec![(3, Verdict::Ok)]);
    let (pos, noise) = end.unfinished.expect("the crashed test");
    assert_eq!(pos, 4);
    assert_eq!(noise, b"partial \xff bytes");
    assert!(!end.completed);
}

#[test]
fn stray_output_does_not_hide_or_fake_a_verdict() {
    // The test writes to fd 1 directly: a line ending in "ok", then bytes with no newline.
    let stream = b"test math::tests::adds ... look ok\nmore\nnot a newline FAILED\ntest math::tests::panics ... \xfe\xfdok\n\ntest result: ok. 2 passed\n";
    let (events, end) = parse_in_chunks(stream, 4);
    assert_eq!(verdicts(&events), vec![(3, Verdict::Failed), (4, Verdict::Ok)]);
    let StreamEvent::Ended { noise, .. } = &events[1] else { panic!("{events:?}") };
    assert_eq!(noise, b"look ok\nmore\n");
    assert!(end.completed);
}

#[test]
fn only_names_of_the_batch_start_a_test() {
    let stream = "test math::tests::adds ... test other::name ... \nok\n\ntest result: ok.\n";
    let (events, _) = parse_in_chunks(stream.as_bytes(), 100);
    assert_eq!(verdicts(&events), vec![(3, Verdict::Ok)]);
}

#[test]
fn twenty_thousand_lines_of_output_stay_bounded() {
    let mut stream = String::from("test math::tests::adds ... ");
    for i in 0..20_000 {
        stream.push_str(&format!("line {i} of noise\n"));
    }
    stream.push_str("ok\n\ntest result: ok.\n");
    let mut p = StreamParser::new(&NAMES, 1000);
    let mut events = p.feed(stream.as_bytes());
    events.extend(p.finish().0);
    assert_eq!(verdicts(&events), vec![(3, Verdict::Ok)]);
    let StreamEvent::Ended { noise, .. } = &events[1] else { panic!() };
    assert!(noise.len() < 2200, "kept {} bytes", noise.len());
    assert!(String::from_utf8_lossy(noise).contains("truncated by cargo-xdist"));
}

#[test]
fn start_lines_with_nothing_between_them_all_count() {
    // A start line, no verdict, and the next start line in one chunk with no newline: the
    // first test ended without a verdict (failed), the second is the one that was running.
    let (events, end) =
        parse_in_chunks(b"test math::tests::adds ... test math::tests::panics ... ", 1000);
    assert_eq!(verdicts(&events), vec![(3, Verdict::Failed)]);
    assert_eq!(end.unfinished.map(|u| u.0), Some(4));
    assert_eq!(end.started, vec![false, false, false, true, true]);
}

#[test]
fn a_line_without_end_is_cut_but_its_verdict_is_kept() {
    let mut p = StreamParser::new(&NAMES, 4096);
    let mut events = p.feed(b"test math::tests::adds ... ");
    for _ in 0..64 {
        events.extend(p.feed(&[b'z'; 64 * 1024]));
    }
    events.extend(p.feed(b"ok\n\ntest result: ok.\n"));
    events.extend(p.finish().0);
    assert_eq!(verdicts(&events), vec![(3, Verdict::Ok)]);
    let StreamEvent::Ended { noise, .. } = &events[1] else { panic!("{events:?}") };
    assert!(noise.len() < 9000, "kept {} bytes", noise.len());
}

#[test]
fn each_failure_section_is_bounded_on_its_own() {
    let big = "y".repeat(100_000);
    let stream = format!(
        "test failing::tests::assert_fails ... FAILED\ntest failing::tests::result_err ... FAILED\n\nfailures:\n\n---- failing::tests::assert_fails stdout ----\n{big}\nend of first\n\n---- failing::tests::result_err stdout ----\nsecond\n\n\nfailures:\n    a\n\ntest result: FAILED.\n"
    );
    let mut p = StreamParser::new(&NAMES, 1000);
    p.feed(stream.as_bytes());
    let (_, end) = p.finish();
    let first = String::from_utf8_lossy(&end.failure_output[&0]).into_owned();
    assert!(first.len() < 2200 && first.ends_with("end of first\n"), "{}", first.len());
    assert_eq!(end.failure_output[&1], b"second\n");
}
