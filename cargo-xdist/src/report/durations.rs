//! The duration history as a subscriber: how long each test that ran to a verdict took,
//! recorded for the next run's order, which binaries take one test name per process, how
//! much of a CPU each binary's processes used (for `-n auto`'s start), and what a process of
//! each binary pays at its first panic under `RUST_BACKTRACE` (for `load`'s chunking).

use std::collections::BTreeMap;
use std::time::Duration;

use xdist_core::events::{RunEvent, RunSubscriber};
use xdist_core::summary::TestStatus;
use xdist_core::testlist::TestList;

use crate::plan::history::{History, backtraces_in};

/// Records finished tests' durations into a [`History`].
pub struct DurationRecorder<'a> {
    list: &'a TestList,
    history: History,
    /// CPU time and run time of each binary's processes so far, by binary index.
    usage: BTreeMap<u32, (Duration, Duration)>,
    /// By binary index, whether its tests' panics capture a backtrace, so that a process's
    /// first one loads the binary's debug info (none: no binary's do).
    backtraces: Vec<bool>,
}

impl<'a> DurationRecorder<'a> {
    /// Records the tests of `list` into `history`.
    pub fn new(list: &'a TestList, history: History) -> Self {
        Self { list, history, usage: BTreeMap::new(), backtraces: Vec::new() }
    }

    /// Whether the tests' panics capture backtraces by the `RUST_BACKTRACE` they inherit
    /// (`history::inherited_backtraces`); a binary's own environment may say otherwise.
    pub fn with_backtraces(mut self, inherited: bool) -> Self {
        self.backtraces =
            self.list.binaries.iter().map(|b| backtraces_in(&b.env, inherited)).collect();
        self
    }

    /// The history with this run's durations and CPU shares.
    pub fn into_history(mut self) -> History {
        for (binary, (cpu, wall)) in std::mem::take(&mut self.usage) {
            if let Some(binary) = self.list.binaries.get(binary as usize) {
                self.history.record_cpu_share(&binary.id, cpu, wall);
            }
        }
        self.history
    }
}

impl RunSubscriber for DurationRecorder<'_> {
    fn on_event(&mut self, event: &RunEvent) {
        match event {
            RunEvent::TestFinished(result) => {
                let ran = matches!(result.status, TestStatus::Passed | TestStatus::Failed);
                if ran && !result.duration.is_zero() {
                    let id = self.list.test_id(result.index as usize);
                    let binary = self.list.tests[result.index as usize].binary as usize;
                    if result.first_panic && self.backtraces.get(binary) == Some(&true) {
                        let binary = &self.list.binaries[binary].id;
                        self.history.record_first_panic(id, binary, result.duration);
                    } else {
                        self.history.record(id, result.duration);
                    }
                }
            }
            RunEvent::ProcessExited { binary, cpu, wall, .. } => {
                let used = self.usage.entry(*binary).or_default();
                used.0 += *cpu;
                used.1 += *wall;
            }
            RunEvent::OneNamePerProcess { binary, .. } => {
                if let Some(binary) = self.list.binaries.get(*binary as usize) {
                    self.history.remember_one_name(&binary.id, &binary.path);
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use camino::Utf8PathBuf;
    use xdist_core::events::{RunEvent, RunSubscriber};
    use xdist_core::summary::{TestResult, TestStatus};

    use super::DurationRecorder;
    use crate::plan::history::{History, backtraces_from};
    use crate::report::test_support::list;

    fn finished(index: u32, millis: u64, first_panic: bool) -> RunEvent {
        RunEvent::TestFinished(TestResult {
            index,
            status: TestStatus::Passed,
            cause: None,
            duration: Duration::from_millis(millis),
            output: Vec::new(),
            worker: Some(0),
            attempt: 1,
            first_panic,
        })
    }

    /// `a` known at 10 ms and `b` unknown, each its process's first panic taking 170 ms,
    /// and `c` unknown, an ordinary test of 170 ms, in binary `demo` with `env`; returns the
    /// three durations recorded and demo's process cost.
    fn recorded(
        backtraces: bool,
        env: &[(&str, &str)],
    ) -> ([Option<Duration>; 3], Option<Duration>) {
        let mut list = list(&["a", "b", "c"]);
        list.binaries[0].env = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let mut history = History::empty(Utf8PathBuf::from("/nonexistent/durations.json"));
        history.record("demo a".into(), Duration::from_millis(10));
        let mut recorder = DurationRecorder::new(&list, history).with_backtraces(backtraces);
        for event in [finished(0, 170, true), finished(1, 170, true), finished(2, 170, false)] {
            recorder.on_event(&event);
        }
        let history = recorder.into_history();
        (["demo a", "demo b", "demo c"].map(|id| history.get(id)), history.process_cost("demo"))
    }

    #[test]
    fn under_backtraces_a_first_panic_is_charged_to_its_process() {
        let ms = |n| Some(Duration::from_millis(n));
        // `a` took 160 ms more than it takes: that is the process's; `b`, new, took about
        // that cost and is not recorded.
        assert_eq!(recorded(true, &[]), ([ms(10), None, ms(170)], ms(160)));
        assert_eq!(recorded(false, &[("RUST_BACKTRACE", "1")]).1, ms(160), "the binary's env");
    }

    #[test]
    fn without_backtraces_a_first_panic_counts_as_any_time() {
        let ms = |n| Some(Duration::from_millis(n));
        assert_eq!(recorded(false, &[]), ([ms(90), ms(170), ms(170)], None));
        let off = recorded(true, &[("RUST_BACKTRACE", "0")]);
        assert_eq!(off, ([ms(90), ms(170), ms(170)], None), "the binary's env turns it off");
    }

    #[test]
    fn any_rust_backtrace_but_0_turns_backtraces_on() {
        assert!(!backtraces_from(None));
        assert!(!backtraces_from(Some("0".as_ref())));
        assert!(backtraces_from(Some("1".as_ref())));
        assert!(backtraces_from(Some("full".as_ref())));
    }
}
