//! The one interface every object source implements: live clusters, watch caches, snapshots.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use futures::stream::BoxStream;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Result;
use crate::identity::Identity;
use crate::selector::{FieldSelector, LabelSelector};
use crate::watch::RawObject;

/// What a watch of one resource type yields: kube-runtime's watcher events (`Init`,
/// `InitApply`, `InitDone` around every full list; `Apply` and `Delete` while watching) over
/// objects kept as the JSON the server sent.
pub type WatchEvent = kube::runtime::watcher::Event<RawObject>;

/// One listable resource type as a cluster serves it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceInfo {
    /// Empty for the core group.
    pub group: String,
    /// The preferred version.
    pub version: String,
    pub kind: String,
    pub plural: String,
    pub singular: String,
    #[serde(default)]
    pub short_names: Vec<String>,
    pub namespaced: bool,
    #[serde(default)]
    pub verbs: Vec<String>,
    /// For custom resources: what the CRD says about the shape of its objects.
    #[serde(default)]
    pub crd: Option<CrdInfo>,
}

impl ResourceInfo {
    /// `v1` or `group/version`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// The path of the collection, in one namespace or across all.
    pub fn list_path(&self, namespace: Option<&str>) -> String {
        let base = if self.group.is_empty() {
            format!("/api/{}", self.version)
        } else {
            format!("/apis/{}/{}", self.group, self.version)
        };
        match namespace {
            Some(ns) if self.namespaced => format!("{base}/namespaces/{ns}/{}", self.plural),
            _ => format!("{base}/{}", self.plural),
        }
    }

    pub fn can_list(&self) -> bool {
        self.verbs.iter().any(|v| v == "list")
    }
}

/// The parts of a CustomResourceDefinition that give its table typed columns.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CrdInfo {
    /// Top-level scalar properties of `spec` and `status`: (`spec`|`status`, name, type, format).
    pub properties: Vec<CrdProperty>,
    pub printer_columns: Vec<PrinterColumn>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CrdProperty {
    pub parent: String,
    pub name: String,
    /// OpenAPI type: string, integer, number, boolean.
    pub r#type: String,
    #[serde(default)]
    pub format: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrinterColumn {
    pub name: String,
    pub r#type: String,
    pub json_path: String,
}

/// What to list: the API does the filtering it can, the caller re-checks the rest.
#[derive(Debug, Clone, Default)]
pub struct ListRequest {
    /// `None`: across all namespaces (or a cluster-scoped resource).
    pub namespace: Option<String>,
    pub labels: LabelSelector,
    pub fields: FieldSelector,
    /// Objects per page.
    pub page_size: u32,
    /// Stop paging once this many objects were returned (LIMIT without ORDER BY).
    pub limit: Option<u64>,
}

impl ListRequest {
    /// How many objects the next page may hold once `emitted` were returned: `page_size`, or
    /// what the limit leaves; 0 when the list is done. Sources that page through objects they
    /// hold (snapshots, watch caches) page with it.
    pub fn next_page_len(&self, emitted: u64, page_size: usize) -> usize {
        let remaining = self
            .limit
            .map_or(u64::MAX, |limit| limit.saturating_sub(emitted));
        usize::try_from(remaining).map_or(page_size, |r| r.min(page_size))
    }

    /// Whether `object` is one this request selects, evaluated the way the API server does:
    /// the namespace (meaningless for cluster-scoped resources), then the label and field
    /// selectors. Sources that hold objects themselves (snapshots, watch caches) list with it.
    pub fn selects(&self, namespaced: bool, object: &Value) -> bool {
        let metadata = object.get("metadata");
        if namespaced
            && let Some(ns) = &self.namespace
            && metadata
                .and_then(|m| m.get("namespace"))
                .and_then(Value::as_str)
                .unwrap_or_default()
                != ns
        {
            return false;
        }
        let labels = metadata
            .and_then(|m| m.get("labels"))
            .and_then(Value::as_object);
        (self.labels.is_empty() || self.labels.matches(labels))
            && (self.fields.is_empty() || self.fields.matches(object))
    }
}

/// One page of objects, as parsed JSON.
#[derive(Debug, Default)]
pub struct Page {
    pub objects: Vec<Value>,
}

/// Counters of the requests a list made, shared with whoever reports them (EXPLAIN ANALYZE,
/// metrics).
#[derive(Debug, Default)]
pub struct ListStats {
    pub requests: AtomicU64,
    pub pages: AtomicU64,
    pub bytes: AtomicU64,
    pub objects: AtomicU64,
    pub retries: AtomicU64,
}

impl ListStats {
    pub fn add(&self, counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// Where objects come from.
#[async_trait]
pub trait Source: Send + Sync + std::fmt::Debug {
    /// The cluster name this source answers for.
    fn cluster(&self) -> &str;

    /// Identifies the cluster in the on-disk discovery cache; `None` keeps discovery in memory
    /// only (sources that are cheap to discover).
    fn cache_key(&self) -> Option<&str> {
        None
    }

    /// This cluster reached as `identity` (Kubernetes impersonation): a source whose requests
    /// carry `Impersonate-User` and `Impersonate-Group`, so the identity's RBAC decides what
    /// they return. `None` when the source has no RBAC to defer to (a snapshot): its objects are
    /// what the operator gave kubepg, and the source itself answers for every identity.
    fn impersonating(&self, _identity: &Identity) -> Result<Option<Arc<dyn Source>>> {
        Ok(None)
    }

    /// Every listable resource type, preferred versions only.
    async fn discover(&self) -> Result<Vec<ResourceInfo>>;

    /// The objects of one resource type, page by page, as they arrive.
    fn list(
        &self,
        resource: &ResourceInfo,
        request: ListRequest,
        stats: Arc<ListStats>,
    ) -> BoxStream<'static, Result<Page>>;

    /// Names the state of the objects a list of `resource` would return now: two lists at the
    /// same revision return the same objects, so what was computed from one can stand for the
    /// other. `None` when the source cannot tell (a live cluster changes unseen).
    fn revision(&self, _resource: &ResourceInfo) -> Option<u64> {
        None
    }

    /// Whether [`Source::watch`] follows changes; a source that cannot watch (a snapshot never
    /// changes) is its own cache.
    fn can_watch(&self) -> bool {
        false
    }

    /// Every object of one resource type and then every change to them: list, watch from the
    /// list's resourceVersion with bookmarks, list again on 410, reconnect with backoff. Errors
    /// are items; the stream goes on after them. `None` when the source cannot watch.
    fn watch(
        &self,
        _resource: &ResourceInfo,
        _options: &WatchOptions,
    ) -> Option<BoxStream<'static, Result<WatchEvent>>> {
        None
    }
}

/// How a source watches.
#[derive(Debug, Clone, Default)]
pub struct WatchOptions {
    /// How long the server keeps one watch request open before the watcher starts the next
    /// (from the last resourceVersion it saw); `None` is kube-runtime's default.
    pub request_timeout: Option<std::time::Duration>,
}
