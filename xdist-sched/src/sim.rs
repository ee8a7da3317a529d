//! A discrete-event simulation of a whole run, to compare the modes' makespans.
//!
//! Each simulated worker runs the tests it was sent one after another, in the order sent,
//! each taking its [`TestMeta::duration`] (a test without one takes no time). Assignments
//! and steals travel instantly, steals are answered at once (all requested tests, since a
//! tail the scheduler asks for is never the running test), and nobody crashes. Whether the
//! scheduler *sees* the durations is up to [`SchedOptions::use_history`], so the same
//! suite can be run with and without history.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashSet, VecDeque};
use std::time::Duration;

use crate::{DistMode, SchedOptions, Scheduler, TestIndex, TestMeta, WorkerId, build_scheduler};

/// How long `mode` takes to run `tests` on `workers` workers: the time the last test ends.
pub fn simulate_makespan(
    mode: DistMode,
    tests: &[TestMeta],
    workers: u32,
    options: &SchedOptions,
) -> Duration {
    // `each` runs one copy of the list per worker.
    let copies: Vec<TestMeta>;
    let (tests, options) = if mode == DistMode::Each {
        copies = (0..workers).flat_map(|_| tests.iter().cloned()).collect();
        (copies.as_slice(), &SchedOptions { copies: workers as usize, ..*options })
    } else {
        (tests, options)
    };
    let mut sim = Sim {
        sched: build_scheduler(mode, tests, options),
        tests,
        now: Duration::ZERO,
        queued: vec![VecDeque::new(); workers as usize],
        running: vec![None; workers as usize],
        ends: BinaryHeap::new(),
    };
    for worker in 0..workers {
        sim.sched.add_worker(worker);
    }
    sim.dispatch();
    while let Some(Reverse((at, worker))) = sim.ends.pop() {
        sim.now = at;
        let index = sim.running[worker as usize].take().expect("a test ends on its worker");
        let took = tests[index as usize].duration.unwrap_or_default();
        sim.sched.mark_complete(worker, index, took);
        sim.start_next(worker);
        sim.dispatch();
    }
    debug_assert!(sim.sched.is_finished(), "every test ran");
    sim.now
}

struct Sim<'a> {
    sched: Box<dyn Scheduler + Send>,
    tests: &'a [TestMeta],
    now: Duration,
    /// Tests sent to each worker and not started, in order.
    queued: Vec<VecDeque<TestIndex>>,
    running: Vec<Option<TestIndex>>,
    /// When each running test ends; ties go to the lower worker id.
    ends: BinaryHeap<Reverse<(Duration, WorkerId)>>,
}

impl Sim<'_> {
    fn start_next(&mut self, worker: WorkerId) {
        let w = worker as usize;
        if self.running[w].is_some() {
            return;
        }
        if let Some(index) = self.queued[w].pop_front() {
            self.running[w] = Some(index);
            let took = self.tests[index as usize].duration.unwrap_or_default();
            self.ends.push(Reverse((self.now + took, worker)));
        }
    }

    /// Sends what the scheduler plans and answers its steals until it has nothing to add.
    fn dispatch(&mut self) {
        loop {
            let assignments = self.sched.schedule();
            let progressed = !assignments.is_empty();
            for assignment in assignments {
                self.queued[assignment.worker as usize].extend(assignment.tests);
                self.start_next(assignment.worker);
            }
            let mut stole = false;
            for request in self.sched.steal_requests() {
                let queue = &mut self.queued[request.victim as usize];
                let asked: HashSet<TestIndex> = request.tests.iter().copied().collect();
                let all_queued = queue.iter().filter(|i| asked.contains(i)).count() == asked.len();
                let released = if all_queued { request.tests } else { Vec::new() };
                if all_queued {
                    queue.retain(|i| !asked.contains(i));
                }
                stole |= !released.is_empty();
                self.sched.steal_answered(request.victim, &released);
            }
            if !progressed && !stole {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// bench/gen.py's `sleepy` suite: 35 tests from 0.05 s to 0.9 s in 25 ms steps, shuffled
    /// over the names, and `zz_longest` (2.4 s), which sorts last.
    fn sleepy() -> Vec<TestMeta> {
        let mut tests: Vec<TestMeta> = (0..35u64)
            .map(|i| TestMeta {
                duration: Some(Duration::from_millis(50 + 25 * ((i * 13) % 35))),
                ..TestMeta::new("sleepy", format!("tests::s{i:02}"))
            })
            .collect();
        tests.push(TestMeta {
            duration: Some(Duration::from_millis(2400)),
            ..TestMeta::new("sleepy", "tests::zz_longest")
        });
        tests
    }

    fn lower_bound(tests: &[TestMeta], workers: u32) -> Duration {
        let total: Duration = tests.iter().filter_map(|t| t.duration).sum();
        let longest = tests.iter().filter_map(|t| t.duration).max().unwrap_or_default();
        longest.max(total / workers)
    }

    #[test]
    fn history_brings_load_and_worksteal_within_five_percent_of_the_bound() {
        let tests = sleepy();
        let bound = lower_bound(&tests, 4);
        assert_eq!(bound, Duration::from_micros(4_756_250));
        for mode in [DistMode::Load, DistMode::WorkSteal] {
            let took = simulate_makespan(mode, &tests, 4, &SchedOptions::default());
            let ratio = took.as_secs_f64() / bound.as_secs_f64();
            assert!(ratio <= 1.05, "{}: {took:?} is {ratio:.3}x the bound", mode.name());
        }
    }

    #[test]
    fn without_history_the_long_test_last_stretches_the_run() {
        let tests = sleepy();
        let off = SchedOptions { use_history: false, ..SchedOptions::default() };
        let took = simulate_makespan(DistMode::Load, &tests, 4, &off);
        assert!(took > lower_bound(&tests, 4) * 11 / 10, "{took:?}");
    }

    #[test]
    fn one_worker_takes_the_total_in_every_mode() {
        let tests = sleepy();
        let total: Duration = tests.iter().filter_map(|t| t.duration).sum();
        for mode in DistMode::ALL {
            assert_eq!(simulate_makespan(mode, &tests, 1, &SchedOptions::default()), total);
        }
    }

    /// Prints every mode's makespan on the sleepy suite:
    /// `cargo test -p xdist-sched --release -- --ignored --nocapture makespans`.
    #[test]
    #[ignore = "a report, not a check"]
    fn makespans() {
        let tests = sleepy();
        for workers in [2, 4] {
            let bound = lower_bound(&tests, workers);
            println!("{workers} workers, lower bound {:.3} s", bound.as_secs_f64());
            for mode in DistMode::ALL {
                for use_history in [false, true] {
                    let options = SchedOptions { use_history, ..SchedOptions::default() };
                    let took = simulate_makespan(mode, &tests, workers, &options).as_secs_f64();
                    let ratio = took / bound.as_secs_f64();
                    let history = if use_history { "history" } else { "no history" };
                    println!("  {:<10} {history:<10} {took:.3} s  {ratio:.3}x", mode.name());
                }
            }
        }
    }

    /// 100,000 tests on 1,000 workers; run in release:
    /// `cargo test -p xdist-sched --release -- --ignored --nocapture large_run`.
    #[test]
    #[ignore = "a timing, meaningful only in release"]
    fn large_run_is_fast() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let tests: Vec<TestMeta> = (0..100_000)
            .map(|i| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                TestMeta {
                    duration: Some(Duration::from_micros(1_000 + seed % 200_000)),
                    ..TestMeta::new(format!("bin{}", i % 50), format!("m{}::t{i}", i % 997))
                }
            })
            .collect();
        for mode in DistMode::ALL {
            let start = std::time::Instant::now();
            let took = simulate_makespan(mode, &tests, 1_000, &SchedOptions::default());
            let cpu = start.elapsed();
            println!("{:<10} makespan {took:?}, simulated in {cpu:?}", mode.name());
            if matches!(mode, DistMode::Load | DistMode::WorkSteal) {
                assert!(cpu < Duration::from_secs(1), "{}: {cpu:?}", mode.name());
            }
        }
    }
}
