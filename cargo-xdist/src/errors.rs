//! The errors of `cargo xdist`, one type per failing operation, and the one table that maps
//! each to its exit code (see docs/exit-codes.md).
//!
//! Two tiers, as in nextest: the operations return their own types ([`UsageError`],
//! [`ConfigError`], [`BuildError`], [`MetadataError`], [`ListError`], [`ArchiveError`],
//! [`DurationsError`], [`InternalError`]), each carrying the underlying error as its `#[source]`; [`XdistError`] wraps them for
//! `main`, which prints it as one `error: ...` line and exits with
//! [`XdistError::exit_code`]. As elsewhere in the workspace (`FrameError`, `StartError`,
//! `cargo_metadata::Error`), a message is complete on its own: it already says what its
//! source said, so `main` prints the message alone, not the chain.

use std::io;
use std::num::ParseIntError;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::string::FromUtf8Error;

use camino::Utf8PathBuf;

use xdist_core::codec::FrameError;
use xdist_worker::command::describe;

/// Exit codes, as documented in `docs/exit-codes.md` (nextest's where they overlap).
pub mod exit_code {
    /// Every selected test passed.
    pub const OK: u8 = 0;
    /// An internal error the other codes do not cover.
    pub const INTERNAL: u8 = 1;
    /// Bad command-line usage, or a configuration file cargo-xdist cannot use.
    pub const USAGE: u8 = 2;
    /// No test matched the filters (unless `--no-tests=pass|warn`).
    pub const NO_TESTS: u8 = 4;
    /// A test failed or was not run.
    pub const TEST_FAILED: u8 = 100;
    /// `cargo test --no-run` failed.
    pub const BUILD_FAILED: u8 = 101;
    /// `cargo metadata` failed.
    pub const METADATA_FAILED: u8 = 102;
    /// An archive could not be written, or was refused or unreadable when read.
    pub const ARCHIVE_FAILED: u8 = 103;
    /// A test binary could not be listed.
    pub const LIST_FAILED: u8 = 104;
    /// A setup script failed: no test ran (nextest's code for a failed setup script).
    pub const SETUP_FAILED: u8 = 105;
    /// Every test passed but a teardown script failed.
    pub const TEARDOWN_FAILED: u8 = 106;
    /// The run was interrupted by SIGINT, SIGTERM or SIGHUP (128 + SIGINT, as shells report).
    pub const INTERRUPTED: u8 = 130;
}

/// Everything that ends `cargo xdist` before or instead of a test result.
#[derive(Debug, thiserror::Error)]
pub enum XdistError {
    /// The command line is wrong.
    #[error(transparent)]
    Usage(#[from] UsageError),
    /// A configuration file is unreadable or wrong.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// cargo could not build the tests.
    #[error(transparent)]
    Build(#[from] BuildError),
    /// `cargo metadata` failed.
    #[error(transparent)]
    Metadata(#[from] MetadataError),
    /// A test binary could not list its tests.
    #[error(transparent)]
    List(#[from] ListError),
    /// An archive could not be written or read.
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    /// A duration history or JUnit file cannot be read, or a history cannot be written.
    #[error(transparent)]
    Durations(#[from] DurationsError),
    /// cargo-xdist itself could not go on.
    #[error(transparent)]
    Internal(#[from] InternalError),
}

impl XdistError {
    /// The process exit code for this error: the one table of them.
    pub fn exit_code(&self) -> u8 {
        match self {
            XdistError::Usage(_) | XdistError::Config(_) => exit_code::USAGE,
            XdistError::Build(_) => exit_code::BUILD_FAILED,
            XdistError::Metadata(_) => exit_code::METADATA_FAILED,
            XdistError::List(_) => exit_code::LIST_FAILED,
            XdistError::Archive(_) => exit_code::ARCHIVE_FAILED,
            XdistError::Durations(DurationsError::Write { .. }) => exit_code::INTERNAL,
            XdistError::Durations(_) => exit_code::USAGE,
            XdistError::Internal(_) => exit_code::INTERNAL,
        }
    }
}

/// A command-line option (or `XDIST_AUTO_NUM_WORKERS`) has a value cargo-xdist cannot use.
#[derive(Debug, thiserror::Error)]
pub enum UsageError {
    /// A malformed `-E` expression.
    #[error("-E: {0}")]
    Filterset(#[from] crate::config::filterset::ParseError),
    /// `-- --skip` with nothing after it.
    #[error("`--skip` after `--` needs a pattern")]
    SkipWithoutPattern,
    /// A libtest argument after `--` that cargo-xdist does not support.
    #[error("unsupported libtest argument after `--`: {arg}")]
    UnsupportedLibtestArg {
        /// The argument.
        arg: String,
    },
    /// A worker count of 0.
    #[error("{what} must be at least 1, got 0")]
    ZeroWorkers {
        /// Where the count came from (`-n`, `XDIST_AUTO_NUM_WORKERS`).
        what: &'static str,
    },
    /// A worker count that is not a number, `auto` or `logical`.
    #[error("{what} must be a number, `auto` or `logical`, got `{value}`")]
    BadWorkerCount {
        /// Where the count came from (`-n`, `XDIST_AUTO_NUM_WORKERS`).
        what: &'static str,
        /// The value given.
        value: String,
        /// Why it is not a number.
        #[source]
        source: ParseIntError,
    },
    /// `--maxprocesses 0`.
    #[error("--maxprocesses must be at least 1")]
    ZeroMaxProcesses,
    /// A `--tx` spec that does not parse.
    #[error("bad --tx `{spec}`: {why}")]
    BadTx {
        /// The value given.
        spec: String,
        /// What is wrong with it.
        why: String,
    },
    /// `--doc`/`--doctests` with ssh workers: rustdoc and the libraries' rlibs stay here.
    #[error(
        "{flag} cannot run on ssh workers (doctests need this machine's rustdoc and the libraries' rlibs, which are not shipped): run the doctests in a run of their own on local workers (`cargo xdist run --doc -n N`)"
    )]
    DoctestsOnSsh {
        /// `--doc` or `--doctests`.
        flag: &'static str,
    },
    /// A `--group` that is not `NAME=PATTERN`.
    #[error("--group takes NAME=PATTERN, got `{rule}`")]
    BadGroupFlag {
        /// The value given.
        rule: String,
    },
    /// `__simulate` with nothing to simulate.
    #[error("--tests, --workers and --module-size must be at least 1")]
    EmptySimulation,
}

/// A configuration file (cargo's `.cargo/config.toml`, cargo-xdist's `.config/xdist.toml`)
/// cannot be read or says something cargo-xdist cannot use.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file exists but cannot be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: io::Error,
    },
    /// The file is not valid TOML, or not of the expected shape. Shown with the parser's
    /// one-line message; the error itself also has the location.
    #[error("{}: {}", path.display(), source.message())]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's error.
        #[source]
        source: toml::de::Error,
    },
    /// cargo-xdist's file is not valid TOML.
    #[error("{}:{line}:{column}: {message}", path.display())]
    Syntax {
        /// The file.
        path: PathBuf,
        /// Where (1-based).
        line: usize,
        /// Where (1-based, in characters).
        column: usize,
        /// The parser's one-line message.
        message: String,
    },
    /// A key of cargo-xdist's file that is unknown, of the wrong type or has a bad value.
    #[error("{}:{line}:{column}: {key}: {message}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Where (1-based).
        line: usize,
        /// Where (1-based, in characters).
        column: usize,
        /// The key, as a dotted path (`profile.ci.timeout`).
        key: String,
        /// What is wrong.
        message: String,
    },
    /// `--profile NAME` (or `XDIST_PROFILE`) names a profile no file defines.
    #[error("profile `{name}` is not defined (looked in {looked})")]
    UnknownProfile {
        /// The profile asked for.
        name: String,
        /// The files read, or `no configuration file`.
        looked: String,
    },
    /// `show-config` found no workspace.
    #[error("cannot find the workspace (cargo locate-project): {detail}")]
    NoWorkspace {
        /// What cargo said.
        detail: String,
    },
    /// An `XDIST_*` variable with a value its setting cannot take.
    #[error("environment variable {var}: {message}")]
    BadEnv {
        /// The variable.
        var: String,
        /// What is wrong.
        message: String,
    },
    /// An `[env]` table entry without a string `value`.
    #[error("{}: [env] {key} has no string `value`", path.display())]
    EnvWithoutValue {
        /// The file.
        path: PathBuf,
        /// The variable.
        key: String,
    },
    /// A `target.<...>.runner` that is neither a string nor an array of strings.
    #[error("{}: {key} must be a string or an array of strings", path.display())]
    BadRunner {
        /// The file.
        path: PathBuf,
        /// The key.
        key: String,
    },
    /// A `target.'cfg(...)'` key that does not parse.
    #[error("{}: [target.'{key}']: {reason}", path.display())]
    BadCfg {
        /// The file.
        path: PathBuf,
        /// The key.
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// Two `target.'cfg(...)'.runner` keys hold for the target (cargo refuses this too).
    #[error("{}: several matching instances of `target.'cfg(..)'.runner`: `{first}` and `{second}`", path.display())]
    SeveralRunners {
        /// A file with one of them.
        path: PathBuf,
        /// One key.
        first: String,
        /// Another.
        second: String,
    },
    /// An `[env]` entry that is neither a string nor a table.
    #[error("{}: [env] {key} must be a string or a table", path.display())]
    EnvNotStringOrTable {
        /// The file.
        path: PathBuf,
        /// The variable.
        key: String,
    },
}

/// `cargo test --no-run` could not build the tests.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// cargo could not be started.
    #[error("building the tests failed: could not run cargo: {source}")]
    Spawn {
        /// What the OS said.
        #[source]
        source: io::Error,
    },
    /// cargo's JSON messages could not be read.
    #[error("building the tests failed: reading cargo output: {source}")]
    UnreadableOutput {
        /// The read or JSON error.
        #[source]
        source: io::Error,
    },
    /// cargo could not be waited for.
    #[error("building the tests failed: {source}")]
    Wait {
        /// What the OS said.
        #[source]
        source: io::Error,
    },
    /// The doctests' command lines could not be recorded.
    #[error("building the tests failed: recording the doctests: {source}")]
    Doctests {
        /// What went wrong.
        #[source]
        source: io::Error,
    },
    /// cargo ran and failed (its diagnostics are on stderr above).
    #[error("building the tests failed: cargo test --no-run {}", describe(*status))]
    Failed {
        /// How cargo ended.
        status: ExitStatus,
    },
}

/// A test archive could not be written, or reading one failed or refused it.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// The archive file cannot be opened.
    #[error("cannot open archive {archive}: {source}")]
    Open {
        /// The archive.
        archive: Utf8PathBuf,
        /// What the OS said.
        #[source]
        source: io::Error,
    },
    /// The file name does not say `.tar.zst`.
    #[error(
        "archive {archive}: the file name must end in `.tar.zst` (or pass --archive-format tar-zst)"
    )]
    Format {
        /// The archive.
        archive: Utf8PathBuf,
    },
    /// The stream is broken: a bad header checksum, a cut stream, bad zstd data.
    #[error("archive {archive}: cannot read {context}: {source}")]
    Read {
        /// The archive.
        archive: Utf8PathBuf,
        /// Which entry (or the one before it).
        context: String,
        /// What tar or zstd said.
        #[source]
        source: io::Error,
    },
    /// An entry that could write outside the extraction dir, or of a refused kind.
    #[error("archive {archive}: refused entry `{entry}`: {reason}")]
    Refused {
        /// The archive.
        archive: Utf8PathBuf,
        /// The entry's path.
        entry: String,
        /// Why.
        reason: &'static str,
    },
    /// Unpacking would write more than the limit.
    #[error(
        "archive {archive}: entry `{entry}` would take the unpacked size over {max_bytes} bytes (see --extract-max-bytes)"
    )]
    TooLarge {
        /// The archive.
        archive: Utf8PathBuf,
        /// The entry.
        entry: String,
        /// The limit.
        max_bytes: u64,
    },
    /// An entry cannot be written.
    #[error("archive {archive}: cannot write entry `{entry}`: {source}")]
    Write {
        /// The archive.
        archive: Utf8PathBuf,
        /// The entry.
        entry: String,
        /// What the OS said.
        #[source]
        source: io::Error,
    },
    /// `binaries-metadata.json` or `cargo-metadata.json` is not in the archive.
    #[error("archive {archive}: metadata file `{entry}` not found")]
    MissingMetadata {
        /// The archive.
        archive: Utf8PathBuf,
        /// The missing entry.
        entry: &'static str,
    },
    /// A metadata file is not what it should be.
    #[error("archive {archive}: metadata file `{entry}` is malformed: {source}")]
    BadMetadata {
        /// The archive.
        archive: Utf8PathBuf,
        /// The entry.
        entry: &'static str,
        /// What serde said.
        #[source]
        source: serde_json::Error,
    },
    /// The metadata names a binary or dir that is not in the archive.
    #[error(
        "archive {archive}: metadata names `{path}`, which is outside the archive's target dir"
    )]
    OutsidePath {
        /// The archive.
        archive: Utf8PathBuf,
        /// The path.
        path: String,
    },
    /// cargo-xdist's part of the archive is of a newer format.
    #[error(
        "archive {archive}: format version {found} is newer than this cargo-xdist reads ({supported}); use a newer cargo-xdist"
    )]
    Version {
        /// The archive.
        archive: Utf8PathBuf,
        /// The version in the archive.
        found: u32,
        /// The newest this build reads.
        supported: u32,
    },
    /// `--extract-to DIR` where `DIR/target` exists, without `--extract-overwrite`.
    #[error(
        "destination `{dir}/target` already exists (pass --extract-overwrite to write over it)"
    )]
    DestinationExists {
        /// The `--extract-to` dir.
        dir: Utf8PathBuf,
    },
    /// `--extract-to` or `--workspace-remap` is not a usable directory.
    #[error("{flag} {dir}: {source}")]
    BadDir {
        /// The flag.
        flag: &'static str,
        /// The dir given.
        dir: Utf8PathBuf,
        /// What the OS said.
        #[source]
        source: io::Error,
    },
    /// The workspace the archive was built from is not where the run looks for it.
    #[error(
        "workspace root manifest at {manifest} does not exist (hint: ensure that project source is available for reused build, using --workspace-remap if necessary)"
    )]
    NoWorkspace {
        /// The manifest looked for.
        manifest: Utf8PathBuf,
    },
    /// The extraction dir cannot be made.
    #[error("cannot create a directory to extract the archive into: {source}")]
    TempDir {
        /// What the OS said.
        #[source]
        source: io::Error,
    },
    /// A file to put in the archive cannot be read.
    #[error("writing archive {archive}: cannot add {path}: {source}")]
    Add {
        /// The archive.
        archive: Utf8PathBuf,
        /// The file.
        path: Utf8PathBuf,
        /// What the OS said.
        #[source]
        source: io::Error,
    },
    /// The archive cannot be written.
    #[error("writing archive {archive}: {source}")]
    Create {
        /// The archive.
        archive: Utf8PathBuf,
        /// What the OS said.
        #[source]
        source: io::Error,
    },
    /// rustc could not say the host's triple.
    #[error("cannot find the host's target triple (`rustc -vV`): {detail}")]
    HostTriple {
        /// What went wrong.
        detail: String,
    },
    /// The full `cargo metadata` for the archive failed.
    #[error("cargo metadata (for the archive) failed: {detail}")]
    Metadata {
        /// What went wrong.
        detail: String,
    },
}

/// `cargo metadata` failed.
#[derive(Debug, thiserror::Error)]
#[error("cargo metadata failed: {source}")]
pub struct MetadataError {
    /// What `cargo_metadata` said.
    #[from]
    source: cargo_metadata::Error,
}

/// A test binary could not list its tests.
#[derive(Debug, thiserror::Error)]
#[error("listing tests of `{binary_id}` failed: {kind}")]
pub struct ListError {
    /// The binary's id.
    pub binary_id: String,
    /// What went wrong.
    #[source]
    pub kind: ListErrorKind,
}

/// Why a test binary could not be listed.
#[derive(Debug, thiserror::Error)]
pub enum ListErrorKind {
    /// The binary could not be started.
    #[error("could not run {path}: {source}")]
    Spawn {
        /// The executable.
        path: String,
        /// What the OS said.
        #[source]
        source: io::Error,
    },
    /// `--list` exited unsuccessfully.
    #[error("`{path} --list` failed ({status}){}", colon_then(last_stderr_line))]
    Failed {
        /// The executable.
        path: String,
        /// How it ended.
        status: ExitStatus,
        /// The last line it printed on stderr, if any.
        last_stderr_line: Option<String>,
    },
    /// The list is not UTF-8.
    #[error("`--list` output is not UTF-8")]
    NotUtf8 {
        /// Where the bytes went wrong.
        #[source]
        source: FromUtf8Error,
    },
    /// A line that is neither a test nor a benchmark.
    #[error(
        "unexpected line in `--list --format terse` output: {line:?} \
         (is this a libtest-compatible harness?)"
    )]
    NotATestList {
        /// The line.
        line: String,
    },
}

/// `: line`, or nothing without a line.
fn colon_then(line: &Option<String>) -> String {
    line.as_ref().map_or_else(String::new, |line| format!(": {line}"))
}

/// A duration history (`--durations-file`, `durations merge`) or a JUnit report
/// (`durations import`) that cannot be used, or a history that cannot be written.
#[derive(Debug, thiserror::Error)]
pub enum DurationsError {
    /// The file cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: Utf8PathBuf,
        /// What the OS said.
        #[source]
        source: io::Error,
    },
    /// Not the JSON of a duration history (serde_json's message has the line and column).
    #[error("{path}: not a duration history: {source}")]
    History {
        /// The file.
        path: Utf8PathBuf,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },
    /// A history of another format version.
    #[error("{path}: duration history version {found}, expected 1")]
    Version {
        /// The file.
        path: Utf8PathBuf,
        /// The version it has.
        found: u32,
    },
    /// Not well-formed XML (roxmltree's message has the line and column).
    #[error("{path}: not a JUnit XML report: {source}")]
    Xml {
        /// The file.
        path: Utf8PathBuf,
        /// The parser's error.
        #[source]
        source: roxmltree::Error,
    },
    /// A `testcase` whose `time` is not a number of seconds.
    #[error("{path}:{line}:{column}: testcase `time` must be a number of seconds, got `{value}`")]
    BadTime {
        /// The file.
        path: Utf8PathBuf,
        /// Line of the `testcase` element, from 1.
        line: u32,
        /// Column, from 1.
        column: u32,
        /// The attribute's value.
        value: String,
    },
    /// The history cannot be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: Utf8PathBuf,
        /// What the OS said.
        #[source]
        source: io::Error,
    },
}

/// cargo-xdist itself could not go on.
#[derive(Debug, thiserror::Error)]
pub enum InternalError {
    /// `current_exe` failed, so no worker can be started.
    #[error("cannot find the cargo-xdist executable: {source}")]
    OwnExecutable {
        /// What the OS said.
        #[source]
        source: io::Error,
    },
    /// `current_dir` failed, so cargo's configuration cannot be found.
    #[error("no current directory: {source}")]
    CurrentDir {
        /// What the OS said.
        #[source]
        source: io::Error,
    },
    /// The thread running `cargo metadata` panicked.
    #[error("metadata thread panicked")]
    MetadataThreadPanicked,
    /// The worker setup frame could not be encoded.
    #[error("encoding the test list: {source}")]
    EncodeSetup {
        /// The codec's error.
        #[source]
        source: FrameError,
    },
    /// `--looponfail` could not watch the workspace.
    #[error("--looponfail cannot watch the workspace: {detail}")]
    Watch {
        /// What notify said.
        detail: String,
    },
    /// The async runtime could not be built.
    #[error("cannot start the run loop: {source}")]
    RunLoop {
        /// What the OS said.
        #[source]
        source: io::Error,
    },
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    #[test]
    fn every_kind_of_error_has_its_documented_code() {
        let cases: [(XdistError, u8); 8] = [
            (UsageError::ZeroMaxProcesses.into(), 2),
            (ConfigError::EnvWithoutValue { path: "c.toml".into(), key: "K".into() }.into(), 2),
            (BuildError::Spawn { source: io::ErrorKind::NotFound.into() }.into(), 101),
            (MetadataError::from(cargo_metadata::Error::NoJson).into(), 102),
            (
                ListError {
                    binary_id: "a".into(),
                    kind: ListErrorKind::NotATestList { line: "x".into() },
                }
                .into(),
                104,
            ),
            (InternalError::MetadataThreadPanicked.into(), 1),
            (DurationsError::Version { path: "d.json".into(), found: 2 }.into(), 2),
            (
                DurationsError::Write {
                    path: "d.json".into(),
                    source: io::ErrorKind::Other.into(),
                }
                .into(),
                1,
            ),
        ];
        for (error, code) in cases {
            assert_eq!(error.exit_code(), code, "{error}");
        }
    }

    #[test]
    fn messages_are_one_line_and_keep_their_source() {
        let error = XdistError::from(ListError {
            binary_id: "alpha".into(),
            kind: ListErrorKind::Spawn {
                path: "/t/alpha".into(),
                source: io::Error::new(io::ErrorKind::NotFound, "gone"),
            },
        });
        assert_eq!(
            error.to_string(),
            "listing tests of `alpha` failed: could not run /t/alpha: gone"
        );
        let kind = error.source().expect("the kind");
        assert_eq!(kind.source().expect("the io error").to_string(), "gone");

        let parse = toml::from_str::<toml::Table>("a = ").unwrap_err();
        let error = ConfigError::Parse { path: "/ws/.config/xdist.toml".into(), source: parse };
        assert!(!error.to_string().contains('\n'), "{error}");
        assert!(error.to_string().starts_with("/ws/.config/xdist.toml: "), "{error}");
        assert!(error.source().is_some());
    }
}
