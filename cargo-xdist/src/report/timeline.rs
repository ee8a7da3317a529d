//! `--timeline PATH`: the run as a Chrome trace (the JSON object format of the Trace Event
//! Format, which Perfetto and `chrome://tracing` open). One track (`tid`) per worker, named
//! `gw0`, `gw1`, …; on it one slice per test process the worker started (category
//! `process`) and, inside it, one slice per test attempt (category `test`, or `test,retried`
//! for a failed attempt that ran again; `args` hold the outcome, attempt and cause, and
//! `crashed` when the test's process or worker died under it). A worker that crashed gets
//! an instant event (category `crash`) where it died.
//!
//! Times are when the controller heard of each thing (the worker sends its frames in
//! bursts, so a slice's ends are good to some milliseconds); a test's slice is as long as
//! the worker measured it, cut where the next test on the worker began or its process
//! ended, so that the slices of one track never overlap and tests nest in their process.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::{Value, json};
use xdist_core::events::{RunEvent, RunSubscriber};
use xdist_core::summary::{TestResult, TestStatus};
use xdist_core::testlist::TestList;
use xdist_core::{TestIndex, WorkerId, worker_name};

/// The trace's one process id (the run).
const PID: u32 = 1;

struct Process {
    pid: u32,
    start: u64,
    end: Option<u64>,
}

struct Attempt {
    worker: WorkerId,
    index: TestIndex,
    start: u64,
    /// Cut at the end of its process at the latest.
    process: Option<usize>,
    result: TestResult,
    retried: bool,
}

/// Collects the run's timeline and writes it when the run is over.
pub struct Timeline<'a> {
    list: &'a TestList,
    path: PathBuf,
    t0: Instant,
    /// Each worker's processes, in order.
    processes: HashMap<WorkerId, Vec<Process>>,
    /// Tests that started and have no result yet: (worker, test) → start.
    running: HashMap<(WorkerId, TestIndex), u64>,
    attempts: Vec<Attempt>,
    workers: Vec<WorkerId>,
    /// (worker, time, why) of each crash.
    crashes: Vec<(WorkerId, u64, String)>,
    end: u64,
}

impl<'a> Timeline<'a> {
    /// A timeline of the tests of `list`, to be written to `path`.
    pub fn new(list: &'a TestList, path: &Path) -> Self {
        Self {
            list,
            path: path.to_path_buf(),
            t0: Instant::now(),
            processes: HashMap::new(),
            running: HashMap::new(),
            attempts: Vec::new(),
            workers: Vec::new(),
            crashes: Vec::new(),
            end: 0,
        }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.t0.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    fn ended(&mut self, result: &TestResult, retried: bool) {
        let Some(worker) = result.worker else { return };
        if matches!(result.status, TestStatus::NotRun | TestStatus::Skipped) && !retried {
            return;
        }
        let now = self.now();
        let processes = self.processes.get(&worker);
        let last = processes.and_then(|p| p.len().checked_sub(1));
        let (start, process) = match self.running.remove(&(worker, result.index)) {
            Some(start) => {
                // The process it started in: the last one begun by then.
                let process = processes.and_then(|p| p.iter().rposition(|p| p.start <= start));
                (start, process)
            }
            // Reported without a start (its process died before running it): a point at
            // the end of the worker's last process.
            None => {
                let at = last.and_then(|l| processes?[l].end).unwrap_or(now).min(now);
                (at, last)
            }
        };
        self.attempts.push(Attempt {
            worker,
            index: result.index,
            start,
            process,
            result: result.clone(),
            retried,
        });
    }

    /// The trace's events.
    pub fn events(&self) -> Vec<Value> {
        let mut events = vec![json!({
            "ph": "M", "name": "process_name", "pid": PID, "tid": 0,
            "args": {"name": "cargo xdist run"},
        })];
        let mut workers = self.workers.clone();
        workers.sort_unstable();
        workers.dedup();
        for &w in &workers {
            events.push(json!({
                "ph": "M", "name": "thread_name", "pid": PID, "tid": w,
                "args": {"name": worker_name(w)},
            }));
            events.push(json!({
                "ph": "M", "name": "thread_sort_index", "pid": PID, "tid": w,
                "args": {"sort_index": w},
            }));
        }
        let process_end = |w: WorkerId, i: usize| {
            let procs = &self.processes[&w];
            let next = procs.get(i + 1).map_or(self.end, |p| p.start);
            procs[i].end.unwrap_or(self.end).max(procs[i].start).min(next.max(procs[i].start))
        };
        for (&w, procs) in &self.processes {
            for (i, p) in procs.iter().enumerate() {
                let end = process_end(w, i);
                events.push(json!({
                    "ph": "X", "cat": "process", "name": format!("test process {}", p.pid),
                    "pid": PID, "tid": w, "ts": p.start, "dur": end - p.start,
                    "args": {"pid": p.pid},
                }));
            }
        }
        let mut by_worker: HashMap<WorkerId, Vec<&Attempt>> = HashMap::new();
        for a in &self.attempts {
            by_worker.entry(a.worker).or_default().push(a);
        }
        for (w, mut attempts) in by_worker {
            attempts.sort_by_key(|a| a.start);
            for (i, a) in attempts.iter().enumerate() {
                let measured = u64::try_from(a.result.duration.as_micros()).unwrap_or(u64::MAX);
                let mut end = a.start.saturating_add(measured).min(self.end.max(a.start));
                if let Some(next) = attempts.get(i + 1) {
                    end = end.min(next.start);
                }
                if let Some(p) = a.process {
                    end = end.min(process_end(w, p));
                }
                let end = end.max(a.start);
                let result = &a.result;
                let crashed = result.is_failure()
                    && result.cause.as_deref().is_some_and(|c| {
                        c.contains("crashed") || c.contains("test process") || c.contains("killed")
                    });
                let outcome = match result.status {
                    TestStatus::Passed => "passed",
                    TestStatus::Failed => "failed",
                    TestStatus::TimedOut => "timed-out",
                    TestStatus::Skipped => "skipped",
                    TestStatus::NotRun => "not-run",
                };
                let cat = if a.retried { "test,retried" } else { "test" };
                let mut slice = json!({
                    "ph": "X", "cat": cat, "name": self.list.test_id(a.index as usize),
                    "pid": PID, "tid": w, "ts": a.start, "dur": end - a.start,
                    "args": {
                        "outcome": outcome,
                        "attempt": result.attempt,
                        "worker": worker_name(w),
                        "retried": a.retried,
                        "crashed": crashed,
                        "cause": result.cause,
                    },
                });
                if result.is_failure() || a.retried {
                    slice["cname"] = json!(if crashed { "terrible" } else { "bad" });
                }
                events.push(slice);
            }
        }
        for (w, at, why) in &self.crashes {
            events.push(json!({
                "ph": "i", "s": "t", "cat": "crash",
                "name": format!("{} crashed: {why}", worker_name(*w)),
                "pid": PID, "tid": w, "ts": at,
            }));
        }
        events
    }

    /// Writes the trace (creating missing directories).
    pub fn finish(&self) -> std::io::Result<()> {
        let trace = json!({"traceEvents": self.events(), "displayTimeUnit": "ms"});
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let text = serde_json::to_vec(&trace).map_err(std::io::Error::other)?;
        std::fs::write(&self.path, text)
    }
}

impl RunSubscriber for Timeline<'_> {
    fn on_event(&mut self, event: &RunEvent) {
        let now = self.now();
        match event {
            RunEvent::WorkerStarted { worker, .. } => self.workers.push(*worker),
            RunEvent::ProcessStarted { worker, pid } => {
                let procs = self.processes.entry(*worker).or_default();
                if let Some(last) = procs.last_mut() {
                    last.end.get_or_insert(now);
                }
                procs.push(Process { pid: *pid, start: now, end: None });
            }
            RunEvent::ProcessExited { worker, .. } => {
                if let Some(last) = self.processes.get_mut(worker).and_then(|p| p.last_mut()) {
                    last.end.get_or_insert(now);
                }
            }
            RunEvent::TestStarted { index, worker } => {
                self.running.insert((*worker, *index), now);
            }
            RunEvent::TestRetried(result) => self.ended(result, true),
            RunEvent::TestFinished(result) => self.ended(result, false),
            RunEvent::WorkerExited { worker, cause, expected } => {
                if let Some(last) = self.processes.get_mut(worker).and_then(|p| p.last_mut()) {
                    last.end.get_or_insert(now);
                }
                if !expected {
                    self.crashes.push((*worker, now, cause.to_string()));
                }
            }
            RunEvent::RunFinished(_) => self.end = now,
            _ => {}
        }
    }
}
