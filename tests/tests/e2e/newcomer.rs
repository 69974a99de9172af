//! What a newcomer meets first, as they meet it: errors that say what to do (no kubeconfig,
//! `--in-cluster` outside a pod, a wrong context, a mistyped table, a cluster that is down),
//! booleans written as people write them, one config file for both commands, SQL on stdin, and
//! help that lists what matters.

use crate::common;

use kubepg_testkit::TestClusters;
use kubepg_testkit::proxy::FaultProxy;

/// `kubepg query ARGS` with a fresh HOME, these variables set and `stdin` written to it.
fn query(args: &[&str], envs: &[(&str, &str)], stdin: &str) -> (Option<i32>, String, String) {
    let out = common::query_with(args, envs, stdin);
    (out.code, out.stdout, out.stderr)
}

#[test]
fn setup_mistakes_say_what_to_do() {
    let (code, _, err) = query(&["-q", "SELECT 1"], &[], "");
    assert_eq!(code, Some(1));
    assert!(
        err.contains("cannot read") && err.contains("--kubeconfig") && err.contains("--demo"),
        "{err}"
    );
    assert!(!err.contains("'\""), "kube's doubled quotes: {err}");

    let (_, _, err) = query(&["--in-cluster", "-q", "SELECT 1"], &[], "");
    assert!(err.contains("works inside a pod only"), "{err}");

    let env = TestClusters::shared_seeded();
    let kubeconfig = env.kubeconfig();
    let kubeconfig = kubeconfig.to_str().unwrap();
    let (_, _, err) = query(
        &[
            "--kubeconfig",
            kubeconfig,
            "--context",
            "nosuch",
            "-q",
            "SELECT 1",
        ],
        &[],
        "",
    );
    assert!(
        err.contains("no context matches \"nosuch\"; the kubeconfig has c1, c2"),
        "{err}"
    );

    let (code, _, err) = query(&["--demo", "-q", "SELECT name FROM podz"], &[], "");
    assert_eq!(code, Some(1));
    assert_eq!(
        err.trim(),
        "ERROR 42P01: relation \"podz\" does not exist; did you mean pods?"
    );
}

#[test]
fn booleans_sql_on_stdin_and_help_as_people_expect() {
    for yes in ["1", "yes", "on", "true"] {
        let (code, out, err) = query(
            &["--demo", "-o", "csv", "--no-headers", "-q", "SELECT 1"],
            &[("KUBEPG_STRICT", yes)],
            "",
        );
        assert_eq!((code, out.as_str()), (Some(0), "1\n"), "{yes}: {err}");
    }
    let (code, out, err) = query(
        &["--demo", "-o", "csv", "--no-headers", "-f", "-"],
        &[],
        "SELECT count(*) FROM nodes;",
    );
    assert_eq!((code, out.as_str()), (Some(0), "4\n"), "{err}");

    let (_, help, _) = query(&["--help"], &[], "");
    assert!(!help.contains("--watch-memory"), "{help}");
    assert!(help.contains("KUBEPG_LOG"), "{help}");
    let serve_help = std::process::Command::new(common::kubepg())
        .args(["serve", "--help"])
        .output()
        .unwrap();
    let serve_help = String::from_utf8(serve_help.stdout).unwrap();
    assert!(serve_help.contains("--watch-memory"), "{serve_help}");
}

#[test]
fn the_demo_has_cronjobs() {
    let (code, out, err) = query(
        &[
            "--demo",
            "-o",
            "csv",
            "--no-headers",
            "-q",
            "SELECT namespace, name, schedule FROM cronjobs",
        ],
        &[],
        "",
    );
    assert_eq!(
        (code, out.as_str()),
        (Some(0), "batch,report,0 2 * * *\n"),
        "{err}"
    );
}

#[test]
fn one_config_file_serves_both_commands() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("kubepg.yaml");
    // Unquoted YAML booleans where a flag means on or off, serve's keys, a query section.
    std::fs::write(
        &config,
        "listen: 127.0.0.1:0\nhealth-listen: off\ntls-required: false\nstrict: 1\nquery:\n  scope: demo\n",
    )
    .unwrap();
    let config = config.to_str().unwrap();
    let (code, out, err) = query(
        &[
            "--demo",
            "--config",
            config,
            "-o",
            "csv",
            "--no-headers",
            "-q",
            "SELECT count(*) FROM nodes",
        ],
        &[],
        "",
    );
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out, "4\n");
    assert!(
        err.contains("left alone: health-listen, listen, tls-required"),
        "{err}"
    );
    let (child, port) = common::serve(&["--demo", "--config", config], &[])
        .unwrap_or_else(|printed| panic!("kubepg serve exited:\n{printed}"));
    let _server = common::Server { child, port };

    let printed =
        common::serve(&["--demo", "--tls-required"], &[]).expect_err("TLS without a certificate");
    assert!(
        printed.contains("TLS needs both a certificate and its key"),
        "{printed}"
    );
}

/// `SELECT count(*) FROM pods` through `kubeconfig`, with `home`'s discovery cache; its stderr.
fn count_pods(home: std::path::PathBuf, kubeconfig: std::path::PathBuf, ttl: &str) -> String {
    let mut cmd = common::isolated("query", &home);
    cmd.arg("--kubeconfig")
        .arg(kubeconfig)
        .args(["--discovery-ttl", ttl, "--request-timeout", "3"])
        .args(["-q", "SELECT count(*) FROM pods"]);
    String::from_utf8(cmd.output().unwrap().stderr).unwrap()
}

#[tokio::test]
async fn a_query_over_a_cluster_that_is_down_names_the_cluster_not_a_missing_table() {
    let env = TestClusters::shared_seeded();
    let home = tempfile::tempdir().unwrap();
    let at = home.path().to_path_buf();
    // Never discovered: the cluster is unreachable, not the table unknown.
    let dead = env.dead_kubeconfig().unwrap();
    let (h, k) = (at.clone(), dead);
    let err = tokio::task::spawn_blocking(move || count_pods(h, k, "600"))
        .await
        .unwrap();
    assert!(
        err.contains("ERROR 58000: cluster dead is unavailable"),
        "{err}"
    );
    assert!(!err.contains("42P01"), "{err}");

    // Discovered once, then down (its discovery is stale): its tables still resolve and the
    // query answers the cluster's own failure.
    let proxy = FaultProxy::start(env.cluster("c1")).await.unwrap();
    let kubeconfig = proxy.kubeconfig(env, "flaky").unwrap();
    let (h, k) = (at.clone(), kubeconfig.clone());
    let err = tokio::task::spawn_blocking(move || count_pods(h, k, "600"))
        .await
        .unwrap();
    assert!(!err.contains("ERROR"), "{err}");
    drop(proxy);
    let err = tokio::task::spawn_blocking(move || count_pods(at, kubeconfig, "0"))
        .await
        .unwrap();
    assert!(err.contains("ERROR 58000: cluster flaky"), "{err}");
}

/// The README's ```sql blocks, in order.
fn readme_sql_blocks(readme: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut rest = readme;
    while let Some(start) = rest.find("```sql\n") {
        let body = &rest[start + "```sql\n".len()..];
        let end = body.find("```").expect("a closed code block");
        blocks.push(body[..end].to_string());
        rest = &body[end..][3..];
    }
    blocks
}

#[test]
fn every_sql_example_of_the_readme_runs_on_the_demo() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .expect("the README");
    let blocks = readme_sql_blocks(&readme);
    assert!(blocks.len() >= 4, "{blocks:?}");
    for block in &blocks {
        let (code, out, err) = query(&["--demo", "-q", block], &[], "");
        if block.trim_start().starts_with("LISTEN") {
            // As the README says: a snapshot never changes, so there is nothing to follow.
            assert!(err.contains("ERROR 0A000"), "{block}\n{err}");
            continue;
        }
        assert_eq!(code, Some(0), "{block}\n{err}");
        assert!(!out.trim().is_empty(), "{block}: no output");
    }
    // The README's `kubepg query --demo` command lines, run as a shell would.
    let lines: Vec<&str> = readme
        .lines()
        .filter(|l| l.starts_with("kubepg query --demo"))
        .collect();
    assert!(!lines.is_empty());
    let home = tempfile::tempdir().unwrap();
    for line in lines {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(line.replacen("kubepg", &common::kubepg().display().to_string(), 1))
            .env("HOME", home.path())
            .env_remove("KUBECONFIG")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && !stdout.trim().is_empty(),
            "{line}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// `psql -X -A -t` with each of `commands`, against a local server on `port`.
fn psql_at(port: u16, commands: &[&str]) -> (String, String) {
    let mut cmd = std::process::Command::new("psql");
    cmd.arg(format!(
        "host=127.0.0.1 port={port} user=kubepg dbname=kubepg"
    ))
    .args(["-X", "-A", "-t"]);
    for c in commands {
        cmd.args(["-c", c]);
    }
    let out = cmd.output().expect("psql runs");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn timestamps_print_in_the_session_time_zone_as_postgresql_prints_them() {
    let env = TestClusters::shared_seeded();
    let kubeconfig = env.kubeconfig();
    let line = common::kubectl(
        &kubeconfig,
        "c1",
        &[
            "get",
            "pods",
            "-A",
            "-o",
            "jsonpath={.items[0].metadata.namespace} {.items[0].metadata.name} {.items[0].metadata.creationTimestamp}",
        ],
    );
    let [namespace, name, created]: [&str; 3] = line
        .split_whitespace()
        .collect::<Vec<_>>()
        .try_into()
        .expect("a namespace, a name and a creation time");
    let created = chrono::DateTime::parse_from_rfc3339(created)
        .unwrap()
        .to_utc();
    let server = common::cluster_server(&kubeconfig, "c1");
    let select =
        format!("SELECT created FROM pods WHERE namespace = '{namespace}' AND name = '{name}'");
    let kolkata = chrono::FixedOffset::east_opt(5 * 3600 + 1800).unwrap();
    let (out, err) = psql_at(
        server.port,
        &[
            &select,
            "SET TIME ZONE 'asia/kolkata'",
            "SHOW TimeZone",
            &select,
            "SELECT TIMESTAMPTZ '2024-01-01 10:00:00', TIMESTAMPTZ '2024-07-01 10:00:00.250+00'",
            "SELECT now()",
            &format!("COPY ({select}) TO STDOUT"),
            "SET TIME ZONE -5",
            "SHOW TimeZone",
            &select,
        ],
    );
    assert!(err.is_empty(), "{err}");
    let lines: Vec<&str> = out.lines().filter(|l| !l.is_empty()).collect();
    let expected_at = |offset: &chrono::FixedOffset, suffix: &str| {
        format!(
            "{}{suffix}",
            created.with_timezone(offset).format("%Y-%m-%d %H:%M:%S")
        )
    };
    assert_eq!(
        lines[0],
        expected_at(&chrono::FixedOffset::east_opt(0).unwrap(), "+00")
    );
    assert_eq!(lines[1], "SET");
    assert_eq!(lines[2], "Asia/Kolkata");
    assert_eq!(lines[3], expected_at(&kolkata, "+05:30"));
    // A literal without an offset is read in the session's zone; fractions print as needed.
    assert_eq!(
        lines[4],
        "2024-01-01 10:00:00+05:30|2024-07-01 15:30:00.25+05:30"
    );
    assert!(lines[5].ends_with("+05:30"), "{}", lines[5]);
    assert_eq!(lines[6], expected_at(&kolkata, "+05:30"));
    assert_eq!(lines[8], "<-05>+05");
    let five_west = chrono::FixedOffset::west_opt(5 * 3600).unwrap();
    assert_eq!(lines[9], expected_at(&five_west, "-05"));

    let (_, err) = psql_at(server.port, &["SET TIME ZONE 'Mars/Olympus'"]);
    assert!(
        err.contains("invalid value for parameter \"TimeZone\": \"Mars/Olympus\""),
        "{err}"
    );

    // Binary results carry the instant, whatever the zone.
    let (client, conn) = tokio_postgres::connect(
        &format!(
            "host=127.0.0.1 port={} user=kubepg dbname=kubepg",
            server.port
        ),
        tokio_postgres::NoTls,
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    client
        .batch_execute("SET TIME ZONE 'America/New_York'")
        .await
        .unwrap();
    let row = client.query_one(select.as_str(), &[]).await.unwrap();
    let binary: std::time::SystemTime = row.get(0);
    assert_eq!(chrono::DateTime::<chrono::Utc>::from(binary), created);

    // `kubepg query` prints as psql does.
    let run = common::query([
        "--kubeconfig",
        kubeconfig.to_str().unwrap(),
        "--context",
        "c1",
        "-q",
        &format!("SET TIME ZONE 'Asia/Kolkata'; {select}"),
    ]);
    assert!(
        run.ok().contains(&expected_at(&kolkata, "+05:30")),
        "{}",
        run.stdout
    );
}

#[test]
fn a_kubeconfig_that_skips_tls_verification_is_said_once_in_the_server_log_only() {
    let env = TestClusters::shared_seeded();
    let written = std::fs::read_to_string(env.kubeconfig()).unwrap();
    let insecure: String = written
        .lines()
        .map(
            |line| match line.split_once("certificate-authority-data: ") {
                Some((before, _)) => format!("{before}insecure-skip-tls-verify: true}}\n"),
                None => format!("{line}\n"),
            },
        )
        .collect();
    assert_ne!(insecure, written, "the kubeconfig names its CA");
    let home = tempfile::tempdir().unwrap();
    let kubeconfig = home.path().join("insecure");
    std::fs::write(&kubeconfig, insecure).unwrap();
    let kubeconfig = kubeconfig.to_str().unwrap();

    let run = common::query([
        "--kubeconfig",
        kubeconfig,
        "--context",
        "c1",
        "-q",
        "SELECT count(*) > 0 AS some FROM pods",
        "-o",
        "csv",
    ]);
    assert_eq!(run.ok(), "some\nt\n");
    assert!(run.stderr.is_empty(), "{}", run.stderr);

    let (child, port, log) = common::serve_logged(
        &[
            "--kubeconfig",
            kubeconfig,
            "--context",
            "c*",
            "--listen",
            "127.0.0.1:0",
            "--health-listen",
            "off",
        ],
        &[],
    )
    .unwrap_or_else(|printed| panic!("kubepg serve exited:\n{printed}"));
    let _server = common::Server { child, port };
    for _ in 0..3 {
        let (out, err) = psql_at(port, &["SELECT count(DISTINCT _cluster) FROM pods"]);
        assert_eq!(out.trim(), "2", "{err}");
    }
    let log = log.lock().unwrap().clone();
    assert!(!log.iter().any(|l| l.contains("bypassed")), "{log:?}");
    for cluster in ["c1", "c2"] {
        let said = log
            .iter()
            .filter(|l| {
                l.contains("verification is off") && l.contains(&format!("cluster={cluster}"))
            })
            .count();
        assert_eq!(said, 1, "{log:?}");
    }
}
