//! `cargo xdist`: builds a workspace's tests once, lists them once, and runs them spread over
//! worker processes. This binary wires the crates together: the CLI and cargo integration
//! live here; scheduling, the session and the protocol in `xdist-sched` and `xdist-core`;
//! the worker in `xdist-worker`, run from this same executable.

mod build;
mod cli;
mod collect;
mod commands;
mod config;
mod drive;
mod errors;
mod plan;
mod remote;
mod report;
mod scripts;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{CargoCli, Command};
use crate::errors::exit_code;

/// The hidden argument that turns this executable into a worker.
pub const WORKER_ARG: &str = "__xdist-worker";

fn main() -> ExitCode {
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args.get(1).is_some_and(|a| a == WORKER_ARG) {
        return xdist_worker::main();
    }
    if args.get(1).is_some_and(|a| a == remote::ship::UNPACK_ARG) {
        return remote::ship::unpack_main(&args);
    }
    // Started by cargo as rustdoc, to record the doctests' command lines.
    if let Some(dir) = std::env::var_os(build::doctests::RECORD_VAR) {
        return build::doctests::record_main(dir);
    }
    // `cargo xdist ...` runs `cargo-xdist xdist ...`; accept `cargo-xdist ...` too.
    if args.get(1).is_none_or(|a| a != "xdist") {
        args.insert(1, "xdist".into());
    }
    let CargoCli::Xdist(app) = match CargoCli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { exit_code::USAGE } else { exit_code::OK });
        }
    };
    let result = match app.command {
        Command::Run(args) if args.looponfail => commands::looponfail::looponfail(*args),
        Command::Run(args) => commands::run::run(&args),
        Command::List(args) => commands::list::list(&args),
        Command::Archive(args) => commands::archive::archive(&args),
        Command::Durations(args) => commands::durations::durations(&args),
        Command::ShowConfig(args) => commands::show_config::show_config(&args),
        Command::Simulate(args) => commands::simulate::simulate(&args),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
