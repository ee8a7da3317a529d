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
