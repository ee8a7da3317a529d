//! `cargo xdist __simulate`: drives every scheduler with simulated workers over generated
//! tests (durations from a fixed pseudo-random sequence, with a heavy tail) and prints each
//! mode's makespan against the lower bound, with the coordinator's CPU time and memory.

use std::time::{Duration, Instant};

use xdist_sched::{DistMode, SchedOptions, TestMeta, simulate_makespan};

use crate::cli::SimulateArgs;
use crate::errors::{UsageError, XdistError, exit_code};

/// Runs the simulation; returns the exit code.
pub fn simulate(args: &SimulateArgs) -> Result<u8, XdistError> {
    if args.tests == 0 || args.workers == 0 || args.module_size == 0 {
        return Err(UsageError::EmptySimulation.into());
    }
    let tests = generate(args.tests, args.module_size);
    let total: Duration = tests.iter().filter_map(|t| t.duration).sum();
    let longest = tests.iter().filter_map(|t| t.duration).max().unwrap_or_default();
    let bound = longest.max(total / args.workers);
    println!(
        "{} tests in modules of {}, {} workers: total {:.1}s, longest {:.2}s, lower bound {:.2}s",
        args.tests,
        args.module_size,
        args.workers,
        total.as_secs_f64(),
        longest.as_secs_f64(),
        bound.as_secs_f64()
    );
    let modes: Vec<DistMode> = if args.dist.is_empty() {
        DistMode::ALL
            .into_iter()
            .filter(|m| args.tests <= 10_000 || !matches!(m, DistMode::No | DistMode::Each))
            .collect()
    } else {
        args.dist.clone()
    };
    println!(
        "{:<10} {:>8} {:>12} {:>12} {:>14} {:>10}",
        "mode", "history", "makespan", "vs bound", "coordinator", "max RSS"
    );
    for mode in modes {
        for use_history in [false, true] {
            let options = SchedOptions { use_history, ..SchedOptions::default() };
            let started = Instant::now();
            let makespan = simulate_makespan(mode, &tests, args.workers, &options);
            let cpu = started.elapsed();
            println!(
                "{:<10} {:>8} {:>11.2}s {:>11.3}x {:>13.3}s {:>8} MB",
                mode.name(),
                if use_history { "yes" } else { "no" },
                makespan.as_secs_f64(),
                makespan.as_secs_f64() / bound.as_secs_f64().max(f64::MIN_POSITIVE),
                cpu.as_secs_f64(),
                max_rss_mb()
            );
        }
    }
    Ok(exit_code::OK)
}

/// Tests named `m<k>::t<i>` in modules of `module_size`, with durations from 1 ms to 1 s and
/// one test in a thousand up to 30 s.
fn generate(count: usize, module_size: usize) -> Vec<TestMeta> {
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    (0..count)
        .map(|i| {
            let r = next();
            let ms = if r % 1000 == 0 { 5_000 + r % 25_000 } else { 1 + r % 1_000 };
            TestMeta {
                duration: Some(Duration::from_millis(ms)),
                ..TestMeta::new("bench", format!("m{:05}::t{i:07}", i / module_size))
            }
        })
        .collect()
}

/// The peak resident memory of this process, in megabytes.
fn max_rss_mb() -> i64 {
    nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_SELF)
        .map_or(-1, |usage| usage.max_rss() / 1024)
}
