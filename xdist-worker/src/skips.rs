//! Batches of a harness that takes one name per process (libtest-mimic and the harnesses
//! built on it: datatest-stable, toml-test, …) in one process: no name at all, so the
//! harness runs every test, and `--exact --skip=NAME` for each of the binary's other tests.
//! Before such a process runs, the same command with `--list` must list exactly the batch,
//! each test once: that checks the harness took the skips as meant, and gives the order in
//! which it runs them (libtest-mimic runs its tests as it lists them, not sorted as libtest
//! does), which is how the batch's results are read.

use std::collections::HashSet;
use std::io::Read;
use std::process::Stdio;
use std::time::{Duration, Instant};

use xdist_core::TestIndex;
use xdist_core::protocol::BinarySpec;
use xdist_core::testlist::{ListLine, kind_bare, list_line};

use crate::command;
use crate::filters::Universe;

/// Most bytes of `--skip=` arguments on one command line (the kernel limits its size).
const MAX_SKIP_BYTES: usize = 256 * 1024;

/// How long the check's `--list` may take before the plan is given up.
const LIST_TIMEOUT: Duration = Duration::from_secs(30);

/// A batch's tests (index and name).
pub type Tests<'a> = Vec<(TestIndex, &'a str)>;

/// The names to skip so that the binary runs exactly `tests`: every other test it has
/// (`universe`). `None` when that cannot be told apart: a test that a skip would take too
/// (libtest-mimic's `--exact` also matches a trial of a kind by its bare name), two tests
/// of the batch that share a bare name (its failure sections name trials bare), or too many
/// skips for a command line.
pub fn skips_for(tests: &[(TestIndex, &str)], universe: &Universe<'_>) -> Option<Vec<String>> {
    let wanted: HashSet<&str> = tests.iter().map(|t| t.1).collect();
    let mut skips: Vec<String> =
        universe.names().iter().filter(|n| !wanted.contains(*n)).map(|n| n.to_string()).collect();
    let bytes: usize = skips.iter().map(|s| s.len() + "--skip=".len() + 1).sum();
    if bytes > MAX_SKIP_BYTES {
        return None;
    }
    let skipped: HashSet<&str> = skips.iter().map(String::as_str).collect();
    let mut bare_seen = HashSet::new();
    for &(_, name) in tests {
        let bare = kind_bare(name).unwrap_or(name);
        if !bare_seen.insert(bare) || (bare != name && skipped.contains(bare)) {
            return None;
        }
    }
    skips.sort_unstable();
    Some(skips)
}

/// Asks `binary` to `--list` what it would run with `skips`, and returns `tests` in that
/// order if that is exactly them, each once; `None` otherwise, or if the listing fails.
pub fn checked_order<'a>(
    binary: &BinarySpec,
    skips: &[String],
    tests: &[(TestIndex, &'a str)],
) -> Option<Tests<'a>> {
    let mut command = command::test_command(&binary.runner, &binary.path, &binary.cwd, &binary.env);
    command.arg("--list").args(skip_args(skips));
    command.stdout(Stdio::piped()).stderr(Stdio::null());
    command::isolate(&mut command);
    let listed = run_with_timeout(command)?;
    order_of(tests, &listed)
}

/// The arguments that make a binary run all its tests but `skips`: the batch's and its
/// check's alike.
pub fn skip_args(skips: &[String]) -> impl Iterator<Item = String> + '_ {
    std::iter::once("--exact".to_string()).chain(skips.iter().map(|s| format!("--skip={s}")))
}

/// Runs `command` to its end (killing its process group after [`LIST_TIMEOUT`]); its stdout
/// if it exited with 0.
fn run_with_timeout(mut command: std::process::Command) -> Option<String> {
    let mut child = command.spawn().ok()?;
    let mut stdout = child.stdout.take()?;
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        stdout.read_to_end(&mut out).map(|_| out)
    });
    let deadline = Instant::now() + LIST_TIMEOUT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(2)),
            _ => break None,
        }
    };
    if !status.is_some_and(|s| s.success()) {
        let group = nix::unistd::Pid::from_raw(child.id() as i32);
        let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL);
        let _ = child.wait();
        return None;
    }
    let out = reader.join().ok()?.ok()?;
    Some(String::from_utf8_lossy(&out).into_owned())
}

/// `tests` in the order of `listed` (`name: test` lines, as the harness lists them), if the
/// list holds exactly their names, each once, and nothing else but blank and count lines.
fn order_of<'a>(tests: &[(TestIndex, &'a str)], listed: &str) -> Option<Tests<'a>> {
    let by_name: std::collections::HashMap<&str, (TestIndex, &'a str)> =
        tests.iter().map(|&t| (t.1, t)).collect();
    let mut ordered = Vec::with_capacity(tests.len());
    let mut seen = HashSet::new();
    for line in listed.lines() {
        match list_line(line) {
            ListLine::Test(name) if seen.insert(name) => ordered.push(*by_name.get(name)?),
            ListLine::Blank | ListLine::Count => {}
            ListLine::Test(_) | ListLine::Other => return None,
        }
    }
    (ordered.len() == tests.len()).then_some(ordered)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_skips_are_the_binarys_other_tests() {
        let universe = Universe::new(vec!["alpha", "zeta", "bench_g", "[tidy] kind_h"]);
        let skips = skips_for(&[(0, "alpha"), (1, "[tidy] kind_h"), (2, "zeta")], &universe);
        assert_eq!(skips.unwrap(), ["bench_g"]);
        // A skip that would also take a trial of the batch by its bare name: none.
        let universe = Universe::new(vec!["x", "[k] x", "y"]);
        assert!(skips_for(&[(0, "[k] x"), (1, "y")], &universe).is_none());
        // Two trials of the batch that share a bare name: none.
        assert!(skips_for(&[(0, "x"), (1, "[k] x")], &universe).is_none());
        let universe = Universe::new(vec!["[a] x", "[b] x"]);
        assert!(skips_for(&[(0, "[a] x"), (1, "[b] x")], &universe).is_none());
    }

    #[test]
    fn only_a_list_of_exactly_the_batch_gives_its_order() {
        let tests = [(0, "alpha"), (1, "[tidy] kind_h"), (2, "zeta")];
        let listed = "zeta: test\n[tidy] kind_h: bench\nalpha: test\n\n3 tests, 0 benchmarks\n";
        let order = order_of(&tests, listed).unwrap();
        assert_eq!(order, [(2, "zeta"), (1, "[tidy] kind_h"), (0, "alpha")]);
        for listed in [
            "zeta: test\nalpha: test\n", // one missing
            "zeta: test\nalpha: test\n[tidy] kind_h: test\nomega: test\n", // one more
            "zeta: test\nalpha: test\nzeta: test\n[tidy] kind_h: test\n", // one twice
            "zeta: test\nhello\nalpha: test\n[tidy] kind_h: test\n", // not a list
        ] {
            assert!(order_of(&tests, listed).is_none(), "{listed:?}");
        }
    }
}
