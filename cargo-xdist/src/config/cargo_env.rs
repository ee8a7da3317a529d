//! The `[env]` table of cargo's configuration, which `cargo test` sets for the tests it
//! runs. Files are found as cargo finds them: `.cargo/config.toml` (or `.cargo/config`) in
//! the current directory and each parent, then in `$CARGO_HOME`; a file nearer the current
//! directory wins. An entry is `KEY = "value"` or `KEY = { value = "...", force = true,
//! relative = true }`: without `force` a variable already set is left alone, and a
//! `relative` value is a path relative to the directory that holds the `.cargo` folder.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::errors::ConfigError;

/// The variables to give every test, in order.
pub fn config_env(cwd: &Path) -> Result<Vec<(String, String)>, ConfigError> {
    let mut chosen: BTreeMap<String, String> = BTreeMap::new();
    // Farthest first, so that nearer files overwrite.
    for file in config_files(cwd).into_iter().rev() {
        let text = std::fs::read_to_string(&file)
            .map_err(|source| ConfigError::Read { path: file.clone(), source })?;
        let table: toml::Table = toml::from_str(&text)
            .map_err(|source| ConfigError::Parse { path: file.clone(), source })?;
        let Some(toml::Value::Table(env)) = table.get("env") else { continue };
        let base = file.parent().and_then(Path::parent).unwrap_or(cwd);
        for (key, value) in env {
            let (text, force, relative) = match value {
                toml::Value::String(s) => (s.clone(), false, false),
                toml::Value::Table(t) => {
                    let Some(toml::Value::String(s)) = t.get("value") else {
                        return Err(ConfigError::EnvWithoutValue { path: file, key: key.clone() });
                    };
                    let flag = |name| matches!(t.get(name), Some(toml::Value::Boolean(true)));
                    (s.clone(), flag("force"), flag("relative"))
                }
                _ => {
                    return Err(ConfigError::EnvNotStringOrTable { path: file, key: key.clone() });
                }
            };
            if !force && std::env::var_os(key).is_some() {
                chosen.remove(key);
                continue;
            }
            let text = if relative { base.join(text).to_string_lossy().into_owned() } else { text };
            chosen.insert(key.clone(), text);
        }
    }
    Ok(chosen.into_iter().collect())
}

/// Config files from nearest to farthest.
pub fn config_files(cwd: &Path) -> Vec<PathBuf> {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")));
    let mut dirs: Vec<PathBuf> = cwd.ancestors().map(|dir| dir.join(".cargo")).collect();
    if let Some(home) = home {
        if !dirs.contains(&home) {
            dirs.push(home);
        }
    }
    dirs.into_iter()
        .filter_map(|dir| {
            ["config.toml", "config"].into_iter().map(|name| dir.join(name)).find(|p| p.is_file())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearer_files_win_and_tables_are_understood() {
        let root = std::env::temp_dir().join(format!("xdist-config-{}", std::process::id()));
        let inner = root.join("ws/member");
        std::fs::create_dir_all(root.join(".cargo")).unwrap();
        std::fs::create_dir_all(inner.join(".cargo")).unwrap();
        std::fs::write(
            root.join(".cargo/config.toml"),
            "[env]\nXDIST_T_OUTER = \"outer\"\nXDIST_T_BOTH = \"outer\"\nPATH = \"not forced\"\n",
        )
        .unwrap();
        std::fs::write(
            inner.join(".cargo/config.toml"),
            "[env]\nXDIST_T_BOTH = \"inner\"\nXDIST_T_REL = { value = \"data\", relative = true }\nHOME = { value = \"/forced\", force = true }\n",
        )
        .unwrap();
        let env: BTreeMap<String, String> = config_env(&inner).unwrap().into_iter().collect();
        assert_eq!(env["XDIST_T_OUTER"], "outer");
        assert_eq!(env["XDIST_T_BOTH"], "inner");
        assert_eq!(env["XDIST_T_REL"], inner.join("data").to_string_lossy());
        assert_eq!(env["HOME"], "/forced");
        assert!(!env.contains_key("PATH"), "set already, not forced");
        std::fs::write(inner.join(".cargo/config.toml"), "[env]\nX = 3\n").unwrap();
        assert!(config_env(&inner).unwrap_err().to_string().contains("must be a string"));
        std::fs::remove_dir_all(&root).unwrap();
    }
}
