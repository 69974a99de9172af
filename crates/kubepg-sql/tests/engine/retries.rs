//! LIST retries against a real API server behind the testkit's fault proxy: 429s, 5xx answers
//! and dropped connections are retried up to `LiveConfig::max_retries` and then fail with a
//! SQLSTATE naming the cluster. Each test asserts the rows, what the proxy answered, and (where
//! a request got through) what the API server itself saw.

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use kubepg_kube::live::LiveConfig;
use kubepg_kube::pool::{ClusterPool, PoolConfig};
use kubepg_sql::{Engine, EngineConfig};
use kubepg_testkit::TestClusters;
use kubepg_testkit::proxy::{DROPPED, FaultProxy};

const MAX_RETRIES: u32 = 4;

/// An engine whose only cluster, `context`, is `c1` reached through `proxy`, retrying quickly.
async fn engine_through(env: &TestClusters, proxy: &FaultProxy, context: &str) -> Engine {
    let pool = ClusterPool::build(PoolConfig {
        kubeconfigs: vec![proxy.kubeconfig(env, context).expect("proxy kubeconfig")],
        contexts: vec![context.to_string()],
        total_requests: 8,
        live: LiveConfig {
            max_retries: MAX_RETRIES,
            backoff: Duration::from_millis(10),
            ..Default::default()
        },
        ..Default::default()
    })
    .await
    .expect("pool");
    Engine::new(Arc::new(pool), EngineConfig::default())
}

#[tokio::test]
async fn a_429_twice_is_retried_and_the_namespaces_come_back() {
    let env = TestClusters::shared_seeded();
    let c1 = env.cluster("c1");
    let proxy = FaultProxy::start(c1).await.unwrap();
    let engine = engine_through(env, &proxy, "c1-429").await;
    let audit = c1.audit();
    let mark = audit.mark();
    // The `?` keeps discovery (`/api/v1`) out of reach: only the LIST is refused.
    proxy.fail_next("/api/v1/namespaces?", 429, 2);

    let rows = common::rows(&engine, None, "SELECT count(*) FROM namespaces")
        .await
        .unwrap();

    assert_eq!(rows, [["9"]]);
    assert_eq!(proxy.statuses("/api/v1/namespaces"), [429, 429, 200]);
    let is_list = |e: &kubepg_testkit::audit::AuditEvent| {
        proxy.forwarded(e) && e.path() == "/api/v1/namespaces"
    };
    let events = audit.wait_for(mark, is_list).await.unwrap();
    let lists: Vec<_> = events.iter().filter(|e| is_list(e)).collect();
    assert_eq!(lists.len(), 1, "one list reached the API server: {lists:?}");
    assert_eq!((lists[0].verb.as_str(), lists[0].code()), ("list", 200));
}

#[tokio::test]
async fn a_500_on_every_attempt_fails_with_58000_naming_the_cluster_after_max_retries() {
    let env = TestClusters::shared_seeded();
    let c1 = env.cluster("c1");
    let proxy = FaultProxy::start(c1).await.unwrap();
    let engine = engine_through(env, &proxy, "c1-500").await;
    proxy.fail_next("/api/v1/configmaps?", 500, 100);

    let err = common::rows(&engine, None, "SELECT name FROM configmaps")
        .await
        .unwrap_err();

    assert_eq!(err.sqlstate(), "58000", "{err}");
    assert!(err.to_string().contains("c1-500"), "{err}");
    assert_eq!(
        proxy.statuses("/api/v1/configmaps"),
        vec![500; MAX_RETRIES as usize + 1],
        "one attempt and max_retries retries"
    );
}

#[tokio::test]
async fn a_503_more_times_than_max_retries_fails_with_58000_after_max_retries_plus_one_attempts() {
    let env = TestClusters::shared_seeded();
    let c1 = env.cluster("c1");
    let proxy = FaultProxy::start(c1).await.unwrap();
    let engine = engine_through(env, &proxy, "c1-503").await;
    proxy.fail_next("/api/v1/secrets?", 503, MAX_RETRIES as usize + 1);

    let result = common::rows(&engine, None, "SELECT name FROM secrets").await;

    let statuses = proxy.statuses("/api/v1/secrets");
    let err = result.expect_err(&format!("the proxy answered {statuses:?}"));
    assert_eq!(err.sqlstate(), "58000", "{err}");
    assert!(err.to_string().contains("c1-503"), "{err}");
    assert_eq!(statuses, vec![503; MAX_RETRIES as usize + 1]);
}

#[tokio::test]
async fn dropped_connections_are_retried_and_the_rows_come_back() {
    let env = TestClusters::shared_seeded();
    let c1 = env.cluster("c1");
    let proxy = FaultProxy::start(c1).await.unwrap();
    let engine = engine_through(env, &proxy, "c1-drop").await;
    let audit = c1.audit();
    let mark = audit.mark();
    proxy.drop_next("/api/v1/namespaces/shop/pods?", 2);

    let rows = common::rows(
        &engine,
        None,
        "SELECT count(*) FROM pods WHERE namespace = 'shop'",
    )
    .await
    .unwrap();

    assert_eq!(rows, [["7"]]);
    assert_eq!(
        proxy.statuses("/api/v1/namespaces/shop/pods"),
        [DROPPED, DROPPED, 200]
    );
    let is_list = |e: &kubepg_testkit::audit::AuditEvent| {
        proxy.forwarded(e) && e.path() == "/api/v1/namespaces/shop/pods"
    };
    let events = audit.wait_for(mark, is_list).await.unwrap();
    let lists: Vec<_> = events.iter().filter(|e| is_list(e)).collect();
    assert_eq!(lists.len(), 1, "one list reached the API server: {lists:?}");
    assert_eq!((lists[0].verb.as_str(), lists[0].code()), ("list", 200));
}

#[tokio::test]
async fn a_429_with_retry_after_is_retried_no_sooner_than_the_server_asked() {
    let env = TestClusters::shared_seeded();
    let c1 = env.cluster("c1");
    let proxy = FaultProxy::start(c1).await.unwrap();
    let engine = engine_through(env, &proxy, "c1-retry-after").await;
    // The engine's own backoff is 10 ms; the API server asks for 2 s.
    proxy.throttle_next("/api/v1/namespaces?", 2, 1);

    let rows = common::rows(&engine, None, "SELECT count(*) FROM namespaces")
        .await
        .unwrap();

    assert_eq!(rows, [["9"]]);
    assert_eq!(proxy.statuses("/api/v1/namespaces"), [429, 200]);
    let gaps = proxy.gaps("/api/v1/namespaces");
    assert!(
        gaps[0] >= Duration::from_secs(2),
        "the retry came {:?} after the 429",
        gaps[0]
    );
}
