//! Workers beyond this machine (docs/remote.md): `--tx` specs ([`spec`]), shipping the run
//! to ssh sites ([`ship`]) and the worker setup as a site sees it ([`remap`]). The ssh
//! workers' transport is `drive/transport/ssh.rs`.

pub mod archive_cache;
pub mod notes;
pub mod remap;
pub mod ship;
pub mod spec;

/// The target triple of this executable.
pub const TARGET_TRIPLE: &str = env!("XDIST_BUILT_FOR");

use std::collections::HashMap;
use std::sync::Arc;

use xdist_core::codec;
use xdist_core::protocol::{ToWorker, WorkerSetup};

use crate::cli::RunArgs;
use crate::collect::Collected;
use crate::drive::transport::local::LocalTransport;
use crate::drive::transport::ssh::{SiteSlot, Slot, SpecTransport};
use crate::errors::{InternalError, UsageError, XdistError};
use spec::{Site, TxSpec};

/// The `--tx` specs the run uses, with `-n N` (on the command line) adding N local workers
/// after them: `--tx 2*ssh=host -n 1` is two workers on `host` and one here. (pytest-xdist
/// lets `-n` replace `--tx`; adding is what a mixed fleet wants, and `-n` alone is
/// unchanged.) Doctests with ssh workers are a usage error (docs/remote.md).
pub fn specs(args: &RunArgs) -> Result<Vec<TxSpec>, XdistError> {
    let mut specs =
        spec::parse_all(&args.remote.tx).map_err(|(spec, why)| UsageError::BadTx { spec, why })?;
    let doc_flag = match (args.cargo.doc, args.cargo.doctests) {
        (true, _) => Some("--doc"),
        (_, true) => Some("--doctests"),
        _ => None,
    };
    if let Some(flag) = doc_flag.filter(|_| specs.iter().any(|s| matches!(s, TxSpec::Ssh(_)))) {
        return Err(UsageError::DoctestsOnSsh { flag }.into());
    }
    if !specs.is_empty() {
        if let Some(n) = args.numprocesses.as_deref() {
            let local = crate::config::options::worker_count(Some(n), args.maxprocesses)?;
            specs.extend((0..local).map(|_| TxSpec::Popen { env: Vec::new() }));
        }
    }
    Ok(specs)
}

fn frame(setup: &WorkerSetup) -> Result<Arc<Vec<u8>>, XdistError> {
    let bytes = codec::encode_frame(&ToWorker::Setup(setup.clone()))
        .map_err(|source| InternalError::EncodeSetup { source })?;
    Ok(Arc::new(bytes))
}

/// The transport of a run with `--tx` specs: every ssh site prepared (in parallel), its
/// workers' setups remapped.
pub fn transport(
    specs: &[TxSpec],
    local: LocalTransport,
    setup: &WorkerSetup,
    collected: &Collected,
    args: &RunArgs,
    include: &[String],
    remote_worker: Option<&str>,
) -> Result<SpecTransport, XdistError> {
    let mut sites: Vec<Site> = Vec::new();
    let mut slots = Vec::new();
    for spec in specs {
        match spec {
            TxSpec::Popen { env } if env.is_empty() => {
                slots.push(Slot::Local(Arc::clone(&local.setup_frame)));
            }
            TxSpec::Popen { env } => {
                slots.push(Slot::Local(frame(&remap::Remap::default().setup(setup, env))?));
            }
            TxSpec::Ssh(ssh) => {
                let site = ssh.site();
                let index = sites.iter().position(|s| *s == site).unwrap_or_else(|| {
                    sites.push(site);
                    sites.len() - 1
                });
                slots.push(Slot::Ssh(index));
            }
        }
    }
    let prepared: Vec<Result<ship::Prepared, String>> = if sites.is_empty() {
        Vec::new()
    } else {
        match payload(collected, args, include, remote_worker) {
            Ok((payload, _temp)) => std::thread::scope(|scope| {
                let handles: Vec<_> = sites
                    .iter()
                    .map(|site| scope.spawn(|| ship::prepare(site, &payload)))
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().unwrap_or_else(|_| Err("preparing it panicked".into())))
                    .collect()
            }),
            Err(why) => sites.iter().map(|_| Err(why.clone())).collect(),
        }
    };
    let mut site_slots = Vec::new();
    for (index, (site, prepared)) in sites.into_iter().zip(prepared).enumerate() {
        let mut setups = HashMap::new();
        let worker = match prepared {
            Ok(prepared) => {
                if prepared.shipped.is_empty() {
                    eprintln!("xdist: ssh {site}: up to date, nothing shipped");
                } else {
                    let what: Vec<String> = prepared
                        .shipped
                        .iter()
                        .map(|(what, bytes)| format!("{what} ({:.1} MB)", *bytes as f64 / 1e6))
                        .collect();
                    eprintln!("xdist: ssh {site}: shipped {}", what.join(", "));
                }
                for (slot, spec) in specs.iter().enumerate() {
                    if let (TxSpec::Ssh(ssh), Slot::Ssh(i)) = (spec, &slots[slot]) {
                        if *i == index {
                            setups.insert(slot, frame(&prepared.remap.setup(setup, &ssh.env))?);
                        }
                    }
                }
                Ok(prepared.worker)
            }
            Err(why) => {
                eprintln!("warning: ssh host {site} is not used: {why}");
                Err(why)
            }
        };
        site_slots.push(SiteSlot { site, worker, setups });
    }
    Ok(SpecTransport::new(local, slots, site_slots))
}

/// What every site gets: this executable, the run's archive (archive_cache.rs when the run
/// built locally), the tracked sources. The temporary dir holds the sources' tar.
fn payload(
    collected: &Collected,
    args: &RunArgs,
    include: &[String],
    remote_worker: Option<&str>,
) -> Result<(ship::Payload, tempfile::TempDir), String> {
    let temp = tempfile::Builder::new()
        .prefix("xdist-ship-")
        .tempdir()
        .map_err(|e| format!("cannot make a temporary dir: {e}"))?;
    let worker = match remote_worker {
        Some(path) => Err(path.to_string()),
        None => {
            let exe =
                std::env::current_exe().map_err(|e| format!("cannot find this executable: {e}"))?;
            Ok(ship::worker_item(&exe)
                .map_err(|e| format!("cannot read {}: {e}", exe.display()))?)
        }
    };
    let (archive, local_libdir) = match (&args.archive.archive_file, &collected.build) {
        (Some(file), _) => {
            let item = ship::archive_item(file.as_std_path())
                .map_err(|e| format!("cannot read the archive {file}: {e}"))?;
            (item, None)
        }
        (None, Some(build)) => archive_cache::local_archive(build, args)?,
        (None, None) => return Err("the run has no build to ship".into()),
    };
    let sources =
        ship::sources_item(&collected.workspace_root, include, &temp.path().join("sources.tar"))?;
    let tests_triple = match &args.archive.archive_file {
        None => args.cargo.target.clone(),
        Some(_) => None,
    };
    let payload = ship::Payload {
        worker,
        tests_triple,
        archive,
        sources,
        local_target: collected.target_dir.to_string(),
        local_workspace: collected.workspace_root.to_string(),
        local_libdir,
    };
    Ok((payload, temp))
}
