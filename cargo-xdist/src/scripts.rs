//! A profile's setup and teardown scripts, run once by the controller: setup before any
//! worker starts (its `KEY=VALUE` lines in `$XDIST_ENV` are given to every test), teardown
//! after every worker has finished. Each runs in its own process group, output captured and
//! shown when it fails; a signal while one runs stops it (docs/setup-teardown.md). Each
//! script that ran leaves a [`ScriptRecord`] for the JUnit file and the JSON stream.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::signal::unix::{SignalKind, signal};

use crate::config::file::Script;

/// The variable naming the file a setup script writes `KEY=VALUE` lines to.
pub const ENV_FILE_VAR: &str = "XDIST_ENV";

/// How a phase (every setup, or every teardown script) ended.
#[derive(Debug, PartialEq, Eq)]
pub enum PhaseEnd {
    /// Every script exited 0; the variables the scripts exported, in order.
    Passed(Vec<(String, String)>),
    /// A script failed (the rest were not run).
    Failed,
    /// A signal stopped a script (its name; the rest were not run).
    Interrupted(String),
}

/// The scripts of a run and what they share.
pub struct Scripts {
    setup: Vec<Script>,
    teardown: Vec<Script>,
    root: PathBuf,
    /// What setup exported, also given to teardown.
    exported: Vec<(String, String)>,
    /// How the scripts that ran so far ended, not yet taken.
    records: Vec<ScriptRecord>,
}

/// How one script ran, for the reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScriptRecord {
    /// `setup` or `teardown`.
    pub phase: &'static str,
    /// Its place in its phase, from 0.
    pub index: usize,
    /// Its command line, words joined by spaces.
    pub command: String,
    /// How long it ran.
    pub duration: Duration,
    /// How it ended.
    pub result: ScriptResult,
    /// What it printed, stdout then stderr.
    pub output: Vec<u8>,
}

/// How a script ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScriptResult {
    /// It exited 0 (and what it exported could be read).
    Passed,
    /// It failed: why (`exit code 3`, `cannot start it: …`).
    Failed(String),
    /// A signal stopped it (its name).
    Interrupted(String),
}

/// How one script ended.
enum ScriptEnd {
    Exited { ok: bool, status: String, output: Vec<u8> },
    Interrupted(String),
    NotStarted(String),
}

impl Scripts {
    /// The scripts, with relative working directories taken from `root`.
    pub fn new(setup: Vec<Script>, teardown: Vec<Script>, root: &Path) -> Self {
        Self {
            setup,
            teardown,
            root: root.to_path_buf(),
            exported: Vec::new(),
            records: Vec::new(),
        }
    }

    /// The records of the scripts that ran since the last call, in order.
    pub fn take_records(&mut self) -> Vec<ScriptRecord> {
        std::mem::take(&mut self.records)
    }

    /// True when there is a teardown to run.
    pub fn has_teardown(&self) -> bool {
        !self.teardown.is_empty()
    }

    /// Runs the setup scripts in order; on success, the variables they exported.
    pub async fn setup(&mut self) -> PhaseEnd {
        let scripts = std::mem::take(&mut self.setup);
        let end = self.phase("setup", &scripts).await;
        if let PhaseEnd::Passed(vars) = &end {
            self.exported = vars.clone();
        }
        end
    }

    /// Runs the teardown scripts in order (with what setup exported in their environment).
    pub async fn teardown(&mut self) -> PhaseEnd {
        let scripts = std::mem::take(&mut self.teardown);
        self.phase("teardown", &scripts).await
    }

    async fn phase(&mut self, phase: &'static str, scripts: &[Script]) -> PhaseEnd {
        let mut exported = Vec::new();
        for (index, script) in scripts.iter().enumerate() {
            let shown = script.command.join(" ");
            let mut record = |duration, result, output| {
                let command = shown.clone();
                self.records.push(ScriptRecord { phase, index, command, duration, result, output });
            };
            let env_file = match tempfile::NamedTempFile::new() {
                Ok(file) => file,
                Err(e) => {
                    let why = format!("cannot create the {ENV_FILE_VAR} file: {e}");
                    eprintln!("error: {phase} `{shown}`: {why}");
                    record(Duration::ZERO, ScriptResult::Failed(why), Vec::new());
                    return PhaseEnd::Failed;
                }
            };
            let started = Instant::now();
            let end = Self::run_one(&self.root, &self.exported, script, env_file.path()).await;
            let elapsed = started.elapsed();
            let took = secs(elapsed);
            let mut record = |result, output| record(elapsed, result, output);
            match end {
                ScriptEnd::Exited { ok: true, output, .. } => {
                    let text = std::fs::read_to_string(env_file.path()).unwrap_or_default();
                    match parse_env_file(&text) {
                        Ok(vars) => exported.extend(vars),
                        Err(message) => {
                            eprintln!("xdist: {phase} [{took}] {shown}: FAILED");
                            eprintln!("error: {phase} `{shown}`: {ENV_FILE_VAR}: {message}");
                            let why = format!("{ENV_FILE_VAR}: {message}");
                            record(ScriptResult::Failed(why), output);
                            return PhaseEnd::Failed;
                        }
                    }
                    eprintln!("xdist: {phase} [{took}] {shown}: passed");
                    record(ScriptResult::Passed, output);
                }
                ScriptEnd::Exited { ok: false, status, output } => {
                    eprintln!("xdist: {phase} [{took}] {shown}: FAILED ({status})");
                    if !output.is_empty() {
                        eprintln!("--- output of {phase} `{shown}` ---");
                        eprint!("{}", String::from_utf8_lossy(&output));
                        if !output.ends_with(b"\n") {
                            eprintln!();
                        }
                        eprintln!("---");
                    }
                    record(ScriptResult::Failed(status), output);
                    return PhaseEnd::Failed;
                }
                ScriptEnd::NotStarted(e) => {
                    eprintln!("xdist: {phase} [{took}] {shown}: FAILED");
                    eprintln!("error: {phase} `{shown}`: cannot start it: {e}");
                    record(ScriptResult::Failed(format!("cannot start it: {e}")), Vec::new());
                    return PhaseEnd::Failed;
                }
                ScriptEnd::Interrupted(signal) => {
                    eprintln!("xdist: {phase} [{took}] {shown}: stopped by {signal}");
                    record(ScriptResult::Interrupted(signal.clone()), Vec::new());
                    return PhaseEnd::Interrupted(signal);
                }
            }
        }
        PhaseEnd::Passed(exported)
    }

    async fn run_one(
        root: &Path,
        exported: &[(String, String)],
        script: &Script,
        env_file: &Path,
    ) -> ScriptEnd {
        let mut command = tokio::process::Command::new(&script.command[0]);
        command
            .args(&script.command[1..])
            .current_dir(script.cwd.clone().unwrap_or_else(|| root.to_path_buf()))
            .envs(exported.iter().map(|(k, v)| (k, v)))
            .envs(script.env.iter().map(|(k, v)| (k, v)))
            .env(ENV_FILE_VAR, env_file)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        let (mut int, mut term, mut hup) = match (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
            signal(SignalKind::hangup()),
        ) {
            (Ok(a), Ok(b), Ok(c)) => (a, b, c),
            _ => return ScriptEnd::NotStarted("cannot watch signals".into()),
        };
        let child = match command.spawn() {
            Ok(child) => child,
            Err(e) => return ScriptEnd::NotStarted(e.to_string()),
        };
        let group = child.id().and_then(|id| i32::try_from(id).ok()).map(Pid::from_raw);
        let signal = tokio::select! {
            out = child.wait_with_output() => {
                // What it left running in its group goes with it.
                if let Some(group) = group {
                    let _ = killpg(group, Signal::SIGKILL);
                }
                return match out {
                    Ok(out) => {
                        let mut output = out.stdout;
                        output.extend(out.stderr);
                        ScriptEnd::Exited {
                            ok: out.status.success(),
                            status: describe_status(out.status),
                            output,
                        }
                    }
                    Err(e) => ScriptEnd::NotStarted(e.to_string()),
                };
            }
            _ = int.recv() => "SIGINT",
            _ = term.recv() => "SIGTERM",
            _ = hup.recv() => "SIGHUP",
        };
        if let Some(group) = group {
            let _ = killpg(group, Signal::SIGTERM);
            tokio::time::sleep(Duration::from_millis(200)).await;
            let _ = killpg(group, Signal::SIGKILL);
        }
        ScriptEnd::Interrupted(signal.to_string())
    }
}

fn describe_status(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit code {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        _ => status.to_string(),
    }
}

fn secs(d: Duration) -> String {
    format!("{:.3}s", d.as_secs_f64())
}

/// `KEY=VALUE` lines; blank lines and `#` comments are skipped.
pub fn parse_env_file(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut vars = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        match line.split_once('=') {
            Some((key, value)) if valid_name(key) => vars.push((key.into(), value.into())),
            _ => return Err(format!("line {}: expected KEY=VALUE, got `{line}`", n + 1)),
        }
    }
    Ok(vars)
}

fn valid_name(key: &str) -> bool {
    !key.is_empty()
        && !key.starts_with(|c: char| c.is_ascii_digit())
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_files_are_key_value_lines() {
        let vars = parse_env_file("A=1\n\n# note\nB_2=x=y\r\nEMPTY=\n").unwrap();
        let want = [("A", "1"), ("B_2", "x=y"), ("EMPTY", "")];
        assert_eq!(vars, want.map(|(k, v)| (k.to_string(), v.to_string())));
        assert_eq!(parse_env_file("oops\n").unwrap_err(), "line 1: expected KEY=VALUE, got `oops`");
        assert!(parse_env_file("1A=x").is_err());
        assert!(parse_env_file("=x").is_err());
    }

    fn script(words: &[&str]) -> Script {
        Script { command: words.iter().map(|w| w.to_string()).collect(), ..Script::default() }
    }

    fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
    }

    #[test]
    fn setup_exports_and_teardown_sees_it() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("seen");
        let setup = vec![
            script(&["sh", "-c", "echo A=one >> \"$XDIST_ENV\""]),
            script(&["sh", "-c", "echo B=$FROM_ENV >> \"$XDIST_ENV\""]),
        ];
        let mut setup = setup;
        setup[1].env = vec![("FROM_ENV".into(), "two".into())];
        let teardown = vec![script(&["sh", "-c", &format!("echo $A$B > {}", out.display())])];
        let mut scripts = Scripts::new(setup, teardown, dir.path());
        let vars = |pairs: &[(&str, &str)]| {
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Vec<_>>()
        };
        assert_eq!(
            block_on(scripts.setup()),
            PhaseEnd::Passed(vars(&[("A", "one"), ("B", "two")]))
        );
        assert_eq!(block_on(scripts.teardown()), PhaseEnd::Passed(vec![]));
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "onetwo\n");
    }

    #[test]
    fn a_failing_script_stops_its_phase() {
        let dir = tempfile::tempdir().unwrap();
        let never = dir.path().join("never");
        let setup =
            vec![script(&["sh", "-c", "exit 3"]), script(&["touch", never.to_str().unwrap()])];
        let mut scripts = Scripts::new(setup, vec![], dir.path());
        assert_eq!(block_on(scripts.setup()), PhaseEnd::Failed);
        assert!(!never.exists());
        let mut missing = Scripts::new(vec![script(&["/nonexistent/program"])], vec![], dir.path());
        assert_eq!(block_on(missing.setup()), PhaseEnd::Failed);
        let bad = vec![script(&["sh", "-c", "echo nonsense >> \"$XDIST_ENV\""])];
        assert_eq!(block_on(Scripts::new(bad, vec![], dir.path()).setup()), PhaseEnd::Failed);
    }
}
