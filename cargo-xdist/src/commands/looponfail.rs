//! `cargo xdist run -f/--looponfail`: run; then watch the workspace's sources and, on a
//! change, rebuild and run only what did not pass last time (the `--lf` record); when that
//! all passes, run everything once more; repeat until Ctrl-C. A build error is shown and the
//! loop waits for the next change. Like pytest-xdist's `-f` (docs/looponfail.md).

use std::path::{Path, PathBuf};
use std::time::Duration;

use ignore::gitignore::{Gitignore, GitignoreBuilder};
use notify::{EventKind, RecursiveMode, Watcher};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;

use crate::cli::RunArgs;
use crate::commands::run::run;
use crate::commands::show_config::workspace_root;
use crate::errors::{InternalError, XdistError, exit_code};

/// How long the sources must stay quiet after a change before the loop goes on.
const DEBOUNCE: Duration = Duration::from_millis(300);

/// Loops until a signal; returns the exit code (130).
pub fn looponfail(mut args: RunArgs) -> Result<u8, XdistError> {
    let root = workspace_root(args.cargo.manifest_path.as_ref().map(|p| p.as_std_path()))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|source| InternalError::RunLoop { source })?;
    let (tx, mut changes) = mpsc::unbounded_channel::<PathBuf>();
    let skip = Skip::new(&root, &args);
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let Ok(event) = event else { return };
        if !matches!(event.kind, EventKind::Create(_) | EventKind::Modify(_) | EventKind::Remove(_))
        {
            return;
        }
        if matches!(event.kind, EventKind::Modify(notify::event::ModifyKind::Metadata(_))) {
            return;
        }
        for path in event.paths {
            if !skip.skips(&path) {
                let _ = tx.send(path);
            }
        }
    })
    .map_err(|e| InternalError::Watch { detail: e.to_string() })?;
    watcher
        .watch(&root, RecursiveMode::Recursive)
        .map_err(|e| InternalError::Watch { detail: e.to_string() })?;
    let mut interrupts = runtime
        .block_on(async { signal(SignalKind::interrupt()) })
        .map_err(|source| InternalError::RunLoop { source })?;
    let user_lf = args.rerun.last_failed;
    let mut failing = false;
    loop {
        args.rerun.last_failed = user_lf || failing;
        let wait = match run(&args) {
            Err(e) => {
                eprintln!("error: {e}");
                eprintln!("xdist: looponfail: the build failed; waiting for changes");
                true
            }
            Ok(exit_code::INTERRUPTED) => return Ok(exit_code::INTERRUPTED),
            Ok(exit_code::OK) if failing => {
                failing = false;
                eprintln!("xdist: looponfail: what failed passes now; running everything");
                false
            }
            Ok(exit_code::OK) => {
                eprintln!("xdist: looponfail: all passed; waiting for changes");
                true
            }
            Ok(exit_code::TEST_FAILED) => {
                failing = true;
                eprintln!("xdist: looponfail: failures; waiting for changes to rerun them");
                true
            }
            Ok(_) => {
                eprintln!("xdist: looponfail: waiting for changes");
                true
            }
        };
        eprintln!("xdist: looponfail: watching {}", root.display());
        let interrupted = runtime.block_on(async {
            // A signal that came during the run (outside its own watch) ends the loop too.
            if !wait {
                return poll_signal(&mut interrupts);
            }
            tokio::select! {
                _ = interrupts.recv() => true,
                first = changes.recv() => {
                    let Some(first) = first else { return true };
                    eprintln!("xdist: looponfail: changed: {}", shown(&root, &first));
                    // Debounced: wait until nothing changes for a while.
                    loop {
                        tokio::select! {
                            _ = interrupts.recv() => return true,
                            more = tokio::time::timeout(DEBOUNCE, changes.recv()) => match more {
                                Ok(Some(_)) => continue,
                                Ok(None) | Err(_) => return false,
                            },
                        }
                    }
                }
            }
        });
        if interrupted {
            eprintln!("xdist: looponfail: stopped");
            return Ok(exit_code::INTERRUPTED);
        }
        // The rest of this burst is dropped; what changes while the next run goes on is seen
        // by the wait after it.
        while changes.try_recv().is_ok() {}
    }
}

fn poll_signal(interrupts: &mut tokio::signal::unix::Signal) -> bool {
    use std::task::{Context, Poll};
    let waker = std::task::Waker::noop();
    matches!(interrupts.poll_recv(&mut Context::from_waker(waker)), Poll::Ready(_))
}

fn shown(root: &Path, path: &Path) -> String {
    path.strip_prefix(root).unwrap_or(path).display().to_string()
}

/// What is not a source: the target dirs, `.git/`, and what the root's `.gitignore` ignores.
struct Skip {
    root: PathBuf,
    target_dirs: Vec<PathBuf>,
    ignored: Gitignore,
}

impl Skip {
    fn new(root: &Path, args: &RunArgs) -> Self {
        let mut target_dirs = vec![root.join("target")];
        if let Some(dir) = &args.cargo.target_dir {
            target_dirs.push(absolute(dir.as_std_path()));
        }
        if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
            target_dirs.push(absolute(Path::new(&dir)));
        }
        let mut builder = GitignoreBuilder::new(root);
        builder.add(root.join(".gitignore"));
        let ignored = builder.build().unwrap_or_else(|_| Gitignore::empty());
        Self { root: root.to_path_buf(), target_dirs, ignored }
    }

    fn skips(&self, path: &Path) -> bool {
        let Ok(relative) = path.strip_prefix(&self.root) else { return true };
        relative.components().any(|c| c.as_os_str() == ".git")
            || self.target_dirs.iter().any(|dir| path.starts_with(dir))
            || self.ignored.matched_path_or_any_parents(path, path.is_dir()).is_ignore()
    }
}

fn absolute(path: &Path) -> PathBuf {
    std::env::current_dir().map(|cwd| cwd.join(path)).unwrap_or_else(|_| path.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_git_and_ignored_files_are_not_sources() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::write(root.join(".gitignore"), "*.log\n/scratch/\n").unwrap();
        use clap::Parser;
        let argv = ["cargo", "xdist", "run", "--target-dir", "/elsewhere/t"];
        let crate::cli::CargoCli::Xdist(app) = crate::cli::CargoCli::parse_from(argv);
        let crate::cli::Command::Run(args) = app.command else { unreachable!() };
        let skip = Skip::new(root, &args);
        assert!(!skip.skips(&root.join("src/lib.rs")));
        assert!(!skip.skips(&root.join("tests/it.rs")));
        assert!(skip.skips(&root.join("target/debug/x")));
        assert!(skip.skips(Path::new("/elsewhere/t/debug/x")));
        assert!(skip.skips(&root.join(".git/index")));
        assert!(skip.skips(&root.join("run.log")));
        assert!(skip.skips(&root.join("scratch/a.rs")));
        assert!(skip.skips(Path::new("/not/the/root.rs")));
    }
}
