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
//!
//! A run with history need not wait for the looks: the history holds how much of a CPU
//! each binary's test processes used last time ([`suite_cpu_share`], weighted by the
//! selected tests' recorded durations), and the run starts with CPUs ÷ that share workers
//! ([`Growth::starting_workers`], within the same limits; [`CPU_BOUND`] and over: one per
//! CPU, as without history), so a suite whose tests sleep starts
//! wide at once. The looks go on from there.

use std::collections::HashMap;
use std::time::Duration;

use xdist_sched::TestMeta;

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
/// Tests whose processes used this much of a CPU or more are CPU-bound: one worker per CPU
/// (what is left is process starts and the pipes, which more workers would not fill).
pub const CPU_BOUND: f64 = 0.75;
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

    /// How many workers a run starts with when its tests used `share` of a CPU each last
    /// time: enough to keep `cpus` CPUs busy, never fewer than `current` nor more than the
    /// rule allows.
    pub fn starting_workers(&self, cpus: u32, share: f64, current: u32) -> u32 {
        if share >= CPU_BOUND {
            return current;
        }
        let share = share.max(1.0 / f64::from(GROW_FACTOR));
        let wanted = (f64::from(cpus) / share).ceil();
        let wanted = if wanted >= f64::from(u32::MAX) { u32::MAX } else { wanted as u32 };
        wanted.min(self.max).max(current)
    }
}

/// The share of a CPU that the selected tests' processes used last time: each binary's
/// share (`share_of`, from the history) weighted by the recorded durations of its selected
/// tests. `None` when binaries with a known share hold less than half the recorded time.
pub fn suite_cpu_share(metas: &[TestMeta], share_of: impl Fn(&str) -> Option<f64>) -> Option<f64> {
    let mut time_by_binary: HashMap<&str, f64> = HashMap::new();
    for meta in metas {
        if let Some(took) = meta.duration {
            *time_by_binary.entry(&meta.binary_id).or_default() += took.as_secs_f64();
        }
    }
    let total: f64 = time_by_binary.values().sum();
    let (mut known, mut weighted) = (0.0, 0.0);
    for (binary, time) in time_by_binary {
        if let Some(share) = share_of(binary) {
            known += time;
            weighted += time * share;
        }
    }
    (total > 0.0 && known * 2.0 >= total).then(|| weighted / known)
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
    fn a_run_starts_with_as_many_workers_as_its_tests_keep_cpus_busy() {
        let growth = Growth { max: 16 };
        assert_eq!(growth.starting_workers(2, 1.0, 2), 2, "CPU-bound: one per CPU");
        assert_eq!(growth.starting_workers(2, 0.8, 2), 2, "mostly CPU-bound: the same");
        assert_eq!(growth.starting_workers(2, 0.7, 2), 3);
        assert_eq!(growth.starting_workers(2, 0.25, 2), 8);
        assert_eq!(growth.starting_workers(2, 0.01, 2), 16, "sleeping: the cap");
        assert_eq!(growth.starting_workers(2, 0.0, 2), 16);
        assert_eq!(Growth { max: 5 }.starting_workers(2, 0.01, 2), 5, "the rule's limit");
        assert_eq!(growth.starting_workers(2, 1.0, 3), 3, "never fewer");
    }

    #[test]
    fn the_suite_share_weights_binaries_by_recorded_time() {
        let meta = |binary: &str, ms: Option<u64>| TestMeta {
            duration: ms.map(Duration::from_millis),
            ..TestMeta::new(binary, "t")
        };
        let shares = |b: &str| match b {
            "sleepy" => Some(0.1),
            "busy" => Some(1.0),
            _ => None,
        };
        let metas = [meta("sleepy", Some(300)), meta("sleepy", Some(600)), meta("busy", Some(100))];
        let share = suite_cpu_share(&metas, shares).unwrap();
        assert!((share - (0.9 * 0.1 + 0.1 * 1.0)).abs() < 1e-9, "{share}");
        let mostly_unknown = [meta("new", Some(900)), meta("busy", Some(100))];
        assert_eq!(suite_cpu_share(&mostly_unknown, shares), None);
        let half = [meta("new", Some(100)), meta("sleepy", Some(100))];
        let share = suite_cpu_share(&half, shares).unwrap();
        assert!((share - 0.1).abs() < 1e-9, "half known: the known half's share, {share}");
        assert_eq!(suite_cpu_share(&[meta("sleepy", None)], shares), None, "no durations");
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
