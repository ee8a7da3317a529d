//! Named test groups for `--dist loadgroup`: the tests of a group run on one worker, in list
//! order. Groups come from `--group NAME=PATTERN`, from profile overrides with a `group`
//! (docs/configuration.md) and from the `[groups]` table of `.config/xdist.toml` in the
//! workspace root (read by [`crate::config::file`]):
//!
//! ```toml
//! [groups]
//! database = ["db::", "storage::tests::migrations"]
//! ```
//!
//! A test belongs to the first group (command line first, then overrides, then the file in
//! name order) one of whose patterns its id `<binary-id> <test name>` contains.

use crate::errors::UsageError;

/// Group rules, in the order they are tried.
#[derive(Debug, Default)]
pub struct Groups {
    rules: Vec<(String, String)>,
}

impl Groups {
    /// The rules of `--group NAME=PATTERN` flags first, then those of overrides with a
    /// `group` (their filter is the pattern), then the file's `[groups]`.
    pub fn new(
        cli: &[String],
        overrides: Vec<(String, String)>,
        file: Vec<(String, String)>,
    ) -> Result<Self, UsageError> {
        let mut rules = flag_rules(cli)?;
        rules.extend(overrides);
        rules.extend(file);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line_rules_come_first_then_overrides_then_the_file() {
        let file = vec![("slow".into(), "fixture::".into()), ("db".into(), "db::".into())];
        let overrides = vec![("pinned".into(), "fixture::tests::c".into())];
        let groups = Groups::new(&["fast=fixture::tests::a".into()], overrides, file).unwrap();
        assert_eq!(groups.group_of("core fixture::tests::a"), Some("fast"));
        assert_eq!(groups.group_of("core fixture::tests::b"), Some("slow"));
        assert_eq!(groups.group_of("core fixture::tests::c"), Some("pinned"));
        assert_eq!(groups.group_of("store db::put"), Some("db"));
        assert_eq!(groups.group_of("core math::adds"), None);
    }

    #[test]
    fn a_bad_group_flag_is_a_usage_error() {
        for bad in ["nogroup", "=pattern", "name="] {
            let err = Groups::new(&[bad.into()], Vec::new(), Vec::new()).unwrap_err();
            assert!(matches!(err, UsageError::BadGroupFlag { .. }), "{err:?}");
            assert_eq!(err.to_string(), format!("--group takes NAME=PATTERN, got `{bad}`"));
        }
    }
}
