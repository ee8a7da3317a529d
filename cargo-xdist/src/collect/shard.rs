//! `--partition`, applied to the filtered list: nextest's kinds as they are, and
//! `duration:M/N` with what it is planned by: the recorded durations (the run's history)
//! and, under `--dist loadscope|loadfile|loadgroup`, the units that a shard keeps whole.
//! Without any recorded duration for the selected tests it says so once and deals `slice`.

use camino::Utf8Path;
use xdist_core::partition::{Partition, PartitionMode, TestCost};
use xdist_core::testlist::TestList;
use xdist_sched::DistMode;

use crate::cli::durations::HistoryOptions;
use crate::config::groups::Groups;
use crate::errors::XdistError;
use crate::plan::history::History;
use crate::plan::metas::test_metas;

/// A `--partition` and what a `duration` one needs.
pub struct Sharding<'a> {
    /// The shard.
    pub partition: Partition,
    /// The run's `--dist` mode (its units stay whole).
    pub dist: DistMode,
    /// The groups (for `loadgroup`'s units).
    pub groups: &'a Groups,
    /// Where the history is.
    pub history: &'a HistoryOptions,
}

impl Sharding<'_> {
    /// This shard's part of `selected` and of `ignored` (indices into `full.tests`).
    pub fn split(
        &self,
        full: &TestList,
        selected: &[usize],
        ignored: &[usize],
        target_dir: &Utf8Path,
    ) -> Result<(Vec<usize>, Vec<usize>), XdistError> {
        let partition = self.partition;
        if partition.mode != PartitionMode::Duration {
            return Ok((partition.select(full, selected), partition.select(full, ignored)));
        }
        let history = History::for_run(self.history, target_dir)?;
        let known = |h: &History| {
            selected.iter().chain(ignored).any(|&i| h.get(&full.test_id(i)).is_some())
        };
        let Some(history) = history.filter(known) else {
            let slice = partition.as_slice();
            eprintln!(
                "note: --partition {partition}: no recorded durations for the selected tests; \
                 dealing them as {slice}"
            );
            return Ok((slice.select(full, selected), slice.select(full, ignored)));
        };
        let metas = test_metas(full, self.groups, Some(&history), self.dist == DistMode::LoadFile);
        let cost = |i: usize| TestCost {
            unit: self.dist.unit_key(&metas[i]),
            nanos: metas[i].duration.map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)),
        };
        Ok((
            partition.select_by_cost(full, selected, cost),
            partition.select_by_cost(full, ignored, cost),
        ))
    }
}
