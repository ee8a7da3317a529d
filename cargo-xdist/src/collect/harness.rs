//! Which targets of a package set `harness = false`, read from its manifest (`cargo
//! metadata` does not say): the `[lib]`, `[[bin]]`, `[[test]]`, `[[bench]]` and
//! `[[example]]` tables, matched by target name (the library by its table alone: a package
//! has one). Such a binary is the package's own program: listing gives it the benefit of
//! the doubt (see `listing.rs`) where a libtest binary that does not list is an error.

use std::collections::BTreeSet;

use camino::Utf8Path;
use cargo_metadata::TargetKind;

/// The `harness = false` targets of one manifest.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct CustomHarnesses {
    /// The `[lib]` table says `harness = false`.
    lib: bool,
    /// (table, target name) of the others, e.g. `("test", "mimic")`.
    targets: BTreeSet<(String, String)>,
}

/// The tables of targets other than the library.
const TABLES: [&str; 4] = ["bin", "test", "bench", "example"];

impl CustomHarnesses {
    /// Reads the manifest at `path`; one that cannot be read or parsed has none (cargo just
    /// built from it, so that does not happen).
    pub fn read(path: &Utf8Path) -> Self {
        std::fs::read_to_string(path).ok().and_then(|text| Self::parse(&text)).unwrap_or_default()
    }

    /// The `harness = false` targets of a manifest's text, or `None` if it is not TOML.
    pub fn parse(text: &str) -> Option<Self> {
        let manifest: toml::Table = toml::from_str(text).ok()?;
        let off = |target: &toml::Value| {
            target.get("harness").and_then(toml::Value::as_bool) == Some(false)
        };
        let mut harnesses =
            Self { lib: manifest.get("lib").is_some_and(off), targets: BTreeSet::new() };
        for table in TABLES {
            let Some(targets) = manifest.get(table).and_then(toml::Value::as_array) else {
                continue;
            };
            for target in targets.iter().filter(|t| off(t)) {
                if let Some(name) = target_name(target) {
                    harnesses.targets.insert((table.to_string(), name));
                }
            }
        }
        Some(harnesses)
    }

    /// Whether the target of `kind` named `name` (as `cargo metadata` gives them) has
    /// `harness = false`.
    pub fn contains(&self, kind: &TargetKind, name: &str) -> bool {
        let table = match kind {
            TargetKind::Lib
            | TargetKind::RLib
            | TargetKind::DyLib
            | TargetKind::CDyLib
            | TargetKind::StaticLib
            | TargetKind::ProcMacro => return self.lib,
            TargetKind::Bin => "bin",
            TargetKind::Test => "test",
            TargetKind::Bench => "bench",
            TargetKind::Example => "example",
            _ => return false,
        };
        self.targets.iter().any(|(t, n)| t == table && n == name)
    }
}

/// A target table's name: `name`, else (as cargo infers it) the stem of its `path`.
fn target_name(target: &toml::Value) -> Option<String> {
    if let Some(name) = target.get("name").and_then(toml::Value::as_str) {
        return Some(name.to_string());
    }
    let path = Utf8Path::new(target.get("path")?.as_str()?);
    Some(path.file_stem()?.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MANIFEST: &str = r#"
[package]
name = "demo-pkg"
version = "0.1.0"

[lib]
harness = false

[[bin]]
name = "tool"
harness = false

[[bin]]
name = "other-tool"

[[test]]
name = "plain"
harness = false

[[test]]
name = "libtest"
harness = true

[[test]]
path = "tests/by_path.rs"
harness = false

[[bench]]
name = "speed"
harness = false

[[example]]
name = "demo"
harness = false
"#;

    #[test]
    fn harness_false_targets_are_found_by_table_and_name() {
        let h = CustomHarnesses::parse(MANIFEST).unwrap();
        assert!(h.contains(&TargetKind::Lib, "demo_pkg"));
        assert!(h.contains(&TargetKind::ProcMacro, "any_name"), "one lib per package");
        assert!(h.contains(&TargetKind::Bin, "tool"));
        assert!(!h.contains(&TargetKind::Bin, "other-tool"));
        assert!(h.contains(&TargetKind::Test, "plain"));
        assert!(!h.contains(&TargetKind::Test, "libtest"));
        assert!(h.contains(&TargetKind::Test, "by_path"));
        assert!(h.contains(&TargetKind::Bench, "speed"));
        assert!(h.contains(&TargetKind::Example, "demo"));
        // Matched by table: a test named like a harness = false bench is not one.
        assert!(!h.contains(&TargetKind::Test, "speed"));
        assert!(!h.contains(&TargetKind::Test, "tool"));
    }

    #[test]
    fn manifests_without_harness_false_have_none() {
        let plain = "[package]\nname = \"p\"\n\n[[test]]\nname = \"t\"\n";
        assert_eq!(CustomHarnesses::parse(plain), Some(CustomHarnesses::default()));
        let lib_on = "[package]\nname = \"p\"\n[lib]\nharness = true\n";
        assert!(!CustomHarnesses::parse(lib_on).unwrap().contains(&TargetKind::Lib, "p"));
        assert_eq!(CustomHarnesses::parse("not = [toml"), None);
        assert_eq!(
            CustomHarnesses::read(Utf8Path::new("/nonexistent/Cargo.toml")),
            CustomHarnesses::default()
        );
    }
}
