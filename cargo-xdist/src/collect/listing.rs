//! Lists every test binary once, in the controller: `<bin> --list --format terse` and the
//! same with `--ignored`, several binaries at a time, as nextest does.

use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;

use xdist_core::testlist::{TestBinary, TestList};
use xdist_worker::command::test_command;

use crate::errors::{ListError, ListErrorKind};

/// The tests of one binary as (name, ignored), or why it could not be listed.
type Listed = Result<Vec<(String, bool)>, ListError>;

/// Lists all `binaries` and builds the run's test list.
pub fn list_tests(binaries: Vec<TestBinary>) -> Result<TestList, ListError> {
    let threads = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .clamp(2, 16)
        .min(binaries.len().max(1));
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Listed>>> =
        Mutex::new((0..binaries.len()).map(|_| None).collect());
    thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(binary) = binaries.get(i) else { break };
                    let listed = list_binary(binary);
                    results.lock().expect("no panics while locked")[i] = Some(listed);
                }
            });
        }
    });
    let results = results.into_inner().expect("threads joined");
    let mut listed = Vec::with_capacity(binaries.len());
    for (binary, result) in binaries.into_iter().zip(results) {
        let tests = result.expect("every binary listed")?;
        listed.push((binary, tests));
    }
    Ok(TestList::new(listed))
}

fn list_binary(binary: &TestBinary) -> Listed {
    // Both listings at once, as nextest does.
    let (all, ignored) = thread::scope(|scope| {
        let ignored = scope.spawn(|| run_list(binary, true));
        (run_list(binary, false), ignored.join().expect("listing thread panicked"))
    });
    let (all, ignored) = (all?, ignored?);
    let mut ignored: HashSet<String> = ignored.into_iter().collect();
    let mut tests: Vec<(String, bool)> = all
        .into_iter()
        .map(|n| {
            let is_ignored = ignored.remove(&n);
            (n, is_ignored)
        })
        .collect();
    // What is left was listed only under `--ignored` (a custom harness may do that).
    tests.extend(ignored.into_iter().map(|n| (n, true)));
    Ok(tests)
}

fn run_list(binary: &TestBinary, ignored: bool) -> Result<Vec<String>, ListError> {
    list_names(binary, ignored).map_err(|kind| ListError { binary_id: binary.id.clone(), kind })
}

fn list_names(binary: &TestBinary, ignored: bool) -> Result<Vec<String>, ListErrorKind> {
    let mut command = test_command(&binary.path, &binary.cwd, &binary.env);
    command.args(["--list", "--format", "terse"]);
    if ignored {
        command.arg("--ignored");
    }
    let output = command
        .output()
        .map_err(|source| ListErrorKind::Spawn { path: binary.path.clone(), source })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let last = stderr.lines().last().filter(|line| !line.is_empty());
        return Err(ListErrorKind::Failed {
            path: binary.path.clone(),
            status: output.status,
            last_stderr_line: last.map(String::from),
        });
    }
    let stdout =
        String::from_utf8(output.stdout).map_err(|source| ListErrorKind::NotUtf8 { source })?;
    parse_terse(&stdout)
}

/// Parses `name: test` lines; benchmarks are left out, anything else is an error.
pub fn parse_terse(stdout: &str) -> Result<Vec<String>, ListErrorKind> {
    let mut names = Vec::new();
    for line in stdout.lines() {
        if let Some(name) = line.strip_suffix(": test") {
            names.push(name.to_string());
        } else if line.ends_with(": benchmark") || line.is_empty() {
            continue;
        } else {
            return Err(ListErrorKind::NotATestList { line: line.to_string() });
        }
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terse_lists_parse() {
        assert_eq!(parse_terse("a::b: test\nc: benchmark\nd: test\n").unwrap(), ["a::b", "d"]);
        let err = parse_terse("a: test\nrunning 3 tests\n").unwrap_err();
        assert!(
            matches!(&err, ListErrorKind::NotATestList { line } if line == "running 3 tests"),
            "{err}"
        );
    }
}
