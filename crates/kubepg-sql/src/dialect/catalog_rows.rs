//! Reading pg_catalog's tables back as Rust values: the corrections in `pg_catalog.rs` and
//! `primary_keys.rs` both need relations, schemas and oids of the session's catalog.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{AsArray, Int64Array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Int64Type};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::{Session, TableProvider};
use datafusion::error::{DataFusionError, Result};

pub(super) async fn rows(
    table: &Arc<dyn TableProvider>,
    state: &dyn Session,
) -> Result<Vec<RecordBatch>> {
    let plan = table.scan(state, None, &[], None).await?;
    datafusion::physical_plan::collect(plan, state.task_ctx()).await
}

/// `pg_namespace`'s schema names by oid.
pub(super) async fn namespaces(
    table: &Arc<dyn TableProvider>,
    state: &dyn Session,
) -> Result<HashMap<i64, String>> {
    let mut out = HashMap::new();
    for batch in rows(table, state).await? {
        let oids = int64(&batch, "oid")?;
        for (oid, name) in oids.iter().zip(strings(&batch, "nspname")?) {
            if let (Some(oid), Some(name)) = (oid, name) {
                out.insert(oid, name);
            }
        }
    }
    Ok(out)
}

/// `pg_class`'s relations as (oid, schema oid, name).
pub(super) async fn relations_of(
    table: &Arc<dyn TableProvider>,
    state: &dyn Session,
) -> Result<Vec<(i64, i64, String)>> {
    let mut out = Vec::new();
    for batch in rows(table, state).await? {
        let oids = int64(&batch, "oid")?;
        let spaces = int64(&batch, "relnamespace")?;
        let names = strings(&batch, "relname")?;
        for ((oid, space), name) in oids.iter().zip(spaces.iter()).zip(names) {
            if let (Some(oid), Some(space), Some(name)) = (oid, space, name) {
                out.push((oid, space, name));
            }
        }
    }
    Ok(out)
}

pub(super) fn int64(batch: &RecordBatch, name: &str) -> Result<Int64Array> {
    let column = batch
        .column_by_name(name)
        .ok_or_else(|| DataFusionError::Internal(format!("pg_catalog column {name} missing")))?;
    Ok(cast(column, &DataType::Int64)?
        .as_primitive::<Int64Type>()
        .clone())
}

pub(super) fn strings(batch: &RecordBatch, name: &str) -> Result<Vec<Option<String>>> {
    let column = batch
        .column_by_name(name)
        .ok_or_else(|| DataFusionError::Internal(format!("pg_catalog column {name} missing")))?;
    let column = cast(column, &DataType::Utf8)?;
    Ok(column
        .as_string::<i32>()
        .iter()
        .map(|s| s.map(String::from))
        .collect())
}
