//! Resolving a run's settings from their four sources, highest first: a flag, an
//! `XDIST_*` environment variable, the selected profile (of the workspace's
//! `.config/xdist.toml`, then of the user's `config.toml`, each profile before what it
//! inherits and `default` last), and the built-in default. [`Resolved`] keeps each value
//! with where it came from ([`Origin`]), for `show-config`; [`RunSettings`] is what a run
//! uses.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::ValueEnum;
use xdist_core::partition::Partition;
use xdist_sched::DistMode;

use crate::cli::display::OutputWhen;
use crate::cli::durations::HistoryOptions;
use crate::cli::leak::LeakResult;
use crate::cli::rerun::{NoFailures, RerunArgs};
use crate::cli::{CargoOptions, FilterOptions, FlakyResult, NoTests, RunArgs, RunFormat};
use crate::config::file::{self, ConfigFile, FileKind, Override, Script};
use crate::config::filterset::TestQuery;
use crate::config::groups::GroupPattern;
use crate::config::keys::{self, KEYS, Value};
use crate::errors::ConfigError;

/// Where a setting's value came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// The built-in default.
    Default,
    /// A command-line flag.
    Flag(&'static str),
    /// An environment variable.
    Env(String),
    /// A profile of a file.
    File {
        /// The file.
        path: PathBuf,
        /// The profile.
        profile: String,
    },
}

impl Origin {
    /// True for a flag or an environment variable: what this run asked for explicitly,
    /// which per-test overrides do not change.
    pub fn is_explicit(&self) -> bool {
        matches!(self, Origin::Flag(_) | Origin::Env(_))
    }
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::Default => write!(f, "default"),
            Origin::Flag(flag) => write!(f, "flag {flag}"),
            Origin::Env(var) => write!(f, "env {var}"),
            Origin::File { path, profile } => write!(f, "{} [profile.{profile}]", path.display()),
        }
    }
}

/// Where the configuration files are.
#[derive(Clone, Debug)]
pub struct ConfigPaths {
    /// The workspace root (relative paths in either file are taken from it).
    pub workspace_root: PathBuf,
    /// The user's file, if a home is known.
    pub user: Option<PathBuf>,
}

impl ConfigPaths {
    /// The workspace's file and the user's, found from the environment.
    pub fn new(workspace_root: &Path, env: &dyn Fn(&str) -> Option<String>) -> Self {
        let xdg = env("XDG_CONFIG_HOME").filter(|d| Path::new(d).is_absolute()).map(PathBuf::from);
        let config = xdg.or_else(|| env("HOME").map(|home| Path::new(&home).join(".config")));
        Self {
            workspace_root: workspace_root.to_path_buf(),
            user: config.map(|dir| dir.join("cargo-xdist").join("config.toml")),
        }
    }

    /// `.config/xdist.toml` at the workspace root.
    pub fn workspace_file(&self) -> PathBuf {
        self.workspace_root.join(".config").join("xdist.toml")
    }
}

/// Every setting with its source, and what the files say besides.
#[derive(Debug)]
pub struct Resolved {
    /// The selected profile and why.
    pub profile: (String, Origin),
    /// The files read (those that exist), workspace first.
    pub files: Vec<PathBuf>,
    /// Each key set by a flag, a variable or a profile (the rest are defaults), with the
    /// rank of its source (lower is stronger).
    values: BTreeMap<&'static str, (Value, Origin, usize)>,
    /// The overrides of the profiles read, in the order they are tried.
    pub overrides: Vec<(Override, Origin)>,
    /// `[groups]` of the workspace's file.
    pub groups: Vec<(String, String)>,
    /// The setup scripts of the nearest profile that has `setup`.
    pub setup: Vec<Script>,
    /// The teardown scripts of the nearest profile that has `teardown`.
    pub teardown: Vec<Script>,
    /// `[remote] include` of the workspace's file.
    pub remote_include: Vec<String>,
    /// `[remote] worker` of the workspace's file.
    pub remote_worker: Option<String>,
    /// Warnings about the files, ready to print.
    pub warnings: Vec<String>,
}

/// A value given by a flag: the key, the value and the flag's spelling.
pub type FlagValue = (&'static str, Value, &'static str);

/// Resolves the settings: `flags` over the environment over the files at `paths` over
/// the defaults; `profile_flag` is `--profile`.
pub fn resolve(
    flags: Vec<FlagValue>,
    profile_flag: Option<&str>,
    env: &dyn Fn(&str) -> Option<String>,
    paths: &ConfigPaths,
) -> Result<Resolved, ConfigError> {
    let profile = match (profile_flag, env("XDIST_PROFILE").filter(|p| !p.is_empty())) {
        (Some(name), _) => (name.to_string(), Origin::Flag("--profile")),
        (None, Some(name)) => (name, Origin::Env("XDIST_PROFILE".into())),
        (None, None) => ("default".to_string(), Origin::Default),
    };
    let root = &paths.workspace_root;
    let mut files: Vec<ConfigFile> = Vec::new();
    if let Some(f) = file::read(&paths.workspace_file(), FileKind::Workspace, root)? {
        files.push(f);
    }
    if let Some(f) = paths.user.as_ref().map(|p| file::read(p, FileKind::User, root)).transpose()? {
        files.extend(f);
    }
    let defined = files.iter().any(|f| f.profiles.contains_key(&profile.0));
    if profile.0 != "default" && !defined {
        let looked: Vec<String> = files.iter().map(|f| f.path.display().to_string()).collect();
        let looked =
            if looked.is_empty() { "no configuration file".to_string() } else { looked.join(", ") };
        return Err(ConfigError::UnknownProfile { name: profile.0, looked });
    }

    let mut layers: Vec<Vec<(&'static str, Value, Origin)>> = Vec::new();
    layers.push(flags.into_iter().map(|(k, v, flag)| (k, v, Origin::Flag(flag))).collect());
    layers.push(env_layer(env)?);
    let mut overrides = Vec::new();
    let (mut setup, mut teardown) = (None, None);
    for file in &files {
        for name in file.chain(&profile.0)? {
            let origin = Origin::File { path: file.path.clone(), profile: name.to_string() };
            let table = &file.profiles[name];
            setup = setup.or_else(|| table.setup.clone());
            teardown = teardown.or_else(|| table.teardown.clone());
            layers
                .push(table.values.iter().map(|(k, v)| (*k, v.clone(), origin.clone())).collect());
            overrides.extend(table.overrides.iter().map(|o| (o.clone(), origin.clone())));
        }
    }
    let mut values = BTreeMap::new();
    for (rank, layer) in layers.into_iter().enumerate() {
        for (key, value, origin) in exitfirst_as_maxfail(layer) {
            values.entry(key).or_insert((value, origin, rank));
        }
    }
    Ok(Resolved {
        profile,
        files: files.iter().map(|f| f.path.clone()).collect(),
        values,
        overrides,
        groups: files.iter().flat_map(|f| f.groups.clone()).collect(),
        remote_include: files.iter().flat_map(|f| f.remote_include.clone()).collect(),
        remote_worker: files.iter().find_map(|f| f.remote_worker.clone()),
        setup: setup.unwrap_or_default(),
        teardown: teardown.unwrap_or_default(),
        warnings: files.into_iter().flat_map(|f| f.warnings).collect(),
    })
}

/// In one source, `exitfirst = true` is `maxfail = 1` (and wins over a `maxfail` beside
/// it); `exitfirst = false` is no limit, unless a `maxfail` beside it sets one.
fn exitfirst_as_maxfail(
    layer: Vec<(&'static str, Value, Origin)>,
) -> Vec<(&'static str, Value, Origin)> {
    let has_maxfail = layer.iter().any(|(k, ..)| *k == "maxfail");
    let mut out = Vec::new();
    for (key, value, origin) in layer {
        match (key, value) {
            ("exitfirst", Value::Bool(true)) => out.insert(0, ("maxfail", Value::Int(1), origin)),
            ("exitfirst", _) if has_maxfail => {}
            ("exitfirst", _) => out.push(("maxfail", Value::Off, origin)),
            (key, value) => out.push((key, value, origin)),
        }
    }
    out
}

/// The `XDIST_*` variables of the keys.
fn env_layer(
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<(&'static str, Value, Origin)>, ConfigError> {
    let mut layer = Vec::new();
    for key in KEYS {
        let var = key.env();
        let Some(text) = env(&var).filter(|t| !t.is_empty()) else { continue };
        let value = key
            .kind
            .check_text(&text)
            .map_err(|message| ConfigError::BadEnv { var: var.clone(), message })?;
        layer.push((key.name, value, Origin::Env(var)));
    }
    Ok(layer)
}

impl Resolved {
    /// The value of `key` and where it came from (`None`: the default).
    pub fn get(&self, key: &str) -> Option<(&Value, &Origin)> {
        self.values.get(key).map(|(v, o, _)| (v, o))
    }

    fn rank(&self, key: &str) -> usize {
        self.values.get(key).map_or(usize::MAX, |(_, _, rank)| *rank)
    }

    fn flag_on(&self, key: &str) -> bool {
        matches!(self.get(key), Some((Value::Bool(true), _)))
    }

    fn int(&self, key: &str) -> Option<u64> {
        match self.get(key) {
            Some((Value::Int(n), _)) => Some(*n),
            _ => None,
        }
    }

    fn seconds(&self, key: &str) -> Option<Duration> {
        match self.get(key) {
            Some((Value::Seconds(d), _)) => Some(*d),
            _ => None,
        }
    }

    fn text(&self, key: &str) -> Option<&str> {
        match self.get(key) {
            Some((Value::Text(t), _)) => Some(t),
            _ => None,
        }
    }

    fn choice<T: ValueEnum>(&self, key: &str, default: T) -> T {
        self.text(key).and_then(|t| T::from_str(t, false).ok()).unwrap_or(default)
    }

    /// `doctests = true`: run the libraries' doctests too (`--doctests`).
    pub fn doctests(&self) -> bool {
        self.flag_on("doctests")
    }

    /// What picks the tests: `--partition`, `--lf`, `--ff` and `--lfnf`.
    pub fn selection(&self) -> Selection {
        Selection {
            partition: self.text("partition").and_then(|p| p.parse::<Partition>().ok()),
            last_failed: self.flag_on("last-failed"),
            failed_first: self.flag_on("failed-first"),
            no_failures: self.choice("last-failed-no-failures", NoFailures::All),
        }
    }

    /// The typed settings of a run (`args` gives what profiles do not set).
    pub fn run_settings(&self, args: &RunArgs) -> RunSettings {
        // Both on: the one from the stronger source wins.
        let verbose = self.flag_on("verbose") && self.rank("verbose") <= self.rank("quiet");
        let quiet = self.flag_on("quiet") && !verbose;
        RunSettings {
            numprocesses: self.text("numprocesses").map(String::from),
            maxprocesses: self.int("maxprocesses").map(saturate),
            dist: self.text("dist").and_then(DistMode::parse).unwrap_or(DistMode::Load),
            loadscope_reorder: !matches!(
                self.get("loadscope-reorder"),
                Some((Value::Bool(false), _))
            ),
            group_flags: args.group.clone(),
            maxschedchunk: self.int("maxschedchunk"),
            max_worker_restart: self.int("max-worker-restart").map(saturate),
            testrunuid: args.testrunuid.clone(),
            slow_timeout: self.seconds("slow-timeout"),
            timeout: self.seconds("timeout"),
            kill_grace: self.seconds("kill-grace").unwrap_or(Duration::from_secs(1)),
            retries: self.int("retries").map_or(0, saturate),
            flaky_result: self.choice("flaky-result", FlakyResult::Pass),
            leak_timeout: self.seconds("leak-timeout").unwrap_or(Duration::from_millis(100)),
            leak_result: self.choice("leak-result", LeakResult::Pass),
            leak_kill: !matches!(self.get("leak-kill"), Some((Value::Bool(false), _))),
            output_limit: self.int("output-limit").unwrap_or(1024 * 1024),
            worker_silence_timeout: args.worker_silence_timeout,
            max_fail: self.int("maxfail").map(saturate),
            no_tests: self.choice("no-tests", NoTests::Fail),
            verbose,
            quiet,
            durations: self
                .int("durations")
                .map_or(0, |n| usize::try_from(n).unwrap_or(usize::MAX)),
            message_format: self.choice("message-format", RunFormat::Human),
            junit: match self.get("junit") {
                Some((Value::Path(p), _)) => Some(p.clone()),
                _ => None,
            },
            selection: self.selection(),
            overrides: self.test_overrides(),
            groups: self.groups.clone(),
            history: HistoryOptions {
                no_history: self.flag_on("no-history"),
                durations_file: args.history.durations_file.clone(),
            },
            failure_output: args.display.failure_output,
            success_output: args.display.success_output,
        }
    }

    /// The per-test overrides, each key dropped where a flag or variable set it for the run.
    fn test_overrides(&self) -> Vec<Override> {
        let explicit = |key: &str| self.get(key).is_some_and(|(_, o)| o.is_explicit());
        self.overrides
            .iter()
            .map(|(o, _)| Override {
                filter: o.filter.clone(),
                filterset: o.filterset.clone(),
                timeout: o.timeout.filter(|_| !explicit("timeout")),
                slow_timeout: o.slow_timeout.filter(|_| !explicit("slow-timeout")),
                retries: o.retries.filter(|_| !explicit("retries")),
                group: o.group.clone(),
            })
            .collect()
    }
}

fn saturate(n: u64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// What a run uses, resolved.
#[derive(Debug)]
pub struct RunSettings {
    /// `-n`: a number, `auto` or `logical` (`None`: auto).
    pub numprocesses: Option<String>,
    /// `--maxprocesses`.
    pub maxprocesses: Option<u32>,
    /// `--dist`.
    pub dist: DistMode,
    /// Unit modes send the largest units first.
    pub loadscope_reorder: bool,
    /// `--group NAME=PATTERN` flags.
    pub group_flags: Vec<String>,
    /// `--maxschedchunk`.
    pub maxschedchunk: Option<u64>,
    /// `--max-worker-restart`.
    pub max_worker_restart: Option<u32>,
    /// `--testrunuid`.
    pub testrunuid: Option<String>,
    /// `--slow-timeout`.
    pub slow_timeout: Option<Duration>,
    /// `--timeout`.
    pub timeout: Option<Duration>,
    /// `--kill-grace`.
    pub kill_grace: Duration,
    /// `--retries`.
    pub retries: u32,
    /// `--flaky-result`.
    pub flaky_result: FlakyResult,
    /// `--leak-timeout`.
    pub leak_timeout: Duration,
    /// `--leak-result`.
    pub leak_result: LeakResult,
    /// `--leak-kill`.
    pub leak_kill: bool,
    /// `--output-limit`.
    pub output_limit: u64,
    /// The hidden `--worker-silence-timeout`.
    pub worker_silence_timeout: Duration,
    /// `--maxfail` (`-x`: 1).
    pub max_fail: Option<u32>,
    /// `--no-tests`.
    pub no_tests: NoTests,
    /// `-v`.
    pub verbose: bool,
    /// `-q`.
    pub quiet: bool,
    /// `--durations`.
    pub durations: usize,
    /// `--message-format`.
    pub message_format: RunFormat,
    /// `--junit`.
    pub junit: Option<PathBuf>,
    /// What picks the tests.
    pub selection: Selection,
    /// Per-test overrides, in the order they are tried (keys set by a flag or variable
    /// removed).
    pub overrides: Vec<Override>,
    /// `[groups]` of the workspace's file.
    pub groups: Vec<(String, String)>,
    /// Where the duration history is (`--durations-file`), and `no-history` as resolved.
    pub history: HistoryOptions,
    /// `--failure-output`.
    pub failure_output: OutputWhen,
    /// `--success-output`.
    pub success_output: OutputWhen,
}

/// What picks the tests besides the filters.
#[derive(Clone, Copy, Debug)]
pub struct Selection {
    /// `--partition`.
    pub partition: Option<Partition>,
    /// `--lf`.
    pub last_failed: bool,
    /// `--ff`.
    pub failed_first: bool,
    /// `--lfnf`.
    pub no_failures: NoFailures,
}

/// Per-test values: the first override that matches and sets the key wins.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TestOverride {
    /// `timeout`.
    pub timeout: Option<Duration>,
    /// `slow-timeout`.
    pub slow_timeout: Option<Duration>,
    /// `retries`.
    pub retries: Option<u32>,
}

impl RunSettings {
    /// The overridden values of the test with id `<binary-id> <name>`.
    pub fn test_override(&self, test_id: &str, query: Option<&TestQuery<'_>>) -> TestOverride {
        let mut out = TestOverride::default();
        for o in self.overrides.iter().filter(|o| o.matches(test_id, query)) {
            out.timeout = out.timeout.or(o.timeout);
            out.slow_timeout = out.slow_timeout.or(o.slow_timeout);
            out.retries = out.retries.or(o.retries);
        }
        out
    }

    /// Group rules from overrides: (group, filter), in order.
    pub fn override_groups(&self) -> Vec<(String, GroupPattern)> {
        self.overrides
            .iter()
            .filter_map(|o| {
                let pattern = match &o.filterset {
                    Some(set) => GroupPattern::Filterset(set.clone()),
                    None => GroupPattern::Substring(o.filter.clone()),
                };
                o.group.clone().map(|g| (g, pattern))
            })
            .collect()
    }
}

/// The values the flags of `args` give.
pub fn flag_values(args: &RunArgs) -> Vec<FlagValue> {
    let mut out: Vec<FlagValue> = Vec::new();
    let name = |v: Option<clap::builder::PossibleValue>| {
        Value::Text(v.map(|v| v.get_name().to_string()).unwrap_or_default())
    };
    let mut put = |key: &'static str, value: Option<Value>, flag: &'static str| {
        if let Some(value) = value {
            out.push((key, value, flag));
        }
    };
    put("numprocesses", args.numprocesses.clone().map(Value::Text), "-n");
    put("maxprocesses", args.maxprocesses.map(|n| Value::Int(n.into())), "--maxprocesses");
    put("dist", args.dist.map(|d| Value::Text(d.name().into())), "--dist");
    let reorder = if args.no_loadscope_reorder && !args.loadscope_reorder {
        Some((false, "--no-loadscope-reorder"))
    } else {
        args.loadscope_reorder.then_some((true, "--loadscope-reorder"))
    };
    if let Some((on, flag)) = reorder {
        put("loadscope-reorder", Some(Value::Bool(on)), flag);
    }
    put("no-history", args.history.no_history.then_some(Value::Bool(true)), "--no-history");
    put("maxschedchunk", args.maxschedchunk.map(Value::Int), "--maxschedchunk");
    let restarts = args.max_worker_restart.map(|n| Value::Int(n.into()));
    put("max-worker-restart", restarts, "--max-worker-restart");
    put("slow-timeout", args.slow_timeout.map(Value::Seconds), "--slow-timeout");
    put("timeout", args.timeout.map(Value::Seconds), "--timeout");
    put("kill-grace", args.kill_grace.map(Value::Seconds), "--kill-grace");
    put("retries", args.retries.map(|n| Value::Int(n.into())), "--retries");
    let flaky = args.flaky_result.map(|f| name(f.to_possible_value()));
    put("flaky-result", flaky, "--flaky-result");
    put("leak-timeout", args.leak.leak_timeout.map(Value::Seconds), "--leak-timeout");
    let leak_result = args.leak.leak_result.map(|r| name(r.to_possible_value()));
    put("leak-result", leak_result, "--leak-result");
    put("leak-kill", args.leak.leak_kill.map(Value::Bool), "--leak-kill");
    put("output-limit", args.output_limit.map(Value::Int), "--output-limit");
    if args.exitfirst {
        put("maxfail", Some(Value::Int(1)), "-x");
    } else if let Some(n) = args.maxfail {
        put("maxfail", Some(Value::Int(n.into())), "--maxfail");
    } else if args.no_fail_fast {
        put("maxfail", Some(Value::Off), "--no-fail-fast");
    }
    put("no-tests", args.no_tests.map(|n| name(n.to_possible_value())), "--no-tests");
    if args.verbose {
        put("verbose", Some(Value::Bool(true)), "-v");
        put("quiet", Some(Value::Bool(false)), "-v");
    }
    if args.quiet {
        put("quiet", Some(Value::Bool(true)), "-q");
        put("verbose", Some(Value::Bool(false)), "-q");
    }
    let durations = args.durations.map(|n| Value::Int(n as u64));
    put("durations", durations, "--durations");
    let format = args.message_format.map(|f| name(f.to_possible_value()));
    put("message-format", format, "--message-format");
    put("junit", args.junit.clone().map(Value::Path), "--junit");
    out.extend(doctests_flag(&args.cargo));
    out.extend(selection_flag_values(&args.filter, &args.rerun));
    out
}

/// `--doctests` (`run` and `list` both have it).
pub fn doctests_flag(cargo: &CargoOptions) -> Option<FlagValue> {
    cargo.doctests.then_some(("doctests", Value::Bool(true), "--doctests"))
}

/// The values of the flags that pick tests (`run` and `list` both have them).
pub fn selection_flag_values(filter: &FilterOptions, rerun: &RerunArgs) -> Vec<FlagValue> {
    let mut out: Vec<FlagValue> = Vec::new();
    if let Some(p) = filter.partition {
        out.push(("partition", Value::Text(p.to_string()), "--partition"));
    }
    if rerun.last_failed {
        out.push(("last-failed", Value::Bool(true), "--lf"));
    }
    if rerun.failed_first {
        out.push(("failed-first", Value::Bool(true), "--ff"));
    }
    if let Some(n) = rerun.no_failures.and_then(|n| n.to_possible_value()) {
        out.push(("last-failed-no-failures", Value::Text(n.get_name().into()), "--lfnf"));
    }
    out
}

/// The process's environment.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// The keys in `show-config` order, each with its value and source (`None`: default).
pub fn table(resolved: &Resolved) -> Vec<(&'static keys::Key, Option<(&Value, &Origin)>)> {
    KEYS.iter().filter(|k| k.name != "exitfirst").map(|k| (k, resolved.get(k.name))).collect()
}
