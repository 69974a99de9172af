//! What a table is, shared by every session that sees it: a resource type (by group and
//! plural) across the clusters that serve it, its columns and how rows are made; and the
//! per-session options its scans obey.

use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use kubepg_kube::{ResourceInfo, Source};

use crate::columns::{ColumnSpec, schema_of};
use crate::containers;
use crate::identity::SessionIdentity;
use crate::kinds::table_columns;
use crate::settings::Consistency;

/// How rows are made from listed objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rows {
    /// One row per object.
    Objects,
    /// One row per container of each pod.
    Containers,
}

/// A table's definition, shared by every session that sees it.
#[derive(Debug)]
pub struct TableDef {
    pub name: String,
    pub resource: ResourceInfo,
    /// The clusters serving this resource, each with its own preferred version.
    pub serving: Vec<(Arc<dyn Source>, ResourceInfo)>,
    pub columns: Vec<ColumnSpec>,
    pub schema: SchemaRef,
    pub rows: Rows,
}

impl TableDef {
    /// `serving` must not be empty; the first entry with a CRD schema (else the first) shapes
    /// the columns.
    pub fn new(
        name: String,
        serving: Vec<(Arc<dyn Source>, ResourceInfo)>,
        rows: Rows,
    ) -> Option<Self> {
        let resource = serving
            .iter()
            .find(|(_, r)| r.crd.is_some())
            .or_else(|| serving.first())
            .map(|(_, r)| r.clone())?;
        let columns = match rows {
            Rows::Objects => table_columns(&resource),
            Rows::Containers => containers::columns(),
        };
        let schema = schema_of(&columns);
        Some(Self {
            name,
            resource,
            serving,
            columns,
            schema,
            rows,
        })
    }

    pub fn namespaced(&self) -> bool {
        self.resource.namespaced
    }
}

/// Per-session settings a scan obeys.
#[derive(Debug, Clone)]
pub struct ScanOptions {
    /// Clusters a query reads when it names none with `_cluster`.
    pub scope: Vec<String>,
    /// A failing cluster fails the query instead of becoming a warning.
    pub strict: bool,
    /// Show secret values instead of redacting them.
    pub show_secrets: bool,
    pub page_size: u32,
    /// Where rows come from; each scan takes it from its session's `kubepg.consistency`.
    pub consistency: Consistency,
    /// Who the session's requests are made as.
    pub identity: Arc<SessionIdentity>,
}
