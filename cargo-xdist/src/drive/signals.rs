//! SIGINT, SIGTERM and SIGHUP as one stream of signal names for the drive loop.

use tokio::signal::unix::{Signal, SignalKind, signal};

/// The signals that stop a run.
pub struct Interrupts {
    int: Signal,
    term: Signal,
    hup: Signal,
}

impl Interrupts {
    /// Starts watching (inside the runtime).
    pub fn watch() -> std::io::Result<Self> {
        Ok(Self {
            int: signal(SignalKind::interrupt())?,
            term: signal(SignalKind::terminate())?,
            hup: signal(SignalKind::hangup())?,
        })
    }

    /// The next signal's name.
    pub async fn next(&mut self) -> String {
        let name = tokio::select! {
            _ = self.int.recv() => "SIGINT",
            _ = self.term.recv() => "SIGTERM",
            _ = self.hup.recv() => "SIGHUP",
        };
        name.to_string()
    }
}
