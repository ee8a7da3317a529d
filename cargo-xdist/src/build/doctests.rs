//! Doctests, found the way `cargo test --doc` runs them: cargo builds each library and
//! starts rustdoc on it with a command line only cargo knows (`--extern`s, `-L`s, cfgs,
//! edition, environment). `cargo test --doc` runs here with `RUSTDOC` pointing at this
//! executable, which then, in [`record_main`], lists the doctests with the real rustdoc
//! (`--list --format terse`, and `--ignored`) and writes down the command line, cwd and
//! environment instead of running them. Each library becomes a binary `<package>::doc`
//! whose tests are its doctests, run by the worker under that same command line
//! ([`Harness::Doctest`]).

use std::collections::HashMap;
use std::ffi::OsString;
use std::process::{Command, ExitCode, Stdio};

use camino::Utf8PathBuf;
use cargo_metadata::Metadata;
use serde::{Deserialize, Serialize};
use xdist_core::protocol::Harness;
use xdist_core::testlist::TestBinary;

use crate::build::cargo::cargo_program;
use crate::cli::CargoOptions;
use crate::errors::{BuildError, XdistError};

/// Set for rustdoc runs under [`record`]: the dir the records go to.
pub const RECORD_VAR: &str = "XDIST_RUSTDOC_RECORD";
/// The rustdoc [`record_main`] starts.
const REAL_VAR: &str = "XDIST_REAL_RUSTDOC";

/// What one rustdoc run under cargo was to be.
#[derive(Debug, Deserialize, Serialize)]
struct Record {
    rustdoc: String,
    args: Vec<String>,
    cwd: String,
    env: Vec<(String, String)>,
    /// `--list --format terse` and the same with `--ignored`.
    all: String,
    ignored: String,
    /// rustdoc's stderr when listing failed.
    error: Option<String>,
}

/// A library's doctests: a binary to add to the run and its tests (name, ignored).
pub struct Doctests {
    /// The binary: rustdoc with cargo's command line.
    pub binary: TestBinary,
    /// The doctests.
    pub tests: Vec<(String, bool)>,
}

/// Runs `cargo test --doc` with this executable as rustdoc and gives every library's
/// doctests (its diagnostics are shown; a failed build is a build error).
pub fn record(options: &CargoOptions, metadata: &Metadata) -> Result<Vec<Doctests>, XdistError> {
    let dir = tempfile::tempdir().map_err(|source| BuildError::Doctests { source })?;
    let own = std::env::current_exe().map_err(|source| BuildError::Doctests { source })?;
    let real = std::env::var_os("RUSTDOC").unwrap_or_else(|| OsString::from("rustdoc"));
    let status = Command::new(cargo_program())
        .args(["test", "--doc"])
        .args(options.to_doc_args())
        .env("RUSTDOC", own)
        .env(RECORD_VAR, dir.path())
        .env(REAL_VAR, real)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .status()
        .map_err(|source| BuildError::Spawn { source })?;
    if !status.success() {
        return Err(BuildError::Failed { status }.into());
    }
    let mut records: Vec<Record> = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(dir.path())
        .map_err(|source| BuildError::Doctests { source })?
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    for file in files {
        let bytes = std::fs::read(&file).map_err(|source| BuildError::Doctests { source })?;
        let record = serde_json::from_slice(&bytes)
            .map_err(|e| BuildError::Doctests { source: std::io::Error::other(e) })?;
        records.push(record);
    }
    let own_env: HashMap<String, String> = std::env::vars().collect();
    Ok(records.into_iter().map(|r| doctests_of(r, metadata, &own_env)).collect())
}

fn doctests_of(record: Record, metadata: &Metadata, own_env: &HashMap<String, String>) -> Doctests {
    let var = |name: &str| record.env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let manifest_dir = var("CARGO_MANIFEST_DIR").map(Utf8PathBuf::from);
    let package = metadata
        .packages
        .iter()
        .find(|p| manifest_dir.as_deref().is_some_and(|dir| p.manifest_path.parent() == Some(dir)));
    let name = package.map(|p| p.name.to_string()).or_else(|| var("CARGO_PKG_NAME"));
    let src_path = package
        .and_then(|p| p.targets.iter().find(|t| t.doctest && t.is_lib()))
        .map(|t| t.src_path.to_string())
        .unwrap_or_default();
    let ignored: Vec<&str> = names(&record.ignored).collect();
    let tests = names(&record.all).map(|n| (n.to_string(), ignored.contains(&n))).collect();
    let env = record
        .env
        .into_iter()
        .filter(|(k, v)| {
            own_env.get(k) != Some(v) && k != RECORD_VAR && k != REAL_VAR && k != "RUSTDOC"
        })
        .collect();
    Doctests {
        binary: TestBinary {
            id: format!("{}::doc", name.unwrap_or_else(|| "unknown".into())),
            path: record.rustdoc,
            cwd: record.cwd,
            env,
            runner: Vec::new(),
            args: record.args,
            kind: "doctest".into(),
            src_path,
            harness: Harness::Doctest,
        },
        tests,
    }
}

/// The doctest names of a terse list (`src/lib.rs - add (line 5): test`).
fn names(list: &str) -> impl Iterator<Item = &str> {
    list.lines().filter_map(|l| l.strip_suffix(": test"))
}

/// The `RUSTDOC` that [`record`] sets: lists the doctests with the real rustdoc and writes
/// a [`Record`] instead of running them. Any other rustdoc run goes to the real one.
pub fn record_main(dir: OsString) -> ExitCode {
    let real = std::env::var(REAL_VAR).unwrap_or_else(|_| "rustdoc".into());
    let given: Vec<String> = std::env::args().skip(1).collect();
    if !given.iter().any(|a| a == "--test") {
        let status = Command::new(&real).args(&given).status();
        return ExitCode::from(status.ok().and_then(|s| s.code()).unwrap_or(1).clamp(0, 255) as u8);
    }
    // cargo's own `--test-args` (test filters) are the user's business at run time.
    let mut args = Vec::new();
    let mut words = given.into_iter();
    while let Some(arg) = words.next() {
        if arg == "--test-args" {
            words.next();
        } else if !arg.starts_with("--test-args=") {
            args.push(arg);
        }
    }
    let list = |extra: &[&str]| {
        let mut command = Command::new(&real);
        command.args(&args).args(["--test-args", "--list", "--test-args", "--format"]);
        command.args(["--test-args", "terse"]);
        for arg in extra {
            command.args(["--test-args", arg]);
        }
        command.env_remove(RECORD_VAR).stdin(Stdio::null()).output()
    };
    let (all, ignored) = match (list(&[]), list(&["--ignored"])) {
        (Ok(all), Ok(ignored)) => (all, ignored),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("error: cannot run {real}: {e}");
            return ExitCode::from(1);
        }
    };
    let failed = !all.status.success();
    let record = Record {
        rustdoc: real,
        args,
        cwd: std::env::current_dir().map(|d| d.to_string_lossy().into_owned()).unwrap_or_default(),
        env: std::env::vars().filter(|(k, _)| k != RECORD_VAR).collect(),
        all: String::from_utf8_lossy(&all.stdout).into_owned(),
        ignored: String::from_utf8_lossy(&ignored.stdout).into_owned(),
        error: failed.then(|| String::from_utf8_lossy(&all.stderr).into_owned()),
    };
    if failed {
        eprint!("{}", record.error.as_deref().unwrap_or_default());
        return ExitCode::from(101);
    }
    let path = std::path::Path::new(&dir).join(format!("{}.json", std::process::id()));
    match serde_json::to_vec(&record).map(|json| std::fs::write(&path, json)) {
        Ok(Ok(())) => ExitCode::SUCCESS,
        _ => {
            eprintln!("error: cannot write {}", path.display());
            ExitCode::from(1)
        }
    }
}

/// How many of the built libraries have doctests (a fenced code block in a `///` or `//!`
/// comment of their sources): the ones a run without `--doctests` leaves out.
pub fn libraries_with_doctests(build: &crate::build::cargo::BuildOutput) -> usize {
    let mut seen = std::collections::HashSet::new();
    build
        .binaries
        .iter()
        .filter(|b| seen.insert(b.package_id.clone()))
        .filter_map(|b| build.metadata.packages.iter().find(|p| p.id == b.package_id))
        .filter_map(|p| p.targets.iter().find(|t| t.doctest && t.is_lib()))
        .filter(|lib| lib.src_path.parent().is_some_and(|dir| has_doc_fence(dir.as_std_path(), 0)))
        .count()
}

fn has_doc_fence(dir: &std::path::Path, depth: usize) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else { return false };
    entries.flatten().any(|entry| {
        let path = entry.path();
        if path.is_dir() {
            return depth < 8 && has_doc_fence(&path, depth + 1);
        }
        path.extension().is_some_and(|e| e == "rs")
            && std::fs::read_to_string(&path).is_ok_and(|text| {
                // Most files have no fence at all: one fast search rules them out.
                text.contains("```")
                    && text.lines().map(str::trim_start).any(|l| {
                        (l.starts_with("///") || l.starts_with("//!"))
                            && l[3..].trim_start().starts_with("```")
                    })
            })
    })
}
