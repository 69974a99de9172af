//! Snapshot files as a [`Source`]: the same discovery and paged, filtered LIST as a live cluster,
//! over objects read once from YAML or JSON files (`kubectl get -o yaml|json` output, manifests,
//! directories of them) or from the embedded demo cluster.
//!
//! This module owns reading those files into objects, deriving what a cluster's discovery would
//! have said about them (built-in kinds from [`crate::builtin`], custom kinds from the
//! CustomResourceDefinitions in the snapshot, see [`resource_from_crd`]), and evaluating
//! namespace, label and field selectors the way the API server would.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use futures::StreamExt;
use futures::stream::{self, BoxStream};
use kube::core::Version;
use serde_json::Value;

use crate::builtin;
use crate::source::{CrdInfo, CrdProperty, PrinterColumn};
use crate::{Error, ListRequest, ListStats, Page, ResourceInfo, Result, Source};

/// The demo cluster, written by `cargo run -p kubepg-testkit --example demo_snapshot` from a real,
/// seeded API server.
const DEMO: &[u8] = include_bytes!("../demo/demo.json");

/// What every resource of a snapshot supports: reading, never writing.
const VERBS: &[&str] = &["get", "list", "watch"];

/// A page size of 0 means "the server's choice"; this is the one a live LIST defaults to.
const DEFAULT_PAGE_SIZE: usize = 500;

/// Objects read from files, answering as the cluster they were taken from.
pub struct SnapshotSource {
    cluster: String,
    resources: Vec<ResourceInfo>,
    /// By (group, kind), each sorted by (namespace, name): the order every list emits.
    objects: BTreeMap<(String, String), Arc<Vec<Entry>>>,
}

struct Entry {
    object: Value,
    /// Its serialized size, counted once so that every list can report bytes like a live one.
    bytes: u64,
}

impl std::fmt::Debug for SnapshotSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SnapshotSource")
            .field("cluster", &self.cluster)
            .field("resources", &self.resources.len())
            .field(
                "objects",
                &self.objects.values().map(|v| v.len()).sum::<usize>(),
            )
            .finish()
    }
}

/// The embedded demo cluster, named `demo`: the same as [`SnapshotSource::demo`].
pub fn demo() -> Result<SnapshotSource> {
    SnapshotSource::demo()
}

impl SnapshotSource {
    /// Reads a file, or every `.yaml`, `.yml` and `.json` file under a directory.
    ///
    /// Files are read in sorted path order, so when the same object appears twice the one in the
    /// later file wins, the same way on every run.
    pub fn load(cluster: impl Into<String>, path: &Path) -> Result<Self> {
        let meta = std::fs::metadata(path).map_err(|e| snapshot_error(path, e))?;
        let files = if meta.is_dir() {
            let mut files = Vec::new();
            let mut seen = HashSet::new();
            walk(path, &mut seen, &mut files)?;
            files.sort();
            if files.is_empty() {
                return Err(snapshot_error(
                    path,
                    "no .yaml, .yml or .json files in this directory",
                ));
            }
            files
        } else {
            vec![path.to_path_buf()]
        };
        let mut objects = Vec::new();
        for file in &files {
            let bytes = std::fs::read(file).map_err(|e| snapshot_error(file, e))?;
            objects.extend(parse(&file.display().to_string(), &bytes)?);
        }
        let source = Self::build(cluster.into(), objects);
        tracing::info!(
            cluster = %source.cluster,
            path = %path.display(),
            files = files.len(),
            resources = source.resources.len(),
            "snapshot loaded"
        );
        Ok(source)
    }

    /// The embedded demo cluster, named `demo`: a few hundred objects of a real, seeded API server.
    pub fn demo() -> Result<Self> {
        Self::from_bytes("demo", "demo.json (embedded)", DEMO)
    }

    /// Reads objects from one file's contents; `name` is what errors call it.
    pub fn from_bytes(cluster: impl Into<String>, name: &str, bytes: &[u8]) -> Result<Self> {
        Ok(Self::build(cluster.into(), parse(name, bytes)?))
    }

    fn build(cluster: String, objects: Vec<Value>) -> Self {
        // Keyed by (namespace, name) so that duplicates collapse (last wins) and lists come out
        // in a stable order without sorting at list time.
        let mut by_kind: BTreeMap<(String, String), BTreeMap<(String, String), Value>> =
            BTreeMap::new();
        for object in objects {
            let (group, _) = split_api_version(str_at(&object, &["apiVersion"]));
            let key = (group.to_string(), str_at(&object, &["kind"]).to_string());
            let id = (
                str_at(&object, &["metadata", "namespace"]).to_string(),
                str_at(&object, &["metadata", "name"]).to_string(),
            );
            by_kind.entry(key).or_default().insert(id, object);
        }

        let mut crds: BTreeMap<(String, String), ResourceInfo> = BTreeMap::new();
        let crd_key = (
            "apiextensions.k8s.io".to_string(),
            "CustomResourceDefinition".to_string(),
        );
        for crd in by_kind.get(&crd_key).into_iter().flat_map(BTreeMap::values) {
            let Some(info) = resource_from_crd(crd) else {
                continue;
            };
            let key = (info.group.clone(), info.kind.clone());
            // The objects were read in some version of the CRD, and their fields follow that
            // version's schema, so that version is the one to describe them with.
            let seen = by_kind
                .get(&key)
                .and_then(|objects| newest_version(objects.values()));
            let info = match seen {
                Some(v) if v != info.version => crd_resource(crd, Some(&v)).unwrap_or(info),
                _ => info,
            };
            crds.insert(key, info);
        }

        let kinds: BTreeSet<(String, String)> =
            by_kind.keys().chain(crds.keys()).cloned().collect();
        let resources = kinds
            .iter()
            .map(|(group, kind)| {
                let objects = by_kind.get(&(group.clone(), kind.clone()));
                let seen = objects.into_iter().flat_map(BTreeMap::values);
                match crds.get(&(group.clone(), kind.clone())) {
                    Some(info) => info.clone(),
                    None => resource_from_objects(group, kind, seen),
                }
            })
            .collect();

        let objects = by_kind
            .into_iter()
            .map(|(key, objects)| {
                let entries = objects
                    .into_values()
                    .map(|object| Entry {
                        bytes: serialized_len(&object),
                        object,
                    })
                    .collect();
                (key, Arc::new(entries))
            })
            .collect();
        Self {
            cluster,
            resources,
            objects,
        }
    }
}

#[async_trait]
impl Source for SnapshotSource {
    fn cluster(&self) -> &str {
        &self.cluster
    }

    async fn discover(&self) -> Result<Vec<ResourceInfo>> {
        Ok(self.resources.clone())
    }

    fn list(
        &self,
        resource: &ResourceInfo,
        request: ListRequest,
        stats: Arc<ListStats>,
    ) -> BoxStream<'static, Result<Page>> {
        let entries = self
            .objects
            .get(&(resource.group.clone(), resource.kind.clone()))
            .cloned()
            .unwrap_or_default();
        let page_size = match request.page_size {
            0 => DEFAULT_PAGE_SIZE,
            n => n as usize,
        };
        stream::iter(Pages {
            entries,
            namespaced: resource.namespaced,
            page_size,
            request,
            stats,
            next: 0,
            emitted: 0,
            pages: 0,
        })
        .boxed()
    }
}

/// A LIST over one kind's objects, a page per step, filtering as it goes.
struct Pages {
    entries: Arc<Vec<Entry>>,
    namespaced: bool,
    page_size: usize,
    request: ListRequest,
    stats: Arc<ListStats>,
    next: usize,
    emitted: u64,
    pages: u64,
}

impl Iterator for Pages {
    type Item = Result<Page>;

    fn next(&mut self) -> Option<Result<Page>> {
        let want = self.request.next_page_len(self.emitted, self.page_size);
        if want == 0 {
            return None;
        }
        let mut objects = Vec::new();
        let mut bytes = 0;
        while objects.len() < want && self.next < self.entries.len() {
            let entry = &self.entries[self.next];
            self.next += 1;
            if self.request.selects(self.namespaced, &entry.object) {
                bytes += entry.bytes;
                objects.push(entry.object.clone());
            }
        }
        // A LIST that matches nothing is still one request with one empty page; after that an
        // empty page means the objects ran out.
        if objects.is_empty() && self.pages > 0 {
            return None;
        }
        self.pages += 1;
        self.emitted += objects.len() as u64;
        self.stats.add(&self.stats.requests, 1);
        self.stats.add(&self.stats.pages, 1);
        self.stats.add(&self.stats.objects, objects.len() as u64);
        self.stats.add(&self.stats.bytes, bytes);
        Some(Ok(Page { objects }))
    }
}

/// What a cluster serving this CustomResourceDefinition would say in discovery, or `None` when
/// the object lacks the group or names that make it a resource.
///
/// The version is the served version of highest Kubernetes priority (what discovery prefers);
/// its schema gives the typed properties and its `additionalPrinterColumns` the printer columns.
/// `apiextensions.k8s.io/v1beta1` CRDs keep both at the top of `spec`, which is read as a
/// fallback.
pub fn resource_from_crd(crd: &Value) -> Option<ResourceInfo> {
    crd_resource(crd, None)
}

/// [`resource_from_crd`] in version `want` when the CRD defines it, else in its preferred one.
fn crd_resource(crd: &Value, want: Option<&str>) -> Option<ResourceInfo> {
    let spec = crd.get("spec")?;
    let group = spec.get("group")?.as_str()?;
    let names = spec.get("names")?;
    let kind = names.get("kind")?.as_str().filter(|k| !k.is_empty())?;
    let plural = names.get("plural")?.as_str().filter(|p| !p.is_empty())?;
    let singular = names
        .get("singular")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map_or_else(|| kind.to_ascii_lowercase(), str::to_string);
    let short_names = names
        .get("shortNames")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect();
    // v1 requires a scope; v1beta1 defaulted a missing one to Namespaced.
    let namespaced = spec.get("scope").and_then(Value::as_str) != Some("Cluster");

    let versions = spec
        .get("versions")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let named = || {
        versions
            .iter()
            .filter_map(|v| Some((v.get("name")?.as_str()?, v)))
    };
    let preferred = named().find(|(name, _)| Some(*name) == want).or_else(|| {
        named()
            .filter(|(_, v)| v.get("served").and_then(Value::as_bool).unwrap_or(true))
            .max_by_key(|(name, _)| Version::parse(name).priority())
    });
    let (version, chosen) = match preferred {
        Some((name, v)) => (name.to_string(), Some(v)),
        None => (spec.get("version")?.as_str()?.to_string(), None),
    };
    let schema = chosen
        .and_then(|v| v.get("schema"))
        .or_else(|| spec.get("validation"))
        .and_then(|s| s.get("openAPIV3Schema"));
    let columns = chosen
        .and_then(|v| v.get("additionalPrinterColumns"))
        .or_else(|| spec.get("additionalPrinterColumns"));

    Some(ResourceInfo {
        group: group.to_string(),
        version,
        kind: kind.to_string(),
        plural: plural.to_string(),
        singular,
        short_names,
        namespaced,
        verbs: VERBS.iter().map(|v| v.to_string()).collect(),
        crd: Some(CrdInfo {
            properties: schema.map(crd_properties).unwrap_or_default(),
            printer_columns: columns.map(printer_columns).unwrap_or_default(),
        }),
    })
}

/// The top-level scalar properties of `spec` and `status`: the ones that fit a typed column.
///
/// Sorted by name within each of `spec` and `status`: JSON maps keep or lose the schema's order
/// depending on how serde_json is built, and a table's columns must not.
fn crd_properties(schema: &Value) -> Vec<CrdProperty> {
    let mut out = Vec::new();
    for parent in ["spec", "status"] {
        let start = out.len();
        let props = schema
            .get("properties")
            .and_then(|p| p.get(parent))
            .and_then(|p| p.get("properties"))
            .and_then(Value::as_object);
        for (name, prop) in props.into_iter().flatten() {
            let Some(ty) = prop.get("type").and_then(Value::as_str) else {
                continue;
            };
            if matches!(ty, "string" | "integer" | "number" | "boolean") {
                out.push(CrdProperty {
                    parent: parent.to_string(),
                    name: name.clone(),
                    r#type: ty.to_string(),
                    format: prop.get("format").and_then(Value::as_str).map(String::from),
                });
            }
        }
        out[start..].sort_by(|a: &CrdProperty, b: &CrdProperty| a.name.cmp(&b.name));
    }
    out
}

fn printer_columns(columns: &Value) -> Vec<PrinterColumn> {
    columns
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| {
            // v1beta1 spelled it `JSONPath`.
            let path = c.get("jsonPath").or_else(|| c.get("JSONPath"))?.as_str()?;
            Some(PrinterColumn {
                name: c.get("name")?.as_str()?.to_string(),
                r#type: c
                    .get("type")
                    .and_then(Value::as_str)
                    .unwrap_or("string")
                    .to_string(),
                json_path: path.to_string(),
            })
        })
        .collect()
}

/// Discovery for a kind with no CRD in the snapshot: the built-in table when it knows the kind,
/// otherwise what the objects themselves suggest.
fn resource_from_objects<'a>(
    group: &str,
    kind: &str,
    objects: impl Iterator<Item = &'a Value>,
) -> ResourceInfo {
    let mut versions = BTreeSet::new();
    let mut namespaced = false;
    for object in objects {
        versions.insert(split_api_version(str_at(object, &["apiVersion"])).1);
        namespaced |= !str_at(object, &["metadata", "namespace"]).is_empty();
    }
    // The objects' own version, preferring the one the built-in table knows when they agree: a
    // snapshot of an older cluster serves older versions (flowcontrol v1beta1, say).
    let seen_version = |preferred: Option<&str>| -> String {
        match preferred {
            Some(p) if versions.is_empty() || versions.contains(p) => p.to_string(),
            _ => versions
                .iter()
                .max_by_key(|v| Version::parse(v).priority())
                .map_or_else(String::new, |v| v.to_string()),
        }
    };
    let verbs = VERBS.iter().map(|v| v.to_string()).collect();
    match builtin::by_group_kind(group, kind) {
        Some(b) => ResourceInfo {
            group: group.to_string(),
            version: seen_version(Some(b.version)),
            kind: kind.to_string(),
            plural: b.plural.to_string(),
            singular: b.singular.to_string(),
            short_names: b.short_names.iter().map(|s| s.to_string()).collect(),
            namespaced: b.namespaced,
            verbs,
            crd: None,
        },
        None => ResourceInfo {
            group: group.to_string(),
            version: seen_version(None),
            kind: kind.to_string(),
            plural: guess_plural(kind),
            singular: kind.to_ascii_lowercase(),
            short_names: Vec::new(),
            namespaced,
            verbs,
            crd: None,
        },
    }
}

/// The version of highest Kubernetes priority among the objects' apiVersions.
fn newest_version<'a>(objects: impl Iterator<Item = &'a Value>) -> Option<String> {
    objects
        .map(|o| split_api_version(str_at(o, &["apiVersion"])).1)
        .filter(|v| !v.is_empty())
        .max_by_key(|v| Version::parse(v).priority())
        .map(str::to_string)
}

/// English plural of a lowercased kind, for kinds nobody told us the plural of.
fn guess_plural(kind: &str) -> String {
    let lower = kind.to_ascii_lowercase();
    let before_y = lower.strip_suffix('y');
    match before_y {
        // `gateway` → `gateways`, but `policy` → `policies`.
        Some(stem) if !stem.ends_with(['a', 'e', 'i', 'o', 'u']) => format!("{stem}ies"),
        _ if ["s", "x", "ch", "sh"].iter().any(|s| lower.ends_with(s)) => format!("{lower}es"),
        _ => format!("{lower}s"),
    }
}

// ---- reading files ----

/// Collects snapshot files under `dir`, following symlinks (ConfigMap mounts are made of them)
/// but visiting each real directory once, and skipping hidden entries (`.git`, and the `..data`
/// copies a ConfigMap mount holds next to its visible files).
fn walk(dir: &Path, seen: &mut HashSet<PathBuf>, out: &mut Vec<PathBuf>) -> Result<()> {
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
fn parse(name: &str, bytes: &[u8]) -> Result<Vec<Value>> {
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

// ---- small helpers ----

fn snapshot_error(path: impl AsRef<Path>, message: impl std::fmt::Display) -> Error {
    Error::Snapshot {
        path: path.as_ref().display().to_string(),
        message: message.to_string(),
    }
}

/// The string at a path of keys, or "" when any step is missing or not a string.
fn str_at<'a>(object: &'a Value, path: &[&str]) -> &'a str {
    let mut v = Some(object);
    for key in path {
        v = v.and_then(|v| v.get(key));
    }
    v.and_then(Value::as_str).unwrap_or_default()
}

/// (`group`, `version`) of `group/version`; the core group is "".
fn split_api_version(api_version: &str) -> (&str, &str) {
    api_version.rsplit_once('/').unwrap_or(("", api_version))
}

fn serialized_len(object: &Value) -> u64 {
    struct Count(u64);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len() as u64;
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    // Only an I/O error can fail this, and counting never fails.
    match serde_json::to_writer(&mut count, object) {
        Ok(()) => count.0,
        Err(_) => 0,
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::selector::{FieldSelector, LabelSelector};
    use futures::TryStreamExt;
    use futures::executor::block_on;

    fn from_yaml(yaml: &str) -> SnapshotSource {
        SnapshotSource::from_bytes("test", "test.yaml", yaml.as_bytes()).unwrap()
    }

    fn discovered(source: &SnapshotSource) -> Vec<(String, String, String, bool)> {
        block_on(source.discover())
            .unwrap()
            .into_iter()
            .map(|r| (r.api_version(), r.kind, r.plural, r.namespaced))
            .collect()
    }

    fn resource(source: &SnapshotSource, kind: &str) -> ResourceInfo {
        block_on(source.discover())
            .unwrap()
            .into_iter()
            .find(|r| r.kind == kind)
            .unwrap_or_else(|| panic!("{kind} not discovered"))
    }

    fn objects(source: &SnapshotSource, kind: &str) -> Vec<Value> {
        let stats = Arc::new(ListStats::default());
        let request = ListRequest::default();
        let stream = source.list(&resource(source, kind), request, stats);
        let pages: Vec<Page> = block_on(stream.try_collect()).unwrap();
        pages.into_iter().flat_map(|p| p.objects).collect()
    }

    /// `namespace/name` of every object, page by page, and the stats the list reported.
    fn list(
        source: &SnapshotSource,
        kind: &str,
        request: ListRequest,
    ) -> (Vec<Vec<String>>, Arc<ListStats>) {
        let stats = Arc::new(ListStats::default());
        let stream = source.list(&resource(source, kind), request, stats.clone());
        let pages: Vec<Page> = block_on(stream.try_collect()).unwrap();
        let names = pages
            .iter()
            .map(|p| p.objects.iter().map(id).collect())
            .collect();
        (names, stats)
    }

    fn id(o: &Value) -> String {
        let ns = str_at(o, &["metadata", "namespace"]);
        format!("{ns}/{}", str_at(o, &["metadata", "name"]))
    }

    fn labels(s: &str) -> LabelSelector {
        LabelSelector::parse(s).unwrap()
    }

    fn fields(s: &str) -> FieldSelector {
        FieldSelector::parse(s).unwrap()
    }

    fn entry(a: &str, k: &str, p: &str, n: bool) -> (String, String, String, bool) {
        (a.into(), k.into(), p.into(), n)
    }

    const MULTI_DOC: &str = r#"
---
apiVersion: v1
kind: Namespace
metadata:
  name: shop
---
# a document holding only a comment
---
apiVersion: v1
kind: Pod
metadata:
  name: web-1
  namespace: shop
  labels: {app: web}
  managedFields:
  - manager: kubectl
    operation: Apply
spec:
  nodeName: node-a
status:
  phase: Running
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec: {replicas: 3}
"#;

    #[test]
    fn multi_document_yaml_loads_every_object_and_skips_empty_documents() {
        let source = from_yaml(MULTI_DOC);
        assert_eq!(
            discovered(&source),
            [
                entry("v1", "Namespace", "namespaces", false),
                entry("v1", "Pod", "pods", true),
                entry("apps/v1", "Deployment", "deployments", true),
            ]
        );
        let pods = objects(&source, "Pod");
        assert_eq!(pods.len(), 1);
        assert_eq!(pods[0]["metadata"]["labels"]["app"], "web");
        assert_eq!(pods[0]["status"]["phase"], "Running");
        assert_eq!(objects(&source, "Deployment")[0]["spec"]["replicas"], 3);
        let pod = resource(&source, "Pod");
        assert_eq!(pod.short_names, ["po"]);
        assert_eq!(pod.verbs, ["get", "list", "watch"]);
        assert_eq!(pod.crd, None);
    }

    #[test]
    fn managed_fields_are_dropped_on_load() {
        let pods = objects(&from_yaml(MULTI_DOC), "Pod");
        assert!(pods[0]["metadata"].get("managedFields").is_none());
        assert_eq!(pods[0]["metadata"]["name"], "web-1");
    }

    #[test]
    fn a_typed_list_gives_its_items_their_api_version_and_kind() {
        // A raw LIST response: items carry neither apiVersion nor kind.
        let json = br#"{"apiVersion": "apps/v1", "kind": "DeploymentList", "metadata": {"resourceVersion": "9"},
            "items": [{"metadata": {"name": "api", "namespace": "shop"}},
                      {"metadata": {"name": "web", "namespace": "shop"}}]}"#;
        let source = SnapshotSource::from_bytes("test", "deployments.json", json).unwrap();
        assert_eq!(
            discovered(&source),
            [entry("apps/v1", "Deployment", "deployments", true)]
        );
        let deployments = objects(&source, "Deployment");
        assert_eq!(deployments.len(), 2);
        assert_eq!(deployments[0]["apiVersion"], "apps/v1");
        assert_eq!(deployments[0]["kind"], "Deployment");
    }

    #[test]
    fn kubectl_list_output_and_json_arrays_unpack_into_their_items() {
        let yaml = r#"
apiVersion: v1
kind: List
metadata: {resourceVersion: ""}
items:
- apiVersion: v1
  kind: Node
  metadata: {name: node-a}
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: settings, namespace: shop}
  data: {LEVEL: debug}
"#;
        let source = from_yaml(yaml);
        assert_eq!(
            discovered(&source),
            [
                entry("v1", "ConfigMap", "configmaps", true),
                entry("v1", "Node", "nodes", false),
            ]
        );
        assert_eq!(objects(&source, "ConfigMap")[0]["data"]["LEVEL"], "debug");

        let json = br#"[{"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-b"}},
                        {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-a"}}]"#;
        let source = SnapshotSource::from_bytes("test", "nodes", json).unwrap();
        let (pages, _) = list(&source, "Node", ListRequest::default());
        assert_eq!(pages, [["/node-a", "/node-b"]]);
    }

    #[test]
    fn a_plain_list_item_without_a_kind_is_an_error_naming_the_file_and_item() {
        let yaml = "kind: List\napiVersion: v1\nitems:\n- metadata: {name: x}\n";
        let err = SnapshotSource::from_bytes("test", "dump.yaml", yaml.as_bytes()).unwrap_err();
        let message = err.to_string();
        assert!(matches!(err, Error::Snapshot { ref path, .. } if path == "dump.yaml"));
        assert!(message.contains("document 1, item 1"), "{message}");
        assert!(message.contains("without apiVersion"), "{message}");
    }

    #[test]
    fn broken_files_are_errors_naming_the_file() {
        let err = SnapshotSource::from_bytes("test", "bad.yaml", b"a: [1, 2\nb: c\n").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("snapshot bad.yaml: invalid YAML"),
            "{err}"
        );
        let err = SnapshotSource::from_bytes("test", "bad.json", b"{\"kind\": ").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("snapshot bad.json: invalid JSON"),
            "{err}"
        );
        let err = SnapshotSource::from_bytes("test", "n.yaml", b"42\n").unwrap_err();
        assert!(err.to_string().contains("found a number"), "{err}");

        let dir = tempfile::tempdir().unwrap();
        let err = SnapshotSource::load("test", &dir.path().join("missing.yaml")).unwrap_err();
        assert!(err.to_string().contains("missing.yaml"), "{err}");
        let err = SnapshotSource::load("test", dir.path()).unwrap_err();
        assert!(
            err.to_string().contains("no .yaml, .yml or .json files"),
            "{err}"
        );
    }

    #[test]
    fn a_directory_loads_every_snapshot_file_under_it_in_path_order() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("shop/pods")).unwrap();
        std::fs::create_dir_all(root.join(".git")).unwrap();
        let pod = |name: &str, phase: &str| {
            format!(
                "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: shop}}\nstatus: {{phase: {phase}}}\n"
            )
        };
        std::fs::write(root.join("a.yaml"), pod("web-1", "Pending")).unwrap();
        // Read after a.yaml, so its copy of web-1 wins.
        std::fs::write(root.join("shop/pods/b.yml"), pod("web-1", "Running")).unwrap();
        std::fs::write(
            root.join("shop/c.json"),
            r#"{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}"#,
        )
        .unwrap();
        std::fs::write(root.join("notes.txt"), "not: [yaml").unwrap();
        std::fs::write(root.join(".git/config.yaml"), "not: [yaml").unwrap();

        let source = SnapshotSource::load("disk", root).unwrap();
        assert_eq!(source.cluster(), "disk");
        assert_eq!(
            discovered(&source),
            [
                entry("v1", "Namespace", "namespaces", false),
                entry("v1", "Pod", "pods", true),
            ]
        );
        let pods = objects(&source, "Pod");
        assert_eq!(pods.len(), 1);
        assert_eq!(pods[0]["status"]["phase"], "Running");

        let single = SnapshotSource::load("one", &root.join("a.yaml")).unwrap();
        assert_eq!(objects(&single, "Pod")[0]["status"]["phase"], "Pending");

        std::fs::write(root.join("shop/broken.yaml"), "kind: [").unwrap();
        let err = SnapshotSource::load("disk", root).unwrap_err();
        assert!(err.to_string().contains("broken.yaml"), "{err}");
    }

    const CRDS: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, listKind: WidgetList, shortNames: [wd]}
  versions:
  - name: v1alpha1
    served: true
    storage: false
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec: {type: object, properties: {legacy: {type: string}}}
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              color: {type: string}
              size: {type: integer, format: int32}
              weight: {type: number}
              enabled: {type: boolean}
              tags: {type: array, items: {type: string}}
              port: {x-kubernetes-int-or-string: true}
          status:
            type: object
            properties:
              observedAt: {type: string, format: date-time}
              conditions: {type: array, items: {type: object}}
    additionalPrinterColumns:
    - {name: Color, type: string, jsonPath: .spec.color}
    - {name: Age, type: date, jsonPath: .metadata.creationTimestamp}
  - name: v2beta1
    served: false
    storage: false
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: gadgets.example.com}
spec:
  group: example.com
  scope: Cluster
  names: {plural: gadgets, kind: Gadget}
  versions:
  - {name: v1, served: true, storage: true}
---
apiVersion: example.com/v1
kind: Widget
metadata: {name: blue, namespace: shop}
spec: {color: blue, size: 3}
"#;

    #[test]
    fn crds_in_the_snapshot_are_discovered_with_their_schema_even_without_objects() {
        let source = from_yaml(CRDS);
        assert_eq!(
            discovered(&source),
            [
                entry(
                    "apiextensions.k8s.io/v1",
                    "CustomResourceDefinition",
                    "customresourcedefinitions",
                    false
                ),
                entry("example.com/v1", "Gadget", "gadgets", false),
                entry("example.com/v1", "Widget", "widgets", true),
            ]
        );
        let widget = resource(&source, "Widget");
        assert_eq!(widget.singular, "widget");
        assert_eq!(widget.short_names, ["wd"]);
        assert_eq!(widget.verbs, ["get", "list", "watch"]);
        let crd = widget.crd.unwrap();
        let props: Vec<_> = crd
            .properties
            .iter()
            .map(|p| {
                (
                    p.parent.as_str(),
                    p.name.as_str(),
                    p.r#type.as_str(),
                    p.format.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            props,
            [
                ("spec", "color", "string", None),
                ("spec", "enabled", "boolean", None),
                ("spec", "size", "integer", Some("int32")),
                ("spec", "weight", "number", None),
                ("status", "observedAt", "string", Some("date-time")),
            ]
        );
        assert_eq!(
            crd.printer_columns,
            [
                PrinterColumn {
                    name: "Color".into(),
                    r#type: "string".into(),
                    json_path: ".spec.color".into()
                },
                PrinterColumn {
                    name: "Age".into(),
                    r#type: "date".into(),
                    json_path: ".metadata.creationTimestamp".into()
                },
            ]
        );
        let gadget = resource(&source, "Gadget");
        assert_eq!(gadget.singular, "gadget");
        assert_eq!(gadget.crd, Some(CrdInfo::default()));
        assert!(objects(&source, "Gadget").is_empty());
        assert_eq!(objects(&source, "Widget")[0]["spec"]["color"], "blue");
    }

    #[test]
    fn crd_objects_read_in_an_older_version_are_described_by_that_versions_schema() {
        let yaml = CRDS.replace(
            "apiVersion: example.com/v1\nkind: Widget",
            "apiVersion: example.com/v1alpha1\nkind: Widget",
        );
        let widget = resource(&from_yaml(&yaml), "Widget");
        assert_eq!(widget.api_version(), "example.com/v1alpha1");
        let crd = widget.crd.unwrap();
        assert_eq!(crd.properties.len(), 1);
        assert_eq!(crd.properties[0].name, "legacy");
        assert_eq!(
            resource_from_crd(&objects(&from_yaml(CRDS), "CustomResourceDefinition")[1])
                .unwrap()
                .version,
            "v1"
        );
    }

    #[test]
    fn resource_from_crd_rejects_objects_that_are_not_crds() {
        assert_eq!(resource_from_crd(&serde_json::json!({"spec": {}})), None);
        let v1beta1 = serde_json::json!({"spec": {"group": "old.io", "version": "v1beta1",
            "names": {"kind": "Thing", "plural": "things"},
            "validation": {"openAPIV3Schema": {"properties": {"spec": {"properties": {"n": {"type": "integer"}}}}}},
            "additionalPrinterColumns": [{"name": "N", "type": "integer", "JSONPath": ".spec.n"}]}});
        let info = resource_from_crd(&v1beta1).unwrap();
        assert_eq!((info.version.as_str(), info.namespaced), ("v1beta1", true));
        let crd = info.crd.unwrap();
        assert_eq!(crd.properties[0].name, "n");
        assert_eq!(crd.printer_columns[0].json_path, ".spec.n");
    }

    #[test]
    fn unknown_kinds_get_a_guessed_plural_and_their_objects_scope() {
        let yaml = r#"
apiVersion: gateway.networking.example/v1
kind: Gateway
metadata: {name: edge, namespace: infra}
---
apiVersion: policy.example/v1beta2
kind: FirewallPolicy
metadata: {name: strict}
---
apiVersion: policy.example/v1
kind: FirewallPolicy
metadata: {name: open}
---
apiVersion: mesh.example/v1
kind: Mesh
metadata: {name: m}
"#;
        assert_eq!(
            discovered(&from_yaml(yaml)),
            [
                entry("gateway.networking.example/v1", "Gateway", "gateways", true),
                entry("mesh.example/v1", "Mesh", "meshes", false),
                entry(
                    "policy.example/v1",
                    "FirewallPolicy",
                    "firewallpolicies",
                    false
                ),
            ]
        );
        assert_eq!(guess_plural("Box"), "boxes");
        assert_eq!(guess_plural("Patch"), "patches");
        assert_eq!(guess_plural("Class"), "classes");
    }

    fn pods_yaml() -> String {
        let mut yaml = String::new();
        for (ns, name, app, phase, node) in [
            ("shop", "web-2", "web", "Running", "node-a"),
            ("shop", "web-1", "web", "Running", "node-b"),
            ("shop", "api-1", "api", "Pending", ""),
            ("staging", "web-1", "web", "Failed", "node-a"),
            ("staging", "db-1", "db", "Running", "node-a"),
            ("batch", "job-1", "job", "Succeeded", "node-b"),
            ("batch", "job-2", "job", "Running", "node-b"),
        ] {
            yaml.push_str(&format!(
                "---\napiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: {ns}, labels: {{app: {app}}}}}\n\
                 spec: {{nodeName: '{node}'}}\nstatus: {{phase: {phase}}}\n"
            ));
        }
        yaml.push_str("---\napiVersion: v1\nkind: Node\nmetadata: {name: node-a}\n");
        yaml
    }

    #[test]
    fn list_filters_by_namespace_labels_and_fields_in_namespace_name_order() {
        let source = from_yaml(&pods_yaml());
        let all = |pages: Vec<Vec<String>>| pages.concat();
        let (pages, _) = list(&source, "Pod", ListRequest::default());
        assert_eq!(
            all(pages),
            [
                "batch/job-1",
                "batch/job-2",
                "shop/api-1",
                "shop/web-1",
                "shop/web-2",
                "staging/db-1",
                "staging/web-1"
            ]
        );
        let request = ListRequest {
            namespace: Some("shop".into()),
            ..Default::default()
        };
        assert_eq!(
            all(list(&source, "Pod", request).0),
            ["shop/api-1", "shop/web-1", "shop/web-2"]
        );
        let request = ListRequest {
            labels: labels("app in (web, db)"),
            ..Default::default()
        };
        assert_eq!(
            all(list(&source, "Pod", request).0),
            ["shop/web-1", "shop/web-2", "staging/db-1", "staging/web-1"]
        );
        let request = ListRequest {
            namespace: Some("staging".into()),
            labels: labels("app=web"),
            ..Default::default()
        };
        assert_eq!(all(list(&source, "Pod", request).0), ["staging/web-1"]);
        let request = ListRequest {
            fields: fields("status.phase=Running,spec.nodeName=node-a"),
            ..Default::default()
        };
        assert_eq!(
            all(list(&source, "Pod", request).0),
            ["shop/web-2", "staging/db-1"]
        );
        // A namespace does not hide cluster-scoped objects, as on a live server.
        let request = ListRequest {
            namespace: Some("shop".into()),
            ..Default::default()
        };
        assert_eq!(all(list(&source, "Node", request).0), ["/node-a"]);
    }

    #[test]
    fn list_pages_by_page_size_stops_at_the_limit_and_counts_requests() {
        let source = from_yaml(&pods_yaml());
        let request = ListRequest {
            page_size: 3,
            ..Default::default()
        };
        let (pages, stats) = list(&source, "Pod", request);
        assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [3, 3, 1]);
        assert_eq!(ListStats::get(&stats.requests), 3);
        assert_eq!(ListStats::get(&stats.pages), 3);
        assert_eq!(ListStats::get(&stats.objects), 7);
        assert!(ListStats::get(&stats.bytes) > 7 * 50);

        let request = ListRequest {
            page_size: 3,
            limit: Some(5),
            ..Default::default()
        };
        let (pages, stats) = list(&source, "Pod", request);
        assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [3, 2]);
        assert_eq!(ListStats::get(&stats.objects), 5);

        // Page size 0 is the server default; a page that fills exactly ends the list.
        let request = ListRequest {
            labels: labels("app=web"),
            page_size: 0,
            limit: Some(3),
            ..Default::default()
        };
        let (pages, stats) = list(&source, "Pod", request);
        assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [3]);
        assert_eq!(ListStats::get(&stats.requests), 1);

        // Nothing matching is one request answered with one empty page.
        let request = ListRequest {
            namespace: Some("nowhere".into()),
            ..Default::default()
        };
        let (pages, stats) = list(&source, "Pod", request);
        assert_eq!(pages, [Vec::<String>::new()]);
        assert_eq!(ListStats::get(&stats.requests), 1);

        let request = ListRequest {
            limit: Some(0),
            ..Default::default()
        };
        let (pages, stats) = list(&source, "Pod", request);
        assert!(pages.is_empty());
        assert_eq!(ListStats::get(&stats.requests), 0);
    }

    #[test]
    fn demo_cluster_has_pods_in_every_phase_nodes_and_widgets() {
        let source = demo().unwrap();
        assert_eq!(source.cluster(), "demo");
        let resources = block_on(source.discover()).unwrap();
        let plurals: BTreeSet<_> = resources.iter().map(|r| r.plural.as_str()).collect();
        for plural in [
            "pods",
            "nodes",
            "widgets",
            "namespaces",
            "deployments",
            "events",
        ] {
            assert!(
                plurals.contains(plural),
                "{plural} missing from {plurals:?}"
            );
        }
        let widgets = resource(&source, "Widget");
        assert_eq!(widgets.api_version(), "example.com/v1");
        assert!(!widgets.crd.unwrap().properties.is_empty());

        let pods = objects(&source, "Pod");
        assert!(pods.len() >= 40, "{} pods", pods.len());
        let phases: BTreeSet<_> = pods
            .iter()
            .map(|p| str_at(p, &["status", "phase"]))
            .collect();
        assert_eq!(
            phases.into_iter().collect::<Vec<_>>(),
            ["Failed", "Pending", "Running", "Succeeded", "Unknown"]
        );
        assert_eq!(objects(&source, "Node").len(), 4);
        assert_eq!(objects(&source, "Widget").len(), 5);
        assert!(
            pods.iter()
                .all(|p| p["metadata"].get("managedFields").is_none())
        );
    }
}
