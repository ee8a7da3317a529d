//! Duration history: every run records how long each test took, in
//! `<target-dir>/xdist/durations.json`, keyed by `<binary-id> <test name>`, so that the next
//! run can start the longest tests (or units) first. A missing, unreadable or corrupt file
//! is an empty history, and is replaced at the end of the run.

use std::collections::BTreeMap;
use std::time::Duration;

use camino::{Utf8Path, Utf8PathBuf};
use serde::{Deserialize, Serialize};

const VERSION: u32 = 1;

#[derive(Default, Deserialize, Serialize)]
struct HistoryFile {
    version: u32,
    /// Seconds, by test id.
    durations: BTreeMap<String, f64>,
}

/// The recorded durations of a workspace's tests.
pub struct History {
    path: Utf8PathBuf,
    file: HistoryFile,
}

impl History {
    /// The file under `target_dir`.
    pub fn path(target_dir: &Utf8Path) -> Utf8PathBuf {
        target_dir.join("xdist").join("durations.json")
    }

    /// Reads the history of `target_dir`; anything wrong with the file means no history.
    pub fn load(target_dir: &Utf8Path) -> Self {
        let path = Self::path(target_dir);
        let file = std::fs::read(&path)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<HistoryFile>(&bytes).ok())
            .filter(|f| f.version == VERSION)
            .unwrap_or_default();
        Self { path, file }
    }

    /// The recorded duration of a test, if any.
    pub fn get(&self, test_id: &str) -> Option<Duration> {
        let secs = *self.file.durations.get(test_id)?;
        (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs))
    }

    /// Records a run of a test: the average of the old value and the new one, so one slow
    /// run does not swing the order.
    pub fn record(&mut self, test_id: String, took: Duration) {
        let new = took.as_secs_f64();
        let value = match self.get(&test_id) {
            Some(old) => (old.as_secs_f64() + new) / 2.0,
            None => new,
        };
        self.file.durations.insert(test_id, value);
    }

    /// Writes the history (to a temporary file first, so a crash never leaves half a file).
    pub fn save(&mut self) -> std::io::Result<()> {
        self.file.version = VERSION;
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = self.path.with_extension(format!("json.{}.tmp", std::process::id()));
        let json = serde_json::to_vec(&self.file).map_err(std::io::Error::other)?;
        std::fs::write(&tmp, json)?;
        std::fs::rename(&tmp, &self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> Utf8PathBuf {
        let dir = std::env::temp_dir().join(format!("xdist-history-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        Utf8PathBuf::from_path_buf(dir).unwrap()
    }

    #[test]
    fn records_survive_a_round_trip_and_average() {
        let dir = temp_dir("round-trip");
        let mut history = History::load(&dir);
        assert_eq!(history.get("a t"), None);
        history.record("a t".into(), Duration::from_millis(400));
        history.save().unwrap();
        let mut again = History::load(&dir);
        assert_eq!(again.get("a t"), Some(Duration::from_millis(400)));
        again.record("a t".into(), Duration::from_millis(200));
        assert_eq!(again.get("a t"), Some(Duration::from_millis(300)));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_corrupt_or_foreign_file_is_an_empty_history() {
        let dir = temp_dir("corrupt");
        std::fs::create_dir_all(dir.join("xdist")).unwrap();
        for junk in
            [&b"{not json"[..], b"", b"{\"version\":99,\"durations\":{\"a t\":1.0}}", b"\xff\xfe"]
        {
            std::fs::write(History::path(&dir), junk).unwrap();
            let mut history = History::load(&dir);
            assert_eq!(history.get("a t"), None);
            history.record("b t".into(), Duration::from_secs(1));
            history.save().unwrap();
            assert_eq!(History::load(&dir).get("b t"), Some(Duration::from_secs(1)));
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
