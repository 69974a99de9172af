//! The scan of one table: list requests to every chosen cluster (and namespace) at once, each
//! page turned into a record batch as it arrives.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::metrics::{
    Count, ExecutionPlanMetricsSet, MetricBuilder, MetricsSet,
};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    ChildrenPropertiesMode, DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning,
    PlanProperties, ReplaceChildrenOptions,
};
use futures::{StreamExt, TryStreamExt, stream};
use kubepg_kube::source::ListStats;
use kubepg_kube::{ListRequest, ResourceInfo, Source};

use crate::containers;
use crate::convert::Converter;
use crate::definition::{Rows, ScanOptions, TableDef};
use crate::memo::ScanMemo;
use crate::pushdown::Pushdown;
use crate::redact;
use crate::warnings::QueryWarnings;

/// One cluster a scan reads, with the resource as that cluster serves it.
#[derive(Debug, Clone)]
pub struct ScanTarget {
    pub source: Arc<dyn Source>,
    pub resource: ResourceInfo,
}

#[derive(Debug)]
pub struct KubeScanExec {
    def: Arc<TableDef>,
    targets: Vec<ScanTarget>,
    pushdown: Pushdown,
    projection: Option<Vec<usize>>,
    limit: Option<usize>,
    options: ScanOptions,
    memo: Arc<ScanMemo>,
    schema: SchemaRef,
    properties: Arc<PlanProperties>,
    metrics: ExecutionPlanMetricsSet,
}

impl KubeScanExec {
    pub fn new(
        def: Arc<TableDef>,
        targets: Vec<ScanTarget>,
        pushdown: Pushdown,
        projection: Option<Vec<usize>>,
        limit: Option<usize>,
        options: ScanOptions,
        memo: Arc<ScanMemo>,
    ) -> Result<Self> {
        let schema = match &projection {
            Some(p) => Arc::new(def.schema.project(p)?),
            None => def.schema.clone(),
        };
        let properties = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(schema.clone()),
            Partitioning::UnknownPartitioning(1),
            EmissionType::Incremental,
            Boundedness::Bounded,
        ));
        Ok(Self {
            def,
            targets,
            pushdown,
            projection,
            limit,
            options,
            memo,
            schema,
            properties,
            metrics: ExecutionPlanMetricsSet::new(),
        })
    }

    fn namespaces(&self) -> Vec<Option<String>> {
        match &self.pushdown.namespaces {
            Some(set) if self.def.namespaced() => set.iter().cloned().map(Some).collect(),
            _ => vec![None],
        }
    }

    fn projected_columns(&self) -> Vec<crate::columns::ColumnSpec> {
        match &self.projection {
            Some(p) => p.iter().map(|&i| self.def.columns[i].clone()).collect(),
            None => self.def.columns.clone(),
        }
    }
}

impl DisplayAs for KubeScanExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let clusters: Vec<&str> = self.targets.iter().map(|t| t.source.cluster()).collect();
        write!(
            f,
            "KubeScanExec: table={}, clusters=[{}]",
            self.def.name,
            clusters.join(", ")
        )?;
        if let Some(ns) = &self.pushdown.namespaces {
            write!(
                f,
                ", namespaces=[{}]",
                ns.iter().cloned().collect::<Vec<_>>().join(", ")
            )?;
        }
        if let Some(l) = self.pushdown.labels.to_query() {
            write!(f, ", labelSelector={l}")?;
        }
        if let Some(fs) = self.pushdown.fields.to_query() {
            write!(f, ", fieldSelector={fs}")?;
        }
        if let Some(limit) = self.limit {
            write!(f, ", limit={limit}")?;
        }
        if self.options.consistency == crate::settings::Consistency::Cached {
            write!(f, ", consistency=cached")?;
        }
        if let Some(identity) = &self.options.identity.impersonate {
            write!(f, ", as_user={}", identity.user)?;
            if !identity.groups.is_empty() {
                write!(f, ", as_groups=[{}]", identity.groups.join(", "))?;
            }
        }
        Ok(())
    }
}

impl ExecutionPlan for KubeScanExec {
    fn name(&self) -> &'static str {
        "KubeScanExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn replace_children(
        self: Arc<Self>,
        _: Vec<Arc<dyn ExecutionPlan>>,
        _: ReplaceChildrenOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(self)
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.replace_children(
            children,
            ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute),
        )
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }

    fn execute(
        &self,
        _partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let warnings = context
            .session_config()
            .get_extension::<QueryWarnings>()
            .map(|w| (*w).clone())
            .unwrap_or_default();
        let stats = Arc::new(ListStats::default());
        let failures: Arc<Mutex<Vec<kubepg_kube::Error>>> = Arc::default();
        let projected = self.projected_columns();
        let redact = !self.options.show_secrets
            && redact::is_secret(&self.def.resource.group, &self.def.resource.plural);
        let rows = self.def.rows;
        let strict = self.options.strict;
        let clusters = self.targets.len();

        // Everything besides the objects that decides a cached scan's batches: the columns by
        // name and type (a table's columns can change with its CRD), the request, redaction.
        let columns: Vec<String> = projected
            .iter()
            .map(|c| format!("{}:{:?}", c.name, c.ty))
            .collect();
        let shape = format!(
            "{columns:?}|{:?}|{:?}|{:?}|{:?}|{redact}|{rows:?}",
            self.pushdown.namespaces, self.pushdown.labels, self.pushdown.fields, self.limit,
        );
        let mut per_cluster = Vec::new();
        for target in &self.targets {
            // A source that can name its objects' state (the watch cache) gets the batches a
            // scan of the same shape built at the same state; revisions are unique across
            // tables, so they name the cluster and resource too.
            let memo_key = target
                .source
                .revision(&target.resource)
                .map(|revision| format!("{revision}|{shape}"));
            if let Some(batches) = memo_key.as_deref().and_then(|k| self.memo.get(k)) {
                let batches: Vec<RecordBatch> = batches.iter().cloned().collect();
                per_cluster.push(stream::iter(batches.into_iter().map(Ok)).boxed());
                continue;
            }
            let built: Arc<Mutex<Option<Vec<RecordBatch>>>> =
                Arc::new(Mutex::new(memo_key.as_ref().map(|_| Vec::new())));
            let converter = Converter::new(
                &self.def.columns,
                projected.clone(),
                self.schema.clone(),
                target.source.cluster(),
                &target.resource.api_version(),
                &target.resource.kind,
            );
            let lists = self.namespaces().into_iter().map(|namespace| {
                target.source.list(
                    &target.resource,
                    ListRequest {
                        namespace,
                        labels: self.pushdown.labels.clone(),
                        fields: self.pushdown.fields.clone(),
                        page_size: self.options.page_size,
                        limit: self.limit.map(|l| l as u64),
                    },
                    stats.clone(),
                )
            });
            let failures = failures.clone();
            let kept = built.clone();
            let memo = self.memo.clone();
            let cluster_stream = stream::select_all(lists)
                .map_ok(move |mut page| {
                    if redact {
                        page.objects.iter_mut().for_each(redact::redact_secret);
                    }
                    if rows == Rows::Containers {
                        page.objects = page.objects.iter().flat_map(containers::expand).collect();
                    }
                    page
                })
                .filter_map(move |page| {
                    let converter = converter.clone();
                    let failures = failures.clone();
                    let built = built.clone();
                    async move {
                        // Only a scan that saw every page without a failure is worth keeping.
                        let mut built = built.lock().unwrap_or_else(PoisonError::into_inner);
                        match page {
                            Ok(page) if page.objects.is_empty() => None,
                            Ok(page) => {
                                let batch = converter.convert(&page.objects);
                                match (&batch, built.as_mut()) {
                                    (Ok(b), Some(kept)) => kept.push(b.clone()),
                                    (Err(_), _) => *built = None,
                                    _ => {}
                                }
                                Some(batch)
                            }
                            Err(e) if strict || clusters == 1 => {
                                *built = None;
                                Some(Err(DataFusionError::External(Box::new(e))))
                            }
                            Err(e) => {
                                *built = None;
                                if let Ok(mut f) = failures.lock() {
                                    f.push(e);
                                }
                                None
                            }
                        }
                    }
                })
                .chain(
                    stream::once(async move {
                        let batches = kept.lock().unwrap_or_else(PoisonError::into_inner).take();
                        if let (Some(key), Some(batches)) = (memo_key, batches) {
                            memo.insert(key, batches);
                        }
                        None
                    })
                    .filter_map(|none: Option<Result<RecordBatch>>| async move { none }),
                );
            per_cluster.push(cluster_stream.boxed());
        }

        let report = ReportOnDrop {
            requests: MetricBuilder::new(&self.metrics).global_counter("requests"),
            pages: MetricBuilder::new(&self.metrics).global_counter("pages"),
            bytes: MetricBuilder::new(&self.metrics).global_counter("bytes"),
            objects: MetricBuilder::new(&self.metrics).global_counter("objects"),
            stats,
        };
        let finish = stream::once(async move {
            drop(report);
            let mut failed = failures
                .lock()
                .map(|mut f| std::mem::take(&mut *f))
                .unwrap_or_default();
            let mut failed_clusters: Vec<&str> =
                failed.iter().filter_map(|e| e.cluster()).collect();
            failed_clusters.sort_unstable();
            failed_clusters.dedup();
            if !failed.is_empty() && failed_clusters.len() >= clusters {
                return Some(Err(DataFusionError::External(Box::new(failed.remove(0)))));
            }
            for e in failed {
                let cluster = e.cluster().unwrap_or("?").to_string();
                warnings.push(format!("cluster {cluster} left out of the result: {e}"));
            }
            None
        })
        .filter_map(|x| async move { x });
        let merged = stream::select_all(per_cluster).chain(finish);
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            self.schema.clone(),
            merged,
        )))
    }
}

/// Adds what a scan's lists did to its `EXPLAIN ANALYZE` metrics when dropped: at the end of
/// the scan, or earlier when a LIMIT stops reading and the stream is dropped unfinished.
struct ReportOnDrop {
    stats: Arc<ListStats>,
    requests: Count,
    pages: Count,
    bytes: Count,
    objects: Count,
}

impl Drop for ReportOnDrop {
    fn drop(&mut self) {
        self.requests
            .add(ListStats::get(&self.stats.requests) as usize);
        self.pages.add(ListStats::get(&self.stats.pages) as usize);
        self.bytes.add(ListStats::get(&self.stats.bytes) as usize);
        self.objects
            .add(ListStats::get(&self.stats.objects) as usize);
    }
}
