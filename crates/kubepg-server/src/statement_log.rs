//! The record of every statement, executed or refused: one structured log line (SQL user, the
//! Kubernetes identity its session acts as, client address, database, clusters, the statement,
//! duration, rows, outcome) and the
//! statement metrics. String literals are masked in the logged statement, so that a token or
//! password a client filters on does not reach the logs.

use std::net::SocketAddr;
use std::ops::ControlFlow;
use std::time::Instant;

use datafusion::sql::sqlparser::ast::{Expr, Statement, Value, visit_expressions_mut};
use datafusion_postgres::pgwire::api::{ClientInfo, METADATA_DATABASE, METADATA_USER};
use datafusion_postgres::pgwire::error::PgWireError;

use crate::health::Metrics;

/// `statement` as logged: its text with every string literal replaced by `'***'`.
pub fn masked(statement: &Statement) -> String {
    let mut statement = statement.clone();
    let _ = visit_expressions_mut(&mut statement, |expr| {
        if let Expr::Value(v) = expr
            && matches!(
                v.value,
                Value::SingleQuotedString(_)
                    | Value::DoubleQuotedString(_)
                    | Value::EscapedStringLiteral(_)
                    | Value::DollarQuotedString(_)
            )
        {
            v.value = Value::SingleQuotedString("***".into());
        }
        ControlFlow::<()>::Continue(())
    });
    statement.to_string()
}

/// Where a statement ran and what it was.
pub struct Logged<'a> {
    pub peer: SocketAddr,
    pub clusters: &'a [String],
    /// The Kubernetes identity the session acts as: `kubepg`, or `user=… groups=…`.
    pub identity: &'a str,
    pub text: &'a str,
}

pub fn record<C: ClientInfo + ?Sized>(
    metrics: &Metrics,
    client: &C,
    statement: &Logged<'_>,
    started: Instant,
    rows: usize,
    error: Option<&PgWireError>,
) {
    let outcome = match error {
        None => "ok".to_string(),
        Some(PgWireError::UserError(e)) => e.code.clone(),
        Some(_) => "error".to_string(),
    };
    metrics.record_statement(&outcome, started.elapsed().as_secs_f64());
    let metadata = client.metadata();
    tracing::info!(
        target: "kubepg::query",
        user = metadata.get(METADATA_USER).map(String::as_str).unwrap_or_default(),
        identity = statement.identity,
        database = metadata.get(METADATA_DATABASE).map(String::as_str).unwrap_or_default(),
        peer = %statement.peer,
        clusters = %statement.clusters.join(","),
        statement = statement.text,
        duration_ms = started.elapsed().as_millis() as u64,
        rows,
        outcome,
        "statement"
    );
}

#[cfg(test)]
mod tests {
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use datafusion::sql::sqlparser::parser::Parser;

    use super::*;

    #[test]
    fn string_literals_are_masked_and_the_rest_kept() {
        let sql = "SELECT name FROM secrets WHERE data->>'token' = 'hunter2' AND generation > 3";
        let statement = Parser::parse_sql(&PostgreSqlDialect {}, sql)
            .unwrap()
            .remove(0);
        assert_eq!(
            masked(&statement),
            "SELECT name FROM secrets WHERE data ->> '***' = '***' AND generation > 3"
        );
    }
}
