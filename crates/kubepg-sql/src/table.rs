//! One SQL table: a resource type (by group and plural) across the clusters that serve it, as a
//! DataFusion `TableProvider` whose scan is a [`KubeScanExec`].

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::Session;
use datafusion::datasource::{TableProvider, TableType};
use datafusion::error::Result;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use kubepg_kube::{ResourceInfo, Source, WatchCache};

use crate::columns::{ColumnSpec, schema_of, table_columns};
use crate::containers;
use crate::memo::ScanMemo;
use crate::pushdown::classify;
use crate::scan::{KubeScanExec, ScanTarget};
use crate::settings::{Consistency, KubepgSettings};

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
}

/// A [`TableDef`] seen through one session's [`ScanOptions`].
#[derive(Debug)]
pub struct KubeTable {
    pub def: Arc<TableDef>,
    pub options: ScanOptions,
    /// What `cached` scans read.
    pub watch: WatchCache,
    pub memo: Arc<ScanMemo>,
}

#[async_trait]
impl TableProvider for KubeTable {
    fn schema(&self) -> SchemaRef {
        self.def.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        Ok(classify(filters, &self.def.columns, self.def.namespaced()).1)
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let mut options = self.options.clone();
        options.consistency = KubepgSettings::of(state.config().options()).consistency;
        let refs: Vec<&Expr> = filters.iter().collect();
        let (pushdown, _) = classify(&refs, &self.def.columns, self.def.namespaced());
        let targets = self
            .def
            .serving
            .iter()
            .filter(|(s, _)| {
                let name = s.cluster();
                if pushdown.clusters.is_empty() {
                    self.options.scope.iter().any(|c| c == name)
                } else {
                    pushdown.clusters.iter().all(|patterns| {
                        patterns
                            .iter()
                            .any(|p| p == "*" || kubepg_kube::pool::matches_pattern(p, name))
                    })
                }
            })
            .map(|(s, r)| ScanTarget {
                source: match options.consistency {
                    Consistency::Live => s.clone(),
                    Consistency::Cached => self.watch.cached(s.clone()),
                },
                resource: r.clone(),
            })
            .collect();
        Ok(Arc::new(KubeScanExec::new(
            self.def.clone(),
            targets,
            pushdown,
            projection.cloned(),
            limit,
            options,
            self.memo.clone(),
        )?))
    }
}
