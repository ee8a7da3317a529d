//! The terminal display in a real pseudo-terminal: while tests run, the screen shows the bar
//! and one line per worker with the test it runs; when the run ends, the screen holds the
//! test lines and the summary, with no progress line left over. The screen is what a
//! terminal emulator (vt100) makes of the bytes.

use std::io::Read;
use std::process::{Command, Stdio};

use nix::pty::{Winsize, openpty};

use crate::support::*;

const STALL: &str = "tests/fixtures/stall";
const ROWS: u16 = 40;
const COLS: u16 = 120;

/// Runs `cmd` with a terminal as its stdout and stderr; returns the screen's rows each time
/// the output changed, the last one, the bytes written and the exit code.
fn on_a_terminal(mut cmd: Command) -> Run {
    let size = Winsize { ws_row: ROWS, ws_col: COLS, ws_xpixel: 0, ws_ypixel: 0 };
    let pty = openpty(&size, None).expect("a pseudo-terminal");
    let slave = pty.slave;
    cmd.stdin(Stdio::null())
        .stdout(Stdio::from(slave.try_clone().unwrap()))
        .stderr(Stdio::from(slave))
        .env_remove("CI")
        .env_remove("NO_COLOR")
        .env_remove("CARGO_TERM_COLOR")
        .env("TERM", "xterm-256color");
    let mut child = cmd.spawn().expect("start cargo xdist");
    // The command holds the only other copies of the slave end; once it and its workers
    // exit, reading the master end fails (EIO) or ends.
    drop(cmd);
    let mut master = std::fs::File::from(pty.master);
    let mut parser = vt100::Parser::new(ROWS, COLS, 1000);
    let mut screens = Vec::new();
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match master.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                parser.process(&chunk[..n]);
                bytes.extend_from_slice(&chunk[..n]);
                screens.push(parser.screen().rows(0, COLS).collect());
            }
        }
    }
    let status = child.wait().expect("wait for cargo xdist");
    let last = parser.screen().rows(0, COLS).collect();
    Run { screens, last, bytes, code: status.code() }
}

struct Run {
    screens: Vec<Vec<String>>,
    last: Vec<String>,
    bytes: Vec<u8>,
    code: Option<i32>,
}

fn sleepers(args: &[&str]) -> Command {
    let mut cmd = xdist(STALL, "run");
    cmd.args(["-n", "2"]).args(args).arg("sleeper").env("STALL_SLEEP_MS", "500");
    cmd
}

/// A worker's line with a running test: `[gw0] [    0.3s] stall t::sleeper_03`.
fn running_line(row: &str, worker: &str) -> bool {
    let row = row.trim_start();
    row.strip_prefix(&format!("[{worker}] ["))
        .and_then(|rest| rest.split_once("s] "))
        .is_some_and(|(_, id)| id.starts_with("stall t::sleeper_"))
}

#[test]
fn a_terminal_shows_each_workers_running_test_and_ends_on_the_summary() {
    let Run { screens, last, bytes, code } = on_a_terminal(sleepers(&[]));
    let shown = last.join("\n");
    assert_eq!(code, Some(0), "{shown}");
    let both_running = screens.iter().any(|rows| {
        rows.iter().any(|r| running_line(r, "gw0")) && rows.iter().any(|r| running_line(r, "gw1"))
    });
    assert!(both_running, "no screen showed both workers running a test; last:\n{shown}");
    assert!(
        screens
            .iter()
            .any(|rows| rows.iter().any(|r| r.contains("Running [") && r.contains("/16"))),
        "no screen showed the bar; last:\n{shown}"
    );
    let lines: Vec<&str> = last.iter().map(|r| r.trim_end()).filter(|r| !r.is_empty()).collect();
    assert_eq!(lines.last(), Some(&"xdist: 16 passed, 0 failed, 0 skipped"), "{shown}");
    let passes = lines.iter().filter(|l| l.starts_with("    PASS stall t::sleeper_")).count();
    assert_eq!(passes, 16, "{shown}");
    let leftover: Vec<&&str> = lines
        .iter()
        .filter(|l| l.contains("Running [") || l.trim_start().starts_with("[gw"))
        .collect();
    assert!(leftover.is_empty(), "progress lines left over: {leftover:?}\n{shown}");
    // The display was cleared before the summary, not drawn again after it.
    let bytes = text(&bytes);
    let after = &bytes[bytes.rfind("xdist: 16 passed").unwrap()..];
    assert!(!after.contains("Running ["), "the bar was drawn after the summary: {after:?}");
}

#[test]
fn on_a_terminal_none_and_never_print_plain_lines() {
    let mut cmd = sleepers(&["--show-progress", "none", "--color", "never"]);
    cmd.env("STALL_SLEEP_MS", "10");
    let Run { screens, last, bytes, code } = on_a_terminal(cmd);
    let shown = last.join("\n");
    assert_eq!(code, Some(0), "{shown}");
    let any_progress = screens
        .iter()
        .flatten()
        .any(|r| r.contains("Running [") || r.trim_start().starts_with("[gw"));
    assert!(!any_progress, "{shown}");
    let lines: Vec<&str> = last.iter().map(|r| r.trim_end()).filter(|r| !r.is_empty()).collect();
    // cargo's own build output comes first.
    let header = lines.iter().position(|l| *l == "running 16 tests across 2 workers");
    let run = &lines[header.unwrap_or_else(|| panic!("no header:\n{shown}")) + 1..];
    assert_eq!(run.len(), 17, "{shown}");
    assert!(run[..16].iter().all(|l| l.starts_with("    PASS stall t::sleeper_")), "{shown}");
    assert_eq!(run[16], "xdist: 16 passed, 0 failed, 0 skipped", "{shown}");
    let bytes = text(&bytes);
    let ours = &bytes[bytes.find("running 16 tests").unwrap()..];
    assert!(!ours.contains('\u{1b}'), "escape codes under --color never: {ours:?}");
}
