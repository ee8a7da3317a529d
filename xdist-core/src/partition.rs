//! `--partition count:M/N | hash:M/N | slice:M/N`: which of the selected tests this shard
//! runs, exactly as cargo-nextest 0.9 decides it (see the reference notes' §4): after all
//! other filtering, in list order (binary ids by component, names byte-wise), in two
//! separate passes for not-ignored and ignored tests. `hash` takes XXH64 (seed 0) of the
//! test name alone, modulo N; `count` deals round-robin within each binary; `slice` deals
//! round-robin across all binaries.

use std::fmt;
use std::str::FromStr;

use crate::testlist::TestList;

/// How tests are dealt to shards.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PartitionMode {
    /// Round-robin within each binary.
    Count,
    /// By the hash of the test name: a test's shard depends on nothing else.
    Hash,
    /// Round-robin across all binaries (even shard sizes).
    Slice,
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
    /// Neither `count:`, `hash:` nor `slice:`.
    #[error("partition must begin with \"hash:\", \"count:\", or \"slice:\", got `{0}`")]
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
        };
        write!(f, "{mode}:{}/{}", self.shard, self.total)
    }
}

impl Partition {
    /// The tests of `candidates` (indices into `list`, in list order, already filtered)
    /// that fall into this shard, in the same order.
    pub fn select(&self, list: &TestList, candidates: &[usize]) -> Vec<usize> {
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
                    PartitionMode::Count | PartitionMode::Slice => {
                        let hit = counter == k;
                        counter = (counter + 1) % self.total;
                        hit
                    }
                };
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
