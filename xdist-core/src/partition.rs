//! `--partition count:M/N | hash:M/N | slice:M/N | duration:M/N`: which of the selected
//! tests this shard runs. The first three exactly as cargo-nextest 0.9 decides it (see the
//! reference notes' §4): after all other filtering, in list order (binary ids by component,
//! names byte-wise), in two separate passes for not-ignored and ignored tests. `hash` takes
//! XXH64 (seed 0) of the test name alone, modulo N; `count` deals round-robin within each
//! binary; `slice` deals round-robin across all binaries.
//!
//! `duration` is cargo-xdist's own (nextest has none): the same two passes, each planned
//! by recorded durations, longest first, with whole units where the `--dist` mode has them
//! ([`lpt`] has the planner; the caller supplies the durations and units).

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use crate::testlist::TestList;

pub mod lpt;

/// How tests are dealt to shards.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PartitionMode {
    /// Round-robin within each binary.
    Count,
    /// By the hash of the test name: a test's shard depends on nothing else.
    Hash,
    /// Round-robin across all binaries (even shard sizes).
    Slice,
    /// Longest processing time first by recorded durations (cargo-xdist's own).
    Duration,
}

/// What a `duration` shard is planned by, for one test.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TestCost {
    /// The unit the test runs in, whole (`loadscope`, `loadfile`, `loadgroup`), if any.
    pub unit: Option<String>,
    /// Its recorded duration in nanoseconds, if any.
    pub nanos: Option<u64>,
}

/// Shard `shard` (1-based) of `total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Partition {
    /// How tests are dealt.
    pub mode: PartitionMode,
    /// This shard, 1 ≤ shard ≤ total.
    pub shard: u64,
    /// How many shards there are.
    pub total: u64,
}

/// A `--partition` value that does not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PartitionError {
    /// Neither `count:`, `hash:`, `slice:` nor `duration:`.
    #[error(
        "partition must begin with \"hash:\", \"count:\", \"slice:\", or \"duration:\", got `{0}`"
    )]
    Mode(String),
    /// Not `M/N` with two numbers.
    #[error("partition must be `MODE:M/N` with numbers M and N, got `{0}`")]
    Shape(String),
    /// M outside 1..=N.
    #[error("shard M must be a number between 1 and total shards N, inclusive, got `{0}`")]
    Range(String),
}

impl FromStr for Partition {
    type Err = PartitionError;

    fn from_str(spec: &str) -> Result<Self, Self::Err> {
        let (mode, numbers) =
            spec.split_once(':').ok_or_else(|| PartitionError::Mode(spec.into()))?;
        let mode = match mode {
            "count" => PartitionMode::Count,
            "hash" => PartitionMode::Hash,
            "slice" => PartitionMode::Slice,
            "duration" => PartitionMode::Duration,
            _ => return Err(PartitionError::Mode(spec.into())),
        };
        let shape = || PartitionError::Shape(spec.into());
        let (shard, total) = numbers.split_once('/').ok_or_else(shape)?;
        let shard: u64 = shard.parse().map_err(|_| shape())?;
        let total: u64 = total.parse().map_err(|_| shape())?;
        if shard == 0 || shard > total {
            return Err(PartitionError::Range(spec.into()));
        }
        Ok(Self { mode, shard, total })
    }
}

impl fmt::Display for Partition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mode = match self.mode {
            PartitionMode::Count => "count",
            PartitionMode::Hash => "hash",
            PartitionMode::Slice => "slice",
            PartitionMode::Duration => "duration",
        };
        write!(f, "{mode}:{}/{}", self.shard, self.total)
    }
}

impl Partition {
    /// The same shard dealt as `slice` (what `duration` falls back to without history).
    pub fn as_slice(self) -> Self {
        Self { mode: PartitionMode::Slice, ..self }
    }

    /// The tests of `candidates` (indices into `list`, in list order, already filtered)
    /// that fall into this shard, in the same order. `duration` needs the costs of
    /// [`Partition::select_by_cost`]; here it deals as `slice`.
    pub fn select(&self, list: &TestList, candidates: &[usize]) -> Vec<usize> {
        if self.mode == PartitionMode::Duration {
            return self.as_slice().select(list, candidates);
        }
        let mut keep = vec![false; candidates.len()];
        for ignored_pass in [false, true] {
            let mut counter = 0u64;
            let mut binary = None;
            for (slot, &index) in candidates.iter().enumerate() {
                let test = &list.tests[index];
                if test.ignored != ignored_pass {
                    continue;
                }
                if self.mode == PartitionMode::Count && binary != Some(test.binary) {
                    counter = 0;
                }
                binary = Some(test.binary);
                let k = self.shard - 1;
                keep[slot] = match self.mode {
                    PartitionMode::Hash => {
                        xxhash_rust::xxh64::xxh64(test.name.as_bytes(), 0) % self.total == k
                    }
                    PartitionMode::Count | PartitionMode::Slice | PartitionMode::Duration => {
                        let hit = counter == k;
                        counter = (counter + 1) % self.total;
                        hit
                    }
                };
            }
        }
        candidates.iter().zip(keep).filter(|(_, keep)| *keep).map(|(&i, _)| i).collect()
    }

    /// [`Partition::select`], with `cost(index)` telling `duration` what each candidate
    /// costs and which unit it belongs to. Each pass (not ignored, ignored) is one plan:
    /// tests of a unit are one job costing their sum, other tests one job each, keyed by
    /// unit key or test id; unknown durations are estimated by [`lpt::estimate`] within
    /// the pass. Other modes ignore `cost`.
    pub fn select_by_cost(
        &self,
        list: &TestList,
        candidates: &[usize],
        cost: impl Fn(usize) -> TestCost,
    ) -> Vec<usize> {
        if self.mode != PartitionMode::Duration {
            return self.select(list, candidates);
        }
        let mut keep = vec![false; candidates.len()];
        for ignored_pass in [false, true] {
            let pass: Vec<usize> = (0..candidates.len())
                .filter(|&slot| list.tests[candidates[slot]].ignored == ignored_pass)
                .collect();
            let costs: Vec<TestCost> = pass.iter().map(|&slot| cost(candidates[slot])).collect();
            let nanos = lpt::estimate(&costs.iter().map(|c| c.nanos).collect::<Vec<_>>());
            let mut jobs: Vec<lpt::Job> = Vec::new();
            let mut job_of_key: HashMap<String, usize> = HashMap::new();
            let mut job_of_test = Vec::with_capacity(pass.len());
            for ((&slot, test_cost), nanos) in pass.iter().zip(costs).zip(nanos) {
                // Unit keys and test ids live apart, whatever they look like.
                let key = match test_cost.unit {
                    Some(unit) => format!("unit {unit}"),
                    None => format!("test {}", list.test_id(candidates[slot])),
                };
                let job = *job_of_key.entry(key.clone()).or_insert_with(|| {
                    jobs.push(lpt::Job { key, cost: 0 });
                    jobs.len() - 1
                });
                jobs[job].cost = jobs[job].cost.saturating_add(nanos);
                job_of_test.push(job);
            }
            let shard_of = lpt::assign(&jobs, self.total);
            for (&slot, job) in pass.iter().zip(job_of_test) {
                keep[slot] = shard_of[job] == self.shard - 1;
            }
        }
        candidates.iter().zip(keep).filter(|(_, keep)| *keep).map(|(&i, _)| i).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testlist::TestBinary;

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
            harness: crate::protocol::Harness::Libtest,
        }
    }

    #[test]
    fn specs_parse_as_nextest_spells_them() {
        let p: Partition = "hash:2/3".parse().unwrap();
        assert_eq!(p, Partition { mode: PartitionMode::Hash, shard: 2, total: 3 });
        assert_eq!(p.to_string(), "hash:2/3");
        for bad in ["hash:0/2", "hash:3/2"] {
            assert!(matches!(bad.parse::<Partition>(), Err(PartitionError::Range(_))), "{bad}");
        }
        for bad in ["hash:1", "hash:1/", "hash:1/2/3", "hash:m/2"] {
            assert!(matches!(bad.parse::<Partition>(), Err(PartitionError::Shape(_))), "{bad}");
        }
        assert!(matches!("mod:1/2".parse::<Partition>(), Err(PartitionError::Mode(_))));
        let p: Partition = "duration:1/4".parse().unwrap();
        assert_eq!(p, Partition { mode: PartitionMode::Duration, shard: 1, total: 4 });
        assert_eq!(p.to_string(), "duration:1/4");
        let message = "mod:1/2".parse::<Partition>().unwrap_err().to_string();
        assert_eq!(
            message,
            "partition must begin with \"hash:\", \"count:\", \"slice:\", or \"duration:\", \
             got `mod:1/2`"
        );
    }

    fn names_of(list: &TestList, chosen: Vec<usize>) -> Vec<&str> {
        chosen.into_iter().map(|i| list.tests[i].name.as_str()).collect()
    }

    #[test]
    fn duration_shards_balance_recorded_time_longest_first() {
        // Slow tests that sort together: slice:1/2 would take long_a and long_c.
        let names = ["long_a", "long_b", "long_c", "short_a", "short_b", "short_c", "new"];
        let list = TestList::new(vec![(
            binary("a"),
            names.iter().map(|n| (n.to_string(), false)).collect(),
        )]);
        let ms = |name: &str| match name {
            "long_a" => Some(900),
            "long_b" => Some(800),
            "long_c" => Some(700),
            "new" => None,
            _ => Some(100),
        };
        let all: Vec<usize> = (0..list.tests.len()).collect();
        let shard = |m: u64| {
            let p = Partition { mode: PartitionMode::Duration, shard: m, total: 2 };
            let chosen = p.select_by_cost(&list, &all, |i| TestCost {
                unit: None,
                nanos: ms(&list.tests[i].name).map(|ms| ms * 1_000_000),
            });
            names_of(&list, chosen)
        };
        // `new` costs the median, (100 + 700) / 2 = 400. 900 | 800, then 700 on the lighter
        // (1500), 400 and the 100s on the other (1300, 1400, 1500), the last 100 on shard 1
        // (equal loads: the lower index): 1600 | 1500.
        assert_eq!(shard(1), ["long_a", "new", "short_a", "short_b", "short_c"]);
        assert_eq!(shard(2), ["long_b", "long_c"]);
    }

    #[test]
    fn duration_shards_keep_units_whole_and_ignored_tests_apart() {
        let list = TestList::new(vec![(
            binary("a"),
            vec![
                ("m1::x".into(), false),
                ("m1::y".into(), false),
                ("m2::x".into(), false),
                ("m2::y".into(), false),
                ("solo".into(), false),
                ("i1".into(), true),
                ("i2".into(), true),
            ],
        )]);
        let all: Vec<usize> = (0..list.tests.len()).collect();
        let cost = |i: usize| {
            let name = &list.tests[i].name;
            TestCost {
                unit: name.split_once("::").map(|(m, _)| m.to_string()),
                nanos: Some(if name.starts_with("m1") { 50 } else { 40 }),
            }
        };
        let shard = |m: u64| {
            let p = Partition { mode: PartitionMode::Duration, shard: m, total: 2 };
            names_of(&list, p.select_by_cost(&list, &all, cost))
        };
        // Units m1 (100) and m2 (80), then solo (40) on the lighter shard; the ignored pass
        // deals its two equal tests by id, one each.
        assert_eq!(shard(1), ["i1", "m1::x", "m1::y"]);
        assert_eq!(shard(2), ["i2", "m2::x", "m2::y", "solo"]);
    }

    #[test]
    fn hash_shards_match_the_reference_vectors() {
        // Names and shards of hash:M/3 from the reference notes (checked against nextest).
        let cases = [
            ("common_name", 2),
            ("shard::common_name", 1),
            ("tests::adds", 3),
            ("tests::adds_neg", 1),
            ("shard::case_00", 2),
            ("custom_a", 2),
            ("flaky::flaky_once", 2),
            ("t::Upper", 3),
            ("xi1", 1),
            ("runs_cli", 2),
        ];
        let list = TestList::new(vec![(
            binary("pkg"),
            cases.iter().map(|(n, _)| (n.to_string(), false)).collect(),
        )]);
        for (name, shard) in cases {
            let index = list.tests.iter().position(|t| t.name == name).unwrap();
            for m in 1..=3 {
                let p = Partition { mode: PartitionMode::Hash, shard: m, total: 3 };
                let chosen = p.select(&list, &[index]) == [index];
                assert_eq!(chosen, m == shard, "{name} in hash:{m}/3");
            }
        }
        assert_eq!(xxhash_rust::xxh64::xxh64(b"abc", 0), 0x44bc_2cf5_ad77_0999);
    }

    #[test]
    fn count_restarts_per_binary_and_slice_does_not() {
        let list = TestList::new(vec![
            (binary("a"), vec![("a1".into(), false), ("a2".into(), false), ("a3".into(), false)]),
            (binary("b"), vec![("b1".into(), false), ("b2".into(), false)]),
        ]);
        let all: Vec<usize> = (0..5).collect();
        let names = |p: &str| -> Vec<&str> {
            let p: Partition = p.parse().unwrap();
            p.select(&list, &all).into_iter().map(|i| list.tests[i].name.as_str()).collect()
        };
        assert_eq!(names("count:1/2"), ["a1", "a3", "b1"]);
        assert_eq!(names("slice:1/2"), ["a1", "a3", "b2"]);
        // Every test is in exactly one shard.
        for mode in ["count", "slice", "hash"] {
            let mut seen: Vec<usize> = (1..=3)
                .flat_map(|m| {
                    format!("{mode}:{m}/3").parse::<Partition>().unwrap().select(&list, &all)
                })
                .collect();
            seen.sort_unstable();
            assert_eq!(seen, all, "{mode}");
        }
    }

    #[test]
    fn ignored_tests_are_dealt_in_a_pass_of_their_own() {
        let list = TestList::new(vec![(
            binary("a"),
            vec![
                ("i1".into(), true),
                ("t1".into(), false),
                ("t2".into(), false),
                ("i2".into(), true),
            ],
        )]);
        let all: Vec<usize> = (0..4).collect();
        let p: Partition = "slice:1/2".parse().unwrap();
        let chosen: Vec<&str> =
            p.select(&list, &all).into_iter().map(|i| list.tests[i].name.as_str()).collect();
        assert_eq!(chosen, ["i1", "t1"]);
    }
}
