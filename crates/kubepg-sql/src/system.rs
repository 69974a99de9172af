//! kubepg's own tables, in schema `kubepg`: the clusters of the pool and the resources each
//! serves, as of the session's discovery.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, BooleanArray, Int64Array, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::MemorySchemaProvider;
use datafusion::catalog::SchemaProvider;
use datafusion::datasource::MemTable;
use datafusion::error::Result;

use crate::catalog::TableSet;

/// What discovery found for one cluster.
#[derive(Debug, Clone)]
pub struct ClusterStatus {
    pub name: String,
    pub in_scope: bool,
    pub resources: Option<usize>,
    pub error: Option<String>,
}

pub fn schema(clusters: &[ClusterStatus], tables: &TableSet) -> Result<Arc<dyn SchemaProvider>> {
    let provider = MemorySchemaProvider::new();
    provider.register_table("clusters".into(), clusters_table(clusters)?)?;
    provider.register_table("resources".into(), resources_table(tables)?)?;
    Ok(Arc::new(provider))
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
