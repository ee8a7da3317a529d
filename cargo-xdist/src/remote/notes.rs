//! Which host each ssh worker runs on, as a note when it is ready (`xdist: [gw0] runs on
//! ssh HOST`), so that the `[gwN]` of the `-v` lines and of the failures name a host.

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex};

use xdist_core::events::{RunEvent, RunSubscriber};
use xdist_core::{WorkerId, worker_name};

/// Notes each ssh worker's host.
pub struct HostNotes<'a> {
    hosts: Arc<Mutex<HashMap<WorkerId, String>>>,
    out: Box<dyn Write + 'a>,
}

impl<'a> HostNotes<'a> {
    /// Notes from the transport's map of hosts, written to `out`.
    pub fn new(hosts: Arc<Mutex<HashMap<WorkerId, String>>>, out: Box<dyn Write + 'a>) -> Self {
        Self { hosts, out }
    }
}

impl RunSubscriber for HostNotes<'_> {
    fn on_event(&mut self, event: &RunEvent) {
        if let RunEvent::WorkerReady { worker } = event {
            let host = self.hosts.lock().ok().and_then(|h| h.get(worker).cloned());
            if let Some(host) = host {
                let _ = writeln!(self.out, "xdist: [{}] runs on ssh {host}", worker_name(*worker));
            }
        }
    }

    fn flush(&mut self) {
        let _ = self.out.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn ssh_workers_name_their_host_and_local_ones_nothing() {
        let hosts = Arc::new(Mutex::new(HashMap::from([(1, "me@box:2222".to_string())])));
        let out = Shared::default();
        let mut notes = HostNotes::new(hosts, Box::new(out.clone()));
        notes.on_event(&RunEvent::WorkerReady { worker: 0 });
        notes.on_event(&RunEvent::WorkerReady { worker: 1 });
        notes.flush();
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        assert_eq!(text, "xdist: [gw1] runs on ssh me@box:2222\n");
    }
}
