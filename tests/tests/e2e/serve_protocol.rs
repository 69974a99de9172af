//! Real PostgreSQL clients against `kubepg serve` over real API servers: psql's meta-commands,
//! tokio-postgres's extended protocol with binary results and parameters, cancellation and
//! timeouts, and errors that leave the connection usable (who may connect: `serve_auth.rs`).

use crate::common;

use std::net::SocketAddr;
use std::sync::Arc;

use kubepg_kube::pool::{ClusterPool, PoolConfig};
use kubepg_server::{AuthMode, Server, ServerConfig};
use kubepg_sql::{Engine, EngineConfig};
use kubepg_testkit::TestClusters;
use tokio::sync::watch;
use tokio_postgres::NoTls;

pub(super) struct Running {
    pub(super) addr: SocketAddr,
    health: SocketAddr,
    _stop: watch::Sender<bool>,
}

pub(super) async fn start(auth: AuthMode, max_connections: usize) -> Running {
    start_with(ServerConfig {
        auth,
        max_connections,
        ..Default::default()
    })
    .await
}

/// Serves the shared seeded clusters on free loopback ports with `config`'s settings.
pub(super) async fn start_with(config: ServerConfig) -> Running {
    start_engine(config, EngineConfig::default()).await
}

async fn start_engine(config: ServerConfig, engine_config: EngineConfig) -> Running {
    let env = TestClusters::shared_seeded();
    let pool = ClusterPool::build(PoolConfig {
        kubeconfigs: vec![env.kubeconfig()],
        contexts: vec!["c*".into()],
        total_requests: 16,
        live: kubepg_kube::live::LiveConfig {
            observer: Some(config.metrics.api()),
            ..Default::default()
        },
        ..Default::default()
    })
    .await
    .unwrap();
    let engine = Engine::new(Arc::new(pool), engine_config);
    let server = Server::bind(
        ServerConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            health_listen: Some("127.0.0.1:0".parse().unwrap()),
            ..config
        },
        engine,
    )
    .await
    .unwrap();
    let addr = server.local_addr().unwrap();
    let health = server.health_addr().unwrap();
    let (stop, stopped) = watch::channel(false);
    tokio::spawn(server.run(stopped));
    Running {
        addr,
        health,
        _stop: stop,
    }
}

async fn psql(addr: SocketAddr, db: &str, command: &str) -> (String, String) {
    let out = tokio::process::Command::new("psql")
        .arg(format!(
            "host=127.0.0.1 port={} user=kubepg dbname={db} connect_timeout=10",
            addr.port()
        ))
        .args(["-X", "-A", "-t", "-F", "|", "-c", command])
        .env("PGPASSWORD", "")
        .output()
        .await
        .expect("psql runs");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

pub(super) async fn connect(
    addr: SocketAddr,
    db: &str,
    user: &str,
    password: &str,
) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let mut config = tokio_postgres::Config::new();
    config
        .host("127.0.0.1")
        .port(addr.port())
        .user(user)
        .dbname(db);
    if !password.is_empty() {
        config.password(password);
    }
    let (client, conn) = config.connect(NoTls).await?;
    tokio::spawn(conn);
    Ok(client)
}

#[tokio::test]
async fn psql_meta_commands_describe_clusters_tables_and_columns() {
    let s = start(AuthMode::Trust, 10).await;
    let (out, err) = psql(s.addr, "kubepg", r"\l").await;
    let dbs: Vec<&str> = out
        .lines()
        .map(|l| l.split('|').next().unwrap_or_default())
        .collect();
    for db in ["all", "c1", "c2", "kubepg"] {
        assert!(dbs.contains(&db), "{db} missing from \\l: {out} {err}");
    }
    let (out, err) = psql(s.addr, "c1", r"\dt").await;
    assert!(
        out.lines().any(|l| l == "public|pods|table|postgres"),
        "{out} {err}"
    );
    assert!(
        out.lines().any(|l| l == "public|widgets|table|postgres"),
        "{out} {err}"
    );
    let (out, err) = psql(s.addr, "c1", r"\d nodes").await;
    let columns: Vec<(&str, &str)> = out
        .lines()
        .filter_map(|l| {
            let mut p = l.split('|');
            Some((p.next()?, p.next()?))
        })
        .collect();
    assert_eq!(
        &columns[..3],
        &[("_cluster", "text"), ("name", "text"), ("uid", "text")],
        "{out} {err}"
    );
    assert!(
        columns.contains(&("cpu_capacity", "double precision")),
        "{out}"
    );
    assert!(columns.contains(&("memory_capacity", "bigint")), "{out}");
    assert!(columns.contains(&("ready", "boolean")), "{out}");
    assert!(
        columns.contains(&("created", "timestamp with time zone")),
        "{out}"
    );
    assert!(columns.contains(&("labels", "jsonb")), "{out}");
    let (out, err) = psql(s.addr, "c1", r"\dn").await;
    assert_eq!(out, "kubepg|postgres\npublic|postgres\n", "{err}");
    // Every resource table is keyed by (_cluster, uid): `\di` lists the key's index, and
    // `\d`'s index query (run since pg_class says the table has one) describes it.
    let (out, err) = psql(s.addr, "c1", r"\di pods_pkey").await;
    assert_eq!(
        (out.as_str(), err.as_str()),
        ("public|pods_pkey|index|postgres|pods\n", "")
    );
    let (out, err) = psql(
        s.addr,
        "c1",
        "SELECT c.relname, i.indisprimary, pg_get_indexdef(i.indexrelid, 0, true), \
         pg_get_constraintdef(con.oid, true) FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid \
         JOIN pg_constraint con ON con.conindid = i.indexrelid \
         WHERE i.indrelid = 'pods'::regclass",
    )
    .await;
    assert_eq!(
        (out.as_str(), err.as_str()),
        (
            "pods_pkey|t|CREATE UNIQUE INDEX pods_pkey ON public.pods USING btree (_cluster, uid)\
             |PRIMARY KEY (_cluster, uid)\n",
            ""
        )
    );
    // Only the tables on the search path are listed without a pattern (not kubepg.clusters).
    let (out, err) = psql(s.addr, "c1", r"\dt").await;
    assert!(
        err.is_empty() && out.contains("|pods|") && !out.contains("|clusters|"),
        "{out}{err}"
    );
    // No functions of kubepg's own are in pg_catalog.pg_proc; the listing works and is empty.
    let (out, err) = psql(s.addr, "c1", r"\df").await;
    assert_eq!((out.as_str(), err.as_str()), ("", ""));
    // The `+` forms and `\dT` call PostgreSQL's size and description functions.
    let (out, err) = psql(s.addr, "c1", r"\dt+ pods").await;
    assert_eq!(
        (out.as_str(), err.as_str()),
        ("public|pods|table|postgres|permanent||0 bytes|\n", "")
    );
    let (out, err) = psql(s.addr, "c1", r"\l+").await;
    assert!(
        err.is_empty()
            && out
                .lines()
                .any(|l| l.starts_with("c1|") && l.contains("|0 bytes|")),
        "{out} {err}"
    );
    let (out, err) = psql(s.addr, "c1", r"\dT").await;
    assert_eq!((out.as_str(), err.as_str()), ("", ""));
    // `\du` reads each role's memberships with ARRAY(SELECT …); the role is the SQL user.
    let (out, err) = psql(s.addr, "c1", r"\du").await;
    assert!(out.starts_with("kubepg|"), "{out}{err}");

    let (out, err) = psql(
        s.addr,
        "all",
        "SELECT _cluster, count(*) FROM pods GROUP BY 1 ORDER BY 1",
    )
    .await;
    assert_eq!(out, "c1|22\nc2|28\n", "{err}");
    let (out, _) = psql(s.addr, "c1", "SELECT version()").await;
    assert!(out.starts_with("PostgreSQL 16.6 (kubepg"), "{out}");
    let (out, _) = psql(s.addr, "c1", "SHOW server_version_num").await;
    assert_eq!(out.trim(), "160006");
    let (out, err) = psql(s.addr, "nosuchcluster", "SELECT 1").await;
    assert!(
        out.is_empty() && err.contains("database \"nosuchcluster\" does not exist"),
        "{err}"
    );
}

#[tokio::test]
async fn tokio_postgres_prepared_statements_bind_parameters_and_read_binary_types() {
    let s = start(AuthMode::Trust, 10).await;
    let client = connect(s.addr, "c1", "kubepg", "").await.unwrap();
    let stmt = client
        .prepare("SELECT name, restarts, ready, created, labels FROM pods WHERE namespace = $1 AND labels->>'app' = $2 ORDER BY name")
        .await
        .unwrap();
    assert_eq!(
        stmt.params(),
        &[
            tokio_postgres::types::Type::TEXT,
            tokio_postgres::types::Type::TEXT
        ]
    );
    let types: Vec<_> = stmt.columns().iter().map(|c| c.type_().clone()).collect();
    use tokio_postgres::types::Type;
    assert_eq!(
        types,
        [
            Type::TEXT,
            Type::INT8,
            Type::BOOL,
            Type::TIMESTAMPTZ,
            Type::JSONB
        ]
    );
    // pgjdbc and others switch to server-side statements after five runs; run it more.
    for (i, (ns, app, expected)) in [
        ("shop", "web", 3),
        ("shop", "api", 2),
        ("payments", "ledger", 2),
        ("shop", "nope", 0),
    ]
    .iter()
    .cycle()
    .take(8)
    .enumerate()
    {
        let rows = client
            .query(&stmt, &[ns, app])
            .await
            .unwrap_or_else(|e| panic!("run {i}: {e}"));
        assert_eq!(rows.len(), *expected, "run {i} {ns}/{app}");
        for row in rows {
            let labels: serde_json::Value = row.get(4);
            assert_eq!(labels["app"], *app);
            let _: i64 = row.get(1);
            let _: bool = row.get(2);
            let _: std::time::SystemTime = row.get(3);
        }
    }
    let crashing = client
        .query_one(
            "SELECT name, restarts FROM pods WHERE namespace = 'shop' AND restarts > $1",
            &[&5i64],
        )
        .await
        .unwrap();
    assert_eq!(crashing.get::<_, i64>(1), 7);
}

#[tokio::test]
async fn errors_carry_sqlstates_and_the_connection_stays_usable() {
    let s = start(AuthMode::Trust, 10).await;
    let client = connect(s.addr, "c1", "kubepg", "").await.unwrap();
    for (sql, state) in [
        ("SELECT * FROM nosuchtable", "42P01"),
        ("SELECT nosuchcolumn FROM pods", "42703"),
        ("SELECT ('public.' || name)::regclass FROM pods", "42P01"),
        ("SELEKT 1", "42601"),
        ("DELETE FROM pods", "25006"),
        ("COPY pods FROM '/etc/passwd'", "42501"),
        // Not PostgreSQL syntax, but it says it would read a file: refused for that, as
        // `kubepg query` refuses it.
        (
            "CREATE EXTERNAL TABLE t STORED AS CSV LOCATION '/etc/passwd'",
            "42501",
        ),
    ] {
        let err = client.simple_query(sql).await.expect_err(sql);
        assert_eq!(err.code().map(|c| c.code()), Some(state), "{sql}: {err:?}");
        let rows = client
            .query("SELECT count(*) FROM namespaces", &[])
            .await
            .unwrap();
        assert_eq!(rows[0].get::<_, i64>(0), 9, "usable after {sql}");
    }
    // A computed name cast to regclass is the relation's oid, as the catalog numbers it.
    let oids = rows(
        &client,
        "SELECT CAST(format('%I.%I', 'public', 'pods') AS regclass)::text, \
         (SELECT oid::text FROM pg_class WHERE relname = 'pods')",
    )
    .await;
    assert!(oids[0][0].is_some() && oids[0][0] == oids[0][1], "{oids:?}");
    // Empty queries and comments answer like PostgreSQL (tokio-postgres reports the
    // EmptyQueryResponse as CommandComplete(0)).
    for empty in [";", "-- ping"] {
        let messages = client.simple_query(empty).await.unwrap();
        assert!(
            matches!(
                messages.as_slice(),
                [tokio_postgres::SimpleQueryMessage::CommandComplete(0)]
            ),
            "{empty}: {} messages",
            messages.len()
        );
    }
}

/// A statement that would run for hours.
const ENDLESS: &str = "SELECT sum(value) FROM generate_series(1, 100000000000)";

#[tokio::test]
async fn a_cancel_request_stops_the_running_statement_with_57014() {
    let s = start(AuthMode::Trust, 10).await;
    let client = connect(s.addr, "c1", "kubepg", "").await.unwrap();
    let token = client.cancel_token();
    let running = tokio::spawn(async move {
        let result = client.simple_query(ENDLESS).await;
        (client, result)
    });
    // Cancel until the server has started the statement and acknowledged the cancel by ending it.
    let (client, result) = loop {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        token.cancel_query(NoTls).await.unwrap();
        if running.is_finished() {
            break running.await.unwrap();
        }
    };
    let err = result.expect_err("cancelled");
    assert_eq!(err.code().map(|c| c.code()), Some("57014"), "{err:?}");
    let rows = client
        .query("SELECT count(*) FROM nodes", &[])
        .await
        .unwrap();
    assert_eq!(
        rows[0].get::<_, i64>(0),
        4,
        "the connection is usable after a cancel"
    );
}

#[tokio::test]
async fn statement_timeout_ends_a_statement_with_57014_and_can_be_set_per_session() {
    let s = start(AuthMode::Trust, 10).await;
    let client = connect(s.addr, "c1", "kubepg", "").await.unwrap();
    client
        .simple_query("SET statement_timeout = 200")
        .await
        .unwrap();
    let err = client.simple_query(ENDLESS).await.expect_err("timed out");
    assert_eq!(err.code().map(|c| c.code()), Some("57014"), "{err:?}");
    let message = err
        .as_db_error()
        .map(|e| e.message().to_string())
        .unwrap_or_default();
    assert!(message.contains("statement timeout"), "{message}");
    let rows = client
        .query("SELECT count(*) FROM nodes", &[])
        .await
        .unwrap();
    assert_eq!(rows[0].get::<_, i64>(0), 4);
}

#[tokio::test]
async fn psql_copy_exports_query_results_as_csv_and_text() {
    let s = start(AuthMode::Trust, 10).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("shop.csv");
    let (out, err) = psql(
        s.addr,
        "c1",
        &format!(
            r"\copy (SELECT name, labels->>'app' AS app, ready FROM pods WHERE namespace = 'shop' AND labels->>'app' = 'api' ORDER BY restarts) TO '{}' WITH CSV HEADER",
            file.display()
        ),
    )
    .await;
    assert_eq!(out.trim(), "COPY 2", "{err}");
    let csv = std::fs::read_to_string(&file).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 3, "{csv}");
    assert_eq!(lines[0], "name,app,ready");
    assert!(
        lines[1].ends_with(",api,t") && lines[2].ends_with(",api,f"),
        "{csv}"
    );

    let (out, err) = psql(
        s.addr,
        "c1",
        "COPY (SELECT name, phase FROM pods WHERE namespace = 'batch' ORDER BY 1) TO STDOUT",
    )
    .await;
    let rows: Vec<Vec<&str>> = out.lines().map(|l| l.split('\t').collect()).collect();
    assert_eq!(rows.len(), 2, "{out} {err}");
    assert_eq!(
        rows.iter().map(|r| r[1]).collect::<Vec<_>>(),
        ["Failed", "Succeeded"]
    );

    let (out, err) = psql(s.addr, "c1", "COPY pods TO '/tmp/kubepg-copy-test'").await;
    assert!(out.is_empty() && err.contains("permission denied"), "{err}");
    assert!(!std::path::Path::new("/tmp/kubepg-copy-test").exists());
}

#[tokio::test]
async fn operations_endpoints_report_health_readiness_and_statement_metrics() {
    let s = start(AuthMode::Trust, 10).await;
    assert_eq!(
        common::http_get(s.health, "/healthz").await,
        (200, "ok\n".to_string())
    );
    let (code, body) = common::readiness(s.health).await;
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("c1") && body.contains("c2"), "{body}");

    let client = connect(s.addr, "c1", "kubepg", "").await.unwrap();
    client
        .simple_query("SELECT count(*) FROM pods")
        .await
        .unwrap();
    client
        .simple_query("SELECT nope FROM pods")
        .await
        .unwrap_err();
    client
        .simple_query("SET kubepg.consistency = 'cached'; SELECT count(*) FROM nodes")
        .await
        .unwrap();
    let (code, metrics) = common::http_get(s.health, "/metrics").await;
    assert_eq!(code, 200);
    // One LIST page of c1's 22 pods; the nodes came through the watch cache.
    assert!(
        metrics
            .lines()
            .any(|l| l
                == "kubepg_api_responses_total{cluster=\"c1\",resource=\"pods\",code=\"200\"} 1"),
        "{metrics}"
    );
    let bytes: u64 = metrics
        .lines()
        .find_map(|l| {
            l.strip_prefix("kubepg_api_response_bytes_total{cluster=\"c1\",resource=\"pods\"} ")
        })
        .and_then(|v| v.parse().ok())
        .unwrap_or_default();
    assert!(bytes > 1000, "{metrics}");
    assert!(
        metrics
            .lines()
            .any(|l| l == "kubepg_watch_cache_objects{cluster=\"c1\",resource=\"nodes\"} 4"),
        "{metrics}"
    );
    // The cache's list of the 4 nodes, as watch events.
    assert!(
        metrics.lines().any(|l| l
            == "kubepg_watch_events_total{cluster=\"c1\",resource=\"nodes\",event=\"listed\"} 4"),
        "{metrics}"
    );
    for line in [
        "kubepg_connections_total 1",
        "kubepg_active_connections 1",
        // Every statement counts, SET included.
        "kubepg_statements_total{outcome=\"ok\"} 3",
        // A statement refused while planning counts too, by its SQLSTATE.
        "kubepg_statements_total{outcome=\"42703\"} 1",
        "kubepg_statement_duration_seconds_count 4",
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "{line} missing:\n{metrics}"
        );
    }
    assert_eq!(common::http_get(s.health, "/nope").await.0, 404);
}

#[tokio::test]
async fn readiness_fails_while_no_cluster_answers() {
    let env = TestClusters::shared_seeded();
    let pool = ClusterPool::build(PoolConfig {
        kubeconfigs: vec![env.dead_kubeconfig().unwrap()],
        ..Default::default()
    })
    .await
    .unwrap();
    let engine = Engine::new(Arc::new(pool), EngineConfig::default());
    let config = ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        health_listen: Some("127.0.0.1:0".parse().unwrap()),
        ..Default::default()
    };
    let server = Server::bind(config, engine).await.unwrap();
    let health = server.health_addr().unwrap();
    let (_stop, stopped) = watch::channel(false);
    tokio::spawn(server.run(stopped));
    assert_eq!(common::http_get(health, "/healthz").await.0, 200);
    let (code, body) = common::readiness(health).await;
    assert_eq!(code, 503);
    assert!(body.contains("dead"), "{body}");
}

#[tokio::test]
async fn a_connection_idle_past_the_timeout_is_closed_and_a_busy_one_is_not() {
    let s = start_with(ServerConfig {
        idle_timeout: Some(std::time::Duration::from_secs(2)),
        ..Default::default()
    })
    .await;
    let idle = connect(s.addr, "c1", "kubepg", "").await.unwrap();
    let busy = connect(s.addr, "c1", "kubepg", "").await.unwrap();
    for _ in 0..200 {
        if idle.is_closed() {
            break;
        }
        busy.query("SELECT count(*) FROM nodes", &[]).await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    assert!(idle.is_closed(), "the idle connection is still open");
    assert!(!busy.is_closed());
    assert_eq!(
        busy.query("SELECT count(*) FROM nodes", &[]).await.unwrap()[0].get::<_, i64>(0),
        4
    );
}

#[tokio::test]
async fn a_portal_with_a_row_limit_is_suspended_and_resumed() {
    let s = start(AuthMode::Trust, 10).await;
    let mut client = connect(s.addr, "c1", "kubepg", "").await.unwrap();
    let tx = client.transaction().await.unwrap();
    let statement = tx
        .prepare("SELECT name FROM pods WHERE namespace = $1 ORDER BY name")
        .await
        .unwrap();
    let all: Vec<String> = tx
        .query(&statement, &[&"shop"])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(all.len() > 3, "{all:?}");
    let portal = tx.bind(&statement, &[&"shop"]).await.unwrap();
    let mut fetched = Vec::new();
    loop {
        let rows = tx.query_portal(&portal, 2).await.unwrap();
        assert!(rows.len() <= 2);
        if rows.is_empty() {
            break;
        }
        fetched.extend(rows.iter().map(|r| r.get::<_, String>(0)));
    }
    assert_eq!(fetched, all);
    tx.commit().await.unwrap();
}

/// Runs `sql` as a simple query and returns its rows as text, failing the test on an error.
async fn rows(client: &tokio_postgres::Client, sql: &str) -> Vec<Vec<Option<String>>> {
    client
        .simple_query(sql)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{sql}"))
        .into_iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => {
                Some((0..r.len()).map(|i| r.get(i).map(String::from)).collect())
            }
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn dbeaver_grafana_and_metabase_metadata_queries_answer() {
    let s = start(AuthMode::Trust, 10).await;
    let client = connect(s.addr, "c1", "kubepg", "").await.unwrap();

    // DBeaver's navigator: schemas, then the relations of one schema, then column types.
    let schemas = rows(&client, "SELECT n.oid,n.*,d.description FROM pg_catalog.pg_namespace n LEFT OUTER JOIN pg_catalog.pg_description d ON d.objoid=n.oid AND d.objsubid=0 AND d.classoid='pg_namespace'::regclass ORDER BY nspname").await;
    let names: Vec<_> = schemas.iter().filter_map(|r| r[2].clone()).collect();
    assert!(
        names.contains(&"public".to_string()) && names.contains(&"kubepg".to_string()),
        "{names:?}"
    );
    let relations = rows(&client, "select c.oid,c.*,d.description,pg_catalog.pg_get_expr(c.relpartbound, c.oid) as partition_expr,  pg_catalog.pg_get_partkeydef(c.oid) as partition_key from pg_catalog.pg_class c left outer join pg_catalog.pg_description d on d.objoid=c.oid and d.objsubid=0 and d.classoid='pg_class'::regclass where c.relnamespace=(select oid from pg_namespace where nspname='public') and c.relkind not in ('i','I','c')").await;
    assert!(
        relations.iter().any(|r| r[2].as_deref() == Some("widgets")),
        "{relations:?}"
    );
    let types = rows(&client, "select a.attname, format_type(a.atttypid, a.atttypmod) from pg_catalog.pg_attribute a join pg_catalog.pg_class c on c.oid = a.attrelid join pg_catalog.pg_namespace n on n.oid = c.relnamespace where n.nspname = 'public' and c.relname = 'pods' and a.attname in ('labels', 'created', 'restarts') order by 1").await;
    assert_eq!(
        types,
        [
            ["created", "timestamp with time zone"],
            ["labels", "jsonb"],
            ["restarts", "bigint"]
        ]
        .map(|r| r.map(|v| Some(v.to_string())).to_vec())
    );
    assert_eq!(
        rows(
            &client,
            "SELECT current_schema(), current_setting('search_path')"
        )
        .await,
        [[
            Some("public".to_string()),
            Some("\"$user\", public".to_string())
        ]]
    );

    // Grafana's table and column pickers, then a time-series panel query.
    let tables = rows(&client, r#"SELECT CASE WHEN quote_ident(table_schema) IN (SELECT CASE WHEN trim(s[i]) = '"$user"' THEN user ELSE trim(s[i]) END FROM generate_series(array_lower(string_to_array(current_setting('search_path'),','),1), array_upper(string_to_array(current_setting('search_path'),','),1)) as i, string_to_array(current_setting('search_path'),',') s) THEN quote_ident(table_name) ELSE quote_ident(table_schema) || '.' || quote_ident(table_name) END AS "table" FROM information_schema.tables WHERE quote_ident(table_schema) NOT IN ('information_schema', 'pg_catalog', '_timescaledb_cache', '_timescaledb_catalog', '_timescaledb_internal', '_timescaledb_config', 'timescaledb_information', 'timescaledb_experimental') ORDER BY CASE WHEN quote_ident(table_schema) IN (SELECT CASE WHEN trim(s[i]) = '"$user"' THEN user ELSE trim(s[i]) END FROM generate_series(array_lower(string_to_array(current_setting('search_path'),','),1), array_upper(string_to_array(current_setting('search_path'),','),1)) as i, string_to_array(current_setting('search_path'),',') s) THEN 0 ELSE 1 END, 1"#).await;
    assert!(
        tables
            .iter()
            .any(|r| r[0].as_deref().is_some_and(|t| t.ends_with("pods"))),
        "{tables:?}"
    );
    let columns = rows(&client, r#"SELECT quote_ident(column_name) AS "column", data_type AS "type" FROM information_schema.columns WHERE CASE WHEN array_length(parse_ident('public.pods'),1) = 2 THEN quote_ident(table_schema) = (parse_ident('public.pods'))[1] AND quote_ident(table_name) = (parse_ident('public.pods'))[2] ELSE quote_ident(table_name) = 'public.pods' AND quote_ident(table_schema) IN (SELECT CASE WHEN trim(s[i]) = '"$user"' THEN user ELSE trim(s[i]) END FROM generate_series(array_lower(string_to_array(current_setting('search_path'),','),1), array_upper(string_to_array(current_setting('search_path'),','),1)) as i, string_to_array(current_setting('search_path'),',') s) END"#).await;
    for (column, pg_type) in [
        ("created", "timestamp with time zone"),
        ("labels", "jsonb"),
        ("restarts", "bigint"),
    ] {
        assert!(
            columns
                .iter()
                .any(|r| r[0].as_deref() == Some(column) && r[1].as_deref() == Some(pg_type)),
            "{column} {pg_type}: {columns:?}"
        );
    }
    let series = rows(&client, r#"SELECT created AS "time", count(*) AS value FROM pods WHERE created BETWEEN '2020-01-01T00:00:00Z' AND '2030-01-01T00:00:00Z' GROUP BY 1 ORDER BY 1 LIMIT 2"#).await;
    assert!(!series.is_empty());

    // Metabase's privilege sync (postgres.clj current-user-table-privileges, verbatim): a
    // user of kubepg may read every table and write none.
    let privileges = rows(&client, r#"with table_privileges as (
 select
   NULL as role,
   t.schemaname as schema,
   t.objectname as table,
   pg_catalog.has_any_column_privilege(current_user, '"' || replace(t.schemaname, '"', '""') || '"' || '.' || '"' || replace(t.objectname, '"', '""') || '"',  'update') as update,
   pg_catalog.has_any_column_privilege(current_user, '"' || replace(t.schemaname, '"', '""') || '"' || '.' || '"' || replace(t.objectname, '"', '""') || '"',  'select') as select,
   pg_catalog.has_any_column_privilege(current_user, '"' || replace(t.schemaname, '"', '""') || '"' || '.' || '"' || replace(t.objectname, '"', '""') || '"',  'insert') as insert,
   pg_catalog.has_table_privilege(     current_user, '"' || replace(t.schemaname, '"', '""') || '"' || '.' || '"' || replace(t.objectname, '"', '""') || '"',  'delete') as delete
 from (
   select schemaname, tablename as objectname from pg_catalog.pg_tables
   union
   select schemaname, viewname as objectname from pg_catalog.pg_views
   union
   select schemaname, matviewname as objectname from pg_catalog.pg_matviews
 ) t
 where t.schemaname !~ '^pg_'
   and t.schemaname <> 'information_schema'
   and pg_catalog.has_schema_privilege(current_user, t.schemaname, 'usage')
)
select t.*
from table_privileges t"#).await;
    let pods = privileges
        .iter()
        .find(|r| r[1].as_deref() == Some("public") && r[2].as_deref() == Some("pods"))
        .unwrap_or_else(|| panic!("{privileges:?}"));
    assert_eq!(
        pods[3..],
        ["f", "t", "f", "f"].map(|v| Some(v.to_string())),
        "update, select, insert, delete"
    );
    let err = client
        .simple_query("SELECT has_table_privilege('pods', 'fly')")
        .await
        .expect_err("no such privilege");
    assert_eq!(err.code().map(|c| c.code()), Some("22023"), "{err:?}");

    // Metabase's compiled questions quote every identifier.
    let pods = rows(&client, r#"SELECT "public"."pods"."name" AS "name", "public"."pods"."namespace" AS "namespace" FROM "public"."pods" WHERE "public"."pods"."namespace" = 'shop' LIMIT 2000"#).await;
    assert!(!pods.is_empty() && pods.iter().all(|r| r[1].as_deref() == Some("shop")));
    let counts = rows(&client, r#"SELECT "public"."pods"."phase" AS "phase", COUNT(*) AS "count" FROM "public"."pods" GROUP BY "public"."pods"."phase" ORDER BY "public"."pods"."phase" ASC"#).await;
    let total: i64 = counts
        .iter()
        .map(|r| r[1].as_deref().unwrap().parse::<i64>().unwrap())
        .sum();
    assert_eq!(
        total,
        rows(&client, "SELECT count(*) FROM pods").await[0][0]
            .as_deref()
            .unwrap()
            .parse::<i64>()
            .unwrap()
    );
}

#[tokio::test]
async fn result_columns_are_named_as_postgresql_names_them() {
    let s = start(AuthMode::Trust, 10).await;
    let client = connect(s.addr, "c1", "kubepg", "").await.unwrap();
    let statement = client
        .prepare(
            "SELECT namespace, count(*), max(restarts), 1, upper(name), count(*) AS n, \
             CASE WHEN ready THEN 1 END \
             FROM pods GROUP BY namespace, name, ready ORDER BY 2 DESC",
        )
        .await
        .unwrap();
    let names: Vec<&str> = statement.columns().iter().map(|c| c.name()).collect();
    assert_eq!(
        names,
        [
            "namespace",
            "count",
            "max",
            "?column?",
            "upper",
            "n",
            "case"
        ]
    );
    // The simple protocol describes the same names.
    let described = client
        .simple_query("SELECT count(*), sum(restarts) FROM pods")
        .await
        .unwrap();
    let Some(tokio_postgres::SimpleQueryMessage::Row(row)) = described.get(1) else {
        panic!("{described:?}");
    };
    let names: Vec<&str> = row.columns().iter().map(|c| c.name()).collect();
    assert_eq!(names, ["count", "sum"]);
    // The same unnamed expression twice, as pgjdbc's getProcedures writes it.
    let repeated = client
        .query(
            "SELECT NULL, NULL, upper(name), upper(name) FROM pods LIMIT 1",
            &[],
        )
        .await
        .unwrap();
    let names: Vec<&str> = repeated[0].columns().iter().map(|c| c.name()).collect();
    assert_eq!(names, ["?column?", "?column?", "upper", "upper"]);
    // A CTE's unnamed aggregate is its function's name to the query around it, and
    // regexp_split_to_table gives rows (pgcli's casing query does both).
    let words = rows(
        &client,
        r"WITH w AS (SELECT regexp_split_to_table('b a  b', '\s+') AS word, COUNT(1)
          FROM (SELECT name FROM pods LIMIT 1) p GROUP BY word) SELECT word, count FROM w ORDER BY word",
    )
    .await;
    assert_eq!(
        words,
        [["a", "1"], ["b", "2"]].map(|r| r.map(|v| Some(v.to_string())).to_vec())
    );
}

#[tokio::test]
async fn a_query_past_the_memory_limit_fails_with_53200_and_the_session_goes_on() {
    let s = start_engine(
        ServerConfig::default(),
        EngineConfig {
            memory_limit: Some(64 * 1024),
            ..Default::default()
        },
    )
    .await;
    let client = connect(s.addr, "all", "kubepg", "").await.unwrap();
    let err = client
        .query(
            "SELECT a.name, b.name, a.spec::text || b.spec::text AS both FROM pods a, pods b ORDER BY 3",
            &[],
        )
        .await
        .unwrap_err();
    assert_eq!(
        err.as_db_error().map(|e| e.code().code()),
        Some("53200"),
        "{err:?}"
    );
    assert_eq!(
        client
            .query("SELECT count(*) FROM pods", &[])
            .await
            .unwrap()[0]
            .get::<_, i64>(0),
        50
    );
}
