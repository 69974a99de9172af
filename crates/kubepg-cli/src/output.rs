//! Printing query results: an aligned table, JSON or YAML with real types (numbers, booleans,
//! nested JSON for jsonb columns), or CSV; and `COPY … TO STDOUT` rows in COPY's text or CSV
//! format. JSON, CSV and COPY stream batch by batch. The table, CSV and COPY print timestamps
//! as psql shows them, in the session's `TimeZone`; JSON and YAML keep RFC 3339.

use std::io::Write;

use clap::ValueEnum;
use kubepg_sql::arrow::array::{Array, AsArray};
use kubepg_sql::arrow::datatypes::{DataType, Float64Type, Int64Type, SchemaRef};
use kubepg_sql::arrow::record_batch::RecordBatch;
use kubepg_sql::arrow::util::display::{ArrayFormatter, FormatOptions};
use kubepg_sql::pipeline::CopyFormat;
use kubepg_sql::time_zone::{SessionZone, timestamps_as_text};
use serde_json::{Map, Value};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    Table,
    Json,
    Csv,
    Yaml,
}

pub struct Printer {
    format: Format,
    schema: SchemaRef,
    headers: bool,
    /// Table and YAML output need every row before printing.
    rows: Vec<Vec<Value>>,
    started: bool,
    count: usize,
    zone: SessionZone,
}

impl Printer {
    pub fn new(format: Format, schema: SchemaRef, headers: bool, zone: SessionZone) -> Self {
        Self {
            format,
            schema,
            headers,
            zone,
            rows: Vec::new(),
            started: false,
            count: 0,
        }
    }

    pub fn batch(&mut self, out: &mut impl Write, batch: &RecordBatch) -> anyhow::Result<()> {
        let zone = matches!(self.format, Format::Table | Format::Csv).then_some(&self.zone);
        let rows = to_rows(batch, zone)?;
        match self.format {
            Format::Table | Format::Yaml => self.rows.extend(rows),
            Format::Json => {
                for row in rows {
                    out.write_all(if self.started { b",\n  " } else { b"[\n  " })?;
                    self.started = true;
                    serde_json::to_writer(&mut *out, &Value::Object(self.object(row)))?;
                }
            }
            Format::Csv => {
                self.csv_header(out)?;
                self.started = true;
                for row in rows {
                    let cells: Vec<String> =
                        row.iter().map(|v| csv_quoted(&plain(v), ',')).collect();
                    writeln!(out, "{}", cells.join(","))?;
                }
            }
        }
        self.count += batch.num_rows();
        Ok(())
    }

    pub fn finish(mut self, out: &mut impl Write) -> anyhow::Result<()> {
        match self.format {
            Format::Json => {
                out.write_all(if self.started { b"\n]\n" } else { b"[]\n" })?;
            }
            Format::Csv => {
                self.csv_header(out)?;
            }
            Format::Yaml => {
                let rows: Vec<Value> = std::mem::take(&mut self.rows)
                    .into_iter()
                    .map(|r| Value::Object(self.object(r)))
                    .collect();
                let text = serde_saphyr::to_string(&rows)?;
                out.write_all(text.as_bytes())?;
                if !text.ends_with('\n') {
                    out.write_all(b"\n")?;
                }
            }
            Format::Table => self.table(out)?,
        }
        out.flush()?;
        Ok(())
    }

    /// The CSV header, once, before the first row (or alone for an empty result).
    fn csv_header(&self, out: &mut impl Write) -> anyhow::Result<()> {
        if !self.started && self.headers {
            let names: Vec<String> = self
                .schema
                .fields()
                .iter()
                .map(|f| csv_quoted(f.name(), ','))
                .collect();
            writeln!(out, "{}", names.join(","))?;
        }
        Ok(())
    }

    fn object(&self, row: Vec<Value>) -> Map<String, Value> {
        self.schema
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .zip(row)
            .collect()
    }

    fn table(&self, out: &mut impl Write) -> anyhow::Result<()> {
        let names: Vec<String> = self
            .schema
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        let cells: Vec<Vec<String>> = self
            .rows
            .iter()
            .map(|r| r.iter().map(plain).collect())
            .collect();
        let mut widths: Vec<usize> = names
            .iter()
            .map(|n| if self.headers { n.chars().count() } else { 0 })
            .collect();
        for row in &cells {
            for (w, c) in widths.iter_mut().zip(row) {
                *w = (*w).max(c.chars().count());
            }
        }
        let line = |cells: &[String]| -> String {
            cells
                .iter()
                .zip(&widths)
                .map(|(c, w)| format!("{c:<w$}"))
                .collect::<Vec<_>>()
                .join(" | ")
                .trim_end()
                .to_string()
        };
        if self.headers {
            writeln!(out, "{}", line(&names))?;
            writeln!(
                out,
                "{}",
                widths
                    .iter()
                    .map(|w| "-".repeat(*w))
                    .collect::<Vec<_>>()
                    .join("-+-")
            )?;
        }
        for row in &cells {
            writeln!(out, "{}", line(row))?;
        }
        if self.headers {
            writeln!(
                out,
                "({} row{})",
                self.count,
                if self.count == 1 { "" } else { "s" }
            )?;
        }
        Ok(())
    }
}

/// A cell as text, the way psql prints it: NULL empty, JSON as PostgreSQL prints jsonb.
fn plain(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => if *b { "t" } else { "f" }.to_string(),
        other => kubepg_sql::jsonb_text::jsonb_text(other),
    }
}

/// One batch of `COPY … TO STDOUT` rows, as PostgreSQL writes them; `first` writes the CSV
/// header when the COPY asked for one.
pub fn write_copy(
    out: &mut impl Write,
    schema: &SchemaRef,
    format: &CopyFormat,
    batch: &RecordBatch,
    first: bool,
    zone: &SessionZone,
) -> anyhow::Result<()> {
    if first
        && let CopyFormat::Csv {
            header: true,
            delimiter,
            ..
        } = format
    {
        let names: Vec<String> = schema
            .fields()
            .iter()
            .map(|f| csv_quoted(f.name(), *delimiter))
            .collect();
        writeln!(out, "{}", names.join(&delimiter.to_string()))?;
    }
    for row in to_rows(batch, Some(zone))? {
        let cells: Vec<String> = row
            .iter()
            .map(|v| match (format, v) {
                (CopyFormat::Text { null, .. } | CopyFormat::Csv { null, .. }, Value::Null) => {
                    null.clone()
                }
                (CopyFormat::Text { .. }, v) => copy_text_escaped(&plain(v)),
                (CopyFormat::Csv { delimiter, .. }, v) => csv_quoted(&plain(v), *delimiter),
            })
            .collect();
        let delimiter = match format {
            CopyFormat::Text { delimiter, .. } | CopyFormat::Csv { delimiter, .. } => *delimiter,
        };
        writeln!(out, "{}", cells.join(&delimiter.to_string()))?;
    }
    Ok(())
}

/// COPY text format: backslash escapes for the characters that would break a row.
fn copy_text_escaped(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out
}

fn csv_quoted(s: &str, delimiter: char) -> String {
    if s.contains([delimiter, '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// The rows of a batch with real JSON types; timestamps as PostgreSQL's text in `zone` when
/// one is given.
pub fn to_rows(batch: &RecordBatch, zone: Option<&SessionZone>) -> anyhow::Result<Vec<Vec<Value>>> {
    let options = FormatOptions::default().with_null("");
    let schema = batch.schema();
    let mut columns: Vec<Vec<Value>> = Vec::with_capacity(batch.num_columns());
    for (field, array) in schema.fields().iter().zip(batch.columns()) {
        let jsonb = kubepg_sql::columns::is_jsonb(field);
        let n = array.len();
        let mut col = Vec::with_capacity(n);
        match array.data_type() {
            DataType::Int64 => {
                let a = array.as_primitive::<Int64Type>();
                col.extend((0..n).map(|i| {
                    if a.is_null(i) {
                        Value::Null
                    } else {
                        Value::from(a.value(i))
                    }
                }));
            }
            DataType::Float64 => {
                let a = array.as_primitive::<Float64Type>();
                col.extend((0..n).map(|i| {
                    if a.is_null(i) {
                        Value::Null
                    } else {
                        serde_json::Number::from_f64(a.value(i)).map_or(Value::Null, Value::Number)
                    }
                }));
            }
            DataType::Boolean => {
                let a = array.as_boolean();
                col.extend((0..n).map(|i| {
                    if a.is_null(i) {
                        Value::Null
                    } else {
                        Value::Bool(a.value(i))
                    }
                }));
            }
            DataType::Utf8 if jsonb => {
                let a = array.as_string::<i32>();
                col.extend((0..n).map(|i| {
                    if a.is_null(i) {
                        Value::Null
                    } else {
                        serde_json::from_str(a.value(i))
                            .unwrap_or_else(|_| Value::String(a.value(i).to_string()))
                    }
                }));
            }
            DataType::Timestamp(..) if zone.is_some() => {
                let text = zone.and_then(|z| timestamps_as_text(array, z));
                let a = text.as_ref().map(|t| t.as_string::<i32>());
                col.extend((0..n).map(|i| match a {
                    Some(a) if !a.is_null(i) => Value::String(a.value(i).to_string()),
                    _ => Value::Null,
                }));
            }
            _ => {
                let formatter = ArrayFormatter::try_new(array.as_ref(), &options)?;
                col.extend((0..n).map(|i| {
                    if array.is_null(i) {
                        Value::Null
                    } else {
                        Value::String(formatter.value(i).to_string())
                    }
                }));
            }
        }
        columns.push(col);
    }
    Ok((0..batch.num_rows())
        .map(|i| columns.iter().map(|c| c[i].clone()).collect())
        .collect())
}
