//! The one interface every object source implements: live clusters, watch caches, snapshots.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use futures::stream::BoxStream;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Result;
use crate::identity::Identity;
use crate::raw::RawObject;
use crate::selector::{FieldSelector, LabelSelector};

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

/// The pages a LIST of objects a source holds itself (a snapshot's, a watch cache's) returns:
/// those `request` selects, `page_size` at a time (a live LIST's 500 for 0), up to its limit.
/// `objects` gives each object, or why it could not be read, with its size in bytes.
/// `as_requests`: each page counts as an API request, and a LIST that selects nothing is one
/// empty page, as a cluster would answer; otherwise no page is empty.
pub fn paginate<I>(
    objects: I,
    namespaced: bool,
    request: ListRequest,
    stats: Arc<ListStats>,
    as_requests: bool,
) -> Paginate<I>
where
    I: Iterator<Item = Result<(Value, u64)>>,
{
    Paginate {
        page_size: match request.page_size {
            0 => 500,
            n => n as usize,
        },
        objects,
        namespaced,
        request,
        stats,
        as_requests,
        emitted: 0,
        pages: 0,
    }
}

/// See [`paginate`].
pub struct Paginate<I> {
    objects: I,
    namespaced: bool,
    page_size: usize,
    request: ListRequest,
    stats: Arc<ListStats>,
    as_requests: bool,
    emitted: u64,
    pages: u64,
}

impl<I> Iterator for Paginate<I>
where
    I: Iterator<Item = Result<(Value, u64)>>,
{
    type Item = Result<Page>;

    fn next(&mut self) -> Option<Result<Page>> {
        let remaining = self
            .request
            .limit
            .map_or(u64::MAX, |limit| limit.saturating_sub(self.emitted));
        let want = usize::try_from(remaining).map_or(self.page_size, |r| r.min(self.page_size));
        if want == 0 {
            return None;
        }
        let mut objects = Vec::new();
        let mut bytes = 0;
        while objects.len() < want {
            match self.objects.next() {
                None => break,
                Some(Err(e)) => return Some(Err(e)),
                Some(Ok((object, size))) => {
                    if self.request.selects(self.namespaced, &object) {
                        bytes += size;
                        objects.push(object);
                    }
                }
            }
        }
        if objects.is_empty() && (self.pages > 0 || !self.as_requests) {
            return None;
        }
        self.pages += 1;
        self.emitted += objects.len() as u64;
        if self.as_requests {
            self.stats.add(&self.stats.requests, 1);
        }
        self.stats.add(&self.stats.pages, 1);
        self.stats.add(&self.stats.objects, objects.len() as u64);
        self.stats.add(&self.stats.bytes, bytes);
        Some(Ok(Page { objects }))
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
