//! From cargo options (or an archive) to the run's test list: build (or unpack), set up each
//! binary's environment, find the `harness = false` targets in the manifests, list every
//! binary once, then split the tests by the filter; [`shard`] applies `--partition`.

pub mod harness;
pub mod listing;
pub mod listing_cache;
pub mod shard;
pub mod test_env;

use std::collections::{HashMap, HashSet};

use camino::{Utf8Path, Utf8PathBuf};
use cargo_metadata::PackageId;
use xdist_core::testlist::{Selection, TestBinary, TestFilter, TestList};

use crate::build::archive::read as archive_read;
use crate::build::cargo as cargo_build;
use crate::build::doctests;
use crate::cli::CargoOptions;
use crate::cli::archive::ArchiveSource;
use crate::config::target_runner::runner_for_target;
use crate::errors::{InternalError, XdistError};
use harness::CustomHarnesses;
use listing_cache::ListingCache;
use shard::Sharding;

/// The collection split by the filter.
pub struct Collected {
    /// Every test of every binary.
    pub full: TestList,
    /// Indices into `full.tests` that run.
    pub selected: Vec<usize>,
    /// Indices into `full.tests` that matched but are ignored.
    pub ignored: Vec<usize>,
    /// The workspace root (where `.config/` lives).
    pub workspace_root: Utf8PathBuf,
    /// The target directory in use.
    pub target_dir: Utf8PathBuf,
    /// The dir whose `.config/xdist.toml` configures the run: the workspace root, or for an
    /// archive run without the workspace's file, the archive's copy.
    pub config_root: Utf8PathBuf,
    /// The local build (not an archive's), for shipping it to ssh workers.
    pub build: Option<cargo_build::BuildOutput>,
    /// The binary ids of `harness = false` targets (custom harnesses).
    pub custom_harnesses: HashSet<String>,
    /// An archive's temporary extraction dir, removed when the collection is dropped.
    pub _extracted: Option<tempfile::TempDir>,
}

impl Collected {
    /// The list of the tests that run, with the same binaries; indices are the session's.
    pub fn run_list(&self) -> TestList {
        TestList {
            binaries: self.full.binaries.clone(),
            tests: self.selected.iter().map(|&i| self.full.tests[i].clone()).collect(),
        }
    }

    /// Keeps this shard of the selection, after every other filter, as nextest does. The
    /// ignored tests that will not run are dealt too (in their own pass), so each is shown
    /// skipped in one shard only.
    pub fn shard(&mut self, sharding: &Sharding<'_>) -> Result<(), XdistError> {
        let (selected, ignored) =
            sharding.split(&self.full, &self.selected, &self.ignored, &self.target_dir)?;
        self.selected = selected;
        self.ignored = ignored;
        Ok(())
    }
}

/// Whether the run's settings ask for doctests (`doctests = true` in the profile), asked
/// once the build has found the dir whose configuration applies.
pub type DoctestsWanted<'a> = &'a dyn Fn(&Utf8Path) -> Result<bool, XdistError>;

/// Builds (or unpacks `--archive-file`), lists and filters; `doctests_wanted` says whether
/// the configuration of the workspace adds the doctests (as `--doctests`).
pub fn collect(
    cargo: &CargoOptions,
    archive: &ArchiveSource,
    filter: &TestFilter,
    doctests_wanted: DoctestsWanted<'_>,
) -> Result<Collected, XdistError> {
    let (build, config_root, extracted) = match &archive.archive_file {
        Some(file) => {
            let opened = archive_read::open(archive, file)?;
            (opened.build, Some(opened.config_root), opened.temp)
        }
        None => (cargo_build::build(cargo)?, None, None),
    };
    let workspace_root = build.metadata.workspace_root.clone();
    let config_root = config_root.unwrap_or_else(|| workspace_root.clone());
    let target_dir = build.target_dir.clone();
    let cwd = std::env::current_dir().map_err(|source| InternalError::CurrentDir { source })?;
    let config_env = crate::config::cargo_env::config_env(&cwd)?;
    let runner = runner_for_target(
        &cwd,
        || build.target_triple.clone().or_else(|| cargo_build::host_triple().ok()),
        cargo_build::target_cfg,
    )?;
    let mut manifests: HashMap<&PackageId, CustomHarnesses> = HashMap::new();
    let targets = build
        .binaries
        .iter()
        .map(|b| {
            let package = build.metadata.packages.iter().find(|p| p.id == b.package_id);
            let custom_harness = package.is_some_and(|p| {
                manifests
                    .entry(&p.id)
                    .or_insert_with(|| CustomHarnesses::read(&p.manifest_path))
                    .contains(&b.kind, &b.target_name)
            });
            listing::Target {
                binary: TestBinary {
                    runner: runner.clone(),
                    ..test_env::test_binary(b, &build, &config_env)
                },
                custom_harness,
                listed: None,
            }
        })
        .collect::<Vec<_>>();
    let mut targets = targets;
    let local = archive.archive_file.is_none();
    let doctests = cargo.doctests || (local && !cargo.doc && doctests_wanted(&config_root)?);
    if !cargo.doc && !doctests && local {
        let libraries = doctests::libraries_with_doctests(&build);
        if libraries > 0 {
            let what = if libraries == 1 { "1 library" } else { &format!("{libraries} libraries") };
            eprintln!(
                "xdist: the doctests of {what} are not run (add --doctests, or --doc for them alone)"
            );
        }
    }
    if (cargo.doc || doctests) && local {
        for doctests in doctests::record(cargo, &build.metadata)? {
            targets.push(listing::Target {
                binary: doctests.binary,
                custom_harness: false,
                listed: Some(doctests.tests),
            });
        }
    }
    let custom_harnesses =
        targets.iter().filter(|t| t.custom_harness).map(|t| t.binary.id.clone()).collect();
    let cache = ListingCache::load(&target_dir);
    let full = listing::list_tests(targets, Some(&cache))?;
    cache.save();
    let mut selected = Vec::new();
    let mut ignored = Vec::new();
    for (i, test) in full.tests.iter().enumerate() {
        match filter.select(test) {
            Selection::Run => selected.push(i),
            Selection::Ignored => ignored.push(i),
            Selection::FilteredOut => {}
        }
    }
    Ok(Collected {
        full,
        selected,
        ignored,
        workspace_root,
        target_dir,
        config_root,
        build: archive.archive_file.is_none().then_some(build),
        custom_harnesses,
        _extracted: extracted,
    })
}
