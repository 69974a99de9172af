//! What kubepg refuses and hides: writes, local files, and secret values.

use crate::common;

use kubepg_sql::EngineConfig;
use kubepg_testkit::TestClusters;

#[tokio::test]
async fn secret_values_are_redacted_and_their_keys_kept() {
    let env = TestClusters::shared_seeded();
    let engine = common::engine(env, &["c1"], &[], EngineConfig::default()).await;
    let rows = common::sorted_rows(
        &engine,
        None,
        "SELECT name, data, string_data FROM secrets WHERE namespace = 'shop'",
    )
    .await;
    assert_eq!(
        rows,
        [[
            "db-credentials",
            r#"{"password": "<redacted>", "username": "<redacted>"}"#,
            "∅"
        ]]
    );
    let rows = common::sorted_rows(
        &engine,
        None,
        "SELECT data->>'password' FROM secrets WHERE name = 'db-credentials'",
    )
    .await;
    assert_eq!(rows, [["<redacted>"]]);

    let open = common::engine(
        env,
        &["c1"],
        &[],
        EngineConfig {
            show_secrets: true,
            ..Default::default()
        },
    )
    .await;
    let rows = common::sorted_rows(
        &open,
        None,
        "SELECT data->>'password' FROM secrets WHERE name = 'db-credentials'",
    )
    .await;
    assert_eq!(rows, [["aHVudGVyMg=="]]);
}

#[tokio::test]
async fn writes_and_local_files_are_refused_with_their_sqlstates() {
    let env = TestClusters::shared_seeded();
    let (engine, agent) = common::tagged_engine(env, &["c1"], EngineConfig::default()).await;
    let audit = env.cluster("c1").audit();
    common::rows(&engine, None, "SELECT 1").await.unwrap();
    let mark = audit.mark();
    for (sql, state) in [
        ("INSERT INTO pods (name) VALUES ('x')", "25006"),
        ("UPDATE pods SET name = 'x'", "25006"),
        ("DELETE FROM pods", "25006"),
        ("CREATE TABLE t (a int)", "25006"),
        ("DROP TABLE pods", "25006"),
        ("CREATE VIEW v AS SELECT 1", "25006"),
        ("SELECT * INTO copy_of_pods FROM pods", "25006"),
        (
            "CREATE EXTERNAL TABLE f STORED AS CSV LOCATION '/etc/passwd'",
            "42501",
        ),
        ("COPY (SELECT 1) TO '/tmp/kubepg-out.csv'", "42501"),
        ("COPY pods FROM '/etc/passwd'", "42501"),
    ] {
        let err = common::rows(&engine, None, sql).await.expect_err(sql);
        assert_eq!(err.sqlstate(), state, "{sql}: {err}");
    }
    assert!(!std::path::Path::new("/tmp/kubepg-out.csv").exists());
    let writes: Vec<_> = audit
        .since(mark)
        .unwrap()
        .into_iter()
        .filter(|e| e.user_agent == agent && !matches!(e.verb.as_str(), "get" | "list" | "watch"))
        .collect();
    assert!(writes.is_empty(), "{writes:?}");
}

#[tokio::test]
async fn typed_columns_carry_real_types_and_quantities_become_numbers() {
    let env = TestClusters::shared_seeded();
    let engine = common::engine(env, &["c1"], &[], EngineConfig::default()).await;
    let rows = common::sorted_rows(
        &engine,
        None,
        "SELECT name, ready, unschedulable, cpu_capacity, memory_capacity, cpu_allocatable * 1000, pods_capacity, zone, kubelet_version FROM nodes",
    )
    .await;
    assert_eq!(
        rows[1],
        [
            "node-a2",
            "true",
            "false",
            "8.0",
            "34359738368",
            "7800.0",
            "110",
            "eu-west-1a",
            "v1.20.2"
        ]
    );
    assert_eq!(rows[2][1], "false", "node-b1 is not ready");
    let rows = common::sorted_rows(
        &engine,
        None,
        "SELECT namespace, pod_name, name, init, cpu_request, memory_limit, restarts, state, reason FROM containers WHERE namespace = 'shop' AND restarts > 5",
    )
    .await;
    assert_eq!(rows.len(), 1);
    assert_eq!(
        rows[0][2..],
        [
            "api",
            "false",
            "0.5",
            "536870912",
            "7",
            "waiting",
            "CrashLoopBackOff"
        ]
    );
    let rows = common::sorted_rows(&engine, None, "SELECT k8s_quantity('500m'), k8s_quantity('1Gi'), labels_match('{\"app\":\"web\"}', 'app in (web,api),!legacy')").await;
    assert_eq!(rows, [["0.5", "1073741824.0", "true"]]);
    // jsonb: a cast checks and normalises, containment follows PostgreSQL over the real pods.
    let rows = common::sorted_rows(
        &engine,
        None,
        "SELECT '{\"b\":1,\"a\":[1,2]}'::jsonb, '[\"x\",\"y\"]'::jsonb @> '\"x\"'",
    )
    .await;
    assert_eq!(rows, [["{\"a\": [1, 2], \"b\": 1}", "true"]]);
    let contained = common::sorted_rows(
        &engine,
        None,
        "SELECT count(*) FROM pods WHERE labels @> '{\"app\": \"web\"}'::jsonb",
    )
    .await;
    let by_label = common::sorted_rows(
        &engine,
        None,
        "SELECT count(*) FROM pods WHERE labels ->> 'app' = 'web'",
    )
    .await;
    assert_eq!(contained, by_label);
    assert_ne!(by_label, [["0"]], "the seeded cluster has app=web pods");
    let err = common::rows(&engine, None, "SELECT 'not json'::jsonb")
        .await
        .expect_err("not json");
    assert_eq!(err.sqlstate(), "22P02", "{err}");
    let rows = common::sorted_rows(
        &engine,
        None,
        "SELECT json_build_object('a', 1, 'b', 'x', 'c', NULL), \
         jsonb_build_object('b', true, 'a', 2.5, 'j', '{\"x\":1}'::jsonb)",
    )
    .await;
    assert_eq!(
        rows,
        [[
            "{\"a\" : 1, \"b\" : \"x\", \"c\" : null}",
            "{\"a\": 2.5, \"b\": true, \"j\": {\"x\": 1}}"
        ]]
    );
    let err = common::rows(&engine, None, "SELECT json_build_object('a')")
        .await
        .expect_err("odd arguments");
    assert_eq!(err.sqlstate(), "22023", "{err}");
    let rows = common::sorted_rows(
        &engine,
        None,
        "SELECT phase, count(*) FROM pods GROUP BY phase",
    )
    .await;
    assert_eq!(
        rows,
        [
            ["Failed", "2"],
            ["Pending", "1"],
            ["Running", "17"],
            ["Succeeded", "1"],
            ["Unknown", "1"]
        ]
    );
}
