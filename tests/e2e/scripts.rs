//! Setup and teardown scripts of a profile, on the `scripts` fixture: what a setup exports
//! reaches every test on every worker; teardown runs after a failing run, after `-x` and
//! after SIGINT (not after a second one); a failing setup stops the run before any test.
//! The profile is a user-level file, so the fixture's own configuration stays untouched.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::support::*;

const SCRIPTS: &str = "tests/fixtures/scripts";

/// A temp dir with a user config holding `[profile.st]` with these scripts (TOML), and the
/// marker files the scripts and tests write.
pub struct Setup {
    dir: tempfile::TempDir,
}

impl Setup {
    pub fn new(scripts: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("xdg/cargo-xdist");
        std::fs::create_dir_all(&config).unwrap();
        let scripts = scripts.replace("{DIR}", &dir.path().display().to_string());
        std::fs::write(config.join("config.toml"), format!("[profile.st]\n{scripts}")).unwrap();
        Self { dir }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn run(&self, args: &[&str]) -> Command {
        let mut cmd = xdist(SCRIPTS, "run");
        cmd.env("XDG_CONFIG_HOME", self.path("xdg"))
            .env("SLEEP_MARK", self.path("sleeping"))
            .args(["--profile", "st", "--no-history"])
            .args(args);
        cmd
    }

    pub fn output(&self, args: &[&str]) -> Output {
        self.run(args).output().unwrap()
    }
}

/// A setup that exports `SETUP_TOKEN` (the tests need it) and a teardown that marks it ran.
const EXPORT_AND_MARK: &str = r#"
[[profile.st.setup]]
command = ["sh", "-c", "echo '# a comment' >> \"$XDIST_ENV\"; echo SETUP_TOKEN=$VALUE >> \"$XDIST_ENV\""]
env = { VALUE = "from-setup" }

[[profile.st.teardown]]
command = ["sh", "-c", "echo \"$SETUP_TOKEN\" > torn-down"]
cwd = "{DIR}"
"#;

fn torn_down(setup: &Setup) -> Option<String> {
    std::fs::read_to_string(setup.path("torn-down")).ok()
}

#[test]
fn the_exported_variable_reaches_every_test_on_every_worker() {
    let setup = Setup::new(EXPORT_AND_MARK);
    // `each`: every test on each of three workers, in both binaries.
    let out = setup.output(&["-n", "3", "--dist", "each", "-E", "test(sees_token)"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{}\n{stderr}", text(&out.stdout));
    assert_eq!(final_line(&out), "xdist: 15 passed, 0 failed, 0 skipped");
    assert!(stderr.contains("xdist: setup ["), "{stderr}");
    assert!(stderr.contains("xdist: teardown ["), "{stderr}");
    // Teardown sees what setup exported, too.
    assert_eq!(torn_down(&setup).as_deref(), Some("from-setup\n"));
    // Without the setup the same tests fail: they do test the variable.
    let plain =
        xdist(SCRIPTS, "run").args(["--no-history", "-E", "test(sees_token)"]).output().unwrap();
    assert_eq!(plain.status.code(), Some(100), "{}", text(&plain.stdout));
}

#[test]
fn teardown_runs_after_a_failing_run_and_after_exitfirst() {
    for args in [
        &["-E", "test(sees_token) | test(fails)"][..],
        &["-x", "-n", "1", "-E", "not test(sleeps)"],
    ] {
        let setup = Setup::new(EXPORT_AND_MARK);
        let out = setup.output(args);
        assert_eq!(out.status.code(), Some(100), "{args:?}: {}", text(&out.stderr));
        assert!(text(&out.stdout).contains("FAIL"), "{args:?}");
        assert_eq!(torn_down(&setup).as_deref(), Some("from-setup\n"), "{args:?}");
    }
}

#[test]
fn a_failing_teardown_fails_a_passing_run() {
    let setup = Setup::new(
        r#"
[[profile.st.setup]]
command = ["sh", "-c", "echo SETUP_TOKEN=from-setup >> \"$XDIST_ENV\""]
[[profile.st.teardown]]
command = ["sh", "-c", "echo cleanup-went-wrong; exit 3"]
"#,
    );
    let out = setup.output(&["-E", "test(sees_token)"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(106), "{stderr}");
    assert_eq!(final_line(&out), "xdist: 5 passed, 0 failed, 0 skipped");
    assert!(stderr.contains("FAILED (exit code 3)") && stderr.contains("cleanup-went-wrong"));
}

#[test]
fn a_failing_setup_stops_the_run_before_any_test() {
    let setup = Setup::new(
        r#"
[[profile.st.setup]]
command = ["sh", "-c", "echo broken-setup-says-why; exit 7"]
[[profile.st.setup]]
command = ["touch", "{DIR}/second-setup"]
[[profile.st.teardown]]
command = ["touch", "{DIR}/torn-down"]
"#,
    );
    let out = setup.output(&["-E", "test(sees_token)"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(105), "{stderr}");
    assert!(stderr.contains("broken-setup-says-why"), "{stderr}");
    assert!(stderr.contains("FAILED (exit code 7)"), "{stderr}");
    let stdout = text(&out.stdout);
    assert!(!stdout.contains("PASS") && !stdout.contains("xdist:"), "{stdout}");
    assert!(!setup.path("second-setup").exists());
    assert!(torn_down(&setup).is_none(), "no teardown after a failed setup");
}

/// Starts the sleeping test under the profile, waits until it runs, and sends SIGINT
/// `signals` times (a second one 300 ms after the first).
fn interrupt(setup: &Setup, signals: usize) -> (Option<i32>, String, Vec<u32>) {
    let built = setup.output(&["--no-tests", "pass", "-E", "none()"]);
    assert!(built.status.success(), "{}", text(&built.stderr));
    let mut child = setup
        .run(&["-E", "test(sleeps)"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !setup.path("sleeping").exists() {
        assert!(child.try_wait().unwrap().is_none(), "the run ended early");
        assert!(Instant::now() < deadline, "the test never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    let family = descendants(child.id());
    let pid = Pid::from_raw(child.id() as i32);
    for i in 0..signals {
        if i > 0 {
            std::thread::sleep(Duration::from_millis(300));
        }
        kill(pid, Signal::SIGINT).unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the run did not end in 60 s after SIGINT");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    (out.status.code(), text(&out.stderr), family)
}

#[test]
fn teardown_runs_after_sigint_and_a_second_sigint_skips_it() {
    let setup = Setup::new(EXPORT_AND_MARK);
    let (code, stderr, family) = interrupt(&setup, 1);
    assert_eq!(code, Some(130), "{stderr}");
    assert_eq!(torn_down(&setup).as_deref(), Some("from-setup\n"), "{stderr}");
    for pid in family {
        assert!(!Path::new(&format!("/proc/{pid}/cmdline")).exists() || zombie(pid), "{pid} left");
    }

    // A teardown that takes a while: the second SIGINT stops the run's wait or it.
    let setup = Setup::new(
        r#"
[[profile.st.setup]]
command = ["sh", "-c", "echo SETUP_TOKEN=from-setup >> \"$XDIST_ENV\""]
[[profile.st.teardown]]
command = ["sh", "-c", "sleep 3; touch torn-down"]
cwd = "{DIR}"
"#,
    );
    let (code, stderr, _) = interrupt(&setup, 2);
    assert_eq!(code, Some(130), "{stderr}");
    std::thread::sleep(Duration::from_secs(4));
    assert!(torn_down(&setup).is_none(), "the second SIGINT skips the teardown: {stderr}");
    assert!(
        stderr.contains("teardown skipped") || stderr.contains("stopped by SIGINT"),
        "{stderr}"
    );
}

fn zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|stat| stat.rsplit_once(") ").is_some_and(|(_, a)| a.starts_with('Z')))
}

/// Every process below `pid`.
fn descendants(pid: u32) -> Vec<u32> {
    let mut found = Vec::new();
    let mut frontier = vec![pid];
    while let Some(parent) = frontier.pop() {
        let Ok(dir) = std::fs::read_dir("/proc") else { break };
        for entry in dir.flatten() {
            let Ok(child) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
            let stat = std::fs::read_to_string(format!("/proc/{child}/stat")).unwrap_or_default();
            let ppid = stat.rsplit_once(") ").and_then(|(_, rest)| rest.split(' ').nth(1));
            if ppid.and_then(|p| p.parse::<u32>().ok()) == Some(parent) {
                found.push(child);
                frontier.push(child);
            }
        }
    }
    found
}
