//! `cargo xdist run`: collect, schedule, drive the workers, report, remember durations.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use std::sync::Arc;

use xdist_core::codec;
use xdist_core::events::RunSubscriber;
use xdist_core::protocol::{Batching, BinarySpec, RunLimits, TestSpec, ToWorker, WorkerSetup};
use xdist_core::testlist::{RunIgnored, TestList};
use xdist_core::{DSession, SessionConfig};
use xdist_sched::{DistMode, SchedOptions, build_scheduler, useful_workers};

use crate::cli::{FlakyResult, NoTests, RunArgs};
use crate::collect::collect;
use crate::drive::transport::local::LocalTransport;
use crate::drive::{RunShape, drive};
use crate::errors::{XdistError, exit_code};
use crate::groups::Groups;
use crate::history::History;
use crate::options::worker_count;
use crate::report::durations::DurationRecorder;
use crate::report::terminal::{Detail, TerminalReporter};
use crate::sched_input::test_metas;

/// Runs the selected tests; returns the exit code.
pub fn run(args: &RunArgs) -> Result<u8, XdistError> {
    let filter = args.filter.to_filter()?;
    let mode = args.dist;
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
    let groups = Groups::load(&collected.workspace_root, &args.group)?;
    let history = (!args.no_history).then(|| History::load(&collected.target_dir));
    let list = collected.run_list();
    let mut metas = test_metas(&list, &groups, history.as_ref());
    // `each`: every test runs once per worker (the scheduler deals one slot per run);
    // every other mode: once, and never on more workers than it can keep busy.
    let copies = if mode == DistMode::Each { workers as usize } else { 1 };
    if mode == DistMode::Each {
        metas = (0..copies).flat_map(|_| metas.iter().cloned()).collect();
    } else {
        workers = workers.min(u32::try_from(useful_workers(mode, &metas)).unwrap_or(u32::MAX));
    }
    let options = SchedOptions {
        max_sched_chunk: args.maxschedchunk.map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
        loadscope_reorder: !args.no_loadscope_reorder,
        use_history: !args.no_history,
        copies,
    };
    let sched = build_scheduler(mode, &metas, &options);
    let config = SessionConfig {
        workers,
        max_worker_restart: args.max_worker_restart.unwrap_or(4 * workers),
        max_fail,
        retries: args.retries,
        flaky_fails: args.flaky_result == FlakyResult::Fail,
        runs_per_test: u32::try_from(copies).unwrap_or(u32::MAX),
    };
    let mut session = DSession::new(list.tests.len(), sched, config);
    let skipped: Vec<String> =
        collected.ignored.iter().map(|&i| collected.full.test_id(i)).collect();
    let detail = Detail { verbose: args.verbose, each: mode == DistMode::Each };
    let shape = RunShape {
        skipped: skipped.len(),
        mode: mode.name().to_string(),
        silence_timeout: args.worker_silence_timeout,
    };
    let limits = RunLimits {
        slow_ms: args.slow_timeout.map(millis),
        timeout_ms: args.timeout.map(millis),
        kill_grace_ms: millis(args.kill_grace),
        output_keep: args.output_limit / 2,
        ..RunLimits::default()
    };
    // Paced batches where work must stay movable (worksteal) or stoppable (`-x`: a failure
    // is known when its process ends, since libtest prints captured output last); whole
    // ones elsewhere, since tests that share a per-process fixture pay for it once per
    // process (regex's suite: more processes made its first run slower, not faster).
    let batching = if mode == DistMode::WorkSteal || max_fail.is_some() {
        Batching::Adaptive
    } else {
        Batching::Whole
    };
    let include_ignored = filter.run_ignored != RunIgnored::Default;
    let setup = worker_setup(&list, include_ignored, limits, batching);
    let setup_frame = codec::encode_frame(&ToWorker::Setup(setup))
        .map_err(|e| XdistError::Internal(format!("encoding the test list: {e}")))?;
    let mut transport = LocalTransport {
        program,
        args: vec![crate::WORKER_ARG.to_string()],
        count: session.initial_workers(),
        testrun_uid: args.testrunuid.clone().unwrap_or_else(random_uid),
        setup_frame: Arc::new(setup_frame),
    };
    let mut reporter = TerminalReporter::new(&list, detail, skipped);
    let mut recorder = history.map(|h| DurationRecorder::new(&list, h));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| XdistError::Internal(format!("cannot start the run loop: {e}")))?;
    let outcome = {
        let mut subscribers: Vec<&mut dyn RunSubscriber> = vec![&mut reporter];
        if let Some(recorder) = recorder.as_mut() {
            subscribers.push(recorder);
        }
        runtime.block_on(drive(&mut session, &mut transport, &shape, &mut subscribers))
    };
    if let Some(recorder) = recorder {
        if let Err(e) = recorder.into_history().save() {
            eprintln!(
                "warning: could not save test durations to {}: {e}",
                History::path(&collected.target_dir)
            );
        }
    }
    let summary = reporter.summary().unwrap_or_default();
    Ok(if outcome.interrupted_by.is_some() {
        exit_code::INTERRUPTED
    } else if summary.is_success() {
        exit_code::OK
    } else {
        exit_code::TEST_FAILED
    })
}

/// Handles a selection with no test in it.
pub fn no_tests(policy: NoTests, ignored: usize) -> Result<u8, XdistError> {
    let message = if ignored > 0 {
        format!("no tests to run ({ignored} matched but are ignored; see --run-ignored)")
    } else {
        "no tests to run".to_string()
    };
    let summary = format!("xdist: 0 passed, 0 failed, {ignored} skipped\n");
    let print_summary = || {
        let _ = std::io::Write::write_all(&mut std::io::stdout(), summary.as_bytes());
    };
    match policy {
        NoTests::Pass => {
            print_summary();
            Ok(exit_code::OK)
        }
        NoTests::Warn => {
            eprintln!("warning: {message}");
            print_summary();
            Ok(exit_code::OK)
        }
        NoTests::Fail => {
            eprintln!("error: {message} (use --no-tests=pass to allow this)");
            Ok(exit_code::NO_TESTS)
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

fn worker_setup(
    list: &TestList,
    include_ignored: bool,
    limits: RunLimits,
    batching: Batching,
) -> WorkerSetup {
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
        batching,
    }
}

fn random_uid() -> String {
    let mut hasher = RandomState::new().build_hasher();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    hasher.write_u128(nanos);
    hasher.write_u32(std::process::id());
    let a = hasher.finish();
    hasher.write_u64(a);
    format!("{a:016x}{:016x}", hasher.finish())
}
