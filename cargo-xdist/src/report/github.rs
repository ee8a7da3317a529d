//! GitHub Actions, a subscriber used when `GITHUB_ACTIONS=true`: an `::error` annotation per
//! failed test (its file and line from the panic location, relative to the workspace root
//! as cargo compiles members, so the annotation lands on the line in the pull request) and a Markdown job summary
//! appended to `$GITHUB_STEP_SUMMARY` (counts, failed tests, the slowest tests, each worker's
//! busy time, and the critical path: the tests of the worker that finished last, which
//! held the run up).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use xdist_core::events::{RunEvent, RunSubscriber};
use xdist_core::summary::{RunSummary, TestResult};
use xdist_core::testlist::TestList;
use xdist_core::worker_name;

/// How many of the slowest tests the job summary lists.
const SLOWEST: usize = 10;

/// Writes annotations to `out` and the job summary to `summary`.
pub struct GithubReporter<'a> {
    list: &'a TestList,
    workspace_root: PathBuf,
    out: Box<dyn Write + 'a>,
    summary: Option<Box<dyn Write + 'a>>,
    failures: Vec<TestResult>,
    durations: Vec<(u32, Duration)>,
    busy: BTreeMap<u32, Duration>,
    /// Each worker's tests, in the order they finished.
    ran: BTreeMap<u32, Vec<(u32, Duration)>>,
    /// The worker whose test finished last.
    last_worker: Option<u32>,
}

impl<'a> GithubReporter<'a> {
    /// A reporter for `list`, paths made relative to `workspace_root`; `summary` is where
    /// the job summary goes (the file `$GITHUB_STEP_SUMMARY` names), if anywhere.
    pub fn new(
        list: &'a TestList,
        workspace_root: impl Into<PathBuf>,
        out: Box<dyn Write + 'a>,
        summary: Option<Box<dyn Write + 'a>>,
    ) -> Self {
        Self {
            list,
            workspace_root: workspace_root.into(),
            out,
            summary,
            failures: Vec::new(),
            durations: Vec::new(),
            busy: BTreeMap::new(),
            ran: BTreeMap::new(),
            last_worker: None,
        }
    }

    /// Whether this is a GitHub Actions job.
    pub fn wanted() -> bool {
        std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true")
    }

    /// The job summary file of this step, opened for appending, if there is one.
    pub fn step_summary() -> Option<Box<dyn Write>> {
        let path = std::env::var_os("GITHUB_STEP_SUMMARY")?;
        let file = std::fs::OpenOptions::new().append(true).create(true).open(path).ok()?;
        Some(Box::new(file))
    }

    fn annotate(&mut self, failure: &TestResult) {
        let id = self.list.test_id(failure.index as usize);
        let output = String::from_utf8_lossy(&failure.output);
        let message = failure
            .cause
            .clone()
            .or_else(|| panic_message(&output))
            .unwrap_or_else(|| "test failed".to_string());
        // cargo compiles workspace members from the workspace root, so their panic
        // locations are relative to it already; others are absolute.
        let place = panic_location(&output).map(|(file, line)| {
            let path = Path::new(file);
            let path = path.strip_prefix(&self.workspace_root).unwrap_or(path);
            format!("file={},line={line},", escape_property(&path.to_string_lossy()))
        });
        let _ = writeln!(
            self.out,
            "::error {}title={}::{}",
            place.unwrap_or_default(),
            escape_property(&id),
            escape_data(&message)
        );
    }

    fn write_summary(&mut self, summary: &RunSummary) {
        let Some(out) = self.summary.as_mut() else { return };
        let mut text = String::from("## cargo-xdist\n\n");
        text.push_str("| passed | failed | timed out | flaky | skipped | not run |\n");
        text.push_str("|---:|---:|---:|---:|---:|---:|\n");
        text.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} |\n\n",
            summary.passed,
            summary.failed,
            summary.timed_out,
            summary.flaky,
            summary.skipped,
            summary.not_run
        ));
        if !self.failures.is_empty() {
            text.push_str("### Failed\n\n");
            for failure in &self.failures {
                let worker =
                    failure.worker.map_or_else(String::new, |w| format!(" ({})", worker_name(w)));
                text.push_str(&format!(
                    "- `{}`{worker}\n",
                    self.list.test_id(failure.index as usize)
                ));
            }
            text.push('\n');
        }
        let mut slowest = self.durations.clone();
        slowest.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        if !slowest.is_empty() {
            text.push_str("### Slowest tests\n\n| test | time |\n|---|---:|\n");
            for (index, took) in slowest.iter().take(SLOWEST) {
                let id = self.list.test_id(*index as usize);
                text.push_str(&format!("| `{id}` | {:.3} s |\n", took.as_secs_f64()));
            }
            text.push('\n');
        }
        if !self.busy.is_empty() {
            text.push_str("### Workers\n\n| worker | busy |\n|---|---:|\n");
            for (worker, busy) in &self.busy {
                text.push_str(&format!(
                    "| {} | {:.3} s |\n",
                    worker_name(*worker),
                    busy.as_secs_f64()
                ));
            }
            text.push('\n');
        }
        if let Some((worker, tests)) = self.last_worker.and_then(|w| Some((w, self.ran.get(&w)?))) {
            let total: Duration = tests.iter().map(|t| t.1).sum();
            text.push_str(&format!(
                "### Critical path\n\n{} finished last: {} tests, {:.3} s. Its longest:\n\n",
                worker_name(worker),
                tests.len(),
                total.as_secs_f64()
            ));
            text.push_str("| test | time |\n|---|---:|\n");
            let mut longest = tests.clone();
            longest.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            for (index, took) in longest.iter().take(SLOWEST) {
                let id = self.list.test_id(*index as usize);
                text.push_str(&format!("| `{id}` | {:.3} s |\n", took.as_secs_f64()));
            }
            text.push('\n');
        }
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
    }
}

impl RunSubscriber for GithubReporter<'_> {
    fn on_event(&mut self, event: &RunEvent) {
        match event {
            RunEvent::TestFinished(result) => {
                if let Some(worker) = result.worker {
                    *self.busy.entry(worker).or_default() += result.duration;
                    self.ran.entry(worker).or_default().push((result.index, result.duration));
                    self.last_worker = Some(worker);
                }
                if !result.duration.is_zero() {
                    self.durations.push((result.index, result.duration));
                }
                if result.is_failure() {
                    self.failures.push(result.clone());
                }
            }
            RunEvent::RunFinished(summary) => {
                self.failures.sort_by_key(|r| (r.index, r.worker));
                let failures = std::mem::take(&mut self.failures);
                for failure in &failures {
                    self.annotate(failure);
                }
                self.failures = failures;
                let _ = self.out.flush();
                self.write_summary(summary);
            }
            _ => {}
        }
    }
}

/// `src/lib.rs` and `12` from libtest's `thread 'x' (7) panicked at src/lib.rs:12:5:`.
fn panic_location(output: &str) -> Option<(&str, u32)> {
    let mut parts = super::terminal::panic_location(output)?.rsplitn(3, ':');
    let _column: u32 = parts.next()?.parse().ok()?;
    let line = parts.next()?.parse().ok()?;
    Some((parts.next()?, line))
}

/// The panic's message: the line after the location.
fn panic_message(output: &str) -> Option<String> {
    let output = xdist_core::protocol::own_output(output);
    let at = output.find(" panicked at ")?;
    let message = output[at..].lines().nth(1)?.trim();
    (!message.is_empty()).then(|| message.to_string())
}

/// Workflow-command escaping of a message.
fn escape_data(text: &str) -> String {
    text.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

/// Workflow-command escaping of a property value.
fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panic_locations_and_messages() {
        let out = "captured\n\nthread 'm::t' (4974) panicked at src/m.rs:9:5:\nboom here\nnote: …";
        assert_eq!(panic_location(out), Some(("src/m.rs", 9)));
        assert_eq!(panic_message(out).as_deref(), Some("boom here"));
        assert_eq!(panic_location("no panic"), None);
    }

    #[test]
    fn workflow_commands_are_escaped() {
        assert_eq!(escape_data("a%b\nc"), "a%25b%0Ac");
        assert_eq!(escape_property("pkg::bin/x t, y"), "pkg%3A%3Abin/x t%2C y");
    }
}
