//! Drives a [`DSession`] to its end: carries out its commands on worker links, feeds it what
//! the workers report, checks each worker's silence on its own deadline, and turns SIGINT,
//! SIGTERM and SIGHUP into a stop. Its events go to the subscribers.
//!
//! The loop never leaves with tests unreported: a worker that cannot start counts as
//! crashed, and a second signal kills what is left and has the session report the rest as
//! not run. One `select!` on a current-thread tokio runtime; the links' tasks do the I/O.

pub mod growth;
mod signals;
pub mod transport;

#[cfg(test)]
mod tests;

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;
use xdist_core::events::{CancelReason, RunEvent, RunSubscriber, WorkerExit};
use xdist_core::protocol::{FromWorker, ToWorker};
use xdist_core::{Action, DSession, Event, WorkerId};

use growth::{CpuTimes, FIRST_LOOK, Growth, LOOK_EVERY};
use signals::Interrupts;
use transport::{LinkEvent, Transport, WorkerLink};

/// What the run looks like, for the `RunStarted` event.
#[derive(Clone, Debug)]
pub struct RunShape {
    /// Tests ignored before the run.
    pub skipped: usize,
    /// The `--dist` mode's name.
    pub mode: String,
    /// A worker that sends nothing (not even a heartbeat) for this long is killed.
    pub silence_timeout: Duration,
    /// `-n auto`: add workers while CPUs stay idle, up to this rule's limit (`growth.rs`).
    pub growth: Option<Growth>,
}

/// How a driven run ended.
#[derive(Debug, Default)]
pub struct DriveOutcome {
    /// The signal that interrupted the run, if one did (its name).
    pub interrupted_by: Option<String>,
    /// A second signal came and killed what was left (the teardown is skipped too).
    pub forced: bool,
}

struct Live {
    link: Box<dyn WorkerLink>,
    killed: bool,
}

impl Live {
    fn silent_since(&self) -> Instant {
        Instant::from_std(self.link.last_heard())
    }
}

/// Runs `session` on workers started by `transport`, telling `subscribers` everything.
pub async fn drive(
    session: &mut DSession,
    transport: &mut dyn Transport,
    shape: &RunShape,
    subscribers: &mut [&mut dyn RunSubscriber],
) -> DriveOutcome {
    let mut outcome = DriveOutcome::default();
    let (events, mut inbox) = mpsc::unbounded_channel();
    let mut live: HashMap<WorkerId, Live> = HashMap::new();
    let started = RunEvent::RunStarted {
        tests: session.test_count(),
        skipped: shape.skipped,
        workers: session.initial_workers(),
        mode: shape.mode.clone(),
    };
    let mut actions: VecDeque<Action> = VecDeque::from([Action::Emit(started)]);
    let mut interrupts = match Interrupts::watch() {
        Ok(interrupts) => Some(interrupts),
        Err(e) => {
            let reason = CancelReason::Internal(format!("cannot watch signals: {e}"));
            actions.extend(session.interrupt(reason));
            None
        }
    };
    if interrupts.is_some() {
        actions.extend(session.start());
    }
    let mut cpu = shape.growth.and_then(|_| CpuTimes::read());
    let mut next_look = Instant::now() + FIRST_LOOK;
    loop {
        while let Some(action) = actions.pop_front() {
            match action {
                Action::Spawn(worker) => match transport.start(worker, events.clone()) {
                    Ok(link) => {
                        let state = Live { link, killed: false };
                        live.insert(worker, state);
                    }
                    Err(e) => {
                        let cause = WorkerExit::SpawnFailed(e.to_string());
                        actions.extend(session.handle(Event::Exited { worker, cause }));
                    }
                },
                Action::Send(worker, tests) => {
                    link(&mut live, worker, |l| l.send(ToWorker::Run(tests)))
                }
                Action::Steal(worker, tests) => {
                    link(&mut live, worker, |l| l.send(ToWorker::Steal(tests)));
                }
                Action::Shutdown(worker) => link(&mut live, worker, |l| l.shut_down()),
                Action::Kill(worker) => {
                    if let Some(state) = live.get_mut(&worker) {
                        state.killed = true;
                        state.link.abort();
                    }
                }
                Action::Emit(event) => {
                    for subscriber in subscribers.iter_mut() {
                        subscriber.on_event(&event);
                    }
                }
            }
        }
        if session.is_done() {
            break;
        }
        if inbox.is_empty() {
            for subscriber in subscribers.iter_mut() {
                subscriber.flush();
            }
        }
        let silence = shape.silence_timeout;
        let next_silence = live
            .values()
            .filter(|w| !w.killed)
            .map(|w| w.silent_since() + silence)
            .min()
            .unwrap_or_else(|| Instant::now() + silence);
        tokio::select! {
            Some((worker, event)) = inbox.recv() => {
                if !live.contains_key(&worker) {
                    // A worker the loop already gave up on (silent, or after a second signal).
                    continue;
                }
                let event = match event {
                    LinkEvent::Frame(frame) => match told_event(worker, frame) {
                        Ok(told) => {
                            for subscriber in subscribers.iter_mut() {
                                subscriber.on_event(&told);
                            }
                            None
                        }
                        Err(frame) => session_event(worker, frame),
                    },
                    LinkEvent::Closed(cause) => {
                        live.remove(&worker);
                        Some(Event::Exited { worker, cause })
                    }
                };
                if let Some(event) = event {
                    actions.extend(session.handle(event));
                }
            }
            signal = next_signal(&mut interrupts) => {
                if outcome.interrupted_by.is_some() {
                    // A second signal: no more waiting for workers to go.
                    outcome.forced = true;
                    for (worker, mut state) in live.drain() {
                        state.link.kill();
                        let cause = WorkerExit::Signal("SIGKILL".into());
                        actions.extend(session.handle(Event::Exited { worker, cause }));
                    }
                } else {
                    outcome.interrupted_by = Some(signal.clone());
                    actions.extend(session.interrupt(CancelReason::Signal(signal)));
                }
            }
            () = tokio::time::sleep_until(next_silence) => {}
            () = tokio::time::sleep_until(next_look), if cpu.is_some() => {}
        }
        if let (Some(growth), Some(before)) = (shape.growth, cpu) {
            if Instant::now() >= next_look {
                next_look = Instant::now() + LOOK_EVERY;
                // Once nothing waits unsent, no more looks.
                cpu = CpuTimes::read().filter(|_| session.wants_more_workers());
                if let Some(now) = cpu {
                    let current = u32::try_from(session.live_workers()).unwrap_or(u32::MAX);
                    let add = growth.workers_to_add(
                        now.busy_since(&before),
                        growth::memory_ok(),
                        current,
                    );
                    for _ in 0..add {
                        actions.extend(session.add_worker());
                    }
                }
            }
        }
        // Each worker on its own deadline, whatever woke the loop.
        let now = Instant::now();
        let silent: Vec<WorkerId> = live
            .iter()
            .filter(|(_, w)| !w.killed && now >= w.silent_since() + silence)
            .map(|(&id, _)| id)
            .collect();
        for worker in silent {
            if let Some(mut state) = live.remove(&worker) {
                state.link.kill();
            }
            let cause = WorkerExit::Silent(silence);
            actions.extend(session.handle(Event::Exited { worker, cause }));
        }
    }
    let mut summary = session.summary();
    summary.skipped += shape.skipped;
    let finished = RunEvent::RunFinished(summary);
    for subscriber in subscribers.iter_mut() {
        subscriber.on_event(&finished);
        subscriber.flush();
    }
    outcome
}

fn link(live: &mut HashMap<WorkerId, Live>, worker: WorkerId, f: impl FnOnce(&mut dyn WorkerLink)) {
    if let Some(state) = live.get_mut(&worker) {
        f(state.link.as_mut());
    }
}

async fn next_signal(interrupts: &mut Option<Interrupts>) -> String {
    match interrupts {
        Some(interrupts) => interrupts.next().await,
        None => std::future::pending().await,
    }
}

/// The run event a frame stands for that the session has no part in (test processes and
/// their live output), or the frame back.
fn told_event(worker: WorkerId, frame: FromWorker) -> Result<RunEvent, FromWorker> {
    match frame {
        FromWorker::ProcessStarted { pid } => Ok(RunEvent::ProcessStarted { worker, pid }),
        FromWorker::ProcessExited { leaked, binary, cpu_ms, wall_ms } => {
            Ok(RunEvent::ProcessExited {
                worker,
                leaked,
                binary,
                cpu: Duration::from_millis(cpu_ms),
                wall: Duration::from_millis(wall_ms),
            })
        }
        FromWorker::OneNamePerProcess { binary } => {
            Ok(RunEvent::OneNamePerProcess { worker, binary })
        }
        FromWorker::Output { index, stream, bytes } => {
            Ok(RunEvent::TestOutput { worker, index, stream, bytes })
        }
        other => Err(other),
    }
}

/// The session event a worker's frame stands for, if any.
fn session_event(worker: WorkerId, frame: FromWorker) -> Option<Event> {
    match frame {
        FromWorker::Started { index } => Some(Event::Started { worker, index }),
        FromWorker::Finished(report) => Some(Event::Finished { worker, report }),
        FromWorker::Slow { index, elapsed_ms } => {
            Some(Event::Slow { worker, index, elapsed: Duration::from_millis(elapsed_ms) })
        }
        FromWorker::Released(tests) => Some(Event::Released { worker, tests }),
        FromWorker::Requeued => Some(Event::Requeued { worker }),
        FromWorker::Ready => Some(Event::Ready { worker }),
        FromWorker::ProcessStarted { .. }
        | FromWorker::ProcessExited { .. }
        | FromWorker::OneNamePerProcess { .. }
        | FromWorker::Output { .. }
        | FromWorker::Heartbeat => None,
    }
}
