//! Batches of a harness that takes one name per process (libtest-mimic and the harnesses
//! built on it: datatest-stable, toml-test, …) in one process: no name at all, so the
//! harness runs every test, and `--exact --skip=NAME` for each of the binary's other tests.
//! Such a harness runs its tests in the order it lists them (not sorted, as libtest does),
//! so the worker asks it for `--list` once and reads each batch's results in that order.

use std::collections::{HashMap, HashSet};
use std::process::Stdio;

use xdist_core::TestIndex;
use xdist_core::protocol::BinarySpec;

use crate::command;
use crate::filters::Universe;

/// Most bytes of `--skip=` arguments on one command line (the kernel limits its size).
const MAX_SKIP_BYTES: usize = 256 * 1024;

/// Each test's place in the order a binary lists (and so runs) its tests.
pub type ListedOrder = HashMap<String, usize>;

/// A batch's tests (index and name).
pub type Tests<'a> = Vec<(TestIndex, &'a str)>;

/// Asks `binary` for `--list` and returns each listed name's place; `None` if it cannot be
/// started, fails, or prints something that is not a test list.
pub fn listed_order(binary: &BinarySpec) -> Option<ListedOrder> {
    let mut command = command::test_command(&binary.runner, &binary.path, &binary.cwd, &binary.env);
    command.arg("--list").stdout(Stdio::piped()).stderr(Stdio::null());
    let out = command.output().ok().filter(|out| out.status.success())?;
    parse_listed_order(&String::from_utf8_lossy(&out.stdout))
}

/// Reads `name: test` (or `: bench`, `: benchmark`) lines, blank lines and a count line.
fn parse_listed_order(stdout: &str) -> Option<ListedOrder> {
    let mut order = ListedOrder::new();
    for line in stdout.lines().map(str::trim_end) {
        let kinds = [": test", ": benchmark", ": bench"];
        if let Some(name) = kinds.iter().find_map(|k| line.strip_suffix(k)) {
            let place = order.len();
            // A name listed twice cannot be told apart by `--skip`: not such a list.
            if order.insert(name.to_string(), place).is_some() {
                return None;
            }
        } else if !(line.is_empty() || is_count_line(line)) {
            return None;
        }
    }
    Some(order)
}

/// `3 tests, 0 benchmarks` or `8 tests`.
fn is_count_line(line: &str) -> bool {
    let first = line.split(", ").next().unwrap_or_default();
    first.split_once(' ').is_some_and(|(n, word)| {
        !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) && word.starts_with("test")
    })
}

/// A batch of `tests` as one process: the tests in the order the binary runs them, and the
/// names to skip (every other test of the binary: `universe` and what it lists). `None`
/// when that cannot select exactly `tests`: a test it does not list, a test that a skip
/// would take too (libtest-mimic's `--exact --skip` also matches a name without its
/// `[kind] `), or too many skips for a command line.
pub fn plan<'a>(
    tests: &[(TestIndex, &'a str)],
    universe: &Universe<'_>,
    order: &ListedOrder,
) -> Option<(Tests<'a>, Vec<String>)> {
    let wanted: HashSet<&str> = tests.iter().map(|t| t.1).collect();
    let mut others: HashSet<&str> = universe.names().iter().copied().collect();
    others.extend(order.keys().map(String::as_str));
    let skips: Vec<String> =
        others.into_iter().filter(|n| !wanted.contains(n)).map(String::from).collect();
    let bytes: usize = skips.iter().map(|s| s.len() + "--skip=".len() + 1).sum();
    if bytes > MAX_SKIP_BYTES {
        return None;
    }
    let skipped: HashSet<&str> = skips.iter().map(String::as_str).collect();
    let taken_by_a_skip = |name: &str| kind_bare(name).is_some_and(|bare| skipped.contains(bare));
    if tests.iter().any(|t| !order.contains_key(t.1) || taken_by_a_skip(t.1)) {
        return None;
    }
    let mut ordered = tests.to_vec();
    ordered.sort_by_key(|t| order[t.1]);
    let mut skips = skips;
    skips.sort_unstable();
    Some((ordered, skips))
}

/// `a.rs` of libtest-mimic's `[tidy] a.rs`.
fn kind_bare(name: &str) -> Option<&str> {
    name.strip_prefix('[')?.split_once("] ").map(|(_, bare)| bare)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIMIC_LIST: &str = "zeta: test\nalpha: test\nbench_g: bench\n[tidy] kind_h: test\n";

    #[test]
    fn a_batch_runs_in_listed_order_and_skips_the_rest() {
        let order = parse_listed_order(MIMIC_LIST).expect("a list");
        let universe = Universe::new(vec!["alpha", "zeta", "bench_g", "[tidy] kind_h"]);
        let (ordered, skips) =
            plan(&[(0, "alpha"), (1, "[tidy] kind_h"), (2, "zeta")], &universe, &order)
                .expect("a plan");
        assert_eq!(ordered, [(2, "zeta"), (0, "alpha"), (1, "[tidy] kind_h")]);
        assert_eq!(skips, ["bench_g"]);
        // A name the list does not hold, or one a skip would also take: no plan.
        assert!(plan(&[(0, "omega")], &universe, &order).is_none());
        let order = parse_listed_order("x: test\n[k] x: test\n").unwrap();
        let universe = Universe::new(vec!["x", "[k] x"]);
        assert!(plan(&[(0, "[k] x")], &universe, &order).is_none());
        assert!(plan(&[(0, "x"), (1, "[k] x")], &universe, &order).is_some());
    }

    #[test]
    fn only_a_list_of_distinct_names_is_an_order() {
        assert!(parse_listed_order("a: test\n\n1 test, 0 benchmarks\n").is_some());
        assert!(parse_listed_order("a: test\na: test\n").is_none(), "a name twice");
        assert!(parse_listed_order("hello\n").is_none());
    }
}
