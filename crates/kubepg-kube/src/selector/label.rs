//! Label selectors: `labelSelector` values, their parser (apimachinery's `labels.Parse`, token
//! for token), label key and value validity, and evaluation against an object's labels.

use std::borrow::Cow;
use std::collections::BTreeSet;

use serde_json::{Map, Value};

use crate::{Error, Result};

/// Longest name part of a qualified name and longest label value (apimachinery
/// `qualifiedNameMaxLength` / `LabelValueMaxLength`).
const MAX_NAME_LEN: usize = 63;
/// Longest DNS-1123 subdomain, the optional prefix of a label key.
const MAX_SUBDOMAIN_LEN: usize = 253;
/// A key that is always valid, for spelling "matches nothing" when the requirement's own key
/// cannot be put in a query.
const NEVER_KEY: &str = "kubepg.invalid/never";

/// A conjunction of label requirements; empty matches every object.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LabelSelector {
    pub requirements: Vec<LabelRequirement>,
}

/// One label requirement. Values are kept as given; [`LabelSelector::parse`] sorts and
/// de-duplicates set values as apimachinery does.
#[derive(Debug, Clone, PartialEq)]
pub enum LabelRequirement {
    Equals(String, String),
    NotEquals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

/// How one requirement is spelled in a query. The API server rejects keys and values that no
/// stored object can carry, so those requirements are rewritten by what they mean on a real
/// cluster instead of being sent and failing the whole LIST.
enum Term {
    /// Every object on a cluster satisfies it: leave it out.
    Always,
    /// No object on a cluster satisfies it.
    Never,
    Text(String),
}

impl LabelRequirement {
    fn key(&self) -> &str {
        match self {
            LabelRequirement::Equals(k, _)
            | LabelRequirement::NotEquals(k, _)
            | LabelRequirement::In(k, _)
            | LabelRequirement::NotIn(k, _)
            | LabelRequirement::Exists(k)
            | LabelRequirement::NotExists(k) => k,
        }
    }

    fn matches(&self, labels: Option<&Map<String, Value>>) -> bool {
        let value = labels.and_then(|l| l.get(self.key())).map(label_text);
        match self {
            LabelRequirement::Equals(_, v) => value.is_some_and(|x| x == v.as_str()),
            LabelRequirement::NotEquals(_, v) => value.is_none_or(|x| x != v.as_str()),
            LabelRequirement::In(_, vs) => {
                value.is_some_and(|x| vs.iter().any(|v| x == v.as_str()))
            }
            LabelRequirement::NotIn(_, vs) => {
                value.is_none_or(|x| !vs.iter().any(|v| x == v.as_str()))
            }
            LabelRequirement::Exists(_) => value.is_some(),
            LabelRequirement::NotExists(_) => value.is_none(),
        }
    }

    fn term(&self) -> Term {
        let key = self.key();
        // An object stored by the API server only has valid label keys, so a requirement on
        // an invalid key is decided without asking: presence never, absence always.
        if !valid_label_key(key) {
            return match self {
                LabelRequirement::Equals(..)
                | LabelRequirement::In(..)
                | LabelRequirement::Exists(_) => Term::Never,
                LabelRequirement::NotEquals(..)
                | LabelRequirement::NotIn(..)
                | LabelRequirement::NotExists(_) => Term::Always,
            };
        }
        match self {
            LabelRequirement::Equals(_, v) if valid_label_value(v) => {
                Term::Text(format!("{key}={v}"))
            }
            LabelRequirement::Equals(..) => Term::Never,
            LabelRequirement::NotEquals(_, v) if valid_label_value(v) => {
                Term::Text(format!("{key}!={v}"))
            }
            LabelRequirement::NotEquals(..) => Term::Always,
            LabelRequirement::In(_, vs) => match query_set(vs) {
                // `k in ()` would be read back by the server as `k in ("")`, not as the empty set.
                None => Term::Never,
                Some(set) => Term::Text(format!("{key} in ({set})")),
            },
            LabelRequirement::NotIn(_, vs) => match query_set(vs) {
                None => Term::Always,
                Some(set) => Term::Text(format!("{key} notin ({set})")),
            },
            LabelRequirement::Exists(_) => Term::Text(key.to_string()),
            LabelRequirement::NotExists(_) => Term::Text(format!("!{key}")),
        }
    }
}

/// The values of a set requirement as the query spells them: sorted and de-duplicated like
/// apimachinery's `Requirement.String`, without values no label can have; None when nothing is
/// left.
fn query_set(values: &[String]) -> Option<String> {
    let set: BTreeSet<&str> = values
        .iter()
        .map(String::as_str)
        .filter(|v| valid_label_value(v))
        .collect();
    if set.is_empty() {
        return None;
    }
    Some(set.into_iter().collect::<Vec<_>>().join(","))
}

/// A label value as the selector compares it. The API server only stores strings; snapshot
/// files written by hand may carry YAML scalars such as `version: 2`, which mean their text.
fn label_text(v: &Value) -> Cow<'_, str> {
    match v {
        Value::String(s) => Cow::Borrowed(s),
        Value::Null => Cow::Borrowed(""),
        other => Cow::Owned(other.to_string()),
    }
}

impl LabelSelector {
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    pub fn push(&mut self, r: LabelRequirement) {
        self.requirements.push(r);
    }

    /// The `labelSelector` query value, e.g. `app=web,tier in (a,b),!legacy`; None when empty.
    ///
    /// The query means on the server exactly what [`matches`](Self::matches) means here, so it
    /// never makes the server reject the LIST: a requirement no stored object can satisfy (an
    /// invalid key or value, `k in ()` with no values) becomes `k,!k`, and one every object
    /// satisfies (`k notin ()`, `k!=<invalid value>`) is left out, which gives None when
    /// nothing else is left.
    pub fn to_query(&self) -> Option<String> {
        let mut parts = Vec::new();
        for r in &self.requirements {
            match r.term() {
                Term::Always => {}
                Term::Never => {
                    let key = if valid_label_key(r.key()) {
                        r.key()
                    } else {
                        NEVER_KEY
                    };
                    parts.push(format!("{key},!{key}"));
                }
                Term::Text(t) => parts.push(t),
            }
        }
        if parts.is_empty() {
            None
        } else {
            Some(parts.join(","))
        }
    }

    /// Does an object with these labels (metadata.labels; None = no labels) match? Same
    /// semantics as apimachinery labels.Selector: `k!=v` and `k notin (..)` match objects
    /// WITHOUT the key; `k in ()` never matches.
    pub fn matches(&self, labels: Option<&Map<String, Value>>) -> bool {
        self.requirements.iter().all(|r| r.matches(labels))
    }

    /// Parse the Kubernetes selector syntax (for `--selector`-style input and for tests).
    /// Errors are crate::Error::Selector.
    ///
    /// Accepts what `labels.Parse` accepts, except the numeric `>` and `<` operators, which
    /// [`LabelRequirement`] cannot hold.
    pub fn parse(s: &str) -> Result<Self> {
        LabelParser {
            input: s,
            tokens: lex(s),
            pos: 0,
        }
        .parse()
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    /// A word; `in` and `notin` are words too and only act as operators in operator position,
    /// which is how apimachinery lets them be keys and values.
    Ident(String),
    Bang,
    Eq,
    DoubleEq,
    NotEq,
    Gt,
    Lt,
    Open,
    Close,
    Comma,
    End,
}

impl Tok {
    fn describe(&self) -> String {
        match self {
            Tok::Ident(s) => s.clone(),
            Tok::Bang => "!".into(),
            Tok::Eq => "=".into(),
            Tok::DoubleEq => "==".into(),
            Tok::NotEq => "!=".into(),
            Tok::Gt => ">".into(),
            Tok::Lt => "<".into(),
            Tok::Open => "(".into(),
            Tok::Close => ")".into(),
            Tok::Comma => ",".into(),
            Tok::End => "end of string".into(),
        }
    }
}

fn is_label_whitespace(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

fn is_special(c: char) -> bool {
    matches!(c, '=' | '!' | '(' | ')' | ',' | '>' | '<')
}

/// Tokens of a label selector, ending with [`Tok::End`]. Like apimachinery's lexer, operators
/// are the longest run of symbols that still forms one (`!=`, `==`), and anything that is not
/// whitespace or a symbol belongs to a word.
fn lex(s: &str) -> Vec<Tok> {
    let mut tokens = Vec::new();
    let mut chars = s.chars().peekable();
    while let Some(&c) = chars.peek() {
        if is_label_whitespace(c) {
            chars.next();
            continue;
        }
        if is_special(c) {
            chars.next();
            let next = chars.peek().copied();
            let tok = match (c, next) {
                ('=', Some('=')) => {
                    chars.next();
                    Tok::DoubleEq
                }
                ('!', Some('=')) => {
                    chars.next();
                    Tok::NotEq
                }
                ('=', _) => Tok::Eq,
                ('!', _) => Tok::Bang,
                ('(', _) => Tok::Open,
                (')', _) => Tok::Close,
                (',', _) => Tok::Comma,
                ('>', _) => Tok::Gt,
                _ => Tok::Lt,
            };
            tokens.push(tok);
            continue;
        }
        let mut word = String::new();
        while let Some(&c) = chars.peek() {
            if is_label_whitespace(c) || is_special(c) {
                break;
            }
            word.push(c);
            chars.next();
        }
        tokens.push(Tok::Ident(word));
    }
    tokens.push(Tok::End);
    tokens
}

/// A port of apimachinery's `labels.Parser`, so that the same input is accepted, rejected and
/// understood the same way.
struct LabelParser<'a> {
    input: &'a str,
    tokens: Vec<Tok>,
    pos: usize,
}

impl LabelParser<'_> {
    fn peek(&self) -> &Tok {
        self.tokens.get(self.pos).unwrap_or(&Tok::End)
    }

    fn bump(&mut self) -> Tok {
        let tok = self.peek().clone();
        if self.pos < self.tokens.len() {
            self.pos += 1;
        }
        tok
    }

    fn error(&self, detail: impl std::fmt::Display) -> Error {
        Error::Selector(format!("{:?}: {detail}", self.input))
    }

    fn unexpected(&self, found: &Tok, expected: &str) -> Error {
        self.error(format!(
            "found '{}', expected: {expected}",
            found.describe()
        ))
    }

    fn parse(mut self) -> Result<LabelSelector> {
        let mut selector = LabelSelector::default();
        loop {
            match self.peek() {
                Tok::Ident(_) | Tok::Bang => {
                    let r = self.requirement()?;
                    selector.push(r);
                    match self.bump() {
                        Tok::End => return Ok(selector),
                        Tok::Comma => match self.peek() {
                            Tok::Ident(_) | Tok::Bang => {}
                            other => {
                                return Err(self.unexpected(other, "identifier after ','"));
                            }
                        },
                        other => return Err(self.unexpected(&other, "',' or end of string")),
                    }
                }
                Tok::End => return Ok(selector),
                other => return Err(self.unexpected(other, "!, identifier, or end of string")),
            }
        }
    }

    fn requirement(&mut self) -> Result<LabelRequirement> {
        let mut tok = self.bump();
        let negated = tok == Tok::Bang;
        if negated {
            tok = self.bump();
        }
        let key = match tok {
            Tok::Ident(k) => k,
            other => return Err(self.unexpected(&other, "identifier")),
        };
        if !valid_label_key(&key) {
            return Err(self.error(format!("invalid label key {key:?}")));
        }
        // `!k` is complete whatever follows; anything after it is the caller's error.
        if negated {
            return Ok(LabelRequirement::NotExists(key));
        }
        if matches!(self.peek(), Tok::End | Tok::Comma) {
            return Ok(LabelRequirement::Exists(key));
        }
        let op = self.bump();
        let r = match op {
            Tok::Ident(ref w) if w == "in" => LabelRequirement::In(key, self.set_values()?),
            Tok::Ident(ref w) if w == "notin" => LabelRequirement::NotIn(key, self.set_values()?),
            Tok::Eq | Tok::DoubleEq => LabelRequirement::Equals(key, self.exact_value()?),
            Tok::NotEq => LabelRequirement::NotEquals(key, self.exact_value()?),
            Tok::Gt | Tok::Lt => {
                return Err(self.error(format!("operator '{}' is not supported", op.describe())));
            }
            other => {
                return Err(self.unexpected(&other, "=, ==, !=, in, notin"));
            }
        };
        let values: Vec<&String> = match &r {
            LabelRequirement::Equals(_, v) | LabelRequirement::NotEquals(_, v) => vec![v],
            LabelRequirement::In(_, vs) | LabelRequirement::NotIn(_, vs) => vs.iter().collect(),
            LabelRequirement::Exists(_) | LabelRequirement::NotExists(_) => Vec::new(),
        };
        if let Some(bad) = values.into_iter().find(|v| !valid_label_value(v)) {
            return Err(self.error(format!("invalid label value {bad:?}")));
        }
        Ok(r)
    }

    /// `(a,b)`. Empty members are the empty value (`()`, `(a,)`, `(,a)`, `(a,,b)`), as in
    /// apimachinery, so `k in ()` means `k in ("")`.
    fn set_values(&mut self) -> Result<Vec<String>> {
        match self.bump() {
            Tok::Open => {}
            other => return Err(self.unexpected(&other, "'('")),
        }
        let mut set = BTreeSet::new();
        match self.peek() {
            Tok::Ident(_) | Tok::Comma => {
                self.identifier_list(&mut set)?;
                match self.bump() {
                    Tok::Close => {}
                    other => return Err(self.unexpected(&other, "')'")),
                }
            }
            Tok::Close => {
                self.bump();
                set.insert(String::new());
            }
            other => return Err(self.unexpected(other, "',', ')' or identifier")),
        }
        Ok(set.into_iter().collect())
    }

    /// Stops before the closing parenthesis, which the caller consumes.
    fn identifier_list(&mut self, set: &mut BTreeSet<String>) -> Result<()> {
        loop {
            match self.bump() {
                Tok::Ident(v) => {
                    set.insert(v);
                    match self.peek() {
                        Tok::Comma => {}
                        Tok::Close => return Ok(()),
                        other => return Err(self.unexpected(other, "',' or ')'")),
                    }
                }
                Tok::Comma => {
                    if set.is_empty() {
                        set.insert(String::new());
                    }
                    match self.peek() {
                        Tok::Close => {
                            set.insert(String::new());
                            return Ok(());
                        }
                        Tok::Comma => {
                            self.bump();
                            set.insert(String::new());
                        }
                        _ => {}
                    }
                }
                other => return Err(self.unexpected(&other, "',', or identifier")),
            }
        }
    }

    fn exact_value(&mut self) -> Result<String> {
        if matches!(self.peek(), Tok::End | Tok::Comma) {
            return Ok(String::new());
        }
        match self.bump() {
            Tok::Ident(v) => Ok(v),
            other => Err(self.unexpected(&other, "identifier")),
        }
    }
}

/// A label key the API accepts: optional DNS-1123 subdomain prefix (<=253 chars) + '/', name
/// <= 63 chars of [A-Za-z0-9._-] starting and ending alphanumeric.
pub fn valid_label_key(k: &str) -> bool {
    match k.split_once('/') {
        Some((prefix, name)) => is_dns1123_subdomain(prefix) && is_name_part(name),
        None => is_name_part(k),
    }
}

/// A label value the API accepts: empty, or <= 63 chars of [A-Za-z0-9._-] starting and ending
/// alphanumeric.
pub fn valid_label_value(v: &str) -> bool {
    v.is_empty() || is_name_part(v)
}

/// apimachinery's qualified-name part: `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`, at most 63.
/// A second '/' in a key lands here and fails the character check.
fn is_name_part(s: &str) -> bool {
    let b = s.as_bytes();
    match (b.first(), b.last()) {
        (Some(first), Some(last)) => {
            b.len() <= MAX_NAME_LEN
                && first.is_ascii_alphanumeric()
                && last.is_ascii_alphanumeric()
                && b.iter()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        }
        _ => false,
    }
}

/// `[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*`, at most 253 characters.
fn is_dns1123_subdomain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_SUBDOMAIN_LEN
        && s.split('.').all(|label| {
            let b = label.as_bytes();
            match (b.first(), b.last()) {
                (Some(first), Some(last)) => {
                    let edge = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
                    edge(first) && edge(last) && b.iter().all(|c| edge(c) || *c == b'-')
                }
                _ => false,
            }
        })
}
