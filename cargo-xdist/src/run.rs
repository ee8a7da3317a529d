//! `cargo xdist run` and `cargo xdist list`.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

use xdist_core::protocol::{BinarySpec, RunLimits, TestSpec, WorkerSetup};
use xdist_core::testlist::{RunIgnored, TestList};
use xdist_core::{DSession, SessionConfig};
use xdist_sched::{DistMode, SchedConfig, make_scheduler};

use crate::cli::{DistArg, FlakyResult, ListArgs, ListFormat, NoTests, RunArgs};
use crate::collect::collect;
use crate::errors::{XdistError, exit_code};
use crate::options::worker_count;
use crate::reporter::Reporter;
use crate::workers::{WorkerCommand, drive};

/// Runs the selected tests; returns the exit code.
pub fn run(args: &RunArgs) -> Result<u8, XdistError> {
    let filter = args.filter.to_filter()?;
    let mode = match args.dist {
        DistArg::No => DistMode::No,
        DistArg::Load => DistMode::Load,
    };
    let mut workers = worker_count(args.numprocesses.as_deref(), args.maxprocesses)?;
    if mode == DistMode::No {
        workers = 1;
    }
    let max_fail = if args.exitfirst { Some(1) } else { args.maxfail };
    let program = std::env::current_exe().map_err(|e| {
        XdistError::Internal(format!("cannot find the cargo-xdist executable: {e}"))
    })?;

    let collected = collect(&args.cargo, &filter)?;
    if collected.selected.is_empty() {
        return no_tests(args.no_tests, collected.ignored.len());
    }
    let list = collected.run_list();
    let sched = make_scheduler(
        mode,
        list.tests.len(),
        SchedConfig {
            max_sched_chunk: args.maxschedchunk.map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
        },
    );
    let config = SessionConfig {
        workers,
        max_worker_restart: args.max_worker_restart.unwrap_or(4 * workers),
        max_fail,
        retries: args.retries,
        flaky_fails: args.flaky_result == FlakyResult::Fail,
    };
    let mut session = DSession::new(list.tests.len(), sched, config);
    let mut reporter = Reporter::new(&list, args.verbose);
    reporter.header(list.tests.len(), collected.ignored.len(), session.initial_workers());
    for &i in &collected.ignored {
        reporter.skipped(&collected.full.test_id(i));
    }
    let command = WorkerCommand {
        program,
        args: vec![crate::WORKER_ARG.to_string()],
        count: session.initial_workers(),
        testrun_uid: args.testrunuid.clone().unwrap_or_else(random_uid),
        silence_timeout: args.worker_silence_timeout,
    };
    let limits = RunLimits {
        slow_ms: args.slow_timeout.map(millis),
        timeout_ms: args.timeout.map(millis),
        kill_grace_ms: millis(args.kill_grace),
        output_keep: args.output_limit / 2,
        ..RunLimits::default()
    };
    let setup = worker_setup(&list, filter.run_ignored != RunIgnored::Default, limits);
    let outcome = drive(&mut session, setup, &command, &mut reporter)?;
    let summary = reporter.finish(session.stop_reason());
    Ok(if outcome.interrupted_by.is_some() {
        exit_code::INTERRUPTED
    } else if summary.is_success() {
        exit_code::OK
    } else {
        exit_code::TEST_FAILED
    })
}

/// Lists the selected tests; returns the exit code.
pub fn list(args: &ListArgs) -> Result<u8, XdistError> {
    let filter = args.filter.to_filter()?;
    let collected = collect(&args.cargo, &filter)?;
    match args.message_format {
        ListFormat::Oneline => {
            let mut out = String::new();
            for &i in &collected.selected {
                out.push_str(&collected.full.test_id(i));
                out.push('\n');
            }
            print!("{out}");
        }
        ListFormat::Json => {
            let selected: std::collections::HashSet<usize> =
                collected.selected.iter().copied().collect();
            let binaries: Vec<serde_json::Value> = collected
                .full
                .binaries
                .iter()
                .enumerate()
                .map(|(b, binary)| {
                    let tests: Vec<serde_json::Value> = collected
                        .full
                        .tests
                        .iter()
                        .enumerate()
                        .filter(|(_, t)| t.binary as usize == b)
                        .map(|(i, t)| serde_json::json!({"name": t.name, "ignored": t.ignored, "selected": selected.contains(&i)}))
                        .collect();
                    serde_json::json!({"binary-id": binary.id, "binary-path": binary.path, "cwd": binary.cwd, "tests": tests})
                })
                .collect();
            println!("{}", serde_json::json!({ "binaries": binaries }));
        }
    }
    Ok(exit_code::OK)
}

fn no_tests(policy: NoTests, ignored: usize) -> Result<u8, XdistError> {
    let message = if ignored > 0 {
        format!("no tests to run ({ignored} matched but are ignored; see --run-ignored)")
    } else {
        "no tests to run".to_string()
    };
    match policy {
        NoTests::Pass => {
            println!("xdist: 0 passed, 0 failed, {ignored} skipped");
            Ok(exit_code::OK)
        }
        NoTests::Warn => {
            eprintln!("warning: {message}");
            println!("xdist: 0 passed, 0 failed, {ignored} skipped");
            Ok(exit_code::OK)
        }
        NoTests::Fail => {
            eprintln!("error: {message} (use --no-tests=pass to allow this)");
            Ok(exit_code::NO_TESTS)
        }
    }
}

fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

fn worker_setup(list: &TestList, include_ignored: bool, limits: RunLimits) -> WorkerSetup {
    WorkerSetup {
        binaries: list
            .binaries
            .iter()
            .map(|b| BinarySpec { path: b.path.clone(), cwd: b.cwd.clone(), env: b.env.clone() })
            .collect(),
        tests: list
            .tests
            .iter()
            .map(|t| TestSpec { binary: t.binary, name: t.name.clone() })
            .collect(),
        include_ignored,
        limits,
    }
}

fn random_uid() -> String {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    hasher.write_u32(std::process::id());
    let a = hasher.finish();
    hasher.write_u64(a);
    format!("{a:016x}{:016x}", hasher.finish())
}
