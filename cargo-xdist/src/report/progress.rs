//! The live display on a terminal, a subscriber of the run events: one bar (done/total,
//! elapsed, the counts so far) and under it one line per worker with the test it runs and for
//! how long. The terminal report's lines go through a [`SuspendWriter`], which lifts the
//! display while they are written, so they scroll above it. The display is cleared when the
//! run finishes, before the summary.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::time::Duration;

use anstyle::{AnsiColor, Style};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};
use xdist_core::events::{RunEvent, RunSubscriber};
use xdist_core::summary::TestStatus;
use xdist_core::testlist::TestList;
use xdist_core::{TestIndex, WorkerId, worker_name};

use super::style::Palette;

/// How often the elapsed times are redrawn.
const TICK: Duration = Duration::from_millis(200);

/// The bar and the worker lines.
pub struct ProgressDisplay<'a> {
    list: &'a TestList,
    multi: MultiProgress,
    palette: Palette,
    bar: Option<ProgressBar>,
    /// Each live worker's line and the test it runs.
    workers: BTreeMap<WorkerId, (ProgressBar, Option<TestIndex>)>,
    passed: usize,
    failed: usize,
    skipped: usize,
}

impl<'a> ProgressDisplay<'a> {
    /// A display of the tests of `list`, drawn on `target` (it draws nothing where that is
    /// not a terminal).
    pub fn new(list: &'a TestList, target: ProgressDrawTarget, palette: Palette) -> Self {
        Self {
            list,
            multi: MultiProgress::with_draw_target(target),
            palette,
            bar: None,
            workers: BTreeMap::new(),
            passed: 0,
            failed: 0,
            skipped: 0,
        }
    }

    /// A writer whose text appears above the display.
    pub fn writer<W: Write>(&self, inner: W) -> SuspendWriter<W> {
        SuspendWriter { multi: self.multi.clone(), inner, buffer: Vec::new() }
    }

    fn counts(&self) -> String {
        let part = |n: usize, what: &str, color: AnsiColor| {
            let text = format!("{n} {what}");
            if n == 0 {
                text
            } else {
                self.palette.paint(&text, Style::new().fg_color(Some(color.into())))
            }
        };
        format!(
            "{}, {}, {}",
            part(self.passed, "passed", AnsiColor::Green),
            part(self.failed, "failed", AnsiColor::Red),
            part(self.skipped, "skipped", AnsiColor::Yellow)
        )
    }

    fn start_run(&mut self, tests: usize, skipped: usize) {
        self.skipped = skipped;
        let style = ProgressStyle::with_template(
            "{prefix:>10} [{elapsed_precise}] [{bar:25}] {pos}/{len} {percent:>3}% {wide_msg}",
        )
        .expect("a valid template")
        .progress_chars("=> ");
        let bar = self.multi.add(ProgressBar::new(tests as u64).with_style(style));
        bar.set_prefix("Running");
        bar.set_message(self.counts());
        bar.enable_steady_tick(TICK);
        self.bar = Some(bar);
    }

    fn add_worker(&mut self, worker: WorkerId) {
        let line = self.multi.add(ProgressBar::new(1).with_style(idle_style()));
        line.set_prefix(format!("[{}]", worker_name(worker)));
        line.set_message("starting");
        line.enable_steady_tick(TICK);
        if let Some((old, _)) = self.workers.insert(worker, (line, None)) {
            old.finish_and_clear();
        }
    }

    fn test_started(&mut self, worker: WorkerId, index: TestIndex) {
        let id = self.list.test_id(index as usize);
        if let Some((line, running)) = self.workers.get_mut(&worker) {
            *running = Some(index);
            line.set_style(running_style());
            line.reset_elapsed();
            line.set_message(id);
        }
    }

    /// `worker` is done with `index`; it is idle unless it began another test already.
    fn test_ended(&mut self, worker: Option<WorkerId>, index: TestIndex) {
        let Some((line, running)) = worker.and_then(|w| self.workers.get_mut(&w)) else { return };
        if *running == Some(index) {
            *running = None;
            line.set_style(idle_style());
            line.set_message("idle");
        }
    }

    fn clear(&mut self) {
        for (line, _) in std::mem::take(&mut self.workers).into_values() {
            line.finish_and_clear();
        }
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        let _ = self.multi.clear();
    }
}

fn running_style() -> ProgressStyle {
    ProgressStyle::with_template("{prefix:>10} [{took}] {wide_msg}")
        .expect("a valid template")
        .with_key("took", |state: &ProgressState, w: &mut dyn std::fmt::Write| {
            let _ = write!(w, "{:>7.1}s", state.elapsed().as_secs_f64());
        })
}

fn idle_style() -> ProgressStyle {
    ProgressStyle::with_template("{prefix:>10} {wide_msg}").expect("a valid template")
}

impl RunSubscriber for ProgressDisplay<'_> {
    fn on_event(&mut self, event: &RunEvent) {
        match event {
            RunEvent::RunStarted { tests, skipped, .. } => self.start_run(*tests, *skipped),
            RunEvent::WorkerStarted { worker, .. } => self.add_worker(*worker),
            RunEvent::WorkerReady { worker } => {
                if let Some((line, None)) = self.workers.get(worker) {
                    line.set_message("idle");
                }
            }
            RunEvent::TestStarted { index, worker } => self.test_started(*worker, *index),
            RunEvent::TestFinished(result) => {
                match result.status {
                    TestStatus::Passed => self.passed += 1,
                    TestStatus::Failed | TestStatus::TimedOut => self.failed += 1,
                    TestStatus::Skipped => self.skipped += 1,
                    TestStatus::NotRun => {}
                }
                self.test_ended(result.worker, result.index);
                let counts = self.counts();
                if let Some(bar) = &self.bar {
                    bar.inc(1);
                    bar.set_message(counts);
                }
            }
            RunEvent::TestRetried(result) => self.test_ended(result.worker, result.index),
            RunEvent::WorkerExited { worker, .. } => {
                if let Some((line, _)) = self.workers.remove(worker) {
                    line.finish_and_clear();
                }
            }
            RunEvent::RunCancelled(_) => {
                if let Some(bar) = &self.bar {
                    bar.set_prefix("Stopping");
                }
            }
            RunEvent::RunFinished(_) => self.clear(),
            RunEvent::TestSlow { .. }
            | RunEvent::WorkerRetired { .. }
            | RunEvent::ProcessStarted { .. }
            | RunEvent::ProcessExited { .. }
            | RunEvent::OneNamePerProcess { .. }
            | RunEvent::TestOutput { .. } => {}
        }
    }
}

impl Drop for ProgressDisplay<'_> {
    fn drop(&mut self) {
        self.clear();
    }
}

/// A writer that keeps what it is given until it is flushed, then writes it with the
/// display lifted, so the text lands above the display and the display is redrawn under it.
pub struct SuspendWriter<W: Write> {
    multi: MultiProgress,
    inner: W,
    buffer: Vec<u8>,
}

impl<W: Write> Write for SuspendWriter<W> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.buffer.extend_from_slice(bytes);
        if self.buffer.len() >= 64 * 1024 {
            self.flush()?;
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.buffer.is_empty() {
            return self.inner.flush();
        }
        let (inner, buffer) = (&mut self.inner, &mut self.buffer);
        self.multi.suspend(|| {
            let written = inner.write_all(buffer).and_then(|()| inner.flush());
            buffer.clear();
            written
        })
    }
}

impl<W: Write> Drop for SuspendWriter<W> {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}
