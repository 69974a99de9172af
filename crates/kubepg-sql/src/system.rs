//! kubepg's own tables, in schema `kubepg`: the clusters of the pool and the resources each
//! serves (as of the session's discovery), and the watch cache's tables and recent changes (as
//! of each query). The watch cache's tables are refused to sessions that may not read the
//! shared cache ([`SessionIdentity::may_read_shared_cache`]).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use datafusion::arrow::array::{
    ArrayRef, BooleanArray, Int64Array, StringArray, TimestampMicrosecondArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::{MemorySchemaProvider, SchemaProvider, Session, TableProvider};
use datafusion::datasource::{MemTable, TableType};
use datafusion::error::Result;
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;
use kubepg_kube::WatchCache;
use kubepg_kube::watch::ResourceKey;

use crate::catalog::{ClusterStatus, TableSet};
use crate::columns::{ColType, jsonb_field};
use crate::definition::Rows;
use crate::error::Error;
use crate::identity::SessionIdentity;
use crate::jsonb_text::jsonb_text;
use crate::redact;

/// Schema `kubepg` of one session.
pub fn schema(
    clusters: &[ClusterStatus],
    tables: &TableSet,
    cache: &WatchCache,
    show_secrets: bool,
    identity: &Arc<SessionIdentity>,
) -> Result<Arc<dyn SchemaProvider>> {
    let provider = MemorySchemaProvider::new();
    provider.register_table("clusters".into(), clusters_table(clusters)?)?;
    provider.register_table("resources".into(), resources_table(tables)?)?;
    let names = Arc::new(sql_names(tables));
    provider.register_table(
        "tables".into(),
        Arc::new(WatchTables {
            cache: cache.clone(),
            names: names.clone(),
            identity: identity.clone(),
        }),
    )?;
    provider.register_table(
        "changes".into(),
        Arc::new(WatchChanges {
            cache: cache.clone(),
            names,
            show_secrets,
            identity: identity.clone(),
        }),
    )?;
    Ok(Arc::new(provider))
}

/// Refuses a table fed by the shared watch cache to a session that may not read it (42501):
/// the cache lists and watches as kubepg itself, so its objects, changes and even its counts
/// are what kubepg may see, not what the session's identity may.
fn shared_cache_allowed(identity: &SessionIdentity, table: &str) -> Result<()> {
    if identity.may_read_shared_cache() {
        return Ok(());
    }
    Err(datafusion::error::DataFusionError::External(Box::new(
        Error::Forbidden(format!(
            "kubepg.{table} reads the shared watch cache, which kubepg fills with its own identity; this session acts as {}",
            identity.name()
        )),
    )))
}

/// The SQL name of each (group, plural) the session sees.
fn sql_names(tables: &TableSet) -> HashMap<(String, String), String> {
    tables
        .tables()
        .filter(|t| t.rows == Rows::Objects)
        .map(|t| {
            (
                (t.resource.group.clone(), t.resource.plural.clone()),
                t.name.clone(),
            )
        })
        .collect()
}

fn sql_name(names: &HashMap<(String, String), String>, key: &ResourceKey) -> String {
    names
        .get(&(key.group.clone(), key.plural.clone()))
        .cloned()
        .unwrap_or_else(|| {
            if key.group.is_empty() {
                key.plural.clone()
            } else {
                format!("{}.{}", key.plural, key.group)
            }
        })
}

fn micros(t: SystemTime) -> Option<i64> {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .ok()
        .and_then(|d| i64::try_from(d.as_micros()).ok())
}

fn timestamptz(name: &str) -> Field {
    Field::new(name, ColType::Timestamp.arrow(), true)
}

fn timestamps(values: Vec<Option<i64>>) -> ArrayRef {
    Arc::new(TimestampMicrosecondArray::from(values).with_timezone("UTC"))
}

/// Answers a scan from one batch computed now.
async fn scan_batch(
    state: &dyn Session,
    batch: RecordBatch,
    projection: Option<&Vec<usize>>,
    filters: &[Expr],
    limit: Option<usize>,
) -> Result<Arc<dyn ExecutionPlan>> {
    MemTable::try_new(batch.schema(), vec![vec![batch]])?
        .scan(state, projection, filters, limit)
        .await
}

/// `kubepg.tables`: every table the watch cache holds, one row per (cluster, table).
#[derive(Debug)]
struct WatchTables {
    cache: WatchCache,
    names: Arc<HashMap<(String, String), String>>,
    identity: Arc<SessionIdentity>,
}

impl WatchTables {
    fn schema_ref() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("cluster", DataType::Utf8, false),
            Field::new("table", DataType::Utf8, false),
            Field::new("mode", DataType::Utf8, false),
            Field::new("objects", DataType::Int64, false),
            Field::new("bytes", DataType::Int64, false),
            Field::new("synced", DataType::Boolean, false),
            timestamptz("last_event"),
            Field::new("error", DataType::Utf8, true),
        ]))
    }
}

#[async_trait]
impl TableProvider for WatchTables {
    fn schema(&self) -> SchemaRef {
        Self::schema_ref()
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        shared_cache_allowed(&self.identity, "tables")?;
        let rows = self.cache.entries();
        let int = |f: &dyn Fn(&kubepg_kube::watch::ResourceStatus) -> u64| -> ArrayRef {
            Arc::new(Int64Array::from(
                rows.iter()
                    .map(|r| i64::try_from(f(r)).unwrap_or(i64::MAX))
                    .collect::<Vec<_>>(),
            ))
        };
        let batch = RecordBatch::try_new(
            Self::schema_ref(),
            vec![
                text(rows.iter().map(|r| Some(r.key.cluster.clone())).collect()),
                text(
                    rows.iter()
                        .map(|r| Some(sql_name(&self.names, &r.key)))
                        .collect(),
                ),
                text(rows.iter().map(|r| Some(r.state.to_string())).collect()),
                int(&|r| r.objects),
                int(&|r| r.bytes),
                Arc::new(BooleanArray::from(
                    rows.iter().map(|r| r.synced).collect::<Vec<_>>(),
                )),
                timestamps(rows.iter().map(|r| r.last_event.and_then(micros)).collect()),
                text(rows.iter().map(|r| r.error.clone()).collect()),
            ],
        )?;
        scan_batch(state, batch, projection, filters, limit).await
    }
}

/// `kubepg.changes`: the recent changes the watch cache applied, oldest first; Secret values
/// redacted like everywhere else.
#[derive(Debug)]
struct WatchChanges {
    cache: WatchCache,
    names: Arc<HashMap<(String, String), String>>,
    show_secrets: bool,
    identity: Arc<SessionIdentity>,
}

impl WatchChanges {
    fn schema_ref() -> SchemaRef {
        let object = jsonb_field("object", true);
        Arc::new(Schema::new(vec![
            timestamptz("time"),
            Field::new("cluster", DataType::Utf8, false),
            Field::new("table", DataType::Utf8, false),
            Field::new("type", DataType::Utf8, false),
            Field::new("namespace", DataType::Utf8, true),
            Field::new("name", DataType::Utf8, false),
            Field::new("uid", DataType::Utf8, false),
            Field::new("resource_version", DataType::Utf8, false),
            object,
        ]))
    }

    fn object(&self, change: &kubepg_kube::watch::Change) -> String {
        let redact = !self.show_secrets && redact::is_secret(&change.key.group, &change.key.plural);
        match serde_json::from_slice(&change.object) {
            Ok(mut value) => {
                if redact {
                    redact::redact_secret(&mut value);
                }
                jsonb_text(&value)
            }
            // Never show what could not be redacted.
            Err(_) if redact => String::new(),
            Err(_) => String::from_utf8_lossy(&change.object).into_owned(),
        }
    }
}

#[async_trait]
impl TableProvider for WatchChanges {
    fn schema(&self) -> SchemaRef {
        Self::schema_ref()
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        shared_cache_allowed(&self.identity, "changes")?;
        let rows = self.cache.changes();
        let column = |f: &dyn Fn(&kubepg_kube::watch::Change) -> Option<String>| {
            text(rows.iter().map(|r| f(r)).collect())
        };
        let batch = RecordBatch::try_new(
            Self::schema_ref(),
            vec![
                timestamps(rows.iter().map(|r| micros(r.time)).collect()),
                column(&|r| Some(r.key.cluster.clone())),
                column(&|r| Some(sql_name(&self.names, &r.key))),
                column(&|r| Some(r.kind.as_str().to_string())),
                column(&|r| (!r.namespace.is_empty()).then(|| r.namespace.clone())),
                column(&|r| Some(r.name.clone())),
                column(&|r| Some(r.uid.clone())),
                column(&|r| Some(r.resource_version.clone())),
                column(&|r| Some(self.object(r))),
            ],
        )?;
        scan_batch(state, batch, projection, filters, limit).await
    }
}

fn text(values: Vec<Option<String>>) -> ArrayRef {
    Arc::new(StringArray::from(values))
}

fn clusters_table(clusters: &[ClusterStatus]) -> Result<Arc<MemTable>> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("name", DataType::Utf8, false),
        Field::new("in_scope", DataType::Boolean, false),
        Field::new("reachable", DataType::Boolean, false),
        Field::new("resources", DataType::Int64, true),
        Field::new("error", DataType::Utf8, true),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            text(clusters.iter().map(|c| Some(c.name.clone())).collect()),
            Arc::new(BooleanArray::from(
                clusters.iter().map(|c| c.in_scope).collect::<Vec<_>>(),
            )),
            Arc::new(BooleanArray::from(
                clusters
                    .iter()
                    .map(|c| c.error.is_none())
                    .collect::<Vec<_>>(),
            )),
            Arc::new(Int64Array::from(
                clusters
                    .iter()
                    .map(|c| c.resources.map(|r| r as i64))
                    .collect::<Vec<_>>(),
            )),
            text(clusters.iter().map(|c| c.error.clone()).collect()),
        ],
    )?;
    Ok(Arc::new(MemTable::try_new(schema, vec![vec![batch]])?))
}

fn resources_table(tables: &TableSet) -> Result<Arc<MemTable>> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("table_name", DataType::Utf8, false),
        Field::new("cluster", DataType::Utf8, false),
        Field::new("group", DataType::Utf8, false),
        Field::new("version", DataType::Utf8, false),
        Field::new("kind", DataType::Utf8, false),
        Field::new("namespaced", DataType::Boolean, false),
        Field::new("short_names", DataType::Utf8, true),
    ]));
    let mut rows = Vec::new();
    for t in tables.tables() {
        for (source, r) in &t.serving {
            rows.push((t.name.clone(), source.cluster().to_string(), r.clone()));
        }
    }
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            text(rows.iter().map(|(t, ..)| Some(t.clone())).collect()),
            text(rows.iter().map(|(_, c, _)| Some(c.clone())).collect()),
            text(rows.iter().map(|(.., r)| Some(r.group.clone())).collect()),
            text(rows.iter().map(|(.., r)| Some(r.version.clone())).collect()),
            text(rows.iter().map(|(.., r)| Some(r.kind.clone())).collect()),
            Arc::new(BooleanArray::from(
                rows.iter().map(|(.., r)| r.namespaced).collect::<Vec<_>>(),
            )),
            text(
                rows.iter()
                    .map(|(.., r)| (!r.short_names.is_empty()).then(|| r.short_names.join(",")))
                    .collect(),
            ),
        ],
    )?;
    Ok(Arc::new(MemTable::try_new(schema, vec![vec![batch]])?))
}
