//! Duration history: every run records how long each test took, in
//! `<target-dir>/xdist/durations.json` (or the `--durations-file`), keyed by
//! `<binary-id> <test name>`, so that the next run can start the longest tests (or units)
//! first and `--partition duration` can balance its shards. A missing, unreadable or
//! corrupt file under the target dir is an empty history, and is replaced at the end of the
//! run; a `--durations-file` that exists must be a valid history.
//!
//! Each entry also counts the runs (and imports) that recorded it, so that
//! [`History::merge`] can tell which of several shards' files holds a test's newest value
//! without trusting clocks: every shard starts from the same file and counts up only the
//! tests it ran.
//!
//! It also remembers the binaries that take one test name per process (a harness such as
//! libtest-mimic, found when a process of several names ran none of them), by binary id
//! with the identity of the build that showed it (as the listing cache identifies a
//! build), so that the next run sends them one name per process from the start. A rebuilt
//! binary is tried with several names again. Files without the field read as none.
//!
//! And how much of a CPU each binary's test processes used while they ran (CPU time over
//! time from start to exit, averaged like durations), so that `-n auto` can start as many
//! workers as the suite keeps busy (`drive/growth.rs`). Files without it read as unknown.
//!
//! And what a process of each binary pays once beyond its tests (under `RUST_BACKTRACE`,
//! the load of its debug info at its first panic), so that `load` does not cut such a
//! binary into many processes. Files without it read as unknown.

use std::collections::BTreeMap;
use std::time::Duration;

use camino::{Utf8Path, Utf8PathBuf};
use serde::{Deserialize, Serialize};

use crate::cli::durations::HistoryOptions;
use crate::collect::listing_cache::{Identity, identity};
use crate::errors::DurationsError;
use crate::plan::sorted_read::btree_map;

const VERSION: u32 = 1;

/// The most of a first panic's time taken as its process's cost: loading a test binary's
/// debug info takes a fraction of a second; more is the test's own.
pub const PROCESS_COST_CAP: Duration = Duration::from_secs(1);

#[derive(Default, Deserialize, Serialize)]
struct HistoryFile {
    version: u32,
    /// Seconds, by test id.
    #[serde(deserialize_with = "btree_map")]
    durations: BTreeMap<String, f64>,
    /// How many runs (and imports) recorded each duration (absent in older files: 0).
    #[serde(default, deserialize_with = "btree_map", skip_serializing_if = "BTreeMap::is_empty")]
    runs: BTreeMap<String, u64>,
    /// Binaries that take one test name per process, by binary id, with the build that
    /// showed it (absent in older files: none).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    one_name: BTreeMap<String, Identity>,
    /// CPU time per second of run time of each binary's processes, by binary id (absent in
    /// older files: unknown).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    cpu_share: BTreeMap<String, f64>,
    /// Seconds a process of each binary paid once beyond its tests' time, by binary id:
    /// what its first panic took over the test's own time under `RUST_BACKTRACE` (absent
    /// in older files: unknown).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    process_cost: BTreeMap<String, f64>,
    /// How many runs recorded each binary's CPU share (absent in older files: 0).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    cpu_share_runs: BTreeMap<String, u64>,
    /// How many runs recorded each binary's process cost (absent in older files: 0).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    process_cost_runs: BTreeMap<String, u64>,
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

    /// Where this history is read from and written to.
    pub fn location(&self) -> &Utf8Path {
        &self.path
    }

    /// Reads the history of `target_dir`; anything wrong with the file means no history.
    pub fn load(target_dir: &Utf8Path) -> Self {
        let path = Self::path(target_dir);
        Self::open(&path).unwrap_or_else(|_| Self::empty(path))
    }

    /// The history a run or a listing uses: none with `--no-history`, the
    /// `--durations-file` (which must be valid if it exists), or the target dir's.
    pub fn for_run(
        options: &HistoryOptions,
        target_dir: &Utf8Path,
    ) -> Result<Option<Self>, DurationsError> {
        if options.no_history {
            return Ok(None);
        }
        match &options.durations_file {
            Some(path) => Self::open_or_empty(path).map(Some),
            None => Ok(Some(Self::load(target_dir))),
        }
    }

    /// Reads `path`, or an empty history (to be written there) if it does not exist.
    pub fn open_or_empty(path: &Utf8Path) -> Result<Self, DurationsError> {
        match std::fs::metadata(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::empty(path.into())),
            _ => Self::open(path),
        }
    }

    /// Reads `path`, which must exist and be a history of this version.
    pub fn open(path: &Utf8Path) -> Result<Self, DurationsError> {
        let bytes = std::fs::read(path)
            .map_err(|source| DurationsError::Read { path: path.into(), source })?;
        let file: HistoryFile = serde_json::from_slice(&bytes)
            .map_err(|source| DurationsError::History { path: path.into(), source })?;
        if file.version != VERSION {
            return Err(DurationsError::Version { path: path.into(), found: file.version });
        }
        Ok(Self { path: path.into(), file })
    }

    /// No durations, to be written to `path`.
    pub fn empty(path: Utf8PathBuf) -> Self {
        Self { path, file: HistoryFile::default() }
    }

    /// Whether it has no duration at all.
    #[cfg(test)]
    fn is_empty(&self) -> bool {
        self.file.durations.is_empty()
    }

    /// The recorded duration of a test, if any.
    pub fn get(&self, test_id: &str) -> Option<Duration> {
        let secs = usable(*self.file.durations.get(test_id)?)?;
        Some(Duration::from_secs_f64(secs))
    }

    /// Records a run of a test: the average of the old value and the new one, so one slow
    /// run does not swing the order.
    pub fn record(&mut self, test_id: String, took: Duration) {
        let took = took.as_secs_f64();
        if let Some(secs) = self.file.durations.get_mut(&test_id) {
            // Known: updated in place (a run records thousands of tests, most known).
            *secs = averaged(usable(*secs), took);
            *self.file.runs.entry(test_id).or_insert(0) += 1;
            return;
        }
        self.set(test_id, took);
    }

    /// Records the time of test `test_id` of binary `binary`, its process's first panic
    /// under `RUST_BACKTRACE`: the time also holds the process's one-time load of the
    /// binary's debug info. Charged to the test, that load would make it look slow, the next
    /// run would spread such tests over more processes, and each would pay it again. So
    /// what it took beyond its known duration (or all of it, for the binary's first such
    /// test), up to [`PROCESS_COST_CAP`], updates the binary's process cost. A time of more
    /// than twice the cost is recorded less the cost; a time about the cost may lower a known
    /// duration, never raise it, and says nothing of a new test.
    pub fn record_first_panic(&mut self, test_id: String, binary: &str, took: Duration) {
        let old = self.get(&test_id);
        if let Some(old) = old {
            self.record_process_cost(binary, took.saturating_sub(old).min(PROCESS_COST_CAP));
        } else if self.process_cost(binary).is_none() {
            self.record_process_cost(binary, took.min(PROCESS_COST_CAP));
        }
        let cost = self.process_cost(binary).unwrap_or_default();
        if took > cost.saturating_mul(2) {
            // Clearly more than the cost: the rest is the test's own.
            self.record(test_id, took.saturating_sub(cost));
        } else if let Some(old) = old {
            // About the cost (which varies from process to process): it may lower the
            // test's duration, never raise it.
            let value = averaged(Some(old.as_secs_f64()), took.saturating_sub(cost).as_secs_f64());
            self.set(test_id, value.min(old.as_secs_f64()));
        }
        // A new test whose time is about the cost says nothing of its own.
    }

    /// What a process of binary `id` paid once beyond its tests' time, as recorded.
    pub fn process_cost(&self, id: &str) -> Option<Duration> {
        let secs = self.file.process_cost.get(id).copied()?;
        Duration::try_from_secs_f64(secs).ok()
    }

    /// Records that a process of binary `id` paid `cost` once (averaged like durations).
    pub fn record_process_cost(&mut self, id: &str, cost: Duration) {
        let value = averaged(self.process_cost(id).map(|d| d.as_secs_f64()), cost.as_secs_f64());
        self.file.process_cost.insert(id.to_string(), value);
        *self.file.process_cost_runs.entry(id.to_string()).or_insert(0) += 1;
    }

    /// Replaces a test's duration with `secs` (an imported measurement).
    pub fn set(&mut self, test_id: String, secs: f64) {
        *self.file.runs.entry(test_id.clone()).or_insert(0) += 1;
        self.file.durations.insert(test_id, secs);
    }

    /// Whether binary `id`, built at `path`, takes one test name per process: an earlier
    /// run found it of this same build.
    pub fn takes_one_name(&self, id: &str, path: &str) -> bool {
        self.file.one_name.get(id).is_some_and(|known| identity(path).as_ref() == Some(known))
    }

    /// Remembers that binary `id`, built at `path`, takes one test name per process.
    pub fn remember_one_name(&mut self, id: &str, path: &str) {
        if let Some(build) = identity(path) {
            self.file.one_name.insert(id.to_string(), build);
        }
    }

    /// The CPU share recorded for binary `id` (CPU time over run time of its processes).
    pub fn cpu_share(&self, id: &str) -> Option<f64> {
        self.file.cpu_share.get(id).copied().and_then(usable)
    }

    /// Records binary `id`'s processes of this run: `cpu` of CPU time in `wall` of run time
    /// (averaged with the recorded share, as durations are).
    pub fn record_cpu_share(&mut self, id: &str, cpu: Duration, wall: Duration) {
        if wall.is_zero() {
            return;
        }
        let value = averaged(self.cpu_share(id), cpu.as_secs_f64() / wall.as_secs_f64());
        self.file.cpu_share.insert(id.to_string(), value);
        *self.file.cpu_share_runs.entry(id.to_string()).or_insert(0) += 1;
    }

    /// Adds `other`'s entries: per test (and per binary, for CPU shares and process costs)
    /// the value recorded by more runs wins (a shard that ran the test counted it up from
    /// the file every shard started from); on equal counts (both copied from that file, or
    /// both from older files without counts) the larger.
    pub fn merge(&mut self, other: History) {
        let (ours, theirs) = (&mut self.file, other.file);
        ours.one_name.extend(theirs.one_name);
        merge_counted(&mut ours.durations, &mut ours.runs, theirs.durations, &theirs.runs);
        merge_counted(
            &mut ours.cpu_share,
            &mut ours.cpu_share_runs,
            theirs.cpu_share,
            &theirs.cpu_share_runs,
        );
        merge_counted(
            &mut ours.process_cost,
            &mut ours.process_cost_runs,
            theirs.process_cost,
            &theirs.process_cost_runs,
        );
    }

    /// Writes the history (to a temporary file first, so a crash never leaves half a file).
    pub fn save(&mut self) -> std::io::Result<()> {
        self.file.version = VERSION;
        write_json_atomically(&self.path, &self.file)
    }
}

/// Writes `value` as JSON to `path` through a temporary file beside it and a rename, so a
/// reader never sees half a file (the dir is made if missing; the temporary file is
/// removed on failure). The history, the outcome record and the listing cache use it.
pub fn write_json_atomically(path: &Utf8Path, value: &impl Serialize) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension(format!("json.{}.tmp", std::process::id()));
    let written = serde_json::to_vec(value)
        .map_err(std::io::Error::other)
        .and_then(|json| std::fs::write(&tmp, json))
        .and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// Whether panics capture a backtrace, by a value of `RUST_BACKTRACE`: any value but `0`
/// turns it on (std's rule).
pub fn backtraces_from(value: Option<&std::ffi::OsStr>) -> bool {
    value.is_some_and(|v| v != "0")
}

/// Whether tests capture backtraces by the `RUST_BACKTRACE` they inherit from this process.
pub fn inherited_backtraces() -> bool {
    backtraces_from(std::env::var_os("RUST_BACKTRACE").as_deref())
}

/// Whether the tests of a binary with environment `env` (cargo's `[env]`, setup scripts)
/// capture backtraces, `inherited` being what `RUST_BACKTRACE` they get otherwise says.
pub fn backtraces_in(env: &[(String, String)], inherited: bool) -> bool {
    match env.iter().rev().find(|(var, _)| var == "RUST_BACKTRACE") {
        Some((_, value)) => backtraces_from(Some(value.as_ref())),
        None => inherited,
    }
}

/// Adds `their` values (counted by `their_counts`) to `ours`: per key, the value counted by
/// more runs wins, on equal counts the larger (so the order of merges does not matter).
fn merge_counted(
    ours: &mut BTreeMap<String, f64>,
    our_counts: &mut BTreeMap<String, u64>,
    theirs: BTreeMap<String, f64>,
    their_counts: &BTreeMap<String, u64>,
) {
    for (key, value) in theirs {
        let count = their_counts.get(&key).copied().unwrap_or(0);
        let our_count = our_counts.get(&key).copied().unwrap_or(0);
        let take = match ours.get(&key) {
            None => true,
            Some(&old) => count > our_count || (count == our_count && value > old),
        };
        if take {
            if count > 0 {
                our_counts.insert(key.clone(), count);
            }
            ours.insert(key, value);
        }
    }
}

/// A recorded duration or share, unless the file holds something neither can be (negative,
/// infinite, NaN).
fn usable(value: f64) -> Option<f64> {
    (value.is_finite() && value >= 0.0).then_some(value)
}

/// The average of a recorded value and a new measurement (the measurement alone when there
/// is none): how durations, CPU shares and process costs follow the runs.
fn averaged(old: Option<f64>, new: f64) -> f64 {
    old.map_or(new, |old| (old + new) / 2.0)
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
    fn a_first_panic_charges_at_most_a_second_to_its_process() {
        let mut history = History::empty(Utf8PathBuf::from("/nonexistent/durations.json"));
        // A new binary's first panicking test of 5 s: 1 s is taken as the process's.
        history.record_first_panic("b slow".into(), "b", Duration::from_secs(5));
        assert_eq!(history.process_cost("b"), Some(Duration::from_secs(1)));
        assert_eq!(history.get("b slow"), Some(Duration::from_secs(4)));
        // A new test whose time is all the known cost is not recorded.
        history.record_first_panic("b quick".into(), "b", Duration::from_millis(900));
        assert_eq!(history.get("b quick"), None);
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

    #[test]
    fn a_durations_file_must_be_valid_if_it_exists() {
        let dir = temp_dir("explicit");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("d.json");
        assert!(History::open_or_empty(&path).unwrap().is_empty());
        std::fs::write(&path, "{\"version\":1,\n\"durations\":{\"a t\":\"x\"}}").unwrap();
        let error = History::open_or_empty(&path).err().expect("malformed").to_string();
        assert!(error.starts_with(&format!("{path}: not a duration history: ")), "{error}");
        assert!(error.contains("line 2"), "{error}");
        std::fs::write(&path, "{\"version\":7,\"durations\":{}}").unwrap();
        let error = History::open(&path).err().expect("foreign").to_string();
        assert_eq!(error, format!("{path}: duration history version 7, expected 1"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn one_name_binaries_are_remembered_per_build_and_old_files_have_none() {
        let dir = temp_dir("one-name");
        std::fs::create_dir_all(dir.join("xdist")).unwrap();
        // A file written before the field existed.
        std::fs::write(History::path(&dir), "{\"version\":1,\"durations\":{\"a t\":2.0}}").unwrap();
        let binary = dir.join("mimic-0");
        std::fs::write(&binary, "build 1").unwrap();
        let mut history = History::open(&History::path(&dir)).unwrap();
        assert_eq!(history.get("a t"), Some(Duration::from_secs(2)));
        assert!(!history.takes_one_name("pkg::mimic", binary.as_str()));
        history.remember_one_name("pkg::mimic", binary.as_str());
        history.save().unwrap();
        let again = History::load(&dir);
        assert!(again.takes_one_name("pkg::mimic", binary.as_str()));
        assert!(!again.takes_one_name("pkg::other", binary.as_str()));
        // cargo writes a new file for a new build.
        std::fs::remove_file(&binary).unwrap();
        std::fs::write(&binary, "build 2, longer").unwrap();
        assert!(!again.takes_one_name("pkg::mimic", binary.as_str()), "a rebuild is tried again");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn cpu_shares_average_per_binary_and_old_files_have_none() {
        let dir = temp_dir("cpu-share");
        std::fs::create_dir_all(dir.join("xdist")).unwrap();
        std::fs::write(History::path(&dir), "{\"version\":1,\"durations\":{}}").unwrap();
        let mut history = History::open(&History::path(&dir)).unwrap();
        assert_eq!(history.cpu_share("pkg"), None);
        let ms = Duration::from_millis;
        history.record_cpu_share("pkg", ms(100), ms(1000));
        history.record_cpu_share("pkg::it", ms(900), ms(1000));
        history.record_cpu_share("pkg::none", ms(5), Duration::ZERO);
        history.save().unwrap();
        let mut again = History::load(&dir);
        assert_eq!(again.cpu_share("pkg"), Some(0.1));
        assert_eq!(again.cpu_share("pkg::none"), None, "no run time: nothing learnt");
        again.record_cpu_share("pkg", ms(300), ms(1000));
        assert!((again.cpu_share("pkg").unwrap() - 0.2).abs() < 1e-9, "averaged");
        assert_eq!(again.cpu_share("pkg::it"), Some(0.9));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn merging_shards_keeps_each_binarys_newest_cpu_share_and_process_cost() {
        let dir = temp_dir("merge-binaries");
        let ms = Duration::from_millis;
        // Every shard starts from this file: both binaries known.
        let mut base = History::empty(dir.join("base.json"));
        for id in ["x", "y"] {
            base.record_cpu_share(id, ms(500), ms(1000));
            base.record_process_cost(id, ms(200));
        }
        base.save().unwrap();
        // Shard 1 ran only `x` (its share and cost move), shard 2 only `y`.
        let mut one = History::open(&dir.join("base.json")).unwrap();
        one.record_cpu_share("x", ms(100), ms(1000));
        one.record_process_cost("x", ms(100));
        let mut two = History::open(&dir.join("base.json")).unwrap();
        two.record_cpu_share("y", ms(900), ms(1000));
        two.record_process_cost("y", ms(400));
        let (share, cost) = (
            (one.cpu_share("x"), one.process_cost("x")),
            (two.cpu_share("y"), two.process_cost("y")),
        );
        for order in [[0, 1], [1, 0]] {
            let mut shards = [Some(one_copy(&one)), Some(one_copy(&two))];
            let mut merged = History::empty(dir.join("out.json"));
            for i in order {
                merged.merge(shards[i].take().unwrap());
            }
            assert_eq!((merged.cpu_share("x"), merged.process_cost("x")), share, "{order:?}");
            assert_eq!((merged.cpu_share("y"), merged.process_cost("y")), cost, "{order:?}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A history with the same entries (to merge it more than once).
    fn one_copy(history: &History) -> History {
        let json = serde_json::to_vec(&history.file).unwrap();
        History { path: history.path.clone(), file: serde_json::from_slice(&json).unwrap() }
    }

    #[test]
    fn merging_shards_keeps_each_tests_newest_value() {
        let dir = temp_dir("merge");
        std::fs::create_dir_all(&dir).unwrap();
        // The history every shard started from (each test recorded once).
        let mut base = History::empty(dir.join("base.json"));
        for id in ["a", "b", "c"] {
            base.set(id.into(), 1.0);
        }
        base.save().unwrap();
        // Shard 1 ran `a`, shard 2 ran `b` and a new test `d`; nobody ran `c`.
        let mut one = History::open(&dir.join("base.json")).unwrap();
        one.set("a".into(), 5.0);
        let mut two = History::open(&dir.join("base.json")).unwrap();
        two.set("b".into(), 0.5);
        two.set("d".into(), 2.0);
        let mut merged = History::empty(dir.join("out.json"));
        merged.merge(two);
        merged.merge(one);
        let secs = |h: &History, id: &str| h.get(id).map(|d| d.as_secs_f64());
        assert_eq!(
            ["a", "b", "c", "d"].map(|id| secs(&merged, id)),
            [Some(5.0), Some(0.5), Some(1.0), Some(2.0)]
        );
        merged.merge(History::open(&dir.join("base.json")).unwrap());
        assert_eq!(secs(&merged, "a"), Some(5.0), "the base's entries are older");
        // Entries of older files (no counts): the longer wins, and any count beats none.
        let mut old = History::empty(dir.join("old.json"));
        old.file.durations.extend([("c".to_string(), 9.0), ("e".to_string(), 1.0)]);
        let mut older = History::empty(dir.join("older.json"));
        older.file.durations.extend([("e".to_string(), 3.0)]);
        merged.merge(old);
        merged.merge(older);
        assert_eq!(secs(&merged, "c"), Some(1.0), "a counted entry beats an uncounted one");
        assert_eq!(secs(&merged, "e"), Some(3.0), "equal counts: the longer");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
