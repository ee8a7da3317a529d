//! Tests checking the environment a test process runs in.

#[cfg(test)]
mod tests {
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
    }

    #[test]
    fn xdist_env() {
        let Ok(worker) = std::env::var("XDIST_WORKER") else {
            return;
        };
        let digits = worker
            .strip_prefix("gw")
            .unwrap_or_else(|| panic!("XDIST_WORKER={worker:?} does not start with gw"));
        assert!(
            !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()),
            "XDIST_WORKER={worker:?} is not gw<digits>"
        );
        let count: u32 = std::env::var("XDIST_WORKER_COUNT")
            .expect("XDIST_WORKER_COUNT must be set when XDIST_WORKER is")
            .parse()
            .expect("XDIST_WORKER_COUNT must be a u32");
        assert!(count >= 1, "XDIST_WORKER_COUNT={count} must be >= 1");
        let uid = std::env::var("XDIST_TESTRUN_UID")
            .expect("XDIST_TESTRUN_UID must be set when XDIST_WORKER is");
        assert!(!uid.is_empty(), "XDIST_TESTRUN_UID must be non-empty");
    }
}
