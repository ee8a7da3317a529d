//! The messages between the controller and a worker.
//!
//! The controller sends one [`ToWorker::Setup`] (the test list, so later frames can name
//! tests by index), then any number of [`ToWorker::Run`] frames, then [`ToWorker::Shutdown`].
//! The worker answers [`FromWorker::Ready`] to the setup, then a [`FromWorker::Started`] and
//! a [`FromWorker::Finished`] per test. [`ToWorker::Abort`] stops it at once.

use std::collections::BTreeMap;

use bincode::{Decode, Encode};

use crate::TestIndex;

/// How long a test process's children may take to exit after it, before they count as
/// leaked (the default of `--leak-timeout`, nextest's default).
pub const LEAK_GRACE_MS: u64 = 100;

/// Before what a failed test's process wrote to stderr beyond libtest's capture, which the
/// worker adds to the test's output: the whole process's, so not the test's own.
pub const PROCESS_STDERR_HEADER: &str =
    "\n--- stderr of the test process (not captured by libtest; all its tests') ---\n";

/// The part of a test's output that is its own: what comes before the process's stderr
/// the worker added ([`PROCESS_STDERR_HEADER`]), where a panic of another test may stand.
pub fn own_output(output: &str) -> &str {
    output.find(PROCESS_STDERR_HEADER).map_or(output, |at| &output[..at])
}

/// A message from the controller to a worker.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub enum ToWorker {
    /// Everything the worker needs to run any test of the list; always the first frame.
    Setup(WorkerSetup),
    /// Run these tests (indices into `WorkerSetup::tests`), after those already sent.
    Run(Vec<TestIndex>),
    /// Finish the tests already sent, then exit.
    Shutdown,
    /// Give up these tests if none of them has started (all or nothing); answered with
    /// [`FromWorker::Released`].
    Steal(Vec<TestIndex>),
    /// Stop now: kill the running test process group and exit without running the rest
    /// (`-x`, `--maxfail`, an interrupted run). The worker carries this out on the process
    /// groups it started itself, wherever it runs.
    Abort,
}

/// The test list as a worker needs it.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct WorkerSetup {
    /// The test binaries.
    pub binaries: Vec<BinarySpec>,
    /// The tests; `TestSpec::binary` indexes `binaries`.
    pub tests: Vec<TestSpec>,
    /// Pass `--include-ignored` so that ignored tests run when selected.
    pub include_ignored: bool,
    /// Time and size limits of test processes.
    pub limits: RunLimits,
    /// How many of its queued tests the worker puts in one process.
    pub batching: Batching,
    /// Tests `0..first` run before the others they are queued with, in processes of their
    /// own (`--failed-first`: libtest runs a process's tests in name order).
    pub first: u32,
    /// `--no-capture`: run each test in a process of its own with libtest's `--nocapture`
    /// and forward what the process writes as [`FromWorker::Output`] frames as it comes.
    pub no_capture: bool,
}

/// How much of its queue a worker runs in one test process.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Encode, Decode)]
pub enum Batching {
    /// Everything queued (per binary): fewest processes, and a unit stays in one process.
    #[default]
    Whole,
    /// About a second of work by the durations seen so far (a small probe of a binary not
    /// seen yet), so that what waits can still be stolen, and a stop comes soon.
    Adaptive,
    /// Everything queued (per binary), as [`Batching::Whole`], but what a process has not
    /// started yet can still be stolen: the process is cut at the first stolen test's start.
    Movable,
}

impl Batching {
    /// Whether a steal may take tests from the batch in flight.
    pub fn is_movable(self) -> bool {
        matches!(self, Batching::Adaptive | Batching::Movable)
    }
}

/// Time and size limits the worker applies to each test.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct RunLimits {
    /// Report a test as slow each time this much of its run has passed (`--slow-timeout`).
    pub slow_ms: Option<u64>,
    /// Kill a test's process group after this long (`--timeout`).
    pub timeout_ms: Option<u64>,
    /// Time between SIGTERM and SIGKILL when a test is killed.
    pub kill_grace_ms: u64,
    /// Bytes kept at the start and at the end of one test's output.
    pub output_keep: u64,
    /// How often the worker says it is alive.
    pub heartbeat_ms: u64,
    /// Tests whose slow and timeout limits differ from the ones above (per-test overrides
    /// of a profile), by index.
    pub per_test: BTreeMap<TestIndex, TestLimits>,
    /// What happens to processes a test process leaves running.
    pub leak: LeakPolicy,
}

/// What the worker does about processes left in a test process's group after it exited.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode)]
pub struct LeakPolicy {
    /// How long they get to exit by themselves before they count as leaked
    /// (`--leak-timeout`).
    pub timeout_ms: u64,
    /// `--leak-result fail`: the tests of a process that leaked fail.
    pub fail: bool,
    /// Kill them once they count as leaked (`--leak-kill false`: leave them running).
    pub kill: bool,
}

impl Default for LeakPolicy {
    fn default() -> Self {
        Self { timeout_ms: LEAK_GRACE_MS, fail: false, kill: true }
    }
}

/// The limits of one test, where they differ from the run's.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Encode, Decode)]
pub struct TestLimits {
    /// Its `slow_ms`, if overridden.
    pub slow_ms: Option<u64>,
    /// Its `timeout_ms`, if overridden.
    pub timeout_ms: Option<u64>,
}

impl RunLimits {
    /// The slow period of test `index`.
    pub fn slow_ms_of(&self, index: TestIndex) -> Option<u64> {
        self.per_test.get(&index).and_then(|t| t.slow_ms).or(self.slow_ms)
    }

    /// The timeout of test `index`.
    pub fn timeout_ms_of(&self, index: TestIndex) -> Option<u64> {
        self.per_test.get(&index).and_then(|t| t.timeout_ms).or(self.timeout_ms)
    }
}

impl Default for RunLimits {
    fn default() -> Self {
        Self {
            slow_ms: None,
            timeout_ms: None,
            kill_grace_ms: 1_000,
            output_keep: 512 * 1024,
            heartbeat_ms: 1_000,
            per_test: BTreeMap::new(),
            leak: LeakPolicy::default(),
        }
    }
}

/// How to start one test binary.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct BinarySpec {
    /// The executable.
    pub path: String,
    /// The working directory of its processes (the package root).
    pub cwd: String,
    /// Variables added to the worker's environment for its processes.
    pub env: Vec<(String, String)>,
    /// The target runner that starts it (program and arguments; cargo's
    /// `target.<triple>.runner`), or nothing.
    pub runner: Vec<String>,
    /// Arguments that always come first (a doctest binary's rustdoc command line).
    pub args: Vec<String>,
    /// The names of its tests that the run does not run (filtered out, ignored): with the
    /// run's own, every test libtest has, so that a batch named by module filters can be
    /// checked to select exactly its tests.
    pub unlisted: Vec<String>,
    /// How its tests are run.
    pub harness: Harness,
    /// It takes one test name per process (a harness such as libtest-mimic, as an earlier
    /// run found): batches of it name one test each from the start.
    pub one_name: bool,
    /// Pass libtest's `--show-output`, so that it prints the captured output of passing
    /// tests after the tests (success output was asked for, and the binary is rustc's
    /// libtest, not a custom harness).
    pub show_output: bool,
}

impl BinarySpec {
    /// A libtest binary at `path` started in `cwd`, with nothing else set: no added
    /// environment, runner or leading arguments, no unlisted tests, several names a process.
    pub fn libtest(path: impl Into<String>, cwd: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            cwd: cwd.into(),
            env: Vec::new(),
            runner: Vec::new(),
            args: Vec::new(),
            unlisted: Vec::new(),
            harness: Harness::Libtest,
            one_name: false,
            show_output: false,
        }
    }
}

/// How a test binary's tests are run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Encode, Decode)]
pub enum Harness {
    /// It speaks libtest's language: batches name tests on its command line
    /// (`--exact --test-threads=1 -- names...`) and its output says how each ended.
    #[default]
    Libtest,
    /// A `harness = false` binary that neither lists nor filters (a plain `main`): its one
    /// test is the whole binary, run with no arguments; its exit status is the outcome and
    /// everything it prints is the test's output.
    Whole,
    /// A library's doctests, run by rustdoc (`path` is rustdoc, `args` cargo's command
    /// line for it): one process runs every doctest of the library and its summary gives
    /// each one's outcome (rustdoc takes no exact names, as it splits `--test-args` at
    /// whitespace). rustdoc captures what doctests print, so its output can be trusted.
    Doctest,
}

/// One test of a binary.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct TestSpec {
    /// Index into `WorkerSetup::binaries`.
    pub binary: u32,
    /// The full libtest name, e.g. `tests::nested::deep_one`.
    pub name: String,
}

/// A message from a worker to the controller.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub enum FromWorker {
    /// The test began to run.
    Started {
        /// The test.
        index: TestIndex,
    },
    /// The test ended.
    Finished(TestReport),
    /// The test has been running for `elapsed_ms` (sent once per slow period).
    Slow {
        /// The test.
        index: TestIndex,
        /// How long it has run.
        elapsed_ms: u64,
    },
    /// The worker started a test process; its process group id is `pid` (for information:
    /// only the worker signals it).
    ProcessStarted {
        /// The process id, which is also its process group id.
        pid: u32,
    },
    /// The test process started by the last `ProcessStarted` has ended; `leaked`: processes
    /// it started were still running in its process group [`LeakPolicy::timeout_ms`] after
    /// it (killed unless [`LeakPolicy::kill`] is off).
    ProcessExited {
        /// Something it started outlived it.
        leaked: bool,
        /// The binary it ran (an index into `WorkerSetup::binaries`).
        binary: u32,
        /// Its CPU time (user and system, with the children it waited for), in
        /// milliseconds, and its time from start to exit: how much of a CPU its tests use
        /// while they run, for `-n auto` (`cargo-xdist/src/drive/growth.rs`).
        cpu_ms: u64,
        /// Its time from start to exit, in milliseconds.
        wall_ms: u64,
    },
    /// The worker found that binary `binary` (an index into `WorkerSetup::binaries`) takes
    /// one test name per process (a process of several names ran none of them), so that
    /// the controller can remember it for later runs.
    OneNamePerProcess {
        /// The binary.
        binary: u32,
    },
    /// The answer to a [`ToWorker::Steal`]: the tests given up (all asked for, or none).
    Released(Vec<TestIndex>),
    /// A paced batch was cut after a slow test and its rest is back in the worker's queue,
    /// where a steal can now take it (a steal that came back empty may be asked again).
    Requeued,
    /// The worker is alive (sent periodically, even while a test runs).
    Heartbeat,
    /// The worker read its setup and is ready for tests (its first frame).
    Ready,
    /// Under `--no-capture`: bytes the running test process wrote, as they came (any
    /// bytes, cut anywhere; libtest's own lines included). Outcomes never depend on them:
    /// the worker parses the same stream itself.
    Output {
        /// The test the process runs (a `--no-capture` process runs one test).
        index: Option<TestIndex>,
        /// Which of the process's streams.
        stream: OutputStream,
        /// The bytes.
        bytes: Vec<u8>,
    },
}

/// A test process's stdout or stderr.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode)]
pub enum OutputStream {
    /// Its stdout.
    Stdout,
    /// Its stderr.
    Stderr,
}

/// How one test ended on a worker.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct TestReport {
    /// The test.
    pub index: TestIndex,
    /// Its outcome.
    pub outcome: Outcome,
    /// Wall time from its start line to its result, in nanoseconds.
    pub duration_nanos: u64,
    /// What it printed (captured stdout and stderr, as libtest shows them for a failure, and
    /// any stray bytes of the process), possibly not UTF-8.
    pub output: Vec<u8>,
    /// It was the first test of its process known to have panicked (a `should_panic` test
    /// that passed): under `RUST_BACKTRACE` its time holds the process's one-time load of the
    /// binary's debug info, a cost of the process rather than of the test.
    pub first_panic: bool,
}

/// The outcome of one test as a worker saw it.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub enum Outcome {
    /// It passed.
    Passed,
    /// It failed; `cause` says why when it was not an ordinary test failure (a signal, an
    /// early exit of the process).
    Failed {
        /// Why, for failures libtest did not report itself.
        cause: Option<String>,
    },
    /// libtest reported it ignored.
    Ignored,
    /// It ran longer than the timeout and its process group was killed.
    TimedOut {
        /// The timeout that was exceeded.
        after_ms: u64,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tests_own_output_ends_where_its_process_stderr_begins() {
        let theirs = "thread 'main' (9) panicked at src/other.rs:1:1:\nnot mine\n";
        let output = format!("deliberate failure\n{PROCESS_STDERR_HEADER}{theirs}");
        assert_eq!(own_output(&output), "deliberate failure\n");
        assert_eq!(own_output(theirs), theirs, "no header: all of it");
    }
}
