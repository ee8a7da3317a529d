//! The `successes:` part libtest prints under `--show-output`, read from real output.
//!
//! `testdata/show_output_*.txt` are the stdout of a libtest 1.95 binary run with
//! `--show-output --exact --test-threads=1 NAMES` (panic thread ids and times replaced).
//! Its tests, and so what each section must hold:
//!
//! ```text
//! a: println!("a says hi"); eprintln!("a err");
//! b: println!("b says\n\nhi"); panic!("boom");
//! c: prints nothing
//! d: prints a fake `successes:`, a header of `a`, a fake `failures:` list and a header of
//!    `e`, then "d still"
//! e: print!("e real") (no newline)
//! f: prints a fake list of passing tests and a fake summary, then "f after\nand more"
//! ```

use super::tests::verdicts;
use super::*;

const PASSING: &str = include_str!("testdata/show_output_passing.txt");
const HOSTILE: &str = include_str!("testdata/show_output_hostile.txt");

fn parse_chunked(
    names: &[&str],
    bytes: &[u8],
    chunk: usize,
    exit: i32,
) -> (Vec<StreamEvent>, StreamEnd) {
    let mut p = StreamParser::new(names, 1 << 20);
    let mut events = Vec::new();
    for c in bytes.chunks(chunk) {
        events.extend(p.feed(c));
    }
    let (last, end) = p.finish(Some(exit));
    events.extend(last);
    (events, end)
}

fn text(end: &StreamEnd, pos: usize) -> Option<String> {
    end.success_output.get(&pos).map(|b| String::from_utf8_lossy(b).into_owned())
}

#[test]
fn each_passing_test_gets_its_section() {
    for chunk in [1, 5, 64, 100_000] {
        let (events, end) = parse_chunked(&["c", "a"], PASSING.as_bytes(), chunk, 0);
        assert_eq!(verdicts(&events), [(0, Verdict::Ok), (1, Verdict::Ok)], "chunk {chunk}");
        assert!(end.completed, "chunk {chunk}");
        assert_eq!(text(&end, 1).as_deref(), Some("a says hi\na err\n"), "chunk {chunk}");
        assert_eq!(text(&end, 0), None, "c printed nothing");
        assert!(end.failure_output.is_empty());
    }
}

#[test]
fn imitations_of_libtests_lines_stay_with_the_test_that_printed_them() {
    let names = ["f", "e", "d", "c", "b", "a"];
    for chunk in [1, 7, 64, 100_000] {
        let (events, end) = parse_chunked(&names, HOSTILE.as_bytes(), chunk, 101);
        let ok = Verdict::Ok;
        assert_eq!(
            verdicts(&events),
            [(0, ok), (1, ok), (2, ok), (3, ok), (4, Verdict::Failed), (5, ok)],
            "chunk {chunk}"
        );
        assert!(end.completed, "chunk {chunk}");
        assert_eq!(text(&end, 5).as_deref(), Some("a says hi\na err\n"));
        let d = "successes:\n\n---- a stdout ----\nfake\n\nfailures:\n    b\n\n---- e stdout ----\nd still\n";
        assert_eq!(text(&end, 2).as_deref(), Some(d), "chunk {chunk}");
        assert_eq!(text(&end, 1).as_deref(), Some("e real\n"), "chunk {chunk}");
        let f = "successes:\n    a\n    c\n\ntest result: ok. 2 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s\nf after\nand more\n";
        assert_eq!(text(&end, 0).as_deref(), Some(f), "chunk {chunk}");
        assert_eq!(text(&end, 3), None, "c printed nothing");
        let b = String::from_utf8_lossy(&end.failure_output[&4]).into_owned();
        assert!(
            b.starts_with("b says\n\nhi\n\nthread 'b' (7) panicked at src/lib.rs:2:44:\nboom\n"),
            "{b}"
        );
        assert_eq!(end.failure_output.len(), 1);
    }
}

#[test]
fn a_failed_list_after_the_successes_still_settles_outcomes() {
    // A result line hidden by stray output: the list and summary after the successes decide.
    let stream = HOSTILE.replace("test e ... ok\n", "test e ... ok\nstray\n");
    let (events, end) = parse_chunked(&["a", "b", "c", "d", "e", "f"], stream.as_bytes(), 3, 101);
    assert!(end.completed);
    assert_eq!(verdicts(&events)[4], (4, Verdict::Ok));
    assert_eq!(verdicts(&events)[1], (1, Verdict::Failed));
}
