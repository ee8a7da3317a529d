//! Named test groups for `--dist loadgroup`: the tests of a group run on one worker, in list
//! order. Groups come from `--group NAME=PATTERN` and from the `[groups]` table of
//! `.config/xdist.toml` in the workspace root:
//!
//! ```toml
//! [groups]
//! database = ["db::", "storage::tests::migrations"]
//! ```
//!
//! A test belongs to the first group (command line first, then the file in name order) one
//! of whose patterns its id `<binary-id> <test name>` contains.

use std::collections::BTreeMap;

use camino::Utf8Path;
use serde::Deserialize;

use crate::errors::{ConfigError, UsageError, XdistError};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    #[serde(default)]
    groups: BTreeMap<String, Vec<String>>,
}

/// Group rules, in the order they are tried.
#[derive(Debug, Default)]
pub struct Groups {
    rules: Vec<(String, String)>,
}

impl Groups {
    /// Reads `.config/xdist.toml` under `workspace_root` (if there is one) and adds the
    /// `NAME=PATTERN` rules given on the command line before its own.
    pub fn load(workspace_root: &Utf8Path, cli: &[String]) -> Result<Self, XdistError> {
        let mut rules = flag_rules(cli)?;
        rules.extend(file_rules(workspace_root)?);
        Ok(Self { rules })
    }

    /// The group of the test with id `<binary-id> <name>`, if any.
    pub fn group_of(&self, test_id: &str) -> Option<&str> {
        self.rules
            .iter()
            .find(|(_, pattern)| test_id.contains(pattern.as_str()))
            .map(|(n, _)| n.as_str())
    }
}

/// The rules of `--group NAME=PATTERN` flags, in order.
fn flag_rules(cli: &[String]) -> Result<Vec<(String, String)>, UsageError> {
    cli.iter()
        .map(|rule| {
            rule.split_once('=')
                .filter(|(name, pattern)| !name.is_empty() && !pattern.is_empty())
                .map(|(name, pattern)| (name.to_string(), pattern.to_string()))
                .ok_or_else(|| UsageError::BadGroupFlag { rule: rule.clone() })
        })
        .collect()
}

/// The rules of `.config/xdist.toml`, groups in name order; none without the file.
fn file_rules(workspace_root: &Utf8Path) -> Result<Vec<(String, String)>, ConfigError> {
    let path = workspace_root.join(".config").join("xdist.toml");
    let Ok(text) = std::fs::read_to_string(&path) else { return Ok(Vec::new()) };
    let file: ConfigFile = toml::from_str(&text)
        .map_err(|source| ConfigError::Parse { path: path.into_std_path_buf(), source })?;
    Ok(file
        .groups
        .into_iter()
        .flat_map(|(name, patterns)| patterns.into_iter().map(move |p| (name.clone(), p)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line_rules_come_first_then_the_file() {
        let dir = std::env::temp_dir().join(format!("xdist-groups-{}", std::process::id()));
        std::fs::create_dir_all(dir.join(".config")).unwrap();
        std::fs::write(
            dir.join(".config/xdist.toml"),
            "[groups]\nslow = [\"fixture::\"]\ndb = [\"db::\"]\n",
        )
        .unwrap();
        let root = Utf8Path::from_path(&dir).unwrap();
        let groups = Groups::load(root, &["fast=fixture::tests::a".into()]).unwrap();
        assert_eq!(groups.group_of("core fixture::tests::a"), Some("fast"));
        assert_eq!(groups.group_of("core fixture::tests::b"), Some("slow"));
        assert_eq!(groups.group_of("store db::put"), Some("db"));
        assert_eq!(groups.group_of("core math::adds"), None);
        std::fs::write(dir.join(".config/xdist.toml"), "[groups]\nslow = \"not a list\"\n")
            .unwrap();
        let err = Groups::load(root, &[]).unwrap_err();
        assert!(matches!(err, XdistError::Config(ConfigError::Parse { .. })), "{err:?}");
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().starts_with(&format!("{root}/.config/xdist.toml: ")), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_bad_group_flag_is_a_usage_error() {
        let root = Utf8Path::new("/nonexistent");
        for bad in ["nogroup", "=pattern", "name="] {
            let err = Groups::load(root, &[bad.into()]).unwrap_err();
            assert!(matches!(err, XdistError::Usage(UsageError::BadGroupFlag { .. })), "{err:?}");
            assert_eq!(err.to_string(), format!("--group takes NAME=PATTERN, got `{bad}`"));
        }
    }
}
