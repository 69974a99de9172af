//! A session's identity and namespace scope over the demo snapshot (no API server: what is
//! tested here is the session's side; RBAC through impersonation is tested end to end against a
//! real API server in `tests/tests/serve_identity.rs`).

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray};
use kubepg_kube::Identity;
use kubepg_kube::pool::{ClusterPool, PoolConfig};
use kubepg_sql::{Consistency, Engine, EngineConfig, KubeSession, SessionIdentity};

async fn engine(consistency: Consistency) -> Engine {
    let pool = ClusterPool::build(PoolConfig {
        demo: true,
        total_requests: 4,
        ..Default::default()
    })
    .await
    .unwrap();
    Engine::new(
        Arc::new(pool),
        EngineConfig {
            consistency,
            ..Default::default()
        },
    )
}

async fn session(engine: &Engine, identity: SessionIdentity) -> KubeSession {
    engine
        .session(kubepg_sql::SessionRequest {
            identity,
            ..kubepg_sql::SessionRequest::local(None)
        })
        .await
        .unwrap()
}

/// The first column of every row, as text.
async fn column(session: &KubeSession, sql: &str) -> Vec<String> {
    nth_column(session, sql, 0).await
}

/// What `EXPLAIN sql` shows of the plans.
async fn explain(session: &KubeSession, sql: &str) -> String {
    nth_column(session, &format!("EXPLAIN {sql}"), 1)
        .await
        .join("\n")
}

async fn nth_column(session: &KubeSession, sql: &str, n: usize) -> Vec<String> {
    let batches = session
        .collect(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    let mut out = Vec::new();
    for b in batches {
        let c = datafusion::arrow::compute::cast(
            b.column(n),
            &datafusion::arrow::datatypes::DataType::Utf8,
        )
        .unwrap();
        let c = c.as_string::<i32>();
        out.extend((0..c.len()).map(|i| c.value(i).to_string()));
    }
    out
}

/// A setting's value, as `SHOW` reads it.
async fn show(session: &KubeSession, name: &str) -> Vec<String> {
    column(session, &format!("SHOW {name}")).await
}

fn alice(namespaces: &[&str]) -> SessionIdentity {
    SessionIdentity {
        impersonate: Some(Identity::new("alice", vec!["team-a".into()])),
        namespaces: namespaces.iter().map(|n| n.to_string()).collect(),
    }
}

#[tokio::test]
async fn kubepg_namespaces_limits_unfiltered_scans_and_intersects_named_namespaces() {
    let engine = engine(Consistency::Live).await;
    let s = session(&engine, SessionIdentity::default()).await;
    assert_eq!(show(&s, "kubepg.namespaces").await, [""]);
    let all = column(&s, "SELECT DISTINCT namespace FROM pods ORDER BY 1").await;
    assert_eq!(all.len(), 17, "{all:?}");

    column(&s, "SET kubepg.namespaces = 'shop, payments'").await;
    assert_eq!(show(&s, "kubepg.namespaces").await, ["shop,payments"]);
    assert_eq!(
        column(&s, "SELECT DISTINCT namespace FROM pods ORDER BY 1").await,
        ["payments", "shop"]
    );
    // A namespace the query names is listed only when it is in the scope.
    assert_eq!(
        column(&s, "SELECT count(*) FROM pods WHERE namespace = 'shop'").await,
        ["7"]
    );
    assert_eq!(
        column(&s, "SELECT count(*) FROM pods WHERE namespace = 'batch'").await,
        ["0"]
    );
    assert_eq!(
        column(
            &s,
            "SELECT DISTINCT namespace FROM pods WHERE namespace IN ('batch', 'shop')"
        )
        .await,
        ["shop"]
    );
    let plan = explain(&s, "SELECT name FROM pods").await;
    assert!(plan.contains("namespaces=[payments, shop]"), "{plan}");
    // The containers table is namespaced too; nodes are not.
    assert_eq!(
        column(&s, "SELECT DISTINCT namespace FROM containers ORDER BY 1").await,
        ["payments", "shop"]
    );
    assert_eq!(column(&s, "SELECT count(*) FROM nodes").await, ["4"]);

    column(&s, "SET kubepg.namespaces = ''").await;
    assert_eq!(
        column(&s, "SELECT DISTINCT namespace FROM pods")
            .await
            .len(),
        17
    );
    let bad = s
        .collect("SET kubepg.namespaces = 'Shop'")
        .await
        .unwrap_err();
    assert_eq!(bad.sqlstate(), "22023", "{bad}");
}

#[tokio::test]
async fn an_identity_starts_with_its_namespaces_and_a_live_session() {
    let engine = engine(Consistency::Cached).await;
    let shared = session(&engine, SessionIdentity::default()).await;
    assert!(shared.may_read_shared_cache());
    assert_eq!(show(&shared, "kubepg.consistency").await, ["cached"]);

    let s = session(&engine, alice(&["team-01", "team-02"])).await;
    assert!(!s.may_read_shared_cache());
    assert_eq!(show(&s, "kubepg.consistency").await, ["live"]);
    assert_eq!(show(&s, "kubepg.namespaces").await, ["team-01,team-02"]);
    // A snapshot has no RBAC: an identity reads it as kubepg does, in its namespaces.
    assert_eq!(
        column(&s, "SELECT DISTINCT namespace FROM pods ORDER BY 1").await,
        ["team-01", "team-02"]
    );
    let plan = explain(&s, "SELECT name FROM pods").await;
    assert!(plan.contains("as_user=alice, as_groups=[team-a]"), "{plan}");
}

#[tokio::test]
async fn an_impersonated_session_reads_no_shared_cache() {
    let engine = engine(Consistency::Live).await;
    let s = session(&engine, alice(&[])).await;
    for table in ["changes", "tables"] {
        let refused = s
            .collect(&format!("SELECT * FROM kubepg.{table}"))
            .await
            .map(|_| ())
            .unwrap_err();
        assert_eq!(refused.sqlstate(), "42501", "{refused}");
        assert!(
            refused.to_string().contains("user=alice groups=team-a"),
            "{refused}"
        );
    }
    // Cached consistency is accepted, and each query says it listed live instead.
    column(&s, "SET kubepg.consistency = 'cached'").await;
    assert_eq!(
        column(&s, "SELECT count(*) FROM pods WHERE namespace = 'shop'").await,
        ["7"]
    );
    let warnings = s.take_warnings();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("does not apply to a session acting as user=alice"),
        "{warnings:?}"
    );
    let plan = explain(&s, "SELECT name FROM pods").await;
    assert!(!plan.contains("consistency=cached"), "{plan}");

    // A session sharing kubepg's identity still reads them.
    let shared = session(&engine, SessionIdentity::default()).await;
    assert!(column(&shared, "SELECT count(*) FROM kubepg.changes").await == ["0"]);
}
