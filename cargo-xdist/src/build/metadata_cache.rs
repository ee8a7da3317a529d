//! `cargo metadata --no-deps` from an earlier run, so that an unchanged workspace is not
//! asked again (a cargo process, about a tenth of the CPU of a run of many small binaries).
//!
//! Kept in `<target-dir>/xdist/metadata.json` with what it depends on: the working directory
//! and `--manifest-path` it was asked with, the target dir in use, and the identity (size,
//! modification time, inode) of every manifest it read (each package's, the workspace
//! root's). Before the build, the cache is looked for where the target dir usually is
//! (`--target-dir`, `CARGO_TARGET_DIR`, a `target/` beside the working dir or one of its
//! parents); if one is found whose manifests are unchanged, `cargo metadata` is not started
//! alongside the build. After the build it is used only if the target dir it names is the
//! one the build used (every test binary under it) and it knows every package the build
//! built a test binary or executable of (a new member added by a glob changes no manifest
//! it read); else cargo is asked after all. A missing or corrupt file is no cache.

use camino::{Utf8Path, Utf8PathBuf};
use cargo_metadata::{Metadata, PackageId};
use serde::{Deserialize, Serialize};

use crate::collect::listing_cache::{Identity, identity};

const VERSION: u32 = 1;
const FILE: &str = "xdist/metadata.json";

/// What a cached metadata was asked with; equal keys, same answer.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq, Serialize)]
pub struct Key {
    cwd: Utf8PathBuf,
    manifest_path: Option<Utf8PathBuf>,
    target_dir: Utf8PathBuf,
}

impl Key {
    /// The key of a metadata asked in `cwd` with `--manifest-path` `manifest_path`, for a
    /// run whose target dir is `target_dir`.
    pub fn new(
        cwd: Utf8PathBuf,
        manifest_path: Option<Utf8PathBuf>,
        target_dir: Utf8PathBuf,
    ) -> Self {
        Self { cwd, manifest_path, target_dir }
    }
}

#[derive(Deserialize, Serialize)]
struct CacheFile {
    version: u32,
    key: Key,
    manifests: Vec<(Utf8PathBuf, Identity)>,
    metadata: Metadata,
}

/// A cached metadata whose key and manifests still hold.
#[derive(Debug)]
pub struct Cached {
    target_dir: Utf8PathBuf,
    metadata: Metadata,
}

/// The cached metadata of a run in `cwd` with `manifest_path`, from the first of `dirs`
/// (candidate target dirs) that holds one asked the same way, over unchanged manifests.
pub fn find(
    cwd: &Utf8Path,
    manifest_path: Option<&Utf8Path>,
    dirs: impl IntoIterator<Item = Utf8PathBuf>,
) -> Option<Cached> {
    dirs.into_iter().find_map(|dir| {
        let bytes = std::fs::read(dir.join(FILE)).ok()?;
        let file = serde_json::from_slice::<CacheFile>(&bytes).ok()?;
        let key = Key::new(cwd.to_path_buf(), manifest_path.map(Utf8Path::to_path_buf), dir);
        let fresh = file.version == VERSION
            && file.key == key
            && file.manifests.iter().all(|(p, id)| identity(p.as_str()).as_ref() == Some(id));
        fresh.then(|| Cached { target_dir: key.target_dir, metadata: file.metadata })
    })
}

/// Where the target dir of a run in `cwd` usually is: `--target-dir` (`target_dir`), else
/// `CARGO_TARGET_DIR`, else `target/` in `cwd` or one of its parents, nearest first.
pub fn likely_target_dirs(cwd: &Utf8Path, target_dir: Option<&Utf8Path>) -> Vec<Utf8PathBuf> {
    dirs_given(cwd, target_dir, std::env::var("CARGO_TARGET_DIR").ok())
}

/// [`likely_target_dirs`] with `CARGO_TARGET_DIR` as `from_env`.
fn dirs_given(
    cwd: &Utf8Path,
    target_dir: Option<&Utf8Path>,
    from_env: Option<String>,
) -> Vec<Utf8PathBuf> {
    let given = target_dir
        .map(Utf8Path::to_path_buf)
        .or_else(|| from_env.map(Utf8PathBuf::from))
        .filter(|dir| !dir.as_str().is_empty());
    match given {
        Some(dir) => vec![cwd.join(dir)],
        None => cwd.ancestors().map(|dir| dir.join("target")).collect(),
    }
}

impl Cached {
    /// The metadata, if it fits the build: its target dir is `target_dir` (`--target-dir`,
    /// else the one the metadata names), which holds every one of `binaries`, and it knows
    /// every one of the `built` packages.
    pub fn fits(
        self,
        target_dir: Option<&Utf8Path>,
        binaries: &[&Utf8Path],
        built: &[&PackageId],
    ) -> Option<Metadata> {
        let in_use = target_dir.unwrap_or(&self.metadata.target_directory);
        let fits = in_use == self.target_dir
            && binaries.iter().all(|b| b.starts_with(&self.target_dir))
            && built.iter().all(|id| self.metadata.packages.iter().any(|p| &p.id == *id));
        fits.then_some(self.metadata)
    }
}

/// Keeps `metadata`, asked with `key`, in `key`'s target dir; a failure only costs the next
/// run a `cargo metadata`.
pub fn store(key: Key, metadata: &Metadata) {
    let mut paths: Vec<Utf8PathBuf> =
        metadata.packages.iter().map(|p| p.manifest_path.clone()).collect();
    paths.push(metadata.workspace_root.join("Cargo.toml"));
    paths.sort();
    paths.dedup();
    let Some(manifests) = paths
        .into_iter()
        .map(|path| identity(path.as_str()).map(|id| (path, id)))
        .collect::<Option<Vec<_>>>()
    else {
        return;
    };
    let path = key.target_dir.join(FILE);
    let file = CacheFile { version: VERSION, key, manifests, metadata: metadata.clone() };
    let _ = crate::plan::history::write_json_atomically(&path, &file);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A workspace of one package `alpha` in `root`, as `cargo metadata` would describe it.
    fn metadata_of(root: &Utf8Path) -> Metadata {
        let manifest = root.join("alpha/Cargo.toml");
        let json = serde_json::json!({
            "packages": [{
                "name": "alpha", "version": "0.1.0", "id": "path+file:///ws/alpha#0.1.0",
                "license": null, "license_file": null, "description": null, "source": null,
                "dependencies": [], "targets": [], "features": {}, "manifest_path": manifest,
                "metadata": null, "publish": null, "authors": [], "categories": [],
                "keywords": [], "readme": null, "repository": null, "homepage": null,
                "documentation": null, "edition": "2021", "links": null, "default_run": null,
                "rust_version": null
            }],
            "workspace_members": ["path+file:///ws/alpha#0.1.0"],
            "workspace_default_members": ["path+file:///ws/alpha#0.1.0"],
            "resolve": null, "target_directory": root.join("target"), "version": 1,
            "workspace_root": root, "metadata": null
        });
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn an_unchanged_workspace_hits_and_any_change_misses() {
        let dir = tempfile::tempdir().unwrap();
        let root = Utf8PathBuf::from_path_buf(dir.path().to_path_buf()).unwrap();
        std::fs::create_dir_all(root.join("alpha")).unwrap();
        std::fs::write(root.join("Cargo.toml"), "[workspace]\n").unwrap();
        std::fs::write(root.join("alpha/Cargo.toml"), "[package]\n").unwrap();
        let target = root.join("target");
        let binary = target.join("debug/deps/alpha-0123");
        let metadata = metadata_of(&root);
        let alpha = metadata.packages[0].id.clone();
        let key = || Key::new(root.clone(), None, target.clone());
        let dirs = || dirs_given(&root.join("alpha"), None, None);
        assert_eq!(dirs()[1], target, "alpha/target, then the root's target");
        let hit = |cwd: &Utf8Path, built: &[&PackageId]| {
            find(cwd, None, dirs()).and_then(|c| c.fits(None, &[&binary], built))
        };
        assert!(hit(&root, &[&alpha]).is_none(), "nothing kept yet");
        store(key(), &metadata);
        assert_eq!(hit(&root, &[&alpha]).map(|m| m.packages.len()), Some(1));
        // Another working dir, another --manifest-path, a package it does not know.
        assert!(hit(&root.join("alpha"), &[&alpha]).is_none());
        assert!(find(&root, Some(Utf8Path::new("x/Cargo.toml")), dirs()).is_none());
        let beta = PackageId { repr: "path+file:///ws/beta#0.1.0".into() };
        assert!(hit(&root, &[&alpha, &beta]).is_none());
        // Another target dir in use, or a binary outside the cache's.
        let cached = || find(&root, None, dirs()).unwrap();
        assert!(cached().fits(Some(&root.join("other")), &[&binary], &[&alpha]).is_none());
        assert!(cached().fits(None, &[&root.join("elsewhere/x")], &[&alpha]).is_none());
        // A manifest rewritten (a new file, as editors and cargo write them).
        std::fs::remove_file(root.join("alpha/Cargo.toml")).unwrap();
        std::fs::write(root.join("alpha/Cargo.toml"), "[package]\nname = \"alpha\"\n").unwrap();
        assert!(hit(&root, &[&alpha]).is_none());
        store(key(), &metadata);
        assert!(hit(&root, &[&alpha]).is_some());
        std::fs::write(root.join("Cargo.toml"), "[workspace]\nmembers = []\n").unwrap();
        assert!(hit(&root, &[&alpha]).is_none(), "the root manifest changed");
        // A corrupt file is no cache.
        std::fs::write(target.join(FILE), b"{nope").unwrap();
        assert!(hit(&root, &[&alpha]).is_none());
    }
}
