//! The one place that builds the command of a test binary (its cwd, its environment with
//! the dynamic library path, no stdin, and for runs its own process group that dies with the
//! worker), and the one describer of how a process ended. The worker's batches and the
//! controller's listing both use it.

use std::io;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, ExitStatus, Stdio};

use nix::sys::signal::Signal;
use xdist_core::protocol::LeakPolicy;

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
/// the policy's timeout to exit by themselves, then are killed (unless the policy leaves
/// them running). Says whether any was left.
pub fn stop_leftovers(group: u32, policy: &LeakPolicy) -> bool {
    let pgid = nix::unistd::Pid::from_raw(group as i32);
    let alive = || nix::sys::signal::killpg(pgid, None).is_ok() && has_live_member(group);
    let deadline = std::time::Instant::now() + std::time::Duration::from_millis(policy.timeout_ms);
    while alive() {
        if std::time::Instant::now() >= deadline {
            if policy.kill {
                let _ = nix::sys::signal::killpg(pgid, Signal::SIGKILL);
            }
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    false
}

/// Whether a process of group `group` runs: a child that exited stays in its group as a
/// zombie until whoever adopted it reaps it, which may take a while; it has not leaked.
#[cfg(target_os = "linux")]
fn has_live_member(group: u32) -> bool {
    let Ok(entries) = std::fs::read_dir("/proc") else { return true };
    let group = group.to_string();
    entries.flatten().any(|entry| {
        let is_pid =
            entry.file_name().to_str().is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()));
        let stat =
            if is_pid { std::fs::read_to_string(entry.path().join("stat")) } else { return false };
        // `pid (comm) state ppid pgrp ...`; comm may hold spaces and parentheses.
        let Some((_, rest)) = stat.as_deref().ok().and_then(|s| s.rsplit_once(") ")) else {
            return false;
        };
        let mut fields = rest.split(' ');
        let state = fields.next();
        let pgrp = fields.nth(1);
        pgrp == Some(group.as_str()) && state != Some("Z")
    })
}

#[cfg(not(target_os = "linux"))]
fn has_live_member(_: u32) -> bool {
    true
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
    fn a_group_of_zombies_has_no_live_member() {
        let mut command = Command::new("sleep");
        command.arg("60").process_group(0);
        let mut child = command.spawn().unwrap();
        assert!(has_live_member(child.id()), "it sleeps");
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), Signal::SIGKILL)
            .unwrap();
        // Not reaped yet: a zombie until `wait`.
        while std::fs::read_to_string(format!("/proc/{}/stat", child.id()))
            .is_ok_and(|s| !s.contains(") Z "))
        {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert!(!has_live_member(child.id()), "a zombie does not count");
        let policy = LeakPolicy::default();
        assert!(!stop_leftovers(child.id(), &policy), "nothing leaked");
        child.wait().unwrap();
    }

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
