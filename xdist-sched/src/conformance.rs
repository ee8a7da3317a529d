//! Property tests every scheduler must pass: driven by simulated workers that complete
//! tests in random order and sometimes die, each test ends exactly once and the run ends.

use std::collections::BTreeMap;
use std::time::Duration;

use proptest::prelude::*;

use crate::{DistMode, SchedConfig, TestIndex, WorkerId, make_scheduler};

/// One simulated step: which live worker acts, and whether it dies instead of finishing.
#[derive(Clone, Debug)]
struct Step {
    pick: usize,
    dies: bool,
    slow: bool,
}

fn step() -> impl Strategy<Value = Step> {
    (any::<usize>(), prop::bool::weighted(0.05), any::<bool>())
        .prop_map(|(pick, dies, slow)| Step { pick, dies, slow })
}

/// Runs `mode` over `tests` tests and `workers` workers. Every death is followed by a
/// replacement, as the session does; the test the worker was running counts as the crashed
/// one. Returns how many times each test ended.
fn simulate(
    mode: DistMode,
    tests: usize,
    workers: u32,
    chunk: Option<usize>,
    steps: &[Step],
) -> Vec<u32> {
    let mut sched = make_scheduler(mode, tests, SchedConfig { max_sched_chunk: chunk });
    let mut ended = vec![0u32; tests];
    let mut live: Vec<WorkerId> = (0..workers).collect();
    let mut next_id = workers;
    let mut sent: BTreeMap<WorkerId, Vec<TestIndex>> = BTreeMap::new();
    for &w in &live {
        sched.add_worker(w);
    }
    let mut script = steps.iter().cycle();
    let mut rounds = 0usize;
    loop {
        for a in sched.schedule() {
            assert!(!a.tests.is_empty(), "an assignment is never empty");
            assert!(live.contains(&a.worker), "work only goes to live workers");
            sent.entry(a.worker).or_default().extend(&a.tests);
        }
        if sched.is_finished() {
            break;
        }
        rounds += 1;
        assert!(rounds < 50 * (tests + 10), "the run must end");
        // Only workers that hold work can act.
        let busy: Vec<WorkerId> =
            live.iter().copied().filter(|&w| !sched.pending(w).is_empty()).collect();
        assert!(!busy.is_empty(), "work is queued but no worker holds any: a hang");
        let s = script.next().expect("cycle never ends");
        let w = busy[s.pick % busy.len()];
        // Workers finish their tests in any order (libtest sorts a batch by name).
        let held = sched.pending(w);
        let first = held[(s.pick / busy.len()) % held.len()];
        let mine = sent.get_mut(&w).expect("sent");
        let pos = mine.iter().position(|&i| i == first).expect("pending tests were sent");
        mine.remove(pos);
        ended[first as usize] += 1;
        let took = Duration::from_millis(if s.slow { 300 } else { 1 });
        sched.mark_complete(w, first, took);
        if s.dies {
            let moved = sched.remove_worker(w);
            assert_eq!(moved, sent.remove(&w).unwrap_or_default(), "requeued = unfinished");
            live.retain(|&x| x != w);
            live.push(next_id);
            sched.add_worker(next_id);
            next_id += 1;
        }
    }
    ended
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn every_test_ends_exactly_once(
        mode in prop::sample::select(vec![DistMode::No, DistMode::Load]),
        tests in 0usize..300,
        workers in 1u32..9,
        chunk in prop::option::of(1usize..20),
        steps in prop::collection::vec(step(), 1..200),
    ) {
        let workers = if mode == DistMode::No { 1 } else { workers };
        let ended = simulate(mode, tests, workers, chunk, &steps);
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
