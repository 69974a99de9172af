//! The one interface every object source implements: live clusters, watch caches, snapshots.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use futures::stream::BoxStream;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Result;
use crate::selector::{FieldSelector, LabelSelector};

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

    /// Every listable resource type, preferred versions only.
    async fn discover(&self) -> Result<Vec<ResourceInfo>>;

    /// The objects of one resource type, page by page, as they arrive.
    fn list(
        &self,
        resource: &ResourceInfo,
        request: ListRequest,
        stats: Arc<ListStats>,
    ) -> BoxStream<'static, Result<Page>>;
}
