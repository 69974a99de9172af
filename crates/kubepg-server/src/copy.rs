//! `COPY (SELECT …) TO STDOUT` and `COPY table TO STDOUT`, as text or CSV: how psql's `\copy`
//! and export tools read results. Every other COPY is refused by the read-only guard.

use std::sync::Arc;

use datafusion::arrow::datatypes::Schema;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::sql::sqlparser::ast::{
    CopyLegacyCsvOption, CopyLegacyOption, CopyOption, CopySource, CopyTarget, Statement,
};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;
use datafusion_postgres::arrow_pg::encoder::encode_value;
use datafusion_postgres::pgwire::api::portal::Format;
use datafusion_postgres::pgwire::api::results::{
    CopyCsvOptions, CopyEncoder, CopyResponse, CopyTextOptions,
};
use datafusion_postgres::pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use datafusion_postgres::pgwire::messages::copy::CopyData;

use crate::encode;

/// How rows are written.
#[derive(Debug, Clone, PartialEq)]
pub enum CopyFormat {
    Text {
        delimiter: char,
        null: String,
    },
    Csv {
        delimiter: char,
        null: String,
        header: bool,
    },
}

/// A `COPY … TO STDOUT`: the query whose rows it writes, and how.
#[derive(Debug)]
pub struct CopyOut {
    pub query: Statement,
    pub format: CopyFormat,
}

fn unsupported(what: &str) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "ERROR".into(),
        "0A000".into(),
        format!("COPY {what} is not supported"),
    )))
}

/// `Some` for a COPY this module answers; `None` leaves the statement to the guard.
pub fn parse(statement: &Statement) -> Option<PgWireResult<CopyOut>> {
    let Statement::Copy {
        source,
        to: true,
        target: CopyTarget::Stdout,
        options,
        legacy_options,
        ..
    } = statement
    else {
        return None;
    };
    Some(build(source, options, legacy_options))
}

fn build(
    source: &CopySource,
    options: &[CopyOption],
    legacy: &[CopyLegacyOption],
) -> PgWireResult<CopyOut> {
    let query = match source {
        CopySource::Query(q) => Statement::Query(q.clone()),
        CopySource::Table {
            table_name,
            columns,
        } => {
            let columns = if columns.is_empty() {
                "*".to_string()
            } else {
                columns
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let sql = format!("SELECT {columns} FROM {table_name}");
            let mut parsed = Parser::parse_sql(&PostgreSqlDialect {}, &sql).map_err(|e| {
                PgWireError::UserError(Box::new(ErrorInfo::new(
                    "ERROR".into(),
                    "42601".into(),
                    e.to_string(),
                )))
            })?;
            parsed
                .pop()
                .ok_or_else(|| unsupported("without a source"))?
        }
    };
    let (mut csv, mut header, mut delimiter, mut null) = (false, false, None, None);
    for o in options {
        match o {
            CopyOption::Format(f) if f.value.eq_ignore_ascii_case("csv") => csv = true,
            CopyOption::Format(f) if f.value.eq_ignore_ascii_case("text") => csv = false,
            CopyOption::Format(f) => return Err(unsupported(&format!("FORMAT {f}"))),
            CopyOption::Header(h) => header = *h,
            CopyOption::Delimiter(d) => delimiter = Some(*d),
            CopyOption::Null(n) => null = Some(n.clone()),
            other => return Err(unsupported(&other.to_string())),
        }
    }
    for o in legacy {
        match o {
            CopyLegacyOption::Csv(csv_options) => {
                csv = true;
                for c in csv_options {
                    match c {
                        CopyLegacyCsvOption::Header => header = true,
                        other => return Err(unsupported(&other.to_string())),
                    }
                }
            }
            CopyLegacyOption::Header => header = true,
            CopyLegacyOption::Delimiter(d) => delimiter = Some(*d),
            CopyLegacyOption::Null(n) => null = Some(n.clone()),
            other => return Err(unsupported(&other.to_string())),
        }
    }
    let format = if csv {
        CopyFormat::Csv {
            delimiter: delimiter.unwrap_or(','),
            null: null.unwrap_or_default(),
            header,
        }
    } else {
        CopyFormat::Text {
            delimiter: delimiter.unwrap_or('\t'),
            null: null.unwrap_or_else(|| "\\N".into()),
        }
    };
    Ok(CopyOut { query, format })
}

/// The CopyOut response for computed batches.
pub fn response(
    schema: &Schema,
    batches: Vec<RecordBatch>,
    format: &CopyFormat,
) -> PgWireResult<CopyResponse> {
    let fields = Arc::new(encode::fields(schema, &Format::UnifiedText, None, None)?);
    let encoder = || match format {
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
    // pgwire reports `COPY n` from the number of CopyData messages, so the header travels in
    // the first row's message (alone only when there are no rows).
    let mut header = match format {
        CopyFormat::Csv {
            header: true,
            delimiter,
            ..
        } => {
            let names: Vec<String> = schema
                .fields()
                .iter()
                .map(|f| csv_quote(f.name(), *delimiter))
                .collect();
            Some(format!("{}\n", names.join(&delimiter.to_string())))
        }
        _ => None,
    };
    let mut data = Vec::new();
    let mut enc = encoder();
    for batch in &batches {
        for row in 0..batch.num_rows() {
            for (col, (array, field)) in batch.columns().iter().zip(schema.fields()).enumerate() {
                encode_value(&mut enc, array, row, field, &fields[col])?;
            }
            let row = enc.take_copy();
            data.push(match header.take() {
                Some(h) => CopyData::new([h.as_bytes(), &row.data].concat().into()),
                None => row,
            });
        }
    }
    if let Some(h) = header {
        data.push(CopyData::new(h.into_bytes().into()));
    }
    Ok(CopyResponse::new(
        0,
        fields.len(),
        futures::stream::iter(data.into_iter().map(Ok)),
    ))
}

fn csv_quote(s: &str, delimiter: char) -> String {
    if s.contains([delimiter, '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_sql(sql: &str) -> Option<PgWireResult<CopyOut>> {
        let statements = Parser::parse_sql(&PostgreSqlDialect {}, sql).unwrap();
        parse(&statements[0])
    }

    #[test]
    fn psql_copy_forms_are_understood() {
        let c = parse_sql("COPY (SELECT name FROM pods) TO STDOUT WITH csv header")
            .unwrap()
            .unwrap();
        assert_eq!(
            c.format,
            CopyFormat::Csv {
                delimiter: ',',
                null: String::new(),
                header: true
            }
        );
        let c =
            parse_sql("COPY pods (name, phase) TO STDOUT (FORMAT csv, HEADER true, DELIMITER ';')")
                .unwrap()
                .unwrap();
        assert_eq!(
            c.format,
            CopyFormat::Csv {
                delimiter: ';',
                null: String::new(),
                header: true
            }
        );
        assert_eq!(c.query.to_string(), "SELECT name, phase FROM pods");
        let c = parse_sql("COPY pods TO STDOUT").unwrap().unwrap();
        assert_eq!(
            c.format,
            CopyFormat::Text {
                delimiter: '\t',
                null: "\\N".into()
            }
        );
    }

    #[test]
    fn copies_that_read_or_write_files_are_left_to_the_guard() {
        assert!(parse_sql("COPY pods TO '/tmp/x'").is_none());
        assert!(parse_sql("COPY pods FROM STDIN").is_none());
        assert!(
            parse_sql("COPY pods TO STDOUT (FORMAT binary)")
                .unwrap()
                .is_err()
        );
    }
}
