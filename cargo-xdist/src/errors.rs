//! The errors of `cargo xdist` and the exit code each maps to (see docs/exit-codes.md).

/// Exit codes, as documented in `docs/exit-codes.md` (nextest's where they overlap).
pub mod exit_code {
    /// Every selected test passed.
    pub const OK: u8 = 0;
    /// An internal error the other codes do not cover.
    pub const INTERNAL: u8 = 1;
    /// Bad command-line usage.
    pub const USAGE: u8 = 2;
    /// No test matched the filters (unless `--no-tests=pass|warn`).
    pub const NO_TESTS: u8 = 4;
    /// A test failed or was not run.
    pub const TEST_FAILED: u8 = 100;
    /// `cargo test --no-run` failed.
    pub const BUILD_FAILED: u8 = 101;
    /// `cargo metadata` failed.
    pub const METADATA_FAILED: u8 = 102;
    /// A test binary could not be listed.
    pub const LIST_FAILED: u8 = 104;
    /// The run was interrupted by SIGINT, SIGTERM or SIGHUP (128 + SIGINT, as shells report).
    pub const INTERRUPTED: u8 = 130;
}

/// Everything that ends `cargo xdist` before or instead of a test result.
#[derive(Debug, thiserror::Error)]
pub enum XdistError {
    /// The command line is wrong.
    #[error("{0}")]
    Usage(String),
    /// cargo could not build the tests.
    #[error("building the tests failed: {0}")]
    Build(String),
    /// `cargo metadata` failed.
    #[error("cargo metadata failed: {0}")]
    Metadata(String),
    /// A test binary could not list its tests.
    #[error("listing tests of `{binary_id}` failed: {message}")]
    List {
        /// The binary.
        binary_id: String,
        /// What went wrong.
        message: String,
    },
    /// Anything else.
    #[error("{0}")]
    Internal(String),
}

impl XdistError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            XdistError::Usage(_) => exit_code::USAGE,
            XdistError::Build(_) => exit_code::BUILD_FAILED,
            XdistError::Metadata(_) => exit_code::METADATA_FAILED,
            XdistError::List { .. } => exit_code::LIST_FAILED,
            XdistError::Internal(_) => exit_code::INTERNAL,
        }
    }
}
