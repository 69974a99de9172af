//! Every pushdown form against a real API server: the rows equal the unfiltered query's rows
//! filtered by DataFusion, and the audit log shows exactly the requests the filters call for.

use crate::common;

use kubepg_sql::EngineConfig;
use kubepg_testkit::TestClusters;
use kubepg_testkit::audit::AuditEvent;

struct Case {
    table: &'static str,
    columns: &'static str,
    filter: &'static str,
    /// (path, labelSelector, fieldSelector) of each LIST the filter must produce.
    requests: &'static [(&'static str, Option<&'static str>, Option<&'static str>)],
    /// Rows the filtered query must return (guards against both sides being empty).
    expected_rows: usize,
}

const CASES: &[Case] = &[
    Case {
        table: "pods",
        columns: "namespace, name, phase",
        filter: "namespace = 'shop'",
        requests: &[("/api/v1/namespaces/shop/pods", None, None)],
        expected_rows: 7,
    },
    Case {
        table: "pods",
        columns: "namespace, name",
        filter: "namespace IN ('shop', 'payments')",
        requests: &[
            ("/api/v1/namespaces/payments/pods", None, None),
            ("/api/v1/namespaces/shop/pods", None, None),
        ],
        expected_rows: 12,
    },
    Case {
        table: "pods",
        columns: "namespace, name",
        filter: "labels->>'app' = 'web'",
        requests: &[("/api/v1/pods", Some("app=web"), None)],
        expected_rows: 5,
    },
    Case {
        table: "pods",
        columns: "namespace, name",
        filter: "labels->>'app' != 'web'",
        requests: &[("/api/v1/pods", Some("app,app!=web"), None)],
        expected_rows: 17,
    },
    Case {
        table: "pods",
        columns: "namespace, name",
        filter: "labels->>'app' IN ('web', 'api')",
        requests: &[("/api/v1/pods", Some("app in (api,web)"), None)],
        expected_rows: 7,
    },
    Case {
        table: "pods",
        columns: "namespace, name",
        filter: "labels->>'app' NOT IN ('web', 'api')",
        requests: &[("/api/v1/pods", Some("app,app notin (api,web)"), None)],
        expected_rows: 15,
    },
    Case {
        table: "pods",
        columns: "namespace, name",
        filter: "labels ? 'pod-template-hash'",
        requests: &[("/api/v1/pods", Some("pod-template-hash"), None)],
        expected_rows: 14,
    },
    Case {
        table: "pods",
        columns: "namespace, name",
        filter: "labels->>'job-name' IS NULL",
        requests: &[("/api/v1/pods", Some("!job-name"), None)],
        expected_rows: 20,
    },
    Case {
        table: "pods",
        columns: "namespace, name",
        filter: "name = 'postgres-0'",
        requests: &[("/api/v1/pods", None, Some("metadata.name=postgres-0"))],
        expected_rows: 1,
    },
    Case {
        table: "deployments",
        columns: "namespace, name, replicas",
        filter: "name = 'web'",
        requests: &[("/apis/apps/v1/deployments", None, Some("metadata.name=web"))],
        expected_rows: 2,
    },
    Case {
        table: "pods",
        columns: "namespace, name, node_name",
        filter: "node_name = 'node-a1'",
        requests: &[("/api/v1/pods", None, Some("spec.nodeName=node-a1"))],
        expected_rows: 9,
    },
    Case {
        table: "pods",
        columns: "namespace, name, phase",
        filter: "phase = 'Pending'",
        requests: &[("/api/v1/pods", None, Some("status.phase=Pending"))],
        expected_rows: 1,
    },
    Case {
        table: "pods",
        columns: "namespace, name, phase",
        filter: "phase != 'Running'",
        requests: &[("/api/v1/pods", None, Some("status.phase!=Running"))],
        expected_rows: 5,
    },
    Case {
        table: "events",
        columns: "namespace, reason, type",
        filter: "type = 'Warning'",
        requests: &[("/api/v1/events", None, Some("type=Warning"))],
        expected_rows: 5,
    },
    Case {
        table: "events",
        columns: "namespace, reason",
        filter: "involved_kind = 'Pod' AND namespace = 'shop'",
        requests: &[(
            "/api/v1/namespaces/shop/events",
            None,
            Some("involvedObject.kind=Pod"),
        )],
        expected_rows: 2,
    },
    Case {
        table: "secrets",
        columns: "namespace, name, type",
        filter: "type = 'kubernetes.io/tls'",
        requests: &[("/api/v1/secrets", None, Some("type=kubernetes.io/tls"))],
        expected_rows: 1,
    },
    Case {
        table: "namespaces",
        columns: "name, phase",
        filter: "phase = 'Active'",
        requests: &[("/api/v1/namespaces", None, Some("status.phase=Active"))],
        expected_rows: 9,
    },
    Case {
        table: "nodes",
        columns: "name, unschedulable",
        filter: "unschedulable = true",
        requests: &[("/api/v1/nodes", None, Some("spec.unschedulable=true"))],
        expected_rows: 1,
    },
    Case {
        table: "pods",
        columns: "namespace, name",
        filter: "namespace = 'shop' AND labels->>'app' = 'api' AND phase = 'Running'",
        requests: &[(
            "/api/v1/namespaces/shop/pods",
            Some("app=api"),
            Some("status.phase=Running"),
        )],
        expected_rows: 2,
    },
    // A value no label can hold is never sent; DataFusion filters.
    Case {
        table: "pods",
        columns: "namespace, name",
        filter: "labels->>'app' = 'not a label value!'",
        requests: &[("/api/v1/pods", None, None)],
        expected_rows: 0,
    },
    // A field-selector value with selector syntax in it is escaped, not misread.
    Case {
        table: "pods",
        columns: "namespace, name",
        filter: "name = 'a,b=c'",
        requests: &[("/api/v1/pods", None, Some("metadata.name=a\\,b\\=c"))],
        expected_rows: 0,
    },
];

/// The LIST requests for `table`'s collection (other tests share the server).
fn list_requests(
    events: &[AuditEvent],
    agent: &str,
    table: &str,
) -> Vec<(String, Option<String>, Option<String>)> {
    let suffix = format!("/{table}");
    let mut v: Vec<_> = events
        .iter()
        .filter(|e| e.verb == "list" && e.user_agent == agent && e.path().ends_with(&suffix))
        .map(|e| {
            (
                e.path().to_string(),
                e.query_param("labelSelector"),
                e.query_param("fieldSelector"),
            )
        })
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn every_pushdown_form_returns_the_unfiltered_rows_and_sends_exactly_its_selectors() {
    let env = TestClusters::shared_seeded();
    let (engine, agent) = common::tagged_engine(env, &["c1"], EngineConfig::default()).await;
    let audit = env.cluster("c1").audit();
    // Discovery first, so that the marks below see only the queries' requests.
    common::rows(&engine, None, "SELECT 1").await.unwrap();

    for case in CASES {
        let pushed = format!(
            "SELECT {} FROM {} WHERE {}",
            case.columns, case.table, case.filter
        );
        // A filter above a LIMIT cannot be pushed into the scan: DataFusion evaluates it.
        let reference = format!(
            "SELECT {} FROM (SELECT * FROM {} LIMIT 1000000) t WHERE {}",
            case.columns, case.table, case.filter
        );

        let mark = audit.mark();
        let got = common::sorted_rows(&engine, None, &pushed).await;
        let events = audit
            .wait_for(mark, |e| {
                e.verb == "list" && e.user_agent == agent && e.path().ends_with(case.table)
            })
            .await
            .unwrap();
        let want = common::sorted_rows(&engine, None, &reference).await;

        assert_eq!(got, want, "{pushed}");
        assert_eq!(got.len(), case.expected_rows, "{pushed}: {got:?}");
        let expected: Vec<(String, Option<String>, Option<String>)> = case
            .requests
            .iter()
            .map(|(p, l, f)| (p.to_string(), l.map(str::to_string), f.map(str::to_string)))
            .collect();
        assert_eq!(
            list_requests(&events, &agent, case.table),
            expected,
            "{pushed}"
        );
    }
}

/// Every cell of an EXPLAIN's rows, one per line.
async fn plan_text(engine: &kubepg_sql::Engine, explain: &str) -> String {
    let plan = common::rows(engine, None, explain).await.unwrap();
    plan.iter()
        .flatten()
        .cloned()
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn explain_shows_the_requests_a_scan_will_send() {
    let env = TestClusters::shared_seeded();
    let engine = common::engine(env, &["c1"], &[], EngineConfig::default()).await;
    let text = plan_text(
        &engine,
        "EXPLAIN SELECT name FROM pods WHERE namespace IN ('shop','batch') AND labels->>'app' = 'web' AND phase = 'Running'",
    )
    .await;
    assert!(
        text.contains("KubeScanExec: table=pods, clusters=[c1], namespaces=[batch, shop], labelSelector=app=web, fieldSelector=status.phase=Running"),
        "{text}"
    );
}

#[tokio::test]
async fn explain_analyze_counts_the_requests_of_a_scan_a_limit_stopped() {
    let env = TestClusters::shared_seeded();
    let engine = common::engine(
        env,
        &["c1"],
        &[],
        EngineConfig {
            page_size: 2,
            ..Default::default()
        },
    )
    .await;
    let text = plan_text(
        &engine,
        "EXPLAIN ANALYZE SELECT name FROM configmaps LIMIT 3",
    )
    .await;
    // Two pages of two: the limit stopped the list before its end.
    assert!(
        text.contains("metrics=[bytes=") && text.contains("pages=2, requests=2]"),
        "{text}"
    );
}

#[tokio::test]
async fn limit_without_order_stops_paging_early() {
    let env = TestClusters::shared_seeded();
    let (engine, agent) = common::tagged_engine(
        env,
        &["c1"],
        EngineConfig {
            page_size: 2,
            ..Default::default()
        },
    )
    .await;
    common::rows(&engine, None, "SELECT 1").await.unwrap();
    let audit = env.cluster("c1").audit();
    let mark = audit.mark();
    let rows = common::rows(&engine, None, "SELECT name FROM configmaps LIMIT 3")
        .await
        .unwrap();
    assert_eq!(rows.len(), 3);
    let events = audit
        .wait_for(mark, |e| {
            e.path() == "/api/v1/configmaps" && e.user_agent == agent
        })
        .await
        .unwrap();
    let lists: Vec<_> = events
        .iter()
        .filter(|e| e.path() == "/api/v1/configmaps" && e.user_agent == agent)
        .collect();
    // Two pages of two hold the three rows; the remaining pages are never asked for.
    assert_eq!(lists.len(), 2, "{lists:?}");
    assert!(
        lists
            .iter()
            .all(|e| e.query_param("limit").as_deref() == Some("2"))
    );
    assert_eq!(lists[0].query_param("continue"), None);
    assert!(lists[1].query_param("continue").is_some());
}
