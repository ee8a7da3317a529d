//! A worker setup for another machine: every path under the build's target dir, its
//! workspace and the standard library's dir moves under where that machine has them (the
//! remap of an archive run, docs/archives.md), and the spec's `env:` variables are added.

use xdist_core::protocol::WorkerSetup;

/// Path prefixes to replace, in order (the longest first, so a target dir inside the
/// workspace moves with the target dir).
#[derive(Clone, Debug, Default)]
pub struct Remap {
    rules: Vec<(String, String)>,
}

impl Remap {
    /// Rules from (local prefix, remote prefix) pairs.
    pub fn new(mut rules: Vec<(String, String)>) -> Self {
        rules.retain(|(from, _)| from.len() > 1);
        rules.sort_by_key(|rule| std::cmp::Reverse(rule.0.len()));
        Self { rules }
    }

    /// One path (or any text): the first matching prefix replaced, at a `/` boundary.
    pub fn path(&self, text: &str) -> String {
        for (from, to) in &self.rules {
            if text == from {
                return to.clone();
            }
            if let Some(rest) = text.strip_prefix(from.as_str()) {
                if rest.starts_with('/') {
                    return format!("{to}{rest}");
                }
            }
        }
        text.to_string()
    }

    /// A value that may be a `:`-separated list of paths (`LD_LIBRARY_PATH`).
    pub fn value(&self, text: &str) -> String {
        text.split(':').map(|part| self.path(part)).collect::<Vec<_>>().join(":")
    }

    /// `setup` as the other machine needs it, with `env` added to every binary's variables.
    pub fn setup(&self, setup: &WorkerSetup, env: &[(String, String)]) -> WorkerSetup {
        let mut setup = setup.clone();
        for binary in &mut setup.binaries {
            binary.path = self.path(&binary.path);
            binary.cwd = self.path(&binary.cwd);
            for (_, value) in &mut binary.env {
                *value = self.value(value);
            }
            binary.env.extend(env.iter().cloned());
            for arg in binary.runner.iter_mut().chain(binary.args.iter_mut()) {
                *arg = self.value(arg);
            }
        }
        setup
    }
}

#[cfg(test)]
mod tests {
    use xdist_core::protocol::BinarySpec;

    use super::*;

    #[test]
    fn prefixes_move_at_path_boundaries() {
        let remap = Remap::new(vec![
            ("/ws".into(), "/r/src".into()),
            ("/ws/target".into(), "/r/arch/target".into()),
            ("/sys/lib".into(), "/r/arch/target/nextest/libdirs/host".into()),
        ]);
        assert_eq!(remap.path("/ws/target/debug/deps/t-1"), "/r/arch/target/debug/deps/t-1");
        assert_eq!(remap.path("/ws/crates/a"), "/r/src/crates/a");
        assert_eq!(remap.path("/ws"), "/r/src");
        assert_eq!(remap.path("/wsx/a"), "/wsx/a");
        assert_eq!(remap.path("/elsewhere"), "/elsewhere");
        assert_eq!(
            remap.value("/ws/target/debug:/sys/lib:/usr/lib"),
            "/r/arch/target/debug:/r/arch/target/nextest/libdirs/host:/usr/lib"
        );
        let setup = WorkerSetup {
            binaries: vec![BinarySpec {
                env: vec![("CARGO_MANIFEST_DIR".into(), "/ws/crates/a".into())],
                ..BinarySpec::libtest("/ws/target/debug/deps/t-1", "/ws/crates/a")
            }],
            tests: vec![],
            include_ignored: false,
            limits: Default::default(),
            batching: Default::default(),
            first: 0,
            no_capture: false,
        };
        let moved = remap.setup(&setup, &[("K".into(), "v".into())]);
        let b = &moved.binaries[0];
        assert_eq!(b.cwd, "/r/src/crates/a");
        assert_eq!(b.env[0].1, "/r/src/crates/a");
        assert_eq!(b.env[1], ("K".to_string(), "v".to_string()));
    }
}
