//! The command line: `cargo xdist run|list|archive|durations`, with cargo's build options
//! (or an archive to run instead), libtest's filters and pytest-xdist's distribution
//! options; the duration history's options and `cargo xdist durations` are in
//! [`durations`], the archive options in [`archive`].

pub mod archive;
pub mod display;
pub mod durations;
pub mod leak;
pub mod remote;
pub mod rerun;

use std::time::Duration;
use xdist_core::partition::Partition;

use camino::Utf8PathBuf;
use clap::{Args, Parser, Subcommand, ValueEnum};
use xdist_sched::DistMode;

/// How cargo starts a subcommand: `cargo-xdist xdist <args>`.
#[derive(Debug, Parser)]
#[command(name = "cargo", bin_name = "cargo")]
pub enum CargoCli {
    /// Run a workspace's tests spread over worker processes.
    Xdist(XdistApp),
}

/// `cargo xdist`.
#[derive(Debug, Args)]
#[command(
    version,
    about = "Run a workspace's tests spread over worker processes, like pytest-xdist"
)]
pub struct XdistApp {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build and run tests across workers.
    Run(Box<RunArgs>),
    /// Build and list tests as `<binary-id> <test name>`.
    List(Box<ListArgs>),
    /// Build the tests and write them to an archive that `run --archive-file` (and
    /// `cargo nextest run --archive-file`) runs elsewhere.
    Archive(Box<archive::ArchiveArgs>),
    /// Import JUnit durations into the history, or merge histories.
    Durations(durations::DurationsArgs),
    /// Print the settings a run would use and where each comes from (flag, environment,
    /// which file and profile, default); takes the options of `run`.
    ShowConfig(Box<RunArgs>),
    /// Simulate every --dist mode on generated tests and print makespans.
    #[command(name = "__simulate", hide = true)]
    Simulate(SimulateArgs),
}

#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Tests to generate.
    #[arg(long, default_value_t = 100_000)]
    pub tests: usize,
    /// Simulated workers.
    #[arg(long, default_value_t = 1_000)]
    pub workers: u32,
    /// Tests per module (the unit of loadscope).
    #[arg(long, default_value_t = 20)]
    pub module_size: usize,
    /// Modes to simulate [default: all but `no` and `each` when there are over 10,000 tests].
    #[arg(long, value_parser = parse_dist)]
    pub dist: Vec<DistMode>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub cargo: CargoOptions,
    #[command(flatten)]
    pub archive: archive::ArchiveSource,
    #[command(flatten)]
    pub filter: FilterOptions,
    #[command(flatten)]
    pub profile: rerun::ProfileArgs,
    #[command(flatten)]
    pub rerun: rerun::RerunArgs,
    /// Worker processes: a number, `auto` (CPUs this process may use) or `logical` (all
    /// logical CPUs). `XDIST_AUTO_NUM_WORKERS` overrides `auto`.
    #[arg(
        short = 'n',
        long = "numprocesses",
        value_name = "N|auto|logical",
        help_heading = "Distribution"
    )]
    pub numprocesses: Option<String>,
    #[command(flatten)]
    pub remote: remote::RemoteOptions,
    /// Upper bound on the number of workers.
    #[arg(long, value_name = "N", help_heading = "Distribution")]
    pub maxprocesses: Option<u32>,
    /// How tests are spread over workers: no, each, load, loadscope, loadfile, loadgroup or
    /// worksteal [default: load].
    #[arg(long, value_name = "MODE", value_parser = parse_dist, help_heading = "Distribution")]
    pub dist: Option<DistMode>,
    /// loadscope/loadfile/loadgroup: send the largest (with history, the longest) units
    /// first [default].
    #[arg(long, overrides_with = "no_loadscope_reorder", help_heading = "Distribution")]
    pub loadscope_reorder: bool,
    /// loadscope/loadfile/loadgroup: send units in list order.
    #[arg(long, help_heading = "Distribution")]
    pub no_loadscope_reorder: bool,
    #[command(flatten)]
    pub history: durations::HistoryOptions,
    /// loadgroup: tests whose id contains PATTERN belong to group NAME (repeatable).
    #[arg(long, value_name = "NAME=PATTERN", help_heading = "Distribution")]
    pub group: Vec<String>,
    /// Largest number of tests sent to a worker at once (`load`).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..), help_heading = "Distribution")]
    pub maxschedchunk: Option<u64>,
    /// Times each worker seat (gwN of the first round and its replacements) is restarted
    /// after a crash before it is retired [default: 4].
    #[arg(long, value_name = "N", help_heading = "Distribution")]
    pub max_worker_restart: Option<u32>,
    /// The run's id, given to every test as `XDIST_TESTRUN_UID` [default: random].
    #[arg(long, value_name = "UID", help_heading = "Distribution")]
    pub testrunuid: Option<String>,
    /// Print a SLOW line for a test each time it has run this many more seconds.
    #[arg(long, value_name = "SECS", value_parser = parse_seconds, allow_negative_numbers = true, help_heading = "Timeouts and retries")]
    pub slow_timeout: Option<Duration>,
    /// Kill a test (its whole process group) after this many seconds; it is reported as
    /// TIMEOUT, a failure.
    #[arg(long, value_name = "SECS", value_parser = parse_seconds, allow_negative_numbers = true, help_heading = "Timeouts and retries")]
    pub timeout: Option<Duration>,
    /// Seconds between SIGTERM and SIGKILL when a test is killed [default: 1].
    #[arg(long, value_name = "SECS", value_parser = parse_seconds, help_heading = "Timeouts and retries")]
    pub kill_grace: Option<Duration>,
    /// Run a failing test again up to N times, each in a fresh process [default: 0].
    #[arg(long, value_name = "N", help_heading = "Timeouts and retries")]
    pub retries: Option<u32>,
    /// How a test that passes only on a retry counts [default: pass].
    #[arg(long, value_enum, help_heading = "Timeouts and retries")]
    pub flaky_result: Option<FlakyResult>,
    #[command(flatten)]
    pub leak: leak::LeakOptions,
    /// Bytes of one test's output kept (its first and last halves; the middle is cut)
    /// [default: 1048576].
    #[arg(long, value_name = "BYTES", value_parser = clap::value_parser!(u64).range(2..))]
    pub output_limit: Option<u64>,
    /// Seconds a worker may send nothing (not even its heartbeat) before it is killed.
    #[arg(long, value_name = "SECS", value_parser = parse_seconds, default_value = "60", hide = true)]
    pub worker_silence_timeout: Duration,
    /// Stop after the first failure.
    #[arg(short = 'x', long, help_heading = "Stopping")]
    pub exitfirst: bool,
    /// Stop after N failures.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..), help_heading = "Stopping")]
    pub maxfail: Option<u32>,
    /// Run every test even after failures (the default).
    #[arg(long, overrides_with = "exitfirst", help_heading = "Stopping")]
    pub no_fail_fast: bool,
    /// What to do when no test matches [default: fail].
    #[arg(long, value_enum)]
    pub no_tests: Option<NoTests>,
    /// Show the worker and duration of each test.
    #[arg(short, long, conflicts_with = "quiet")]
    pub verbose: bool,
    /// Show only failures and the summary.
    #[arg(short, long)]
    pub quiet: bool,
    /// List the N slowest tests before the summary line [default: 0].
    #[arg(long, value_name = "N", help_heading = "Reporting")]
    pub durations: Option<usize>,
    /// What stdout carries: the human report, or the run's events as JSON (one object a
    /// line; `json-pretty`: indented), with the human report on stderr [default: human].
    #[arg(long, value_enum, help_heading = "Reporting")]
    pub message_format: Option<RunFormat>,
    /// Also write a JUnit XML report of the run to PATH.
    #[arg(long, value_name = "PATH", help_heading = "Reporting")]
    pub junit: Option<std::path::PathBuf>,
    #[command(flatten)]
    pub display: display::DisplayOptions,
    /// Loop on failures: run, then on each change to the sources rebuild and rerun what
    /// failed, then everything once it passes; until Ctrl-C (docs/looponfail.md).
    #[arg(short = 'f', long)]
    pub looponfail: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum RunFormat {
    /// The terminal report.
    Human,
    /// Newline-delimited JSON events (docs/reporting.md).
    Json,
    /// The same events, indented.
    JsonPretty,
    /// The lines of `cargo test -- -Z unstable-options --format json --report-time`.
    LibtestJson,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub cargo: CargoOptions,
    #[command(flatten)]
    pub archive: archive::ArchiveSource,
    #[command(flatten)]
    pub filter: FilterOptions,
    #[command(flatten)]
    pub profile: rerun::ProfileArgs,
    #[command(flatten)]
    pub rerun: rerun::RerunArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ListFormat::Oneline)]
    pub message_format: ListFormat,
    /// With `--partition duration:M/N`: the `--dist` mode of the run, whose units
    /// (loadscope, loadfile, loadgroup) a shard keeps whole.
    #[arg(long, value_name = "MODE", default_value = "load", value_parser = parse_dist, help_heading = "Distribution")]
    pub dist: DistMode,
    /// loadgroup: tests whose id contains PATTERN belong to group NAME (repeatable).
    #[arg(long, value_name = "NAME=PATTERN", help_heading = "Distribution")]
    pub group: Vec<String>,
    #[command(flatten)]
    pub history: durations::HistoryOptions,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    /// `<binary-id> <test name>`, one a line.
    Oneline,
    /// One JSON document with every binary and test.
    Json,
}

fn parse_dist(name: &str) -> Result<DistMode, String> {
    DistMode::parse(name).ok_or_else(|| {
        let names: Vec<&str> = DistMode::ALL.iter().map(|m| m.name()).collect();
        format!("invalid value '{name}' (possible values: {})", names.join(", "))
    })
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum FlakyResult {
    /// A flaky test counts as passed (listed in the summary).
    Pass,
    /// A flaky test fails the run.
    Fail,
}

/// A positive, finite number of seconds.
fn parse_seconds(text: &str) -> Result<Duration, String> {
    match text.trim().parse::<f64>() {
        Ok(secs) if secs.is_finite() && secs > 0.0 && secs < 1e9 => {
            Ok(Duration::from_secs_f64(secs))
        }
        Ok(_) => Err(format!("must be a positive number of seconds, got `{text}`")),
        Err(_) => Err(format!("must be a number of seconds, got `{text}`")),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum NoTests {
    /// Exit 0.
    Pass,
    /// Print a warning and exit 0.
    Warn,
    /// Exit 4.
    Fail,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum RunIgnoredArg {
    /// Only tests not marked `#[ignore]`.
    Default,
    /// Only ignored tests.
    Only,
    /// Ignored and not ignored tests.
    All,
}

/// Options passed to `cargo test --no-run`.
#[derive(Debug, Default, Args)]
#[command(next_help_heading = "Cargo options")]
pub struct CargoOptions {
    /// Package to test (repeatable).
    #[arg(short = 'p', long = "package", value_name = "SPEC")]
    pub packages: Vec<String>,
    /// Test every package of the workspace.
    #[arg(long)]
    pub workspace: bool,
    /// Exclude a package (with --workspace).
    #[arg(long, value_name = "SPEC")]
    pub exclude: Vec<String>,
    /// Features to activate (space or comma separated).
    #[arg(short = 'F', long, value_name = "FEATURES")]
    pub features: Vec<String>,
    /// Activate all features.
    #[arg(long)]
    pub all_features: bool,
    /// Do not activate the `default` feature.
    #[arg(long)]
    pub no_default_features: bool,
    /// Build in release mode.
    #[arg(long, short = 'r')]
    pub release: bool,
    /// Build with this cargo profile.
    #[arg(long, value_name = "NAME")]
    pub cargo_profile: Option<String>,
    /// Path to Cargo.toml.
    #[arg(long, value_name = "PATH")]
    pub manifest_path: Option<Utf8PathBuf>,
    /// Directory for all generated artifacts.
    #[arg(long, value_name = "DIR")]
    pub target_dir: Option<Utf8PathBuf>,
    /// Test only the library.
    #[arg(long)]
    pub lib: bool,
    /// Test only this binary (repeatable).
    #[arg(long = "bin", value_name = "NAME")]
    pub bin: Vec<String>,
    /// Test all binaries.
    #[arg(long)]
    pub bins: bool,
    /// Test only this integration test (repeatable).
    #[arg(long = "test", value_name = "NAME")]
    pub test: Vec<String>,
    /// Test all integration tests.
    #[arg(long)]
    pub tests: bool,
    /// Test only this example (repeatable).
    #[arg(long = "example", value_name = "NAME")]
    pub example: Vec<String>,
    /// Test all examples.
    #[arg(long)]
    pub examples: bool,
    /// Test only this bench target, as a test (repeatable).
    #[arg(long = "bench", value_name = "NAME")]
    pub bench: Vec<String>,
    /// Test all bench targets, as tests (as `cargo test --benches`).
    #[arg(long)]
    pub benches: bool,
    /// Test all targets.
    #[arg(long)]
    pub all_targets: bool,
    /// Run only the libraries' doctests (as `cargo test --doc`).
    #[arg(long, conflicts_with_all = ["lib", "bin", "bins", "test", "tests", "example", "examples", "bench", "benches", "all_targets"])]
    pub doc: bool,
    /// Run the libraries' doctests too.
    #[arg(long, conflicts_with = "doc")]
    pub doctests: bool,
    /// Build for this target triple.
    #[arg(long, value_name = "TRIPLE")]
    pub target: Option<String>,
    /// Build jobs.
    #[arg(short = 'j', long, value_name = "N")]
    pub jobs: Option<String>,
    /// Require Cargo.lock to be up to date.
    #[arg(long)]
    pub locked: bool,
    /// Run without accessing the network.
    #[arg(long)]
    pub offline: bool,
    /// Both --locked and --offline.
    #[arg(long)]
    pub frozen: bool,
}

/// libtest's filters, before `--` or after it.
#[derive(Debug, Default, Args)]
#[command(next_help_heading = "Filters")]
pub struct FilterOptions {
    /// Run only tests whose name contains one of these.
    #[arg(value_name = "FILTERS")]
    pub filters: Vec<String>,
    /// Filters match whole test names.
    #[arg(long)]
    pub exact: bool,
    /// Skip tests whose name contains this (repeatable).
    #[arg(long, value_name = "PATTERN")]
    pub skip: Vec<String>,
    /// Run only ignored tests.
    #[arg(long, conflicts_with_all = ["include_ignored", "run_ignored"])]
    pub ignored: bool,
    /// Run ignored and not ignored tests.
    #[arg(long, conflicts_with = "run_ignored")]
    pub include_ignored: bool,
    /// Which tests to run, in nextest's spelling.
    #[arg(long, value_enum, value_name = "WHICH")]
    pub run_ignored: Option<RunIgnoredArg>,
    /// Only tests in this nextest filterset, e.g. `package(foo) & test(/^db::/)`
    /// (repeatable: a test in any of them; docs/filtersets.md).
    #[arg(short = 'E', long = "filterset", value_name = "EXPR")]
    pub filterset: Vec<String>,
    /// Ignore the profile's `default-filter`.
    #[arg(long)]
    pub ignore_default_filter: bool,
    /// Only this shard of the selected tests, dealt exactly as cargo-nextest deals them:
    /// `slice:M/N` (even shards), `hash:M/N` (by test name) or `count:M/N` (per binary);
    /// or `duration:M/N`, balanced by the recorded durations (cargo-xdist's own).
    #[arg(long, value_name = "MODE:M/N")]
    pub partition: Option<Partition>,
    /// libtest-style arguments: filters, `--exact`, `--skip PATTERN`, `--ignored`,
    /// `--include-ignored`.
    #[arg(last = true, value_name = "LIBTEST ARGS")]
    pub libtest_args: Vec<String>,
}

impl CargoOptions {
    /// The arguments for `cargo test --doc`: the package, feature, profile and location
    /// options (target selection is `--doc` itself).
    pub fn to_doc_args(&self) -> Vec<String> {
        let narrowed = CargoOptions {
            packages: self.packages.clone(),
            workspace: self.workspace,
            exclude: self.exclude.clone(),
            features: self.features.clone(),
            all_features: self.all_features,
            no_default_features: self.no_default_features,
            release: self.release,
            cargo_profile: self.cargo_profile.clone(),
            manifest_path: self.manifest_path.clone(),
            target_dir: self.target_dir.clone(),
            target: self.target.clone(),
            jobs: self.jobs.clone(),
            locked: self.locked,
            offline: self.offline,
            frozen: self.frozen,
            ..CargoOptions::default()
        };
        narrowed.to_cargo_args()
    }

    /// The arguments for `cargo test --no-run`.
    pub fn to_cargo_args(&self) -> Vec<String> {
        let mut args = Vec::new();
        let mut push = |flag: &str, on: bool| {
            if on {
                args.push(flag.to_string());
            }
        };
        push("--workspace", self.workspace);
        push("--all-features", self.all_features);
        push("--no-default-features", self.no_default_features);
        push("--release", self.release);
        push("--lib", self.lib);
        push("--bins", self.bins);
        push("--tests", self.tests);
        push("--examples", self.examples);
        push("--benches", self.benches);
        push("--all-targets", self.all_targets);
        push("--locked", self.locked);
        push("--offline", self.offline);
        push("--frozen", self.frozen);
        let pairs: [(&str, &[String]); 7] = [
            ("--package", &self.packages),
            ("--exclude", &self.exclude),
            ("--features", &self.features),
            ("--bin", &self.bin),
            ("--test", &self.test),
            ("--example", &self.example),
            ("--bench", &self.bench),
        ];
        for (flag, values) in pairs {
            for value in values {
                args.extend([flag.to_string(), value.clone()]);
            }
        }
        let single = [
            ("--profile", self.cargo_profile.as_ref().map(ToString::to_string)),
            ("--manifest-path", self.manifest_path.as_ref().map(ToString::to_string)),
            ("--target-dir", self.target_dir.as_ref().map(ToString::to_string)),
            ("--jobs", self.jobs.clone()),
            ("--target", self.target.clone()),
        ];
        for (flag, value) in single {
            if let Some(value) = value {
                args.extend([flag.to_string(), value]);
            }
        }
        args
    }
}
