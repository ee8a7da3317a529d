//! The worker transport: how the drive loop starts a worker, sends it frames, hears from it,
//! asks it to stop, and kills it. The loop sees only this trait; `local.rs` runs workers as
//! child processes on pipes, and `fake.rs` (tests only) plays workers in-process.
//!
//! Stopping a test is a protocol message ([`ToWorker::Abort`]) the worker carries out on
//! the process groups it started itself: a transport only ever signals a process it
//! started, never a pid a worker reported.

pub mod local;
pub mod ssh;

#[cfg(test)]
pub mod fake;

use tokio::sync::mpsc::UnboundedSender;
use xdist_core::WorkerId;
use xdist_core::events::WorkerExit;
use xdist_core::protocol::{FromWorker, ToWorker};

/// What a worker's link reports to the loop.
#[derive(Debug)]
pub enum LinkEvent {
    /// A frame arrived.
    Frame(FromWorker),
    /// The worker is gone; nothing more comes from this link.
    Closed(WorkerExit),
}

/// Where links send what they hear, tagged with the worker.
pub type LinkEvents = UnboundedSender<(WorkerId, LinkEvent)>;

/// Why a worker could not be started.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The worker process could not be spawned.
    #[error("cannot start {program}: {source}")]
    Spawn {
        /// The executable.
        program: String,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// The worker's host cannot be used (unreachable, refused, wrong platform).
    #[error("{0}")]
    Host(String),
}

/// Starts workers.
pub trait Transport {
    /// Starts `worker` and sends it the setup; what it sends arrives on `events`. Must be
    /// called inside the drive loop's runtime.
    fn start(
        &mut self,
        worker: WorkerId,
        events: LinkEvents,
    ) -> Result<Box<dyn WorkerLink>, StartError>;
}

/// The loop's handle on one running worker. Every call returns at once; a dead worker's
/// link ignores them (its [`LinkEvent::Closed`] is on its way).
pub trait WorkerLink {
    /// Queues a frame.
    fn send(&mut self, message: ToWorker);
    /// Sends `Shutdown` and closes the worker's input: it finishes what it holds and exits.
    fn shut_down(&mut self);
    /// Sends `Abort` (the worker stops its test and exits), and kills the worker if it has
    /// not exited within the grace period.
    fn abort(&mut self);
    /// Kills the worker now.
    fn kill(&mut self);
    /// When its last frame arrived, stamped as it was read off the link (so that frames the
    /// loop has not handled yet never make a worker look silent).
    fn last_heard(&self) -> std::time::Instant;
}

/// The arrival time of a link's last frame, shared by its reader and the loop.
#[derive(Clone, Debug)]
pub struct Heard(std::sync::Arc<std::sync::Mutex<std::time::Instant>>);

impl Heard {
    /// Heard from just now.
    pub fn now() -> Self {
        Self(std::sync::Arc::new(std::sync::Mutex::new(std::time::Instant::now())))
    }

    /// A frame arrived.
    pub fn stamp(&self) {
        if let Ok(mut at) = self.0.lock() {
            *at = std::time::Instant::now();
        }
    }

    /// When the last frame arrived.
    pub fn at(&self) -> std::time::Instant {
        self.0.lock().map_or_else(|_| std::time::Instant::now(), |at| *at)
    }
}
