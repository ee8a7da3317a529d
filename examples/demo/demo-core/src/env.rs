//! Tests checking the environment a test process runs in.
//!
//! Under plain `cargo test` the `XDIST_*` variables are unset and these pass. A
//! runner's end-to-end test makes them strict: `DEMO_EXPECT_TESTRUNUID=<uid>`
//! (and `DEMO_EXPECT_WORKER_COUNT=<n>`) requires `XDIST_WORKER`,
//! `XDIST_WORKER_COUNT` and `XDIST_TESTRUN_UID` with those values. With
//! `DEMO_LOG_DIR` set, `xdist_env` appends what it saw to `xdist-env.log` and
//! `cargo_env` writes the variables cargo sets to `env-demo_core.txt`.

#[cfg(test)]
mod tests {
    use crate::testlog;
    use std::path::Path;

    #[test]
    fn cargo_env() {
        let manifest_dir = env!("CARGO_MANIFEST_DIR");
        let cwd = std::env::current_dir().expect("current_dir");
        assert_eq!(
            cwd.canonicalize().expect("canonicalize cwd"),
            Path::new(manifest_dir)
                .canonicalize()
                .expect("canonicalize CARGO_MANIFEST_DIR"),
            "tests must run in the package root"
        );
        assert_eq!(
            std::env::var("CARGO_MANIFEST_DIR").as_deref(),
            Ok(manifest_dir)
        );
        assert_eq!(
            std::env::var("CARGO_PKG_NAME").as_deref(),
            Ok(env!("CARGO_PKG_NAME"))
        );
        assert_eq!(
            std::env::var("CARGO_PKG_VERSION").as_deref(),
            Ok(env!("CARGO_PKG_VERSION"))
        );
        // As written in the manifest (inherited from the workspace): `1.85`.
        assert_eq!(env!("CARGO_PKG_RUST_VERSION"), "1.85");
        assert_eq!(
            std::env::var("CARGO_PKG_RUST_VERSION").as_deref(),
            Ok(env!("CARGO_PKG_RUST_VERSION"))
        );
        testlog::dump_env("env-demo_core.txt");
    }

    #[test]
    fn xdist_env() {
        let expected_uid = std::env::var("DEMO_EXPECT_TESTRUNUID").ok();
        let expected_count = std::env::var("DEMO_EXPECT_WORKER_COUNT").ok();
        let strict = expected_uid.is_some() || expected_count.is_some();
        let worker = match std::env::var("XDIST_WORKER") {
            Ok(worker) => worker,
            Err(_) if !strict => return,
            Err(e) => panic!("XDIST_WORKER must be set: {e}"),
        };
        let digits = worker
            .strip_prefix("gw")
            .unwrap_or_else(|| panic!("XDIST_WORKER={worker:?} does not start with gw"));
        assert!(
            !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()),
            "XDIST_WORKER={worker:?} is not gw<digits>"
        );
        let count_text = std::env::var("XDIST_WORKER_COUNT")
            .expect("XDIST_WORKER_COUNT must be set when XDIST_WORKER is");
        let count: u32 = count_text
            .parse()
            .expect("XDIST_WORKER_COUNT must be a u32");
        assert!(count >= 1, "XDIST_WORKER_COUNT={count} must be >= 1");
        let uid = std::env::var("XDIST_TESTRUN_UID")
            .expect("XDIST_TESTRUN_UID must be set when XDIST_WORKER is");
        assert!(!uid.is_empty(), "XDIST_TESTRUN_UID must be non-empty");
        if let Some(expected) = expected_uid {
            assert_eq!(uid, expected, "XDIST_TESTRUN_UID");
        }
        if let Some(expected) = expected_count {
            assert_eq!(count_text, expected, "XDIST_WORKER_COUNT");
        }
        testlog::append(
            "xdist-env.log",
            &format!("xdist_env worker={worker} count={count} uid={uid}"),
        );
    }
}
