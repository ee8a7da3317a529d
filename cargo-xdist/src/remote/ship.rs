//! Shipping a run to an ssh site, once per site and over its own ssh connection: the worker
//! executable (this same binary), the run's archive (unpacked there by that worker, with the
//! archive reader's checks) and the workspace files git tracks. Each lands in the site's
//! cache dir under a name keyed by its content (`w-KEY`, `a-KEY`, `s-KEY`) and is marked
//! complete last, so a second run ships only what changed and an unchanged run nothing.

use std::fs::File;
use std::hash::Hasher;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use camino::Utf8Path;

use super::remap::Remap;
use super::spec::Site;

/// The cache dir on a site without `chdir=` (relative to the remote home).
pub const DEFAULT_CACHE: &str = ".cache/cargo-xdist";
/// The hidden argument that unpacks a shipped archive on the remote side.
pub const UNPACK_ARG: &str = "__xdist-remote-unpack";

/// One thing to ship.
#[derive(Debug)]
pub struct Item {
    /// What it is, for the transfer log.
    pub what: &'static str,
    /// Its content key.
    pub key: String,
    /// The file to send.
    pub file: PathBuf,
    /// Its size.
    pub bytes: u64,
}

impl Item {
    fn dir(&self) -> String {
        format!("{}-{}", &self.what[..1], self.key)
    }
}

/// What every ssh site gets, and where those paths are on this machine.
#[derive(Debug)]
pub struct Payload {
    /// This executable, or (`[remote] worker`) the path of the one already on the hosts.
    pub worker: Result<Item, String>,
    /// The triple the tests are built for (`--target`), if not this executable's.
    pub tests_triple: Option<String>,
    /// The run's archive.
    pub archive: Item,
    /// The tracked workspace files, as a tar.
    pub sources: Item,
    /// The target dir the setup's paths are under.
    pub local_target: String,
    /// The workspace root.
    pub local_workspace: String,
    /// The standard library's dir of a local build, if its paths point there.
    pub local_libdir: Option<String>,
}

/// A site with everything in place.
#[derive(Debug)]
pub struct Prepared {
    /// The worker executable there.
    pub worker: String,
    /// How the setup's paths move there.
    pub remap: Remap,
    /// What was shipped, with its size.
    pub shipped: Vec<(&'static str, u64)>,
}

/// The ssh command: `XDIST_SSH` (split at whitespace), else `ssh`.
pub fn ssh_program() -> Vec<String> {
    let words: Vec<String> = std::env::var("XDIST_SSH")
        .unwrap_or_default()
        .split_whitespace()
        .map(String::from)
        .collect();
    if words.is_empty() { vec!["ssh".to_string()] } else { words }
}

/// `ssh [-p PORT] [-l USER] HOST COMMAND`, never asking for a password.
pub fn ssh(site: &Site, remote_command: &str) -> Command {
    let program = ssh_program();
    let mut command = Command::new(&program[0]);
    command.args(&program[1..]);
    command.args(["-T", "-o", "BatchMode=yes"]);
    if let Some(port) = site.port {
        command.args(["-p", &port.to_string()]);
    }
    if let Some(user) = &site.user {
        command.args(["-l", user]);
    }
    command.arg("--").arg(&site.host).arg(remote_command);
    command
}

/// A word for the remote shell.
pub fn quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

/// The cache dir as the remote shell should see it (relative to the remote home).
fn cache_dir(site: &Site) -> String {
    let dir = site.chdir.as_deref().unwrap_or(DEFAULT_CACHE);
    match dir.strip_prefix("~/") {
        Some(rest) => rest.to_string(),
        None if dir == "~" => ".".to_string(),
        None => dir.to_string(),
    }
}

/// Ships what `site` lacks; on failure, why the site cannot be used.
pub fn prepare(site: &Site, payload: &Payload) -> Result<Prepared, String> {
    let items: Vec<&Item> =
        payload.worker.iter().chain([&payload.archive, &payload.sources]).collect();
    let dir = quote(&cache_dir(site));
    let mut probe =
        format!("set -e; mkdir -p -- {dir}; cd -- {dir}; pwd; uname -s; uname -m; for k in");
    for item in &items {
        probe.push(' ');
        probe.push_str(&item.dir());
    }
    probe.push_str("; do if [ -e \"$k/.complete\" ]; then echo \"$k\"; fi; done");
    if let Err(path) = &payload.worker {
        // Found from the remote home as the worker's command finds it; printed absolute.
        let path = quote(path);
        probe.push_str(&format!(
            "; cd; if w=$(command -v {path}); then case \"$w\" in /*) ;; *) w=\"$PWD/$w\";; esac; [ -x \"$w\" ] && echo \"{WORKER_LINE}$w\"; fi; true"
        ));
    }
    let out = ssh(site, &probe)
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", ssh_program()[0]))?;
    if !out.status.success() {
        return Err(failure("cannot be reached", &out.status, &out.stderr));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let (Some(base), Some(os), Some(arch)) = (lines.next(), lines.next(), lines.next()) else {
        return Err(format!("answered the probe with `{}`", text.trim()));
    };
    let base = base.trim().to_string();
    let lines: Vec<&str> = lines.map(str::trim).collect();
    let found = lines.iter().find_map(|l| l.strip_prefix(WORKER_LINE));
    let present: Vec<&str> =
        lines.iter().copied().filter(|l| !l.starts_with(WORKER_LINE)).collect();
    let tests = payload.tests_triple.as_deref();
    check_platform(os.trim(), arch.trim(), tests, payload.worker.is_ok())?;
    let worker = match (&payload.worker, found) {
        (Ok(item), _) => format!("{base}/{}/cargo-xdist", item.dir()),
        (Err(_), Some(found)) => found.to_string(),
        (Err(path), None) => {
            return Err(format!("has no executable `{path}` (`[remote] worker`)"));
        }
    };
    let mut shipped = Vec::new();
    for item in items {
        if present.contains(&item.dir().as_str()) {
            continue;
        }
        let part = quote(&format!("{}.part", item.dir()));
        let done = quote(&item.dir());
        let worker = quote(&worker);
        let receive = match item.what {
            "worker" => format!("cat > {part}/cargo-xdist && chmod 755 {part}/cargo-xdist"),
            "archive" => format!(
                "cat > {part}/archive.tar.zst && {worker} {UNPACK_ARG} {part}/archive.tar.zst {part} && rm {part}/archive.tar.zst"
            ),
            _ => format!("tar -xf - -C {part}"),
        };
        let script = format!(
            "set -e; cd -- {dir}; rm -rf {part}; mkdir {part}; {receive}; touch {part}/.complete; rm -rf {done}; mv {part} {done}"
        );
        let input = File::open(&item.file)
            .map_err(|e| format!("cannot read {}: {e}", item.file.display()))?;
        let out = ssh(site, &script)
            .stdin(input)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .map_err(|e| format!("cannot run {}: {e}", ssh_program()[0]))?;
        if !out.status.success() {
            return Err(failure(
                &format!("did not take the {}", item.what),
                &out.status,
                &out.stderr,
            ));
        }
        shipped.push((item.what, item.bytes));
    }
    let archive = format!("{base}/{}", payload.archive.dir());
    let mut rules = vec![
        (payload.local_target.clone(), format!("{archive}/target")),
        (payload.local_workspace.clone(), format!("{base}/{}", payload.sources.dir())),
    ];
    if let Some(libdir) = &payload.local_libdir {
        rules.push((libdir.clone(), format!("{archive}/target/nextest/libdirs/host")));
    }
    Ok(Prepared { worker, remap: Remap::new(rules), shipped })
}

fn failure(what: &str, status: &std::process::ExitStatus, stderr: &[u8]) -> String {
    let said = String::from_utf8_lossy(stderr);
    let last = said.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").trim();
    match status.code() {
        Some(255) => format!("{what}: ssh failed: {last}"),
        _ if last.is_empty() => format!("{what} ({status})"),
        _ => format!("{what} ({status}): {last}"),
    }
}

/// The probe's line naming the `[remote] worker` it found.
const WORKER_LINE: &str = "!worker ";

/// The remote's `uname -s`/`uname -m` must match what the tests are built for
/// (`tests_triple`, else this executable's platform) and, when this executable is
/// shipped as the worker, what it is built for.
fn check_platform(
    os: &str,
    arch: &str,
    tests_triple: Option<&str>,
    shipping_worker: bool,
) -> Result<(), String> {
    let their_os = match os {
        "Linux" => "linux",
        "Darwin" => "macos",
        "FreeBSD" => "freebsd",
        other => other,
    };
    let their_arch = match arch {
        "amd64" => "x86_64",
        "arm64" => "aarch64",
        other => other,
    };
    let ours = their_os == std::env::consts::OS && their_arch == std::env::consts::ARCH;
    let tests_match = match tests_triple {
        Some(triple) => triple_is(triple, their_os, their_arch),
        None => ours,
    };
    let tests = tests_triple.unwrap_or(crate::remote::TARGET_TRIPLE);
    match (tests_match, ours || !shipping_worker) {
        (true, true) => Ok(()),
        (false, _) if shipping_worker && tests_triple.is_none() => Err(format!(
            "is `{os} {arch}` (uname -sm), but the worker and the tests are built for {tests}"
        )),
        (false, _) => {
            Err(format!("is `{os} {arch}` (uname -sm), but the tests are built for {tests}"))
        }
        (true, false) => Err(format!(
            "is `{os} {arch}` (uname -sm), but the worker is built for {}: set `[remote] worker` to a cargo-xdist built for the host",
            crate::remote::TARGET_TRIPLE
        )),
    }
}

/// Whether a target triple is for this OS (`std::env::consts::OS` words) and arch.
fn triple_is(triple: &str, os: &str, arch: &str) -> bool {
    let mut parts = triple.split('-');
    let triple_arch = parts.next().unwrap_or_default();
    let rest: Vec<&str> = parts.collect();
    let os_matches = match os {
        "macos" => rest.contains(&"darwin"),
        other => rest.contains(&other),
    };
    triple_arch == arch && os_matches
}

/// A 128-bit content key (two SipHash passes with different prefixes). Not a defence
/// against anyone: the cache belongs to the remote user, who could change it anyway.
#[derive(Default)]
pub struct Key(std::hash::DefaultHasher, std::hash::DefaultHasher);

impl Key {
    /// A fresh key.
    pub fn new() -> Self {
        let mut key = Self::default();
        key.1.write(b"cargo-xdist second pass");
        key
    }

    /// Adds bytes.
    pub fn add(&mut self, bytes: &[u8]) {
        self.0.write(bytes);
        self.1.write(bytes);
    }

    /// Adds a length-prefixed field (so that fields cannot run into each other).
    pub fn field(&mut self, bytes: &[u8]) {
        self.add(&(bytes.len() as u64).to_le_bytes());
        self.add(bytes);
    }

    /// Adds what `reader` holds, as one field.
    pub fn reader(&mut self, mut reader: impl Read) -> io::Result<u64> {
        let mut buf = vec![0u8; 1 << 16];
        let mut total = 0u64;
        loop {
            let n = reader.read(&mut buf)?;
            if n == 0 {
                break;
            }
            self.add(&buf[..n]);
            total += n as u64;
        }
        self.add(&total.to_le_bytes());
        Ok(total)
    }

    /// The key, as 32 hex digits.
    pub fn finish(&self) -> String {
        format!("{:016x}{:016x}", self.0.finish(), self.1.finish())
    }
}

/// The worker executable as an item.
pub fn worker_item(exe: &Path) -> io::Result<Item> {
    let mut key = Key::new();
    let bytes = key.reader(File::open(exe)?)?;
    Ok(Item { what: "worker", key: key.finish(), file: exe.to_path_buf(), bytes })
}

/// An archive as an item, keyed by its entries' names, modes and contents (not their
/// times, and not the duration history, which only the controller reads).
pub fn archive_item(archive: &Path) -> io::Result<Item> {
    let decoder = zstd::stream::read::Decoder::new(File::open(archive)?)?;
    let mut tar = tar::Archive::new(decoder);
    let mut key = Key::new();
    for entry in tar.entries()? {
        let entry = entry?;
        let path = entry.path_bytes().into_owned();
        if path == crate::build::archive::write::HISTORY.as_bytes() {
            continue;
        }
        key.field(&path);
        key.add(&entry.header().mode().unwrap_or(0).to_le_bytes());
        key.reader(entry)?;
    }
    let bytes = std::fs::metadata(archive)?.len();
    Ok(Item { what: "archive", key: key.finish(), file: archive.to_path_buf(), bytes })
}

/// The files git tracks in `root` (and that exist), written as a tar to `into`.
/// The files under `root` (not in `target/` or `.git/`) that match a `[remote] include`
/// glob, relative to `root`.
fn included(root: &Utf8Path, include: &[String]) -> Result<Vec<String>, String> {
    if include.is_empty() {
        return Ok(Vec::new());
    }
    let mut set = globset::GlobSetBuilder::new();
    for glob in include {
        set.add(globset::Glob::new(glob).map_err(|e| format!("[remote] include `{glob}`: {e}"))?);
    }
    let set = set.build().map_err(|e| format!("[remote] include: {e}"))?;
    let mut found = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = dir.read_dir_utf8() else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(relative) = path.strip_prefix(root) else { continue };
            let Ok(kind) = entry.file_type() else { continue };
            if kind.is_dir() {
                if !matches!(relative.as_str(), "target" | ".git") {
                    dirs.push(path.to_path_buf());
                }
            } else if kind.is_file() && set.is_match(relative.as_str()) {
                found.push(relative.to_string());
            }
        }
    }
    Ok(found)
}

pub fn sources_item(root: &Utf8Path, include: &[String], into: &Path) -> Result<Item, String> {
    let out = Command::new("git")
        .args(["ls-files", "-z", "--cached"])
        .current_dir(root)
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("cannot run git to list the sources: {e}"))?;
    if !out.status.success() {
        let said = String::from_utf8_lossy(&out.stderr);
        return Err(format!(
            "cannot list the workspace's sources with `git ls-files` in {root}: {}",
            said.trim()
        ));
    }
    let mut files: Vec<String> = out
        .stdout
        .split(|&b| b == 0)
        .filter(|p| !p.is_empty())
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .filter(|p| root.join(p).is_file())
        .collect();
    files.extend(included(root, include)?);
    files.sort();
    files.dedup();
    let io_err = |e: io::Error| format!("cannot pack the sources into {}: {e}", into.display());
    let mut key = Key::new();
    let mut tar = tar::Builder::new(File::create(into).map_err(io_err)?);
    tar.mode(tar::HeaderMode::Deterministic);
    for file in &files {
        let path = root.join(file);
        let read = |e: io::Error| format!("cannot read {path}: {e}");
        key.field(file.as_bytes());
        let executable = {
            use std::os::unix::fs::PermissionsExt;
            std::fs::metadata(&path).map_err(read)?.permissions().mode() & 0o111 != 0
        };
        key.add(&[u8::from(executable)]);
        key.reader(File::open(&path).map_err(read)?).map_err(read)?;
        tar.append_path_with_name(&path, file).map_err(io_err)?;
    }
    tar.into_inner().and_then(|f| f.sync_all()).map_err(io_err)?;
    let bytes = std::fs::metadata(into).map_err(io_err)?.len();
    Ok(Item { what: "sources", key: key.finish(), file: into.to_path_buf(), bytes })
}

/// `cargo-xdist __xdist-remote-unpack ARCHIVE DEST`: unpacks a shipped archive into DEST
/// with the archive reader's checks.
pub fn unpack_main(args: &[std::ffi::OsString]) -> std::process::ExitCode {
    let (Some(archive), Some(dest)) = (args.get(2), args.get(3)) else {
        eprintln!("usage: cargo-xdist {UNPACK_ARG} ARCHIVE DEST");
        return std::process::ExitCode::from(2);
    };
    let (Some(archive), Some(dest)) = (archive.to_str(), dest.to_str()) else {
        eprintln!("error: the paths are not UTF-8");
        return std::process::ExitCode::from(2);
    };
    let max = crate::cli::archive::DEFAULT_MAX_BYTES;
    match crate::build::archive::extract::unpack(Utf8Path::new(archive), Utf8Path::new(dest), max) {
        Ok(_) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::from(103)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn include_globs_add_untracked_files_but_never_target_or_git() {
        let dir = tempfile::tempdir().unwrap();
        let root = Utf8Path::from_path(dir.path()).unwrap();
        for file in ["data/a.bin", "data/deep/b.bin", "data/c.txt", "target/x.bin", ".git/y.bin"] {
            std::fs::create_dir_all(root.join(file).parent().unwrap()).unwrap();
            std::fs::write(root.join(file), b"x").unwrap();
        }
        let mut found = included(root, &["data/**/*.bin".into(), "**/x.bin".into()]).unwrap();
        found.sort();
        assert_eq!(found, ["data/a.bin", "data/deep/b.bin"]);
        assert!(included(root, &[]).unwrap().is_empty());
    }

    #[test]
    fn quoting_survives_quotes() {
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's"), r"'it'\''s'");
    }

    #[test]
    fn cache_dirs() {
        let site = |chdir: Option<&str>| Site {
            user: None,
            host: "h".into(),
            port: None,
            chdir: chdir.map(String::from),
        };
        assert_eq!(cache_dir(&site(None)), DEFAULT_CACHE);
        assert_eq!(cache_dir(&site(Some("~/x"))), "x");
        assert_eq!(cache_dir(&site(Some("/abs"))), "/abs");
    }

    #[test]
    fn platforms() {
        let here = std::env::consts::OS == "linux" && std::env::consts::ARCH == "x86_64";
        assert_eq!(check_platform("Linux", "x86_64", None, true).is_ok(), here);
        let err = check_platform("Plan9", "mips", None, true).unwrap_err();
        assert!(err.contains("Plan9 mips") && err.contains(crate::remote::TARGET_TRIPLE), "{err}");
        assert!(err.contains("the worker and the tests"), "{err}");
        // Tests cross-built for the host: only a worker of its own makes it usable.
        let cross = Some("aarch64-apple-darwin");
        let ours = check_platform("Darwin", "arm64", cross, true);
        let theirs = check_platform("Darwin", "arm64", cross, false);
        if std::env::consts::OS == "macos" && std::env::consts::ARCH == "aarch64" {
            assert!(ours.is_ok() && theirs.is_ok());
        } else {
            let err = ours.unwrap_err();
            assert!(err.contains("the worker is built for") && err.contains("[remote] worker"));
            assert!(theirs.is_ok(), "{theirs:?}");
        }
        // A worker of its own does not make tests built for another platform run.
        let err = check_platform("Linux", "riscv64", None, false).unwrap_err();
        assert!(err.contains("but the tests are built for"), "{err}");
        let err = check_platform("Linux", "x86_64", cross, false).unwrap_err();
        assert!(err.contains("tests are built for aarch64-apple-darwin"), "{err}");
    }

    #[test]
    fn keys_follow_content() {
        let mut a = Key::new();
        a.field(b"ab");
        a.field(b"c");
        let mut b = Key::new();
        b.field(b"a");
        b.field(b"bc");
        assert_ne!(a.finish(), b.finish());
        let mut c = Key::new();
        c.field(b"ab");
        c.field(b"c");
        assert_eq!(a.finish(), c.finish());
        assert_eq!(a.finish().len(), 32);
    }
}
