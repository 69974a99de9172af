//! Kubernetes label and field selectors: the values of the `labelSelector` and `fieldSelector`
//! query parameters, their parsers, and local evaluation against objects.
//!
//! Local evaluation must give exactly the answer the API server gives, because the same selector
//! is either sent to a live cluster or applied here to snapshot and watch-cache objects, and a
//! query must not return different rows depending on where its objects came from. The parsers
//! follow apimachinery's `labels.Parse` and `fields.ParseSelector` token for token for the same
//! reason: a `--selector` that kubectl accepts must mean the same thing here.

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

// ---------------------------------------------------------------------------------------------
// Label selectors
// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------
// Field selectors
// ---------------------------------------------------------------------------------------------

/// A conjunction of field requirements; empty matches every object.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FieldSelector {
    pub requirements: Vec<FieldRequirement>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FieldRequirement {
    pub path: String,
    pub op: FieldOp,
    pub value: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldOp {
    Eq,
    NotEq,
}

impl FieldSelector {
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    pub fn push(&mut self, r: FieldRequirement) {
        self.requirements.push(r);
    }

    /// The `fieldSelector` query value, values escaped as apimachinery fields.EscapeValue does
    /// (backslash before `\`, `,` and `=`); None when empty. Paths are written as given: the
    /// syntax has no escaping for them, and the server only knows plain dotted paths.
    pub fn to_query(&self) -> Option<String> {
        if self.requirements.is_empty() {
            return None;
        }
        let terms: Vec<String> = self
            .requirements
            .iter()
            .map(|r| {
                let op = match r.op {
                    FieldOp::Eq => "=",
                    FieldOp::NotEq => "!=",
                };
                format!("{}{op}{}", r.path, escape_field_value(&r.value))
            })
            .collect();
        Some(terms.join(","))
    }

    /// Server semantics on a whole object JSON: the field at the dotted path (`metadata.name`,
    /// `spec.nodeName`, `involvedObject.kind`, `type`) rendered as the server's field set does:
    /// a missing field or null is "", strings as-is, booleans "true"/"false", integers in
    /// decimal. `=` compares equal, `!=` not equal.
    ///
    /// The few built-in field labels whose value is not simply the JSON at that path (job
    /// `status.successful`, event `source`, defaults of omitted booleans and counts) are read the
    /// way the server computes them.
    pub fn matches(&self, object: &Value) -> bool {
        self.requirements.iter().all(|r| {
            let actual = field_value(object, &r.path);
            match r.op {
                FieldOp::Eq => actual == r.value,
                FieldOp::NotEq => actual != r.value,
            }
        })
    }

    /// Supports `=`, `==`, `!=` and backslash escapes, as `fields.ParseSelector` does: terms are
    /// split on unescaped commas, the first operator in a term splits path from value, and a
    /// value may not hold an unescaped `,` or `=`. Unlike apimachinery, an empty path is refused
    /// here rather than by the server.
    pub fn parse(s: &str) -> Result<Self> {
        let mut selector = FieldSelector::default();
        for term in split_field_terms(s) {
            if term.is_empty() {
                continue;
            }
            let Some((path, op, raw)) = split_field_term(term) else {
                return Err(Error::Selector(format!("{s:?}: can't understand {term:?}")));
            };
            if path.is_empty() {
                return Err(Error::Selector(format!(
                    "{s:?}: {term:?} has no field path"
                )));
            }
            let value =
                unescape_field_value(raw).map_err(|e| Error::Selector(format!("{s:?}: {e}")))?;
            selector.push(FieldRequirement {
                path: path.to_string(),
                op,
                value,
            });
        }
        Ok(selector)
    }
}

fn escape_field_value(v: &str) -> Cow<'_, str> {
    if !v.contains(['\\', ',', '=']) {
        return Cow::Borrowed(v);
    }
    let mut out = String::with_capacity(v.len() + 4);
    for c in v.chars() {
        if matches!(c, '\\' | ',' | '=') {
            out.push('\\');
        }
        out.push(c);
    }
    Cow::Owned(out)
}

fn unescape_field_value(v: &str) -> std::result::Result<String, String> {
    let mut out = String::with_capacity(v.len());
    let mut escaped = false;
    for c in v.chars() {
        if escaped {
            if !matches!(c, '\\' | ',' | '=') {
                return Err(format!("invalid escape sequence \\{c}"));
            }
            out.push(c);
            escaped = false;
            continue;
        }
        match c {
            '\\' => escaped = true,
            ',' | '=' => return Err(format!("unescaped {c:?} in a field selector value")),
            _ => out.push(c),
        }
    }
    if escaped {
        return Err("value ends with a lone backslash".into());
    }
    Ok(out)
}

/// Splits on commas not preceded by a backslash; escapes stay in the terms.
fn split_field_terms(s: &str) -> Vec<&str> {
    if s.is_empty() {
        return Vec::new();
    }
    let mut terms = Vec::new();
    let mut start = 0;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == ',' {
            terms.push(&s[start..i]);
            start = i + 1;
        }
    }
    terms.push(&s[start..]);
    terms
}

/// `!=` and `==` are tried before `=` at each position so that neither leaves a stray symbol
/// in the path or the value.
fn split_field_term(term: &str) -> Option<(&str, FieldOp, &str)> {
    for (i, _) in term.char_indices() {
        let rest = &term[i..];
        for (sym, op) in [
            ("!=", FieldOp::NotEq),
            ("==", FieldOp::Eq),
            ("=", FieldOp::Eq),
        ] {
            if let Some(value) = rest.strip_prefix(sym) {
                return Some((&term[..i], op, value));
            }
        }
    }
    None
}

/// The value the server's field set holds for `path` on this object.
fn field_value<'a>(object: &'a Value, path: &str) -> Cow<'a, str> {
    // Built-in field labels the registry computes instead of copying the JSON at the same path;
    // a literal field at the path (a custom resource's own field) still wins.
    let literal = lookup(object, path);
    match path {
        // Job's Go field `Succeeded` (json `succeeded`, omitted when 0) is published under
        // this name and formatted with strconv.Itoa.
        "status.successful" if literal.is_none() => {
            or_default(lookup(object, "status.succeeded"), "0")
        }
        // Go ints and bools have no "missing": an omitted count is 0, an omitted flag false.
        "status.replicas" => or_default(literal, "0"),
        "spec.unschedulable" | "spec.hostNetwork" => or_default(literal, "false"),
        // Core events publish `source.component`, falling back to `reportingComponent` for
        // events written through events.k8s.io.
        "source" if !matches!(literal, Some(Value::String(_))) => {
            let component = render(lookup(object, "source.component"));
            if component.is_empty() {
                render(lookup(object, "reportingComponent"))
            } else {
                component
            }
        }
        // The registry reads the first entry of `podIPs`; `podIP` is what older servers and
        // hand-written snapshots have.
        "status.podIP" => match lookup(object, "status.podIPs") {
            Some(Value::Array(ips)) if !ips.is_empty() => {
                render(ips.first().and_then(|ip| ip.get("ip")))
            }
            _ => render(literal),
        },
        _ => render(literal),
    }
}

fn lookup<'a>(object: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(object, |v, part| v.get(part))
}

fn or_default<'a>(v: Option<&'a Value>, default: &'static str) -> Cow<'a, str> {
    match v {
        None | Some(Value::Null) => Cow::Borrowed(default),
        some => render(some),
    }
}

/// Objects and arrays never appear in a server field set; they are rendered as compact JSON so
/// that a structured value never compares equal to "" as if it were missing.
fn render(v: Option<&Value>) -> Cow<'_, str> {
    match v {
        None | Some(Value::Null) => Cow::Borrowed(""),
        Some(Value::String(s)) => Cow::Borrowed(s),
        Some(other) => Cow::Owned(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            other => panic!("labels must be an object, got {other}"),
        }
    }

    fn sel(s: &str) -> LabelSelector {
        LabelSelector::parse(s).unwrap_or_else(|e| panic!("{s:?} should parse: {e}"))
    }

    fn fsel(s: &str) -> FieldSelector {
        FieldSelector::parse(s).unwrap_or_else(|e| panic!("{s:?} should parse: {e}"))
    }

    fn st(v: &str) -> String {
        v.to_string()
    }

    // --- label selectors: evaluation -------------------------------------------------------

    #[test]
    fn empty_selector_matches_everything_and_has_no_query() {
        let empty = LabelSelector::default();
        assert!(empty.is_empty());
        assert_eq!(empty.to_query(), None);
        assert!(empty.matches(None));
        assert!(empty.matches(Some(&labels(json!({"app": "web"})))));
        assert_eq!(sel(""), empty);
        assert_eq!(sel("  \t "), empty);
    }

    #[test]
    fn equals_requires_the_key_with_that_value() {
        let s = sel("app=web");
        assert!(s.matches(Some(&labels(json!({"app": "web", "x": "y"})))));
        assert!(!s.matches(Some(&labels(json!({"app": "db"})))));
        assert!(!s.matches(Some(&labels(json!({"other": "web"})))));
        assert!(!s.matches(None));
    }

    #[test]
    fn equals_empty_value_matches_only_a_present_empty_label() {
        let s = sel("app=");
        assert!(s.matches(Some(&labels(json!({"app": ""})))));
        assert!(!s.matches(Some(&labels(json!({})))));
        assert!(!s.matches(None));
    }

    #[test]
    fn not_equals_matches_objects_without_the_key() {
        let s = sel("app!=web");
        assert!(s.matches(None));
        assert!(s.matches(Some(&labels(json!({})))));
        assert!(s.matches(Some(&labels(json!({"app": "db"})))));
        assert!(!s.matches(Some(&labels(json!({"app": "web"})))));
    }

    #[test]
    fn in_requires_the_key_with_one_of_the_values() {
        let s = sel("tier in (a,b)");
        assert!(s.matches(Some(&labels(json!({"tier": "a"})))));
        assert!(s.matches(Some(&labels(json!({"tier": "b"})))));
        assert!(!s.matches(Some(&labels(json!({"tier": "c"})))));
        assert!(!s.matches(None));
    }

    #[test]
    fn not_in_matches_objects_without_the_key() {
        let s = sel("tier notin (a,b)");
        assert!(s.matches(None));
        assert!(s.matches(Some(&labels(json!({"app": "x"})))));
        assert!(s.matches(Some(&labels(json!({"tier": "c"})))));
        assert!(!s.matches(Some(&labels(json!({"tier": "a"})))));
    }

    #[test]
    fn in_with_no_values_never_matches() {
        let s = LabelSelector {
            requirements: vec![LabelRequirement::In(st("tier"), vec![])],
        };
        assert!(!s.matches(None));
        assert!(!s.matches(Some(&labels(json!({"tier": ""})))));
        assert!(!s.matches(Some(&labels(json!({"tier": "a"})))));
    }

    #[test]
    fn not_in_with_no_values_matches_everything() {
        let s = LabelSelector {
            requirements: vec![LabelRequirement::NotIn(st("tier"), vec![])],
        };
        assert!(s.matches(None));
        assert!(s.matches(Some(&labels(json!({"tier": "a"})))));
    }

    #[test]
    fn exists_and_not_exists_look_only_at_the_key() {
        let exists = sel("legacy");
        let absent = sel("!legacy");
        let with_empty = labels(json!({"legacy": ""}));
        let with_value = labels(json!({"legacy": "true"}));
        let without = labels(json!({"app": "web"}));
        assert!(exists.matches(Some(&with_empty)));
        assert!(exists.matches(Some(&with_value)));
        assert!(!exists.matches(Some(&without)));
        assert!(!exists.matches(None));
        assert!(!absent.matches(Some(&with_empty)));
        assert!(absent.matches(Some(&without)));
        assert!(absent.matches(None));
    }

    #[test]
    fn objects_without_labels_match_only_absence_requirements() {
        for (q, expected) in [
            ("a=b", false),
            ("a!=b", true),
            ("a in (b)", false),
            ("a notin (b)", true),
            ("a", false),
            ("!a", true),
        ] {
            assert_eq!(sel(q).matches(None), expected, "{q}");
        }
    }

    #[test]
    fn all_requirements_must_match() {
        let s = sel("app=web,tier in (front,back),!legacy");
        assert!(s.matches(Some(&labels(json!({"app": "web", "tier": "front"})))));
        assert!(!s.matches(Some(&labels(json!({"app": "web", "tier": "mid"})))));
        assert!(!s.matches(Some(&labels(
            json!({"app": "web", "tier": "front", "legacy": "1"})
        ))));
    }

    #[test]
    fn non_string_label_values_compare_by_their_text() {
        let l = labels(json!({"version": 2, "canary": true, "empty": null}));
        assert!(sel("version=2").matches(Some(&l)));
        assert!(sel("canary=true").matches(Some(&l)));
        assert!(sel("empty=").matches(Some(&l)));
        assert!(sel("empty").matches(Some(&l)));
    }

    // --- label selectors: query strings ----------------------------------------------------

    #[test]
    fn to_query_renders_each_operator_like_apimachinery() {
        let mut s = LabelSelector::default();
        s.push(LabelRequirement::Equals(st("app"), st("web")));
        s.push(LabelRequirement::NotEquals(st("env"), st("prod")));
        s.push(LabelRequirement::In(st("tier"), vec![st("a"), st("b")]));
        s.push(LabelRequirement::NotIn(st("zone"), vec![st("x")]));
        s.push(LabelRequirement::Exists(st("example.com/owner")));
        s.push(LabelRequirement::NotExists(st("legacy")));
        assert_eq!(
            s.to_query().as_deref(),
            Some("app=web,env!=prod,tier in (a,b),zone notin (x),example.com/owner,!legacy")
        );
    }

    #[test]
    fn to_query_sorts_and_dedups_set_values() {
        let s = LabelSelector {
            requirements: vec![LabelRequirement::In(
                st("k"),
                vec![st("c"), st("a"), st("c"), st("b")],
            )],
        };
        assert_eq!(s.to_query().as_deref(), Some("k in (a,b,c)"));
    }

    #[test]
    fn to_query_writes_the_empty_value_as_an_empty_member() {
        let s = LabelSelector {
            requirements: vec![
                LabelRequirement::In(st("k"), vec![st("")]),
                LabelRequirement::In(st("j"), vec![st("a"), st("")]),
                LabelRequirement::Equals(st("e"), st("")),
            ],
        };
        let q = s.to_query().unwrap_or_default();
        assert_eq!(q, "k in (),j in (,a),e=");
        assert_eq!(sel(&q), s.normalized());
    }

    #[test]
    fn to_query_turns_unsatisfiable_requirements_into_a_contradiction() {
        let never = |r: LabelRequirement| {
            LabelSelector {
                requirements: vec![r],
            }
            .to_query()
        };
        assert_eq!(
            never(LabelRequirement::In(st("tier"), vec![])).as_deref(),
            Some("tier,!tier")
        );
        assert_eq!(
            never(LabelRequirement::In(st("tier"), vec![st("not valid")])).as_deref(),
            Some("tier,!tier")
        );
        assert_eq!(
            never(LabelRequirement::Equals(st("app"), st("a b"))).as_deref(),
            Some("app,!app")
        );
        assert_eq!(
            never(LabelRequirement::Exists(st("bad key"))).as_deref(),
            Some("kubepg.invalid/never,!kubepg.invalid/never")
        );
        // The contradiction is itself valid syntax and really matches nothing.
        let q = never(LabelRequirement::In(st("tier"), vec![])).unwrap_or_default();
        let parsed = sel(&q);
        assert!(!parsed.matches(None));
        assert!(!parsed.matches(Some(&labels(json!({"tier": "a"})))));
    }

    #[test]
    fn to_query_drops_requirements_every_object_satisfies() {
        let s = LabelSelector {
            requirements: vec![
                LabelRequirement::NotIn(st("tier"), vec![]),
                LabelRequirement::NotEquals(st("app"), st("has space")),
                LabelRequirement::NotExists(st("-bad")),
                LabelRequirement::NotIn(st("zone"), vec![st("ok"), st("not ok")]),
            ],
        };
        assert_eq!(s.to_query().as_deref(), Some("zone notin (ok)"));
        let vacuous = LabelSelector {
            requirements: vec![LabelRequirement::NotIn(st("tier"), vec![])],
        };
        assert!(!vacuous.is_empty());
        assert_eq!(vacuous.to_query(), None);
    }

    // --- label selectors: parsing ----------------------------------------------------------

    impl LabelSelector {
        /// What `parse` gives back for this selector: set values sorted and de-duplicated.
        fn normalized(&self) -> LabelSelector {
            let norm = |vs: &Vec<String>| {
                vs.iter()
                    .cloned()
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect::<Vec<_>>()
            };
            LabelSelector {
                requirements: self
                    .requirements
                    .iter()
                    .map(|r| match r {
                        LabelRequirement::In(k, vs) => LabelRequirement::In(k.clone(), norm(vs)),
                        LabelRequirement::NotIn(k, vs) => {
                            LabelRequirement::NotIn(k.clone(), norm(vs))
                        }
                        other => other.clone(),
                    })
                    .collect(),
            }
        }
    }

    #[test]
    fn parse_reads_every_operator() {
        use LabelRequirement::*;
        assert_eq!(
            sel("a=1,b==2,c!=3,d in (x,y),e notin (z),f,!g").requirements,
            vec![
                Equals(st("a"), st("1")),
                Equals(st("b"), st("2")),
                NotEquals(st("c"), st("3")),
                In(st("d"), vec![st("x"), st("y")]),
                NotIn(st("e"), vec![st("z")]),
                Exists(st("f")),
                NotExists(st("g")),
            ]
        );
    }

    #[test]
    fn parse_then_to_query_round_trips() {
        for q in [
            "app=web",
            "app!=web",
            "app=",
            "tier in (a,b)",
            "tier notin (a)",
            "legacy",
            "!legacy",
            "k in ()",
            "k in (,a)",
            "example.com/app=web,app.kubernetes.io/name in (db,web),!kubernetes.io/legacy",
            "a=b,c!=d,e in (f),g notin (h,i),j,!k",
        ] {
            assert_eq!(sel(q).to_query().as_deref(), Some(q), "{q}");
        }
    }

    #[test]
    fn to_query_then_parse_round_trips() {
        use LabelRequirement::*;
        let selectors = [
            vec![Equals(st("app"), st("web"))],
            vec![NotEquals(st("app"), st(""))],
            vec![In(st("x.io/tier"), vec![st("b"), st("a"), st("b")])],
            vec![NotIn(st("in"), vec![st("notin"), st("in")])],
            vec![
                Exists(st("a")),
                NotExists(st("b")),
                Equals(st("c"), st("D.e_f-9")),
            ],
        ];
        for requirements in selectors {
            let original = LabelSelector { requirements };
            let q = original.to_query().unwrap_or_default();
            assert_eq!(sel(&q), original.normalized(), "{q}");
        }
    }

    #[test]
    fn parse_sorts_and_dedups_set_values() {
        assert_eq!(
            sel("k in (c,a,c,b)").requirements,
            vec![LabelRequirement::In(
                st("k"),
                vec![st("a"), st("b"), st("c")]
            )]
        );
    }

    #[test]
    fn parse_ignores_whitespace_between_tokens() {
        assert_eq!(
            sel(" app = web ,\ttier  in ( a , b ) ,\n! legacy , x !=y"),
            sel("app=web,tier in (a,b),!legacy,x!=y")
        );
        assert_eq!(sel("tier in(a)"), sel("tier in (a)"));
    }

    #[test]
    fn parse_treats_empty_parentheses_as_the_empty_value() {
        let s = sel("k in ()");
        assert_eq!(
            s.requirements,
            vec![LabelRequirement::In(st("k"), vec![st("")])]
        );
        assert!(s.matches(Some(&labels(json!({"k": ""})))));
        assert!(!s.matches(Some(&labels(json!({"k": "a"})))));
    }

    #[test]
    fn parse_accepts_empty_values_inside_sets() {
        let set = |q: &str| match sel(q).requirements.as_slice() {
            [LabelRequirement::In(_, vs)] => vs.clone(),
            other => panic!("{q}: {other:?}"),
        };
        assert_eq!(set("k in (,a)"), vec![st(""), st("a")]);
        assert_eq!(set("k in (a,)"), vec![st(""), st("a")]);
        assert_eq!(set("k in (a,,b)"), vec![st(""), st("a"), st("b")]);
        assert_eq!(set("k in (,)"), vec![st("")]);
    }

    #[test]
    fn parse_accepts_in_and_notin_as_keys_and_values() {
        assert_eq!(
            sel("in in (notin),notin=in").requirements,
            vec![
                LabelRequirement::In(st("in"), vec![st("notin")]),
                LabelRequirement::Equals(st("notin"), st("in")),
            ]
        );
        assert_eq!(
            sel("in").requirements,
            vec![LabelRequirement::Exists(st("in"))]
        );
    }

    #[test]
    fn parse_rejects_malformed_syntax() {
        for q in [
            ",",
            "a,",
            ",a",
            "a,,b",
            "a b",
            "a=b=c",
            "a=(b)",
            "a in b",
            "a in (b",
            "a in (b c)",
            "a in (b,,)",
            "a in (,,)",
            "a notin",
            "(a)",
            "=a",
            "!",
            "!a=b",
            "!a in (b)",
            "a=b c",
        ] {
            assert!(LabelSelector::parse(q).is_err(), "{q:?} should be rejected");
        }
    }

    #[test]
    fn parse_rejects_invalid_keys_and_values() {
        for q in [
            "-a=b",
            "a-=b",
            "a b=c",
            "Example.com/a=b",
            "/a=b",
            "a/=b",
            "a/b/c=d",
            "a=-b",
            "a=b-",
            "a=has/slash",
            "a in (ok,-bad)",
            "a notin (bad_)",
            "!bad_",
            "é=b",
        ] {
            assert!(LabelSelector::parse(q).is_err(), "{q:?} should be rejected");
        }
        let long_value = format!("a={}", "v".repeat(64));
        assert!(LabelSelector::parse(&long_value).is_err());
        let max_value = format!("a={}", "v".repeat(63));
        assert!(LabelSelector::parse(&max_value).is_ok());
    }

    #[test]
    fn parse_rejects_greater_and_less_than() {
        for q in ["replicas>1", "replicas<3"] {
            match LabelSelector::parse(q) {
                Err(Error::Selector(msg)) => assert!(msg.contains("not supported"), "{msg}"),
                other => panic!("{q}: {other:?}"),
            }
        }
    }

    #[test]
    fn parse_errors_are_selector_errors_naming_the_input() {
        match LabelSelector::parse("app==web,") {
            Err(Error::Selector(msg)) => assert!(msg.contains("app==web,"), "{msg}"),
            other => panic!("{other:?}"),
        }
        match FieldSelector::parse("metadata.name") {
            Err(Error::Selector(msg)) => assert!(msg.contains("metadata.name"), "{msg}"),
            other => panic!("{other:?}"),
        }
    }

    // --- label keys and values -------------------------------------------------------------

    #[test]
    fn valid_label_key_follows_qualified_name_rules() {
        for k in [
            "a",
            "A",
            "9",
            "app",
            "App_Name.v-1",
            "example.com/app",
            "app.kubernetes.io/name",
            "a-b.c/D_e",
            "k8s.io/x",
        ] {
            assert!(valid_label_key(k), "{k:?} should be valid");
        }
        let name63 = "n".repeat(63);
        let prefix253 = format!("{}.{}", "p".repeat(126), "q".repeat(126));
        assert_eq!(prefix253.len(), 253);
        assert!(valid_label_key(&name63));
        assert!(valid_label_key(&format!("{prefix253}/{name63}")));
        for k in [
            "".to_string(),
            "-a".into(),
            "a-".into(),
            "_a".into(),
            ".a".into(),
            "a b".into(),
            "a=b".into(),
            "/a".into(),
            "a/".into(),
            "a/b/c".into(),
            "Example.com/a".into(),
            "ex_ample.com/a".into(),
            "-ex.com/a".into(),
            "ex..com/a".into(),
            "ex.com./a".into(),
            "é".into(),
            "n".repeat(64),
            format!("{prefix253}x/a"),
        ] {
            assert!(!valid_label_key(&k), "{k:?} should be invalid");
        }
    }

    #[test]
    fn valid_label_value_follows_label_value_rules() {
        for v in ["", "a", "Z9", "web", "v1.2.3", "a_b-c.D"] {
            assert!(valid_label_value(v), "{v:?} should be valid");
        }
        assert!(valid_label_value(&"v".repeat(63)));
        for v in ["-a", "a-", ".a", "a.", "_", "a b", "a/b", "a,b", "é", "a=b"] {
            assert!(!valid_label_value(v), "{v:?} should be invalid");
        }
        assert!(!valid_label_value(&"v".repeat(64)));
    }

    // --- field selectors -------------------------------------------------------------------

    fn field(path: &str, op: FieldOp, value: &str) -> FieldRequirement {
        FieldRequirement {
            path: path.into(),
            op,
            value: value.into(),
        }
    }

    #[test]
    fn empty_field_selector_matches_everything_and_has_no_query() {
        let empty = FieldSelector::default();
        assert!(empty.is_empty());
        assert_eq!(empty.to_query(), None);
        assert!(empty.matches(&json!({})));
        assert_eq!(fsel(""), empty);
        assert_eq!(fsel(",,"), empty);
    }

    #[test]
    fn field_to_query_escapes_backslash_comma_and_equals() {
        let mut s = FieldSelector::default();
        s.push(field("metadata.name", FieldOp::Eq, r"a\b,c=d"));
        s.push(field("spec.nodeName", FieldOp::NotEq, "node-1"));
        assert_eq!(
            s.to_query().as_deref(),
            Some(r"metadata.name=a\\b\,c\=d,spec.nodeName!=node-1")
        );
    }

    #[test]
    fn field_parse_unescapes_values() {
        assert_eq!(
            fsel(r"metadata.name=a\\b\,c\=d").requirements,
            vec![field("metadata.name", FieldOp::Eq, r"a\b,c=d")]
        );
    }

    #[test]
    fn field_parse_accepts_double_equals_and_not_equals() {
        assert_eq!(
            fsel("status.phase==Running,spec.nodeName!=n1,type=Warning").requirements,
            vec![
                field("status.phase", FieldOp::Eq, "Running"),
                field("spec.nodeName", FieldOp::NotEq, "n1"),
                field("type", FieldOp::Eq, "Warning"),
            ]
        );
        assert_eq!(
            fsel("spec.nodeName=").requirements,
            vec![field("spec.nodeName", FieldOp::Eq, "")]
        );
        assert_eq!(
            fsel("a=!b").requirements,
            vec![field("a", FieldOp::Eq, "!b")]
        );
    }

    #[test]
    fn field_parse_splits_only_on_unescaped_commas() {
        assert_eq!(
            fsel(r"a=x\,y,b=z").requirements,
            vec![field("a", FieldOp::Eq, "x,y"), field("b", FieldOp::Eq, "z")]
        );
        assert_eq!(
            fsel(r"a=x\\,b=z").requirements,
            vec![field("a", FieldOp::Eq, r"x\"), field("b", FieldOp::Eq, "z")]
        );
    }

    #[test]
    fn field_parse_keeps_whitespace_like_the_server() {
        assert_eq!(
            fsel("metadata.name = web").requirements,
            vec![field("metadata.name ", FieldOp::Eq, " web")]
        );
    }

    #[test]
    fn field_parse_rejects_unescaped_specials_and_bad_escapes() {
        for q in ["a=b=c", "a==b=c", "a!=b=c", r"a=b\n", r"a=b\", r"a=\x"] {
            assert!(FieldSelector::parse(q).is_err(), "{q:?} should be rejected");
        }
    }

    #[test]
    fn field_parse_rejects_terms_without_an_operator_or_a_path() {
        for q in ["metadata.name", "a=b,c", " ", "=x", "!=x", "a=b,==c"] {
            assert!(FieldSelector::parse(q).is_err(), "{q:?} should be rejected");
        }
    }

    #[test]
    fn field_round_trips_through_the_query_string() {
        let original = FieldSelector {
            requirements: vec![
                field("metadata.name", FieldOp::Eq, r"we\ird,na=me"),
                field("metadata.namespace", FieldOp::NotEq, "kube-system"),
                field("spec.nodeName", FieldOp::Eq, ""),
                field("involvedObject.kind", FieldOp::NotEq, "=Pod"),
            ],
        };
        let q = original.to_query().unwrap_or_default();
        assert_eq!(fsel(&q), original);
        for q in ["a=b", "a!=b", r"a=\\", r"a=\,\=", "a=b,c!=d"] {
            assert_eq!(fsel(q).to_query().as_deref(), Some(q), "{q}");
        }
    }

    #[test]
    fn missing_and_null_fields_compare_as_empty_strings() {
        let pod = json!({"metadata": {"name": "p"}, "spec": {"nodeName": null}});
        assert!(fsel("spec.nodeName=").matches(&pod));
        assert!(fsel("spec.schedulerName=").matches(&pod));
        assert!(fsel("no.such.path=").matches(&pod));
        assert!(fsel("metadata.namespace=").matches(&pod));
        assert!(!fsel("spec.nodeName!=").matches(&pod));
        assert!(fsel("metadata.name.deeper=").matches(&pod));
    }

    #[test]
    fn field_equals_compares_strings_booleans_and_integers() {
        let obj = json!({
            "metadata": {"name": "web-1", "namespace": "prod"},
            "spec": {"paused": true, "count": 3, "big": -12345678901_i64},
            "type": "Opaque"
        });
        assert!(fsel("metadata.name=web-1,metadata.namespace=prod").matches(&obj));
        assert!(fsel("spec.paused=true").matches(&obj));
        assert!(fsel("spec.count=3").matches(&obj));
        assert!(fsel("spec.big=-12345678901").matches(&obj));
        assert!(fsel("type=Opaque").matches(&obj));
        assert!(!fsel("type=opaque").matches(&obj));
        assert!(!fsel("metadata.name=web-1,metadata.namespace=dev").matches(&obj));
    }

    #[test]
    fn field_not_equals_matches_objects_without_the_field() {
        let pending = json!({"metadata": {"name": "p"}, "spec": {}});
        let scheduled = json!({"metadata": {"name": "p"}, "spec": {"nodeName": "n1"}});
        let s = fsel("spec.nodeName!=n1");
        assert!(s.matches(&pending));
        assert!(!s.matches(&scheduled));
        assert!(fsel("spec.nodeName!=n2").matches(&scheduled));
    }

    #[test]
    fn structured_fields_never_equal_the_empty_string() {
        let obj = json!({"spec": {"template": {"a": 1}, "list": []}});
        assert!(!fsel("spec.template=").matches(&obj));
        assert!(!fsel("spec.list=").matches(&obj));
    }

    #[test]
    fn job_successful_count_reads_status_succeeded_and_defaults_to_zero() {
        let done = json!({"kind": "Job", "status": {"succeeded": 2}});
        let fresh = json!({"kind": "Job", "status": {}});
        assert!(fsel("status.successful=2").matches(&done));
        assert!(fsel("status.successful=0").matches(&fresh));
        assert!(fsel("status.successful!=0").matches(&done));
        assert!(fsel("status.successful=0").matches(&json!({})));
    }

    #[test]
    fn replicas_and_unschedulable_default_like_the_server() {
        let rs = json!({"status": {}});
        assert!(fsel("status.replicas=0").matches(&rs));
        assert!(fsel("status.replicas=4").matches(&json!({"status": {"replicas": 4}})));
        let schedulable = json!({"spec": {}});
        let cordoned = json!({"spec": {"unschedulable": true}});
        assert!(fsel("spec.unschedulable=false").matches(&schedulable));
        assert!(!fsel("spec.unschedulable=false").matches(&cordoned));
        assert!(fsel("spec.unschedulable=true").matches(&cordoned));
        assert!(fsel("spec.hostNetwork=false").matches(&json!({"spec": {}})));
    }

    #[test]
    fn event_source_is_the_component_or_the_reporting_controller() {
        let kubelet = json!({"source": {"component": "kubelet", "host": "n1"}});
        let new_style = json!({"source": {}, "reportingComponent": "sched"});
        let neither = json!({"type": "Normal"});
        assert!(fsel("source=kubelet").matches(&kubelet));
        assert!(fsel("source=sched").matches(&new_style));
        assert!(fsel("source=").matches(&neither));
        assert!(fsel("reportingComponent=sched").matches(&new_style));
        assert!(fsel("source=custom").matches(&json!({"source": "custom"})));
    }

    #[test]
    fn pod_ip_comes_from_the_first_pod_ips_entry() {
        let dual = json!({"status": {"podIP": "10.0.0.1",
            "podIPs": [{"ip": "10.0.0.1"}, {"ip": "fd00::1"}]}});
        assert!(fsel("status.podIP=10.0.0.1").matches(&dual));
        assert!(!fsel("status.podIP=fd00::1").matches(&dual));
        let old = json!({"status": {"podIP": "10.0.0.2"}});
        assert!(fsel("status.podIP=10.0.0.2").matches(&old));
        assert!(fsel("status.podIP=").matches(&json!({"status": {}})));
    }
}
