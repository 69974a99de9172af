//! Field selectors: `fieldSelector` values, their parser (apimachinery's
//! `fields.ParseSelector`), and evaluation against objects the way the API server reads their
//! fields (a missing field is the empty string).

use std::borrow::Cow;

use serde_json::Value;

use crate::{Error, Result};

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
