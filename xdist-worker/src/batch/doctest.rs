//! Runs a library's doctests ([`Harness::Doctest`]): rustdoc with cargo's command line for
//! it, in one process for all of them, as `cargo test --doc` runs them (rustdoc splits
//! `--test-args` at whitespace, so doctest names, which hold spaces, cannot be passed
//! exactly). rustdoc captures what each doctest prints, so its own lines can be trusted:
//! `test <name> ... ok|FAILED|ignored` gives each outcome (rustdoc adds ` - compile` or
//! ` - compile fail` to `no_run` and `compile_fail` doctests, which `--list` leaves off), and
//! a `---- <name> stdout ----` section a failure's output. The batch's doctests are
//! reported; others the process ran are not (another worker holds them). `--timeout` applies
//! to the process, scaled by the number of doctests it runs.
//!
//! [`Harness::Doctest`]: xdist_core::protocol::Harness::Doctest

use std::collections::HashMap;
use std::io;
use std::time::Duration;

use xdist_core::protocol::Outcome;

use super::whole::run_process;
use super::{Batch, Rest, Sink, report};
use crate::command::{self, describe};

pub(super) fn run<'a>(batch: &Batch<'a>, sink: &mut dyn Sink) -> io::Result<Rest<'a>> {
    let Some(&(first, _)) = batch.tests.first() else { return Ok(Rest::Done) };
    let spec = batch.binary;
    let mut command = command::test_command(&[], &spec.path, &spec.cwd, &spec.env);
    command.args(&spec.args).args(["--test-args", "--color=never"]);
    if batch.include_ignored {
        command.args(["--test-args", "--include-ignored"]);
    }
    // Narrowed to the batch's doctests by substring filters (a superset of the batch, whose
    // extra doctests are run but not reported): the worker's rarest words of each name,
    // else the names' item paths.
    let filters = batch.filters.clone().or_else(|| item_filters(batch.tests.iter().map(|t| t.1)));
    if let Some(filters) = filters {
        for filter in filters {
            command.args(["--test-args", &filter]);
        }
    }
    let count = u32::try_from(batch.tests.len()).unwrap_or(u32::MAX);
    let ran = match run_process(batch, command, first, count, sink)? {
        Ok(ran) => ran,
        Err(cause) => {
            for &(index, _) in &batch.tests {
                let outcome = Outcome::Failed { cause: Some(cause.clone()) };
                sink.send(report(index, outcome, Duration::ZERO, Vec::new()))?;
            }
            return Ok(Rest::Done);
        }
    };
    let stdout = String::from_utf8_lossy(&ran.stdout);
    let results = parse(&stdout);
    let each = ran.duration / count.max(1);
    for &(index, name) in &batch.tests {
        let (outcome, output) = match results.get(name) {
            Some((outcome, output)) => (outcome.clone(), output.clone().into_bytes()),
            None if ran.timed_out => {
                let after_ms = ran.timeout_ms.unwrap_or_default();
                (Outcome::TimedOut { after_ms }, ran.stderr.clone())
            }
            None => {
                let cause =
                    format!("the doctest process {} before this doctest ran", describe(ran.status));
                let mut output = ran.stdout.clone();
                output.extend(&ran.stderr);
                (Outcome::Failed { cause: Some(cause) }, output)
            }
        };
        sink.send(report(index, outcome, each, output))?;
    }
    Ok(Rest::Done)
}

/// The item paths of doctest names (`src/lib.rs - nested::twice (line 59)` → `nested::twice`),
/// each once, if every name has one without whitespace (rustdoc splits filters there).
fn item_filters<'n>(names: impl Iterator<Item = &'n str>) -> Option<Vec<String>> {
    let mut filters: Vec<String> = Vec::new();
    for name in names {
        let (_, rest) = name.split_once(" - ")?;
        let (item, _) = rest.rsplit_once(" (line ")?;
        if item.is_empty() || item.contains(char::is_whitespace) {
            return None;
        }
        if !filters.iter().any(|f| f == item) {
            filters.push(item.to_string());
        }
    }
    Some(filters)
}

/// Each doctest's outcome and failure output in rustdoc's stdout, by its `--list` name.
pub(crate) fn parse(stdout: &str) -> HashMap<String, (Outcome, String)> {
    let mut results: HashMap<String, (Outcome, String)> = HashMap::new();
    let mut section: Option<(String, String)> = None;
    for line in stdout.lines() {
        if let Some(name) = line.strip_prefix("---- ").and_then(|l| l.strip_suffix(" stdout ----"))
        {
            finish(&mut results, section.take());
            section = Some((listed_name(name).to_string(), String::new()));
            continue;
        }
        if line == "failures:" || line.starts_with("test result: ") {
            finish(&mut results, section.take());
            continue;
        }
        if let Some((_, text)) = section.as_mut() {
            text.push_str(line);
            text.push('\n');
            continue;
        }
        let Some((name, word)) = line.strip_prefix("test ").and_then(|l| l.rsplit_once(" ... "))
        else {
            continue;
        };
        let outcome = match word {
            "ok" => Outcome::Passed,
            "FAILED" => Outcome::Failed { cause: None },
            w if w == "ignored" || w.starts_with("ignored, ") => Outcome::Ignored,
            _ => continue,
        };
        results.insert(listed_name(name).to_string(), (outcome, String::new()));
    }
    finish(&mut results, section);
    results
}

fn finish(results: &mut HashMap<String, (Outcome, String)>, section: Option<(String, String)>) {
    if let Some((name, text)) = section {
        if let Some((_, output)) = results.get_mut(&name) {
            *output = text.trim_end().to_string() + "\n";
        }
    }
}

/// The name `--list` gives a doctest: without the ` - compile` / ` - compile fail` that a
/// run adds for `no_run` and `compile_fail` ones (a doctest name otherwise ends in `)`).
fn listed_name(name: &str) -> &str {
    name.strip_suffix(" - compile fail").or_else(|| name.strip_suffix(" - compile")).unwrap_or(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// rustdoc 1.95's output for the `targets` fixture (edition 2024, merged doctests).
    const RUSTDOC: &str = "
running 8 tests
test src/lib.rs - add (line 5) ... ok
test src/lib.rs - broken_doc (line 44) ... FAILED
test src/lib.rs - ignored_doc (line 51) ... ignored
test src/lib.rs - boom (line 21) ... ok
test src/lib.rs - never_run (line 30) - compile ... ok
test src/lib.rs - type_error (line 37) - compile fail ... ok
test src/lib.rs - wrong_doc (line 14) ... FAILED

failures:

---- src/lib.rs - broken_doc (line 44) stdout ----
error[E0308]: mismatched types
Couldn't compile the test.
---- src/lib.rs - wrong_doc (line 14) stdout ----
Test executable failed (exit status: 101).

stderr:
thread 'main' panicked at src/lib.rs:5:1:
deliberately wrong


failures:
    src/lib.rs - broken_doc (line 44)
    src/lib.rs - wrong_doc (line 14)

test result: FAILED. 4 passed; 2 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.67s

all doctests ran in 0.73s; merged doctests compilation took 0.05s
";

    #[test]
    fn a_batch_is_narrowed_to_its_items_when_their_paths_allow() {
        let names = [
            "src/lib.rs - add (line 5)",
            "src/a.rs - m::add (line 9) - compile",
            "src/lib.rs - add (line 7)",
        ];
        assert_eq!(item_filters(names.into_iter()), Some(vec!["add".into(), "m::add".into()]));
        let spaced = ["src/lib.rs - add (line 5)", "src/lib.rs - <impl X for Y>::f (line 3)"];
        assert_eq!(item_filters(spaced.into_iter()), None);
        assert_eq!(item_filters(["not a doctest name"].into_iter()), None);
    }

    #[test]
    fn every_doctest_gets_its_outcome_and_failure_output() {
        let results = parse(RUSTDOC);
        let outcome = |name: &str| results[name].0.clone();
        assert_eq!(outcome("src/lib.rs - add (line 5)"), Outcome::Passed);
        assert_eq!(outcome("src/lib.rs - never_run (line 30)"), Outcome::Passed);
        assert_eq!(outcome("src/lib.rs - type_error (line 37)"), Outcome::Passed);
        assert_eq!(outcome("src/lib.rs - ignored_doc (line 51)"), Outcome::Ignored);
        assert_eq!(outcome("src/lib.rs - wrong_doc (line 14)"), Outcome::Failed { cause: None });
        assert_eq!(results.len(), 7);
        let broken = &results["src/lib.rs - broken_doc (line 44)"].1;
        assert!(broken.starts_with("error[E0308]") && broken.ends_with("compile the test.\n"));
        let wrong = &results["src/lib.rs - wrong_doc (line 14)"].1;
        assert!(wrong.contains("deliberately wrong") && !wrong.contains("failures:"), "{wrong}");
        assert!(results["src/lib.rs - add (line 5)"].1.is_empty());
    }
}
