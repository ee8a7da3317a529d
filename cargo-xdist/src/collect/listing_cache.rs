//! The tests of libtest binaries from earlier runs, so that a binary cargo did not rebuild
//! is not listed again (two process starts a binary saved: with many small binaries, a
//! tenth of a run's CPU). Kept in `<target-dir>/xdist/listings.json`, keyed by the binary's
//! path and identified by its size, modification time and inode: cargo writes a new file
//! for every build, so any rebuild misses. Only binaries listed the libtest way are kept
//! (never a `harness = false` target, whose list may come from files on disk); entries of
//! binaries that are gone or rebuilt are dropped when the file is written. A missing or
//! corrupt file is an empty cache; it is written through a temporary file and a rename.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::sync::Mutex;

use camino::{Utf8Path, Utf8PathBuf};
use serde::{Deserialize, Serialize};

const VERSION: u32 = 1;

/// Which build of a binary a file is: cargo writes a new file for every build.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq, Serialize)]
pub struct Identity {
    len: u64,
    mtime_ns: i128,
    ino: u64,
}

#[derive(Clone, Debug, Deserialize, PartialEq, Eq, Serialize)]
struct Entry {
    identity: Identity,
    /// (name, ignored).
    tests: Vec<(String, bool)>,
}

#[derive(Default, Deserialize, Serialize)]
struct CacheFile {
    version: u32,
    binaries: HashMap<String, Entry>,
}

/// The cache of one run: what was read, and what this run listed.
pub struct ListingCache {
    path: Utf8PathBuf,
    old: HashMap<String, Entry>,
    used: Mutex<HashMap<String, Entry>>,
}

/// The identity of the file at `binary`, if it is there.
pub fn identity(binary: &str) -> Option<Identity> {
    let meta = std::fs::metadata(binary).ok()?;
    let mtime_ns = i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec());
    Some(Identity { len: meta.len(), mtime_ns, ino: meta.ino() })
}

impl ListingCache {
    /// The cache of `target_dir`.
    pub fn load(target_dir: &Utf8Path) -> Self {
        let path = target_dir.join("xdist").join("listings.json");
        let old = Self::load_from(&path);
        Self { path, old, used: Mutex::new(HashMap::new()) }
    }

    fn load_from(path: &Utf8Path) -> HashMap<String, Entry> {
        std::fs::read(path)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<CacheFile>(&bytes).ok())
            .filter(|file| file.version == VERSION)
            .map(|file| file.binaries)
            .unwrap_or_default()
    }

    /// The tests of `binary` if it is the file listed before.
    pub fn get(&self, binary: &str) -> Option<Vec<(String, bool)>> {
        let entry = self.old.get(binary)?;
        let now = identity(binary)?;
        if now != entry.identity {
            return None;
        }
        self.used.lock().expect("no panics while locked").insert(binary.to_string(), entry.clone());
        Some(entry.tests.clone())
    }

    /// Remembers what listing `binary` gave.
    pub fn put(&self, binary: &str, tests: &[(String, bool)]) {
        if let Some(identity) = identity(binary) {
            let entry = Entry { identity, tests: tests.to_vec() };
            self.used.lock().expect("no panics while locked").insert(binary.to_string(), entry);
        }
    }

    /// Writes the binaries of this run, over the entries of the file as it is now (another
    /// run, of another workspace sharing the target dir, may have written it) whose binary
    /// is still the one listed; a failure only costs the next run a listing.
    pub fn save(self) {
        let used = self.used.into_inner().expect("no panics while locked");
        if used.iter().all(|(k, v)| self.old.get(k) == Some(v)) {
            return;
        }
        let mut binaries: HashMap<String, Entry> = Self::load_from(&self.path)
            .into_iter()
            .filter(|(path, entry)| identity(path).as_ref() == Some(&entry.identity))
            .collect();
        binaries.extend(used);
        let file = CacheFile { version: VERSION, binaries };
        let _ = crate::plan::history::write_json_atomically(&self.path, &file);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unchanged_binary_hits_and_a_rebuilt_one_misses() {
        let dir = tempfile::tempdir().unwrap();
        let root = Utf8PathBuf::from_path_buf(dir.path().to_path_buf()).unwrap();
        let binary = root.join("bin");
        std::fs::write(&binary, b"one").unwrap();
        let tests = vec![("a".to_string(), false), ("b".to_string(), true)];
        let cache = ListingCache::load(&root);
        assert_eq!(cache.get(binary.as_str()), None);
        cache.put(binary.as_str(), &tests);
        cache.save();
        let cache = ListingCache::load(&root);
        assert_eq!(cache.get(binary.as_str()), Some(tests.clone()));
        cache.save();
        // A new file in its place (as cargo writes one): another identity.
        std::fs::remove_file(&binary).unwrap();
        std::fs::write(&binary, b"two!").unwrap();
        assert_eq!(ListingCache::load(&root).get(binary.as_str()), None);
        // A corrupt cache is an empty one.
        std::fs::write(root.join("xdist/listings.json"), b"{nope").unwrap();
        assert_eq!(ListingCache::load(&root).get(binary.as_str()), None);
    }
}
