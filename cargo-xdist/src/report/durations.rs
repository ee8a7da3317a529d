//! The duration history as a subscriber: how long each test that ran to a verdict took,
//! recorded for the next run's order, and which binaries take one test name per process.

use xdist_core::events::{RunEvent, RunSubscriber};
use xdist_core::summary::TestStatus;
use xdist_core::testlist::TestList;

use crate::plan::history::History;

/// Records finished tests' durations into a [`History`].
pub struct DurationRecorder<'a> {
    list: &'a TestList,
    history: History,
}

impl<'a> DurationRecorder<'a> {
    /// Records the tests of `list` into `history`.
    pub fn new(list: &'a TestList, history: History) -> Self {
        Self { list, history }
    }

    /// The history with this run's durations.
    pub fn into_history(self) -> History {
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
            RunEvent::OneNamePerProcess { binary, .. } => {
                if let Some(binary) = self.list.binaries.get(*binary as usize) {
                    self.history.remember_one_name(&binary.id, &binary.path);
                }
            }
            _ => {}
        }
    }
}
