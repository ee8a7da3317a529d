//! The core of cargo-xdist: everything between "here is the list of tests" and "here is the
//! result of each", without any I/O.
//!
//! - [`testlist`]: the one collection of test binaries and tests, in nextest's order, and the
//!   libtest-style filters that select from it.
//! - [`protocol`]: the messages exchanged with a worker; [`codec`] frames them on a pipe.
//! - [`sched`]: the [`Scheduler`] trait the `--dist` modes implement (in `xdist-sched`).
//! - [`session`]: [`DSession`], the state machine that turns worker events into commands.
//! - [`events`]: the typed [`events::RunEvent`] stream and its [`events::RunSubscriber`]s.
//! - [`partition`]: nextest's `--partition` shards, exactly, and `duration` shards (LPT).
//! - [`summary`]: per-test results gathered into the run's totals and exit status.

pub mod codec;
pub mod events;
pub mod partition;
pub mod protocol;
pub mod sched;
pub mod session;
pub mod summary;
pub mod testlist;

pub use sched::{Assignment, Scheduler, StealRequest, TestIndex, WorkerId};
pub use session::{Action, DSession, Event, SessionConfig};

/// The name of a worker as users see it: `gw0`, `gw1`, ...
pub fn worker_name(worker: WorkerId) -> String {
    format!("gw{worker}")
}
