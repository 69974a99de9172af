//! jsonb's text form as PostgreSQL prints it: `{"a": 1, "bb": [1, 2]}`, a space after each `,`
//! and `:`, an object's keys in jsonb's storage order (shorter keys first, then bytewise), so
//! that psql, BI tools and tests see the same text from kubepg as from PostgreSQL. serde_json
//! prints compact JSON in the order it read, and has no formatter for this spacing.

use std::fmt::Write;

use serde_json::Value;

pub fn jsonb_text(v: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, v);
    out
}

fn write_value(out: &mut String, v: &Value) {
    match v {
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_value(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|(a, _), (b, _)| a.len().cmp(&b.len()).then_with(|| a.cmp(b)));
            out.push('{');
            for (i, (key, value)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_string(out, key);
                out.push_str(": ");
                write_value(out, value);
            }
            out.push('}');
        }
        Value::String(s) => write_string(out, s),
        scalar => {
            let _ = write!(out, "{scalar}");
        }
    }
}

/// PostgreSQL's `escape_json`: the quote, the backslash and control characters, nothing else.
fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if c < ' ' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn prints_as_postgresql_does() {
        let v: Value = serde_json::from_str(
            r#"{"tier":"frontend","app":"web","n":[1,2.5,null,true],"z":{"b":"x\ny","a":"\"q\""},"é":"ü"}"#,
        )
        .unwrap();
        assert_eq!(
            jsonb_text(&v),
            r#"{"n": [1, 2.5, null, true], "z": {"a": "\"q\"", "b": "x\ny"}, "é": "ü", "app": "web", "tier": "frontend"}"#
        );
        assert_eq!(jsonb_text(&json!("a\u{1}\\b/")), r#""a\u0001\\b/""#);
        assert_eq!(jsonb_text(&json!([])), "[]");
        assert_eq!(jsonb_text(&json!({})), "{}");
    }
}
