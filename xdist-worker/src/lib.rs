//! The cargo-xdist worker: reads frames of test indices from its stdin pipe, runs them in
//! batches (one libtest process per binary and batch), and writes a frame per test event to
//! its stdout pipe. A batch whose process crashes is reported test by test, and the tests it
//! never started run again in a fresh process.

pub mod batch;
pub mod capture;
pub mod command;
pub mod filters;
pub mod in_flight;
pub mod libtest;
pub mod pace;
pub mod skips;

use std::collections::{HashSet, VecDeque};
use std::io::{self, BufWriter, Read, Write};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::Duration;

use xdist_core::TestIndex;
use xdist_core::codec::{self, FrameError};
use xdist_core::protocol::{Batching, BinarySpec, FromWorker, Harness, ToWorker, WorkerSetup};

use crate::batch::{Batch, Rest};
use crate::in_flight::InFlight;

/// The worker's exit code for a protocol or pipe error (documented in docs/exit-codes.md).
pub const EXIT_PROTOCOL: u8 = 3;
/// The worker's exit code when its controller went away or sent garbage mid-run.
pub const EXIT_CONTROLLER_GONE: i32 = 4;
/// The worker's exit code after [`ToWorker::Abort`].
pub const EXIT_ABORTED: i32 = 5;

/// Why a worker stopped before its controller told it to.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// A frame could not be read or written.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// The first frame was not the setup.
    #[error("protocol error: expected the setup frame first")]
    NoSetup,
    /// A test index outside the list.
    #[error("protocol error: test index {0} is out of range")]
    BadIndex(TestIndex),
    /// Reporting to the controller failed.
    #[error("pipe error: {0}")]
    Io(#[from] io::Error),
}

/// Tests sent to the worker and not yet handed to a test process.
#[derive(Default)]
struct Inbox {
    queue: VecDeque<TestIndex>,
    shutdown: bool,
}

type Shared<T> = Arc<(Mutex<T>, Condvar)>;

/// Serves one controller over `input`/`output` until it sends `Shutdown` or closes the pipe.
pub fn serve(
    mut input: impl Read + Send + 'static,
    output: impl Write + Send + 'static,
) -> Result<(), WorkerError> {
    let setup = match codec::read_frame::<ToWorker>(&mut input)? {
        Some(ToWorker::Setup(setup)) => setup,
        _ => return Err(WorkerError::NoSetup),
    };
    let output = Arc::new(Mutex::new(BufWriter::new(output)));
    send(&output, &FromWorker::Ready)?;
    let current_group = Arc::new(AtomicI32::new(0));
    let inbox: Shared<Inbox> = Arc::default();
    let in_flight: Arc<Mutex<InFlight>> = Arc::default();
    {
        let (inbox, group, output) =
            (Arc::clone(&inbox), Arc::clone(&current_group), Arc::clone(&output));
        let in_flight = Arc::clone(&in_flight);
        thread::spawn(move || read_commands(&mut input, &inbox, &in_flight, &group, &output));
    }
    // Under adaptive and movable batching a steal may take tests of the batch in flight.
    let stealable = setup.batching.is_movable().then_some(&*in_flight);
    start_heartbeat(Arc::clone(&output), Duration::from_millis(setup.limits.heartbeat_ms.max(10)));
    // Those an earlier run found, and those this worker finds.
    let mut one_name_binaries: HashSet<u32> =
        (0..).zip(&setup.binaries).filter(|(_, b)| b.one_name).map(|(i, _)| i).collect();
    let universes = Universes::of(&setup);
    let mut sink = PacedOutput {
        out: SharedOutput(Arc::clone(&output)),
        pace: pace::Pace::default(),
        setup: &setup,
    };
    loop {
        let batch = {
            let (lock, ready) = &*inbox;
            let mut inbox = lock.lock().map_err(|_| io::Error::other("inbox lock poisoned"))?;
            while inbox.queue.is_empty() && !inbox.shutdown {
                inbox = ready.wait(inbox).map_err(|_| io::Error::other("inbox lock poisoned"))?;
            }
            if inbox.queue.is_empty() {
                return Ok(());
            }
            let mut take = match setup.batching {
                Batching::Whole | Batching::Movable => inbox.queue.len(),
                Batching::Adaptive => sink.pace.batch_len(&setup, &inbox.queue),
            };
            // `--failed-first`: tests to run first go alone, ahead of what follows them.
            let first = |index: &TestIndex| *index < setup.first;
            if inbox.queue.front().is_some_and(first) {
                take = take.min(inbox.queue.iter().take_while(|i| first(i)).count());
            }
            let batch = inbox.queue.drain(..take).collect::<Vec<_>>();
            if let Some(in_flight) = stealable {
                lock_in_flight(in_flight)?.begin(&batch);
            }
            batch
        };
        let binaries = Binaries { universes: &universes, one_name: &mut one_name_binaries };
        let run = BatchPlace { current_group: &current_group, in_flight: stealable };
        let back = run_queue(&setup, batch, run, binaries, &mut sink)?;
        // What the batch put back goes into the inbox as the batch leaves the flight, so a
        // steal finds each test in one of the two.
        let (lock, _) = &*inbox;
        let mut inbox = lock.lock().map_err(|_| io::Error::other("inbox lock poisoned"))?;
        let requeued = !back.is_empty();
        for index in back.into_iter().rev() {
            inbox.queue.push_front(index);
        }
        if let Some(in_flight) = stealable {
            lock_in_flight(in_flight)?.end();
        }
        drop(inbox);
        if requeued {
            send(&output, &FromWorker::Requeued)?;
        }
    }
}

/// Reads the controller's frames: queues tests, answers steals at once (even while a test
/// runs), and when the controller goes away, stops the running test and exits.
fn read_commands<W: Write>(
    input: &mut impl Read,
    inbox: &Shared<Inbox>,
    in_flight: &Mutex<InFlight>,
    group: &AtomicI32,
    output: &Mutex<W>,
) {
    let (lock, ready) = &**inbox;
    loop {
        let frame = codec::read_frame::<ToWorker>(input);
        let Ok(mut queued) = lock.lock() else { return };
        match frame {
            Ok(Some(ToWorker::Run(tests))) => queued.queue.extend(tests),
            Ok(Some(ToWorker::Shutdown)) => {
                queued.shutdown = true;
                ready.notify_all();
                return;
            }
            Ok(Some(ToWorker::Steal(tests))) => {
                // All or nothing: each from the inbox, or from the batch in flight where it
                // can still be given up (`in_flight.rs`).
                let Ok(mut flying) = in_flight.lock() else { return };
                let all = tests.iter().all(|t| queued.queue.contains(t) || flying.can_release(*t));
                let released = if all { tests } else { Vec::new() };
                let taken: HashSet<TestIndex> = released.iter().copied().collect();
                queued.queue.retain(|t| !taken.contains(t));
                for &test in &released {
                    if flying.can_release(test) {
                        flying.release(test);
                    }
                }
                drop(flying);
                drop(queued);
                if send(output, &FromWorker::Released(released)).is_err() {
                    return;
                }
                continue;
            }
            Ok(Some(ToWorker::Abort)) => {
                kill_group(group);
                std::process::exit(EXIT_ABORTED);
            }
            _ => {
                // The controller is gone (or mad): stop the running test and leave.
                kill_group(group);
                std::process::exit(EXIT_CONTROLLER_GONE);
            }
        }
        ready.notify_all();
    }
}

/// The worker's stdout, shared with the heartbeat and steal-answering threads.
struct SharedOutput<W>(Arc<Mutex<W>>);

impl<W: Write> batch::Sink for SharedOutput<W> {
    fn send(&mut self, message: FromWorker) -> io::Result<()> {
        let mut out = self.0.lock().map_err(|_| io::Error::other("output lock poisoned"))?;
        codec::queue_frame(&mut *out, &message).map_err(into_io)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.lock().map_err(|_| io::Error::other("output lock poisoned"))?.flush()
    }
}

/// The output, noting each test's duration for [`pace::Pace`] on the way.
struct PacedOutput<'s, W> {
    out: SharedOutput<W>,
    pace: pace::Pace,
    setup: &'s WorkerSetup,
}

impl<W: Write> batch::Sink for PacedOutput<'_, W> {
    fn send(&mut self, message: FromWorker) -> io::Result<()> {
        if let FromWorker::Finished(report) = &message {
            if let Some(test) = self.setup.tests.get(report.index as usize) {
                self.pace.record(test.binary, Duration::from_nanos(report.duration_nanos));
            }
        }
        self.out.send(message)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// Writes one frame and flushes it (for the rare frames sent outside a batch).
fn send<W: Write>(output: &Mutex<W>, message: &FromWorker) -> io::Result<()> {
    let mut out = output.lock().map_err(|_| io::Error::other("output lock poisoned"))?;
    codec::write_frame(&mut *out, message).map_err(into_io)
}

/// Tells the controller, periodically, that this worker is alive.
fn start_heartbeat<W: Write + Send + 'static>(output: Arc<Mutex<W>>, every: Duration) {
    thread::spawn(move || {
        loop {
            thread::sleep(every);
            if send(&output, &FromWorker::Heartbeat).is_err() {
                return;
            }
        }
    });
}

fn kill_group(group: &AtomicI32) {
    let pgid = group.load(Ordering::SeqCst);
    if pgid > 0 {
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(pgid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}

fn into_io(e: FrameError) -> io::Error {
    match e {
        FrameError::Io(e) => e,
        other => io::Error::other(other.to_string()),
    }
}

/// Runs `queue` as one batch per binary (in order of first appearance), re-running in a
/// fresh process whatever a crash kept from starting. A binary whose process of several
/// names ran none of them (a harness that takes one name) gets one name per process, for
/// the rest of the run (`one_name_binaries`, which starts with the binaries the setup
/// marks `one_name`), and the controller is told ([`FromWorker::OneNamePerProcess`]).
/// Tests a steal took from the batch in flight are left out of the processes not started
/// yet. Returns the tests to put back in front of the worker's queue: all that did not run
/// once a process was cut at a test a steal took (adaptive batching only; `batch/cut.rs`).
fn run_queue(
    setup: &WorkerSetup,
    queue: Vec<TestIndex>,
    place: BatchPlace<'_>,
    mut binaries: Binaries<'_, '_>,
    sink: &mut dyn batch::Sink,
) -> Result<Vec<TestIndex>, WorkerError> {
    let given_up =
        |index: TestIndex| in_flight::with(place.in_flight, |f| f.is_released(index)) == Some(true);
    let mut by_binary: Vec<(u32, Vec<(TestIndex, &str)>)> = Vec::new();
    for index in queue {
        let test = setup.tests.get(index as usize).ok_or(WorkerError::BadIndex(index))?;
        match by_binary.iter_mut().find(|(b, _)| *b == test.binary) {
            Some((_, tests)) => tests.push((index, &test.name)),
            None => by_binary.push((test.binary, vec![(index, &test.name)])),
        }
    }
    let mut by_binary = by_binary.into_iter();
    while let Some((binary_index, tests)) = by_binary.next() {
        let binary =
            setup.binaries.get(binary_index as usize).ok_or(WorkerError::BadIndex(binary_index))?;
        let universe = binaries.universes.get(binary_index);
        // `--no-capture`: one test per process, so that nothing a test prints can pass for
        // another test's start line, and all the process writes is that test's.
        let alone = setup.no_capture && binary.harness == Harness::Libtest;
        let mut batches: VecDeque<Planned<'_>> = if alone {
            one_name_each(tests).into()
        } else if binaries.one_name.contains(&binary_index) {
            binaries.one_name_batches(binary_index, binary, tests).into()
        } else {
            let mut batches = Vec::new();
            for (tests, filters) in with_filters(tests, binary.harness, universe) {
                match filters {
                    Some(filters) => batches.push((tests, Select::Filters(filters))),
                    None => batches.extend(
                        split_for_command_line(tests).into_iter().map(|t| (t, Select::Names)),
                    ),
                }
            }
            batches.into()
        };
        while let Some((mut tests, select)) = batches.pop_front() {
            let before = tests.len();
            tests.retain(|t| !given_up(t.0));
            if tests.is_empty() {
                continue;
            }
            if tests.len() < before {
                // Filters or skips would select the tests given up too.
                match select {
                    Select::Names => {}
                    Select::Filters(_) => {
                        let named = split_for_command_line(tests).into_iter();
                        push_front(&mut batches, named.map(|t| (t, Select::Names)).collect());
                        continue;
                    }
                    Select::Skips(_) => {
                        let again = binaries.one_name_batches(binary_index, binary, tests);
                        push_front(&mut batches, again);
                        continue;
                    }
                }
            }
            let skipping = matches!(select, Select::Skips(_));
            let (filters, skips) = match select {
                Select::Names => (None, None),
                Select::Filters(filters) => (Some(filters), None),
                Select::Skips(skips) => (None, Some(skips)),
            };
            let indices: Vec<TestIndex> = tests.iter().map(|t| t.0).collect();
            let batch = Batch {
                binary,
                binary_index,
                tests,
                filters,
                skips,
                include_ignored: setup.include_ignored,
                no_capture: setup.no_capture,
                limits: &setup.limits,
                current_group: place.current_group,
                in_flight: place.in_flight,
            };
            let rest = batch.run(sink)?;
            // What ran is settled; what is left (to run again) can still be given up.
            in_flight::with(place.in_flight, |in_flight| {
                let left: HashSet<TestIndex> = match &rest {
                    Rest::Done => HashSet::new(),
                    Rest::Rerun(r) | Rest::OnePerProcess(r) | Rest::Requeue(r) => {
                        r.iter().map(|t| t.0).collect()
                    }
                };
                in_flight.settle(indices.iter().copied().filter(|t| !left.contains(t)));
            });
            match rest {
                Rest::Done => {}
                Rest::Requeue(rest) => {
                    sink.flush()?;
                    let mut back: Vec<TestIndex> = rest.into_iter().map(|t| t.0).collect();
                    back.extend(batches.into_iter().flat_map(|(tests, _)| tests).map(|t| t.0));
                    back.extend(by_binary.flat_map(|(_, tests)| tests).map(|t| t.0));
                    back.retain(|&t| !given_up(t));
                    return Ok(back);
                }
                // After a crash, the rest of a skipping batch skips again, if some of it
                // ran (else a name each: nothing is tried the same way twice for nothing);
                // a skipping batch that ran none goes a name each too.
                Rest::Rerun(rest) if skipping && rest.len() < indices.len() => {
                    push_front(&mut batches, binaries.one_name_batches(binary_index, binary, rest));
                }
                Rest::Rerun(rest) | Rest::OnePerProcess(rest) if skipping => {
                    push_front(&mut batches, one_name_each(rest));
                }
                Rest::Rerun(rest) => batches.push_front((rest, Select::Names)),
                Rest::OnePerProcess(rest) => {
                    // For the rest of the run, this binary takes one name per process (or
                    // skips: `skips.rs`); the controller remembers it for the next runs.
                    if binaries.one_name.insert(binary_index) {
                        sink.send(FromWorker::OneNamePerProcess { binary: binary_index })?;
                    }
                    push_front(&mut batches, binaries.one_name_batches(binary_index, binary, rest));
                }
            }
            sink.flush()?;
        }
    }
    Ok(Vec::new())
}

/// Where a worker's batches run: the process group it publishes, and what a steal took
/// from its batch in flight (adaptive batching only).
#[derive(Clone, Copy)]
struct BatchPlace<'a> {
    current_group: &'a AtomicI32,
    in_flight: Option<&'a Mutex<InFlight>>,
}

/// The batch in flight, locked.
fn lock_in_flight(in_flight: &Mutex<InFlight>) -> io::Result<std::sync::MutexGuard<'_, InFlight>> {
    in_flight.lock().map_err(|_| io::Error::other("in-flight lock poisoned"))
}

/// A batch's tests, and how its command line selects them.
type Planned<'a> = (Vec<(TestIndex, &'a str)>, Select);

/// Puts `planned` before what `batches` holds, in its order.
fn push_front<'a>(batches: &mut VecDeque<Planned<'a>>, planned: Vec<Planned<'a>>) {
    for batch in planned.into_iter().rev() {
        batches.push_front(batch);
    }
}

/// A process per test, each named.
fn one_name_each(tests: Vec<(TestIndex, &str)>) -> Vec<Planned<'_>> {
    tests.into_iter().map(|t| (vec![t], Select::Names)).collect()
}

/// How a batch's command line selects its tests.
enum Select {
    /// By exact name.
    Names,
    /// By module filters that select exactly them (`filters.rs`).
    Filters(Vec<String>),
    /// By skipping every other test of the binary, for a harness that takes one name
    /// (`skips.rs`).
    Skips(Vec<String>),
}

/// What the worker keeps about its binaries between batches.
struct Binaries<'u, 'o> {
    /// Every test name of each binary.
    universes: &'u Universes<'u>,
    /// Binaries that take one name per process.
    one_name: &'o mut HashSet<u32>,
}

impl Binaries<'_, '_> {
    /// The batches of `tests` of binary `index`, which takes one name per process: one
    /// process that skips the binary's other tests where its `--list` with those skips shows
    /// exactly them, else a process per test.
    fn one_name_batches<'a>(
        &mut self,
        index: u32,
        binary: &BinarySpec,
        tests: Vec<(TestIndex, &'a str)>,
    ) -> Vec<Planned<'a>> {
        let plan = match self.universes.get(index) {
            Some(universe) if tests.len() > 1 => skips::skips_for(&tests, universe)
                .and_then(|skips| Some((skips::checked_order(binary, &skips, &tests)?, skips))),
            _ => None,
        };
        match plan {
            Some((ordered, skips)) => vec![(ordered, Select::Skips(skips))],
            None => one_name_each(tests),
        }
    }
}

/// Every test name each binary has: the run's and the `unlisted` ones.
struct Universes<'s>(Vec<filters::Universe<'s>>);

impl<'s> Universes<'s> {
    fn of(setup: &'s WorkerSetup) -> Self {
        let mut names: Vec<Vec<&str>> = setup
            .binaries
            .iter()
            .map(|b| b.unlisted.iter().map(String::as_str).collect())
            .collect();
        for test in &setup.tests {
            if let Some(binary) = names.get_mut(test.binary as usize) {
                binary.push(&test.name);
            }
        }
        Self(names.into_iter().map(filters::Universe::new).collect())
    }

    fn get(&self, binary: u32) -> Option<&filters::Universe<'s>> {
        self.0.get(binary as usize)
    }
}

/// A libtest batch as module filters plus a batch of the rest by exact name, when whole
/// modules make that worth it; else the batch by exact names.
fn with_filters<'a>(
    batch: Vec<(TestIndex, &'a str)>,
    harness: Harness,
    universe: Option<&filters::Universe<'_>>,
) -> Vec<(skips::Tests<'a>, Option<Vec<String>>)> {
    let names: Vec<&str> = batch.iter().map(|t| t.1).collect();
    if harness == Harness::Doctest {
        let words = universe.and_then(|universe| filters::doctest_words(&names, universe));
        return vec![(batch, words)];
    }
    let compact = universe
        .filter(|_| harness == Harness::Libtest)
        .and_then(|universe| filters::compact(&names, universe));
    let Some(compact) = compact else { return vec![(batch, None)] };
    let covered: HashSet<&str> = compact.covered.iter().copied().collect();
    let (by_filter, rest): (Vec<_>, Vec<_>) =
        batch.into_iter().partition(|t| covered.contains(t.1));
    let mut out = vec![(by_filter, Some(compact.filters))];
    if !rest.is_empty() {
        out.push((rest, None));
    }
    out
}

/// Most tests named on one command line: libtest compares every test of the binary with
/// every name given, and the kernel limits the size of a command line.
const MAX_BATCH_TESTS: usize = 4096;

/// Most bytes of test names on one command line.
const MAX_BATCH_NAME_BYTES: usize = 256 * 1024;

/// Cuts a binary's tests into batches that fit on a command line.
fn split_for_command_line(tests: Vec<(TestIndex, &str)>) -> Vec<Vec<(TestIndex, &str)>> {
    let mut batches = vec![Vec::new()];
    let mut bytes = 0;
    for test in tests {
        let current = batches.last_mut().expect("never empty");
        if !current.is_empty()
            && (current.len() >= MAX_BATCH_TESTS || bytes + test.1.len() + 1 > MAX_BATCH_NAME_BYTES)
        {
            batches.push(Vec::new());
            bytes = 0;
        }
        bytes += test.1.len() + 1;
        batches.last_mut().expect("never empty").push(test);
    }
    batches
}

/// The worker's entry point: serves the controller on stdin/stdout.
pub fn main() -> std::process::ExitCode {
    match serve(io::stdin(), io::stdout()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xdist-worker: {e}");
            std::process::ExitCode::from(EXIT_PROTOCOL)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_fit_on_a_command_line() {
        let long = "x".repeat(1000);
        let tests: Vec<(TestIndex, &str)> = (0..1000).map(|i| (i, long.as_str())).collect();
        let batches = split_for_command_line(tests);
        assert!(
            batches
                .iter()
                .all(|b| b.iter().map(|t| t.1.len() + 1).sum::<usize>() <= MAX_BATCH_NAME_BYTES)
        );
        assert_eq!(batches.iter().map(Vec::len).sum::<usize>(), 1000);
        let short: Vec<(TestIndex, &str)> = (0..10_000).map(|i| (i, "t")).collect();
        let sizes: Vec<usize> = split_for_command_line(short).iter().map(Vec::len).collect();
        assert_eq!(sizes, vec![4096, 4096, 1808]);
    }
}
