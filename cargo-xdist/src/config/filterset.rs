//! Filtersets: the subset of nextest's filterset language (`-E/--filterset`, a profile's
//! `default-filter`) that needs no package graph. A hand-written parser; the `regex` and
//! `globset` crates, which nextest uses too, do the matching (see docs/filtersets.md).
//!
//! Grammar, loosest first (within a level, left to right):
//!
//! ```text
//! or   := and (("|" | "+" | "or") and)*
//! and  := not (("&" | "and" | "-") not)*
//! not  := ("!" | "not") not | atom
//! atom := "(" or ")" | NAME "(" MATCHER? ")"
//! ```

use std::fmt;

use xdist_core::testlist::TestBinary;

use crate::collect::Collected;
use crate::config::keys::Value;
use crate::config::settings::Resolved;

/// How a predicate's argument matches a name.
#[derive(Clone, Debug)]
pub enum Matcher {
    /// `=text`: the whole name.
    Equal(String),
    /// `~text`: a substring.
    Contains(String),
    /// `/regex/`: any part of the name.
    Regex(regex::Regex),
    /// `#glob`: the whole name.
    Glob(globset::GlobMatcher),
}

impl Matcher {
    fn matches(&self, name: &str) -> bool {
        match self {
            Matcher::Equal(s) => name == s,
            Matcher::Contains(s) => name.contains(s.as_str()),
            Matcher::Regex(r) => r.is_match(name),
            Matcher::Glob(g) => g.is_match(name),
        }
    }
}

/// What a predicate looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Field {
    Test,
    Package,
    BinaryId,
    Binary,
    Kind,
}

#[derive(Clone, Debug)]
enum Expr {
    All,
    None,
    /// `default()`: the profile's `default-filter` (everything when there is none).
    Default,
    Is(Field, Matcher),
    Not(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
}

/// A parsed filterset.
#[derive(Clone, Debug)]
pub struct Filterset {
    expr: Expr,
}

/// A malformed expression: what is wrong and at which column (1-based, in characters).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// The expression.
    pub text: String,
    /// Where, 1-based.
    pub column: usize,
    /// What.
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid filterset `{}`: column {}: {}", self.text, self.column, self.message)
    }
}

impl std::error::Error for ParseError {}

/// What a filterset is asked about one test.
#[derive(Clone, Copy, Debug)]
pub struct TestQuery<'a> {
    /// The package (the binary id up to `::`).
    pub package: &'a str,
    /// nextest's binary id.
    pub binary_id: &'a str,
    /// The binary's name: the target's name (a library's crate name).
    pub binary: &'a str,
    /// `lib`, `test`, `bench`, `bin`, `example`, `proc-macro` (and `doctest`, our own).
    pub kind: &'a str,
    /// The test's full name.
    pub test: &'a str,
}

/// The package, binary name and kind of a binary, as filtersets see them.
pub struct BinaryFacts {
    package: String,
    binary: String,
    kind: String,
}

impl BinaryFacts {
    /// Derives them from the binary id (`pkg`, `pkg::name`, `pkg::kind/name`) and cargo's
    /// target kind. A library's name is its package's with `-` as `_` (cargo's default; a
    /// `[lib] name` that differs is not seen).
    pub fn of(binary: &TestBinary) -> Self {
        let (package, rest) = match binary.id.split_once("::") {
            Some((package, rest)) => (package, Some(rest)),
            None => (binary.id.as_str(), None),
        };
        let name = match rest {
            Some(rest) => rest.split_once('/').map_or(rest, |(_, name)| name).to_string(),
            None => package.replace('-', "_"),
        };
        let kind = match binary.kind.as_str() {
            "rlib" | "dylib" | "cdylib" | "staticlib" => "lib",
            other => other,
        };
        Self { package: package.to_string(), binary: name, kind: kind.to_string() }
    }

    /// The query for test `name` of this binary (whose id is `binary_id`).
    pub fn query<'a>(&'a self, binary_id: &'a str, name: &'a str) -> TestQuery<'a> {
        TestQuery {
            package: &self.package,
            binary_id,
            binary: &self.binary,
            kind: &self.kind,
            test: name,
        }
    }
}

impl Filterset {
    /// Parses `text`.
    pub fn parse(text: &str) -> Result<Self, ParseError> {
        let chars: Vec<char> = text.chars().collect();
        let mut parser = Parser { chars: &chars, pos: 0, text };
        let expr = parser.or()?;
        parser.skip_space();
        if parser.pos < chars.len() {
            return Err(
                parser.error(parser.pos, "expected an operator or the end of the expression")
            );
        }
        Ok(Self { expr })
    }

    /// Whether the test `query` describes is in the set; `default` is what `default()`
    /// stands for.
    pub fn matches(&self, query: &TestQuery<'_>, default: Option<&Filterset>) -> bool {
        eval(&self.expr, query, default)
    }
}

fn eval(expr: &Expr, q: &TestQuery<'_>, default: Option<&Filterset>) -> bool {
    match expr {
        Expr::All => true,
        Expr::None => false,
        Expr::Default => default.is_none_or(|d| eval(&d.expr, q, None)),
        Expr::Is(field, m) => m.matches(match field {
            Field::Test => q.test,
            Field::Package => q.package,
            Field::BinaryId => q.binary_id,
            Field::Binary => q.binary,
            Field::Kind => q.kind,
        }),
        Expr::Not(e) => !eval(e, q, default),
        Expr::And(a, b) => eval(a, q, default) && eval(b, q, default),
        Expr::Or(a, b) => eval(a, q, default) || eval(b, q, default),
    }
}

struct Parser<'a> {
    chars: &'a [char],
    pos: usize,
    text: &'a str,
}

impl Parser<'_> {
    fn error(&self, pos: usize, message: impl Into<String>) -> ParseError {
        ParseError { text: self.text.to_string(), column: pos + 1, message: message.into() }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn skip_space(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    /// The word (`[a-z_]+`) at the current position, without moving.
    fn word(&self) -> String {
        self.chars[self.pos..]
            .iter()
            .take_while(|c| c.is_ascii_alphanumeric() || **c == '_')
            .collect()
    }

    /// Takes the keyword `kw` if it stands here as a whole word.
    fn keyword(&mut self, kw: &str) -> bool {
        let word = self.word();
        if word == kw {
            self.pos += kw.chars().count();
            true
        } else {
            false
        }
    }

    fn or(&mut self) -> Result<Expr, ParseError> {
        let mut left = self.and()?;
        loop {
            self.skip_space();
            let op = match self.peek() {
                Some('|' | '+') => {
                    self.pos += 1;
                    true
                }
                _ => self.keyword("or"),
            };
            if !op {
                return Ok(left);
            }
            let right = self.and()?;
            left = Expr::Or(Box::new(left), Box::new(right));
        }
    }

    fn and(&mut self) -> Result<Expr, ParseError> {
        let mut left = self.not()?;
        loop {
            self.skip_space();
            let difference = match self.peek() {
                Some('&') => {
                    self.pos += 1;
                    false
                }
                Some('-') => {
                    self.pos += 1;
                    true
                }
                _ if self.keyword("and") => false,
                _ => return Ok(left),
            };
            let right = self.not()?;
            let right = if difference { Expr::Not(Box::new(right)) } else { right };
            left = Expr::And(Box::new(left), Box::new(right));
        }
    }

    fn not(&mut self) -> Result<Expr, ParseError> {
        self.skip_space();
        if self.peek() == Some('!') {
            self.pos += 1;
            return Ok(Expr::Not(Box::new(self.not()?)));
        }
        if self.word() == "not" {
            self.pos += 3;
            return Ok(Expr::Not(Box::new(self.not()?)));
        }
        self.atom()
    }

    fn atom(&mut self) -> Result<Expr, ParseError> {
        self.skip_space();
        let start = self.pos;
        match self.peek() {
            None => return Err(self.error(start, "expected an expression, found the end")),
            Some('(') => {
                self.pos += 1;
                let inner = self.or()?;
                self.skip_space();
                if self.peek() != Some(')') {
                    return Err(self.error(self.pos, "expected `)` to close the `(`"));
                }
                self.pos += 1;
                return Ok(inner);
            }
            Some(_) => {}
        }
        let name = self.word();
        if name.is_empty() {
            return Err(self.error(start, "expected a predicate such as `test(...)`, `not` or `(`"));
        }
        self.pos += name.chars().count();
        self.skip_space();
        if self.peek() != Some('(') {
            return Err(self.error(self.pos, format!("expected `(` after `{name}`")));
        }
        self.pos += 1;
        let (field, default) = match name.as_str() {
            "all" | "none" | "default" => {
                self.skip_space();
                if self.peek() != Some(')') {
                    return Err(self.error(self.pos, format!("`{name}()` takes no argument")));
                }
                self.pos += 1;
                return Ok(match name.as_str() {
                    "all" => Expr::All,
                    "none" => Expr::None,
                    _ => Expr::Default,
                });
            }
            "test" => (Field::Test, '~'),
            "package" => (Field::Package, '#'),
            "binary_id" => (Field::BinaryId, '#'),
            "binary" => (Field::Binary, '#'),
            "kind" => (Field::Kind, '='),
            "deps" | "rdeps" | "platform" | "group" => {
                return Err(self.error(
                    start,
                    format!(
                        "`{name}()` is not supported by cargo-xdist (see docs/filtersets.md); \
                         use package(), binary_id(), binary(), kind() or test()"
                    ),
                ));
            }
            _ => return Err(self.error(start, format!("unknown predicate `{name}()`"))),
        };
        let matcher = self.matcher(default)?;
        Ok(Expr::Is(field, matcher))
    }

    /// A name matcher up to and including the `)` that ends it; `default` is the kind
    /// (`=`, `~`, `#`) of one without a prefix.
    fn matcher(&mut self, default: char) -> Result<Matcher, ParseError> {
        // Spaces before a matcher are skipped, those after it are part of it (as nextest).
        self.skip_space();
        let start = self.pos;
        if self.peek() == Some('/') {
            self.pos += 1;
            let mut pattern = String::new();
            loop {
                match self.peek() {
                    None => {
                        return Err(self.error(start, "unterminated regex: expected a closing `/`"));
                    }
                    Some('\\') if self.chars.get(self.pos + 1) == Some(&'/') => {
                        pattern.push('/');
                        self.pos += 2;
                    }
                    Some('\\') => {
                        pattern.push('\\');
                        if let Some(&c) = self.chars.get(self.pos + 1) {
                            pattern.push(c);
                        }
                        self.pos += 2;
                    }
                    Some('/') => {
                        self.pos += 1;
                        break;
                    }
                    Some(c) => {
                        pattern.push(c);
                        self.pos += 1;
                    }
                }
            }
            let regex = regex::Regex::new(&pattern).map_err(|e| {
                let detail = e.to_string();
                let last = detail.lines().last().unwrap_or("").trim().to_string();
                self.error(start, format!("invalid regex: {last}"))
            })?;
            self.close()?;
            return Ok(Matcher::Regex(regex));
        }
        let kind = match self.peek() {
            Some(c @ ('=' | '~' | '#')) => {
                self.pos += 1;
                c
            }
            _ => default,
        };
        let mut text = String::new();
        loop {
            match self.peek() {
                None => return Err(self.error(self.pos, "expected `)` to end the matcher")),
                Some(')') => break,
                Some('\\') => {
                    let at = self.pos;
                    self.pos += 1;
                    let c = match self.peek() {
                        Some('n') => '\n',
                        Some('r') => '\r',
                        Some('t') => '\t',
                        Some(c @ ('\\' | '/' | ')' | ',')) => c,
                        Some('u') => {
                            self.pos += 1;
                            self.unicode(at)?
                        }
                        _ => return Err(self.error(at, "invalid escape sequence")),
                    };
                    text.push(c);
                    self.pos += 1;
                }
                Some(c) => {
                    text.push(c);
                    self.pos += 1;
                }
            }
        }
        self.pos += 1;
        Ok(match kind {
            '=' => Matcher::Equal(text),
            '~' => Matcher::Contains(text),
            _ => glob(&text).map_err(|m| self.error(start, m))?,
        })
    }

    /// `\u{HEX}` after the `u`; leaves the position on the `}`.
    fn unicode(&mut self, at: usize) -> Result<char, ParseError> {
        if self.peek() != Some('{') {
            return Err(self.error(at, "invalid unicode escape: expected `\\u{HEX}`"));
        }
        self.pos += 1;
        let hex: String = self.chars[self.pos..].iter().take_while(|c| **c != '}').collect();
        let end = self.pos + hex.chars().count();
        if self.chars.get(end) != Some(&'}') || hex.is_empty() || hex.len() > 6 {
            return Err(self.error(at, "invalid unicode escape: expected `\\u{HEX}`"));
        }
        let c = u32::from_str_radix(&hex, 16)
            .ok()
            .and_then(char::from_u32)
            .ok_or_else(|| self.error(at, "invalid unicode escape: not a character"))?;
        self.pos = end;
        Ok(c)
    }

    fn close(&mut self) -> Result<(), ParseError> {
        self.skip_space();
        if self.peek() != Some(')') {
            return Err(self.error(self.pos, "expected `)` after the regex"));
        }
        self.pos += 1;
        Ok(())
    }
}

fn glob(text: &str) -> Result<Matcher, String> {
    globset::Glob::new(text)
        .map(|g| Matcher::Glob(g.compile_matcher()))
        .map_err(|e| format!("invalid glob: {}", e.kind()))
}

/// Several `-E` expressions (a test matches when one matches), the profile's
/// `default-filter`, and whether `--ignore-default-filter` dropped it.
#[derive(Clone, Debug, Default)]
pub struct Filtersets {
    /// The `-E` expressions, OR'd; none is every test.
    pub exprs: Vec<Filterset>,
    /// The profile's `default-filter`: what `default()` means, and ANDed with the rest
    /// unless `ignore_default`.
    pub default: Option<Filterset>,
    /// `--ignore-default-filter`: the default filter is not ANDed (`default()` keeps it).
    pub ignore_default: bool,
}

impl Filtersets {
    /// True when nothing is filtered.
    pub fn is_empty(&self) -> bool {
        self.exprs.is_empty() && (self.default.is_none() || self.ignore_default)
    }

    /// Whether test `query` is selected.
    pub fn matches(&self, query: &TestQuery<'_>) -> bool {
        let default = self.default.as_ref();
        let in_default = self.ignore_default || default.is_none_or(|d| d.matches(query, None));
        in_default
            && (self.exprs.is_empty() || self.exprs.iter().any(|e| e.matches(query, default)))
    }
}

impl Filtersets {
    /// The `-E` expressions, parsed, before anything is built.
    pub fn from_flags(exprs: &[String]) -> Result<Self, ParseError> {
        let exprs = exprs.iter().map(|e| Filterset::parse(e)).collect::<Result<_, _>>()?;
        Ok(Self { exprs, default: None, ignore_default: false })
    }

    /// Adds the resolved `default-filter` (checked when it was read); `ignore`:
    /// `--ignore-default-filter`.
    pub fn with_default(mut self, resolved: &Resolved, ignore: bool) -> Self {
        if let Some((Value::Text(text), _)) = resolved.get("default-filter") {
            self.default = Filterset::parse(text).ok();
        }
        self.ignore_default = ignore;
        self
    }

    /// Keeps the selected and ignored tests of `collected` that are in the set.
    pub fn select(&self, collected: &mut Collected) {
        if self.is_empty() {
            return;
        }
        let list = &collected.full;
        let facts: Vec<BinaryFacts> = list.binaries.iter().map(BinaryFacts::of).collect();
        let keep = |&i: &usize| {
            let test = &list.tests[i];
            let b = test.binary as usize;
            self.matches(&facts[b].query(&list.binaries[b].id, &test.name))
        };
        collected.selected.retain(keep);
        collected.ignored.retain(keep);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q<'a>(package: &'a str, binary_id: &'a str, kind: &'a str, test: &'a str) -> TestQuery<'a> {
        let binary = binary_id.rsplit(['/', ':']).next().unwrap();
        TestQuery { package, binary_id, binary, kind, test }
    }

    fn yes(expr: &str, query: &TestQuery<'_>) -> bool {
        Filterset::parse(expr).unwrap_or_else(|e| panic!("{e}")).matches(query, None)
    }

    #[test]
    fn predicates_and_default_matchers() {
        let t = q("my-crate", "my-crate::it", "test", "db::connects");
        assert!(yes("test(db::)", &t));
        assert!(yes("test(=db::connects)", &t));
        assert!(!yes("test(=db::)", &t));
        assert!(yes("test(/^db::c/)", &t));
        assert!(yes("test(#db::*)", &t));
        assert!(!yes("test(#db)", &t));
        assert!(yes("package(my-crate)", &t));
        assert!(!yes("package(my)", &t));
        assert!(yes("package(~my)", &t));
        assert!(yes("package(my-*)", &t));
        assert!(yes("binary_id(my-crate::it)", &t));
        assert!(yes("binary_id(*::it)", &t));
        assert!(yes("binary(it)", &t));
        assert!(yes("kind(test)", &t));
        assert!(!yes("kind(tes)", &t));
        assert!(yes("all()", &t));
        assert!(!yes("none()", &t));
        assert!(yes("default()", &t));
    }

    #[test]
    fn operators_and_precedence() {
        let t = q("p", "p", "lib", "a::b");
        assert!(yes("test(a) & test(b)", &t));
        assert!(yes("test(a) and test(b)", &t));
        assert!(!yes("test(a) & test(c)", &t));
        assert!(yes("test(c) | test(a)", &t));
        assert!(yes("test(c) + test(a)", &t));
        assert!(yes("test(c) or test(a)", &t));
        assert!(!yes("not test(a)", &t));
        assert!(!yes("!test(a)", &t));
        assert!(yes("!!test(a)", &t));
        assert!(!yes("test(a) - test(b)", &t));
        assert!(yes("all() - test(c)", &t));
        // `and` binds tighter than `or`; `not` tighter than both.
        assert!(yes("test(a) | test(c) & test(d)", &t));
        assert!(!yes("(test(a) | test(c)) & test(d)", &t));
        assert!(yes("not test(c) | test(d)", &t));
        assert!(!yes("not (test(a) | test(d))", &t));
        // Left to right within a level: (a - b) - c.
        assert!(!yes("all() - test(a) - test(c)", &t));
    }

    #[test]
    fn escapes() {
        let t = q("p", "p", "lib", "x)y,z");
        assert!(yes(r"test(=x\)y\,z)", &t));
        assert!(yes(r"test(\u{78})", &t));
        assert!(yes(r"test(/x\)/)", &t));
    }

    fn err(expr: &str) -> ParseError {
        Filterset::parse(expr).expect_err(expr)
    }

    #[test]
    fn errors_point_at_the_column() {
        assert_eq!(err("test(a) &").column, 10);
        assert_eq!(err("test(a) & bogus(x)").column, 11);
        assert!(err("test(a) & bogus(x)").message.contains("unknown predicate"));
        assert_eq!(err("test(a").column, 7);
        assert_eq!(err("(test(a)").column, 9);
        assert_eq!(err("test(a) test(b)").column, 9);
        assert_eq!(err("test").column, 5);
        assert_eq!(err("test(/a(/)").column, 6);
        assert_eq!(err("test(/abc)").column, 6);
        assert_eq!(err(r"test(a\q)").column, 7);
        assert!(err("deps(x)").message.contains("not supported"));
        assert!(err("all(x)").message.contains("no argument"));
        assert_eq!(err("").column, 1);
        let shown = err("test(a) &").to_string();
        assert_eq!(
            shown,
            "invalid filterset `test(a) &`: column 10: expected an expression, found the end"
        );
    }

    #[test]
    fn several_expressions_or_and_the_default_filter_ands() {
        let t = q("p", "p", "lib", "a");
        let sets = |exprs: &[&str], default: Option<&str>| Filtersets {
            exprs: exprs.iter().map(|e| Filterset::parse(e).unwrap()).collect(),
            default: default.map(|d| Filterset::parse(d).unwrap()),
            ignore_default: false,
        };
        assert!(sets(&[], None).matches(&t));
        assert!(sets(&["test(b)", "test(a)"], None).matches(&t));
        assert!(!sets(&["test(b)", "test(c)"], None).matches(&t));
        assert!(!sets(&["test(a)"], Some("none()")).matches(&t));
        assert!(sets(&[], Some("test(a)")).matches(&t));
        assert!(!sets(&["not default()"], Some("test(a)")).matches(&t));
        // Ignored, it is not ANDed, but `default()` still names it (as nextest).
        let ignored =
            |exprs: &[&str], default| Filtersets { ignore_default: true, ..sets(exprs, default) };
        assert!(ignored(&[], Some("none()")).matches(&t));
        assert!(!ignored(&["default()"], Some("none()")).matches(&t));
        assert!(ignored(&["not default()"], Some("none()")).matches(&t));
    }
}
