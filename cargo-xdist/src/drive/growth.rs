//! `-n auto` following the work: more workers than CPUs while the machine's CPUs stay idle.
//!
//! Suites that sleep or wait on I/O (timers, servers, subprocesses) leave CPUs idle at one
//! worker per CPU. With `-n auto` (and no `--tx`), the drive loop looks at the machine's CPU
//! use [`FIRST_LOOK`] after the start and then every [`LOOK_EVERY`] while tests wait
//! unsent: below [`GROW_BELOW`] busy it adds workers (fourfold below [`QUADRUPLE_BELOW`],
//! doubling below [`DOUBLE_BELOW`], else one), up to [`Growth::max`] ([`GROW_FACTOR`] ×
//! CPUs, `--maxprocesses`, and never more than the mode can keep busy), and never while
//! available memory is under [`MIN_FREE_MEMORY`] or a tenth of the total. Under history,
//! `load` keeps the later workers' share queued for them (`SchedOptions::may_grow_to`).
//! A fixed `-n` stays fixed. CPU use is the whole machine's (`/proc/stat`), so other work on
//! the machine counts as busy too; where `/proc` is missing nothing grows.

use std::time::Duration;

/// The first look, after the run's start: a run shorter than this never grows.
pub const FIRST_LOOK: Duration = Duration::from_millis(100);
/// How often CPU use is looked at after that.
pub const LOOK_EVERY: Duration = Duration::from_millis(100);

/// The environment variable that stands in for the measured CPU share (0.0 to 1.0), so that
/// tests of the growth itself do not depend on how busy the machine is.
pub const BUSY_OVERRIDE: &str = "XDIST_TEST_CPU_BUSY";
/// Below this share of CPU time busy, workers are added.
pub const GROW_BELOW: f64 = 0.6;
/// Below this, the worker count doubles.
pub const DOUBLE_BELOW: f64 = 0.3;
/// Below this, it grows fourfold.
pub const QUADRUPLE_BELOW: f64 = 0.15;
/// At most this many workers per CPU.
pub const GROW_FACTOR: u32 = 8;
/// No worker is added while less memory than this is available.
pub const MIN_FREE_MEMORY: u64 = 1 << 30;

/// The rule's limits for one run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Growth {
    /// The most workers the run may have.
    pub max: u32,
}

impl Growth {
    /// How many workers to add to `current`, given the CPU share busy since the last look and
    /// whether memory allows more.
    pub fn workers_to_add(&self, busy: f64, memory_ok: bool, current: u32) -> u32 {
        if !memory_ok || busy >= GROW_BELOW || current >= self.max {
            return 0;
        }
        let wanted = if busy < QUADRUPLE_BELOW {
            current.max(1) * 3
        } else if busy < DOUBLE_BELOW {
            current.max(1)
        } else {
            1
        };
        wanted.min(self.max - current)
    }
}

/// CPU time counters of the whole machine, from `/proc/stat`'s first line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuTimes {
    busy: u64,
    total: u64,
}

impl CpuTimes {
    /// Reads the counters now; `None` where `/proc/stat` is missing or odd.
    pub fn read() -> Option<Self> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        Self::parse(stat.lines().next()?)
    }

    fn parse(line: &str) -> Option<Self> {
        let mut fields = line.split_whitespace();
        if fields.next()? != "cpu" {
            return None;
        }
        // user nice system idle iowait irq softirq steal (guest time is within user).
        let values: Vec<u64> = fields.take(8).map(|f| f.parse().ok()).collect::<Option<_>>()?;
        if values.len() < 5 {
            return None;
        }
        let total: u64 = values.iter().sum();
        let idle = values[3] + values[4];
        Some(Self { busy: total - idle, total })
    }

    /// The share of CPU time busy between `earlier` and `self` (1.0 when no time passed),
    /// or [`BUSY_OVERRIDE`]'s value when it is set.
    pub fn busy_since(&self, earlier: &Self) -> f64 {
        if let Some(busy) = std::env::var(BUSY_OVERRIDE).ok().and_then(|v| v.trim().parse().ok()) {
            return busy;
        }
        let total = self.total.saturating_sub(earlier.total);
        if total == 0 {
            return 1.0;
        }
        self.busy.saturating_sub(earlier.busy) as f64 / total as f64
    }
}

/// Whether available memory allows another worker (`/proc/meminfo`; true where missing).
pub fn memory_ok() -> bool {
    let Ok(info) = std::fs::read_to_string("/proc/meminfo") else { return true };
    memory_ok_in(&info)
}

fn memory_ok_in(info: &str) -> bool {
    let field = |name: &str| {
        info.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next()?.parse::<u64>().ok())
            .map(|kib| kib * 1024)
    };
    match (field("MemAvailable:"), field("MemTotal:")) {
        (Some(available), Some(total)) => available >= MIN_FREE_MEMORY && available >= total / 10,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_cpus_double_the_workers_up_to_the_cap() {
        let growth = Growth { max: 8 };
        assert_eq!(growth.workers_to_add(0.05, true, 2), 6, "idle: fourfold");
        assert_eq!(growth.workers_to_add(0.2, true, 2), 2, "mostly idle: doubled");
        assert_eq!(growth.workers_to_add(0.05, true, 6), 2, "capped");
        assert_eq!(growth.workers_to_add(0.45, true, 4), 1, "half busy: one more");
        assert_eq!(growth.workers_to_add(0.8, true, 4), 0, "busy: none");
        assert_eq!(growth.workers_to_add(0.05, false, 4), 0, "memory short: none");
        assert_eq!(growth.workers_to_add(0.05, true, 8), 0);
    }

    #[test]
    fn cpu_counters_come_from_the_first_line_of_proc_stat() {
        let a = CpuTimes::parse("cpu  100 0 50 800 50 0 0 0 0 0").unwrap();
        let b = CpuTimes::parse("cpu  150 0 100 1700 50 0 0 0 0 0").unwrap();
        // 100 busy of 1,000 more.
        assert!((b.busy_since(&a) - 0.1).abs() < 1e-9);
        assert_eq!(a.busy_since(&a), 1.0);
        assert!(CpuTimes::parse("cpu0 1 2 3 4 5").is_none());
        assert!(CpuTimes::parse("cpu x").is_none());
    }

    #[test]
    fn memory_is_ok_above_a_gibibyte_and_a_tenth() {
        let info = |avail: u64, total: u64| {
            format!("MemTotal: {total} kB\nMemFree: 1 kB\nMemAvailable: {avail} kB\n")
        };
        assert!(memory_ok_in(&info(4 << 20, 16 << 20)));
        assert!(!memory_ok_in(&info(512 << 10, 16 << 20)), "under 1 GiB");
        assert!(!memory_ok_in(&info(2 << 20, 32 << 20)), "under a tenth");
        assert!(memory_ok_in("nothing here"));
    }
}
