//! `-f/--looponfail` on a copy of the `loop` fixture: a test fails; the test fixes the copy;
//! the loop reruns that test alone, then everything; SIGINT ends it and leaves no process.
//! Output is polled with generous deadlines; nothing is timed.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::support::*;

/// Every output line so far, stdout and stderr interleaved as read.
type Lines = Arc<Mutex<Vec<String>>>;

fn read_into(stream: impl std::io::Read + Send + 'static, lines: Lines) {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            lines.lock().unwrap().push(line);
        }
    });
}

/// Waits (at most 120 s) until the output has a line satisfying `wanted` after line `from`;
/// returns the index after it.
fn wait_for(lines: &Lines, from: usize, what: &str, wanted: impl Fn(&str) -> bool) -> usize {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        {
            let lines = lines.lock().unwrap();
            if let Some(i) = lines.iter().skip(from).position(|l| wanted(l)) {
                return from + i + 1;
            }
            assert!(Instant::now() < deadline, "no {what} in 120 s:\n{}", lines.join("\n"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn descendants(pid: u32) -> Vec<u32> {
    let mut found = Vec::new();
    let mut frontier = vec![pid];
    while let Some(parent) = frontier.pop() {
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
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

/// Processes whose command line mentions `needle`.
fn processes_mentioning(needle: &str) -> Vec<(u32, String)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let cmdline = text(&cmdline).replace('\0', " ");
        if cmdline.contains(needle) {
            found.push((pid, cmdline));
        }
    }
    found
}

#[test]
fn looponfail_reruns_the_fixed_test_then_everything_until_sigint() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("loop");
    copy_tree(&repo_root().join("tests/fixtures/loop"), &ws);
    let target = target_dir().join("looponfail");
    let mut child = Command::new(env!("CARGO_BIN_EXE_cargo-xdist"))
        .current_dir(&ws)
        .args(["xdist", "run", "-f", "-n", "2", "--show-progress", "none", "--target-dir"])
        .arg(&target)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines: Lines = Arc::default();
    read_into(child.stdout.take().unwrap(), Arc::clone(&lines));
    read_into(child.stderr.take().unwrap(), Arc::clone(&lines));

    // The first run: everything, one failure.
    // stdout and stderr are read by two threads, so a note on stderr written after the
    // summary on stdout may come first in `lines`: each is looked for from where the phase
    // began.
    let summary =
        wait_for(&lines, 0, "first summary", |l| l.starts_with("xdist: 2 passed, 1 failed"));
    let waiting = wait_for(&lines, 0, "the wait", |l| l.contains("waiting for changes"));
    let mut at = summary.max(waiting);
    {
        let seen = lines.lock().unwrap();
        assert!(seen.iter().any(|l| l.contains("running 3 tests")), "{}", seen.join("\n"));
        assert!(seen.iter().any(|l| l.contains("FAIL") && l.contains("answer_is_right")));
    }

    // A build error is shown, and the loop waits for the next change.
    let lib = ws.join("src/lib.rs");
    let source = std::fs::read_to_string(&lib).unwrap();
    std::fs::write(&lib, source.replace("    41\n", "    41 +\n")).unwrap();
    at = wait_for(&lines, at, "the build error", |l| l.contains("the build failed; waiting"));
    assert!(
        lines.lock().unwrap()[..at]
            .iter()
            .any(|l| l.starts_with("error") && l.contains("expected expression"))
    );

    // Fixed: the failed test alone, then everything.
    std::fs::write(&lib, source.replace("    41\n", "    42\n")).unwrap();
    at = wait_for(&lines, at, "the rerun", |l| l.contains("running 1 test across"));
    at = wait_for(&lines, at, "the rerun's pass", |l| {
        l.contains("PASS") && l.contains("answer_is_right")
    });
    at = wait_for(&lines, at, "its summary", |l| l.starts_with("xdist: 1 passed, 0 failed"));
    at = wait_for(&lines, at, "the full run", |l| l.contains("running 3 tests across"));
    wait_for(&lines, at, "its summary", |l| l.starts_with("xdist: 3 passed, 0 failed"));
    wait_for(&lines, at, "the wait", |l| l.contains("all passed; waiting for changes"));

    // Ctrl-C ends it, and nothing it started is left.
    let family = descendants(child.id());
    kill(Pid::from_raw(child.id() as i32), Signal::SIGINT).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the loop did not end in 60 s after SIGINT");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(130), "{}", lines.lock().unwrap().join("\n"));
    for pid in family {
        assert!(!Path::new(&format!("/proc/{pid}")).exists(), "{pid} is left");
    }
    let left = processes_mentioning(&target.display().to_string());
    assert!(left.is_empty(), "left running: {left:?}");
}
