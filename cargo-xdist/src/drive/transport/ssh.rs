//! Workers from `--tx` specs: `popen` ones as local processes, `ssh` ones as
//! `ssh HOST <cache>/w-KEY/cargo-xdist __xdist-worker` (or the `[remote] worker`) on a
//! prepared site (remote/ship.rs), with
//! the same frames over ssh's stdio and a setup remapped for that site. Worker `gwN` of the
//! first round runs spec N; a replacement takes the spec of the worker it replaces, unless
//! that worker's host is down (ssh itself failed: exit 255, or the site could not be
//! prepared), then the next spec whose host is up. Closing the ssh session closes the
//! remote worker's stdin, and a worker whose input closes kills its test and exits.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use xdist_core::events::WorkerExit;
use xdist_core::{WorkerId, worker_name};

use super::local::{DescribeExit, LocalTransport, start_process};
use super::{LinkEvents, StartError, Transport, WorkerLink};
use crate::remote::ship::{self, quote};
use crate::remote::spec::Site;

/// Where one spec's workers run.
pub enum Slot {
    /// A local worker, with its setup frame (its `env:` added).
    Local(Arc<Vec<u8>>),
    /// A worker on an ssh site.
    Ssh(usize),
}

/// An ssh site and what its workers need.
pub struct SiteSlot {
    /// The site.
    pub site: Site,
    /// The worker there, or why the site cannot be used.
    pub worker: Result<String, String>,
    /// Its setup frames, by the spec's `env:` (one per spec index using the site).
    pub setups: HashMap<usize, Arc<Vec<u8>>>,
}

/// Why each site is down, if it is.
type Down = Arc<Mutex<HashMap<usize, String>>>;

/// Starts workers as the `--tx` specs say.
pub struct SpecTransport {
    /// Local workers.
    pub local: LocalTransport,
    /// The specs, one per initial worker.
    pub slots: Vec<Slot>,
    /// The ssh sites.
    pub sites: Vec<SiteSlot>,
    /// Each started worker's host (`None`: local), for the report.
    pub hosts: Arc<Mutex<HashMap<WorkerId, String>>>,
    assigned: HashMap<WorkerId, usize>,
    dead: Arc<Mutex<VecDeque<WorkerId>>>,
    down: Down,
}

impl SpecTransport {
    /// A transport over these slots and sites.
    pub fn new(local: LocalTransport, slots: Vec<Slot>, sites: Vec<SiteSlot>) -> Self {
        let down: HashMap<usize, String> = sites
            .iter()
            .enumerate()
            .filter_map(|(i, s)| {
                s.worker.as_ref().err().map(|why| (i, format!("{}: {why}", s.site)))
            })
            .collect();
        Self {
            local,
            slots,
            sites,
            hosts: Arc::default(),
            assigned: HashMap::new(),
            dead: Arc::default(),
            down: Arc::new(Mutex::new(down)),
        }
    }

    fn is_up(&self, slot: usize) -> bool {
        match &self.slots[slot] {
            Slot::Local(_) => true,
            Slot::Ssh(site) => !self.down.lock().is_ok_and(|d| d.contains_key(site)),
        }
    }

    /// The spec a new worker runs.
    fn slot_for(&mut self, worker: WorkerId) -> Result<usize, StartError> {
        let initial = usize::try_from(worker).unwrap_or(usize::MAX);
        let wanted = if initial < self.slots.len() && !self.assigned.contains_key(&worker) {
            initial
        } else {
            let replaced = self.dead.lock().ok().and_then(|mut d| d.pop_front());
            replaced.and_then(|w| self.assigned.get(&w).copied()).unwrap_or(0)
        };
        if self.is_up(wanted) {
            return Ok(wanted);
        }
        let n = self.slots.len();
        if let Some(up) = (1..=n).map(|k| (wanted + k) % n).find(|&s| self.is_up(s)) {
            return Ok(up);
        }
        let why = self.down.lock().map(|d| d.values().cloned().collect::<Vec<_>>().join("; "));
        Err(StartError::Host(format!("every worker host is down ({})", why.unwrap_or_default())))
    }

    fn died(&self, worker: WorkerId) {
        if let Ok(mut dead) = self.dead.lock() {
            dead.push_back(worker);
        }
    }
}

impl Transport for SpecTransport {
    fn start(
        &mut self,
        worker: WorkerId,
        events: LinkEvents,
    ) -> Result<Box<dyn WorkerLink>, StartError> {
        let slot = match self.slot_for(worker) {
            Ok(slot) => slot,
            Err(e) => {
                self.died(worker);
                return Err(e);
            }
        };
        self.assigned.insert(worker, slot);
        let site_index = match &self.slots[slot] {
            Slot::Local(setup) => {
                let setup = Arc::clone(setup);
                let started = self.local.start_with(worker, setup, events);
                if started.is_err() {
                    self.died(worker);
                }
                return started;
            }
            Slot::Ssh(site) => *site,
        };
        let site = &self.sites[site_index];
        let (Ok(remote_worker), Some(setup)) = (&site.worker, site.setups.get(&slot)) else {
            self.died(worker);
            return Err(StartError::Host(format!("{}: not prepared", site.site)));
        };
        let remote_command = format!(
            "exec env XDIST_WORKER={} XDIST_WORKER_COUNT={} XDIST_TESTRUN_UID={} {} {}",
            worker_name(worker),
            self.local.count,
            quote(&self.local.testrun_uid),
            quote(remote_worker),
            crate::WORKER_ARG,
        );
        let command = ship::ssh(&site.site, &remote_command);
        let name = site.site.to_string();
        if let Ok(mut hosts) = self.hosts.lock() {
            hosts.insert(worker, name.clone());
        }
        let (dead, down) = (Arc::clone(&self.dead), Arc::clone(&self.down));
        let describe: DescribeExit = Arc::new(move |cause| {
            if cause != WorkerExit::Code(0) {
                if let Ok(mut dead) = dead.lock() {
                    dead.push_back(worker);
                }
            }
            match cause {
                WorkerExit::Code(255) => {
                    let why = format!("{name}: the ssh connection failed or was lost");
                    if let Ok(mut down) = down.lock() {
                        down.insert(site_index, why);
                    }
                    WorkerExit::Protocol(format!(
                        "lost its ssh connection to {name} (ssh exited with code 255)"
                    ))
                }
                WorkerExit::Code(0) => cause,
                other => WorkerExit::Protocol(format!("{other} (on ssh host {name})")),
            }
        });
        let program = ship::ssh_program().join(" ");
        let started = start_process(
            worker,
            tokio::process::Command::from(command),
            &program,
            Arc::clone(setup),
            events,
            Some(describe),
        );
        if started.is_err() {
            self.died(worker);
        }
        started
    }
}
