//! `--leak-result fail`: the outcomes of a test process are held until the process has
//! exited and its leftovers are known, and if it leaked, every test of it that passed is
//! failed instead (its outcome is [`LEAK_FAIL_CAUSE`]). A process of several tests cannot
//! say which of them started what was left, so all of them are charged.

use std::io;

use xdist_core::protocol::{FromWorker, Outcome, TestReport};
use xdist_core::summary::LEAK_FAIL_CAUSE;

use super::Sink;

/// A sink that holds `Finished` frames until `ProcessExited`, then charges a leak.
pub struct LeakCharge<'s> {
    sink: &'s mut dyn Sink,
    held: Vec<TestReport>,
    /// `Some(leaked)` once the process has exited.
    exited: Option<bool>,
}

impl<'s> LeakCharge<'s> {
    /// Holds what goes to `sink`.
    pub fn new(sink: &'s mut dyn Sink) -> Self {
        Self { sink, held: Vec::new(), exited: None }
    }

    /// Sends what is still held (a process that never started, or never exited).
    pub fn release(mut self) -> io::Result<()> {
        for report in std::mem::take(&mut self.held) {
            self.sink.send(FromWorker::Finished(report))?;
        }
        self.sink.flush()
    }
}

/// `report`, failed if it passed in a process that leaked.
fn charge(mut report: TestReport, leaked: bool) -> TestReport {
    if leaked && report.outcome == Outcome::Passed {
        report.outcome = Outcome::Failed { cause: Some(LEAK_FAIL_CAUSE.to_string()) };
    }
    report
}

impl Sink for LeakCharge<'_> {
    fn send(&mut self, message: FromWorker) -> io::Result<()> {
        match (message, self.exited) {
            (FromWorker::Finished(report), None) => {
                self.held.push(report);
                Ok(())
            }
            (FromWorker::Finished(report), Some(leaked)) => {
                self.sink.send(FromWorker::Finished(charge(report, leaked)))
            }
            (exited @ FromWorker::ProcessExited { leaked, .. }, _) => {
                self.exited = Some(leaked);
                for report in std::mem::take(&mut self.held) {
                    self.sink.send(FromWorker::Finished(charge(report, leaked)))?;
                }
                self.sink.send(exited)
            }
            (other, _) => self.sink.send(other),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.sink.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::batch::test_frames::Frames;

    fn finished(index: u32, outcome: Outcome) -> FromWorker {
        FromWorker::Finished(TestReport {
            index,
            outcome,
            duration_nanos: 0,
            output: Vec::new(),
            first_panic: false,
        })
    }

    fn exited(leaked: bool) -> FromWorker {
        FromWorker::ProcessExited { leaked, binary: 0, cpu_ms: 1, wall_ms: 2 }
    }

    fn run(leaked: bool) -> Vec<FromWorker> {
        let mut frames = Frames::default();
        let mut charge = LeakCharge::new(&mut frames);
        charge.send(FromWorker::Started { index: 0 }).unwrap();
        charge.send(finished(0, Outcome::Passed)).unwrap();
        charge.send(FromWorker::Started { index: 1 }).unwrap();
        charge.send(finished(1, Outcome::Ignored)).unwrap();
        charge.send(exited(leaked)).unwrap();
        charge.send(finished(2, Outcome::Passed)).unwrap();
        charge.send(finished(3, Outcome::Failed { cause: None })).unwrap();
        charge.release().unwrap();
        frames.0
    }

    #[test]
    fn a_leak_fails_every_test_of_the_process_that_passed() {
        let leak = Outcome::Failed { cause: Some(LEAK_FAIL_CAUSE.to_string()) };
        let want = vec![
            FromWorker::Started { index: 0 },
            FromWorker::Started { index: 1 },
            finished(0, leak.clone()),
            finished(1, Outcome::Ignored),
            exited(true),
            finished(2, leak),
            finished(3, Outcome::Failed { cause: None }),
        ];
        assert_eq!(run(true), want);
    }

    #[test]
    fn a_clean_process_keeps_its_outcomes() {
        let frames = run(false);
        assert_eq!(frames[2], finished(0, Outcome::Passed));
        assert_eq!(frames[5], finished(2, Outcome::Passed));
    }

    #[test]
    fn what_is_held_when_no_process_exited_is_sent_as_it_was() {
        let mut frames = Frames::default();
        let mut charge = LeakCharge::new(&mut frames);
        charge
            .send(finished(0, Outcome::Failed { cause: Some("could not start".into()) }))
            .unwrap();
        charge.release().unwrap();
        assert_eq!(
            frames.0,
            vec![finished(0, Outcome::Failed { cause: Some("could not start".into()) })]
        );
    }
}
