//! The run's one collection: test binaries in nextest's binary-id order, their tests in
//! byte-wise name order, and the libtest-style filters that select tests from it.

use std::cmp::Ordering;

use crate::protocol::Harness;

/// A test binary built by cargo, with what it needs to run like `cargo test` runs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestBinary {
    /// nextest's binary id: `pkg`, `pkg::itest`, `pkg::bin/name`, ...
    pub id: String,
    /// The executable.
    pub path: String,
    /// The package root, the cwd of its processes.
    pub cwd: String,
    /// Variables its processes get on top of the inherited environment.
    pub env: Vec<(String, String)>,
    /// The target runner its processes start under (program, arguments), or nothing.
    pub runner: Vec<String>,
    /// Arguments that always come first (a doctest binary's rustdoc command line).
    pub args: Vec<String>,
    /// Cargo's target kind: `lib`, `bin`, `test`, `bench`, `example`, ...
    pub kind: String,
    /// The target's root source file (`src/lib.rs`, `tests/cli.rs`, ...).
    pub src_path: String,
    /// How its tests run: [`Harness::Whole`] when listing found a `harness = false` binary
    /// that does not list its tests (it then has one test, named after its binary id).
    pub harness: Harness,
}

/// One test of a binary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestCase {
    /// Index of its binary in [`TestList::binaries`].
    pub binary: u32,
    /// The full libtest name.
    pub name: String,
    /// Marked `#[ignore]`.
    pub ignored: bool,
}

/// Every test binary and test of the run, sorted as nextest sorts them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TestList {
    /// The binaries, in binary-id order.
    pub binaries: Vec<TestBinary>,
    /// The tests, grouped by binary in binary order, by name within a binary.
    pub tests: Vec<TestCase>,
}

impl TestList {
    /// Builds the list from each binary and the tests it listed, sorting both.
    pub fn new(mut listed: Vec<(TestBinary, Vec<(String, bool)>)>) -> Self {
        listed.sort_by(|a, b| compare_binary_ids(&a.0.id, &b.0.id));
        let mut list = TestList::default();
        for (binary_index, (binary, mut tests)) in listed.into_iter().enumerate() {
            tests.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            tests.dedup_by(|a, b| a.0 == b.0);
            list.binaries.push(binary);
            list.tests.extend(tests.into_iter().map(|(name, ignored)| TestCase {
                binary: binary_index as u32,
                name,
                ignored,
            }));
        }
        list
    }

    /// The binary id and name of test `index`.
    pub fn binary_and_name(&self, index: usize) -> (String, String) {
        let test = &self.tests[index];
        (self.binaries[test.binary as usize].id.clone(), test.name.clone())
    }

    /// The `<binary-id> <name>` id of a test, as nextest prints it.
    pub fn test_id(&self, index: usize) -> String {
        let test = &self.tests[index];
        let binary = &self.binaries[test.binary as usize].id;
        // Built by hand: it runs several times per finished test, and `format!` costs more.
        let mut id = String::with_capacity(binary.len() + 1 + test.name.len());
        id.push_str(binary);
        id.push(' ');
        id.push_str(&test.name);
        id
    }
}

/// Orders binary ids by their parsed components, as nextest does: `alpha` < `alpha::zz` <
/// `alpha-x`, and `pkg::itest` < `pkg::bin/name`.
pub fn compare_binary_ids(a: &str, b: &str) -> Ordering {
    fn key(id: &str) -> (&str, u8, &str, &str) {
        match id.split_once("::") {
            None => (id, 0, "", ""),
            Some((pkg, rest)) => match rest.split_once('/') {
                None => (pkg, 1, rest, ""),
                Some((kind, name)) => (pkg, 2, kind, name),
            },
        }
    }
    key(a).cmp(&key(b))
}

/// Which ignored tests run (`--run-ignored`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RunIgnored {
    /// Only tests not marked ignored (the default).
    #[default]
    Default,
    /// Only ignored tests (`--ignored`).
    Only,
    /// Both (`--include-ignored`).
    All,
}

/// libtest's filters: substrings (or exact names) to run, substrings (or exact names) to skip.
#[derive(Clone, Debug, Default)]
pub struct TestFilter {
    /// Run only tests whose name contains (or, with `exact`, equals) one of these.
    pub patterns: Vec<String>,
    /// Leave out tests whose name contains (or, with `exact`, equals) one of these.
    pub skip: Vec<String>,
    /// Match whole names.
    pub exact: bool,
    /// Which ignored tests run.
    pub run_ignored: RunIgnored,
}

/// One line of what a test binary prints for `--list`, as libtest and the harnesses that
/// imitate it print it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListLine<'a> {
    /// `name: test`, or a benchmark (`name: benchmark`, libtest-mimic's `name: bench`),
    /// which `cargo test` runs once as a test.
    Test(&'a str),
    /// An empty line.
    Blank,
    /// The count that ends a plain list: `3 tests, 0 benchmarks`, `1 test, 1 benchmark`,
    /// `8 tests`.
    Count,
    /// Anything else: not a test list.
    Other,
}

/// Reads one line of a test list (trailing whitespace, a CRLF's `\r` included, is passed
/// over).
pub fn list_line(line: &str) -> ListLine<'_> {
    let line = line.trim_end();
    if let Some(name) =
        [": test", ": benchmark", ": bench"].iter().find_map(|k| line.strip_suffix(k))
    {
        ListLine::Test(name)
    } else if line.is_empty() {
        ListLine::Blank
    } else if is_count_line(line) {
        ListLine::Count
    } else {
        ListLine::Other
    }
}

/// `3 tests, 0 benchmarks`, `1 test, 1 benchmark`, `8 tests`, `0 tests, 0 benchmarks`.
fn is_count_line(line: &str) -> bool {
    let count = |part: &str, one: &str, many: &str| {
        part.split_once(' ').is_some_and(|(n, word)| {
            !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) && (word == one || word == many)
        })
    };
    let mut parts = line.trim_start().split(", ");
    let tests = parts.next().is_some_and(|p| count(p, "test", "tests"));
    let benches = parts.next().is_none_or(|p| count(p, "benchmark", "benchmarks"));
    tests && benches && parts.next().is_none()
}

/// The bare name of a libtest-mimic trial of a kind: `a.rs` of `[tidy] a.rs`.
pub fn kind_bare(name: &str) -> Option<&str> {
    name.strip_prefix('[')?.split_once("] ").map(|(_, bare)| bare)
}

/// What the filter decided for a test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Selection {
    /// The test runs.
    Run,
    /// The test matches the name filters but is ignored: reported as skipped.
    Ignored,
    /// The test is filtered out: not mentioned at all.
    FilteredOut,
}

impl TestFilter {
    /// Whether `pattern` selects `name`. An exact pattern also matches the bare name of a
    /// libtest-mimic trial of a kind (`[tidy] a.rs` is `a.rs` too), as that harness's own
    /// `--exact` does; libtest's names never start with `[`.
    fn matches(&self, pattern: &str, name: &str) -> bool {
        if self.exact {
            name == pattern || kind_bare(name) == Some(pattern)
        } else {
            name.contains(pattern)
        }
    }

    /// Decides what happens to `test`.
    pub fn select(&self, test: &TestCase) -> Selection {
        let named =
            self.patterns.is_empty() || self.patterns.iter().any(|p| self.matches(p, &test.name));
        if !named || self.skip.iter().any(|p| self.matches(p, &test.name)) {
            return Selection::FilteredOut;
        }
        match (self.run_ignored, test.ignored) {
            (RunIgnored::Default, true) => Selection::Ignored,
            (RunIgnored::Only, false) => Selection::FilteredOut,
            _ => Selection::Run,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_ids_sort_by_components() {
        let mut ids = vec![
            "alpha-x::xi",
            "alpha-x",
            "alpha::zz",
            "alpha",
            "beta::bin/beta-cli",
            "beta::integ",
            "beta::custom",
        ];
        ids.sort_by(|a, b| compare_binary_ids(a, b));
        assert_eq!(
            ids,
            [
                "alpha",
                "alpha::zz",
                "alpha-x",
                "alpha-x::xi",
                "beta::custom",
                "beta::integ",
                "beta::bin/beta-cli"
            ]
        );
    }

    fn case(name: &str, ignored: bool) -> TestCase {
        TestCase { binary: 0, name: name.into(), ignored }
    }

    #[test]
    fn filters_follow_libtest() {
        let f = TestFilter {
            patterns: vec!["math".into()],
            skip: vec!["div".into()],
            ..Default::default()
        };
        assert_eq!(f.select(&case("math::adds", false)), Selection::Run);
        assert_eq!(f.select(&case("math::div", false)), Selection::FilteredOut);
        assert_eq!(f.select(&case("text::upper", false)), Selection::FilteredOut);
        assert_eq!(f.select(&case("math::slow", true)), Selection::Ignored);
        let exact = TestFilter { patterns: vec!["math".into()], exact: true, ..Default::default() };
        assert_eq!(exact.select(&case("math::adds", false)), Selection::FilteredOut);
        // libtest-mimic's `--exact` takes a trial of a kind by its bare name too.
        let bare = TestFilter { patterns: vec!["a.rs".into()], exact: true, ..Default::default() };
        assert_eq!(bare.select(&case("[tidy] a.rs", false)), Selection::Run);
        assert_eq!(bare.select(&case("[tidy] b.rs", false)), Selection::FilteredOut);
        assert_eq!(bare.select(&case("x [tidy] a.rs", false)), Selection::FilteredOut);
        let skip = TestFilter { skip: vec!["a.rs".into()], exact: true, ..Default::default() };
        assert_eq!(skip.select(&case("[tidy] a.rs", false)), Selection::FilteredOut);
        let only = TestFilter { run_ignored: RunIgnored::Only, ..Default::default() };
        assert_eq!(only.select(&case("a", false)), Selection::FilteredOut);
        assert_eq!(only.select(&case("b", true)), Selection::Run);
        let all = TestFilter { run_ignored: RunIgnored::All, ..Default::default() };
        assert_eq!(all.select(&case("b", true)), Selection::Run);
    }

    #[test]
    fn list_lines_are_tests_blanks_counts_or_not_a_list() {
        assert_eq!(list_line("a::b: test \r"), ListLine::Test("a::b"));
        assert_eq!(list_line("speed: bench"), ListLine::Test("speed"));
        assert_eq!(list_line("c: benchmark"), ListLine::Test("c"));
        assert_eq!(list_line("  "), ListLine::Blank);
        for count in ["3 tests, 0 benchmarks", "1 test, 1 benchmark", "8 tests"] {
            assert_eq!(list_line(count), ListLine::Count, "{count}");
        }
        assert!(!is_count_line("3 tests, 0 benchmarks, 2 others"));
        assert!(!is_count_line("x tests"));
        assert!(!is_count_line("3 testz"));
        assert_eq!(list_line("running 3 tests"), ListLine::Other);
    }

    #[test]
    fn list_sorts_names_bytewise() {
        let bin = |id: &str| TestBinary {
            id: id.into(),
            path: String::new(),
            cwd: String::new(),
            env: vec![],
            runner: Vec::new(),
            args: Vec::new(),
            kind: "lib".into(),
            src_path: String::new(),
            harness: Harness::Libtest,
        };
        let list = TestList::new(vec![
            (bin("b::t"), vec![("x1".into(), false), ("Upper".into(), false)]),
            (bin("b"), vec![("z".into(), true)]),
        ]);
        assert_eq!(list.test_id(0), "b z");
        assert_eq!(list.test_id(1), "b::t Upper");
        assert_eq!(list.test_id(2), "b::t x1");
        assert!(list.tests[0].ignored);
    }
}
