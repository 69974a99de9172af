//! One SQL table: a resource type (by group and plural) across the clusters that serve it, as a
//! DataFusion `TableProvider` whose scan is a [`KubeScanExec`].

use std::collections::BTreeSet;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::Session;
use datafusion::datasource::{TableProvider, TableType};
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use kubepg_kube::pool::ClusterPool;
use kubepg_kube::{ResourceInfo, Source};

use crate::columns::{ColumnSpec, schema_of, table_columns};
use crate::containers;
use crate::identity::SessionIdentity;
use crate::memo::ScanMemo;
use crate::pushdown::classify;
use crate::scan::{KubeScanExec, ScanTarget};
use crate::settings::{Consistency, KubepgSettings};
use crate::warnings::QueryWarnings;

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

/// A [`TableDef`] seen through one session's [`ScanOptions`].
#[derive(Debug)]
pub struct KubeTable {
    pub def: Arc<TableDef>,
    pub options: ScanOptions,
    /// The clusters as other identities, and the watch cache `cached` scans read.
    pub pool: Arc<ClusterPool>,
    pub memo: Arc<ScanMemo>,
}

impl KubeTable {
    /// Where a scan of `source` reads: the shared watch cache when cached and the session
    /// may read it; else the cluster, as the session's identity.
    fn source(&self, source: &Arc<dyn Source>, options: &ScanOptions) -> Result<Arc<dyn Source>> {
        if options.consistency == Consistency::Cached && options.identity.may_read_shared_cache() {
            return Ok(self.pool.watch.cached(source.clone()));
        }
        match &options.identity.impersonate {
            None => Ok(source.clone()),
            Some(identity) => self
                .pool
                .source_as(source, identity)
                .map_err(|e| DataFusionError::External(Box::new(e))),
        }
    }
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
        let settings = KubepgSettings::of(state.config().options());
        options.consistency = settings.consistency;
        if options.consistency == Consistency::Cached && !options.identity.may_read_shared_cache() {
            // The cache holds what kubepg's own identity may list; this session's identity may
            // see less, so it lists live, as itself.
            if let Some(warnings) = state.config().get_extension::<QueryWarnings>() {
                warnings.push(format!(
                    "kubepg.consistency = 'cached' does not apply to a session acting as {}: the watch cache is filled with kubepg's own identity; {} was listed live",
                    options.identity.name(),
                    self.def.name
                ));
            }
            options.consistency = Consistency::Live;
        }
        let refs: Vec<&Expr> = filters.iter().collect();
        let (mut pushdown, _) = classify(&refs, &self.def.columns, self.def.namespaced());
        if self.def.namespaced() && !settings.namespaces.is_empty() {
            // kubepg.namespaces: list those namespaces, or those of the query's that are in it.
            let scope: BTreeSet<String> = settings.namespaces.into_iter().collect();
            pushdown.namespaces = Some(match pushdown.namespaces.take() {
                None => scope,
                Some(named) => named.intersection(&scope).cloned().collect(),
            });
        }
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
            .map(|(s, r)| {
                Ok(ScanTarget {
                    source: self.source(s, &options)?,
                    resource: r.clone(),
                })
            })
            .collect::<Result<Vec<_>>>()?;
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
