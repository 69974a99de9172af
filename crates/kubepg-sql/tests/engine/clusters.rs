//! Multi-cluster behaviour against real API servers: fan-out, a CRD present in one cluster only,
//! cluster pruning by `_cluster`, an unreachable cluster, and strictness.

use crate::common;

use kubepg_sql::EngineConfig;
use kubepg_testkit::TestClusters;

#[tokio::test]
async fn scope_all_fans_out_and_counts_each_cluster() {
    let env = TestClusters::shared_seeded();
    let engine = common::engine(env, &["c1", "c2"], &[], EngineConfig::default()).await;
    let rows = common::sorted_rows(
        &engine,
        Some("all"),
        "SELECT _cluster, count(*) FROM pods GROUP BY 1",
    )
    .await;
    assert_eq!(rows, [["c1", "22"], ["c2", "28"]]);
}

#[tokio::test]
async fn a_crd_in_one_cluster_is_a_table_with_that_clusters_rows() {
    let env = TestClusters::shared_seeded();
    let engine = common::engine(env, &["c1", "c2"], &[], EngineConfig::default()).await;
    let rows = common::sorted_rows(
        &engine,
        Some("all"),
        "SELECT _cluster, namespace, name, color, size, ready FROM widgets WHERE size > 2",
    )
    .await;
    assert_eq!(
        rows,
        [
            ["c1", "payments", "big-widget", "red", "100", "false"],
            ["c1", "shop", "blue-widget", "blue", "3", "true"],
            ["c1", "shop", "red-widget", "red", "10", "false"],
            ["c1", "staging", "green-widget", "green", "7", "true"],
        ]
    );
    // Short name and plural.group reach the same table.
    let by_short = common::sorted_rows(&engine, Some("all"), "SELECT count(*) FROM wd").await;
    let by_group = common::sorted_rows(
        &engine,
        Some("all"),
        r#"SELECT count(*) FROM "widgets.example.com""#,
    )
    .await;
    assert_eq!(by_short, [["5"]]);
    assert_eq!(by_group, [["5"]]);
    // In a scope without the CRD there is no such table.
    let err = common::rows(&engine, Some("c2"), "SELECT * FROM widgets")
        .await
        .unwrap_err();
    assert_eq!(err.sqlstate(), "42P01", "{err}");
}

#[tokio::test]
async fn cluster_filters_choose_which_clusters_are_called() {
    let env = TestClusters::shared_seeded();
    let (engine, agent) = common::tagged_engine(env, &["c1", "c2"], EngineConfig::default()).await;
    common::rows(&engine, Some("all"), "SELECT 1")
        .await
        .unwrap();
    let (a1, a2) = (env.cluster("c1").audit(), env.cluster("c2").audit());
    let (m1, m2) = (a1.mark(), a2.mark());
    // The session's scope is c1, but `_cluster` names c2 explicitly.
    let rows = common::sorted_rows(&engine, Some("c1"), "SELECT DISTINCT _cluster, namespace FROM services WHERE _cluster = 'c2' AND namespace LIKE 'team-%'").await;
    assert_eq!(rows, [["c2", "team-01"], ["c2", "team-02"]]);
    let e2 = a2
        .wait_for(m2, |e| {
            e.path() == "/api/v1/services" && e.user_agent == agent
        })
        .await
        .unwrap();
    assert!(
        e2.iter()
            .any(|e| e.verb == "list" && e.path() == "/api/v1/services")
    );
    let e1 = a1.since(m1).unwrap();
    assert!(
        !e1.iter()
            .any(|e| e.path().ends_with("/services") && e.user_agent == agent),
        "c1 must not be listed: {e1:?}"
    );

    // Globs and '*' pick clusters too.
    let rows = common::sorted_rows(
        &engine,
        Some("c1"),
        "SELECT _cluster, count(*) FROM nodes WHERE _cluster = '*' GROUP BY 1",
    )
    .await;
    assert_eq!(rows, [["c1", "4"], ["c2", "4"]]);
    let rows = common::sorted_rows(
        &engine,
        Some("c1"),
        "SELECT _cluster, count(*) FROM nodes WHERE _cluster IN ('c[2-9]') GROUP BY 1",
    )
    .await;
    assert_eq!(rows, [["c2", "4"]]);
}

#[tokio::test]
async fn a_resource_served_only_by_an_older_version_is_a_table() {
    // Kubernetes 1.20 serves CronJobs in batch/v1beta1 only; batch's preferred version is v1.
    let env = TestClusters::shared_seeded();
    let engine = common::engine(env, &["c1"], &[], EngineConfig::default()).await;
    assert_eq!(
        common::sorted_rows(&engine, None, "SELECT namespace, name FROM cronjobs").await,
        [["batch", "report"]]
    );
    assert_eq!(
        common::sorted_rows(
            &engine,
            None,
            "SELECT \"group\", version FROM kubepg.resources WHERE table_name IN ('cronjobs', 'jobs') ORDER BY 2"
        )
        .await,
        [["batch", "v1"], ["batch", "v1beta1"]]
    );
}

#[tokio::test]
async fn an_unreachable_cluster_becomes_a_warning_unless_strict() {
    let env = TestClusters::shared_seeded();
    let dead = env.dead_kubeconfig().unwrap();
    let engine = common::engine(
        env,
        &["c1", "dead"],
        std::slice::from_ref(&dead),
        EngineConfig::default(),
    )
    .await;
    let session = engine
        .session(kubepg_sql::SessionRequest::local(Some("all")))
        .await
        .unwrap();
    let rows = session
        .collect("SELECT count(*) FROM namespaces")
        .await
        .unwrap();
    let count = rows[0]
        .column(0)
        .as_any()
        .downcast_ref::<datafusion::arrow::array::Int64Array>()
        .unwrap()
        .value(0);
    assert_eq!(count, 9);
    let warnings = session.take_warnings();
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("cluster dead is unavailable")),
        "{warnings:?}"
    );

    let strict = common::engine(
        env,
        &["c1", "dead"],
        &[dead],
        EngineConfig {
            strict: true,
            ..Default::default()
        },
    )
    .await;
    let err = strict
        .session(kubepg_sql::SessionRequest::local(Some("all")))
        .await
        .expect_err("strict mode refuses a dead cluster");
    assert_eq!(err.sqlstate(), "58000", "{err}");
    assert!(err.to_string().contains("dead"), "{err}");
}

#[tokio::test]
async fn a_forbidden_cluster_is_left_out_with_a_warning_or_fails_with_42501() {
    let env = TestClusters::shared_seeded();
    // c2 again, as the restricted user: discovery works, listing pods across namespaces does not.
    let restricted = env
        .kubeconfig_for("c2", kubepg_testkit::User::Restricted, "c2-restricted")
        .unwrap();
    let engine = common::engine(
        env,
        &["c1", "c2-restricted"],
        std::slice::from_ref(&restricted),
        EngineConfig::default(),
    )
    .await;
    let session = engine
        .session(kubepg_sql::SessionRequest::local(Some("all")))
        .await
        .unwrap();
    let rows = session
        .collect("SELECT _cluster, count(*) FROM pods GROUP BY 1")
        .await
        .unwrap();
    assert_eq!(
        rows.iter().map(|b| b.num_rows()).sum::<usize>(),
        1,
        "only c1 answers"
    );
    let warnings = session.take_warnings();
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("c2-restricted") && w.contains("403")),
        "{warnings:?}"
    );

    // Alone, the forbidden cluster is an error a client understands.
    let err = common::rows(&engine, Some("c2-restricted"), "SELECT name FROM pods")
        .await
        .unwrap_err();
    assert_eq!(err.sqlstate(), "42501", "{err}");
    // The namespace it may read answers.
    let rows = common::sorted_rows(
        &engine,
        Some("c2-restricted"),
        "SELECT count(*) FROM pods WHERE namespace = 'shop'",
    )
    .await;
    assert_eq!(rows, [["7"]]);

    let strict = common::engine(
        env,
        &["c1", "c2-restricted"],
        &[restricted],
        EngineConfig {
            strict: true,
            ..Default::default()
        },
    )
    .await;
    let err = common::rows(&strict, Some("all"), "SELECT count(*) FROM pods")
        .await
        .unwrap_err();
    assert_eq!(err.sqlstate(), "42501", "{err}");
}
