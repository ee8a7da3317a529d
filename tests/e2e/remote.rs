//! ssh workers against a real OpenSSH server on a free loopback port, started by the test
//! with a generated host key, user key, `authorized_keys` and `known_hosts` in a temp dir
//! (the system's ssh configuration is never read: `XDIST_SSH` is `ssh -F <our config>`).
//! Without sshd the tests say so loudly and skip; under `CI` they fail.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::support::{Outcome, Outcomes, loud, text, xdist, xdist_outcomes};

/// A private sshd and the ssh client configuration that reaches it.
struct Sshd {
    dir: tempfile::TempDir,
    port: u16,
    child: Option<Child>,
}

fn sshd_program() -> Option<PathBuf> {
    let candidates = ["/usr/sbin/sshd", "/usr/local/sbin/sshd", "/sbin/sshd"];
    candidates.iter().map(PathBuf::from).find(|p| p.is_file())
}

/// The sshd, or `None` (having said so) when there is none outside CI.
fn sshd(test: &str) -> Option<Sshd> {
    let Some(program) = sshd_program() else {
        let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
        assert!(!ci, "sshd (openssh-server) is required in CI but is missing");
        loud(&format!("SKIPPED {test}: sshd is not installed; install openssh-server to run it"));
        return None;
    };
    // sshd run as root wants its privilege separation dir (the package makes it at boot).
    let _ = std::fs::create_dir_all("/run/sshd");
    let dir = tempfile::Builder::new().prefix("xdist-sshd-").tempdir().unwrap();
    let d = dir.path();
    for key in ["host_key", "user_key"] {
        let ok = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(d.join(key))
            .status()
            .unwrap();
        assert!(ok.success(), "ssh-keygen failed");
    }
    std::fs::copy(d.join("user_key.pub"), d.join("authorized_keys")).unwrap();
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let host_key = std::fs::read_to_string(d.join("host_key.pub")).unwrap();
    std::fs::write(d.join("known_hosts"), format!("[127.0.0.1]:{port} {host_key}")).unwrap();
    std::fs::write(
        d.join("sshd_config"),
        format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {h}/host_key\n\
             AuthorizedKeysFile {h}/authorized_keys\nPidFile {h}/sshd.pid\n\
             PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\n\
             StrictModes no\n",
            h = d.display()
        ),
    )
    .unwrap();
    std::fs::write(
        d.join("ssh_config"),
        format!(
            "Host *\n  IdentityFile {h}/user_key\n  IdentitiesOnly yes\n  \
             UserKnownHostsFile {h}/known_hosts\n  StrictHostKeyChecking yes\n  \
             ConnectTimeout 10\n",
            h = d.display()
        ),
    )
    .unwrap();
    let child = Command::new(program)
        .arg("-D")
        .arg("-f")
        .arg(d.join("sshd_config"))
        .arg("-E")
        .arg(d.join("sshd.log"))
        .spawn()
        .unwrap();
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(started.elapsed() < Duration::from_secs(10), "sshd did not listen");
        std::thread::sleep(Duration::from_millis(50));
    }
    Some(Sshd { dir, port, child: Some(child) })
}

impl Sshd {
    fn ssh_command(&self) -> String {
        format!("ssh -F {}", self.dir.path().join("ssh_config").display())
    }

    fn tx(&self, count: u32, cache: &Path) -> String {
        format!("{count}*ssh=127.0.0.1:{}//chdir={}", self.port, cache.display())
    }

    /// Kills the sshd and every process it started (the sessions and remote workers).
    fn kill_all(&mut self) {
        if let Some(mut child) = self.child.take() {
            let pid = child.id() as i32;
            for p in descendants(pid).into_iter().chain([pid]) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(p),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            let _ = child.wait();
        }
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        self.kill_all();
    }
}

/// Every process under `root`, from /proc.
fn descendants(root: i32) -> Vec<i32> {
    let mut parents: Vec<(i32, i32)> = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else { continue };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        let Some(after) = stat.rsplit_once(") ").map(|(_, rest)| rest) else { continue };
        if let Some(ppid) = after.split(' ').nth(1).and_then(|p| p.parse().ok()) {
            parents.push((pid, ppid));
        }
    }
    let mut found = vec![root];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i];
        found.extend(parents.iter().filter(|(_, pp)| *pp == parent).map(|(p, _)| *p));
        i += 1;
    }
    found.remove(0);
    found
}

fn run(sshd: &Sshd, args: &[&str]) -> Output {
    xdist("examples/demo", "run").args(args).env("XDIST_SSH", sshd.ssh_command()).output().unwrap()
}

/// The demo's tests that compare a path built in at compile time with the one they get
/// at run time: they fail wherever the build is remapped (an archive run elsewhere, as
/// under nextest), so on an ssh host too.
const REMAPPED_PATH_TESTS: [&str; 3] = [
    "demo-cli::cli reads_runtime_bin_path",
    "demo-cli::out_dir out_dir_runtime",
    "demo-core env::tests::cargo_env",
];

/// The archives kept for shipping in the shared target dir: name → (inode, mtime in ns).
fn shipped_archives() -> std::collections::BTreeMap<String, (u64, i64)> {
    use std::os::unix::fs::MetadataExt;
    let dir = crate::support::target_dir().join("xdist").join("ship");
    let Ok(entries) = std::fs::read_dir(dir) else { return Default::default() };
    entries
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tar.zst"))
        .filter_map(|e| {
            let meta = e.metadata().ok()?;
            let stamp = (meta.ino(), meta.mtime() * 1_000_000_000 + meta.mtime_nsec());
            Some((e.file_name().to_string_lossy().into_owned(), stamp))
        })
        .collect()
}

#[test]
fn ssh_workers_give_a_local_runs_outcomes_and_ship_once() {
    let Some(sshd) = sshd("ssh_workers_give_a_local_runs_outcomes_and_ship_once") else {
        return;
    };
    let local = xdist("examples/demo", "run").args(["-n", "2", "-v"]).output().unwrap();
    let mut expected: Outcomes = xdist_outcomes(&local);
    assert!(expected.values().any(|o| *o == Outcome::Fail), "the demo has failing tests");
    for id in REMAPPED_PATH_TESTS {
        assert_eq!(expected.insert(id.to_string(), Outcome::Fail), Some(Outcome::Pass), "{id}");
    }
    let cache = sshd.dir.path().join("cache");
    // The remote tests check their XDIST_* variables (the spec's `env:` reaches them).
    let tx = format!(
        "{}//env:DEMO_EXPECT_WORKER_COUNT=2//env:DEMO_EXPECT_TESTRUNUID=remote-uid",
        sshd.tx(2, &cache)
    );
    let first = run(&sshd, &["--tx", &tx, "-v", "--testrunuid", "remote-uid"]);
    let stderr = text(&first.stderr);
    assert_eq!(xdist_outcomes(&first), expected, "{stderr}\n{}", text(&first.stdout));
    let shipped: Vec<&str> = stderr.lines().filter(|l| l.contains(": shipped ")).collect();
    assert_eq!(shipped.len(), 1, "one site, shipped once:\n{stderr}");
    for item in ["worker (", "archive (", "sources ("] {
        assert_eq!(shipped[0].matches(item).count(), 1, "{item}: {stderr}");
    }
    // The remapped paths the failures print are the site's: binaries (CARGO_BIN_EXE_*) under
    // the unpacked archive, cwd under the shipped sources; nothing ran from here.
    let stdout = text(&first.stdout);
    for dir in ["a-", "s-"] {
        assert!(stdout.contains(&format!("{}/{dir}", cache.display())), "{dir}: {stdout}");
    }
    let host = format!("127.0.0.1:{}", sshd.port);
    for worker in ["gw0", "gw1"] {
        assert!(stderr.contains(&format!("xdist: [{worker}] runs on ssh {host}")), "{stderr}");
    }
    let archives = shipped_archives();
    assert!(!archives.is_empty(), "the run's archive is kept in the target dir");
    let second = run(&sshd, &["--tx", &tx, "-v", "--testrunuid", "remote-uid"]);
    let stderr = text(&second.stderr);
    assert_eq!(xdist_outcomes(&second), expected, "{stderr}");
    assert!(stderr.contains("up to date, nothing shipped"), "{stderr}");
    // The unchanged build reused its archive: the same file, not written again.
    assert_eq!(shipped_archives(), archives, "the archive was rewritten");
    assert!(!stderr.contains(": shipped "), "{stderr}");
    // A file of the archive with a new modification time is a new identity: the archive
    // is written again (a new file), with the same content, so still nothing is shipped.
    let config = crate::support::repo_root().join("examples/demo/.config/xdist.toml");
    let file = std::fs::File::options().append(true).open(&config).unwrap();
    file.set_modified(std::time::SystemTime::now()).unwrap();
    let third = run(&sshd, &["--tx", &tx, "-v", "--testrunuid", "remote-uid"]);
    let stderr = text(&third.stderr);
    assert_eq!(xdist_outcomes(&third), expected, "{stderr}");
    assert!(stderr.contains("up to date, nothing shipped"), "{stderr}");
    let rewritten = shipped_archives();
    assert!(rewritten.keys().any(|name| !archives.contains_key(name)), "{rewritten:?}");
    // An archive run ships that archive (the same tests: the same key, so nothing), and
    // its remapped paths move to the site the same way.
    let archive = sshd.dir.path().join("demo.tar.zst");
    let archived = xdist("examples/demo", "archive").arg("--archive-file").arg(&archive).output();
    assert!(archived.unwrap().status.success());
    let demo = crate::support::repo_root().join("examples/demo");
    let from_archive = crate::support::xdist_bin()
        .current_dir(&demo)
        .args(["run", "--archive-file"])
        .arg(&archive)
        .arg("--workspace-remap")
        .arg(&demo)
        .args(["--tx", &tx, "-v", "--testrunuid", "remote-uid"])
        .env("XDIST_SSH", sshd.ssh_command())
        .output()
        .unwrap();
    let stderr = text(&from_archive.stderr);
    assert_eq!(xdist_outcomes(&from_archive), expected, "{stderr}");
    assert!(!stderr.contains("worker ("), "{stderr}");
    assert!(!stderr.contains("sources ("), "{stderr}");
}

#[test]
fn a_host_that_dies_mid_run_loses_no_test() {
    let Some(mut sshd) = sshd("a_host_that_dies_mid_run_loses_no_test") else { return };
    let local = xdist("examples/demo", "run").args(["-n", "2", "-v"]).output().unwrap();
    let expected: Vec<String> = xdist_outcomes(&local).into_keys().collect();
    let cache = sshd.dir.path().join("cache");
    // Ship first, so that the run below reaches its workers at once.
    let warm = run(&sshd, &["--tx", &sshd.tx(1, &cache)]);
    assert!(text(&warm.stderr).contains(": shipped "), "{}", text(&warm.stderr));
    let remote = format!("{}//env:DEMO_EXPECT_WORKER_COUNT=3", sshd.tx(2, &cache));
    let child = xdist("examples/demo", "run")
        .args(["--tx", &remote, "--tx", "popen", "-v"])
        .env("DEMO_EXPECT_WORKER_COUNT", "3")
        .env("XDIST_SSH", sshd.ssh_command())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Once a remote worker runs, the host goes: its sshd, sessions and workers.
    let sshd_pid = sshd.child.as_ref().unwrap().id() as i32;
    let started = Instant::now();
    loop {
        let workers = descendants(sshd_pid).into_iter().any(|p| {
            std::fs::read(format!("/proc/{p}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains("__xdist-worker"))
        });
        if workers {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "no remote worker started");
        std::thread::sleep(Duration::from_millis(5));
    }
    sshd.kill_all();
    let out = child.wait_with_output().unwrap();
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    let got: Vec<String> = xdist_outcomes(&out).into_keys().collect();
    assert_eq!(got, expected, "every test reported once:\n{stdout}\n{stderr}");
    let host = format!("127.0.0.1:{}", sshd.port);
    assert!(
        stderr.contains(&format!("lost its ssh connection to {host}")),
        "the host is named:\n{stdout}\n{stderr}"
    );
    assert!(stdout.lines().last().unwrap_or_default().starts_with("xdist: "), "{stdout}");
}

#[test]
fn a_host_that_cannot_be_reached_leaves_the_run_to_the_others() {
    let Some(mut sshd) = sshd("a_host_that_cannot_be_reached_leaves_the_run_to_the_others") else {
        return;
    };
    let cache = sshd.dir.path().join("cache");
    let tx = sshd.tx(2, &cache);
    sshd.kill_all();
    let local = xdist("examples/demo", "run").args(["-n", "1", "-v"]).output().unwrap();
    let mixed = run(&sshd, &["--tx", &tx, "--tx", "popen", "-v"]);
    let stderr = text(&mixed.stderr);
    assert_eq!(xdist_outcomes(&mixed), xdist_outcomes(&local), "{stderr}");
    assert!(stderr.contains(&format!("ssh host 127.0.0.1:{} is not used", sshd.port)), "{stderr}");
    // No host at all: the tests are reported not run, with why.
    let none = run(&sshd, &["--tx", &tx]);
    let (stdout, stderr) = (text(&none.stdout), text(&none.stderr));
    assert_ne!(none.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("26 tests not run"), "{stdout}");
    assert!(stderr.contains("every worker host is down"), "{stdout}\n{stderr}");
}

/// A host whose workers die as they start (a worker that cannot run there, exiting with a
/// code, not ssh's 255: the host is not marked down, so each replacement goes back to it)
/// spends only its own seat's `--max-worker-restart`: after two restarts the seat is
/// retired, and the local worker, whose budget is untouched, runs every test.
#[test]
fn a_host_whose_workers_keep_dying_spends_only_its_own_restarts() {
    let Some(sshd) = sshd("a_host_whose_workers_keep_dying_spends_only_its_own_restarts") else {
        return;
    };
    let local = xdist("examples/demo", "run").args(["-n", "1", "-v"]).output().unwrap();
    let cache = sshd.dir.path().join("cache");
    let wrapper = sshd.dir.path().join("flapping-ssh");
    std::fs::write(
        &wrapper,
        "#!/bin/sh\ncase \"$*\" in *__xdist-worker*) exit 3;; esac\nexec ssh \"$@\"\n",
    )
    .unwrap();
    let mut perms = std::fs::metadata(&wrapper).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(&wrapper, perms).unwrap();
    let ssh = format!("{} -F {}", wrapper.display(), sshd.dir.path().join("ssh_config").display());
    let out = xdist("examples/demo", "run")
        .args(["--tx", &sshd.tx(1, &cache), "-n", "1", "-v", "--max-worker-restart", "2"])
        .env("XDIST_SSH", ssh)
        .output()
        .unwrap();
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    let all = format!("{stdout}\n{stderr}");
    assert_eq!(xdist_outcomes(&out), xdist_outcomes(&local), "{all}");
    assert_eq!(out.status.code(), local.status.code(), "{all}");
    let host = format!("127.0.0.1:{}", sshd.port);
    assert!(all.contains(&format!("exited with code 3 (on ssh host {host})")), "{all}");
    let replaced = all.lines().filter(|l| l.starts_with("xdist: replacing crashed worker")).count();
    assert_eq!(replaced, 2, "the host's seat is restarted twice, no more:\n{all}");
    let retired: Vec<&str> =
        all.lines().filter(|l| l.starts_with("xdist: not replacing crashed worker")).collect();
    assert_eq!(retired.len(), 1, "{all}");
    assert!(!all.contains("maximum crashed workers reached"), "{all}");
}

#[test]
fn a_bad_tx_spec_is_a_one_line_usage_error() {
    for spec in ["socket=h:1", "ssh=-oProxyCommand=x", "0*popen", "popen//python=py"] {
        let out = xdist("examples/demo", "run").args(["--tx", spec]).output().unwrap();
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{spec}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{spec}: {stderr}");
        assert!(stderr.starts_with(&format!("error: bad --tx `{spec}`: ")), "{stderr}");
    }
}

/// Doctests need this machine's rustdoc and the libraries' rlibs, which are not shipped:
/// with an ssh worker in the run, `--doc` and `--doctests` are a usage error before
/// anything is built or reached (the host here does not exist).
#[test]
fn doctests_with_ssh_workers_are_a_one_line_usage_error() {
    for flag in ["--doc", "--doctests"] {
        for tx in [&["--tx", "ssh=127.0.0.1:1"][..], &["--tx", "ssh=127.0.0.1:1", "-n", "1"]] {
            let out = xdist("examples/demo", "run").args(tx).arg(flag).output().unwrap();
            let stderr = text(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{flag} {tx:?}: {stderr}");
            assert_eq!(stderr.lines().count(), 1, "{flag}: {stderr}");
            let want = format!("error: {flag} cannot run on ssh workers (doctests need");
            assert!(stderr.starts_with(&want), "{stderr}");
            assert!(stderr.contains("cargo xdist run --doc -n N"), "{stderr}");
        }
    }
}

const STALL: &str = "tests/fixtures/stall";

/// SIGINT with ssh workers running tests: the run ends within 2 s, and nothing is left on
/// the remote side (worker, test process) or here (ssh clients).
#[test]
fn sigint_stops_remote_tests_too() {
    let Some(sshd) = sshd("sigint_stops_remote_tests_too") else { return };
    let cache = sshd.dir.path().join("cache");
    let quick = format!("{}//env:STALL_SLEEP_MS=1", sshd.tx(1, &cache));
    // `config_env` reads its package's `src/lib.rs` through a relative `[env]` path: the
    // shipped sources are there, at the remapped path.
    let warm = xdist(STALL, "run")
        .args(["--tx", &quick, "--no-history", "-v", "t::sleeper_", "t::config_env"])
        .env("XDIST_SSH", sshd.ssh_command())
        .output()
        .unwrap();
    let warm_out = text(&warm.stdout);
    assert_eq!(warm.status.code(), Some(0), "{warm_out}{}", text(&warm.stderr));
    assert!(warm_out.contains("PASS") && warm_out.contains("t::config_env"), "{warm_out}");
    assert!(warm_out.ends_with("xdist: 17 passed, 0 failed, 0 skipped\n"), "{warm_out}");
    let slow = format!("{}//env:STALL_SLEEP_MS=5000", sshd.tx(2, &cache));
    let mut child = xdist(STALL, "run")
        .args(["--tx", &slow, "--no-history", "t::sleeper_"])
        .env("XDIST_SSH", sshd.ssh_command())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let sshd_pid = sshd.child.as_ref().unwrap().id() as i32;
    let cmdline = |p: i32| {
        std::fs::read(format!("/proc/{p}/cmdline"))
            .map(|c| String::from_utf8_lossy(&c).into_owned())
            .unwrap_or_default()
    };
    let started = Instant::now();
    let remote = loop {
        let family = descendants(sshd_pid);
        let tests = family.iter().filter(|&&p| cmdline(p).contains("t::sleeper_")).count();
        if tests >= 2 {
            break family;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "no remote tests started");
        std::thread::sleep(Duration::from_millis(20));
    };
    let local = descendants(child.id() as i32);
    assert!(local.iter().any(|&p| cmdline(p).starts_with("ssh")), "ssh clients: {local:?}");
    let sent = Instant::now();
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::SIGINT)
        .unwrap();
    let status = child.wait().unwrap();
    let took = sent.elapsed();
    let mut stdout = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut stdout).unwrap();
    assert!(took < Duration::from_secs(2), "took {took:?}:\n{stdout}");
    assert_eq!(status.code(), Some(130), "{stdout}");
    assert!(stdout.contains("xdist: interrupted by SIGINT"), "{stdout}");
    std::thread::sleep(Duration::from_millis(500));
    let alive = |p: &i32| {
        std::fs::read_to_string(format!("/proc/{p}/stat"))
            .is_ok_and(|stat| !stat.rsplit_once(") ").is_some_and(|(_, a)| a.starts_with('Z')))
    };
    let left: Vec<(i32, String)> =
        remote.iter().chain(&local).filter(|p| alive(p)).map(|&p| (p, cmdline(p))).collect();
    // The sshd's own listener is not among its descendants; everything else must be gone.
    assert!(left.is_empty(), "left behind: {left:?}");
}

/// `[remote] worker = PATH`: the cargo-xdist already on the host (here: the one under
/// test, by its absolute path) starts the workers and unpacks the archive; this
/// executable is not shipped, and the outcomes are the same as with it shipped.
#[test]
fn a_worker_already_on_the_host_is_not_shipped() {
    let Some(sshd) = sshd("a_worker_already_on_the_host_is_not_shipped") else { return };
    let ws = sshd.dir.path().join("ws");
    crate::support::copy_tree(&crate::support::repo_root().join(STALL), &ws);
    let config = ws.join(".config");
    std::fs::create_dir_all(&config).unwrap();
    let exe = env!("CARGO_BIN_EXE_cargo-xdist");
    std::fs::write(config.join("xdist.toml"), format!("[remote]\nworker = \"{exe}\"\n")).unwrap();
    // The shipped sources are what git tracks.
    for git in [&["init", "-q"][..], &["add", "-A"]] {
        let ok = Command::new("git").args(git).current_dir(&ws).status().unwrap();
        assert!(ok.success(), "git {git:?}");
    }
    let target = sshd.dir.path().join("target");
    let run_with = |tx: &str| {
        let out = crate::support::xdist_bin()
            .current_dir(&ws)
            .args(["run", "--manifest-path"])
            .arg(ws.join("Cargo.toml"))
            .arg("--target-dir")
            .arg(&target)
            .args(["--tx", tx, "--no-history", "-v", "t::sleeper_", "t::config_env"])
            .env("XDIST_SSH", sshd.ssh_command())
            .output()
            .unwrap();
        (text(&out.stdout), text(&out.stderr), out.status.code())
    };
    let cache = sshd.dir.path().join("cache");
    let quick = format!("{}//env:STALL_SLEEP_MS=1", sshd.tx(2, &cache));
    let (stdout, stderr, code) = run_with(&quick);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(stdout.ends_with("xdist: 17 passed, 0 failed, 0 skipped\n"), "{stdout}");
    let shipped: Vec<&str> = stderr.lines().filter(|l| l.contains(": shipped ")).collect();
    assert_eq!(shipped.len(), 1, "{stderr}");
    assert!(shipped[0].contains("archive (") && shipped[0].contains("sources ("), "{stderr}");
    assert!(!shipped[0].contains("worker ("), "the worker is not shipped:\n{stderr}");
    assert!(
        std::fs::read_dir(&cache)
            .unwrap()
            .flatten()
            .all(|e| { !e.file_name().to_string_lossy().starts_with("w-") })
    );
    // A path the host does not have: the host is not used, and says why.
    std::fs::write(config.join("xdist.toml"), "[remote]\nworker = \"/nonexistent/cargo-xdist\"\n")
        .unwrap();
    let (stdout, stderr, code) = run_with(&quick);
    assert_ne!(code, Some(0), "{stdout}");
    assert!(
        stderr.contains("has no executable `/nonexistent/cargo-xdist` (`[remote] worker`)"),
        "{stderr}"
    );
    assert!(stdout.contains("17 tests not run"), "{stdout}");
}

#[test]
fn dash_n_adds_local_workers_to_ssh_ones() {
    let Some(sshd) = sshd("dash_n_adds_local_workers_to_ssh_ones") else {
        return;
    };
    // The tests that fail only where the build is remapped are left out: which side runs
    // them is the scheduler's choice.
    let skips: Vec<&str> = REMAPPED_PATH_TESTS
        .iter()
        .flat_map(|id| ["--skip", id.split_once(' ').map_or(*id, |(_, name)| name)])
        .collect();
    let mut local = vec!["-n", "2", "-v"];
    local.extend(&skips);
    let expected = xdist_outcomes(&xdist("examples/demo", "run").args(&local).output().unwrap());
    let cache = sshd.dir.path().join("cache");
    let tx = sshd.tx(2, &cache);
    let mut args = vec!["--tx", tx.as_str(), "-n", "1", "-v", "--dist", "each"];
    args.extend(&skips);
    let out = run(&sshd, &args);
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("[gw0] runs on ssh") && stderr.contains("[gw1] runs on ssh"),
        "{stderr}"
    );
    assert!(!stderr.contains("[gw2] runs on ssh"), "gw2 is the local worker:\n{stderr}");
    // `--dist each`: every test on each of the three workers, with the local run's outcome.
    let stdout = text(&out.stdout);
    let result_lines: Vec<&str> = stdout
        .lines()
        .filter(|l| ["PASS [", "FAIL [", "TIMEOUT ["].iter().any(|w| l.trim_start().starts_with(w)))
        .collect();
    let run_here = expected.values().filter(|o| **o != Outcome::Skip).count();
    for worker in ["[gw0]", "[gw1]", "[gw2]"] {
        let ran = result_lines.iter().filter(|l| l.contains(worker)).count();
        assert_eq!(ran, run_here, "{worker} ran every test:\n{stdout}\n{stderr}");
    }
    for line in result_lines {
        let id = line.rsplit_once("s] ").map_or(line, |(_, id)| id);
        let outcome =
            if line.trim_start().starts_with("PASS") { Outcome::Pass } else { Outcome::Fail };
        assert_eq!(expected.get(id), Some(&outcome), "{line}");
    }
}
