//! Reading snapshot files into objects: directories walked (symlinks followed, hidden entries
//! skipped), JSON and YAML documents parsed, Lists and arrays unpacked, managedFields dropped.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::{snapshot_error, str_at};
use crate::Result;

/// Collects snapshot files under `dir`, following symlinks (ConfigMap mounts are made of them)
/// but visiting each real directory once, and skipping hidden entries (`.git`, and the `..data`
/// copies a ConfigMap mount holds next to its visible files).
pub(super) fn walk(dir: &Path, seen: &mut HashSet<PathBuf>, out: &mut Vec<PathBuf>) -> Result<()> {
    let real = dir.canonicalize().map_err(|e| snapshot_error(dir, e))?;
    if !seen.insert(real) {
        return Ok(());
    }
    let entries = std::fs::read_dir(dir).map_err(|e| snapshot_error(dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| snapshot_error(dir, e))?;
        let path = entry.path();
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let meta = std::fs::metadata(&path).map_err(|e| snapshot_error(&path, e))?;
        if meta.is_dir() {
            walk(&path, seen, out)?;
        } else if meta.is_file()
            && path
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| matches!(e, "yaml" | "yml" | "json"))
        {
            out.push(path);
        }
    }
    Ok(())
}

/// Every object in one file: single objects, Lists, multi-document YAML, JSON arrays and
/// concatenated JSON values.
pub(super) fn parse(name: &str, bytes: &[u8]) -> Result<Vec<Value>> {
    let first = bytes
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .copied()
        .unwrap_or(b'\n');
    let documents = if name.ends_with(".json") {
        parse_json(bytes).map_err(|e| snapshot_error(name, format!("invalid JSON: {e}")))?
    } else if first == b'{' || first == b'[' {
        // JSON is the common case for such files, and much faster to read as JSON; a YAML flow
        // mapping also starts this way, so YAML gets the last word.
        match parse_json(bytes) {
            Ok(docs) => docs,
            Err(_) => parse_yaml(name, bytes)?,
        }
    } else {
        parse_yaml(name, bytes)?
    };
    let mut out = Vec::new();
    for (i, document) in documents.into_iter().enumerate() {
        flatten(
            name,
            &format!("document {}", i + 1),
            document,
            None,
            &mut out,
        )?;
    }
    Ok(out)
}

fn parse_json(bytes: &[u8]) -> serde_json::Result<Vec<Value>> {
    serde_json::Deserializer::from_slice(bytes)
        .into_iter::<Value>()
        .collect()
}

fn parse_yaml(name: &str, bytes: &[u8]) -> Result<Vec<Value>> {
    // The default budget is sized for configuration files; a dump of a big cluster is one
    // legitimate document of millions of nodes, so the budget grows with the input (no node,
    // event or document is smaller than a byte), keeping the protection against alias bombs.
    let size = bytes.len();
    let mut budget = serde_saphyr::Budget::default();
    budget.max_events = budget.max_events.max(size.saturating_mul(2));
    budget.max_nodes = budget.max_nodes.max(size);
    budget.max_documents = budget.max_documents.max(size / 4 + 1);
    budget.max_total_scalar_bytes = budget.max_total_scalar_bytes.max(size);
    // CRD schemas nest deeply (properties → name → properties → …).
    budget.max_depth = budget.max_depth.max(128);
    let mut options = serde_saphyr::Options::default();
    options.budget = Some(budget);
    serde_saphyr::from_slice_multiple_with_options::<Value>(bytes, options)
        .map_err(|e| snapshot_error(name, format!("invalid YAML: {e}")))
}

/// Adds the objects of one document, unpacking Lists and arrays.
///
/// `defaults` are the apiVersion and kind a typed List (`PodList`) gives items that lack them,
/// as a raw API LIST response does.
fn flatten(
    name: &str,
    at: &str,
    document: Value,
    defaults: Option<(&str, &str)>,
    out: &mut Vec<Value>,
) -> Result<()> {
    let mut object = match document {
        Value::Null => return Ok(()),
        Value::Array(items) => {
            for (i, item) in items.into_iter().enumerate() {
                flatten(name, &format!("{at}, item {}", i + 1), item, defaults, out)?;
            }
            return Ok(());
        }
        Value::Object(object) => object,
        other => {
            return Err(snapshot_error(
                name,
                format!(
                    "{at}: expected a Kubernetes object, found {}",
                    type_name(&other)
                ),
            ));
        }
    };
    if let Some((api_version, kind)) = defaults {
        if !object.contains_key("apiVersion") {
            object.insert("apiVersion".into(), Value::from(api_version));
        }
        if !object.contains_key("kind") {
            object.insert("kind".into(), Value::from(kind));
        }
    }
    let kind = object
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if let Some(item_kind) = kind.strip_suffix("List")
        && object.get("items").is_some_and(Value::is_array)
    {
        let api_version = object
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let item_kind = item_kind.to_string();
        // A plain `List` (kubectl's output) mixes kinds: its items must say what they are.
        let defaults =
            (!item_kind.is_empty()).then_some((api_version.as_str(), item_kind.as_str()));
        let Some(Value::Array(items)) = object.remove("items") else {
            return Ok(());
        };
        for (i, item) in items.into_iter().enumerate() {
            flatten(name, &format!("{at}, item {}", i + 1), item, defaults, out)?;
        }
        return Ok(());
    }
    let mut object = Value::Object(object);
    for (field, path) in [
        ("apiVersion", &["apiVersion"][..]),
        ("kind", &["kind"][..]),
        ("metadata.name", &["metadata", "name"][..]),
    ] {
        if str_at(&object, path).is_empty() {
            return Err(snapshot_error(
                name,
                format!("{at}: object without {field}"),
            ));
        }
    }
    // Server bookkeeping: as large as the object itself and never what anyone queries.
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("managedFields");
    }
    out.push(object);
    Ok(())
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
