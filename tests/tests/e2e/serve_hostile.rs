//! Hostile and unlucky input against a running `kubepg serve` (the demo cluster, a 64 MiB
//! query budget): statements and raw protocol frames each get PostgreSQL's SQLSTATE or
//! PostgreSQL's answer, and the process is still serving after each (`SELECT 1` on a new
//! connection and `/healthz`).

use crate::common;

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_postgres::{NoTls, SimpleQueryMessage};

/// The server under test and its health address, printed after its "listening" line.
pub(crate) fn start(extra: &[&str]) -> (common::Server, SocketAddr) {
    let mut args = vec![
        "--demo",
        "--listen",
        "127.0.0.1:0",
        "--health-listen",
        "127.0.0.1:0",
        "--query-memory-mb",
        "64",
    ];
    args.extend_from_slice(extra);
    let (child, port, log) = common::serve_logged(&args, &[])
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

pub(crate) async fn connect(port: u16) -> tokio_postgres::Client {
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
pub(crate) async fn outcome(
    db: &tokio_postgres::Client,
    sql: &str,
) -> Result<Option<String>, String> {
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
    let (server, health) = start(&[]);
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

/// A raw connection that has sent its startup packet and read up to ReadyForQuery.
/// A startup packet (protocol 3.0) for `user` and database `kubepg`.
fn startup_packet(user: &str) -> Vec<u8> {
    let mut body = 196_608i32.to_be_bytes().to_vec();
    body.extend_from_slice(format!("user\0{user}\0database\0kubepg\0\0").as_bytes());
    let mut packet = ((body.len() + 4) as i32).to_be_bytes().to_vec();
    packet.extend_from_slice(&body);
    packet
}

pub(crate) async fn raw(port: u16) -> TcpStream {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    stream.write_all(&startup_packet("kubepg")).await.unwrap();
    while let Some((kind, _)) = message(&mut stream).await {
        if kind == b'Z' {
            return stream;
        }
    }
    panic!("no ReadyForQuery");
}

fn frame(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut f = vec![kind];
    f.extend_from_slice(&((body.len() + 4) as i32).to_be_bytes());
    f.extend_from_slice(body);
    f
}

/// The next backend message, or `None` once the server closed the connection.
async fn message(stream: &mut TcpStream) -> Option<(u8, Vec<u8>)> {
    let mut header = [0u8; 5];
    stream.read_exact(&mut header).await.ok()?;
    let len = i32::from_be_bytes(header[1..5].try_into().unwrap()) as usize;
    let mut body = vec![0; len - 4];
    stream.read_exact(&mut body).await.ok()?;
    Some((header[0], body))
}

/// Every message until the server closes the connection (a bounded wait: a server that keeps
/// it open fails the test).
pub(crate) async fn until_closed(stream: &mut TcpStream) -> Vec<(u8, Vec<u8>)> {
    let mut all = Vec::new();
    let read = async {
        while let Some(m) = message(stream).await {
            all.push(m);
        }
    };
    tokio::time::timeout(Duration::from_secs(60), read)
        .await
        .expect("the server closes the connection");
    all
}

/// An ErrorResponse's severity and SQLSTATE.
pub(crate) fn error_fields(body: &[u8]) -> (String, String) {
    let mut severity = String::new();
    let mut code = String::new();
    for field in body.split(|b| *b == 0) {
        match field.split_first() {
            Some((b'S', v)) => severity = String::from_utf8_lossy(v).into(),
            Some((b'C', v)) => code = String::from_utf8_lossy(v).into(),
            _ => {}
        }
    }
    (severity, code)
}

#[tokio::test]
async fn malformed_frames_end_their_connection_with_a_fatal_and_nothing_else() {
    let (server, health) = start(&["--max-message-bytes", "1MiB"]);
    let bind_past_end = frame(b'B', b"\0\0\x00\x00\x00\x01\x00\x00\x00\x09ab\x00\x00");
    let mut inner = frame(b'Q', b"SELECT 2\0");
    let mut with_nul = b"SELECT 1\0".to_vec();
    with_nul.append(&mut inner);
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "a Query with a NUL and a second Query inside",
            frame(b'Q', &with_nul),
            "08P01",
        ),
        (
            "a Bind whose value runs past its end",
            bind_past_end,
            "08P01",
        ),
        (
            "a Bind with a negative count",
            frame(b'B', b"\0\0\xff\xff"),
            "08P01",
        ),
        (
            "an Execute shorter than its fields",
            frame(b'E', b"\0\x00"),
            "08P01",
        ),
        (
            "a length shorter than its header",
            b"Q\x00\x00\x00\x02".to_vec(),
            "08P01",
        ),
        ("an empty password message", frame(b'p', b""), "08P01"),
        (
            "a Query claiming 1 GiB",
            b"Q\x40\x00\x00\x00SELECT".to_vec(),
            "54000",
        ),
    ];
    for (what, bytes, state) in cases {
        let mut stream = raw(server.port).await;
        stream.write_all(&bytes).await.unwrap();
        let answer = until_closed(&mut stream).await;
        let kinds: Vec<char> = answer.iter().map(|(k, _)| *k as char).collect();
        assert_eq!(kinds, ['E'], "{what}: only a FATAL, no result: {answer:?}");
        assert_eq!(
            error_fields(&answer[0].1),
            ("FATAL".to_string(), state.to_string()),
            "{what}"
        );
        let fresh = connect(server.port).await;
        assert_eq!(
            outcome(&fresh, "SELECT 1").await,
            Ok(Some("1".into())),
            "after {what}"
        );
        assert_eq!(
            common::http_get(health, "/healthz").await.0,
            200,
            "after {what}"
        );
    }
    // A malformed startup packet is refused the same way.
    let mut stream = TcpStream::connect(("127.0.0.1", server.port))
        .await
        .unwrap();
    stream
        .write_all(b"\x00\x00\x4e\x30\x00\x03\x00\x00")
        .await
        .unwrap();
    let answer = until_closed(&mut stream).await;
    assert_eq!(answer.len(), 1, "{answer:?}");
    assert_eq!(error_fields(&answer[0].1).1, "54000");
}

#[tokio::test]
async fn silent_sockets_take_no_session_slot_and_are_closed_after_the_auth_timeout() {
    let (server, _) = start(&["--max-connections", "2", "--auth-timeout", "1"]);
    let mut silent = Vec::new();
    for _ in 0..5 {
        silent.push(
            TcpStream::connect(("127.0.0.1", server.port))
                .await
                .unwrap(),
        );
    }
    // Two sessions fit while five sockets say nothing; a third session is refused.
    let first = connect(server.port).await;
    let second = connect(server.port).await;
    let third = tokio_postgres::connect(
        &format!(
            "host=127.0.0.1 port={} user=kubepg dbname=kubepg",
            server.port
        ),
        NoTls,
    )
    .await
    .map(|_| ())
    .expect_err("a third session is over --max-connections");
    assert_eq!(third.code().map(|c| c.code()), Some("53300"), "{third}");
    assert_eq!(outcome(&first, "SELECT 1").await, Ok(Some("1".into())));
    assert_eq!(outcome(&second, "SELECT 2").await, Ok(Some("2".into())));
    // Each silent socket is closed by the server once its time to authenticate is over.
    for mut socket in silent {
        assert!(until_closed(&mut socket).await.is_empty());
    }
}

/// A raw connection as `alice` that has read the server's SASL offer (SCRAM-SHA-256, never
/// the -PLUS variant).
async fn scram_offer(port: u16) -> TcpStream {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    stream.write_all(&startup_packet("alice")).await.unwrap();
    let (kind, offer) = message(&mut stream)
        .await
        .expect("an authentication request");
    assert_eq!(kind, b'R');
    let offered = String::from_utf8_lossy(&offer[4..]).to_string();
    assert!(offered.contains("SCRAM-SHA-256\0"), "{offered:?}");
    assert!(!offered.contains("PLUS"), "{offered:?}");
    stream
}

fn sasl_initial(mechanism: &str, client_first: &[u8]) -> Vec<u8> {
    let mut initial = format!("{mechanism}\0").into_bytes();
    initial.extend_from_slice(&(client_first.len() as i32).to_be_bytes());
    initial.extend_from_slice(client_first);
    frame(b'p', &initial)
}

/// The one message a refused exchange ends with: a FATAL and its SQLSTATE.
async fn refused(stream: &mut TcpStream) -> (String, String) {
    let answer = until_closed(stream).await;
    assert_eq!(answer.len(), 1, "{answer:?}");
    assert_eq!(answer[0].0, b'E', "{answer:?}");
    error_fields(&answer[0].1)
}

#[tokio::test]
async fn scram_with_channel_binding_over_plaintext_is_refused() {
    let (server, _) = start(&["--users", "alice:secret"]);
    let mut stream = scram_offer(server.port).await;
    let client_first = b"p=tls-server-end-point,,n=,r=rOprNGfwEbeRWgbNEkqO";
    stream
        .write_all(&sasl_initial("SCRAM-SHA-256-PLUS", client_first))
        .await
        .unwrap();
    assert_eq!(
        refused(&mut stream).await,
        ("FATAL".to_string(), "28000".to_string())
    );
}

#[tokio::test]
async fn a_scram_client_final_must_carry_the_servers_nonce() {
    let (server, health) = start(&["--users", "alice:secret"]);
    for (forged, want) in [(true, "08P01"), (false, "28P01")] {
        let mut stream = scram_offer(server.port).await;
        stream
            .write_all(&sasl_initial("SCRAM-SHA-256", b"n,,n=,r=clientNONCE"))
            .await
            .unwrap();
        let (kind, server_first) = message(&mut stream).await.expect("a server-first message");
        assert_eq!((kind, &server_first[..4]), (b'R', &11i32.to_be_bytes()[..]));
        let server_first = String::from_utf8_lossy(&server_first[4..]).to_string();
        let nonce = server_first
            .split(',')
            .find_map(|a| a.strip_prefix("r="))
            .expect("a nonce");
        assert!(nonce.starts_with("clientNONCE"), "{server_first}");
        let sent = if forged { "clientNONCEforged" } else { nonce };
        let client_final =
            format!("c=biws,r={sent},p=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");
        stream
            .write_all(&frame(b'p', client_final.as_bytes()))
            .await
            .unwrap();
        assert_eq!(
            refused(&mut stream).await,
            ("FATAL".to_string(), want.to_string()),
            "forged nonce: {forged}"
        );
    }
    let (client, conn) = tokio_postgres::connect(
        &format!(
            "host=127.0.0.1 port={} user=alice password=secret dbname=kubepg",
            server.port
        ),
        NoTls,
    )
    .await
    .expect("a real SCRAM client still logs in");
    tokio::spawn(conn);
    assert_eq!(outcome(&client, "SELECT 1").await, Ok(Some("1".into())));
    assert_eq!(
        common::http_get(health, "/healthz").await,
        (200, "ok\n".into())
    );
}

#[tokio::test]
async fn wrong_passwords_from_one_address_make_its_next_connections_wait() {
    let (server, _) = start(&["--users", "alice:secret"]);
    let dsn = |password: &str| {
        format!(
            "host=127.0.0.1 port={} user=alice password={password} dbname=kubepg",
            server.port
        )
    };
    for _ in 0..5 {
        let e = tokio_postgres::connect(&dsn("guess"), NoTls)
            .await
            .map(|_| ())
            .expect_err("a wrong password");
        assert_eq!(e.code().map(|c| c.code()), Some("28P01"), "{e}");
    }
    // Three failures are free; the fourth and fifth earn this address a second's wait.
    let started = std::time::Instant::now();
    let (client, conn) = tokio_postgres::connect(&dsn("secret"), NoTls)
        .await
        .expect("the right password still works");
    let waited = started.elapsed();
    tokio::spawn(conn);
    assert!(
        waited >= Duration::from_secs(1),
        "served after {waited:?}, before its back-off ended"
    );
    assert_eq!(outcome(&client, "SELECT 1").await, Ok(Some("1".into())));
}

#[tokio::test]
async fn probes_are_answered_while_statements_saturate_the_server_and_scrapers_cannot_hold_connections()
 {
    let (server, health) = start(&[]);
    // Statements that keep every core busy until their timeout.
    let mut busy = Vec::new();
    for _ in 0..6 {
        let db = connect(server.port).await;
        busy.push(tokio::spawn(async move {
            outcome(
                &db,
                "SET statement_timeout = '20s'; SELECT count(*) FROM range(1000000000000)",
            )
            .await
        }));
    }
    // Scrapers that connect and never send a request.
    let mut silent = Vec::new();
    for _ in 0..50 {
        silent.push(TcpStream::connect(health).await.unwrap());
    }
    for path in ["/healthz", "/metrics"] {
        let (code, body) = common::http_get(health, path).await;
        assert_eq!(code, 200, "{path}: {body}");
    }
    let (code, body) = common::readiness(health).await;
    assert_eq!(code, 200, "/readyz: {body}");
    assert!(
        busy.iter().all(|b| !b.is_finished()),
        "the statements ended before the probes were answered"
    );
    // The server closes each silent connection; it does not wait for the scraper.
    for mut stream in silent {
        let mut byte = [0u8; 1];
        let read = tokio::time::timeout(Duration::from_secs(60), stream.read(&mut byte))
            .await
            .expect("the server closes a connection that sends no request");
        assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    }
    for b in &busy {
        b.abort();
    }
    let fresh = connect(server.port).await;
    assert_eq!(outcome(&fresh, "SELECT 1").await, Ok(Some("1".into())));
}
