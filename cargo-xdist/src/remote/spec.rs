//! `--tx` specs, as pytest-xdist (execnet) writes them: `[N*]popen[//env:NAME=VALUE]` and
//! `[N*]ssh=[user@]host[:port][//chdir=DIR][//env:NAME=VALUE]`.

use std::fmt;

/// One worker environment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TxSpec {
    /// A local worker process.
    Popen {
        /// Variables added to its tests' environment.
        env: Vec<(String, String)>,
    },
    /// A worker on an ssh host.
    Ssh(SshSpec),
}

/// An ssh worker environment.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SshSpec {
    /// The login name, if given.
    pub user: Option<String>,
    /// The host name or address (as ssh takes it: an alias of the user's ssh config works).
    pub host: String,
    /// The port, if given.
    pub port: Option<u16>,
    /// The remote dir that holds the cache (relative to the remote home), if given.
    pub chdir: Option<String>,
    /// Variables added to its tests' environment.
    pub env: Vec<(String, String)>,
}

impl SshSpec {
    /// The host as written: `[user@]host[:port]`.
    pub fn destination(&self) -> String {
        let mut text = String::new();
        if let Some(user) = &self.user {
            text.push_str(user);
            text.push('@');
        }
        if self.host.contains(':') {
            text.push_str(&format!("[{}]", self.host));
        } else {
            text.push_str(&self.host);
        }
        if let Some(port) = self.port {
            text.push_str(&format!(":{port}"));
        }
        text
    }

    /// What is shipped once: the same host, login, port and dir.
    pub fn site(&self) -> Site {
        Site {
            user: self.user.clone(),
            host: self.host.clone(),
            port: self.port,
            chdir: self.chdir.clone(),
        }
    }
}

/// One remote cache: the files are shipped once per site.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Site {
    /// The login name.
    pub user: Option<String>,
    /// The host.
    pub host: String,
    /// The port.
    pub port: Option<u16>,
    /// The cache dir.
    pub chdir: Option<String>,
}

impl fmt::Display for Site {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let spec = SshSpec {
            user: self.user.clone(),
            host: self.host.clone(),
            port: self.port,
            chdir: None,
            env: Vec::new(),
        };
        f.write_str(&spec.destination())
    }
}

/// Parses one `--tx` value into its specs (`N*` repeats it).
pub fn parse(text: &str) -> Result<Vec<TxSpec>, String> {
    let (count, spec) = match text.split_once('*') {
        Some((n, spec)) => {
            let n: usize =
                n.trim().parse().map_err(|_| format!("`{n}` before `*` is not a number"))?;
            if n == 0 {
                return Err("the count before `*` must be at least 1".into());
            }
            (n, spec)
        }
        None => (1, text),
    };
    let mut parts = spec.split("//");
    let kind = parts.next().unwrap_or_default();
    let mut env = Vec::new();
    let mut chdir = None;
    for option in parts {
        if let Some(var) = option.strip_prefix("env:") {
            let (name, value) =
                var.split_once('=').ok_or_else(|| format!("`{option}` is not env:NAME=VALUE"))?;
            if name.is_empty() || name.contains(['\0', ' ']) {
                return Err(format!("`{option}`: bad variable name"));
            }
            env.push((name.to_string(), value.to_string()));
        } else if let Some(dir) = option.strip_prefix("chdir=") {
            if dir.is_empty() || dir.contains('\0') {
                return Err("`chdir=` needs a directory".into());
            }
            chdir = Some(dir.to_string());
        } else {
            let key = option.split('=').next().unwrap_or(option);
            return Err(format!("unsupported option `{key}` (supported: chdir=, env:NAME=VALUE)"));
        }
    }
    let one = if kind == "popen" {
        if chdir.is_some() {
            return Err("`chdir=` is for ssh specs".into());
        }
        TxSpec::Popen { env }
    } else if let Some(destination) = kind.strip_prefix("ssh=") {
        let (user, host, port) = destination_parts(destination)?;
        TxSpec::Ssh(SshSpec { user, host, port, chdir, env })
    } else {
        let kind = kind.split('=').next().unwrap_or(kind);
        return Err(format!("unknown kind `{kind}` (supported: popen, ssh=HOST)"));
    };
    Ok(vec![one; count])
}

/// Parses every `--tx` value, in order.
pub fn parse_all(values: &[String]) -> Result<Vec<TxSpec>, (String, String)> {
    let mut specs = Vec::new();
    for value in values {
        specs.extend(parse(value).map_err(|why| (value.clone(), why))?);
    }
    Ok(specs)
}

/// `[user@]host[:port]`; an IPv6 address goes in brackets.
fn destination_parts(text: &str) -> Result<(Option<String>, String, Option<u16>), String> {
    let (user, rest) = match text.rsplit_once('@') {
        Some((user, rest)) => (Some(user.to_string()), rest),
        None => (None, text),
    };
    let (host, port) = if let Some(bracketed) = rest.strip_prefix('[') {
        let (host, after) =
            bracketed.split_once(']').ok_or_else(|| format!("`{rest}`: no closing `]`"))?;
        match after {
            "" => (host, None),
            _ => match after.strip_prefix(':') {
                Some(port) => (host, Some(port)),
                None => return Err(format!("`{rest}`: unexpected `{after}`")),
            },
        }
    } else {
        match rest.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (rest, None),
        }
    };
    // Nothing ssh could read as an option, and nothing a shell would split.
    let fine = |s: &str| {
        !s.is_empty() && !s.starts_with('-') && !s.chars().any(|c| c.is_whitespace() || c == '\0')
    };
    if !fine(host) {
        return Err(format!("`{host}` is not a host name"));
    }
    if let Some(user) = &user {
        if !fine(user) {
            return Err(format!("`{user}` is not a user name"));
        }
    }
    let port = match port {
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 => Some(n),
            _ => return Err(format!("`{p}` is not a port")),
        },
        None => None,
    };
    Ok((user, host.to_string(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ssh(spec: &TxSpec) -> &SshSpec {
        match spec {
            TxSpec::Ssh(s) => s,
            TxSpec::Popen { .. } => panic!("not ssh: {spec:?}"),
        }
    }

    #[test]
    fn popen_and_counts() {
        assert_eq!(parse("popen").unwrap(), vec![TxSpec::Popen { env: vec![] }]);
        assert_eq!(parse("3*popen").unwrap().len(), 3);
        let env = parse("popen//env:A=b=c").unwrap();
        assert_eq!(env, vec![TxSpec::Popen { env: vec![("A".into(), "b=c".into())] }]);
    }

    #[test]
    fn ssh_specs() {
        let specs = parse("2*ssh=me@box.lan:2222//chdir=/tmp/x//env:K=v").unwrap();
        assert_eq!(specs.len(), 2);
        let s = ssh(&specs[0]);
        assert_eq!(s.user.as_deref(), Some("me"));
        assert_eq!(s.host, "box.lan");
        assert_eq!(s.port, Some(2222));
        assert_eq!(s.chdir.as_deref(), Some("/tmp/x"));
        assert_eq!(s.env, [("K".to_string(), "v".to_string())]);
        assert_eq!(s.destination(), "me@box.lan:2222");
        let plain = parse("ssh=host").unwrap();
        assert_eq!(ssh(&plain[0]).destination(), "host");
        let v6 = parse("ssh=[::1]:22").unwrap();
        assert_eq!(ssh(&v6[0]).host, "::1");
        assert_eq!(ssh(&v6[0]).destination(), "[::1]:22");
    }

    #[test]
    fn errors_say_what_is_wrong() {
        for (spec, says) in [
            ("socket=h:1", "unknown kind `socket`"),
            ("popen//python=python3", "unsupported option `python`"),
            ("popen//chdir=x", "for ssh specs"),
            ("x*popen", "not a number"),
            ("0*popen", "at least 1"),
            ("ssh=", "not a host name"),
            ("ssh=-oProxyCommand=x", "not a host name"),
            ("ssh=h:99999", "not a port"),
            ("ssh=h:0", "not a port"),
            ("ssh=-u@h", "not a user name"),
            ("ssh=h//env:NOEQUALS", "env:NAME=VALUE"),
            ("ssh=[::1", "closing"),
        ] {
            let err = parse(spec).unwrap_err();
            assert!(err.contains(says), "{spec}: {err}");
        }
        let (value, _) = parse_all(&["popen".into(), "bad".into()]).unwrap_err();
        assert_eq!(value, "bad");
    }
}
