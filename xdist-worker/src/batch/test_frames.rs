//! A [`Sink`] for unit tests that keeps every frame a batch sent.

use std::io;

use xdist_core::protocol::FromWorker;

use super::Sink;

/// The frames sent, in order.
#[derive(Default)]
pub struct Frames(pub Vec<FromWorker>);

impl Sink for Frames {
    fn send(&mut self, message: FromWorker) -> io::Result<()> {
        self.0.push(message);
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
