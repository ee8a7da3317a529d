//! The record of outcomes as a subscriber: how each test of this run ended, kept for the
//! next run's `--lf` and `--ff`.

use xdist_core::events::{RunEvent, RunSubscriber};
use xdist_core::testlist::TestList;

use crate::plan::outcomes::{LastOutcome, Outcomes};

/// Records finished tests' outcomes into an [`Outcomes`].
pub struct OutcomeRecorder<'a> {
    list: &'a TestList,
    outcomes: Outcomes,
}

impl<'a> OutcomeRecorder<'a> {
    /// Records the tests of `list` into `outcomes`.
    pub fn new(list: &'a TestList, outcomes: Outcomes) -> Self {
        Self { list, outcomes }
    }

    /// The record with this run's outcomes.
    pub fn into_outcomes(self) -> Outcomes {
        self.outcomes
    }
}

impl RunSubscriber for OutcomeRecorder<'_> {
    fn on_event(&mut self, event: &RunEvent) {
        if let RunEvent::TestFinished(result) = event {
            let id = self.list.test_id(result.index as usize);
            self.outcomes.record(id, LastOutcome::of(result.status));
        }
    }
}
