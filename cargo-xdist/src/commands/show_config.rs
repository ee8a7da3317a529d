//! `cargo xdist show-config`: the settings a run with the same options would use, each
//! with where it came from (a flag, an environment variable, which file and profile, or the
//! default), then the per-test overrides and the groups. Nothing is built: the workspace is
//! found with `cargo locate-project`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::build::cargo::cargo_program;
use crate::cli::RunArgs;
use crate::config::keys::Kind;
use crate::config::settings::{self, ConfigPaths, Resolved, flag_values};
use crate::errors::{ConfigError, XdistError, exit_code};

/// Prints the resolved settings; returns the exit code.
pub fn show_config(args: &RunArgs) -> Result<u8, XdistError> {
    let root = workspace_root(args.cargo.manifest_path.as_ref().map(|p| p.as_std_path()))?;
    let paths = ConfigPaths::new(&root, &settings::process_env);
    let resolved = settings::resolve(
        flag_values(args),
        args.profile.profile.as_deref(),
        &settings::process_env,
        &paths,
    )?;
    for warning in &resolved.warnings {
        eprintln!("warning: {warning}");
    }
    let text = render(&resolved, &paths);
    let mut out = std::io::stdout().lock();
    let _ = std::io::Write::write_all(&mut out, text.as_bytes());
    Ok(exit_code::OK)
}

/// The report: the profile, the files, one line per key, the overrides and the groups.
pub fn render(resolved: &Resolved, paths: &ConfigPaths) -> String {
    let mut out = String::new();
    let (profile, origin) = &resolved.profile;
    let _ = writeln!(out, "profile: {profile} ({origin})");
    let mut files = vec![paths.workspace_file()];
    files.extend(paths.user.clone());
    for file in files {
        let state = if resolved.files.contains(&file) { "read" } else { "not found" };
        let _ = writeln!(out, "file: {} ({state})", file.display());
    }
    out.push('\n');
    let rows: Vec<(String, String)> = settings::table(resolved)
        .into_iter()
        .map(|(key, found)| match found {
            Some((value, origin)) => (format!("{} = {value}", key.name), origin.to_string()),
            None => {
                let origin = if key.flag.is_empty() {
                    format!("default (set with {})", key.env())
                } else {
                    format!("default (set with {} or {})", key.flag, key.env())
                };
                let quoted = matches!(key.kind, Kind::Choice(_) | Kind::Workers);
                let default = if quoted && key.default != "none" {
                    format!("\"{}\"", key.default)
                } else {
                    key.default.to_string()
                };
                (format!("{} = {default}", key.name), origin)
            }
        })
        .collect();
    for (setting, origin) in rows {
        let _ = writeln!(out, "{setting:36}  # {origin}");
    }
    if !resolved.overrides.is_empty() {
        out.push_str("\noverrides (the first that matches and sets a key wins; flags and XDIST_* variables win over them):\n");
        for (o, origin) in &resolved.overrides {
            let mut sets = Vec::new();
            if let Some(d) = o.timeout {
                sets.push(format!("timeout = {}s", d.as_secs_f64()));
            }
            if let Some(d) = o.slow_timeout {
                sets.push(format!("slow-timeout = {}s", d.as_secs_f64()));
            }
            if let Some(n) = o.retries {
                sets.push(format!("retries = {n}"));
            }
            if let Some(g) = &o.group {
                sets.push(format!("group = \"{g}\""));
            }
            let _ = writeln!(out, "  filter = \"{}\": {}  # {origin}", o.filter, sets.join(", "));
        }
    }
    if !resolved.groups.is_empty() {
        out.push_str("\ngroups (--dist loadgroup):\n");
        for (group, pattern) in &resolved.groups {
            let _ = writeln!(out, "  {group} = \"{pattern}\"");
        }
    }
    for (phase, scripts) in [("setup", &resolved.setup), ("teardown", &resolved.teardown)] {
        if !scripts.is_empty() {
            let _ = writeln!(out, "\n{phase} (docs/setup-teardown.md):");
            for script in scripts {
                let _ = write!(out, "  command = {:?}", script.command);
                if let Some(cwd) = &script.cwd {
                    let _ = write!(out, ", cwd = \"{}\"", cwd.display());
                }
                for (var, value) in &script.env {
                    let _ = write!(out, ", {var} = \"{value}\"");
                }
                out.push('\n');
            }
        }
    }
    out
}

/// The workspace root, as `cargo locate-project --workspace` finds it.
pub fn workspace_root(manifest_path: Option<&Path>) -> Result<PathBuf, ConfigError> {
    let mut command = Command::new(cargo_program());
    command.args(["locate-project", "--workspace", "--message-format", "plain"]);
    if let Some(path) = manifest_path {
        command.arg("--manifest-path").arg(path);
    }
    let out = command
        .output()
        .map_err(|e| ConfigError::NoWorkspace { detail: format!("could not run cargo: {e}") })?;
    let text = String::from_utf8_lossy(&out.stdout);
    let manifest = Path::new(text.trim());
    match manifest.parent() {
        Some(root) if out.status.success() && manifest.is_absolute() => Ok(root.to_path_buf()),
        _ => {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let detail = stderr.lines().find(|l| !l.trim().is_empty()).unwrap_or("no manifest");
            Err(ConfigError::NoWorkspace { detail: detail.trim().to_string() })
        }
    }
}
