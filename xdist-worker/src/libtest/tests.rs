use proptest::prelude::*;

use super::*;

const NAMES: [&str; 5] = [
    "failing::tests::assert_fails",
    "failing::tests::result_err",
    "ignored::tests::slow",
    "math::tests::adds",
    "math::tests::panics",
];

const SUMMARY_OK_2: &str =
    "test result: ok. 2 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s";

/// What libtest 1.95 prints for a batch of the five tests above (exit status 101).
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

pub(super) fn verdicts(events: &[StreamEvent]) -> Vec<(usize, Verdict)> {
    let mut v: Vec<(usize, Verdict)> = events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::Ended { pos, verdict, .. } => Some((*pos, *verdict)),
            StreamEvent::Started(_) => None,
        })
        .collect();
    v.sort_by_key(|e| e.0);
    v
}

fn parse(names: &[&str], chunks: &[&[u8]], exit: Option<i32>) -> (Vec<StreamEvent>, StreamEnd) {
    let mut p = StreamParser::new(names, 1 << 20);
    let mut events = Vec::new();
    for c in chunks {
        events.extend(p.feed(c));
    }
    let (last, end) = p.finish(exit);
    events.extend(last);
    (events, end)
}

fn parse_in_chunks(bytes: &[u8], chunk: usize, exit: Option<i32>) -> (Vec<StreamEvent>, StreamEnd) {
    let chunks: Vec<&[u8]> = bytes.chunks(chunk).collect();
    parse(&NAMES, &chunks, exit)
}

#[test]
fn a_whole_batch_in_any_chunking() {
    for chunk in [1, 3, 7, 64, 10_000] {
        let (events, end) = parse_in_chunks(BATCH.as_bytes(), chunk, Some(101));
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
fn a_should_panic_start_line_marks_its_test_in_any_chunking() {
    for chunk in [1, 5, 64, 10_000] {
        let mut p = StreamParser::new(&NAMES, 1000);
        for piece in BATCH.as_bytes().chunks(chunk) {
            p.feed(piece);
        }
        // Only `math::tests::panics` started as `- should panic`.
        assert_eq!(p.should_panic(), &[false, false, false, false, true], "chunk {chunk}");
    }
}

#[test]
fn the_last_outcome_waits_for_a_normal_exit() {
    // The same stream, but the process was killed or exited otherwise: the last test did not
    // finish, whatever it printed; the others did.
    for exit in [None, Some(0), Some(1), Some(-1)] {
        let (events, end) = parse_in_chunks(BATCH.as_bytes(), 100, exit);
        assert_eq!(verdicts(&events).len(), 4, "{exit:?}");
        assert_eq!(end.unfinished.map(|u| u.0), Some(4), "{exit:?}");
        assert!(!end.completed);
    }
}

#[test]
fn a_crash_leaves_the_running_test_unfinished() {
    let stream = b"\nrunning 3 tests\ntest math::tests::adds ... ok\ntest math::tests::panics - should panic ... partial \xff bytes";
    let (events, end) = parse_in_chunks(stream, 5, None);
    assert_eq!(verdicts(&events), vec![(3, Verdict::Ok)]);
    let (pos, noise) = end.unfinished.expect("the crashed test");
    assert_eq!(pos, 4);
    assert_eq!(noise, b"partial \xff bytes");
    assert!(!end.completed);
}

#[test]
fn a_result_word_then_exit_or_abort_is_not_a_pass() {
    // `all ok` written to fd 1, then `exit(0)` (status 0) or `abort()` (a signal).
    for (noise, exit) in [("all ok\n", Some(0)), ("looks ok\n", None), ("ok\n", Some(0))] {
        let stream = format!(
            "\nrunning 2 tests\ntest math::tests::adds ... ok\ntest math::tests::panics ... {noise}"
        );
        let (events, end) = parse(&NAMES, &[stream.as_bytes()], exit);
        assert_eq!(verdicts(&events), vec![(3, Verdict::Ok)], "{noise:?}");
        assert_eq!(end.unfinished.map(|u| u.0), Some(4), "{noise:?}");
    }
}

#[test]
fn the_running_test_stays_running_after_a_fake_result() {
    let mut p = StreamParser::new(&NAMES, 1000);
    p.feed(b"\nrunning 2 tests\ntest math::tests::adds ... ok\n");
    p.feed(b"\ntest result: ok. 2 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out\n");
    assert_eq!(p.running(), Some(3), "the clock still runs for the test");
    assert_eq!(p.showing_verdict(), Some(3));
}

#[test]
fn a_fake_summary_in_the_middle_does_not_end_the_tests() {
    // The first test prints a summary of its own and then panics; libtest goes on.
    let names = ["a_fake", "b", "c", "d"];
    let stream = format!(
        "\nrunning 4 tests\ntest a_fake ... ok\n\n{SUMMARY_OK_2}\nFAILED\ntest b ... ok\ntest c ... ok\ntest d ... ok\n\nfailures:\n\n---- a_fake stdout ----\npanicked\n\n\nfailures:\n    a_fake\n\ntest result: FAILED. 3 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s\n\n"
    );
    for chunk in [1, 5, 1000] {
        let chunks: Vec<&[u8]> = stream.as_bytes().chunks(chunk).collect();
        let (events, end) = parse(&names, &chunks, Some(101));
        assert_eq!(
            verdicts(&events),
            vec![(0, Verdict::Failed), (1, Verdict::Ok), (2, Verdict::Ok), (3, Verdict::Ok)]
        );
        assert!(end.completed);
        assert_eq!(end.failure_output[&0], b"panicked\n");
    }
}

#[test]
fn a_fake_summary_in_the_last_test_is_settled_by_the_real_one() {
    let names = ["a", "b"];
    let stream = format!(
        "\nrunning 2 tests\ntest a ... ok\ntest b ... ok\n\n{SUMMARY_OK_2}\nFAILED\n\nfailures:\n\n---- b stdout ----\nboom\n\n\nfailures:\n    b\n\ntest result: FAILED. 1 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s\n\n"
    );
    let (events, end) = parse(&names, &[stream.as_bytes()], Some(101));
    assert_eq!(verdicts(&events), vec![(0, Verdict::Ok), (1, Verdict::Failed)]);
    assert!(end.completed);
    // A fake alone and then an exit with status 0: not finished.
    let fake = "\nrunning 2 tests\ntest a ... ok\ntest b ... ok\n\ntest result: ok. 1 passed\n";
    let (events, end) = parse(&names, &[fake.as_bytes()], Some(0));
    assert_eq!(verdicts(&events), vec![(0, Verdict::Ok)]);
    assert_eq!(end.unfinished.map(|u| u.0), Some(1));
}

#[test]
fn only_the_next_name_in_sorted_order_can_start() {
    // `a` prints the start line of a later test (and of itself) 100 ms into its run.
    let names = ["t::z_later", "t::a", "t::b"];
    let stream = "\nrunning 3 tests\ntest t::a ... test t::z_later ... ok\ntest t::a ... ok\nok\ntest t::b ... ok\ntest t::z_later ... ok\n\ntest result: ok. 3 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s\n\n";
    for chunk in [1, 2, 3, 1000] {
        let chunks: Vec<&[u8]> = stream.as_bytes().chunks(chunk).collect();
        let (events, end) = parse(&names, &chunks, Some(0));
        assert_eq!(
            verdicts(&events),
            vec![(0, Verdict::Ok), (1, Verdict::Ok), (2, Verdict::Ok)],
            "chunk {chunk}"
        );
        let starts: Vec<usize> = events
            .iter()
            .filter_map(|e| if let StreamEvent::Started(p) = e { Some(*p) } else { None })
            .collect();
        assert_eq!(starts, vec![1, 2, 0]);
        assert!(end.completed);
    }
}

#[test]
fn a_missing_name_lets_any_later_name_start() {
    // libtest found two of the three names: the order has a gap.
    let names = ["a", "b", "c"];
    let stream = format!("\nrunning 2 tests\ntest a ... ok\ntest c ... ok\n\n{SUMMARY_OK_2}\n\n");
    let (events, end) = parse(&names, &[stream.as_bytes()], Some(0));
    assert_eq!(verdicts(&events), vec![(0, Verdict::Ok), (2, Verdict::Ok)]);
    assert!(end.completed);
    assert_eq!(end.started, vec![true, false, true]);
}

#[test]
fn a_result_line_hidden_by_later_output_is_settled_by_the_failures_list() {
    let names = ["a", "b"];
    let failed = "\nrunning 2 tests\ntest a ... FAILED\nlate output\ntest b ... ok\n\nfailures:\n\n---- a stdout ----\nx\n\n\nfailures:\n    a\n\ntest result: FAILED. 1 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s\n\n";
    let (events, end) = parse(&names, &[failed.as_bytes()], Some(101));
    assert_eq!(verdicts(&events), vec![(0, Verdict::Failed), (1, Verdict::Ok)]);
    assert!(end.completed);
    let passed = format!(
        "\nrunning 2 tests\ntest a ... ok\nlate FAILED output\ntest b ... ok\n\n{SUMMARY_OK_2}\n\n"
    );
    let (events, _) = parse(&names, &[passed.as_bytes()], Some(0));
    assert_eq!(verdicts(&events), vec![(0, Verdict::Ok), (1, Verdict::Ok)]);
    // No normal end: the last result word seen is all there is.
    let (events, end) =
        parse(&names, &[&passed.as_bytes()[..passed.find("test b").unwrap()]], None);
    assert_eq!(verdicts(&events), vec![]);
    assert_eq!(end.unfinished.map(|u| u.0), Some(0));
}

#[test]
fn a_summary_settles_only_what_it_agrees_with() {
    let names = ["a", "b"];
    // A lingering child's output after the summary is only output.
    let stream =
        format!("\nrunning 2 tests\ntest a ... ok\ntest b ... ok\n\n{SUMMARY_OK_2}\nFAILED\n");
    let (events, end) = parse(&names, &[stream.as_bytes()], Some(0));
    assert_eq!(verdicts(&events), vec![(0, Verdict::Ok), (1, Verdict::Ok)]);
    assert!(end.completed);
    // Counts that disagree with what ran, or a list that names a passing test.
    let wrong = "\nrunning 2 tests\ntest a ... ok\ntest b ... ok\n\ntest result: ok. 3 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s\n";
    let (_, end) = parse(&names, &[wrong.as_bytes()], Some(0));
    assert_eq!(end.unfinished.map(|u| u.0), Some(1));
    let listed = "\nrunning 2 tests\ntest a ... ok\ntest b ... FAILED\n\nfailures:\n    a\n\ntest result: FAILED. 1 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s\n";
    let (events, end) = parse(&names, &[listed.as_bytes()], Some(101));
    assert_eq!(verdicts(&events), vec![(0, Verdict::Ok)]);
    assert_eq!(end.unfinished.map(|u| u.0), Some(1));
}

#[test]
fn stray_output_does_not_hide_or_fake_a_verdict() {
    // The test writes to fd 1 directly: a line ending in "ok", then bytes with no newline.
    let stream = format!(
        "\nrunning 2 tests\ntest math::tests::adds ... look ok\nmore\nnot a newline FAILED\ntest math::tests::panics ... \u{fe}ok\n\n{SUMMARY_OK_2}\n"
    );
    let stream = stream.into_bytes();
    let (events, end) = parse(&["math::tests::adds", "math::tests::panics"], &[&stream], Some(0));
    // The summary says two passed, yet the first showed FAILED last: the counts disagree.
    assert!(!end.completed);
    let StreamEvent::Ended { noise, verdict, .. } = &events[1] else { panic!("{events:?}") };
    assert_eq!(*verdict, Verdict::Failed);
    assert_eq!(noise, b"look ok\nmore\n");
}

#[test]
fn only_names_of_the_batch_start_a_test() {
    let stream = "test math::tests::adds ... test other::name ... \nok\n";
    let (events, end) = parse_in_chunks(stream.as_bytes(), 100, None);
    assert_eq!(verdicts(&events), vec![]);
    assert_eq!(end.started, vec![false, false, false, true, false]);
}

#[test]
fn twenty_thousand_lines_of_output_stay_bounded() {
    let mut stream = String::from("\nrunning 2 tests\ntest math::tests::adds ... ");
    for i in 0..20_000 {
        stream.push_str(&format!("line {i} of noise\n"));
    }
    stream.push_str("ok\ntest math::tests::panics ... ok\n");
    let mut p = StreamParser::new(&NAMES, 1000);
    let mut events = p.feed(stream.as_bytes());
    events.extend(p.finish(None).0);
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
        parse_in_chunks(b"test math::tests::adds ... test math::tests::panics ... ", 1000, None);
    assert_eq!(verdicts(&events), vec![(3, Verdict::Failed)]);
    assert_eq!(end.unfinished.map(|u| u.0), Some(4));
    assert_eq!(end.started, vec![false, false, false, true, true]);
}

#[test]
fn a_line_without_end_is_cut_but_its_verdict_is_kept() {
    let mut p = StreamParser::new(&NAMES, 4096);
    let mut events = p.feed(b"\nrunning 2 tests\ntest math::tests::adds ... ");
    for _ in 0..64 {
        events.extend(p.feed(&[b'z'; 64 * 1024]));
    }
    events.extend(p.feed(b"ok\ntest math::tests::panics ... "));
    events.extend(p.finish(None).0);
    assert_eq!(verdicts(&events), vec![(3, Verdict::Ok)]);
    let StreamEvent::Ended { noise, .. } = &events[1] else { panic!("{events:?}") };
    assert!(noise.len() < 9000, "kept {} bytes", noise.len());
}

#[test]
fn each_failure_section_is_bounded_on_its_own() {
    let big = "y".repeat(100_000);
    let stream = format!(
        "\nrunning 2 tests\ntest failing::tests::assert_fails ... FAILED\ntest failing::tests::result_err ... FAILED\n\nfailures:\n\n---- failing::tests::assert_fails stdout ----\n{big}\nend of first\n\n---- failing::tests::result_err stdout ----\nsecond\n\n\nfailures:\n    failing::tests::assert_fails\n    failing::tests::result_err\n\ntest result: FAILED. 0 passed; 2 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s\n"
    );
    let mut p = StreamParser::new(&NAMES, 1000);
    p.feed(stream.as_bytes());
    let (_, end) = p.finish(Some(101));
    assert!(end.completed);
    let first = String::from_utf8_lossy(&end.failure_output[&0]).into_owned();
    assert!(first.len() < 2200 && first.ends_with("end of first\n"), "{}", first.len());
    assert_eq!(end.failure_output[&1], b"second\n");
}

#[test]
fn a_few_kilobytes_without_newline_are_read_up_to_the_result_word() {
    // A test writes 2,000 dots around the capture (a progress bar) and passes; libtest's `ok`
    // ends that line.
    let dots = ".".repeat(2000);
    let tail = format!("ok\ntest math::tests::panics ... ok\n\n{SUMMARY_OK_2}\n\n");
    let chunks: [&[u8]; 3] =
        [b"\nrunning 2 tests\ntest math::tests::adds ... ", dots.as_bytes(), tail.as_bytes()];
    let (events, end) = parse(&NAMES, &chunks, Some(0));
    assert_eq!(verdicts(&events), vec![(3, Verdict::Ok), (4, Verdict::Ok)]);
    assert!(end.completed);
}

#[test]
fn a_start_line_after_a_long_stray_line_is_found() {
    // `adds` passed, and a child it left behind wrote 64,000 bytes without a newline; then
    // libtest starts `panics`, which writes 2,000 bytes at once: one read brings the line past
    // the cut.
    let mut start = b"test math::tests::panics ... ".to_vec();
    start.extend_from_slice(&[b'y'; 2000]);
    let summary = format!("ok\n\n{SUMMARY_OK_2}\n\n");
    let chunks: [&[u8]; 4] = [
        b"\nrunning 2 tests\ntest math::tests::adds ... ok\n",
        &[b'z'; 64_000],
        &start,
        summary.as_bytes(),
    ];
    let (events, end) = parse(&NAMES, &chunks, Some(0));
    assert_eq!(verdicts(&events), vec![(3, Verdict::Ok), (4, Verdict::Ok)]);
    assert_eq!(end.started, vec![false, false, false, true, true]);
    assert!(end.completed);
}

#[test]
fn a_line_without_end_holds_a_bounded_amount_of_memory() {
    let mut p = StreamParser::new(&NAMES, 1000);
    let mut events = p.feed(b"\nrunning 2 tests\ntest math::tests::adds ... ");
    // 10,000 bytes at a time never lands on the cut's threshold exactly.
    for i in 0..100 {
        events.extend(p.feed(&[b'z'; 10_000]));
        assert!(p.line.len() <= MAX_PARTIAL_LINE, "{} bytes held after {i} chunks", p.line.len());
    }
    events.extend(p.feed(b"ok\ntest math::tests::panics ... "));
    assert_eq!(verdicts(&events), vec![(3, Verdict::Ok)]);
    assert_eq!(p.running(), Some(4));
}

#[test]
fn an_ignored_test_whose_result_line_other_output_hid_stays_ignored() {
    // `a_spawns` passes and leaves a child that writes a line after `b_ignored`'s result.
    let names = ["a_spawns", "b_ignored", "c"];
    let stream = "\nrunning 3 tests\ntest a_spawns ... ok\ntest b_ignored ... ignored, needs a database\nchild of a_spawns: done\ntest c ... ok\n\ntest result: ok. 2 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.00s\n\n";
    let (events, end) = parse(&names, &[stream.as_bytes()], Some(0));
    assert_eq!(verdicts(&events), vec![(0, Verdict::Ok), (1, Verdict::Ignored), (2, Verdict::Ok)]);
    assert!(end.completed);
}

/// What a test binary run by a test with its stdout inherited prints into the stream.
const NESTED_RUN: &str = "\nrunning 1 test\ntest inner ... ok\n\ntest result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s\n\n";

#[test]
fn a_nested_test_run_is_the_output_of_the_test_that_ran_it() {
    let names = ["a", "b"];
    let stream = format!(
        "\nrunning 2 tests\ntest a ... {NESTED_RUN}FAILED\ntest b ... ok\n\nfailures:\n\n---- a stdout ----\n\nthread 'a' (7) panicked at tests/nested.rs:9:5:\nthe inner run printed the wrong summary\nnote: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n\n\nfailures:\n    a\n\ntest result: FAILED. 1 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.05s\n\n"
    );
    for chunk in [1, 4, 1000] {
        let chunks: Vec<&[u8]> = stream.as_bytes().chunks(chunk).collect();
        let (events, end) = parse(&names, &chunks, Some(101));
        assert_eq!(
            verdicts(&events),
            vec![(0, Verdict::Failed), (1, Verdict::Ok)],
            "chunk {chunk}"
        );
        let noise = events.iter().find_map(|e| match e {
            StreamEvent::Ended { pos: 0, noise, .. } => Some(noise.clone()),
            _ => None,
        });
        assert_eq!(String::from_utf8(noise.unwrap()).unwrap(), NESTED_RUN, "chunk {chunk}");
        assert!(end.completed);
    }
}

#[test]
fn a_summary_after_output_that_shows_no_result_is_still_output() {
    // The test writes a summary of its own, then calls `std::process::exit(0)`.
    let names = ["a"];
    let stream = "\nrunning 1 test\ntest a ... checking the report\ntest result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s\n";
    let (events, end) = parse(&names, &[stream.as_bytes()], Some(0));
    assert_eq!(verdicts(&events), vec![]);
    assert!(!end.completed);
    let (pos, noise) = end.unfinished.expect("the test that exited");
    assert_eq!(pos, 0);
    assert!(noise.ends_with(b"finished in 0.00s\n"), "{}", String::from_utf8_lossy(&noise));
}

#[test]
fn a_failures_list_broken_by_other_output_is_not_libtests() {
    // The last test writes a list of failures of its own, and more, then passes.
    let names = ["a", "b"];
    let stream = format!(
        "\nrunning 2 tests\ntest a ... ok\ntest b ... ok\nfailures:\n    b\nmore output\nok\n\n{SUMMARY_OK_2}\n\n"
    );
    let (events, end) = parse(&names, &[stream.as_bytes()], Some(0));
    assert_eq!(verdicts(&events), vec![(0, Verdict::Ok), (1, Verdict::Ok)]);
    assert!(end.completed);
}

#[test]
fn a_failure_section_line_longer_than_a_read_is_kept_whole() {
    // The failed test printed 200,000 bytes on one line; the stream arrives as the worker
    // reads it, 64 KiB at a time.
    let names = ["a", "b"];
    let long = "x".repeat(200_000);
    let panic = "thread 'a' (7) panicked at src/lib.rs:3:5:\nboom\nnote: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n";
    let stream = format!(
        "\nrunning 2 tests\ntest a ... FAILED\ntest b ... ok\n\nfailures:\n\n---- a stdout ----\n{long}\n\n{panic}\n\nfailures:\n    a\n\ntest result: FAILED. 1 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.01s\n\n"
    );
    let chunks: Vec<&[u8]> = stream.as_bytes().chunks(64 * 1024).collect();
    let (events, end) = parse(&names, &chunks, Some(101));
    assert_eq!(verdicts(&events), vec![(0, Verdict::Failed), (1, Verdict::Ok)]);
    assert!(end.completed);
    let section = String::from_utf8(end.failure_output[&0].clone()).unwrap();
    assert_eq!(section.len(), long.len() + 2 + panic.len());
    assert_eq!(section, format!("{long}\n\n{panic}"));
}

/// How a generated test behaves.
#[derive(Clone, Debug)]
enum Plan {
    Pass,
    Fail,
    Ignore,
}

/// Output a test may write around the capture: libtest look-alikes among it.
fn noise_piece(names: Vec<String>) -> impl Strategy<Value = String> {
    let fakes = prop_oneof![
        Just("ok\n".to_string()),
        Just("FAILED\n".to_string()),
        Just("ignored\n".to_string()),
        Just("ok".to_string()),
        Just("\n".to_string()),
        Just("failures:\n".to_string()),
        Just("failures:\n    t03\n".to_string()),
        // A summary no batch here can match: a perfect forgery is beyond any parser.
        Just("\ntest result: ok. 99 passed; 0 failed; 0 ignored; 0 measured\n".to_string()),
        Just("---- t01 stdout ----\n".to_string()),
        "[a-z ]{0,12}\n?",
    ];
    let start = proptest::sample::select(names).prop_map(|n| format!("test {n} ... "));
    prop_oneof![4 => fakes, 1 => start]
}

/// A generated batch: each test's plan and noise (the noise never holds the start line of
/// the next test, which no parser could tell from libtest's).
fn batch() -> impl Strategy<Value = Vec<(Plan, Vec<String>)>> {
    (1usize..7).prop_flat_map(|n| {
        let names: Vec<String> = (0..n + 2).map(|i| format!("t{i:02}")).collect();
        let plan = prop_oneof![Just(Plan::Pass), Just(Plan::Fail), Just(Plan::Ignore)];
        proptest::collection::vec(
            (plan, proptest::collection::vec(noise_piece(names.clone()), 0..4)),
            n,
        )
        .prop_map(|tests| {
            tests
                .into_iter()
                .enumerate()
                .map(|(i, (plan, noise))| {
                    let next = format!("test t{:02} ... ", i + 1);
                    let noise = noise.into_iter().filter(|p| *p != next).collect();
                    (plan, noise)
                })
                .collect()
        })
    })
}

/// The stream libtest writes for `tests`, cut after `crash_in`'s noise if given.
fn render(tests: &[(Plan, Vec<String>)], crash_in: Option<usize>) -> String {
    let mut out = format!("\nrunning {} tests\n", tests.len());
    let mut failed = Vec::new();
    for (i, (plan, noise)) in tests.iter().enumerate() {
        out.push_str(&format!("test t{i:02} ... "));
        if matches!(plan, Plan::Ignore) {
            out.push_str("ignored\n");
            continue;
        }
        out.push_str(&noise.concat());
        if crash_in == Some(i) {
            return out;
        }
        match plan {
            Plan::Fail => {
                out.push_str("FAILED\n");
                failed.push(i);
            }
            _ => out.push_str("ok\n"),
        }
    }
    if !failed.is_empty() {
        out.push_str("\nfailures:\n\n");
        for i in &failed {
            out.push_str(&format!("---- t{i:02} stdout ----\noutput of {i}\n\n"));
        }
        out.push_str("\nfailures:\n");
        for i in &failed {
            out.push_str(&format!("    t{i:02}\n"));
        }
    }
    let ignored = tests.iter().filter(|t| matches!(t.0, Plan::Ignore)).count();
    let passed = tests.len() - failed.len() - ignored;
    let status = if failed.is_empty() { "ok" } else { "FAILED" };
    out.push_str(&format!(
        "\ntest result: {status}. {passed} passed; {} failed; {ignored} ignored; 0 measured; 0 filtered out; finished in 0.00s\n\n",
        failed.len()
    ));
    out
}

fn parse_generated(
    tests: &[(Plan, Vec<String>)],
    stream: &[u8],
    cuts: &[usize],
    exit: Option<i32>,
) -> (Vec<StreamEvent>, StreamEnd) {
    let names: Vec<String> = (0..tests.len()).map(|i| format!("t{i:02}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut bounds: Vec<usize> = cuts.iter().map(|c| c % (stream.len() + 1)).collect();
    bounds.extend([0, stream.len()]);
    bounds.sort_unstable();
    let chunks: Vec<&[u8]> = bounds.windows(2).map(|w| &stream[w[0]..w[1]]).collect();
    parse(&names, &chunks, exit)
}

fn want(plan: &Plan) -> Verdict {
    match plan {
        Plan::Pass => Verdict::Ok,
        Plan::Fail => Verdict::Failed,
        Plan::Ignore => Verdict::Ignored,
    }
}

proptest! {
    #[test]
    fn any_output_in_any_chunking_gives_libtests_outcomes(
        tests in batch(),
        cuts in proptest::collection::vec(any::<usize>(), 0..12),
    ) {
        let stream = render(&tests, None);
        let any_failed = tests.iter().any(|t| matches!(t.0, Plan::Fail));
        let exit = Some(if any_failed { 101 } else { 0 });
        let (events, end) = parse_generated(&tests, stream.as_bytes(), &cuts, exit);
        let expected: Vec<(usize, Verdict)> =
            tests.iter().enumerate().map(|(i, t)| (i, want(&t.0))).collect();
        prop_assert_eq!(verdicts(&events), expected, "{}", stream);
        prop_assert!(end.completed);
        prop_assert!(end.unfinished.is_none());
    }

    #[test]
    fn a_crash_after_any_output_fails_the_running_test(
        tests in batch(),
        crash in any::<usize>(),
        exit in prop_oneof![Just(None), Just(Some(0)), Just(Some(101))],
        cuts in proptest::collection::vec(any::<usize>(), 0..12),
    ) {
        let runnable: Vec<usize> =
            (0..tests.len()).filter(|&i| !matches!(tests[i].0, Plan::Ignore)).collect();
        prop_assume!(!runnable.is_empty());
        let crash_in = runnable[crash % runnable.len()];
        let stream = render(&tests, Some(crash_in));
        let (events, end) = parse_generated(&tests, stream.as_bytes(), &cuts, exit);
        let expected: Vec<(usize, Verdict)> =
            tests[..crash_in].iter().enumerate().map(|(i, t)| (i, want(&t.0))).collect();
        prop_assert_eq!(verdicts(&events), expected, "{}", stream);
        prop_assert_eq!(end.unfinished.map(|u| u.0), Some(crash_in));
        prop_assert!(end.started[..=crash_in].iter().all(|&s| s));
        prop_assert!(end.started[crash_in + 1..].iter().all(|&s| !s));
    }
}

#[test]
fn an_ignore_reason_that_ends_like_a_result_is_still_ignored() {
    // `#[ignore = "needs a webhook"]` ends in "ok": the test is ignored, and the next one's
    // outcome is not taken from the counts in its place.
    let names = ["a", "b"];
    let stream = "\nrunning 2 tests\ntest a ... ignored, needs a webhook\ntest b ... ok\n\ntest result: ok. 1 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.00s\n\n";
    let (events, end) = parse(&names, &[stream.as_bytes()], Some(0));
    assert_eq!(verdicts(&events), vec![(0, Verdict::Ignored), (1, Verdict::Ok)]);
    assert!(end.completed);
}

#[test]
fn crlf_line_ends_are_read_like_lf() {
    let names = ["a", "b"];
    let stream = "\r\nrunning 2 tests\r\ntest a ... FAILED\r\ntest b ... ok\r\n\r\nfailures:\r\n\r\n---- a stdout ----\r\nboom\r\n\r\n\r\nfailures:\r\n    a\r\n\r\ntest result: FAILED. 1 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s\r\n\r\n";
    let (events, end) = parse(&names, &[stream.as_bytes()], Some(101));
    assert_eq!(verdicts(&events), vec![(0, Verdict::Failed), (1, Verdict::Ok)]);
    assert!(end.completed, "the summary and failures list are found");
}

#[test]
fn with_a_name_missing_no_earlier_name_can_start_later() {
    // libtest found two of three names (b is missing): c prints b's start line, which can
    // only be output, since libtest never goes back in its order.
    let names = ["a", "b", "c"];
    // Read as it arrives: c's start line, then what c prints, then the rest.
    let chunks: [&[u8]; 3] = [
        b"\nrunning 2 tests\ntest a ... ok\ntest c ... ",
        b"test b ... ",
        b"ok\nok\n\ntest result: ok. 2 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s\n\n",
    ];
    let (events, end) = parse(&names, &chunks, Some(0));
    assert_eq!(verdicts(&events), vec![(0, Verdict::Ok), (2, Verdict::Ok)]);
    assert_eq!(end.started, vec![true, false, true]);
    assert!(end.completed);
}

#[test]
fn two_start_lines_on_one_line_read_the_same_whole_or_in_pieces() {
    let names = ["a", "b"];
    let stream: &[u8] = b"\nrunning 2 tests\ntest a ... test b ... ok\n\ntest result: FAILED. 1 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s\n";
    let (whole, _) = parse(&names, &[stream], None);
    let pieces: Vec<&[u8]> = stream.chunks(3).collect();
    let (split, _) = parse(&names, &pieces, None);
    assert_eq!(verdicts(&whole), verdicts(&split));
    assert_eq!(verdicts(&whole), vec![(0, Verdict::Failed)], "a showed no result of its own");
}

/// What libtest-mimic 0.8 prints for `--exact "[tidy] kind_h"`, a failing trial of a kind:
/// its failure section and the list name it bare.
const MIMIC_KIND: &str = "
running 1 test
test [tidy] kind_h ... FAILED

failures:

---- kind_h ----
deliberate failure of kind_h


failures:
    kind_h

test result: FAILED. 0 passed; 1 failed; 0 ignored; 0 measured; 8 filtered out; finished in 0.00s

";

#[test]
fn a_kind_trials_failure_is_found_under_its_bare_name() {
    for chunk in [1, 7, 10_000] {
        let chunks: Vec<&[u8]> = MIMIC_KIND.as_bytes().chunks(chunk).collect();
        let (events, end) = parse(&["[tidy] kind_h"], &chunks, Some(101));
        assert_eq!(verdicts(&events), vec![(0, Verdict::Failed)], "chunk {chunk}");
        assert!(end.completed && end.unfinished.is_none(), "chunk {chunk}: {end:?}");
        assert_eq!(end.failure_output[&0], b"deliberate failure of kind_h\n", "chunk {chunk}");
    }
    // A bare name that is a batch name itself, or that two kinds share, stays that name's.
    let names = |ns: &[&str]| ns.iter().map(|n| n.as_bytes().to_vec()).collect::<Vec<_>>();
    let bare = successes::bare_names(&names(&["[a] x", "x", "[a] y", "[b] y", "[c] z", "w"]));
    assert_eq!(bare, successes::NameMap::from_iter([(b"z".to_vec(), 4)]));
}

#[test]
fn start_lines_padded_to_the_width_of_kinds_count() {
    // libtest-mimic 0.8 for a filter that selects trials with and without a kind.
    let out = "\nrunning 2 tests\ntest [tidy] kind_i ... ok\ntest        zeta   ... ok\n\n\
               test result: ok. 2 passed; 0 failed; 0 ignored; 0 measured; 7 filtered out; \
               finished in 0.00s\n\n";
    let (events, end) = parse(&["zeta", "[tidy] kind_i"], &[out.as_bytes()], Some(0));
    assert_eq!(verdicts(&events), vec![(0, Verdict::Ok), (1, Verdict::Ok)]);
    assert!(end.completed && end.unfinished.is_none(), "{end:?}");
}

#[test]
fn kinds_padded_to_the_widest_kind_count() {
    // libtest-mimic 0.8: `test {kind: <width}{name: <width} ... `.
    let out = "\nrunning 3 tests\ntest [long] y ... ok\ntest [a]    x ... FAILED\ntest        z ... ok\n\n\
               failures:\n\n---- x ----\nx broke\n\n\nfailures:\n    x\n\n\
               test result: FAILED. 2 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; \
               finished in 0.00s\n\n";
    let names = ["[long] y", "[a] x", "z"];
    let mut p = StreamParser::in_given_order(&names, 1 << 20);
    let mut events = p.feed(out.as_bytes());
    let (last, end) = p.finish(Some(101));
    events.extend(last);
    assert_eq!(verdicts(&events), vec![(0, Verdict::Ok), (1, Verdict::Failed), (2, Verdict::Ok)]);
    assert!(end.completed && end.unfinished.is_none(), "{end:?}");
    assert_eq!(end.failure_output[&1], b"x broke\n");
}
