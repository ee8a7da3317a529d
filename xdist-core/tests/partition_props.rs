//! Properties of `--partition`, for every kind: the N shards of one selection are disjoint
//! and together are the whole selection, also when the durations were recorded for another
//! list (tests added and removed since); `duration` shards are the same whenever they are
//! computed, keep units whole, and meet LPT's bound.

use std::collections::BTreeMap;

use proptest::prelude::*;
use xdist_core::partition::lpt::{self, Job};
use xdist_core::partition::{Partition, PartitionMode, TestCost};
use xdist_core::protocol::Harness;
use xdist_core::testlist::{TestBinary, TestList};

const MODES: [PartitionMode; 4] =
    [PartitionMode::Count, PartitionMode::Hash, PartitionMode::Slice, PartitionMode::Duration];

fn binary(id: &str) -> TestBinary {
    TestBinary {
        id: id.into(),
        path: String::new(),
        cwd: String::new(),
        env: vec![],
        runner: Vec::new(),
        args: Vec::new(),
        kind: "lib".into(),
        src_path: String::new(),
        harness: Harness::Libtest,
    }
}

/// A test universe: (binary, module, test, ignored) picked from small alphabets so that
/// names, modules and durations collide often.
fn universe() -> impl Strategy<Value = Vec<(u8, u8, u8, bool)>> {
    prop::collection::vec((0u8..3, 0u8..3, 0u8..12, prop::bool::weighted(0.2)), 0..40)
}

#[derive(Debug)]
struct Case {
    list: TestList,
    /// The filtered selection: indices into `list.tests`.
    candidates: Vec<usize>,
    /// Recorded durations by test id: of another list (some of these tests are gone, some
    /// of the list's are new).
    history: BTreeMap<String, u64>,
}

fn case() -> impl Strategy<Value = Case> {
    (
        universe(),
        prop::collection::vec(any::<bool>(), 40),
        prop::collection::vec(prop::option::weighted(0.7, 1u64..5_000), 40),
        prop::collection::vec(any::<bool>(), 40),
    )
        .prop_map(|(tests, in_list, recorded, filtered)| {
            let mut by_binary: BTreeMap<u8, Vec<(String, bool)>> = BTreeMap::new();
            let mut history = BTreeMap::new();
            for (i, &(b, m, t, ignored)) in tests.iter().enumerate() {
                let name = format!("m{m}::t{t}");
                if let Some(ms) = recorded[i] {
                    // Recorded whether or not the test is still in the list.
                    history.insert(format!("b{b} {name}"), ms * 1_000_000);
                }
                if in_list[i] {
                    by_binary.entry(b).or_default().push((name, ignored));
                }
            }
            let list = TestList::new(
                by_binary.into_iter().map(|(b, tests)| (binary(&format!("b{b}")), tests)).collect(),
            );
            let candidates = (0..list.tests.len()).filter(|&i| !filtered[i % 40]).collect();
            Case { list, candidates, history }
        })
}

fn shard(case: &Case, mode: PartitionMode, m: u64, n: u64, units: bool) -> Vec<usize> {
    let p = Partition { mode, shard: m, total: n };
    p.select_by_cost(&case.list, &case.candidates, |i| cost(case, i, units))
}

fn cost(case: &Case, i: usize, units: bool) -> TestCost {
    let id = case.list.test_id(i);
    TestCost {
        // loadscope's key: the binary id and the module path.
        unit: units.then(|| id.rsplit_once("::").map_or(id.clone(), |(scope, _)| scope.into())),
        nanos: case.history.get(&id).copied(),
    }
}

proptest! {
    #[test]
    fn shards_are_disjoint_and_cover_the_selection(
        case in case(),
        n in 1u64..7,
        units in any::<bool>(),
    ) {
        for mode in MODES {
            let mut seen: Vec<usize> = Vec::new();
            for m in 1..=n {
                let chosen = shard(&case, mode, m, n, units);
                // In list order, and from the candidates only.
                prop_assert!(chosen.windows(2).all(|w| w[0] < w[1]), "{mode:?} {chosen:?}");
                seen.extend(chosen);
            }
            seen.sort_unstable();
            prop_assert_eq!(&seen, &case.candidates, "{:?} over {} shards", mode, n);
        }
    }

    #[test]
    fn duration_shards_are_deterministic_and_keep_units_whole(
        case in case(),
        n in 1u64..7,
    ) {
        let mut shard_of_scope: BTreeMap<String, u64> = BTreeMap::new();
        for m in 1..=n {
            let chosen = shard(&case, PartitionMode::Duration, m, n, true);
            prop_assert_eq!(&chosen, &shard(&case, PartitionMode::Duration, m, n, true));
            for i in chosen {
                let test = &case.list.tests[i];
                // A unit is dealt within its pass: ignored tests of a scope are another job.
                let scope = format!("{} {}", cost(&case, i, true).unit.unwrap(), test.ignored);
                let first = *shard_of_scope.entry(scope.clone()).or_insert(m);
                prop_assert_eq!(first, m, "{} split across shards", scope);
            }
        }
    }

    #[test]
    fn lpt_is_within_its_classical_bound_of_the_optimum(
        costs in prop::collection::vec(1u64..1_000, 0..9),
        n in 1u64..4,
    ) {
        let jobs: Vec<Job> =
            costs.iter().enumerate().map(|(i, &cost)| Job { key: format!("{i}"), cost }).collect();
        let makespan = makespan(&costs, &lpt::assign(&jobs, n), n);
        let optimum = optimum(&costs, n);
        // makespan <= (4/3 - 1/(3N)) * optimum, in integers.
        prop_assert!(
            3 * n * makespan <= (4 * n - 1) * optimum,
            "LPT {makespan} vs optimum {optimum} on {n} shards of {costs:?}"
        );
    }

    #[test]
    fn lpt_is_near_the_lower_bound_max_longest_or_share(
        costs in prop::collection::vec(1u64..10_000, 0..200),
        n in 1u64..9,
    ) {
        let jobs: Vec<Job> =
            costs.iter().enumerate().map(|(i, &cost)| Job { key: format!("{i}"), cost }).collect();
        let makespan = makespan(&costs, &lpt::assign(&jobs, n), n);
        let total: u64 = costs.iter().sum();
        let longest = costs.iter().copied().max().unwrap_or(0);
        // OPT >= max(longest, total/N) =: LB. The 4/3 - 1/(3N) bound holds against LB
        // when no job exceeds LB/3 (Graham's argument needs no optimum then); in general
        // LPT, being a list schedule, is within total/N + (1 - 1/N) * longest <= (2 - 1/N) LB.
        let lower = longest.max(total.div_ceil(n));
        if 3 * longest <= lower {
            prop_assert!(3 * n * makespan <= (4 * n - 1) * lower, "{makespan} vs {lower}");
        }
        prop_assert!(n * makespan <= total + (n - 1) * longest, "{makespan} vs {lower}");
    }
}

fn makespan(costs: &[u64], shard_of: &[u64], n: u64) -> u64 {
    let mut loads = vec![0u64; n as usize];
    for (cost, &shard) in costs.iter().zip(shard_of) {
        loads[shard as usize] += cost;
    }
    loads.into_iter().max().unwrap_or(0)
}

/// The best makespan, by trying every assignment (few jobs, few shards).
fn optimum(costs: &[u64], n: u64) -> u64 {
    let mut best = u64::MAX;
    let mut loads = vec![0u64; n as usize];
    fn go(costs: &[u64], loads: &mut [u64], best: &mut u64) {
        let Some((&first, rest)) = costs.split_first() else {
            *best = (*best).min(loads.iter().copied().max().unwrap_or(0));
            return;
        };
        for s in 0..loads.len() {
            loads[s] += first;
            if loads[s] < *best {
                go(rest, loads, best);
            }
            loads[s] -= first;
        }
    }
    go(costs, &mut loads, &mut best);
    if best == u64::MAX { 0 } else { best }
}
