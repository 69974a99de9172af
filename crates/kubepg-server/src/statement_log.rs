//! The record of every statement, executed or refused: one structured log line (SQL user, the
//! Kubernetes identity its session acts as, client address, database, clusters, the statement,
//! duration, rows, outcome) and the
//! statement metrics. The statement is logged as the pipeline masks it
//! ([`kubepg_sql::pipeline::mask`]), so that a token or password a client filters on does not
//! reach the logs.

use std::net::SocketAddr;
use std::time::Instant;

use datafusion_postgres::pgwire::api::{ClientInfo, METADATA_DATABASE, METADATA_USER};
use datafusion_postgres::pgwire::error::PgWireError;

use crate::health::Metrics;

/// The longest statement text a log line carries: a client's 1 MiB statement must not make
/// every log line of it 1 MiB.
const LOGGED_STATEMENT_BYTES: usize = 8 << 10;

/// `text` cut to [`LOGGED_STATEMENT_BYTES`] on a character boundary, saying how long it was.
fn bounded(text: &str) -> std::borrow::Cow<'_, str> {
    if text.len() <= LOGGED_STATEMENT_BYTES {
        return text.into();
    }
    let mut end = LOGGED_STATEMENT_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes)", &text[..end], text.len()).into()
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
        statement = %bounded(statement.text),
        duration_ms = started.elapsed().as_millis() as u64,
        rows,
        outcome,
        "statement"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_statements_are_cut_on_a_character_boundary() {
        assert_eq!(bounded("SELECT 1"), "SELECT 1");
        let long = format!("SELECT '{}'", "é".repeat(10_000));
        let cut = bounded(&long);
        assert!(cut.len() < LOGGED_STATEMENT_BYTES + 32, "{}", cut.len());
        assert!(cut.ends_with(&format!("… ({} bytes)", long.len())));
    }
}
