//! The duration history as a subscriber: how long each test that ran to a verdict took,
//! recorded for the next run's order, which binaries take one test name per process, and
//! how much of a CPU each binary's processes used (for `-n auto`'s start).

use std::collections::BTreeMap;
use std::time::Duration;

use xdist_core::events::{RunEvent, RunSubscriber};
use xdist_core::summary::TestStatus;
use xdist_core::testlist::TestList;

use crate::plan::history::History;

/// Records finished tests' durations into a [`History`].
pub struct DurationRecorder<'a> {
    list: &'a TestList,
    history: History,
    /// CPU time and run time of each binary's processes so far, by binary index.
    usage: BTreeMap<u32, (Duration, Duration)>,
}

impl<'a> DurationRecorder<'a> {
    /// Records the tests of `list` into `history`.
    pub fn new(list: &'a TestList, history: History) -> Self {
        Self { list, history, usage: BTreeMap::new() }
    }

    /// The history with this run's durations and CPU shares.
    pub fn into_history(mut self) -> History {
        for (binary, (cpu, wall)) in std::mem::take(&mut self.usage) {
            if let Some(binary) = self.list.binaries.get(binary as usize) {
                self.history.record_cpu_share(&binary.id, cpu, wall);
            }
        }
        self.history
    }
}

impl RunSubscriber for DurationRecorder<'_> {
    fn on_event(&mut self, event: &RunEvent) {
        match event {
            RunEvent::TestFinished(result) => {
                let ran = matches!(result.status, TestStatus::Passed | TestStatus::Failed);
                if ran && !result.duration.is_zero() {
                    let id = self.list.test_id(result.index as usize);
                    self.history.record(id, result.duration);
                }
            }
            RunEvent::ProcessExited { binary, cpu, wall, .. } => {
                let used = self.usage.entry(*binary).or_default();
                used.0 += *cpu;
                used.1 += *wall;
            }
            RunEvent::OneNamePerProcess { binary, .. } => {
                if let Some(binary) = self.list.binaries.get(*binary as usize) {
                    self.history.remember_one_name(&binary.id, &binary.path);
                }
            }
            _ => {}
        }
    }
}
