//! From cargo options to the run's test list: build, set up each binary's environment, find
//! the `harness = false` targets in the manifests, list every binary once, then split the
//! tests by the filter and `--partition` ([`shard`]).

pub mod harness;
pub mod listing;
pub mod shard;
pub mod test_env;

use std::collections::HashMap;

use camino::Utf8PathBuf;
use cargo_metadata::PackageId;
use xdist_core::testlist::{Selection, TestFilter, TestList};

use crate::build::cargo as cargo_build;
use crate::cli::CargoOptions;
use crate::errors::{InternalError, XdistError};
use harness::CustomHarnesses;
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
}

impl Collected {
    /// The list of the tests that run, with the same binaries; indices are the session's.
    pub fn run_list(&self) -> TestList {
        TestList {
            binaries: self.full.binaries.clone(),
            tests: self.selected.iter().map(|&i| self.full.tests[i].clone()).collect(),
        }
    }
}

/// Builds, lists and filters.
pub fn collect(
    cargo: &CargoOptions,
    filter: &TestFilter,
    sharding: Option<Sharding<'_>>,
) -> Result<Collected, XdistError> {
    let build = cargo_build::build(cargo)?;
    let workspace_root = build.metadata.workspace_root.clone();
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
    if let Some(sharding) = sharding {
        // After every other filter, as nextest does. The ignored tests that will not run
        // are dealt too (in their own pass), so each is shown skipped in one shard only.
        (selected, ignored) =
            sharding.split(&full, &selected, &ignored, &workspace_root, &target_dir)?;
    }
    Ok(Collected { full, selected, ignored, workspace_root, target_dir })
}
