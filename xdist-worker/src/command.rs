//! The one place that builds the command of a test binary (its cwd, its environment with
//! the dynamic library path, no stdin, and for runs its own process group that dies with the
//! worker), and the one describer of how a process ended. The worker's batches and the
//! controller's listing both use it.

use std::io;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, ExitStatus, Stdio};

use nix::sys::signal::Signal;

/// A test binary's command: `path` run in `cwd` with `env` added (the environment, library
/// path included, is computed once by the controller) and stdin closed; under a target
/// `runner` (program and arguments, as cargo's `target.<triple>.runner`), the runner is
/// started with the binary as its next argument, as cargo starts it.
pub fn test_command(runner: &[String], path: &str, cwd: &str, env: &[(String, String)]) -> Command {
    let mut command = match runner.split_first() {
        Some((program, args)) => {
            let mut command = Command::new(program);
            command.args(args).arg(path);
            command
        }
        None => Command::new(path),
    };
    command.current_dir(cwd).envs(env.iter().map(|(k, v)| (k, v))).stdin(Stdio::null());
    command
}

/// Makes `command` a run of tests: its own process group (a timeout kills the test and
/// whatever it started), which the kernel kills if the worker dies (Linux).
pub fn isolate(command: &mut Command) {
    command.process_group(0);
    die_with_parent(command);
}

#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn die_with_parent(command: &mut Command) {
    // SAFETY: the closure runs in the child between fork and exec and only makes the
    // prctl(2) system call, which is async-signal-safe.
    unsafe {
        command
            .pre_exec(|| nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(io::Error::from));
    }
}

#[cfg(not(target_os = "linux"))]
fn die_with_parent(_: &mut Command) {}

/// Stops what is left of a test process's group once the process has exited: children get
/// [`LEAK_GRACE_MS`] to exit by themselves, then are killed. Says whether any was left.
///
/// [`LEAK_GRACE_MS`]: xdist_core::protocol::LEAK_GRACE_MS
pub fn stop_leftovers(group: u32) -> bool {
    let pgid = nix::unistd::Pid::from_raw(group as i32);
    let alive = || nix::sys::signal::killpg(pgid, None).is_ok();
    let deadline = std::time::Instant::now()
        + std::time::Duration::from_millis(xdist_core::protocol::LEAK_GRACE_MS);
    while alive() {
        if std::time::Instant::now() >= deadline {
            let _ = nix::sys::signal::killpg(pgid, Signal::SIGKILL);
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    false
}

/// "exited with code 3", "was killed by SIGSEGV (core dumped)".
pub fn describe(status: ExitStatus) -> String {
    if let Some(signal) = status.signal() {
        let name = Signal::try_from(signal)
            .map_or_else(|_| format!("signal {signal}"), |s| s.as_str().to_string());
        let core = if status.core_dumped() { " (core dumped)" } else { "" };
        format!("was killed by {name}{core}")
    } else {
        format!("exited with code {}", status.code().unwrap_or(-1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exits_and_signals_are_described() {
        let code = Command::new("sh").args(["-c", "exit 3"]).status().unwrap();
        assert_eq!(describe(code), "exited with code 3");
        let killed = Command::new("sh").args(["-c", "kill -SEGV $$"]).status().unwrap();
        assert!(describe(killed).starts_with("was killed by SIGSEGV"), "{}", describe(killed));
    }

    #[test]
    fn the_command_runs_where_and_with_what_it_is_told() {
        let env = vec![("XDIST_PROBE".to_string(), "42".to_string())];
        let out = test_command(&[], "sh", "/", &env)
            .args(["-c", "echo \"$PWD $XDIST_PROBE\"; cat"])
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "/ 42\n", "stdin is closed");
    }

    #[test]
    fn a_runner_starts_the_binary_with_its_arguments() {
        let runner = ["sh".to_string(), "-c".to_string(), "echo \"runner $0 $*\"".to_string()];
        let out = test_command(&runner, "/bin/true", "/", &[]).args(["--list"]).output().unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "runner /bin/true --list\n");
    }
}
