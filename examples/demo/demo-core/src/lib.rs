//! `demo-core`: a tiny library whose unit tests exercise the behaviours that
//! cargo-xdist has to handle (passes, failures, ignores, `should_panic`,
//! `Result` tests, a shared slow fixture, a crashing test, environment).
//!
//! See `../README.md` for the full list of tests and their expected outcomes.

pub mod crash;
pub mod env;
pub mod failing;
pub mod fixture;
pub mod ignored;
pub mod math;
pub mod text;

/// Shared helpers for tests that log to `$DEMO_LOG_DIR`.
#[cfg(test)]
pub(crate) mod testlog {
    use std::fs::OpenOptions;
    use std::io::Write;

    /// Value of `XDIST_WORKER`, or `none` when unset.
    pub fn worker() -> String {
        std::env::var("XDIST_WORKER").unwrap_or_else(|_| "none".to_string())
    }

    /// Append `line` (plus a newline) to `$DEMO_LOG_DIR/<file>` if
    /// `DEMO_LOG_DIR` is set. The line is written with a single `write_all`
    /// on an `O_APPEND` handle so concurrent writers do not interleave.
    pub fn append(file: &str, line: &str) {
        let Some(dir) = std::env::var_os("DEMO_LOG_DIR") else {
            return;
        };
        let path = std::path::Path::new(&dir).join(file);
        let mut f = OpenOptions::new()
            .append(true)
            .create(true)
            .open(&path)
            .unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()));
        let mut buf = String::with_capacity(line.len() + 1);
        buf.push_str(line);
        buf.push('\n');
        f.write_all(buf.as_bytes())
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    }

    /// Write the variables cargo sets for a test process (`CARGO*`, `OUT_DIR`,
    /// the dynamic library path), one `NAME=value` per line in name order, to
    /// `$DEMO_LOG_DIR/<file>` if `DEMO_LOG_DIR` is set.
    pub fn dump_env(file: &str) {
        let Some(dir) = std::env::var_os("DEMO_LOG_DIR") else {
            return;
        };
        let mut vars: Vec<(String, String)> = std::env::vars()
            .filter(|(name, _)| {
                name.starts_with("CARGO")
                    || name == "OUT_DIR"
                    || name == "LD_LIBRARY_PATH"
                    || name == "DYLD_FALLBACK_LIBRARY_PATH"
            })
            .collect();
        vars.sort();
        let text: String = vars.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
        let path = std::path::Path::new(&dir).join(file);
        std::fs::write(&path, text)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    }

    /// Strip the leading `demo_core::` from a `module_path!()` so the result
    /// matches libtest's test names (e.g. `fixture::tests`).
    pub fn libtest_path(module_path: &str) -> &str {
        module_path
            .strip_prefix("demo_core::")
            .unwrap_or(module_path)
    }
}
