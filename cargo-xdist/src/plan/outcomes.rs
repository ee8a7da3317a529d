//! The last outcome of every test, for `--lf` and `--ff`: each run records how each test it
//! ran ended in `<target-dir>/xdist/outcomes.json`, beside the duration history and as
//! robust: keyed by `<binary-id> <test name>`, written to a temporary file and renamed, a
//! missing, unreadable or corrupt file is an empty record. Tests a run does not select keep
//! what an earlier run recorded; past [`MAX_TESTS`] the tests seen longest ago are dropped.

use std::collections::BTreeMap;

use camino::{Utf8Path, Utf8PathBuf};
use serde::{Deserialize, Serialize};
use xdist_core::summary::TestStatus;

use crate::plan::sorted_read::btree_map;

const VERSION: u32 = 1;

/// The most tests the record keeps.
pub const MAX_TESTS: usize = 200_000;

/// How a test ended the last time it was selected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LastOutcome {
    /// It passed (a flaky test too, unless `--flaky-result fail`).
    Passed,
    /// It failed or crashed.
    Failed,
    /// It ran past its timeout.
    TimedOut,
    /// The run stopped before it ran (`-x`, `--maxfail`, a crash limit, a signal).
    NotRun,
    /// libtest reported it ignored.
    Skipped,
}

impl LastOutcome {
    /// The outcome of a test result's status.
    pub fn of(status: TestStatus) -> Self {
        match status {
            TestStatus::Passed => LastOutcome::Passed,
            TestStatus::Failed => LastOutcome::Failed,
            TestStatus::TimedOut => LastOutcome::TimedOut,
            TestStatus::NotRun => LastOutcome::NotRun,
            TestStatus::Skipped => LastOutcome::Skipped,
        }
    }

    /// Whether `--lf` leaves the test out: it passed, or was skipped.
    pub fn is_done(self) -> bool {
        matches!(self, LastOutcome::Passed | LastOutcome::Skipped)
    }
}

#[derive(Default, Deserialize, Serialize)]
struct OutcomeFile {
    version: u32,
    /// How many runs wrote the file.
    runs: u64,
    #[serde(deserialize_with = "btree_map")]
    tests: BTreeMap<String, Entry>,
}

#[derive(Clone, Copy, Deserialize, Serialize)]
struct Entry {
    outcome: LastOutcome,
    /// The `runs` count of the run that recorded it.
    run: u64,
}

/// The recorded outcomes of a target dir's tests.
pub struct Outcomes {
    path: Utf8PathBuf,
    file: OutcomeFile,
    /// [`MAX_TESTS`], smaller in tests.
    max_tests: usize,
}

impl Outcomes {
    /// The file under `target_dir`.
    pub fn path(target_dir: &Utf8Path) -> Utf8PathBuf {
        target_dir.join("xdist").join("outcomes.json")
    }

    /// Reads the record of `target_dir`; anything wrong with the file means no record.
    pub fn load(target_dir: &Utf8Path) -> Self {
        let path = Self::path(target_dir);
        let file = std::fs::read(&path)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<OutcomeFile>(&bytes).ok())
            .filter(|f| f.version == VERSION)
            .unwrap_or_default();
        Self { path, file, max_tests: MAX_TESTS }
    }

    /// True when no run has recorded anything.
    pub fn is_empty(&self) -> bool {
        self.file.tests.is_empty()
    }

    /// The last outcome of a test, if it was ever recorded.
    pub fn get(&self, test_id: &str) -> Option<LastOutcome> {
        self.file.tests.get(test_id).map(|e| e.outcome)
    }

    /// Records how a test ended in this run. Under `--dist each` a test ends once per
    /// worker: any run that did not pass decides.
    pub fn record(&mut self, test_id: String, outcome: LastOutcome) {
        let run = self.file.runs + 1;
        let entry = self.file.tests.entry(test_id).or_insert(Entry { outcome, run });
        if entry.run != run || entry.outcome.is_done() {
            *entry = Entry { outcome, run };
        }
    }

    /// Writes the record (to a temporary file first, so a crash never leaves half a file).
    pub fn save(&mut self) -> std::io::Result<()> {
        self.file.version = VERSION;
        self.file.runs += 1;
        if self.file.tests.len() > self.max_tests {
            let mut by_age: Vec<(u64, String)> =
                self.file.tests.iter().map(|(id, e)| (e.run, id.clone())).collect();
            by_age.sort_unstable_by(|a, b| b.cmp(a));
            for (_, id) in by_age.drain(self.max_tests..) {
                self.file.tests.remove(&id);
            }
        }
        crate::plan::history::write_json_atomically(&self.path, &self.file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> Utf8PathBuf {
        let dir =
            std::env::temp_dir().join(format!("xdist-outcomes-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        Utf8PathBuf::from_path_buf(dir).unwrap()
    }

    #[test]
    fn outcomes_survive_a_round_trip_and_unselected_tests_keep_theirs() {
        let dir = temp_dir("round-trip");
        let mut outcomes = Outcomes::load(&dir);
        assert!(outcomes.is_empty());
        outcomes.record("a pass".into(), LastOutcome::Passed);
        outcomes.record("a fail".into(), LastOutcome::Failed);
        outcomes.save().unwrap();
        let mut again = Outcomes::load(&dir);
        assert_eq!(again.get("a fail"), Some(LastOutcome::Failed));
        again.record("a fail".into(), LastOutcome::Passed);
        again.save().unwrap();
        let third = Outcomes::load(&dir);
        assert_eq!(third.get("a fail"), Some(LastOutcome::Passed), "the last outcome counts");
        assert_eq!(third.get("a pass"), Some(LastOutcome::Passed), "not run since: kept");
        assert_eq!(third.get("a new"), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn under_each_any_run_that_did_not_pass_decides() {
        let mut outcomes = Outcomes::load(&temp_dir("each"));
        outcomes.record("a t".into(), LastOutcome::Passed);
        outcomes.record("a t".into(), LastOutcome::TimedOut);
        outcomes.record("a t".into(), LastOutcome::Passed);
        assert_eq!(outcomes.get("a t"), Some(LastOutcome::TimedOut));
    }

    #[test]
    fn a_corrupt_or_foreign_file_is_an_empty_record() {
        let dir = temp_dir("corrupt");
        std::fs::create_dir_all(dir.join("xdist")).unwrap();
        let foreign = br#"{"version":99,"runs":1,"tests":{"a t":{"outcome":"failed","run":1}}}"#;
        let unknown = br#"{"version":1,"runs":1,"tests":{"a t":{"outcome":"exploded","run":1}}}"#;
        for junk in [&b"{not json"[..], b"", foreign, unknown, b"\xff\xfe"] {
            std::fs::write(Outcomes::path(&dir), junk).unwrap();
            let mut outcomes = Outcomes::load(&dir);
            assert!(outcomes.is_empty(), "{}", String::from_utf8_lossy(junk));
            outcomes.record("b t".into(), LastOutcome::NotRun);
            outcomes.save().unwrap();
            assert_eq!(Outcomes::load(&dir).get("b t"), Some(LastOutcome::NotRun));
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_record_is_bounded_by_dropping_the_tests_seen_longest_ago() {
        let dir = temp_dir("bounded");
        let mut outcomes = Outcomes { max_tests: 10, ..Outcomes::load(&dir) };
        for i in 0..10 {
            outcomes.record(format!("old {i}"), LastOutcome::Passed);
        }
        outcomes.save().unwrap();
        let mut outcomes = Outcomes { max_tests: 10, ..Outcomes::load(&dir) };
        outcomes.record("new t".into(), LastOutcome::Failed);
        outcomes.record("old 7".into(), LastOutcome::Failed);
        outcomes.save().unwrap();
        let outcomes = Outcomes::load(&dir);
        assert_eq!(outcomes.file.tests.len(), 10, "one old test dropped");
        assert_eq!(outcomes.get("new t"), Some(LastOutcome::Failed));
        assert_eq!(outcomes.get("old 7"), Some(LastOutcome::Failed));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
