//! Reading one configuration file: the workspace's `.config/xdist.toml` (`[groups]` and
//! `[profile.NAME]` tables) or the user's `config.toml` (profiles only). Every key and value
//! is checked here, and a mistake is an error naming the file, the line and column (from
//! toml's spans) and the key: `/ws/.config/xdist.toml:4:11: profile.ci.timeout: must be a
//! positive number of seconds, got -1`.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::config::filterset::{Filterset, TestQuery};
use crate::config::keys::{self, DEPRECATED, Kind, Raw, Value};
use crate::errors::ConfigError;

/// Which file is read: the workspace's may hold `[groups]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    /// `.config/xdist.toml` at the workspace root.
    Workspace,
    /// `$XDG_CONFIG_HOME/cargo-xdist/config.toml`.
    User,
}

/// A checked configuration file.
#[derive(Debug, Default)]
pub struct ConfigFile {
    /// Where it is.
    pub path: PathBuf,
    /// `[groups]`: (group, pattern), groups in name order.
    pub groups: Vec<(String, String)>,
    /// `[remote] include`: globs of files (relative to the workspace root) shipped to ssh
    /// workers besides the ones git tracks.
    pub remote_include: Vec<String>,
    /// `[remote] worker`: a cargo-xdist already on the ssh hosts, used instead of shipping
    /// this one.
    pub remote_worker: Option<String>,
    /// `[profile.NAME]` by name.
    pub profiles: BTreeMap<String, Profile>,
    /// Warnings about deprecated keys, ready to print.
    pub warnings: Vec<String>,
}

/// One `[profile.NAME]` table.
#[derive(Debug, Default)]
pub struct Profile {
    /// `inherits = "other"`, and where it is written (line, column).
    pub inherits: Option<(String, (usize, usize))>,
    /// The settings it gives, by key name.
    pub values: BTreeMap<&'static str, Value>,
    /// Its `[[profile.NAME.overrides]]`, in order.
    pub overrides: Vec<Override>,
    /// Its `[[profile.NAME.setup]]`, when it has the key.
    pub setup: Option<Vec<Script>>,
    /// Its `[[profile.NAME.teardown]]`, when it has the key.
    pub teardown: Option<Vec<Script>>,
}

/// A `[[profile.NAME.setup]]` or `[[profile.NAME.teardown]]` entry: a command the
/// controller runs once (docs/setup-teardown.md).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Script {
    /// The program and its arguments (not a shell line).
    pub command: Vec<String>,
    /// Where it runs (relative paths from the workspace root); the workspace root if unset.
    pub cwd: Option<PathBuf>,
    /// Variables it gets on top of the inherited environment.
    pub env: Vec<(String, String)>,
}

/// A `[[profile.NAME.overrides]]` entry: settings for the tests its filter matches.
#[derive(Clone, Debug, Default)]
pub struct Override {
    /// A substring of the test's id `<binary-id> <test name>`, or a filterset (it has a
    /// `(`, which no test id holds).
    pub filter: String,
    /// `filter` parsed, when it is a filterset.
    pub filterset: Option<Filterset>,
    /// `timeout`.
    pub timeout: Option<Duration>,
    /// `slow-timeout`.
    pub slow_timeout: Option<Duration>,
    /// `retries`.
    pub retries: Option<u32>,
    /// `group` (for `--dist loadgroup`).
    pub group: Option<String>,
}

impl PartialEq for Override {
    fn eq(&self, other: &Self) -> bool {
        // `filterset` is `filter` parsed.
        (&self.filter, self.timeout, self.slow_timeout, self.retries, &self.group)
            == (&other.filter, other.timeout, other.slow_timeout, other.retries, &other.group)
    }
}

impl Override {
    /// Whether the test with id `<binary-id> <name>` (which `query` describes, when known)
    /// is one of this override's. A filterset needs the query; without one it matches none.
    pub fn matches(&self, test_id: &str, query: Option<&TestQuery<'_>>) -> bool {
        match &self.filterset {
            Some(set) => query.is_some_and(|q| set.matches(q, None)),
            None => test_id.contains(self.filter.as_str()),
        }
    }
}

/// Reads the file at `path`; `None` when there is none. Relative paths in it are taken from
/// `base` (the workspace root).
pub fn read(path: &Path, kind: FileKind, base: &Path) -> Result<Option<ConfigFile>, ConfigError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(ConfigError::Read { path: path.to_path_buf(), source }),
    };
    parse(&text, path, kind, base).map(Some)
}

/// Checks the text of a file.
pub fn parse(
    text: &str,
    path: &Path,
    kind: FileKind,
    base: &Path,
) -> Result<ConfigFile, ConfigError> {
    let doc = Doc { text, path, base };
    let table = DeTable::parse(text).map_err(|e| {
        let (line, column) = doc.line_col(e.span().map_or(0, |s| s.start));
        ConfigError::Syntax { path: path.to_path_buf(), line, column, message: e.message().into() }
    })?;
    let mut file = ConfigFile { path: path.to_path_buf(), ..ConfigFile::default() };
    for (key, value) in table.get_ref() {
        match (key.get_ref().as_ref(), kind) {
            ("groups", FileKind::Workspace) => file.groups = doc.groups(value)?,
            ("remote", FileKind::Workspace) => {
                (file.remote_include, file.remote_worker) = doc.remote(value)?;
            }
            ("profile", _) => {
                for (name, profile) in doc.table(value, "profile")? {
                    let at = format!("profile.{}", name.get_ref());
                    let profile = doc.profile(profile, &at, &mut file.warnings)?;
                    file.profiles.insert(name.get_ref().to_string(), profile);
                }
            }
            (other, _) => {
                let expected = match kind {
                    FileKind::Workspace => "`groups` or `profile`",
                    FileKind::User => "`profile` (groups belong in the workspace's file)",
                };
                return Err(doc.error(
                    key.span(),
                    other,
                    format!("unknown key; expected {expected}"),
                ));
            }
        }
    }
    if let Some(profile) = file.profiles.get("default") {
        if let Some((_, (line, column))) = &profile.inherits {
            return Err(ConfigError::Invalid {
                path: path.to_path_buf(),
                line: *line,
                column: *column,
                key: "profile.default.inherits".into(),
                message: "the default profile cannot inherit; every other profile inherits it"
                    .into(),
            });
        }
    }
    Ok(file)
}

impl ConfigFile {
    /// The profiles `name` reads, nearest first: itself, what it inherits, ..., `default`
    /// (those of them this file has). A cycle or a missing parent is an error.
    pub fn chain(&self, name: &str) -> Result<Vec<&str>, ConfigError> {
        let mut chain: Vec<&str> = Vec::new();
        let mut next = self.profiles.get_key_value(name);
        while let Some((current, profile)) = next {
            chain.push(current);
            let Some((parent, (line, column))) = &profile.inherits else { break };
            let invalid = |message: String| ConfigError::Invalid {
                path: self.path.clone(),
                line: *line,
                column: *column,
                key: format!("profile.{current}.inherits"),
                message,
            };
            if chain.contains(&parent.as_str()) {
                let cycle: Vec<&str> = chain.iter().copied().chain([parent.as_str()]).collect();
                return Err(invalid(format!(
                    "profiles inherit in a cycle: {}",
                    cycle.join(" -> ")
                )));
            }
            next = self.profiles.get_key_value(parent.as_str());
            if next.is_none() {
                return Err(invalid(format!("no profile `{parent}` in this file")));
            }
        }
        if !chain.contains(&"default") && self.profiles.contains_key("default") {
            chain.push("default");
        }
        Ok(chain)
    }
}

/// The text being checked, for locating errors.
struct Doc<'a> {
    text: &'a str,
    path: &'a Path,
    base: &'a Path,
}

type Entries<'a, 'i> = &'a DeTable<'i>;

impl Doc<'_> {
    /// 1-based line and column of byte `offset`.
    fn line_col(&self, offset: usize) -> (usize, usize) {
        let before = &self.text[..offset.min(self.text.len())];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        (line, column)
    }

    fn error(&self, span: Range<usize>, key: &str, message: String) -> ConfigError {
        let (line, column) = self.line_col(span.start);
        ConfigError::Invalid {
            path: self.path.to_path_buf(),
            line,
            column,
            key: key.into(),
            message,
        }
    }

    fn table<'a, 'i>(
        &self,
        value: &'a Spanned<DeValue<'i>>,
        key: &str,
    ) -> Result<Entries<'a, 'i>, ConfigError> {
        value.get_ref().as_table().ok_or_else(|| {
            self.error(value.span(), key, format!("expected a table, got {}", type_name(value)))
        })
    }

    fn string(&self, value: &Spanned<DeValue<'_>>, key: &str) -> Result<String, ConfigError> {
        match value.get_ref().as_str() {
            Some(s) if !s.is_empty() => Ok(s.to_string()),
            Some(_) => Err(self.error(value.span(), key, "must not be empty".into())),
            None => Err(self.error(
                value.span(),
                key,
                format!("expected a string, got {}", type_name(value)),
            )),
        }
    }

    /// `[remote]`: `include = ["glob", ...]`, `worker = "PATH"`.
    fn remote(
        &self,
        value: &Spanned<DeValue<'_>>,
    ) -> Result<(Vec<String>, Option<String>), ConfigError> {
        let mut include = Vec::new();
        let mut worker = None;
        for (key, value) in self.table(value, "remote")? {
            if key.get_ref().as_ref() == "worker" {
                let path = self.string(value, "remote.worker")?;
                if path.contains('\n') {
                    let message = "expected the path of a cargo-xdist executable".to_string();
                    return Err(self.error(value.span(), "remote.worker", message));
                }
                worker = Some(path);
                continue;
            }
            if key.get_ref().as_ref() != "include" {
                let message = "unknown key; `[remote]` takes `include` and `worker`".to_string();
                return Err(self.error(key.span(), &format!("remote.{}", key.get_ref()), message));
            }
            let Some(list) = value.get_ref().as_array() else {
                let message = format!("expected a list of globs, got {}", type_name(value));
                return Err(self.error(value.span(), "remote.include", message));
            };
            for glob in list.iter() {
                let text = self.string(glob, "remote.include")?;
                if let Err(e) = globset::Glob::new(&text) {
                    return Err(self.error(
                        glob.span(),
                        "remote.include",
                        format!("bad glob: {e}"),
                    ));
                }
                include.push(text);
            }
        }
        Ok((include, worker))
    }

    /// `[groups]`: `name = ["pattern", ...]`.
    fn groups(&self, value: &Spanned<DeValue<'_>>) -> Result<Vec<(String, String)>, ConfigError> {
        let mut rules = Vec::new();
        for (name, patterns) in self.table(value, "groups")? {
            let at = format!("groups.{}", name.get_ref());
            let Some(list) = patterns.get_ref().as_array() else {
                let message = format!("expected a list of patterns, got {}", type_name(patterns));
                return Err(self.error(patterns.span(), &at, message));
            };
            for pattern in list.iter() {
                rules.push((name.get_ref().to_string(), self.string(pattern, &at)?));
            }
        }
        Ok(rules)
    }

    fn profile(
        &self,
        value: &Spanned<DeValue<'_>>,
        at: &str,
        warnings: &mut Vec<String>,
    ) -> Result<Profile, ConfigError> {
        let mut profile = Profile::default();
        for (key, value) in self.table(value, at)? {
            let name = key.get_ref().as_ref();
            let path = format!("{at}.{name}");
            match name {
                "inherits" => {
                    let parent = self.string(value, &path)?;
                    profile.inherits = Some((parent, self.line_col(value.span().start)));
                }
                "overrides" => profile.overrides = self.overrides(value, &path)?,
                "setup" => profile.setup = Some(self.scripts(value, &path)?),
                "teardown" => profile.teardown = Some(self.scripts(value, &path)?),
                "leak-timeout" if value.get_ref().as_table().is_some() => {
                    self.leak_timeout(value, &path, &mut profile.values)?;
                }
                _ => {
                    let found = keys::find(name).or_else(|| {
                        let new = keys::renamed(name, DEPRECATED)?;
                        let (line, column) = self.line_col(key.span().start);
                        warnings.push(format!(
                            "{}:{line}:{column}: {path} is deprecated; use `{new}`",
                            self.path.display()
                        ));
                        keys::find(new)
                    });
                    let Some(found) = found else {
                        let message = "unknown key (see docs/configuration.md)".to_string();
                        return Err(self.error(key.span(), &path, message));
                    };
                    let checked = found
                        .kind
                        .check_toml(&raw(value.get_ref()), self.base)
                        .map_err(|message| self.error(value.span(), &path, message))?;
                    profile.values.insert(found.name, checked);
                }
            }
        }
        if let (Some(Value::Bool(true)), Some(Value::Bool(true))) =
            (profile.values.get("verbose"), profile.values.get("quiet"))
        {
            let message = "`verbose` and `quiet` cannot both be true".to_string();
            return Err(self.error(value.span(), at, message));
        }
        Ok(profile)
    }

    /// nextest's `leak-timeout = { period = "500ms", result = "fail" }`: `leak-timeout`
    /// and `leak-result` in one table.
    fn leak_timeout(
        &self,
        value: &Spanned<DeValue<'_>>,
        at: &str,
        values: &mut BTreeMap<&'static str, Value>,
    ) -> Result<(), ConfigError> {
        let mut period = false;
        for (key, value) in self.table(value, at)? {
            let name = key.get_ref().as_ref();
            let path = format!("{at}.{name}");
            let (key, kind) = match name {
                "period" => ("leak-timeout", Kind::Seconds),
                "result" => ("leak-result", Kind::Choice(&["pass", "fail"])),
                _ => {
                    let message = "unknown key; `leak-timeout` takes `period` and `result`";
                    return Err(self.error(key.span(), &path, message.to_string()));
                }
            };
            period |= name == "period";
            let checked = kind
                .check_toml(&raw(value.get_ref()), self.base)
                .map_err(|message| self.error(value.span(), &path, message))?;
            values.insert(key, checked);
        }
        if !period {
            let message = "a `leak-timeout` table needs a `period`".to_string();
            return Err(self.error(value.span(), at, message));
        }
        Ok(())
    }

    fn scripts(&self, value: &Spanned<DeValue<'_>>, at: &str) -> Result<Vec<Script>, ConfigError> {
        let Some(list) = value.get_ref().as_array() else {
            let message =
                format!("expected a list of tables (`[[{at}]]`), got {}", type_name(value));
            return Err(self.error(value.span(), at, message));
        };
        let mut scripts = Vec::new();
        for (i, entry) in list.iter().enumerate() {
            let at = format!("{at}[{i}]");
            let mut script = Script::default();
            for (key, value) in self.table(entry, &at)? {
                let name = key.get_ref().as_ref();
                let path = format!("{at}.{name}");
                match name {
                    "command" => {
                        let words = value.get_ref().as_array().map(|a| {
                            a.iter().map(|w| w.get_ref().as_str().map(String::from)).collect()
                        });
                        match words {
                            Some(Some(words)) if !Vec::<String>::is_empty(&words) => {
                                script.command = words;
                            }
                            _ => {
                                let message = "expected a non-empty list of strings (the \
                                               program and its arguments)"
                                    .to_string();
                                return Err(self.error(value.span(), &path, message));
                            }
                        }
                    }
                    "cwd" => script.cwd = Some(self.base.join(self.string(value, &path)?)),
                    "env" => {
                        for (var, text) in self.table(value, &path)? {
                            let at = format!("{path}.{}", var.get_ref());
                            let Some(text) = text.get_ref().as_str() else {
                                let message = format!("expected a string, got {}", type_name(text));
                                return Err(self.error(text.span(), &at, message));
                            };
                            script.env.push((var.get_ref().to_string(), text.to_string()));
                        }
                    }
                    _ => {
                        let message =
                            "unknown key; a script takes `command`, `cwd` and `env`".to_string();
                        return Err(self.error(key.span(), &path, message));
                    }
                }
            }
            if script.command.is_empty() {
                let message = "a script needs a `command`".to_string();
                return Err(self.error(entry.span(), &at, message));
            }
            scripts.push(script);
        }
        Ok(scripts)
    }

    fn overrides(
        &self,
        value: &Spanned<DeValue<'_>>,
        at: &str,
    ) -> Result<Vec<Override>, ConfigError> {
        let Some(list) = value.get_ref().as_array() else {
            let message =
                format!("expected a list of tables (`[[{at}]]`), got {}", type_name(value));
            return Err(self.error(value.span(), at, message));
        };
        let mut overrides = Vec::new();
        for (i, entry) in list.iter().enumerate() {
            let at = format!("{at}[{i}]");
            let mut o = Override::default();
            let mut filter = None;
            for (key, value) in self.table(entry, &at)? {
                let name = key.get_ref().as_ref();
                let path = format!("{at}.{name}");
                let check = |kind: Kind| {
                    kind.check_toml(&raw(value.get_ref()), self.base)
                        .map_err(|message| self.error(value.span(), &path, message))
                };
                match name {
                    "filter" => {
                        let text = self.string(value, &path)?;
                        // No test id holds `(`: this is a nextest filterset.
                        if text.contains('(') {
                            let set = Filterset::parse(&text).map_err(|e| {
                                self.error(value.span(), &path, format!("filterset: {e}"))
                            })?;
                            o.filterset = Some(set);
                        }
                        filter = Some((text, value.span()));
                    }
                    "group" => o.group = Some(self.string(value, &path)?),
                    "timeout" | "slow-timeout" => {
                        let Value::Seconds(d) = check(Kind::Seconds)? else { unreachable!() };
                        if name == "timeout" {
                            o.timeout = Some(d);
                        } else {
                            o.slow_timeout = Some(d);
                        }
                    }
                    "retries" => {
                        let Value::Int(n) = check(Kind::Int { min: 0 })? else { unreachable!() };
                        o.retries = Some(u32::try_from(n).map_err(|_| {
                            self.error(value.span(), &path, format!("is too large: {n}"))
                        })?);
                    }
                    _ => {
                        let message = "unknown key; an override takes `filter`, `timeout`, \
                                       `slow-timeout`, `retries` and `group`"
                            .to_string();
                        return Err(self.error(key.span(), &path, message));
                    }
                }
            }
            let Some((filter, _)) = filter else {
                let message = "an override needs a `filter`".to_string();
                return Err(self.error(entry.span(), &at, message));
            };
            o.filter = filter;
            overrides.push(o);
        }
        Ok(overrides)
    }
}

fn raw<'a>(value: &'a DeValue<'_>) -> Raw<'a> {
    match value {
        DeValue::String(s) => Raw::Str(s),
        DeValue::Integer(n) => i64::from_str_radix(n.as_str(), n.radix())
            .map_or(Raw::Other("an integer out of range"), Raw::Int),
        DeValue::Float(x) => x.as_str().parse().map_or(Raw::Other("a float"), Raw::Float),
        DeValue::Boolean(b) => Raw::Bool(*b),
        DeValue::Datetime(_) => Raw::Other("a datetime"),
        DeValue::Array(_) => Raw::Other("an array"),
        DeValue::Table(_) => Raw::Other("a table"),
    }
}

fn type_name(value: &Spanned<DeValue<'_>>) -> &'static str {
    match raw(value.get_ref()) {
        Raw::Str(_) => "a string",
        Raw::Int(_) => "an integer",
        Raw::Float(_) => "a float",
        Raw::Bool(_) => "a boolean",
        Raw::Other(name) => name,
    }
}
