//! Snapshot files as a [`Source`]: the same discovery and paged, filtered LIST as a live cluster,
//! over objects read once from YAML or JSON files (`kubectl get -o yaml|json` output, manifests,
//! directories of them) or from the embedded demo cluster.
//!
//! This module owns the objects and their lists (filtered by [`crate::source::paginate`], as
//! the API server would); [`files`] reads the files, [`infer`] derives what a cluster's
//! discovery would have said about kinds no CRD in the snapshot describes
//! ([`crate::crd`] reads those that one does).

mod files;
mod infer;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use futures::StreamExt;
use futures::stream::{self, BoxStream};
use serde_json::Value;

use crate::crd::{crd_resource, resource_from_crd};
use crate::source::paginate;
use crate::{Error, ListRequest, ListStats, Page, ResourceInfo, Result, Source};
use files::{parse, walk};
use infer::{newest_version, resource_from_objects};

/// The demo cluster, written by `cargo run -p kubepg-testkit --example demo_snapshot` from a real,
/// seeded API server.
const DEMO: &[u8] = include_bytes!("../../demo/demo.json");

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
        let objects =
            (0..entries.len()).map(move |i| Ok((entries[i].object.clone(), entries[i].bytes)));
        // A snapshot answers like a cluster: one request per page, and a LIST that matches
        // nothing is one request with one empty page.
        stream::iter(paginate(objects, resource.namespaced, request, stats, true)).boxed()
    }
}

pub(super) fn snapshot_error(path: impl AsRef<Path>, message: impl std::fmt::Display) -> Error {
    Error::Snapshot {
        path: path.as_ref().display().to_string(),
        message: message.to_string(),
    }
}

/// The string at a path of keys, or "" when any step is missing or not a string.
pub(super) fn str_at<'a>(object: &'a Value, path: &[&str]) -> &'a str {
    let mut v = Some(object);
    for key in path {
        v = v.and_then(|v| v.get(key));
    }
    v.and_then(Value::as_str).unwrap_or_default()
}

/// (`group`, `version`) of `group/version`; the core group is "".
pub(super) fn split_api_version(api_version: &str) -> (&str, &str) {
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

#[cfg(test)]
mod tests;
