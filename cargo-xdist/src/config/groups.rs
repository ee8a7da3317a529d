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
//! name order) one of whose patterns its id `<binary-id> <test name>` contains, or, for an
//! override whose filter is a filterset, whose filterset it is in.

use crate::config::filterset::{Filterset, TestQuery};
use crate::errors::UsageError;

/// What puts a test in a group.
#[derive(Clone, Debug)]
pub enum GroupPattern {
    /// A substring of its id.
    Substring(String),
    /// A filterset (an override's `filter`) it is in.
    Filterset(Filterset),
}

/// Group rules, in the order they are tried.
#[derive(Debug, Default)]
pub struct Groups {
    rules: Vec<(String, GroupPattern)>,
}

impl Groups {
    /// The rules of `--group NAME=PATTERN` flags first, then those of overrides with a
    /// `group` (their filter is the pattern), then the file's `[groups]`.
    pub fn new(
        cli: &[String],
        overrides: Vec<(String, GroupPattern)>,
        file: Vec<(String, String)>,
    ) -> Result<Self, UsageError> {
        let substring = |(name, pattern)| (name, GroupPattern::Substring(pattern));
        let mut rules: Vec<_> = flag_rules(cli)?.into_iter().map(substring).collect();
        rules.extend(overrides);
        rules.extend(file.into_iter().map(substring));
        Ok(Self { rules })
    }

    /// The group of the test with id `<binary-id> <name>`, which `query` describes, if any.
    pub fn group_of(&self, test_id: &str, query: &TestQuery<'_>) -> Option<&str> {
        self.rules
            .iter()
            .find(|(_, pattern)| match pattern {
                GroupPattern::Substring(pattern) => test_id.contains(pattern.as_str()),
                GroupPattern::Filterset(set) => set.matches(query, None),
            })
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

    /// The query of a library test with id `<binary-id> <name>`.
    fn query(id: &str) -> TestQuery<'_> {
        let (binary_id, test) = id.split_once(' ').unwrap();
        TestQuery { package: binary_id, binary_id, binary: binary_id, kind: "lib", test }
    }

    fn group_of<'g>(groups: &'g Groups, id: &str) -> Option<&'g str> {
        groups.group_of(id, &query(id))
    }

    #[test]
    fn command_line_rules_come_first_then_overrides_then_the_file() {
        let file = vec![("slow".into(), "fixture::".into()), ("db".into(), "db::".into())];
        let overrides =
            vec![("pinned".into(), GroupPattern::Substring("fixture::tests::c".into()))];
        let groups = Groups::new(&["fast=fixture::tests::a".into()], overrides, file).unwrap();
        assert_eq!(group_of(&groups, "core fixture::tests::a"), Some("fast"));
        assert_eq!(group_of(&groups, "core fixture::tests::b"), Some("slow"));
        assert_eq!(group_of(&groups, "core fixture::tests::c"), Some("pinned"));
        assert_eq!(group_of(&groups, "store db::put"), Some("db"));
        assert_eq!(group_of(&groups, "core math::adds"), None);
    }

    #[test]
    fn an_override_filterset_groups_the_tests_it_selects() {
        let set = Filterset::parse("test(/^db::/) & package(store)").unwrap();
        let overrides = vec![("serial".into(), GroupPattern::Filterset(set))];
        let file = vec![("any-db".into(), "db::".into())];
        let groups = Groups::new(&[], overrides, file).unwrap();
        assert_eq!(group_of(&groups, "store db::put"), Some("serial"));
        // Not the package, and not at the start of the name: the file's substring rule.
        assert_eq!(group_of(&groups, "cache db::put"), Some("any-db"));
        assert_eq!(group_of(&groups, "store x::db::put"), Some("any-db"));
        assert_eq!(group_of(&groups, "store math::adds"), None);
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
