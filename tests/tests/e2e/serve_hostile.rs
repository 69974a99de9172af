//! Hostile and unlucky statements against a running `kubepg serve` (the demo cluster, a 64 MiB
//! query budget): each gets PostgreSQL's SQLSTATE or PostgreSQL's answer, and the process is
//! still serving after it (`SELECT 1` on a new connection and `/healthz`).

use crate::common;

use std::net::SocketAddr;
use std::time::Duration;

use tokio_postgres::{NoTls, SimpleQueryMessage};

/// The server under test and its health address, printed after its "listening" line.
fn start() -> (common::Server, SocketAddr) {
    let (child, port, log) = common::serve_logged(
        &[
            "--demo",
            "--listen",
            "127.0.0.1:0",
            "--health-listen",
            "127.0.0.1:0",
            "--query-memory-mb",
            "64",
        ],
        &[],
    )
    .unwrap_or_else(|printed| panic!("kubepg serve exited:\n{printed}"));
    let server = common::Server { child, port };
    for _ in 0..100 {
        let health = log.lock().unwrap().iter().find_map(|line| {
            line.strip_prefix("kubepg: /healthz /readyz /metrics on http://")
                .and_then(|a| a.trim().parse().ok())
        });
        if let Some(health) = health {
            return (server, health);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("no health address printed");
}

async fn connect(port: u16) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(
        &format!("host=127.0.0.1 port={port} user=kubepg dbname=kubepg"),
        NoTls,
    )
    .await
    .expect("the server accepts a connection");
    tokio::spawn(conn);
    client
}

/// The first cell of the last row `sql` answers, or its SQLSTATE.
async fn outcome(db: &tokio_postgres::Client, sql: &str) -> Result<Option<String>, String> {
    match db.simple_query(sql).await {
        Ok(messages) => Ok(messages
            .iter()
            .filter_map(|m| match m {
                SimpleQueryMessage::Row(row) => Some(row.get(0).map(str::to_string)),
                _ => None,
            })
            .last()
            .flatten()),
        Err(e) => Err(e
            .code()
            .map(|c| c.code().to_string())
            .unwrap_or_else(|| format!("no SQLSTATE: {e}"))),
    }
}

fn chain(op: &str, n: usize) -> String {
    format!("SELECT 1{}", format!(" {op} 1").repeat(n))
}

#[tokio::test]
async fn no_statement_takes_the_server_down_and_each_gets_postgresqls_sqlstate() {
    let (server, health) = start();
    let ctes = (1..500)
        .map(|i| format!(", c{i} AS (SELECT x FROM c{})", i - 1))
        .collect::<String>();
    let cases: Vec<(String, Result<Option<&str>, &str>)> = vec![
        // Trees deeper than any stack: refused before they are built.
        (chain("+", 3000), Err("54001")),
        (chain("AND", 3000), Err("54001")),
        (chain("||", 3000), Err("54001")),
        (
            format!("SELECT labels{} FROM pods", " -> 'a'".repeat(5000)),
            Err("54001"),
        ),
        // Long but within the bound: planned on stacks that hold them.
        (
            format!(
                "SELECT count(*) FROM ({}) t",
                (0..150)
                    .map(|i| format!("SELECT {i}"))
                    .collect::<Vec<_>>()
                    .join(" UNION ALL ")
            ),
            Ok(Some("150")),
        ),
        (
            format!("WITH c0 AS (SELECT 1 AS x){ctes} SELECT x FROM c499"),
            Ok(Some("1")),
        ),
        // Allocations past the query's memory budget.
        (
            "SELECT count(*) FROM unnest(range(1, 100000000))".into(),
            Err("53200"),
        ),
        ("SELECT length(repeat('x', 500000000))".into(), Err("53200")),
        ("SELECT length(lpad('x', 900000000))".into(), Err("53200")),
        (
            "SELECT cardinality(array_repeat(1, 1000000000))".into(),
            Err("53200"),
        ),
        (
            "SET datafusion.execution.target_partitions = 10000".into(),
            Err("22023"),
        ),
        (
            "SET datafusion.runtime.memory_limit = '100G'".into(),
            Err("42501"),
        ),
        // A generator that would run for hours stops at the statement timeout.
        (
            "SET statement_timeout = '1s'; SELECT count(*) FROM range(1000000000000)".into(),
            Err("57014"),
        ),
        // Answers PostgreSQL gives.
        (
            "SELECT labels -> 'app' FROM pods WHERE name = 'api-5f4e1cd1-6j76h'".into(),
            Ok(Some("\"api\"")),
        ),
        ("SELECT CAST(1 AS decimal(39,0))".into(), Ok(Some("1"))),
        // PostgreSQL's errors, not wrapped integers or XX000.
        ("SELECT 9223372036854775807 + 1".into(), Err("22003")),
        ("SELECT 30000::int2 * 30000::int2".into(), Err("22003")),
        ("SELECT -(-9223372036854775807 - 1)".into(), Err("22003")),
        ("SELECT abs(-9223372036854775807 - 1)".into(), Err("22003")),
        ("SELECT 'a' ~ '('".into(), Err("2201B")),
        ("SELECT chr(-1)".into(), Err("22023")),
        ("SELECT X'FF'::text".into(), Err("22021")),
        ("SELECT split_part('a,b', ',', 0)".into(), Err("22023")),
        ("SELECT make_date(2024, 13, 1)".into(), Err("22008")),
        ("SELECT date_trunc('foo', now())".into(), Err("22023")),
        ("SELECT ntile(0) OVER ()".into(), Err("22014")),
        ("SELECT substr('abc', 1, -1)".into(), Err("22011")),
        ("SELECT sqrt(-1)".into(), Err("2201F")),
        (
            "SELECT labels_match(labels, 'a in (') FROM pods".into(),
            Err("22023"),
        ),
        // Settings a client cannot make the server choke on.
        (
            format!("SET application_name = '{}'", "x".repeat(40_000)),
            Ok(None),
        ),
        (
            "SET statement_timeout = '99999999999999999d'".into(),
            Err("22023"),
        ),
        ("SELECT 1 INTO t UNION SELECT 2".into(), Err("25006")),
    ];
    for (sql, want) in cases {
        let shown = &sql[..sql.len().min(60)];
        let db = connect(server.port).await;
        let got = outcome(&db, &sql).await;
        assert_eq!(
            got,
            want.map(|v| v.map(str::to_string)).map_err(str::to_string),
            "{shown}"
        );
        let fresh = connect(server.port).await;
        assert_eq!(
            outcome(&fresh, "SELECT 1").await,
            Ok(Some("1".into())),
            "after {shown}"
        );
        assert_eq!(
            common::http_get(health, "/healthz").await,
            (200, "ok\n".into()),
            "after {shown}"
        );
    }
    // A long application_name is cut to PostgreSQL's 63 bytes, not refused.
    let db = connect(server.port).await;
    db.simple_query(&format!("SET application_name = '{}'", "y".repeat(40_000)))
        .await
        .unwrap();
    assert_eq!(
        outcome(&db, "SHOW application_name").await,
        Ok(Some("y".repeat(63)))
    );
}
