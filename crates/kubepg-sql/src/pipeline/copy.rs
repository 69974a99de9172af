//! `COPY (SELECT …) TO STDOUT` and `COPY table TO STDOUT`, as text or CSV: how psql's `\copy`
//! and export tools read results. The rows stream like a query's; the front end writes them in
//! the [`CopyFormat`]. COPY from a client is a write and COPY to or from a server file reads
//! local files: both are refused.

use async_trait::async_trait;
use datafusion::common::ParamValues;
use datafusion::sql::sqlparser::ast::{
    CopyLegacyCsvOption, CopyLegacyOption, CopyOption, CopySource, CopyTarget, Statement,
};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;

use super::hook::Hook;
use super::outcome::{CopyFormat, Described, Outcome};
use super::session::KubeSession;
use crate::error::{Error, Result};
use crate::sqlstate::SqlState;

/// A `COPY … TO STDOUT`: the query whose rows it writes, and how.
#[derive(Debug)]
struct CopyOut {
    query: Statement,
    format: CopyFormat,
}

fn unsupported(what: &str) -> Error {
    Error::Unsupported(format!("COPY {what} is not supported"))
}

/// What a COPY statement is: `None` for other statements.
fn parse(statement: &Statement) -> Option<Result<CopyOut>> {
    let Statement::Copy {
        source,
        to,
        target,
        options,
        legacy_options,
        ..
    } = statement
    else {
        return None;
    };
    Some(match (to, target) {
        (true, CopyTarget::Stdout) => build(source, options, legacy_options),
        (false, CopyTarget::Stdin) => Err(Error::ReadOnly(
            "COPY FROM STDIN would write into a table".into(),
        )),
        _ => Err(Error::Forbidden(
            "COPY to or from a server file or program would touch local files; use COPY (SELECT ...) TO STDOUT (psql: \\copy)".into(),
        )),
    })
}

pub struct CopyTo;

#[async_trait]
impl Hook for CopyTo {
    async fn describe(&self, statement: &Statement, _: &KubeSession) -> Option<Result<Described>> {
        parse(statement).map(|copy| copy.map(|_| Described::default()))
    }

    async fn run(
        &self,
        statement: &Statement,
        _params: Option<&ParamValues>,
        s: &KubeSession,
    ) -> Option<Result<Outcome>> {
        let copy = match parse(statement)? {
            Ok(copy) => copy,
            Err(e) => return Some(Err(e)),
        };
        Some(
            async {
                let plan = s.logical_plan(copy.query).await?;
                match s.query(plan, None).await? {
                    Outcome::Rows(rows) => Ok(Outcome::Copy {
                        rows,
                        format: copy.format,
                    }),
                    _ => Err(unsupported("of a statement that returns no rows")),
                }
            }
            .await,
        )
    }
}

fn build(
    source: &CopySource,
    options: &[CopyOption],
    legacy: &[CopyLegacyOption],
) -> Result<CopyOut> {
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
            let mut parsed = Parser::parse_sql(&PostgreSqlDialect {}, &sql)
                .map_err(|e| Error::refused(SqlState::SyntaxError, e.to_string()))?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_sql(sql: &str) -> Option<Result<CopyOut>> {
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
    fn copies_that_write_or_touch_files_are_refused_for_what_they_are() {
        let refused = |sql| parse_sql(sql).unwrap().unwrap_err().sqlstate();
        assert_eq!(
            refused("COPY pods TO '/tmp/x'"),
            SqlState::InsufficientPrivilege
        );
        assert_eq!(
            refused("COPY pods FROM '/etc/passwd'"),
            SqlState::InsufficientPrivilege
        );
        assert_eq!(
            refused("COPY pods FROM STDIN"),
            SqlState::ReadOnlySqlTransaction
        );
        assert_eq!(
            refused("COPY pods TO STDOUT (FORMAT binary)"),
            SqlState::FeatureNotSupported
        );
        assert!(parse_sql("SELECT 1").is_none());
    }
}
