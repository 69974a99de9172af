//! Query results as PostgreSQL rows: arrow-pg encodes the values; kubepg adds the `jsonb` type
//! its JSON columns are described as (arrow-pg knows no jsonb).

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, StringBuilder};
use datafusion::arrow::datatypes::{DataType, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion_postgres::arrow_pg::datatypes::{arrow_schema_to_pg_fields, encode_recordbatch};
use datafusion_postgres::pgwire::api::Type;
use datafusion_postgres::pgwire::api::portal::Format;
use datafusion_postgres::pgwire::api::results::{FieldFormat, FieldInfo, QueryResponse};
use datafusion_postgres::pgwire::error::PgWireResult;
use datafusion_postgres::pgwire::types::format::FormatOptions;
use futures::stream;
use kubepg_sql::columns::PG_TYPE_KEY;

fn is_jsonb(field: &datafusion::arrow::datatypes::Field) -> bool {
    field
        .metadata()
        .get(PG_TYPE_KEY)
        .is_some_and(|t| t == "jsonb")
        && field.data_type() == &DataType::Utf8
}

/// RowDescription fields: arrow-pg's mapping, with kubepg's JSON columns as `jsonb` and, when
/// given, the column names PostgreSQL would use.
pub fn fields(
    schema: &Schema,
    format: &Format,
    options: Option<Arc<FormatOptions>>,
    names: Option<Vec<String>>,
) -> PgWireResult<Vec<FieldInfo>> {
    let mut fields = arrow_schema_to_pg_fields(schema, format, options)?;
    let mut names = names.map(Vec::into_iter);
    for (info, field) in fields.iter_mut().zip(schema.fields()) {
        let name = names
            .as_mut()
            .and_then(Iterator::next)
            .unwrap_or_else(|| info.name().to_string());
        let datatype = if is_jsonb(field) {
            Type::JSONB
        } else {
            info.datatype().clone()
        };
        *info = FieldInfo::new(
            name,
            info.table_id(),
            info.column_id(),
            datatype,
            info.format(),
        );
    }
    Ok(fields)
}

/// Binary `jsonb` is a version byte (1) and the JSON text; arrow-pg writes text bytes as they
/// are, so binary-format JSON columns get the version byte prepended.
fn with_jsonb_version(batch: RecordBatch, fields: &[FieldInfo]) -> RecordBatch {
    let needs = fields
        .iter()
        .any(|f| f.datatype() == &Type::JSONB && f.format() == FieldFormat::Binary);
    if !needs {
        return batch;
    }
    let columns: Vec<ArrayRef> = batch
        .columns()
        .iter()
        .zip(fields)
        .map(|(col, f)| {
            if f.datatype() != &Type::JSONB || f.format() != FieldFormat::Binary {
                return col.clone();
            }
            let strings = col.as_string::<i32>();
            let mut b = StringBuilder::with_capacity(
                strings.len(),
                strings.value_data().len() + strings.len(),
            );
            for v in strings.iter() {
                match v {
                    Some(s) => b.append_value(format!("\u{1}{s}")),
                    None => b.append_null(),
                }
            }
            Arc::new(b.finish()) as ArrayRef
        })
        .collect();
    RecordBatch::try_new(batch.schema(), columns).unwrap_or(batch)
}

/// Rows of already-computed batches.
pub fn response(fields: Arc<Vec<FieldInfo>>, batches: Vec<RecordBatch>) -> QueryResponse {
    let rows_fields = fields.clone();
    let rows = stream::iter(batches.into_iter().flat_map(move |b| {
        encode_recordbatch(rows_fields.clone(), with_jsonb_version(b, &rows_fields))
    }));
    QueryResponse::new(fields, rows)
}
