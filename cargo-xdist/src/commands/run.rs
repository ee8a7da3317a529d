//! `cargo xdist run`: collect, resolve the settings (flags, environment, profile), pick the
//! tests `--lf`/`--ff` ask for, plan, drive the workers with the subscribers listening,
//! remember durations and outcomes, and turn the summary into the exit code.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::io::{IsTerminal, Write};
use std::sync::Arc;

use indicatif::ProgressDrawTarget;
use xdist_core::codec;
use xdist_core::events::RunSubscriber;
use xdist_core::protocol::ToWorker;
use xdist_core::testlist::TestList;

use crate::cli::display::OutputWhen;
use crate::cli::{NoTests, RunArgs, RunFormat};
use crate::collect::shard::Sharding;
use crate::collect::{Collected, collect};
use crate::commands::{doctests_wanted, settings_for};
use crate::config::filterset::Filtersets;
use crate::config::groups::Groups;
use crate::config::options::check_worker_flags;
use crate::config::settings::{RunSettings, flag_values};
use crate::drive::drive;
use crate::drive::transport::Transport;
use crate::drive::transport::local::LocalTransport;
use crate::errors::{InternalError, UsageError, XdistError, exit_code};
use crate::plan::history::{History, inherited_backtraces};
use crate::plan::outcomes::Outcomes;
use crate::plan::{self, Plan, rerun};
use crate::remote::notes::HostNotes;
use crate::report::durations::DurationRecorder;
use crate::report::github::GithubReporter;
use crate::report::json::JsonStream;
use crate::report::junit::{DEFAULT_RUN_NAME, JunitReporter};
use crate::report::libtest_json::LibtestJson;
use crate::report::outcomes::OutcomeRecorder;
use crate::report::progress::ProgressDisplay;
use crate::report::style::{self, Palette, Progress, TermEnv};
use crate::report::terminal::{Detail, TerminalReporter};
use crate::report::timeline::Timeline;
use crate::scripts::{PhaseEnd, ScriptRecord, Scripts};

/// Runs the selected tests; returns the exit code.
pub fn run(args: &RunArgs) -> Result<u8, XdistError> {
    let filter = args.filter.to_filter()?;
    check_worker_flags(args.numprocesses.as_deref(), args.maxprocesses)?;
    let filtersets = Filtersets::from_flags(&args.filter.filterset).map_err(UsageError::from)?;
    let specs = crate::remote::specs(args)?;
    let program =
        std::env::current_exe().map_err(|source| InternalError::OwnExecutable { source })?;
    let profile = args.profile.profile.as_deref();
    let wanted = |root: &camino::Utf8Path| doctests_wanted(&flag_values(args), profile, root);
    let mut collected = collect(&args.cargo, &args.archive, &filter, &wanted)?;
    let resolved = settings_for(&collected, flag_values(args), profile)?;
    let settings = resolved.run_settings(args);
    filtersets.with_default(&resolved, args.filter.ignore_default_filter).select(&mut collected);
    let outcomes = Outcomes::load(&collected.target_dir);
    let groups =
        Groups::new(&settings.group_flags, settings.override_groups(), settings.groups.clone())?;
    let sharding = settings.selection.partition.map(|partition| Sharding {
        partition,
        dist: settings.dist,
        groups: &groups,
        history: &settings.history,
    });
    let rerun = rerun::select(&mut collected, sharding, &settings.selection, &outcomes)?;
    if rerun.nothing {
        return Ok(no_tests(NoTests::Pass, 0));
    }
    if collected.selected.is_empty() {
        return Ok(no_tests(settings.no_tests, collected.ignored.len()));
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|source| InternalError::RunLoop { source })?;
    let root = collected.workspace_root.clone();
    let mut scripts =
        Scripts::new(resolved.setup.clone(), resolved.teardown.clone(), root.as_ref());
    let setup_end = runtime.block_on(scripts.setup());
    let setup_records = scripts.take_records();
    match setup_end {
        PhaseEnd::Passed(vars) => {
            for binary in &mut collected.full.binaries {
                binary.env.extend(vars.iter().cloned());
            }
        }
        PhaseEnd::Failed => {
            report_scripts_alone(&settings, &collected, &setup_records);
            return Ok(exit_code::SETUP_FAILED);
        }
        PhaseEnd::Interrupted(_) => {
            report_scripts_alone(&settings, &collected, &setup_records);
            return Ok(exit_code::INTERRUPTED);
        }
    }
    let fixed = (!specs.is_empty()).then(|| u32::try_from(specs.len()).unwrap_or(u32::MAX));
    let plan = plan::plan(&settings, &filter, &collected, rerun.first, fixed)?;
    let Plan { list, mut session, mut setup, shape, detail, skipped, history } = plan;
    // `cargo test -- --nocapture` says the same.
    setup.no_capture =
        args.display.no_capture || args.filter.libtest_args.iter().any(|a| a == "--nocapture");
    let setup_frame = codec::encode_frame(&ToWorker::Setup(setup.clone()))
        .map_err(|source| InternalError::EncodeSetup { source })?;
    let local = LocalTransport {
        program,
        args: vec![crate::WORKER_ARG.to_string()],
        count: session.initial_workers(),
        testrun_uid: settings.testrunuid.clone().unwrap_or_else(random_uid),
        setup_frame: Arc::new(setup_frame),
    };
    let mut hosts = None;
    let mut transport: Box<dyn Transport> = if specs.is_empty() {
        Box::new(local)
    } else {
        let remote = crate::remote::transport(
            &specs,
            local,
            &setup,
            &collected,
            args,
            &resolved.remote_include,
            resolved.remote_worker.as_deref(),
        )?;
        hosts = Some(Arc::clone(&remote.hosts));
        Box::new(remote)
    };
    let json = settings.message_format != RunFormat::Human;
    let (mut display, mut reporter) = terminal(args, json, &list, detail, skipped);
    let libtest = settings.message_format == RunFormat::LibtestJson;
    let mut libtest_lines = libtest.then(|| {
        let skipped = collected.ignored.iter().map(|&i| collected.full.binary_and_name(i));
        let out = std::io::BufWriter::new(std::io::stdout());
        LibtestJson::new(&list, skipped.collect(), out)
    });
    let mut events = (json && !libtest).then(|| {
        let skipped = collected.ignored.iter().map(|&i| collected.full.binary_and_name(i));
        let out = std::io::BufWriter::new(std::io::stdout());
        let pretty = settings.message_format == RunFormat::JsonPretty;
        let mut stream = JsonStream::with_style(&list, skipped.collect(), out, pretty);
        stream.scripts(&setup_records);
        stream
    });
    let mut junit = settings.junit.as_ref().map(|path| {
        let mut junit = JunitReporter::new(&list, path, DEFAULT_RUN_NAME)
            .with_skipped_before(&collected.full, &collected.ignored)
            .with_success_output(settings.success_output != OutputWhen::Never);
        junit.add_scripts(&setup_records);
        junit
    });
    let mut github = GithubReporter::wanted().then(|| {
        let out = Box::new(std::io::stdout());
        GithubReporter::new(&list, &collected.workspace_root, out, GithubReporter::step_summary())
    });
    let mut timeline = args.display.timeline.as_ref().map(|path| Timeline::new(&list, path));
    let backtraces = inherited_backtraces();
    let mut recorder = history.map(|h| DurationRecorder::new(&list, h).with_backtraces(backtraces));
    let mut last_outcomes = OutcomeRecorder::new(&list, outcomes);
    let mut host_notes = hosts.map(|hosts| {
        let out: Box<dyn Write> = match display.as_ref() {
            Some(display) => Box::new(display.writer(std::io::stderr())),
            None => Box::new(std::io::stderr()),
        };
        HostNotes::new(hosts, out)
    });
    let outcome = {
        let mut subscribers: Vec<&mut dyn RunSubscriber> = Vec::new();
        // The live display clears itself before the terminal's summary.
        if let Some(display) = display.as_mut() {
            subscribers.push(display);
        }
        // Annotations before the terminal's summary, which stays the last line.
        if let Some(github) = github.as_mut() {
            subscribers.push(github);
        }
        if let Some(notes) = host_notes.as_mut() {
            subscribers.push(notes);
        }
        subscribers.push(&mut reporter);
        if let Some(events) = events.as_mut() {
            subscribers.push(events);
        }
        if let Some(lines) = libtest_lines.as_mut() {
            subscribers.push(lines);
        }
        if let Some(junit) = junit.as_mut() {
            subscribers.push(junit);
        }
        if let Some(recorder) = recorder.as_mut() {
            subscribers.push(recorder);
        }
        if let Some(timeline) = timeline.as_mut() {
            subscribers.push(timeline);
        }
        subscribers.push(&mut last_outcomes);
        runtime.block_on(drive(&mut session, transport.as_mut(), &shape, &mut subscribers))
    };
    let teardown = match (scripts.has_teardown(), outcome.forced) {
        (false, _) => None,
        (true, true) => {
            eprintln!("xdist: teardown skipped (a second signal)");
            None
        }
        (true, false) => Some(runtime.block_on(scripts.teardown())),
    };
    let teardown_records = scripts.take_records();
    if let Some(events) = events.as_mut() {
        events.scripts(&teardown_records);
    }
    if let Some(junit) = junit.as_mut() {
        junit.add_scripts(&teardown_records);
    }
    if let Some(recorder) = recorder {
        save_history(recorder.into_history());
    }
    if let Err(e) = last_outcomes.into_outcomes().save() {
        let path = Outcomes::path(&collected.target_dir);
        eprintln!("warning: could not save test outcomes to {path}: {e}");
    }
    if let Some(junit) = junit {
        if let Err(e) = junit.finish() {
            eprintln!("warning: {}", error_chain(&e));
        }
    }
    if let Some(timeline) = timeline {
        if let Err(e) = timeline.finish() {
            let path = args.display.timeline.as_deref().unwrap_or_else(|| "".as_ref());
            eprintln!("warning: could not write the timeline to {}: {e}", path.display());
        }
    }
    let summary = reporter.summary().unwrap_or_default();
    Ok(if outcome.interrupted_by.is_some() || matches!(teardown, Some(PhaseEnd::Interrupted(_))) {
        exit_code::INTERRUPTED
    } else if !summary.is_success() {
        exit_code::TEST_FAILED
    } else if teardown == Some(PhaseEnd::Failed) {
        exit_code::TEARDOWN_FAILED
    } else {
        exit_code::OK
    })
}

/// A run that ends in its setup still reports the setup scripts: their JSON events on
/// stdout and a JUnit file holding only them.
fn report_scripts_alone(settings: &RunSettings, collected: &Collected, records: &[ScriptRecord]) {
    let list = collected.run_list();
    if matches!(settings.message_format, RunFormat::Json | RunFormat::JsonPretty) {
        let out = std::io::BufWriter::new(std::io::stdout());
        let pretty = settings.message_format == RunFormat::JsonPretty;
        JsonStream::with_style(&list, Vec::new(), out, pretty).scripts(records);
    }
    if let Some(path) = &settings.junit {
        let mut junit = JunitReporter::new(&list, path, DEFAULT_RUN_NAME);
        junit.add_scripts(records);
        if let Err(e) = junit.finish() {
            eprintln!("warning: {}", error_chain(&e));
        }
    }
}

/// The terminal report and, on a terminal, the live display it writes above. The human
/// report goes to stdout, or to stderr when stdout carries the JSON events.
fn terminal<'a>(
    args: &RunArgs,
    json: bool,
    list: &'a TestList,
    mut detail: Detail,
    skipped: Vec<String>,
) -> (Option<ProgressDisplay<'a>>, TerminalReporter<'a>) {
    let on_terminal =
        if json { std::io::stderr().is_terminal() } else { std::io::stdout().is_terminal() };
    let env = TermEnv::from_env();
    detail.palette = Palette::new(style::use_color(args.display.color, &env, on_terminal));
    let progress = style::progress(args.display.show_progress, &env, on_terminal);
    detail.counter = progress == Progress::Counter;
    if progress == Progress::Bar {
        let target = if json { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::stdout() };
        let display = ProgressDisplay::new(list, target, detail.palette);
        let out: Box<dyn Write> = if json {
            Box::new(display.writer(std::io::stderr()))
        } else {
            Box::new(display.writer(std::io::stdout()))
        };
        let err = Box::new(display.writer(std::io::stderr()));
        let reporter = TerminalReporter::with_output(list, detail, skipped, out, err);
        return (Some(display), reporter);
    }
    let reporter = if json {
        let err = Box::new(std::io::BufWriter::new(std::io::stderr()));
        TerminalReporter::with_output(list, detail, skipped, err, Box::new(std::io::stderr()))
    } else {
        TerminalReporter::new(list, detail, skipped)
    };
    (None, reporter)
}

fn save_history(mut history: History) {
    if let Err(e) = history.save() {
        eprintln!("warning: could not save test durations to {}: {e}", history.location());
    }
}

/// Handles a selection with no test in it; returns the exit code.
pub fn no_tests(policy: NoTests, ignored: usize) -> u8 {
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
            exit_code::OK
        }
        NoTests::Warn => {
            eprintln!("warning: {message}");
            print_summary();
            exit_code::OK
        }
        NoTests::Fail => {
            eprintln!("error: {message} (use --no-tests=pass to allow this)");
            exit_code::NO_TESTS
        }
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

/// An error and its sources on one line.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}
