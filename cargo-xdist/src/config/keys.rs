//! The settings a profile, an environment variable or a flag can give a run: one [`Key`]
//! per setting, named like its flag (kebab-case), with its environment variable
//! (`XDIST_` and the key in upper snake case), what kind of value it takes and its default.
//! [`KEYS`] is the one table; docs/configuration.md lists the same keys.

use std::path::{Path, PathBuf};
use std::time::Duration;

use xdist_core::partition::Partition;

/// What kind of value a key takes.
#[derive(Clone, Copy, Debug)]
pub enum Kind {
    /// `true` or `false`.
    Bool,
    /// A whole number of at least `min`.
    Int {
        /// The smallest value allowed.
        min: u64,
    },
    /// A positive number of seconds: `30`, `0.5`, `"1.5s"`, `"500ms"`, `"2m"`.
    Seconds,
    /// One of these names.
    Choice(&'static [&'static str]),
    /// A worker count: a number, `auto` or `logical`.
    Workers,
    /// A `--partition` value: `slice:M/N`, `hash:M/N` or `count:M/N`.
    Partition,
    /// A file path; relative paths in a file are relative to the workspace root.
    Path,
    /// A filterset expression (docs/filtersets.md).
    Filterset,
}

/// A value of a setting, checked against its [`Kind`].
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A boolean.
    Bool(bool),
    /// A whole number.
    Int(u64),
    /// A duration.
    Seconds(Duration),
    /// A name, a worker count or a partition, as written.
    Text(String),
    /// A path.
    Path(PathBuf),
    /// No limit (`maxfail` after `--no-fail-fast` or `exitfirst = false`).
    Off,
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(n) => write!(f, "{n}"),
            Value::Seconds(d) => write!(f, "{}s", d.as_secs_f64()),
            Value::Text(text) => write!(f, "\"{text}\""),
            Value::Path(path) => write!(f, "\"{}\"", path.display()),
            Value::Off => write!(f, "none"),
        }
    }
}

/// One setting.
#[derive(Debug)]
pub struct Key {
    /// Its name in a profile.
    pub name: &'static str,
    /// The flags that set it.
    pub flag: &'static str,
    /// Its kind of value.
    pub kind: Kind,
    /// Its default, as shown by `show-config`.
    pub default: &'static str,
}

impl Key {
    /// The environment variable that sets it: `XDIST_` and the name in upper snake case.
    pub fn env(&self) -> String {
        format!("XDIST_{}", self.name.to_ascii_uppercase().replace('-', "_"))
    }
}

const fn key(name: &'static str, flag: &'static str, kind: Kind, default: &'static str) -> Key {
    Key { name, flag, kind, default }
}

const DIST: &[&str] = &["no", "each", "load", "loadscope", "loadfile", "loadgroup", "worksteal"];

/// Every key, in the order `show-config` prints them.
pub static KEYS: &[Key] = &[
    key("numprocesses", "-n/--numprocesses", Kind::Workers, "auto"),
    key("maxprocesses", "--maxprocesses", Kind::Int { min: 1 }, "none"),
    key("dist", "--dist", Kind::Choice(DIST), "load"),
    key("loadscope-reorder", "--[no-]loadscope-reorder", Kind::Bool, "true"),
    key("no-history", "--no-history", Kind::Bool, "false"),
    key("maxschedchunk", "--maxschedchunk", Kind::Int { min: 1 }, "none"),
    key("max-worker-restart", "--max-worker-restart", Kind::Int { min: 0 }, "4 per worker seat"),
    key("slow-timeout", "--slow-timeout", Kind::Seconds, "none"),
    key("timeout", "--timeout", Kind::Seconds, "none"),
    key("kill-grace", "--kill-grace", Kind::Seconds, "1s"),
    key("retries", "--retries", Kind::Int { min: 0 }, "0"),
    key("flaky-result", "--flaky-result", Kind::Choice(&["pass", "fail"]), "pass"),
    key("leak-timeout", "--leak-timeout", Kind::Seconds, "0.1s"),
    key("leak-result", "--leak-result", Kind::Choice(&["pass", "fail"]), "pass"),
    key("leak-kill", "--leak-kill", Kind::Bool, "true"),
    key("output-limit", "--output-limit", Kind::Int { min: 2 }, "1048576"),
    key("exitfirst", "-x/--exitfirst", Kind::Bool, "false"),
    key("maxfail", "--maxfail, -x, --no-fail-fast", Kind::Int { min: 1 }, "none"),
    key("no-tests", "--no-tests", Kind::Choice(&["pass", "warn", "fail"]), "fail"),
    key("verbose", "-v/--verbose", Kind::Bool, "false"),
    key("quiet", "-q/--quiet", Kind::Bool, "false"),
    key("durations", "--durations", Kind::Int { min: 0 }, "0"),
    key(
        "message-format",
        "--message-format",
        Kind::Choice(&["human", "json", "json-pretty"]),
        "human",
    ),
    key("junit", "--junit", Kind::Path, "none"),
    key("partition", "--partition", Kind::Partition, "none"),
    key("doctests", "--doctests", Kind::Bool, "false"),
    key("last-failed", "--lf/--last-failed", Kind::Bool, "false"),
    key("failed-first", "--ff/--failed-first", Kind::Bool, "false"),
    key(
        "last-failed-no-failures",
        "--lfnf/--last-failed-no-failures",
        Kind::Choice(&["all", "none"]),
        "all",
    ),
    // No flag sets it: -E is ANDed with it, --ignore-default-filter drops it.
    key("default-filter", "", Kind::Filterset, "none"),
];

/// Keys that were renamed: (old name, new name). An old name still works, with a warning.
pub static DEPRECATED: &[(&str, &str)] = &[];

/// The key named `name`.
pub fn find(name: &str) -> Option<&'static Key> {
    KEYS.iter().find(|k| k.name == name)
}

/// The key that replaced the deprecated `name`, if `name` is one of `deprecated`.
pub fn renamed(name: &str, deprecated: &[(&str, &'static str)]) -> Option<&'static str> {
    deprecated.iter().find(|(old, _)| *old == name).map(|(_, new)| *new)
}

/// A TOML value, as far as the kinds care.
pub enum Raw<'a> {
    /// A string.
    Str(&'a str),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A boolean.
    Bool(bool),
    /// Anything else: its TOML type.
    Other(&'static str),
}

impl Raw<'_> {
    fn type_name(&self) -> &'static str {
        match self {
            Raw::Str(_) => "a string",
            Raw::Int(_) => "an integer",
            Raw::Float(_) => "a float",
            Raw::Bool(_) => "a boolean",
            Raw::Other(name) => name,
        }
    }
}

impl Kind {
    /// Checks a value from a file; relative paths are taken from `base`.
    pub fn check_toml(self, raw: &Raw<'_>, base: &Path) -> Result<Value, String> {
        let wrong = |expected: &str| format!("expected {expected}, got {}", raw.type_name());
        match (self, raw) {
            (Kind::Bool, Raw::Bool(b)) => Ok(Value::Bool(*b)),
            (Kind::Bool, _) => Err(wrong("a boolean")),
            (Kind::Int { min }, Raw::Int(n)) => int_at_least(*n, min),
            (Kind::Int { .. }, _) => Err(wrong("an integer")),
            (Kind::Seconds, Raw::Int(n)) => seconds(*n as f64, &n.to_string()),
            (Kind::Seconds, Raw::Float(x)) => seconds(*x, &x.to_string()),
            (Kind::Seconds, Raw::Str(s)) => parse_seconds(s),
            (Kind::Seconds, _) => Err(wrong("a number of seconds")),
            (Kind::Workers, Raw::Int(n)) => parse_workers(&n.to_string()),
            (Kind::Path, Raw::Str(s)) => Ok(Value::Path(base.join(s))),
            (Kind::Choice(_) | Kind::Workers | Kind::Partition | Kind::Filterset, Raw::Str(s)) => {
                self.check_text(s)
            }
            (Kind::Choice(_) | Kind::Partition | Kind::Path | Kind::Filterset, _) => {
                Err(wrong("a string"))
            }
            (Kind::Workers, _) => Err(wrong("a number, \"auto\" or \"logical\"")),
        }
    }

    /// Checks a value given as text (an environment variable).
    pub fn check_text(self, text: &str) -> Result<Value, String> {
        match self {
            Kind::Bool => match text.trim() {
                "true" | "1" | "yes" => Ok(Value::Bool(true)),
                "false" | "0" | "no" => Ok(Value::Bool(false)),
                _ => Err(format!("expected true or false, got `{text}`")),
            },
            Kind::Int { min } => match text.trim().parse::<i64>() {
                Ok(n) => int_at_least(n, min),
                Err(_) => Err(format!("expected a whole number, got `{text}`")),
            },
            Kind::Seconds => parse_seconds(text),
            Kind::Choice(names) if names.contains(&text) => Ok(Value::Text(text.to_string())),
            Kind::Choice(names) => {
                Err(format!("expected one of {}, got `{text}`", names.join(", ")))
            }
            Kind::Workers => parse_workers(text),
            Kind::Partition => match text.parse::<Partition>() {
                Ok(_) => Ok(Value::Text(text.to_string())),
                Err(e) => Err(e.to_string()),
            },
            Kind::Path => Ok(Value::Path(PathBuf::from(text))),
            Kind::Filterset => match crate::config::filterset::Filterset::parse(text) {
                Ok(_) => Ok(Value::Text(text.to_string())),
                Err(e) => Err(e.to_string()),
            },
        }
    }
}

fn int_at_least(n: i64, min: u64) -> Result<Value, String> {
    match u64::try_from(n) {
        Ok(n) if n >= min => Ok(Value::Int(n)),
        _ => Err(format!("must be at least {min}, got {n}")),
    }
}

fn seconds(secs: f64, written: &str) -> Result<Value, String> {
    if secs.is_finite() && secs > 0.0 && secs < 1e9 {
        Ok(Value::Seconds(Duration::from_secs_f64(secs)))
    } else {
        Err(format!("must be a positive number of seconds, got {written}"))
    }
}

/// `30`, `0.5`, `1.5s`, `500ms`, `2m`, `1h`.
fn parse_seconds(text: &str) -> Result<Value, String> {
    let trimmed = text.trim();
    let (number, scale) = [("ms", 0.001), ("s", 1.0), ("m", 60.0), ("h", 3600.0)]
        .iter()
        .find_map(|(unit, scale)| trimmed.strip_suffix(unit).map(|n| (n, *scale)))
        .unwrap_or((trimmed, 1.0));
    match number.trim().parse::<f64>() {
        Ok(n) => seconds(n * scale, &format!("`{text}`")),
        Err(_) => Err(format!(
            "expected a number of seconds (`30`, `0.5`, `\"1.5s\"`, `\"500ms\"`, `\"2m\"`), got `{text}`"
        )),
    }
}

fn parse_workers(text: &str) -> Result<Value, String> {
    match text.trim() {
        "auto" | "logical" => Ok(Value::Text(text.trim().to_string())),
        n => match n.parse::<u32>() {
            Ok(0) => Err("must be at least 1, got 0".to_string()),
            Ok(_) => Ok(Value::Text(n.to_string())),
            Err(_) => Err(format!("expected a number, `auto` or `logical`, got `{text}`")),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_is_named_like_its_flag_and_has_an_env_var() {
        for key in KEYS {
            assert!(
                key.flag.contains(key.name)
                    || ["numprocesses", "default-filter"].contains(&key.name),
                "{key:?}"
            );
            assert!(key.env().starts_with("XDIST_") && !key.env().contains('-'));
            assert!(find(key.name).is_some());
        }
        assert_eq!(find("slow-timeout").unwrap().env(), "XDIST_SLOW_TIMEOUT");
    }

    #[test]
    fn values_are_checked_by_kind() {
        let base = Path::new("/ws");
        let secs = |raw: Raw| Kind::Seconds.check_toml(&raw, base);
        assert_eq!(secs(Raw::Int(2)), Ok(Value::Seconds(Duration::from_secs(2))));
        assert_eq!(secs(Raw::Float(0.5)), Ok(Value::Seconds(Duration::from_millis(500))));
        assert_eq!(secs(Raw::Str("500ms")), Ok(Value::Seconds(Duration::from_millis(500))));
        assert_eq!(secs(Raw::Str("2m")), Ok(Value::Seconds(Duration::from_secs(120))));
        assert!(secs(Raw::Int(-1)).unwrap_err().contains("positive"));
        assert!(secs(Raw::Str("soon")).unwrap_err().contains("`soon`"));
        assert!(secs(Raw::Bool(true)).unwrap_err().contains("got a boolean"));
        let int = Kind::Int { min: 1 };
        assert_eq!(int.check_toml(&Raw::Int(3), base), Ok(Value::Int(3)));
        assert!(int.check_toml(&Raw::Int(0), base).unwrap_err().contains("at least 1"));
        assert!(int.check_toml(&Raw::Str("3"), base).unwrap_err().contains("got a string"));
        let workers = Kind::Workers;
        assert_eq!(workers.check_toml(&Raw::Int(4), base), Ok(Value::Text("4".into())));
        assert_eq!(workers.check_toml(&Raw::Str("auto"), base), Ok(Value::Text("auto".into())));
        assert!(workers.check_toml(&Raw::Int(0), base).is_err());
        let dist = find("dist").unwrap().kind;
        assert!(dist.check_text("sideways").unwrap_err().contains("loadscope"));
        assert!(Kind::Partition.check_text("hash:3/2").is_err());
        assert_eq!(
            Kind::Path.check_toml(&Raw::Str("j.xml"), base),
            Ok(Value::Path("/ws/j.xml".into()))
        );
        assert_eq!(Kind::Bool.check_text("1"), Ok(Value::Bool(true)));
        assert!(Kind::Bool.check_text("maybe").is_err());
    }

    #[test]
    fn renamed_keys_are_found_in_the_table_given() {
        assert_eq!(renamed("test-timeout", &[("test-timeout", "timeout")]), Some("timeout"));
        assert_eq!(renamed("timeout", &[("test-timeout", "timeout")]), None);
        assert_eq!(renamed("anything", DEPRECATED), None);
    }
}
