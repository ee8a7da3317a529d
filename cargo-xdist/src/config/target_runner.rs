//! cargo's target runner, which `cargo test` (and nextest) start every test binary under:
//! qemu for a cross target, valgrind, a sandbox, a wrapper script. Found as cargo finds it:
//! `CARGO_TARGET_<TRIPLE>_RUNNER` first, then `target.<triple>.runner`, then the one
//! `target.'cfg(...)'.runner` whose predicate holds for the target (two that hold are an
//! error, as in cargo), each from the nearest `.cargo/config.toml` that has it. A value is a
//! string (split at whitespace) or an array; a program with a `/` in it is relative to the
//! directory that holds the `.cargo` folder (to the current directory for the variable).

use std::path::{Path, PathBuf};

use crate::config::cargo_env::config_files;
use crate::errors::ConfigError;

/// The runner's program and arguments, or nothing. `triple` names the target and
/// `target_cfg` gives its `rustc --print cfg` lines; each is asked only when a runner may
/// be configured (a `CARGO_TARGET_*_RUNNER` variable or a `[target]` table exists).
pub fn runner_for_target(
    cwd: &Path,
    triple: impl FnOnce() -> Option<String>,
    target_cfg: impl FnOnce(&str) -> Vec<String>,
) -> Result<Vec<String>, ConfigError> {
    let any_var = std::env::vars_os().any(|(key, _)| {
        key.to_str().is_some_and(|k| k.starts_with("CARGO_TARGET_") && k.ends_with("_RUNNER"))
    });
    let any_table = config_files(cwd)
        .iter()
        .any(|file| std::fs::read_to_string(file).is_ok_and(|text| text.contains("target")));
    if !any_var && !any_table {
        return Ok(Vec::new());
    }
    let Some(triple) = triple() else { return Ok(Vec::new()) };
    target_runner(cwd, &triple, || target_cfg(&triple))
}

/// [`runner_for_target`] for a known triple.
pub fn target_runner(
    cwd: &Path,
    triple: &str,
    target_cfg: impl FnOnce() -> Vec<String>,
) -> Result<Vec<String>, ConfigError> {
    let var = format!("CARGO_TARGET_{}_RUNNER", triple.to_uppercase().replace(['-', '.'], "_"));
    if let Ok(value) = std::env::var(&var) {
        let words: Vec<String> = value.split_whitespace().map(String::from).collect();
        return Ok(resolve(words, cwd));
    }
    let mut files = Vec::new();
    for path in config_files(cwd) {
        let text = std::fs::read_to_string(&path)
            .map_err(|source| ConfigError::Read { path: path.clone(), source })?;
        let table: toml::Table = toml::from_str(&text)
            .map_err(|source| ConfigError::Parse { path: path.clone(), source })?;
        if let Some(toml::Value::Table(targets)) = table.get("target") {
            files.push((path, targets.clone()));
        }
    }
    // Nearest file first: the first that names the key wins.
    for (path, targets) in &files {
        if let Some(runner) = targets.get(triple).and_then(|t| t.get("runner")) {
            return runner_value(runner, path, &format!("target.{triple}.runner"));
        }
    }
    let mut cfgs: Vec<(&String, &PathBuf, &toml::Value)> = Vec::new();
    for (path, targets) in &files {
        for (key, table) in targets {
            let Some(runner) = table.get("runner") else { continue };
            if key.starts_with("cfg(") && !cfgs.iter().any(|(k, _, _)| *k == key) {
                cfgs.push((key, path, runner));
            }
        }
    }
    if cfgs.is_empty() {
        return Ok(Vec::new());
    }
    let facts = target_cfg();
    let mut matching = Vec::new();
    for (key, path, runner) in cfgs {
        let holds = cfg_holds(key, &facts).map_err(|reason| ConfigError::BadCfg {
            path: path.clone(),
            key: key.clone(),
            reason,
        })?;
        if holds {
            matching.push((key, path, runner));
        }
    }
    match matching.as_slice() {
        [] => Ok(Vec::new()),
        [(key, path, runner)] => runner_value(runner, path, &format!("target.'{key}'.runner")),
        [(first, path, _), (second, _, _), ..] => Err(ConfigError::SeveralRunners {
            path: (*path).clone(),
            first: (*first).clone(),
            second: (*second).clone(),
        }),
    }
}

fn runner_value(value: &toml::Value, file: &Path, key: &str) -> Result<Vec<String>, ConfigError> {
    let words: Option<Vec<String>> = match value {
        toml::Value::String(s) => Some(s.split_whitespace().map(String::from).collect()),
        toml::Value::Array(items) => items.iter().map(|v| v.as_str().map(String::from)).collect(),
        _ => None,
    };
    let words = words
        .ok_or_else(|| ConfigError::BadRunner { path: file.to_path_buf(), key: key.to_string() })?;
    let base = file.parent().and_then(Path::parent).unwrap_or(Path::new("."));
    Ok(resolve(words, base))
}

/// A program with a `/` is a path relative to `base`; a bare name is looked up in `PATH`.
fn resolve(mut words: Vec<String>, base: &Path) -> Vec<String> {
    if let Some(program) = words.first_mut() {
        if program.contains('/') && Path::new(program.as_str()).is_relative() {
            *program = base.join(program.as_str()).to_string_lossy().into_owned();
        }
    }
    words
}

/// Whether `cfg(...)` holds for a target whose `rustc --print cfg` lines are `facts`
/// (`unix`, `target_os="linux"`).
pub fn cfg_holds(key: &str, facts: &[String]) -> Result<bool, String> {
    let tokens = tokenize(key)?;
    let mut parser = CfgParser { tokens: &tokens, at: 0, facts };
    parser.expect(&Token::Ident("cfg".into()))?;
    parser.expect(&Token::Open)?;
    let value = parser.predicate()?;
    parser.expect(&Token::Close)?;
    if parser.at != tokens.len() {
        return Err("unexpected text after `cfg(...)`".into());
    }
    Ok(value)
}

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Ident(String),
    Str(String),
    Open,
    Close,
    Comma,
    Equals,
}

fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '(' | ')' | ',' | '=' => {
                chars.next();
                tokens.push(match c {
                    '(' => Token::Open,
                    ')' => Token::Close,
                    ',' => Token::Comma,
                    _ => Token::Equals,
                });
            }
            '"' => {
                chars.next();
                let mut s = String::new();
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some(c) => s.push(c),
                        None => return Err("unterminated string".into()),
                    }
                }
                tokens.push(Token::Str(s));
            }
            c if c.is_alphanumeric() || c == '_' => {
                let mut s = String::new();
                while let Some(&c) = chars.peek().filter(|c| c.is_alphanumeric() || **c == '_') {
                    s.push(c);
                    chars.next();
                }
                tokens.push(Token::Ident(s));
            }
            other => return Err(format!("unexpected character `{other}`")),
        }
    }
    Ok(tokens)
}

struct CfgParser<'a> {
    tokens: &'a [Token],
    at: usize,
    facts: &'a [String],
}

impl CfgParser<'_> {
    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.at).cloned();
        self.at += 1;
        token
    }

    fn expect(&mut self, want: &Token) -> Result<(), String> {
        match self.next() {
            Some(ref got) if got == want => Ok(()),
            got => Err(format!("expected {want:?}, found {got:?}")),
        }
    }

    fn predicate(&mut self) -> Result<bool, String> {
        let Some(Token::Ident(name)) = self.next() else {
            return Err("expected a name".into());
        };
        if self.tokens.get(self.at) == Some(&Token::Open)
            && matches!(name.as_str(), "all" | "any" | "not")
        {
            self.at += 1;
            let mut values = Vec::new();
            while self.tokens.get(self.at) != Some(&Token::Close) {
                values.push(self.predicate()?);
                if self.tokens.get(self.at) == Some(&Token::Comma) {
                    self.at += 1;
                }
            }
            self.at += 1;
            return match name.as_str() {
                "all" => Ok(values.iter().all(|v| *v)),
                "any" => Ok(values.iter().any(|v| *v)),
                _ if values.len() == 1 => Ok(!values[0]),
                _ => Err("`not` takes one predicate".into()),
            };
        }
        if self.tokens.get(self.at) == Some(&Token::Equals) {
            self.at += 1;
            let Some(Token::Str(value)) = self.next() else {
                return Err(format!("expected a string after `{name} =`"));
            };
            let fact = format!("{name}=\"{value}\"");
            return Ok(self.facts.contains(&fact));
        }
        Ok(self.facts.contains(&name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> Vec<String> {
        ["unix", "debug_assertions", "target_os=\"linux\"", "target_arch=\"x86_64\""]
            .map(String::from)
            .to_vec()
    }

    #[test]
    fn cfg_predicates_evaluate_as_rustc_would() {
        let cases = [
            ("cfg(unix)", true),
            ("cfg(windows)", false),
            ("cfg(target_os = \"linux\")", true),
            ("cfg(target_os = \"macos\")", false),
            ("cfg(all(unix, target_arch = \"x86_64\"))", true),
            ("cfg(all(unix, target_arch = \"aarch64\"))", false),
            ("cfg(any(windows, target_os = \"linux\"))", true),
            ("cfg(not(windows))", true),
            ("cfg(not(unix))", false),
            ("cfg(all())", true),
            ("cfg(any())", false),
        ];
        for (key, want) in cases {
            assert_eq!(cfg_holds(key, &facts()), Ok(want), "{key}");
        }
        for bad in ["cfg(", "cfg(unix", "cfg(target_os = linux)", "cfg(unix) x", "cfg(not(a, b))"] {
            assert!(cfg_holds(bad, &facts()).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_nearest_config_wins_and_paths_resolve_from_its_workspace() {
        let root = tempfile::tempdir().unwrap();
        let inner = root.path().join("ws/member");
        std::fs::create_dir_all(root.path().join(".cargo")).unwrap();
        std::fs::create_dir_all(inner.join(".cargo")).unwrap();
        std::fs::write(
            root.path().join(".cargo/config.toml"),
            "[target.x86_64-unknown-linux-gnu]\nrunner = \"outer\"\n[target.'cfg(unix)']\nrunner = [\"./tools/run.sh\", \"--flag\"]\n",
        )
        .unwrap();
        let none = || -> Vec<String> { panic!("cfg not needed") };
        let triple = "x86_64-unknown-linux-gnu";
        assert_eq!(target_runner(&inner, triple, none).unwrap(), ["outer"]);
        std::fs::write(
            inner.join(".cargo/config.toml"),
            "[target.x86_64-unknown-linux-gnu]\nrunner = \"valgrind -q\"\n",
        )
        .unwrap();
        assert_eq!(target_runner(&inner, triple, none).unwrap(), ["valgrind", "-q"]);
        // Another triple: only the cfg runner applies, relative to the outer workspace.
        let cfg = target_runner(&inner, "aarch64-unknown-linux-gnu", facts).unwrap();
        let script = root.path().join("./tools/run.sh").to_string_lossy().into_owned();
        assert_eq!(cfg, [script.as_str(), "--flag"]);
        std::fs::write(
            inner.join(".cargo/config.toml"),
            "[target.'cfg(target_os = \"linux\")']\nrunner = \"b\"\n",
        )
        .unwrap();
        let err = target_runner(&inner, "aarch64-unknown-linux-gnu", facts).unwrap_err();
        assert!(err.to_string().contains("several"), "{err}");
        std::fs::write(
            inner.join(".cargo/config.toml"),
            "[target.aarch64-unknown-linux-gnu]\nrunner = 3\n",
        )
        .unwrap();
        let err = target_runner(&inner, "aarch64-unknown-linux-gnu", facts).unwrap_err();
        assert!(err.to_string().contains("target.aarch64-unknown-linux-gnu.runner"), "{err}");
    }
}
