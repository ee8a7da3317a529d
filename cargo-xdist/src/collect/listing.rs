//! Lists every test binary once, in the controller, several binaries at a time, as nextest
//! does. A binary is asked what it accepts once, in this order:
//!
//! 1. `--list --format terse` and the same with `--ignored`, as libtest answers;
//! 2. if that fails or is not a test list: a plain `--list` and `--list --ignored`, as
//!    harnesses built on libtest2 answer (they reject `--format` without
//!    `-Zunstable-options`). A harness that does not take `--ignored` there, or lists every
//!    test under it (libtest2 knows which are ignored only when they run), has none marked
//!    ignored: the run reports the `ignored` verdicts the harness itself gives.
//! 3. A `harness = false` binary that answers neither (a plain `main`), or lists nothing
//!    at all, runs whole as one test named after its binary id ([`Harness::Whole`]), with a
//!    notice. Any other binary that cannot be listed fails the run (exit 104).
//!
//! libtest's own binaries are asked both lists at once; a `harness = false` binary, which
//! may be a plain `main` doing its work whatever its arguments, one list at a time, and
//! only as far as it answers.

use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;

use xdist_core::protocol::Harness;
use xdist_core::testlist::{ListLine, TestBinary, TestList, list_line};
use xdist_worker::command::test_command;

use crate::collect::listing_cache::ListingCache;
use crate::errors::{ListError, ListErrorKind};

/// A binary to list.
pub struct Target {
    /// The binary, its environment filled in.
    pub binary: TestBinary,
    /// Its target says `harness = false` in the manifest.
    pub custom_harness: bool,
    /// Its tests, when already known (doctests, listed by rustdoc under cargo).
    pub listed: Option<Vec<(String, bool)>>,
}

/// What listing found in one binary.
#[derive(Debug, PartialEq, Eq)]
enum Found {
    /// Its tests as (name, ignored).
    Tests(Vec<(String, bool)>),
    /// It does not list its tests: it runs whole.
    Whole,
}

/// How a binary is asked for its tests.
#[derive(Clone, Copy, Debug)]
enum Format {
    /// `--list --format terse`: libtest.
    Terse,
    /// `--list`: libtest2 and others that take no `--format`.
    Plain,
}

impl Format {
    fn args(self) -> &'static [&'static str] {
        match self {
            Format::Terse => &["--list", "--format", "terse"],
            Format::Plain => &["--list"],
        }
    }
}

/// Lists all `targets` and builds the run's test list; libtest binaries listed before and
/// not rebuilt since come from `cache`.
pub fn list_tests(
    targets: Vec<Target>,
    cache: Option<&ListingCache>,
) -> Result<TestList, ListError> {
    let threads = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .clamp(2, 16)
        .min(targets.len().max(1));
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Result<Found, ListError>>>> =
        Mutex::new((0..targets.len()).map(|_| None).collect());
    let spinner = crate::report::spinner::ListingSpinner::on_stderr(targets.len());
    thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(target) = targets.get(i) else { break };
                    if let Some(tests) = &target.listed {
                        let found = Ok(Found::Tests(tests.clone()));
                        results.lock().expect("no panics while locked")[i] = Some(found);
                        continue;
                    }
                    let path = target.binary.path.as_str();
                    let cacheable = cache.filter(|_| !target.custom_harness);
                    if let Some(tests) = cacheable.and_then(|c| c.get(path)) {
                        let found = Ok(Found::Tests(tests));
                        results.lock().expect("no panics while locked")[i] = Some(found);
                        continue;
                    }
                    let found = list_binary(&target.binary, target.custom_harness)
                        .map_err(|kind| ListError { binary_id: target.binary.id.clone(), kind });
                    if let (Some(cache), Ok(Found::Tests(tests))) = (cacheable, &found) {
                        cache.put(path, tests);
                    }
                    results.lock().expect("no panics while locked")[i] = Some(found);
                    spinner.listed_one();
                }
            });
        }
    });
    drop(spinner);
    let results = results.into_inner().expect("threads joined");
    let mut listed = Vec::with_capacity(targets.len());
    for (target, result) in targets.into_iter().zip(results) {
        let mut binary = target.binary;
        let tests = match result.expect("every binary listed")? {
            Found::Tests(tests) => {
                if let Some(note) = repeated_names(&binary.id, &tests) {
                    eprintln!("{note}");
                }
                tests
            }
            Found::Whole => {
                eprintln!("xdist: {} does not list its tests; it runs as one test", binary.id);
                binary.harness = Harness::Whole;
                vec![(binary.id.clone(), false)]
            }
        };
        listed.push((binary, tests));
    }
    Ok(TestList::new(listed))
}

/// What one way of asking gave.
#[derive(Debug)]
enum Answer {
    /// A test list.
    Listed(Listing),
    /// Not accepted: a failed exit, or output that is not a test list.
    Rejected(ListErrorKind),
}

fn list_binary(binary: &TestBinary, custom_harness: bool) -> Result<Found, ListErrorKind> {
    let together = !custom_harness;
    let terse_error = match ask(binary, Format::Terse, together)? {
        // A custom harness that prints nothing may be a `main` that ignored the question.
        Answer::Listed(list) if !custom_harness || !list.is_empty() => {
            return Ok(Found::Tests(list.tests));
        }
        Answer::Listed(_) => None,
        Answer::Rejected(error) => Some(error),
    };
    match ask(binary, Format::Plain, together)? {
        Answer::Listed(list) if !custom_harness || !list.is_empty() || list.counted => {
            Ok(Found::Tests(list.tests))
        }
        Answer::Listed(_) => Ok(Found::Whole),
        Answer::Rejected(_) if custom_harness => Ok(Found::Whole),
        Answer::Rejected(plain_error) => Err(terse_error.unwrap_or(plain_error)),
    }
}

/// Asks `binary` for its tests in `format`, and for its ignored ones (both at once if
/// `together`, else the second only after the first was answered). `Err` only when the
/// binary cannot be started at all.
fn ask(binary: &TestBinary, format: Format, together: bool) -> Result<Answer, ListErrorKind> {
    let (all, ignored) = if together {
        thread::scope(|scope| {
            let ignored = scope.spawn(|| run_list(binary, format, true));
            (run_list(binary, format, false), ignored.join().expect("listing thread panicked"))
        })
    } else {
        // Nothing to mark in an empty list (a `main` that ignored the question, or no tests).
        let all = run_list(binary, format, false);
        match all {
            Ok(Answer::Listed(ref list)) if !list.is_empty() => {}
            other => return other,
        }
        (all, run_list(binary, format, true))
    };
    let mut list = match all? {
        Answer::Listed(list) => list,
        rejected => return Ok(rejected),
    };
    // An `--ignored` the harness does not take means that it marks none.
    if let Answer::Listed(ignored) = ignored? {
        let names = |tests: &[(String, bool)]| -> Vec<String> {
            let mut names: Vec<String> = tests.iter().map(|t| t.0.clone()).collect();
            names.sort();
            names
        };
        // libtest2 lists every test under `--ignored`: it knows only when one runs.
        let says_nothing =
            matches!(format, Format::Plain) && names(&ignored.tests) == names(&list.tests);
        if !says_nothing {
            list.mark_ignored(ignored.tests.into_iter().map(|t| t.0));
        }
    }
    Ok(Answer::Listed(list))
}

fn run_list(binary: &TestBinary, format: Format, ignored: bool) -> Result<Answer, ListErrorKind> {
    let mut command = test_command(&binary.runner, &binary.path, &binary.cwd, &binary.env);
    command.args(format.args());
    if ignored {
        command.arg("--ignored");
    }
    let output = command
        .output()
        .map_err(|source| ListErrorKind::Spawn { path: binary.path.clone(), source })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let last = stderr.lines().map(str::trim_end).rfind(|line| !line.is_empty());
        return Ok(Answer::Rejected(ListErrorKind::Failed {
            path: binary.path.clone(),
            status: output.status,
            last_stderr_line: last.map(String::from),
        }));
    }
    let parsed = String::from_utf8(output.stdout)
        .map_err(|source| ListErrorKind::NotUtf8 { source })
        .and_then(|stdout| parse_list(&stdout));
    Ok(parsed.map_or_else(Answer::Rejected, Answer::Listed))
}

/// A binary's answer to `--list`, terse or plain.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Listing {
    /// The tests, as (name, ignored).
    pub tests: Vec<(String, bool)>,
    /// It ended with a count line (`3 tests, 0 benchmarks`): it knows what a list is, even
    /// an empty one.
    pub counted: bool,
}

impl Listing {
    fn is_empty(&self) -> bool {
        self.tests.is_empty()
    }

    /// Marks `ignored` as ignored; names listed only under `--ignored` (a custom harness
    /// may do that) are added.
    fn mark_ignored(&mut self, ignored: impl IntoIterator<Item = String>) {
        let mut ignored: HashSet<String> = ignored.into_iter().collect();
        for (name, is_ignored) in &mut self.tests {
            *is_ignored = ignored.remove(name);
        }
        let mut rest: Vec<String> = ignored.into_iter().collect();
        rest.sort();
        self.tests.extend(rest.into_iter().map(|name| (name, true)));
    }
}

/// Reads a test list, terse (`name: test` lines, as libtest prints them) or plain (the
/// same, then a count line such as `3 tests, 0 benchmarks` or `8 tests`), tolerantly:
/// blank lines and trailing whitespace are passed over. Benchmarks (`: benchmark`,
/// libtest-mimic's `: bench`) are tests too: `cargo test` runs each once, as a test, and
/// so does a batch that names it. Anything else means it is not a test list.
pub fn parse_list(stdout: &str) -> Result<Listing, ListErrorKind> {
    let mut listing = Listing::default();
    for line in stdout.lines() {
        match list_line(line) {
            ListLine::Test(name) => listing.tests.push((name.to_string(), false)),
            ListLine::Blank => {}
            ListLine::Count => listing.counted = true,
            ListLine::Other => {
                return Err(ListErrorKind::NotATestList { line: line.trim_end().to_string() });
            }
        }
    }
    Ok(listing)
}

/// A notice for a binary that lists a name more than once (a custom harness can): a test is
/// its name, so each such name is one test, its runs in one process.
fn repeated_names(id: &str, tests: &[(String, bool)]) -> Option<String> {
    let mut seen = HashSet::new();
    let mut repeated: Vec<&str> =
        tests.iter().map(|t| t.0.as_str()).filter(|name| !seen.insert(*name)).collect();
    repeated.sort_unstable();
    repeated.dedup();
    let first = repeated.first()?;
    Some(format!(
        "xdist: {id} lists {} test name(s) more than once (`{first}`); each is one test here, \
         run once by its name, which runs every test of that name in one process",
        repeated.len()
    ))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn names(listing: &Listing) -> Vec<&str> {
        listing.tests.iter().map(|t| t.0.as_str()).collect()
    }

    #[test]
    fn names_listed_twice_are_said() {
        let tests =
            |names: &[&str]| names.iter().map(|n| (n.to_string(), false)).collect::<Vec<_>>();
        assert_eq!(repeated_names("p::t", &tests(&["a", "b", "c"])), None);
        let note = repeated_names("p::t", &tests(&["dup", "a", "dup", "b", "b", "dup"])).unwrap();
        assert!(
            note.starts_with("xdist: p::t lists 2 test name(s) more than once (`b`)"),
            "{note}"
        );
    }

    #[test]
    fn terse_lists_parse() {
        let listing = parse_list("a::b: test\nc: benchmark\nd: test\n").unwrap();
        assert_eq!(names(&listing), ["a::b", "c", "d"]);
        assert!(!listing.counted);
        let err = parse_list("a: test\nrunning 3 tests\n").unwrap_err();
        assert!(
            matches!(&err, ListErrorKind::NotATestList { line } if line == "running 3 tests"),
            "{err}"
        );
    }

    #[test]
    fn plain_lists_parse() {
        // libtest's plain `--list`.
        let libtest = parse_list("a::b: test\nc: benchmark\nd: test\n\n2 tests, 1 benchmark\n");
        let libtest = libtest.unwrap();
        assert_eq!(names(&libtest), ["a::b", "c", "d"]);
        assert!(libtest.counted);
        // libtest2's: a count of tests alone, trailing blank lines.
        let libtest2 = parse_list("bear: test\ncat: test\n\n2 tests\n\n\n").unwrap();
        assert_eq!(names(&libtest2), ["bear", "cat"]);
        assert!(libtest2.counted);
        // Singular words, CRLF line ends, trailing spaces, libtest-mimic's `: bench`.
        let tolerant = parse_list("x: test \r\nspeed: bench\r\n\r\n1 test, 1 benchmark\r\n");
        assert_eq!(names(&tolerant.unwrap()), ["x", "speed"]);
        // An empty list that says so.
        let empty = parse_list("0 tests, 0 benchmarks\n").unwrap();
        assert!(empty.is_empty() && empty.counted);
        // A plain main that printed something.
        for output in ["hello from main\n", "3 tests passed\n", "tests, 0 benchmarks\n"] {
            assert!(parse_list(output).is_err(), "{output:?}");
        }
        for output in ["3 tests, 0 benchmarks, 2 others\n", "x tests\n", "3 testz\n"] {
            assert!(parse_list(output).is_err(), "{output:?}");
        }
    }

    /// Held by the tests that write and start scripts: a script being written while another
    /// thread forks cannot be started (ETXTBSY).
    static SCRIPTS: Mutex<()> = Mutex::new(());

    /// A test binary played by a shell script.
    fn script(name: &str, body: &str) -> TestBinary {
        let dir = std::env::temp_dir().join(format!("xdist-listing-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        TestBinary {
            id: format!("pkg::{name}"),
            path: path.to_string_lossy().into_owned(),
            cwd: dir.to_string_lossy().into_owned(),
            env: vec![],
            runner: Vec::new(),
            args: Vec::new(),
            kind: "test".into(),
            src_path: String::new(),
            harness: Harness::Libtest,
        }
    }

    fn tests(found: &[(&str, bool)]) -> Found {
        Found::Tests(found.iter().map(|&(n, i)| (n.to_string(), i)).collect())
    }

    #[test]
    fn binaries_are_asked_terse_then_plain() {
        let _scripts = SCRIPTS.lock().unwrap_or_else(|e| e.into_inner());
        // libtest: terse.
        let libtest = script(
            "libtest",
            r#"case "$*" in
  "--list --format terse") printf 'a: test\nb: test\n' ;;
  "--list --format terse --ignored") printf 'b: test\n' ;;
  *) exit 9 ;;
esac"#,
        );
        let want = tests(&[("a", false), ("b", true)]);
        assert_eq!(list_binary(&libtest, false).unwrap(), want);
        assert_eq!(list_binary(&libtest, true).unwrap(), want);
        // libtest2: no `--format`; `--list --ignored` lists everything.
        let libtest2 = script(
            "libtest2",
            r#"case "$*" in
  *--format*) echo 'error: `--format` requires `-Zunstable-options`' >&2; exit 1 ;;
  "--list"|"--list --ignored") printf 'cat: test\ndog: test\n\n2 tests\n\n' ;;
  *) exit 9 ;;
esac"#,
        );
        let want = tests(&[("cat", false), ("dog", false)]);
        assert_eq!(list_binary(&libtest2, false).unwrap(), want);
        assert_eq!(list_binary(&libtest2, true).unwrap(), want);
        // Plain `--list`, a real ignored set.
        let honest = script(
            "honest",
            r#"case "$*" in
  "--list") printf 'cat: test\ndog: test\n\n2 tests, 0 benchmarks\n' ;;
  "--list --ignored") printf 'dog: test\n\n1 test, 0 benchmarks\n' ;;
  *) echo "unexpected argument" >&2; exit 2 ;;
esac"#,
        );
        assert_eq!(list_binary(&honest, true).unwrap(), tests(&[("cat", false), ("dog", true)]));
        // Plain `--list` without `--ignored`: none is marked ignored.
        let no_ignored = script(
            "no-ignored",
            r#"case "$*" in
  "--list") printf 'cat: test\n\n1 test\n' ;;
  *) echo "unexpected argument" >&2; exit 2 ;;
esac"#,
        );
        assert_eq!(list_binary(&no_ignored, true).unwrap(), tests(&[("cat", false)]));
        // A harness with no tests that says so.
        let none = script("none", r#"[ "$*" = "--list" ] && echo "0 tests, 0 benchmarks"; exit 0"#);
        assert_eq!(list_binary(&none, true).unwrap(), tests(&[]));
    }

    #[test]
    fn plain_mains_run_whole_if_their_manifest_says_harness_false() {
        let _scripts = SCRIPTS.lock().unwrap_or_else(|e| e.into_inner());
        for (name, body) in [
            ("prints", "echo 'doing my own thing'"),
            ("fails", "echo 'about to fail' >&2; exit 1"),
            ("silent", "exit 0"),
        ] {
            let main = script(name, body);
            assert_eq!(list_binary(&main, true).unwrap(), Found::Whole, "{name}");
            if name != "silent" {
                // A libtest binary that does not list is an error, the terse one.
                let err = list_binary(&main, false).unwrap_err();
                assert!(err.to_string().contains("--list"), "{name}: {err}");
            }
        }
        let err = list_binary(&script("fails", "echo 'about to fail' >&2; exit 1"), false);
        assert!(
            matches!(&err, Err(ListErrorKind::Failed { last_stderr_line: Some(l), .. }) if l == "about to fail"),
            "{err:?}"
        );
        // A plain main runs at each question: it is asked twice, one question at a time.
        for (name, body) in [("counted", "echo 'not a list'"), ("counted-silent", "")] {
            let main = script(name, &format!("echo run >> {name}.runs\n{body}"));
            let runs = std::path::Path::new(&main.cwd).join(format!("{name}.runs"));
            let _ = std::fs::remove_file(&runs);
            assert_eq!(list_binary(&main, true).unwrap(), Found::Whole);
            assert_eq!(std::fs::read_to_string(&runs).unwrap(), "run\nrun\n", "{name}");
        }
        // A binary that cannot start is an error whatever its manifest says.
        let mut missing = script("missing", "exit 0");
        missing.path.push_str("-not-there");
        assert!(matches!(list_binary(&missing, true), Err(ListErrorKind::Spawn { .. })));
    }

    #[test]
    fn whole_binaries_get_one_test_named_after_them() {
        let _scripts = SCRIPTS.lock().unwrap_or_else(|e| e.into_inner());
        let main = script("main", "echo 'not a list'");
        let libtest = script("lib", "printf 'a: test\\n'");
        let list = list_tests(
            vec![
                Target { binary: main, custom_harness: true, listed: None },
                Target { binary: libtest, custom_harness: true, listed: None },
            ],
            None,
        )
        .unwrap();
        let ids: Vec<String> = (0..list.tests.len()).map(|i| list.test_id(i)).collect();
        assert_eq!(ids, ["pkg::lib a", "pkg::main pkg::main"]);
        assert_eq!(list.binaries[0].harness, Harness::Libtest);
        assert_eq!(list.binaries[1].harness, Harness::Whole);
    }
}
