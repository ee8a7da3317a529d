//! `target/nextest/binaries-metadata.json`, the archive's description of the build: nextest's
//! `BinaryListSummary` (reference notes §1.3), as our own serde types rather than the
//! `nextest-metadata` crate, whose dependency tree (target-spec, guppy's types) and MSRV we
//! would take on for a dozen fields. Written as nextest writes it (kebab-case keys, binary ids
//! in nextest's order, two-space indent, no trailing newline); read tolerantly: unknown fields
//! are ignored and the fields nextest added over time have defaults, so archives of older
//! nextest versions read too.

use std::collections::BTreeMap;

use camino::Utf8PathBuf;
use serde::{Deserialize, Serialize};

/// The whole file.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct BinaryListSummary {
    /// Where the build was and what it produced besides the test binaries.
    pub rust_build_meta: RustBuildMeta,
    /// Test binaries by binary id (written in nextest's binary-id order).
    #[serde(with = "ordered_map")]
    pub rust_binaries: Vec<(String, RustTestBinary)>,
}

/// The build's locations and side products; paths are relative to the target dir unless
/// said otherwise.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct RustBuildMeta {
    /// The target dir on the build machine (absolute): the prefix that is remapped.
    pub target_directory: Utf8PathBuf,
    /// The build dir, when it differs; archives leave it out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_directory: Option<Utf8PathBuf>,
    /// `[<triple>/]<profile>` dirs the binaries were built in (`debug`).
    pub base_output_directories: Vec<String>,
    /// `[[bin]]` executables and dynamic libraries, by package id.
    pub non_test_binaries: BTreeMap<String, Vec<NonTestBinary>>,
    /// Build script `OUT_DIR`s of the workspace packages with a test binary, by package id.
    #[serde(default)]
    pub build_script_out_dirs: BTreeMap<String, Utf8PathBuf>,
    /// `cargo:rustc-env` variables of those build scripts, by package id.
    #[serde(default)]
    pub build_script_info: Option<BTreeMap<String, BuildScriptInfo>>,
    /// Library search dirs (`cargo:rustc-link-search`) inside the target dir.
    pub linked_paths: Vec<Utf8PathBuf>,
    /// The host (and cross target) platform and its standard library dir.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platforms: Option<Platforms>,
    /// Deprecated by nextest, still written: the platform the tests run on.
    #[serde(default)]
    pub target_platforms: Vec<PlatformSummary>,
    /// Deprecated by nextest, still written: the cross target's triple, else null.
    #[serde(default)]
    pub target_platform: Option<String>,
}

/// A non-test binary of a package.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct NonTestBinary {
    /// The target name (`demo-cli`).
    pub name: String,
    /// `bin-exe` or `dylib`.
    pub kind: String,
    /// Relative to the target dir.
    pub path: Utf8PathBuf,
    /// `target` or `host`, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_platform: Option<String>,
}

/// A build script's results.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct BuildScriptInfo {
    /// `cargo:rustc-env` variables (values as on the build machine; not remapped).
    #[serde(default)]
    pub envs: BTreeMap<String, String>,
}

/// The host platform and the cross target, if any.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct Platforms {
    /// The build machine.
    pub host: HostPlatform,
    /// The cross-compilation target (at most one).
    #[serde(default)]
    pub targets: Vec<HostPlatform>,
}

/// A platform and where its standard library is.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct HostPlatform {
    /// The triple.
    pub platform: PlatformSummary,
    /// rustc's target libdir on the build machine.
    pub libdir: Libdir,
}

/// A target triple as nextest (target-spec) summarises it.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct PlatformSummary {
    /// `x86_64-unknown-linux-gnu`.
    pub triple: String,
    /// `"unknown"` (nextest does not detect them).
    #[serde(default = "unknown")]
    pub target_features: serde_json::Value,
}

fn unknown() -> serde_json::Value {
    serde_json::Value::String("unknown".into())
}

impl PlatformSummary {
    /// A triple with unknown features, as nextest writes it.
    pub fn new(triple: &str) -> Self {
        Self { triple: triple.to_string(), target_features: unknown() }
    }
}

/// Where a platform's standard library is.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum Libdir {
    /// Found at this path (on the build machine).
    Available {
        /// The dir.
        path: Utf8PathBuf,
    },
    /// Not found (`rustc-failed`, `not-in-archive`, ...).
    Unavailable {
        /// Why.
        reason: String,
    },
}

/// A test binary.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct RustTestBinary {
    /// nextest's binary id.
    pub binary_id: String,
    /// The cargo target's name.
    pub binary_name: String,
    /// Its package.
    pub package_id: String,
    /// `lib`, `proc-macro`, `test`, `bench`, `bin` or `example`.
    pub kind: String,
    /// Absolute, on the build machine (under the target dir).
    pub binary_path: Utf8PathBuf,
    /// `target`, or `host` for proc-macros.
    pub build_platform: String,
}

/// A JSON object kept as an ordered list of pairs, so binary ids keep nextest's order.
mod ordered_map {
    use serde::de::{Deserializer, MapAccess, Visitor};
    use serde::ser::{SerializeMap, Serializer};
    use serde::{Deserialize, Serialize};

    pub fn serialize<S: Serializer, V: Serialize>(
        pairs: &[(String, V)],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(pairs.len()))?;
        for (key, value) in pairs {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }

    pub fn deserialize<'de, D: Deserializer<'de>, V: Deserialize<'de>>(
        deserializer: D,
    ) -> Result<Vec<(String, V)>, D::Error> {
        struct Pairs<V>(std::marker::PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for Pairs<V> {
            type Value = Vec<(String, V)>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a map")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut pairs = Vec::new();
                while let Some(pair) = map.next_entry()? {
                    pairs.push(pair);
                }
                Ok(pairs)
            }
        }
        deserializer.deserialize_map(Pairs(std::marker::PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The file nextest 0.9.143 wrote for the reference notes' workspace (§1.3, one binary),
    /// reads, and writes back with the same keys in the same order.
    #[test]
    fn nextests_file_round_trips() {
        let nextest = r#"{
  "rust-build-meta": {
    "target-directory": "/ws/target",
    "base-output-directories": [
      "debug"
    ],
    "non-test-binaries": {
      "path+file:///ws/beta#0.1.0": [
        {
          "name": "beta-cli",
          "kind": "bin-exe",
          "path": "debug/beta-cli",
          "build-platform": "target"
        }
      ]
    },
    "build-script-out-dirs": {
      "path+file:///ws/beta#0.1.0": "debug/build/beta-afef5f3ab6cf6bfb/out"
    },
    "build-script-info": {
      "path+file:///ws/beta#0.1.0": {
        "envs": {
          "BETA_GEN_PATH": "/ws/target/debug/build/beta-afef5f3ab6cf6bfb/out/generated.txt"
        }
      }
    },
    "linked-paths": [
      "debug/build/beta-afef5f3ab6cf6bfb/out/native"
    ],
    "platforms": {
      "host": {
        "platform": {
          "triple": "x86_64-unknown-linux-gnu",
          "target-features": "unknown"
        },
        "libdir": {
          "status": "available",
          "path": "/rust/lib/rustlib/x86_64-unknown-linux-gnu/lib"
        }
      },
      "targets": []
    },
    "target-platforms": [
      {
        "triple": "x86_64-unknown-linux-gnu",
        "target-features": "unknown"
      }
    ],
    "target-platform": null
  },
  "rust-binaries": {
    "beta::integ": {
      "binary-id": "beta::integ",
      "binary-name": "integ",
      "package-id": "path+file:///ws/beta#0.1.0",
      "kind": "test",
      "binary-path": "/ws/target/debug/deps/integ-c47c70462dcf097e",
      "build-platform": "target"
    },
    "beta::bin/beta-cli": {
      "binary-id": "beta::bin/beta-cli",
      "binary-name": "beta-cli",
      "package-id": "path+file:///ws/beta#0.1.0",
      "kind": "bin",
      "binary-path": "/ws/target/debug/deps/beta_cli-8ed3ca077f19a5ca",
      "build-platform": "target"
    }
  }
}"#;
        let summary: BinaryListSummary = serde_json::from_str(nextest).unwrap();
        assert_eq!(summary.rust_binaries[1].0, "beta::bin/beta-cli");
        assert_eq!(serde_json::to_string_pretty(&summary).unwrap(), nextest);
    }

    /// An archive of an old nextest: no build-script fields, no platforms.
    #[test]
    fn old_files_read_with_defaults() {
        let old = r#"{"rust-build-meta": {"target-directory": "/t", "base-output-directories": [],
            "non-test-binaries": {}, "linked-paths": [], "some-future-field": 1},
            "rust-binaries": {}}"#;
        let summary: BinaryListSummary = serde_json::from_str(old).unwrap();
        assert!(summary.rust_build_meta.build_script_info.is_none());
        assert!(summary.rust_build_meta.platforms.is_none());
    }
}
