//! `kubepg serve` as a process: it announces where it listens, serves psql, and on SIGTERM stops
//! accepting while open connections finish, then exits cleanly.

use crate::common;

use std::process::{Child, Command};

use tokio_postgres::NoTls;

/// Starts `kubepg serve --demo` on a free loopback port; returns the process and its port.
fn serve() -> (Child, u16) {
    common::serve(
        &[
            "--demo",
            "--listen",
            "127.0.0.1:0",
            "--health-listen",
            "127.0.0.1:0",
            "--shutdown-grace",
            "30",
        ],
        &[],
    )
    .expect("kubepg serve listens")
}

async fn connect(port: u16) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let (client, conn) = tokio_postgres::Config::new()
        .host("127.0.0.1")
        .port(port)
        .user("kubepg")
        .dbname("kubepg")
        .connect_timeout(std::time::Duration::from_secs(5))
        .connect(NoTls)
        .await?;
    tokio::spawn(conn);
    Ok(client)
}

#[test]
fn psql_reads_the_demo_through_the_served_port() {
    let (mut child, port) = serve();
    let out = Command::new("psql")
        .arg(format!(
            "host=127.0.0.1 port={port} user=kubepg dbname=kubepg"
        ))
        .args([
            "-X",
            "-A",
            "-t",
            "-c",
            "SELECT phase, count(*) FROM pods GROUP BY 1 ORDER BY 1",
        ])
        .output()
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout,
        "Failed|2\nPending|4\nRunning|44\nSucceeded|1\nUnknown|1\n",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn sigterm_stops_accepting_lets_open_sessions_finish_and_exits_cleanly() {
    let (mut child, port) = serve();
    let open = connect(port).await.unwrap();
    assert_eq!(
        open.query("SELECT count(*) FROM nodes", &[]).await.unwrap()[0].get::<_, i64>(0),
        4
    );

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());

    // New clients are refused once shutdown began…
    let mut refused = false;
    for _ in 0..50 {
        if connect(port).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(refused, "a new connection was still accepted after SIGTERM");
    // …while the open session still answers, within the grace period.
    assert_eq!(
        open.query("SELECT count(*) FROM namespaces", &[])
            .await
            .unwrap()[0]
            .get::<_, i64>(0),
        21
    );
    assert!(
        child.try_wait().unwrap().is_none(),
        "the server must wait for its open session"
    );

    drop(open);
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status:?}");
}

#[tokio::test]
async fn the_idle_timeout_and_the_end_of_the_grace_period_tell_the_client_why() {
    use crate::serve_hostile::{error_fields, raw, start, until_closed};
    let fatal = |code: &str| ("FATAL".to_string(), code.to_string());

    let (idle_server, _) = start(&["--idle-timeout", "1"]);
    let mut idle = raw(idle_server.port).await;
    let said = until_closed(&mut idle).await;
    assert_eq!(said.len(), 1, "{said:?}");
    assert_eq!(error_fields(&said[0].1), fatal("57P05"));

    let (server, _) = start(&["--shutdown-grace", "1"]);
    let mut open = raw(server.port).await;
    let killed = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let said = until_closed(&mut open).await;
    assert_eq!(said.len(), 1, "{said:?}");
    assert_eq!(error_fields(&said[0].1), fatal("57P01"));
}

#[test]
fn every_statement_is_logged_with_who_where_what_and_its_outcome() {
    let (mut child, port, log) = common::serve_logged(
        &[
            "--demo",
            "--log-json",
            "--listen",
            "127.0.0.1:0",
            "--health-listen",
            "off",
        ],
        &[],
    )
    .expect("kubepg serve listens");
    let out = Command::new("psql")
        .arg(format!(
            "host=127.0.0.1 port={port} user=kubepg dbname=kubepg"
        ))
        .args(["-X", "-A", "-t"])
        .args([
            "-c",
            "SELECT name FROM pods WHERE namespace = 'shop' ORDER BY name LIMIT 2",
        ])
        .args(["-c", "SELECT nope FROM pods"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 2);
    let mut statements = Vec::new();
    for _ in 0..100 {
        statements = log
            .lock()
            .unwrap()
            .iter()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["target"] == "kubepg::query")
            .map(|v| v["fields"].clone())
            .collect();
        if statements.len() >= 2 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(statements.len(), 2, "{statements:?}");
    for (s, text, rows, outcome) in [
        (
            &statements[0],
            "SELECT name FROM pods WHERE namespace = '***' ORDER BY name LIMIT 2",
            2,
            "ok",
        ),
        (&statements[1], "SELECT nope FROM pods", 0, "42703"),
    ] {
        assert_eq!(s["user"], "kubepg", "{s}");
        assert_eq!(s["identity"], "kubepg", "{s}");
        assert_eq!(s["database"], "kubepg", "{s}");
        assert!(s["peer"].as_str().unwrap().starts_with("127.0.0.1:"), "{s}");
        assert_eq!(s["clusters"], "demo", "{s}");
        assert_eq!(s["statement"], text, "{s}");
        assert_eq!(s["rows"], rows, "{s}");
        assert_eq!(s["outcome"], outcome, "{s}");
        assert!(s["duration_ms"].is_u64(), "{s}");
    }
}
