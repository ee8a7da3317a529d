//! Property tests every scheduler must pass, in every mode: driven by simulated workers that
//! hand the front of their queue to a test process, complete those tests in random order,
//! sometimes die, answer steals late or not at all (and refuse a steal of any test already
//! handed to a process, as the real worker does), and are shut down when idle (as the
//! session does), each test ends exactly once, units stay whole, and the run ends.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use proptest::prelude::*;

use crate::{
    Assignment, DistMode, SchedConfig, SchedOptions, Scheduler, StealRequest, TestIndex, TestMeta,
    WorkerId, build_scheduler, make_scheduler,
};

/// One simulated round: which busy worker acts, and how.
#[derive(Clone, Debug)]
struct Step {
    pick: usize,
    dies: bool,
    slow: bool,
    /// Rounds until a steal asked for in this round is answered (0: at once).
    answer_after: usize,
    /// How many queued tests a worker with no test process hands to its next one, modulo
    /// the queue's length plus one, where 0 is all of them: the real worker hands all it
    /// holds (`Batching::Whole`) or about a second of work (`Batching::Adaptive`).
    hand: usize,
}

fn step() -> impl Strategy<Value = Step> {
    let answer_after = prop_oneof![2 => Just(0usize), 1 => 1usize..6];
    (any::<usize>(), prop::bool::weighted(0.05), any::<bool>(), answer_after, any::<usize>())
        .prop_map(|(pick, dies, slow, answer_after, hand)| Step {
            pick,
            dies,
            slow,
            answer_after,
            hand,
        })
}

/// A test from a small space of binaries, modules, files and groups, so units collide.
fn test_meta() -> impl Strategy<Value = TestMeta> {
    (
        0u8..3,
        prop::collection::vec(0u8..3, 0..=3),
        0u8..4,
        prop::option::of(0u8..3),
        prop::option::of(0u8..4),
        prop::option::of(0u64..500),
        any::<bool>(),
    )
        .prop_map(|(binary, modules, leaf, file, group, ms, first)| {
            let mut path: Vec<String> = modules.iter().map(|m| format!("m{m}")).collect();
            path.push(format!("t{leaf}"));
            TestMeta {
                binary_id: format!("bin{binary}"),
                name: path.join("::"),
                source_file: file.map(|f| format!("src/f{f}.rs")),
                group: group.map(|g| format!("g{g}")),
                duration: ms.map(Duration::from_millis),
                first,
            }
        })
}

/// What one simulated run knows besides the scheduler.
struct World<'a> {
    mode: DistMode,
    tests: &'a [TestMeta],
    ended: Vec<u32>,
    live: Vec<WorkerId>,
    dead: HashSet<WorkerId>,
    next_id: WorkerId,
    /// Tests each worker was sent and has neither completed nor given up, in the order sent.
    sent: BTreeMap<WorkerId, Vec<TestIndex>>,
    /// How many of the first of `sent` the worker has handed to a test process: started or
    /// about to be, so no longer its to give up, and not finished yet.
    handed: HashMap<WorkerId, usize>,
    /// The worker each unit key last went to.
    owner: HashMap<String, WorkerId>,
    /// The steal in flight and the round it gets answered in.
    steal: Option<(StealRequest, usize)>,
    /// The last steal came back empty: as the session does, ask again only after a test
    /// finished.
    steal_backoff: bool,
    /// Steals refused although none of the tests asked for had finished.
    refused_unfinished: usize,
}

impl World<'_> {
    fn received(&mut self, a: Assignment) {
        assert!(!a.tests.is_empty(), "an assignment is never empty");
        assert!(self.live.contains(&a.worker), "work only goes to live workers");
        let mut last_of_key: HashMap<String, TestIndex> = HashMap::new();
        for &index in &a.tests {
            let Some(key) = self.mode.unit_key(&self.tests[index as usize]) else { continue };
            if let Some(&prev) = self.owner.get(&key) {
                assert!(
                    prev == a.worker || self.dead.contains(&prev),
                    "unit {key} split between gw{prev} (alive) and gw{}",
                    a.worker
                );
            }
            if let Some(&before) = last_of_key.get(&key) {
                assert!(before < index, "unit {key} out of list order: {:?}", a.tests);
            }
            last_of_key.insert(key.clone(), index);
            self.owner.insert(key, a.worker);
        }
        self.sent.entry(a.worker).or_default().extend(&a.tests);
    }

    /// The victim gives up everything asked if all of it is still queued (none of it handed
    /// to a test process, let alone completed), else nothing, as the real worker does.
    fn answer_steal(&mut self, sched: &mut dyn Scheduler) {
        let Some((request, _)) = self.steal.take() else { return };
        let handed = self.handed.get(&request.victim).copied().unwrap_or(0);
        let held = self.sent.get_mut(&request.victim).expect("the victim is alive");
        let queued = &held[handed..];
        let untouched = request.tests.iter().all(|i| queued.contains(i));
        if !untouched && request.tests.iter().all(|i| held.contains(i)) {
            self.refused_unfinished += 1;
        }
        let released = if untouched { request.tests } else { Vec::new() };
        held.retain(|i| !released.contains(i));
        self.steal_backoff = released.is_empty();
        sched.steal_answered(request.victim, &released);
    }

    /// A test `worker` has handed to its test process (handing it the front of its queue
    /// first if no process runs), the one picked by `step`.
    fn running_test(&mut self, worker: WorkerId, step: &Step, busy: usize) -> TestIndex {
        let held = self.sent.get(&worker).expect("a busy worker was sent tests");
        assert!(!held.is_empty(), "a worker the scheduler calls busy holds tests");
        let handed = self.handed.entry(worker).or_insert(0);
        if *handed == 0 {
            *handed = match step.hand % (held.len() + 1) {
                0 => held.len(),
                n => n,
            };
        }
        held[(step.pick / busy) % *handed]
    }

    fn remove(&mut self, sched: &mut dyn Scheduler, worker: WorkerId) {
        let moved = sched.remove_worker(worker);
        assert_eq!(moved, self.sent.remove(&worker).unwrap_or_default(), "requeued = unfinished");
        self.handed.remove(&worker);
        self.live.retain(|&w| w != worker);
        if self.steal.as_ref().is_some_and(|(r, _)| r.victim == worker) {
            // A worker that is gone never answers.
            self.steal = None;
        }
    }
}

/// Runs `mode` over `tests` on `workers` workers. Every death is followed by a replacement,
/// as the session does; the test the worker was running counts as the crashed one and ends
/// there. Returns how many times each test ended, and how many steals were refused only
/// because a test asked for was handed to a process.
fn simulate(
    mode: DistMode,
    tests: &[TestMeta],
    workers: u32,
    options: &SchedOptions,
    shutdown_idle: bool,
    steps: &[Step],
) -> (Vec<u32>, usize) {
    let mut sched = build_scheduler(mode, tests, options);
    let mut world = World {
        mode,
        tests,
        ended: vec![0; tests.len()],
        live: (0..workers).collect(),
        dead: HashSet::new(),
        next_id: workers,
        sent: BTreeMap::new(),
        handed: HashMap::new(),
        owner: HashMap::new(),
        steal: None,
        steal_backoff: false,
        refused_unfinished: 0,
    };
    for w in 0..workers {
        sched.add_worker(w);
    }
    let mut script = steps.iter().cycle();
    let mut rounds = 0usize;
    let mut passes = 0usize;
    loop {
        passes += 1;
        assert!(passes < 200 * (tests.len() + 10), "steals and schedules must settle");
        let s = script.next().expect("cycle never ends");
        for a in sched.schedule() {
            world.received(a);
        }
        let requests = if world.steal_backoff { Vec::new() } else { sched.steal_requests() };
        assert!(requests.len() <= 1, "one steal at a time: {requests:?}");
        for request in requests {
            assert!(world.steal.is_none(), "no steal request while one is outstanding");
            assert!(world.live.contains(&request.victim), "steal from a live worker");
            let held = sched.pending(request.victim);
            assert!(!request.tests.is_empty() && request.tests.iter().all(|i| held.contains(i)));
            world.steal = Some((request, rounds + s.answer_after));
        }
        if world.steal.as_ref().is_some_and(|&(_, due)| due <= rounds) {
            world.answer_steal(sched.as_mut());
            continue;
        }
        if shutdown_idle && !sched.has_unsent() {
            let idle: Vec<WorkerId> =
                world.live.iter().copied().filter(|&w| sched.pending(w).is_empty()).collect();
            for w in idle {
                world.remove(sched.as_mut(), w);
            }
        }
        if sched.is_finished() {
            assert!(world.steal.is_none(), "finished with a steal in flight");
            break;
        }
        rounds += 1;
        assert!(rounds < 50 * (tests.len() + 10), "the run must end");
        let busy: Vec<WorkerId> =
            world.live.iter().copied().filter(|&w| !sched.pending(w).is_empty()).collect();
        if busy.is_empty() {
            assert!(world.steal.is_some(), "work is left but no worker holds any: a hang");
            world.answer_steal(sched.as_mut());
            continue;
        }
        let w = busy[s.pick % busy.len()];
        // Workers finish the tests of a process in any order (libtest sorts a batch by name).
        let index = world.running_test(w, s, busy.len());
        assert!(sched.pending(w).contains(&index), "tests a worker runs are pending on it");
        assert_eq!(sched.held(w), sched.pending(w).len(), "held counts the pending tests");
        let mine = world.sent.get_mut(&w).expect("sent");
        let pos = mine.iter().position(|&i| i == index).expect("running tests were sent");
        mine.remove(pos);
        *world.handed.get_mut(&w).expect("handed") -= 1;
        world.steal_backoff = false;
        world.ended[index as usize] += 1;
        let took = Duration::from_millis(if s.slow { 300 } else { 1 });
        sched.mark_complete(w, index, took);
        if s.dies {
            world.remove(sched.as_mut(), w);
            world.dead.insert(w);
            world.live.push(world.next_id);
            sched.add_worker(world.next_id);
            world.next_id += 1;
        }
    }
    (world.ended, world.refused_unfinished)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(600))]

    #[test]
    fn every_test_ends_exactly_once(
        mode in prop::sample::select(DistMode::ALL.to_vec()),
        tests in prop::collection::vec(test_meta(), 0..200),
        workers in 1u32..9,
        max_sched_chunk in prop::option::of(1usize..20),
        loadscope_reorder in any::<bool>(),
        use_history in any::<bool>(),
        process_cost_ms in prop::sample::select(vec![0u64, 5, 200, 5_000]),
        shutdown_idle in any::<bool>(),
        steps in prop::collection::vec(step(), 1..200),
    ) {
        // `each` runs one copy of the list per worker.
        let copies = if mode == DistMode::Each { workers as usize } else { 1 };
        let tests: Vec<TestMeta> = (0..copies).flat_map(|_| tests.iter().cloned()).collect();
        let options = SchedOptions {
            max_sched_chunk,
            loadscope_reorder,
            use_history,
            copies,
            process_cost: Duration::from_millis(process_cost_ms),
            ..SchedOptions::default()
        };
        let (ended, _) = simulate(mode, &tests, workers, &options, shutdown_idle, &steps);
        prop_assert!(ended.iter().all(|&n| n == 1), "ended counts: {ended:?}");
    }
}

#[test]
fn draining_unsent_leaves_only_pending() {
    let mut sched = make_scheduler(DistMode::Load, 100, SchedConfig { max_sched_chunk: None });
    sched.add_worker(0);
    sched.add_worker(1);
    let sent: usize = sched.schedule().iter().map(|a| a.tests.len()).sum();
    let drained = sched.drain_unsent();
    assert_eq!(sent + drained.len(), 100);
    assert!(!sched.has_unsent());
    for i in 0..12 {
        sched.mark_complete(0, i, Duration::ZERO);
    }
    for i in 12..24 {
        sched.mark_complete(1, i, Duration::ZERO);
    }
    assert!(sched.is_finished());
}

#[test]
fn make_scheduler_runs_every_mode() {
    for mode in DistMode::ALL {
        let mut sched = make_scheduler(mode, 10, SchedConfig { max_sched_chunk: None });
        sched.add_worker(0);
        let mut ran = 0;
        for _ in 0..10 {
            for a in sched.schedule() {
                for index in a.tests {
                    sched.mark_complete(a.worker, index, Duration::ZERO);
                    ran += 1;
                }
            }
        }
        assert_eq!(ran, 10, "{}", mode.name());
        assert!(sched.is_finished(), "{}", mode.name());
    }
}

#[test]
fn a_crash_at_every_position_loses_nothing() {
    // 24 tests over two binaries, four modules, three files and two groups.
    let tests: Vec<TestMeta> = (0..24u64)
        .map(|i| TestMeta {
            binary_id: format!("bin{}", i % 2),
            name: format!("m{}::t{i:02}", i % 4),
            source_file: Some(format!("src/f{}.rs", i % 3)),
            group: (i % 5 == 0).then(|| format!("g{}", i % 2)),
            duration: Some(Duration::from_millis(10 * (i % 7))),
            first: i % 6 == 0,
        })
        .collect();
    let mut refused_unfinished = 0;
    for mode in DistMode::ALL {
        for workers in [1, 3] {
            let copies = if mode == DistMode::Each { workers as usize } else { 1 };
            let list: Vec<TestMeta> = (0..copies).flat_map(|_| tests.iter().cloned()).collect();
            let options = SchedOptions { copies, ..SchedOptions::default() };
            let rounds = 50 * (list.len() + 10);
            for crash_at in 0..list.len() {
                let steps: Vec<Step> = (0..rounds)
                    .map(|r| Step {
                        pick: r * 7 + 3,
                        dies: r == crash_at,
                        slow: r % 3 == 0,
                        answer_after: r % 2,
                        hand: r % 4,
                    })
                    .collect();
                for shutdown_idle in [false, true] {
                    let (ended, refused) =
                        simulate(mode, &list, workers, &options, shutdown_idle, &steps);
                    refused_unfinished += refused;
                    assert!(
                        ended.iter().all(|&n| n == 1),
                        "{} on {workers} workers, crash at {crash_at}: {ended:?}",
                        mode.name()
                    );
                }
            }
        }
    }
    // The case a victim that only checks for finished tests never produces.
    assert!(refused_unfinished > 0, "no steal met a test handed to a process");
}
