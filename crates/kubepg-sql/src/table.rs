//! One SQL table as a session sees it: a [`TableDef`] under the session's scan options, as a
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
use kubepg_kube::Source;
use kubepg_kube::pool::ClusterPool;

use crate::definition::{ScanOptions, TableDef};
use crate::memo::ScanMemo;
use crate::pushdown::classify;
use crate::scan::{KubeScanExec, ScanTarget};
use crate::settings::{Consistency, KubepgSettings};
use crate::warnings::QueryWarnings;

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
