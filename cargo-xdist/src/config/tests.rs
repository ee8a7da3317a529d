//! Profiles end to end below the command: files on disk, a fake environment and real parsed
//! flags, through [`resolve`] to the settings a run uses and `show-config`'s report.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Parser;
use xdist_sched::DistMode;

use crate::cli::{CargoCli, Command, FlakyResult, RunArgs, RunFormat};
use crate::commands::show_config::render;
use crate::config::settings::{ConfigPaths, Origin, Resolved, flag_values, resolve};
use crate::errors::{ConfigError, XdistError};

/// A workspace root with `.config/xdist.toml` and a user config dir, in a temp dir.
struct Fixture {
    _dir: tempfile::TempDir,
    root: PathBuf,
    env: BTreeMap<String, String>,
}

impl Fixture {
    fn new(workspace: &str, user: Option<&str>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("ws");
        std::fs::create_dir_all(root.join(".config")).unwrap();
        if !workspace.is_empty() {
            std::fs::write(root.join(".config/xdist.toml"), workspace).unwrap();
        }
        let xdg = dir.path().join("xdg");
        if let Some(user) = user {
            std::fs::create_dir_all(xdg.join("cargo-xdist")).unwrap();
            std::fs::write(xdg.join("cargo-xdist/config.toml"), user).unwrap();
        }
        let mut env = BTreeMap::new();
        env.insert("XDG_CONFIG_HOME".to_string(), xdg.to_string_lossy().into_owned());
        Self { _dir: dir, root, env }
    }

    fn env(mut self, var: &str, value: &str) -> Self {
        self.env.insert(var.into(), value.into());
        self
    }

    fn paths(&self) -> ConfigPaths {
        let env = |name: &str| self.env.get(name).cloned();
        ConfigPaths::new(&self.root, &env)
    }

    fn resolve(&self, flags: &[&str]) -> Result<(Resolved, RunArgs), ConfigError> {
        let args = run_args(flags);
        let env = |name: &str| self.env.get(name).cloned();
        let resolved =
            resolve(flag_values(&args), args.profile.profile.as_deref(), &env, &self.paths())?;
        Ok((resolved, args))
    }

    /// The error (exit code 2), with the temp dir shown as `[ROOT]`.
    fn error(&self, flags: &[&str]) -> String {
        let err = self.resolve(flags).expect_err("an error");
        let parent = self.root.parent().unwrap().to_string_lossy().into_owned();
        let text = err.to_string().replace(&parent, "[ROOT]");
        assert_eq!(XdistError::from(err).exit_code(), 2, "{text}");
        text
    }
}

fn run_args(flags: &[&str]) -> RunArgs {
    let argv = ["cargo", "xdist", "run"].iter().chain(flags);
    let CargoCli::Xdist(app) = CargoCli::try_parse_from(argv).unwrap();
    match app.command {
        Command::Run(args) => *args,
        other => panic!("{other:?}"),
    }
}

const WORKSPACE: &str = r#"
[groups]
database = ["db::"]

[profile.default]
retries = 1
timeout = 30
dist = "loadscope"
message-format = "json"

[[profile.default.overrides]]
filter = "slow::"
timeout = "2m"

[profile.ci]
inherits = "base"
retries = 3
junit = "target/junit.xml"
exitfirst = true

[profile.base]
slow-timeout = 5
flaky-result = "fail"
leak-timeout = { period = "500ms", result = "fail" }

[[profile.ci.overrides]]
filter = "db::"
retries = 5
slow-timeout = 0.5
group = "serial-db"

[[profile.ci.overrides]]
filter = "mycrate::it "
timeout = 9
retries = 0
"#;

const USER: &str = r#"
[profile.default]
durations = 10
retries = 7
quiet = true
leak-kill = false
"#;

#[test]
fn a_flag_beats_the_environment_which_beats_the_profile_which_beats_the_default() {
    let fixture = Fixture::new(WORKSPACE, Some(USER));
    let (r, args) = fixture.resolve(&[]).unwrap();
    let s = r.run_settings(&args);
    assert_eq!(s.retries, 1, "the workspace's profile over the user's");
    assert_eq!(s.durations, 10, "the user's file over the default");
    assert_eq!(s.kill_grace, Duration::from_secs(1), "the default");
    assert_eq!(s.dist, DistMode::LoadScope);
    let workspace_file = fixture.root.join(".config/xdist.toml");
    let from_default = Origin::File { path: workspace_file, profile: "default".into() };
    assert_eq!(r.get("retries").unwrap().1, &from_default);

    let fixture = fixture.env("XDIST_RETRIES", "4").env("XDIST_DIST", "worksteal");
    let (r, args) = fixture.resolve(&[]).unwrap();
    let s = r.run_settings(&args);
    assert_eq!((s.retries, s.dist), (4, DistMode::WorkSteal), "the environment over the profile");
    assert_eq!(r.get("retries").unwrap().1, &Origin::Env("XDIST_RETRIES".into()));

    let (r, args) = fixture.resolve(&["--retries", "2", "--message-format", "human"]).unwrap();
    let s = r.run_settings(&args);
    assert_eq!(s.retries, 2, "the flag over the environment");
    assert_eq!(s.message_format, RunFormat::Human);
    assert_eq!(s.dist, DistMode::WorkSteal);
    assert_eq!(r.get("retries").unwrap().1, &Origin::Flag("--retries"));
}

#[test]
fn a_profile_reads_what_it_inherits_then_default() {
    let fixture = Fixture::new(WORKSPACE, Some(USER));
    let (r, args) = fixture.resolve(&["--profile", "ci"]).unwrap();
    let s = r.run_settings(&args);
    assert_eq!(s.retries, 3, "its own");
    assert_eq!(s.slow_timeout, Some(Duration::from_secs(5)), "from base");
    assert_eq!(s.flaky_result, FlakyResult::Fail, "from base");
    assert_eq!(s.timeout, Some(Duration::from_secs(30)), "from default");
    assert_eq!(s.max_fail, Some(1), "exitfirst = true");
    assert_eq!(s.junit, Some(fixture.root.join("target/junit.xml")), "relative to the root");
    assert!(s.quiet, "the user's default profile");
    let via_env = fixture.env("XDIST_PROFILE", "ci");
    let (r, _) = via_env.resolve(&[]).unwrap();
    assert_eq!(r.profile, ("ci".into(), Origin::Env("XDIST_PROFILE".into())));
    let (r, _) = via_env.resolve(&["--profile", "default"]).unwrap();
    assert_eq!(r.profile, ("default".into(), Origin::Flag("--profile")), "the flag wins");
}

#[test]
fn exitfirst_and_maxfail_and_their_flags_are_one_setting() {
    let fixture = Fixture::new(WORKSPACE, None);
    let max_fail = |flags: &[&str]| {
        let (r, args) = fixture.resolve(flags).unwrap();
        r.run_settings(&args).max_fail
    };
    assert_eq!(max_fail(&["--profile", "ci"]), Some(1));
    assert_eq!(max_fail(&["--profile", "ci", "--no-fail-fast"]), None);
    assert_eq!(max_fail(&["--profile", "ci", "--maxfail", "4"]), Some(4));
    assert_eq!(max_fail(&["--profile", "ci", "-x", "--maxfail", "4"]), Some(1));
    assert_eq!(max_fail(&[]), None);
    let off =
        Fixture::new("[profile.default]\nmaxfail = 3\n[profile.p]\nexitfirst = false\n", None);
    let (r, args) = off.resolve(&["--profile", "p"]).unwrap();
    assert_eq!(r.run_settings(&args).max_fail, None, "exitfirst = false lifts it");
}

#[test]
fn verbose_and_quiet_from_two_sources_go_by_the_stronger() {
    let fixture = Fixture::new("", Some(USER));
    let (r, args) = fixture.resolve(&["-v"]).unwrap();
    let s = r.run_settings(&args);
    assert!(s.verbose && !s.quiet, "-v over the user's quiet");
    let fixture = Fixture::new("[profile.default]\nverbose = true\n", Some(USER));
    let (r, args) = fixture.resolve(&[]).unwrap();
    let s = r.run_settings(&args);
    assert!(s.verbose && !s.quiet, "the workspace over the user");
}

#[test]
fn overrides_apply_to_the_tests_their_filter_matches_first_match_first() {
    let fixture = Fixture::new(WORKSPACE, None);
    let (r, args) = fixture.resolve(&["--profile", "ci"]).unwrap();
    let s = r.run_settings(&args);
    let db = s.test_override("store db::put", None);
    assert_eq!(db.retries, Some(5));
    assert_eq!(db.slow_timeout, Some(Duration::from_millis(500)));
    assert_eq!(db.timeout, None, "no override of ci or default sets one");
    let it = s.test_override("mycrate::it cli::works", None);
    assert_eq!((it.timeout, it.retries), (Some(Duration::from_secs(9)), Some(0)));
    assert_eq!(
        s.test_override("mycrate::itx cli::works", None).timeout,
        None,
        "the space is part of it"
    );
    let slow = s.test_override("mycrate slow::big", None);
    assert_eq!(slow.timeout, Some(Duration::from_secs(120)), "default's override");
    assert_eq!(s.test_override("mycrate fast::small", None), Default::default());
    let groups: Vec<(String, String)> = s
        .override_groups()
        .into_iter()
        .map(|(g, p)| match p {
            crate::config::groups::GroupPattern::Substring(p) => (g, p),
            other => panic!("a substring filter, not {other:?}"),
        })
        .collect();
    assert_eq!(groups, vec![("serial-db".to_string(), "db::".to_string())]);
    assert_eq!(s.groups, vec![("database".to_string(), "db::".to_string())]);

    let (r, args) = fixture.resolve(&["--profile", "ci", "--retries", "2"]).unwrap();
    let s = r.run_settings(&args);
    assert_eq!(s.test_override("store db::put", None).retries, None, "a flag beats overrides");
    assert_eq!(
        s.test_override("store db::put", None).slow_timeout,
        Some(Duration::from_millis(500))
    );
}

#[test]
fn show_config_says_where_each_setting_came_from() {
    let fixture = Fixture::new(WORKSPACE, Some(USER)).env("XDIST_TIMEOUT", "1.5");
    let (r, _) = fixture.resolve(&["--profile", "ci", "-n", "3"]).unwrap();
    let parent = fixture.root.parent().unwrap().to_string_lossy().into_owned();
    let shown = render(&r, &fixture.paths()).replace(&parent, "[ROOT]");
    insta::assert_snapshot!(shown);
}

#[test]
fn every_mistake_names_the_file_line_column_and_key() {
    let cases: &[(&str, &str, Option<&str>, &[&str])] = &[
        ("syntax", "[profile.default]\nretries = \n", None, &[]),
        ("unknown top-level key", "[profiles.ci]\nretries = 1\n", None, &[]),
        ("unknown key", "[profile.ci]\nretries = 1\n  retrys = 2\n", None, &["--profile", "ci"]),
        ("wrong type", "[profile.default]\ntimeout = true\n", None, &[]),
        ("bad choice", "[profile.default]\ndist = \"sideways\"\n", None, &[]),
        ("negative", "[profile.default]\nretries = -1\n", None, &[]),
        ("zero seconds", "[profile.default]\nslow-timeout = 0\n", None, &[]),
        ("bad seconds", "[profile.default]\ntimeout = \"soon\"\n", None, &[]),
        ("bad partition", "[profile.default]\npartition = \"hash:3/2\"\n", None, &[]),
        ("zero workers", "[profile.default]\nnumprocesses = 0\n", None, &[]),
        ("not a table", "profile = 3\n", None, &[]),
        ("groups not a list", "[groups]\nslow = \"fixture::\"\n", None, &[]),
        ("both verbose and quiet", "[profile.default]\nverbose = true\nquiet = true\n", None, &[]),
        ("override without a filter", "[[profile.default.overrides]]\ntimeout = 3\n", None, &[]),
        (
            "unknown override key",
            "[[profile.default.overrides]]\nfilter = \"a\"\ndist = \"no\"\n",
            None,
            &[],
        ),
        (
            "override bad value",
            "[[profile.default.overrides]]\nfilter = \"a\"\nretries = \"x\"\n",
            None,
            &[],
        ),
        ("overrides not a list", "[profile.default]\noverrides = 1\n", None, &[]),
        (
            "leak table without a period",
            "[profile.default]\nleak-timeout = { result = \"fail\" }\n",
            None,
            &[],
        ),
        (
            "leak table bad result",
            "[profile.default]\nleak-timeout = { period = 1, result = \"maybe\" }\n",
            None,
            &[],
        ),
        (
            "leak table unknown key",
            "[profile.default]\nleak-timeout = { period = 1, kill = false }\n",
            None,
            &[],
        ),
        (
            "inherits cycle",
            "[profile.a]\ninherits = \"b\"\n[profile.b]\ninherits = \"a\"\n",
            None,
            &["--profile", "a"],
        ),
        ("inherits missing", "[profile.a]\ninherits = \"nope\"\n", None, &["--profile", "a"]),
        ("default inherits", "[profile.default]\ninherits = \"a\"\n[profile.a]\n", None, &[]),
        ("unknown profile", "[profile.a]\n", None, &["--profile", "nightly"]),
        ("groups in the user file", "", Some("[groups]\nx = [\"y\"]\n"), &[]),
        ("user file bad value", "", Some("[profile.default]\nretries = 1.5\n"), &[]),
    ];
    let mut report = String::new();
    for (name, workspace, user, flags) in cases {
        let fixture = Fixture::new(workspace, *user);
        report.push_str(&format!("{name}:\n  {}\n", fixture.error(flags)));
    }
    let bad_env = Fixture::new("", None).env("XDIST_TIMEOUT", "-3");
    report.push_str(&format!("bad environment variable:\n  {}\n", bad_env.error(&[])));
    insta::assert_snapshot!(report);
}

#[test]
fn leak_settings_come_from_a_flag_the_environment_or_nextests_table_form() {
    use crate::cli::leak::LeakResult;
    let fixture = Fixture::new(WORKSPACE, Some(USER));
    let (r, args) = fixture.resolve(&["--profile", "ci"]).unwrap();
    let s = r.run_settings(&args);
    assert_eq!(s.leak_timeout, Duration::from_millis(500));
    assert_eq!((s.leak_result, s.leak_kill), (LeakResult::Fail, false));
    let fixture = fixture.env("XDIST_LEAK_TIMEOUT", "2s").env("XDIST_LEAK_KILL", "true");
    let (r, args) = fixture.resolve(&["--profile", "ci", "--leak-result", "pass"]).unwrap();
    let s = r.run_settings(&args);
    assert_eq!(s.leak_timeout, Duration::from_secs(2));
    assert_eq!((s.leak_result, s.leak_kill), (LeakResult::Pass, true));
    let (r, args) = fixture.resolve(&["--leak-timeout", "250ms", "--leak-kill", "false"]).unwrap();
    let s = r.run_settings(&args);
    assert_eq!((s.leak_timeout, s.leak_kill), (Duration::from_millis(250), false));
    let (r, args) = Fixture::new("", None).resolve(&[]).unwrap();
    let s = r.run_settings(&args);
    assert_eq!(s.leak_timeout, Duration::from_millis(100), "nextest's default");
    assert_eq!((s.leak_result, s.leak_kill), (LeakResult::Pass, true));
}

#[test]
fn without_files_everything_is_a_default_and_only_default_exists() {
    let fixture = Fixture::new("", None);
    let (r, args) = fixture.resolve(&[]).unwrap();
    assert!(r.files.is_empty());
    let s = r.run_settings(&args);
    assert_eq!((s.dist, s.retries, s.output_limit), (DistMode::Load, 0, 1024 * 1024));
    assert!(s.overrides.is_empty());
    assert!(fixture.error(&["--profile", "ci"]).contains("no configuration file"));
}

#[test]
fn the_user_file_is_under_xdg_config_home_else_home() {
    let env = |vars: &'static [(&str, &str)]| {
        move |name: &str| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
    };
    let root = Path::new("/ws");
    let xdg = ConfigPaths::new(root, &env(&[("XDG_CONFIG_HOME", "/x"), ("HOME", "/h")]));
    assert_eq!(xdg.user, Some(PathBuf::from("/x/cargo-xdist/config.toml")));
    let home = ConfigPaths::new(root, &env(&[("XDG_CONFIG_HOME", "relative"), ("HOME", "/h")]));
    assert_eq!(home.user, Some(PathBuf::from("/h/.config/cargo-xdist/config.toml")));
    assert_eq!(ConfigPaths::new(root, &env(&[])).user, None);
    assert_eq!(xdg.workspace_file(), PathBuf::from("/ws/.config/xdist.toml"));
}

#[test]
fn default_filter_is_a_checked_filterset() {
    use crate::config::filterset::Filtersets;
    let fx = Fixture::new("[profile.ci]\ndefault-filter = \"kind(test) - test(slow)\"\n", None);
    let (resolved, _) = fx.resolve(&["--profile", "ci"]).unwrap();
    let sets = Filtersets::default().with_default(&resolved, false);
    assert!(sets.default.is_some());
    assert!(Filtersets::default().with_default(&resolved, true).ignore_default);
    let fx = Fixture::new("[profile.ci]\ndefault-filter = \"kind(test) &\"\n", None);
    assert_eq!(
        fx.error(&["--profile", "ci"]),
        "[ROOT]/ws/.config/xdist.toml:2:18: profile.ci.default-filter: invalid filterset \
         `kind(test) &`: column 13: expected an expression, found the end"
    );
    let fx = Fixture::new("", None).env("XDIST_DEFAULT_FILTER", "bogus()");
    assert!(fx.error(&[]).contains("XDIST_DEFAULT_FILTER: invalid filterset `bogus()`: column 1"));
}

#[test]
fn an_override_filter_may_be_a_filterset() {
    let file =
        "[[profile.default.overrides]]\nfilter = \"test(/^db::/) & kind(lib)\"\nretries = 2\n";
    let fx = Fixture::new(file, None);
    let (r, args) = fx.resolve(&[]).unwrap();
    let s = r.run_settings(&args);
    let lib = crate::config::filterset::TestQuery {
        package: "store",
        binary_id: "store",
        binary: "store",
        kind: "lib",
        test: "db::put",
    };
    assert_eq!(s.test_override("store db::put", Some(&lib)).retries, Some(2));
    let itest = crate::config::filterset::TestQuery { kind: "test", binary_id: "store::it", ..lib };
    assert_eq!(s.test_override("store::it db::put", Some(&itest)).retries, None, "kind(lib)");
    let other = crate::config::filterset::TestQuery { test: "x::db::put", ..lib };
    assert_eq!(s.test_override("store x::db::put", Some(&other)).retries, None, "^ anchors");

    let bad =
        Fixture::new("[[profile.default.overrides]]\nfilter = \"test(db::\"\nretries = 2\n", None);
    let error = bad.error(&[]);
    assert!(
        error.starts_with(
            "[ROOT]/ws/.config/xdist.toml:2:10: profile.default.overrides[0].filter: filterset: "
        ),
        "{error}"
    );
}

#[test]
fn an_override_with_a_filterset_sets_a_group() {
    use crate::config::filterset::TestQuery;
    use crate::config::groups::Groups;
    let file = "[[profile.default.overrides]]\nfilter = \"test(/^db::/) & kind(lib)\"\n\
                group = \"db\"\n\n[[profile.default.overrides]]\nfilter = \"cli::\"\n\
                group = \"cli\"\n";
    let fx = Fixture::new(file, None);
    let (r, args) = fx.resolve(&[]).unwrap();
    let s = r.run_settings(&args);
    let groups = Groups::new(&[], s.override_groups(), Vec::new()).unwrap();
    let lib = TestQuery {
        package: "store",
        binary_id: "store",
        binary: "store",
        kind: "lib",
        test: "db::put",
    };
    assert_eq!(groups.group_of("store db::put", &lib), Some("db"));
    let itest = TestQuery { kind: "test", binary_id: "store::it", ..lib };
    assert_eq!(groups.group_of("store::it db::put", &itest), None, "kind(lib)");
    let cli = TestQuery { test: "cli::works", ..lib };
    assert_eq!(groups.group_of("store cli::works", &cli), Some("cli"), "a substring still");
}

#[test]
fn setup_and_teardown_scripts_are_checked_and_the_nearest_profile_gives_them() {
    let fx = Fixture::new(
        r#"
[[profile.default.setup]]
command = ["db-up", "--fast"]
cwd = "tools"
env = { PORT = "5432" }

[[profile.default.teardown]]
command = ["db-down"]

[profile.ci]
[[profile.ci.setup]]
command = ["ci-up"]
"#,
        None,
    );
    let (resolved, _) = fx.resolve(&["--profile", "ci"]).unwrap();
    assert_eq!(resolved.setup.len(), 1);
    assert_eq!(resolved.setup[0].command, ["ci-up"]);
    assert_eq!(resolved.teardown[0].command, ["db-down"], "inherited from default");
    let (resolved, _) = fx.resolve(&[]).unwrap();
    let shown = render(&resolved, &fx.paths()).replace(&fx.root.display().to_string(), "[WS]");
    assert!(
        shown.contains(
            "\nsetup (docs/setup-teardown.md):\n  command = [\"db-up\", \"--fast\"], cwd = \"[WS]/tools\", PORT = \"5432\"\n\nteardown (docs/setup-teardown.md):\n  command = [\"db-down\"]\n"
        ),
        "{shown}"
    );
    assert_eq!(resolved.setup[0].cwd.as_deref(), Some(fx.root.join("tools").as_path()));
    assert_eq!(resolved.setup[0].env, [("PORT".to_string(), "5432".to_string())]);
    for (toml, want) in [
        (
            "[[profile.default.setup]]\ncommand = \"db-up\"\n",
            "2:11: profile.default.setup[0].command: expected a non-empty list",
        ),
        (
            "[[profile.default.setup]]\ncommand = []\n",
            "2:11: profile.default.setup[0].command: expected a non-empty list",
        ),
        (
            "[[profile.default.teardown]]\ncwd = \"x\"\n",
            "1:1: profile.default.teardown[0]: a script needs a `command`",
        ),
        (
            "[[profile.default.setup]]\ncommand = [\"a\"]\nshell = true\n",
            "3:1: profile.default.setup[0].shell: unknown key",
        ),
        (
            "[[profile.default.setup]]\ncommand = [\"a\"]\nenv = { A = 1 }\n",
            "3:13: profile.default.setup[0].env.A: expected a string",
        ),
    ] {
        let error = Fixture::new(toml, None).error(&[]);
        assert!(error.contains(want), "{toml}: {error}");
    }
}

#[test]
fn remote_include_globs_are_read_and_checked() {
    let fx = Fixture::new("[remote]\ninclude = [\"data/**\", \"*.json\"]\n", None);
    let (r, _) = fx.resolve(&[]).unwrap();
    assert_eq!(r.remote_include, ["data/**", "*.json"]);
    let bad = Fixture::new("[remote]\ninclude = [\"data/[\"]\n", None);
    assert!(
        bad.error(&[]).contains("xdist.toml:2:12: remote.include: bad glob"),
        "{}",
        bad.error(&[])
    );
    assert_eq!(r.remote_worker, None);
    let unknown = Fixture::new("[remote]\nworkers = \"/opt/w\"\n", None);
    assert!(unknown.error(&[]).contains("remote.workers: unknown key"), "{}", unknown.error(&[]));
}

#[test]
fn remote_worker_is_a_path() {
    let fx = Fixture::new("[remote]\nworker = \"/opt/xdist/cargo-xdist\"\n", None);
    let (r, _) = fx.resolve(&[]).unwrap();
    assert_eq!(r.remote_worker.as_deref(), Some("/opt/xdist/cargo-xdist"));
    for (bad, why) in [("worker = 3", "expected a string"), ("worker = \"\"", "must not be empty")]
    {
        let error = Fixture::new(&format!("[remote]\n{bad}\n"), None).error(&[]);
        assert!(error.contains(&format!("xdist.toml:2:10: remote.worker: {why}")), "{error}");
    }
}
