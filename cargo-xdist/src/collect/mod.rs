//! From cargo options (or an archive) to the run's test list: build (or unpack), set up each
//! binary's environment, find the `harness = false` targets in the manifests, list every
//! binary once, then split the tests by the filter and `--partition`.

pub mod harness;
pub mod listing;
pub mod test_env;

use std::collections::HashMap;
use xdist_core::partition::Partition;

use camino::Utf8PathBuf;
use cargo_metadata::PackageId;
use xdist_core::testlist::{Selection, TestFilter, TestList};

use crate::build::archive::read as archive_read;
use crate::build::cargo as cargo_build;
use crate::cli::CargoOptions;
use crate::cli::archive::ArchiveSource;
use crate::errors::{InternalError, XdistError};
use harness::CustomHarnesses;

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

    /// Keeps shard `partition` of the selection, after every other filter, as nextest
    /// does. The ignored tests that will not run are dealt too (in their own pass), so each
    /// is shown skipped in one shard only.
    pub fn partition(&mut self, partition: Partition) {
        self.selected = partition.select(&self.full, &self.selected);
        self.ignored = partition.select(&self.full, &self.ignored);
    }
}

/// Builds (or unpacks `--archive-file`), lists and filters.
pub fn collect(
    cargo: &CargoOptions,
    archive: &ArchiveSource,
    filter: &TestFilter,
    partition: Option<Partition>,
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
                binary: test_env::test_binary(b, &build, &config_env),
                custom_harness,
            }
        })
        .collect();
    let full = listing::list_tests(targets)?;
    let mut selected = Vec::new();
    let mut ignored = Vec::new();
    for (i, test) in full.tests.iter().enumerate() {
        match filter.select(test) {
            Selection::Run => selected.push(i),
            Selection::Ignored => ignored.push(i),
            Selection::FilteredOut => {}
        }
    }
    let mut collected = Collected {
        full,
        selected,
        ignored,
        workspace_root,
        target_dir,
        config_root,
        _extracted: extracted,
    };
    if let Some(partition) = partition {
        collected.partition(partition);
    }
    Ok(collected)
}
