//! Result batches as PostgreSQL messages, one batch at a time: arrow-pg encodes the values;
//! kubepg adds the `jsonb` type its JSON columns are described as (arrow-pg knows no jsonb),
//! prints text-format timestamps as PostgreSQL does in the session's `TimeZone` (arrow-pg
//! prints them in the column's zone with six fractional digits), and writes COPY rows in
//! text or CSV.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, StringBuilder};
use datafusion::arrow::datatypes::{DataType, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion_postgres::arrow_pg::datatypes::{arrow_schema_to_pg_fields, encode_recordbatch};
use datafusion_postgres::arrow_pg::encoder::encode_value;
use datafusion_postgres::pgwire::api::Type;
use datafusion_postgres::pgwire::api::portal::Format;
use datafusion_postgres::pgwire::api::results::{
    CopyCsvOptions, CopyEncoder, CopyTextOptions, FieldFormat, FieldInfo,
};
use datafusion_postgres::pgwire::error::PgWireResult;
use datafusion_postgres::pgwire::messages::copy::CopyData;
use datafusion_postgres::pgwire::messages::data::DataRow;
use datafusion_postgres::pgwire::types::format::FormatOptions;
use kubepg_sql::pipeline::CopyFormat;
use kubepg_sql::time_zone::{SessionZone, timestamps_as_text};

fn is_jsonb(field: &datafusion::arrow::datatypes::Field) -> bool {
    kubepg_sql::columns::is_jsonb(field) && field.data_type() == &DataType::Utf8
}

/// RowDescription fields of a result: arrow-pg's mapping, with kubepg's JSON columns as
/// `jsonb`. The names are the columns' own, which the pipeline gave PostgreSQL's names.
pub fn fields(
    schema: &Schema,
    format: &Format,
    options: Option<Arc<FormatOptions>>,
) -> PgWireResult<Vec<FieldInfo>> {
    let mut fields = arrow_schema_to_pg_fields(schema, format, options)?;
    for (info, field) in fields.iter_mut().zip(schema.fields()) {
        if is_jsonb(field) {
            *info = FieldInfo::new(
                info.name().to_string(),
                info.table_id(),
                info.column_id(),
                Type::JSONB,
                info.format(),
            );
        }
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

/// Text-format timestamp columns as PostgreSQL's text (with DateStyle ISO, which every
/// client that parses timestamps sets; other styles keep arrow-pg's form), in the zone the
/// fields were made with.
fn with_text_timestamps(batch: RecordBatch, fields: &[FieldInfo]) -> RecordBatch {
    let text = |f: &FieldInfo| {
        f.format() == FieldFormat::Text
            && matches!(f.datatype(), &Type::TIMESTAMPTZ | &Type::TIMESTAMP)
            && f.format_options().date_style.starts_with("ISO")
    };
    let Some(first) = fields.iter().find(|f| text(f)) else {
        return batch;
    };
    let zone =
        SessionZone::parse(&first.format_options().time_zone).unwrap_or_else(SessionZone::utc);
    text_timestamps(batch, |i| fields.get(i).is_some_and(text), &zone)
}

/// `batch` with the timestamp columns `pick` chooses as text.
fn text_timestamps(
    batch: RecordBatch,
    pick: impl Fn(usize) -> bool,
    zone: &SessionZone,
) -> RecordBatch {
    let mut schema = batch.schema().as_ref().clone();
    let mut fields: Vec<_> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
    let columns: Vec<ArrayRef> = batch
        .columns()
        .iter()
        .enumerate()
        .map(
            |(i, col)| match pick(i).then(|| timestamps_as_text(col, zone)) {
                Some(Some(text)) => {
                    fields[i] = fields[i].clone().with_data_type(DataType::Utf8);
                    text
                }
                _ => col.clone(),
            },
        )
        .collect();
    schema = Schema::new_with_metadata(fields, schema.metadata().clone());
    RecordBatch::try_new(Arc::new(schema), columns).unwrap_or(batch)
}

/// The DataRows of one batch.
pub fn rows(
    fields: &Arc<Vec<FieldInfo>>,
    batch: RecordBatch,
) -> impl Iterator<Item = PgWireResult<DataRow>> + use<> {
    let batch = with_text_timestamps(with_jsonb_version(batch, fields), fields);
    encode_recordbatch(fields.clone(), batch)
}

/// Writes COPY rows of one result, batch by batch.
pub struct CopyWriter {
    fields: Arc<Vec<FieldInfo>>,
    encoder: CopyEncoder,
    zone: SessionZone,
}

impl CopyWriter {
    /// COPY writes timestamps as PostgreSQL's text in `zone`.
    pub fn new(schema: &Schema, format: &CopyFormat, zone: SessionZone) -> PgWireResult<Self> {
        let fields = Arc::new(fields(schema, &Format::UnifiedText, None)?);
        let encoder = match format {
            CopyFormat::Text { delimiter, null } => CopyEncoder::new_text(
                fields.clone(),
                CopyTextOptions {
                    delimiter: delimiter.to_string().into(),
                    null_string: null.as_str().into(),
                },
            ),
            CopyFormat::Csv {
                delimiter, null, ..
            } => CopyEncoder::new_csv(
                fields.clone(),
                CopyCsvOptions {
                    delimiter: delimiter.to_string().into(),
                    null_string: null.as_str().into(),
                    ..Default::default()
                },
            ),
        };
        Ok(Self {
            fields,
            encoder,
            zone,
        })
    }

    pub fn columns(&self) -> usize {
        self.fields.len()
    }

    /// The CSV header line, when the COPY asked for one.
    pub fn header(schema: &Schema, format: &CopyFormat) -> Option<CopyData> {
        let CopyFormat::Csv {
            header: true,
            delimiter,
            ..
        } = format
        else {
            return None;
        };
        let names: Vec<String> = schema
            .fields()
            .iter()
            .map(|f| csv_quote(f.name(), *delimiter))
            .collect();
        Some(CopyData::new(
            format!("{}\n", names.join(&delimiter.to_string())).into(),
        ))
    }

    /// One CopyData per row of `batch`.
    pub fn rows(&mut self, batch: &RecordBatch) -> PgWireResult<Vec<CopyData>> {
        let batch = text_timestamps(batch.clone(), |_| true, &self.zone);
        let schema = batch.schema();
        let mut out = Vec::with_capacity(batch.num_rows());
        for row in 0..batch.num_rows() {
            for (col, (array, field)) in batch.columns().iter().zip(schema.fields()).enumerate() {
                encode_value(&mut self.encoder, array, row, field, &self.fields[col])?;
            }
            out.push(self.encoder.take_copy());
        }
        Ok(out)
    }
}

fn csv_quote(s: &str, delimiter: char) -> String {
    if s.contains([delimiter, '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}
