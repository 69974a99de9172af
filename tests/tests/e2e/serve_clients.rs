//! Real client libraries against `kubepg serve` over a real API server: psycopg 3 (parameters,
//! binary results, prepared statements, a server-side cursor, COPY, LISTEN) and pgjdbc
//! (DatabaseMetaData as DBeaver and Metabase use it, prepared statements past the server-prepare
//! threshold, LISTEN), asyncpg, SQLAlchemy's reflection through psycopg2 and psycopg 3, and psql
//! printing notifications. The expected rows come from kubectl against the same API server.

use crate::common;

use std::collections::HashMap;
use std::process::Command;

use kubepg_testkit::TestClusters;
use serde_json::Value;

fn serve(env: &TestClusters) -> common::Server {
    common::cluster_server(&env.kubeconfig(), "c1")
}

fn kubectl(env: &TestClusters, args: &[&str]) -> String {
    common::kubectl(&env.kubeconfig(), "c1", args)
}

/// Names of the pods in `shop`, sorted the way `ORDER BY name` sorts them.
fn shop_pods(env: &TestClusters) -> Vec<String> {
    let mut names: Vec<String> = kubectl(
        env,
        &[
            "get",
            "pods",
            "-n",
            "shop",
            "-o",
            "jsonpath={.items[*].metadata.name}",
        ],
    )
    .split_whitespace()
    .map(String::from)
    .collect();
    names.sort();
    names
}

fn namespaces(env: &TestClusters) -> usize {
    kubectl(env, &["get", "namespaces", "-o", "name"])
        .lines()
        .count()
}

#[test]
fn psycopg_reads_parameters_binary_prepared_cursors_and_copy() {
    let env = TestClusters::shared_seeded();
    let server = serve(env);
    let kubeconfig = env.kubeconfig();
    let got = common::python_client(
        "psycopg_check.py",
        server.port,
        [kubeconfig.as_os_str(), "c1".as_ref()],
    );
    let expected = shop_pods(env);
    assert!(expected.len() >= 4, "{expected:?}");

    assert_eq!(got["params"], serde_json::json!(expected));
    assert_eq!(got["binary"]["name"], expected[0].as_str());
    assert_eq!(got["binary"]["created_tz"], true);
    assert!(got["binary"]["labels"].is_object(), "{}", got["binary"]);
    assert!(got["binary"]["restarts"].is_i64(), "{}", got["binary"]);
    assert_eq!(got["binary"]["ready_type"], "bool");
    // text, timestamptz, jsonb, int8, bool
    assert_eq!(
        got["binary_types"],
        serde_json::json!([25, 1184, 3802, 20, 16])
    );
    assert_eq!(got["prepared"], serde_json::json!(vec![expected.len(); 7]));
    assert_eq!(
        got["server_cursor"],
        serde_json::json!([&expected[0..2], &expected[2..4]])
    );
    assert_eq!(got["server_cursor_columns"], serde_json::json!(["name"]));
    let copy_rows: Vec<Value> = expected
        .iter()
        .map(|n| serde_json::json!([n, "shop"]))
        .collect();
    assert_eq!(got["copy_rows"], Value::Array(copy_rows));
    assert_eq!(
        got["copy_csv"],
        format!("name\n{}\n", expected.join("\n")).as_str()
    );
    assert_eq!(got["error"], "42P01");
    assert_eq!(got["after_error"], namespaces(env));
    assert_eq!(got["server_version"], 160006);
    assert_eq!(got["type_info"], serde_json::json!(["jsonb", 3802, 3807]));
    assert_eq!(
        got["format"],
        serde_json::json!(["public.\"Pods\"", "\"Weird\"", "timestamp with time zone"])
    );
    let columns = got["grafana_columns"]
        .as_array()
        .expect("Grafana's column list");
    assert!(
        ["_cluster", "name", "namespace", "phase", "labels"]
            .iter()
            .all(|c| columns.contains(&Value::from(*c))),
        "{columns:?}"
    );
    assert_eq!(got["superset_time_filter"], expected.len());
    assert_eq!(got["primary_key"], serde_json::json!(["_cluster", "uid"]));
    assert_eq!(
        got["column_flags"],
        serde_json::json!(["pg_catalog", "jsonb", "NO", "NEVER"])
    );
    assert_eq!(
        got["like_escape"],
        serde_json::json!(["information_schema", "kubepg", "public"])
    );
    let heard = &got["notifies"][0];
    assert_eq!(heard["channel"], "configmaps/shop", "{got}");
    assert_eq!(heard["pid"], got["listener_pid"]);
    assert_eq!(
        (
            &heard["payload"]["type"],
            &heard["payload"]["table"],
            &heard["payload"]["namespace"],
            &heard["payload"]["name"],
        ),
        (
            &Value::from("ADDED"),
            &Value::from("configmaps"),
            &Value::from("shop"),
            &Value::from("psycopg-listen")
        )
    );
}

#[test]
fn asyncpg_binds_parameters_by_their_casts_moves_cursors_and_copies() {
    let env = TestClusters::shared_seeded();
    let server = serve(env);
    let got = common::python_client("asyncpg_check.py", server.port, Vec::<&str>::new());
    let expected = shop_pods(env);
    // `$2::int8` and `$1::timestamptz` are described as int8 and timestamptz, so asyncpg sends
    // a Python int and a datetime (it refuses them for a parameter described as text).
    assert_eq!(got["int8"], expected.len());
    assert_eq!(got["timestamptz"], expected.len());
    // forward(1), fetch(1), forward(1), fetch(2), then forward past the end.
    assert_eq!(
        got["cursor"],
        serde_json::json!([
            1,
            expected[1],
            1,
            expected[3],
            expected[4],
            expected.len() - 5
        ])
    );
    assert_eq!(
        got["copy"],
        serde_json::json!([
            format!("COPY {}", expected.len()),
            format!("{}\n", expected.join("\n"))
        ])
    );
    // The pool's reset query ran between the two uses, and the connection stayed.
    let pool = got["pool"].as_array().expect("two pids");
    assert_eq!(pool.len(), 2);
    assert_eq!(pool[0], pool[1]);
}

#[test]
fn pgjdbc_metadata_and_prepared_statements_past_the_threshold() {
    let env = TestClusters::shared_seeded();
    let server = serve(env);
    let out = Command::new("java")
        .args(["-cp", "/usr/share/java/postgresql.jar"])
        .arg(common::clients_dir().join("JdbcCheck.java"))
        .arg(format!(
            "jdbc:postgresql://127.0.0.1:{}/kubepg",
            server.port
        ))
        .args(["kubepg", ""])
        .arg(env.kubeconfig())
        .arg("c1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: HashMap<&str, &str> = stdout.lines().filter_map(|l| l.split_once('\t')).collect();
    let expected = format!("[{}]", shop_pods(env).join(", "));

    assert_eq!(got["product"], "PostgreSQL 16");
    assert!(got["catalogs"].contains("kubepg"), "{}", got["catalogs"]);
    assert_eq!(
        got["schemas"],
        "[information_schema, kubepg, pg_catalog, public]"
    );
    assert_eq!(got["tables_has_pods"], "true");
    for column in [
        "name=text",
        "created=timestamptz",
        "labels=jsonb",
        "restarts=int8",
        "ready=bool",
    ] {
        assert!(
            got["column_types"].contains(column),
            "{column} in {}",
            got["column_types"]
        );
    }
    // Every resource table's key, through `information_schema._pg_expandarray`.
    assert_eq!(
        got["primary_keys"],
        "[pods_pkey:1:_cluster, pods_pkey:2:uid]"
    );
    assert_eq!(
        got["index_info"],
        "[pods_pkey:false:_cluster:null, pods_pkey:false:uid:null]"
    );
    assert_eq!(got["best_row"], "[_cluster, uid]");
    // Metabase's sync: the key among the fields (its query casts a computed name to
    // regclass), and the index its describe-indexes finds.
    assert_eq!(got["metabase_key_fields"], "[_cluster:text, uid:text]");
    assert_eq!(got["metabase_index_fields"], "[_cluster]");
    // Its select list repeats an unnamed NULL, as PostgreSQL allows (once an error). Since
    // PostgreSQL 11 it lists procedures only, and `now` is a function.
    assert_eq!(got["procedures_named_now"], "[]");
    assert_eq!(got["type_info_has_jsonb"], "true");
    assert_eq!(got["type_info_has_text"], "true");
    for run in 0..7 {
        assert_eq!(
            got[format!("prepared_run_{run}").as_str()],
            expected,
            "run {run}"
        );
    }
    assert_eq!(got["error"], "42P01");
    assert_eq!(got["after_error"], namespaces(env).to_string());
    assert_eq!(got.get("notify_channel"), Some(&"serviceaccounts/shop"));
    let payload: Value = serde_json::from_str(got["notify_payload"]).unwrap();
    assert_eq!(
        (&payload["type"], &payload["namespace"], &payload["name"]),
        (
            &Value::from("ADDED"),
            &Value::from("shop"),
            &Value::from("jdbc-listen")
        )
    );
}

#[test]
fn psql_prints_the_notifications_of_a_listened_table() {
    use std::io::{BufRead, BufReader, Write};
    use std::process::Stdio;
    use std::time::{Duration, Instant};

    let env = TestClusters::shared_seeded();
    let server = serve(env);
    let mut psql = Command::new("psql")
        .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
        .arg(format!(
            "host=127.0.0.1 port={} user=kubepg dbname=kubepg",
            server.port
        ))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = psql.stdin.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = BufReader::new(psql.stdout.take().unwrap());
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let next_line = |what: &str| {
        rx.recv_timeout(Duration::from_secs(90))
            .unwrap_or_else(|_| panic!("psql printed no {what}"))
    };

    // A marker row after LISTEN says it has returned, so the change below is heard.
    writeln!(stdin, "LISTEN \"roles/shop\"; SELECT 'listening';").unwrap();
    assert_eq!(next_line("marker"), "listening");
    kubectl(
        env,
        &[
            "create",
            "role",
            "psql-listen",
            "-n",
            "shop",
            "--verb=get",
            "--resource=pods",
        ],
    );
    // psql prints what arrived while it was idle after its next command.
    let deadline = Instant::now() + Duration::from_secs(90);
    let heard = loop {
        assert!(Instant::now() < deadline, "psql printed no notification");
        writeln!(stdin, "SELECT 'tick';").unwrap();
        let line = next_line("tick");
        if line.starts_with("Asynchronous notification") {
            break line;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    kubectl(env, &["delete", "role", "psql-listen", "-n", "shop"]);
    drop(stdin);
    psql.wait().unwrap();
    assert!(
        heard.starts_with("Asynchronous notification \"roles/shop\" with payload \"{"),
        "{heard}"
    );
    assert!(
        heard.contains(r#""type":"ADDED""#) && heard.contains(r#""name":"psql-listen""#),
        "{heard}"
    );
}

#[test]
fn sqlalchemy_reflects_tables_columns_and_primary_keys_through_both_drivers() {
    let env = TestClusters::shared_seeded();
    let server = serve(env);
    let got = common::python_client("sqlalchemy_check.py", server.port, Vec::<&str>::new());
    // psycopg2 interpolates parameters in the client, psycopg 3 binds them in the server (some
    // of them in subqueries kubepg's catalog layer drops): the same answers either way.
    assert_eq!(got["psycopg2"], got["psycopg"]);
    let read = &got["psycopg"];
    assert_eq!(
        read["schemas"],
        serde_json::json!(["information_schema", "kubepg", "public"])
    );
    let tables: Vec<&str> = read["tables"]
        .as_array()
        .expect("table names")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        tables.contains(&"pods") && tables.contains(&"deployments"),
        "{tables:?}"
    );
    // kubepg's own tables are in schema kubepg, not on the search path.
    assert!(!tables.contains(&"clusters"), "{tables:?}");
    assert_eq!(read["columns"]["_cluster"], "TEXT");
    assert_eq!(read["columns"]["labels"], "JSONB");
    assert_eq!(read["columns"]["restarts"], "BIGINT");
    assert_eq!(read["pk"]["name"], "pods_pkey");
    assert_eq!(
        read["pk"]["constrained_columns"],
        serde_json::json!(["_cluster", "uid"])
    );
    for none in ["foreign_keys", "indexes", "unique", "checks"] {
        assert_eq!(read[none], serde_json::json!([]), "{none}");
    }
    assert_eq!(
        read["reflected"],
        serde_json::json!({"deployments": ["_cluster", "uid"], "pods": ["_cluster", "uid"]})
    );
    // Superset's epoch column: a count of seconds after 1970, as a timestamp.
    let epochs = read["epoch_to_dttm"].as_object().unwrap();
    assert!(!epochs.is_empty());
    for (restarts, when) in epochs {
        let seconds: i64 = restarts.parse().unwrap();
        let want = chrono::DateTime::from_timestamp(seconds, 0)
            .unwrap()
            .naive_utc();
        assert_eq!(
            when,
            &serde_json::json!(want.format("%Y-%m-%dT%H:%M:%S").to_string())
        );
    }
}
