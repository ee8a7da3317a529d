//! The run's typed event stream: the one way anything outside the session learns what
//! happened. Every variant is in the past tense. The terminal reporter and the duration
//! history are [`RunSubscriber`]s; a JUnit or JSON writer is another, added without touching
//! the loop (the Rust form of pytest-xdist's `worker_workerready`, `worker_runtest_logreport`
//! and `pytest_testnodedown` hooks).

use std::fmt;
use std::time::Duration;

use crate::protocol::OutputStream;
use crate::summary::{RunSummary, TestResult};
use crate::{TestIndex, WorkerId, worker_name};

/// Something that happened during a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunEvent {
    /// The run began: `tests` will each end with one outcome (`skipped` more were left out
    /// before the run), on up to `workers` workers at once, scheduled by `mode`.
    RunStarted {
        /// Tests to run.
        tests: usize,
        /// Tests ignored before the run.
        skipped: usize,
        /// Workers started at first.
        workers: u32,
        /// The `--dist` mode's name.
        mode: String,
    },
    /// A worker was started; `replacing` names the crashed worker it replaces.
    WorkerStarted {
        /// The new worker.
        worker: WorkerId,
        /// The worker it replaces, if any.
        replacing: Option<WorkerId>,
    },
    /// A crashed worker is not replaced: its seat (a worker of the first round and the
    /// replacements that followed it) crashed once more than `--max-worker-restart` allows.
    /// The other workers take its tests.
    WorkerRetired {
        /// The worker whose crash retired its seat.
        worker: WorkerId,
        /// The limit.
        max: u32,
    },
    /// A worker read its setup and is ready for tests.
    WorkerReady {
        /// The worker.
        worker: WorkerId,
    },
    /// A worker's process ended. `expected` is false for a crash (an exit while it held
    /// tests and had not been told to stop).
    WorkerExited {
        /// The worker.
        worker: WorkerId,
        /// How it ended.
        cause: WorkerExit,
        /// Whether the session had told it to finish or killed it.
        expected: bool,
    },
    /// A test began to run.
    TestStarted {
        /// The test.
        index: TestIndex,
        /// The worker running it.
        worker: WorkerId,
    },
    /// A test has been running for `elapsed` (`--slow-timeout`).
    TestSlow {
        /// The test.
        index: TestIndex,
        /// The worker running it.
        worker: WorkerId,
        /// How long it has run.
        elapsed: Duration,
    },
    /// A test has its one outcome.
    TestFinished(TestResult),
    /// A test failed and runs again (`--retries`); this was the failed attempt.
    TestRetried(TestResult),
    /// A worker started a test process (with process group `pid`). Told by the worker, not
    /// decided by the session: for pictures of the run (`--timeline`).
    ProcessStarted {
        /// The worker.
        worker: WorkerId,
        /// The process id.
        pid: u32,
    },
    /// The test process the worker started last has ended.
    ProcessExited {
        /// The worker.
        worker: WorkerId,
        /// Processes it started outlived it (and were killed).
        leaked: bool,
        /// The binary it ran (an index into the list's binaries).
        binary: u32,
        /// Its CPU time, user and system.
        cpu: Duration,
        /// Its time from start to exit.
        wall: Duration,
    },
    /// A worker found that binary `binary` (an index into the list's binaries) takes one
    /// test name per process.
    OneNamePerProcess {
        /// The worker.
        worker: WorkerId,
        /// The binary.
        binary: u32,
    },
    /// Under `--no-capture`: bytes a test process wrote, as they came (no outcome depends
    /// on them).
    TestOutput {
        /// The worker running the process.
        worker: WorkerId,
        /// The test it runs, when known.
        index: Option<TestIndex>,
        /// Which stream.
        stream: OutputStream,
        /// The bytes, cut anywhere.
        bytes: Vec<u8>,
    },
    /// Dispatch stopped early: the tests not run are reported with this reason.
    RunCancelled(CancelReason),
    /// Every test has its outcome and every worker has exited; the summary counts the
    /// tests skipped before the run too.
    RunFinished(RunSummary),
}

/// How a worker's process ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WorkerExit {
    /// It exited with this status code.
    Code(i32),
    /// It was killed by this signal (its name, e.g. `SIGKILL`).
    Signal(String),
    /// It broke the protocol (a malformed frame, a pipe error).
    Protocol(String),
    /// It sent nothing, not even a heartbeat, for this long and was killed.
    Silent(Duration),
    /// It could not be started.
    SpawnFailed(String),
}

impl fmt::Display for WorkerExit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WorkerExit::Code(code) => write!(f, "exited with code {code}"),
            WorkerExit::Signal(name) => write!(f, "was killed by {name}"),
            WorkerExit::Protocol(what) => write!(f, "{what}"),
            WorkerExit::Silent(after) => {
                write!(f, "sent nothing for {}s and was killed", after.as_secs_f64())
            }
            WorkerExit::SpawnFailed(why) => write!(f, "could not be started: {why}"),
        }
    }
}

/// Why a run stopped dispatching early, in order of precedence: a later reason does not
/// replace an earlier, weaker one's report, but the strongest reason is the run's.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum CancelReason {
    /// `-x` or `--maxfail N`: this many tests failed.
    TestFailures(u32),
    /// Every worker seat crashed more often than `--max-worker-restart` allows (`0`: crashed
    /// once), so no worker is left to run the rest.
    CrashLimit {
        /// The limit.
        max: u32,
        /// The worker whose crash retired the last seat.
        worker: WorkerId,
    },
    /// A signal (SIGINT, SIGTERM, SIGHUP) interrupted the run.
    Signal(String),
    /// The controller failed (the reason says how); the rest is reported not run.
    Internal(String),
}

impl fmt::Display for CancelReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CancelReason::TestFailures(max) => {
                let plural = if *max == 1 { "" } else { "s" };
                write!(f, "stopping after {max} failure{plural}")
            }
            CancelReason::CrashLimit { max: 0, worker } => {
                write!(f, "worker {} crashed and worker restarting disabled", worker_name(*worker))
            }
            CancelReason::CrashLimit { max, .. } => {
                write!(f, "maximum crashed workers reached: {max}")
            }
            CancelReason::Signal(name) => write!(f, "interrupted by {name}"),
            CancelReason::Internal(why) => write!(f, "internal error: {why}"),
        }
    }
}

/// Receives the run's events, in order.
pub trait RunSubscriber {
    /// Something happened.
    fn on_event(&mut self, event: &RunEvent);
    /// Nothing more is ready for now: a subscriber that buffers shows what it has.
    fn flush(&mut self) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cancel_reasons_are_ordered_by_strength() {
        let crash = CancelReason::CrashLimit { max: 2, worker: 3 };
        assert!(CancelReason::TestFailures(1) < crash);
        assert!(crash < CancelReason::Signal("SIGINT".into()));
        assert!(CancelReason::Signal("SIGINT".into()) < CancelReason::Internal("x".into()));
    }

    #[test]
    fn messages_users_know() {
        assert_eq!(CancelReason::TestFailures(1).to_string(), "stopping after 1 failure");
        assert_eq!(CancelReason::TestFailures(3).to_string(), "stopping after 3 failures");
        let disabled = CancelReason::CrashLimit { max: 0, worker: 1 };
        assert_eq!(disabled.to_string(), "worker gw1 crashed and worker restarting disabled");
        assert_eq!(
            WorkerExit::Silent(Duration::from_secs(2)).to_string(),
            "sent nothing for 2s and was killed"
        );
    }
}
