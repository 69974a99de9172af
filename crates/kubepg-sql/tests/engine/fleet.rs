//! A fleet of twelve clusters on a bad day: one down, one throttling with `Retry-After`, one
//! too slow for the request timeout, one whose continue tokens always expire, eight healthy.
//! A query over `all` answers every cluster that can answer, with one warning per cluster
//! that cannot; `strict` turns the first failure into the statement's error.

use crate::common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use kubepg_kube::live::LiveConfig;
use kubepg_kube::pool::{ClusterPool, PoolConfig};
use kubepg_sql::{Engine, EngineConfig, SessionRequest};
use kubepg_testkit::proxy::FaultProxy;
use kubepg_testkit::{TestClusters, User};

const PAGE: u32 = 5;

async fn fleet_engine(kubeconfigs: Vec<PathBuf>, contexts: &[String], strict: bool) -> Engine {
    let pool = ClusterPool::build(PoolConfig {
        kubeconfigs,
        contexts: contexts.to_vec(),
        total_requests: 16,
        live: LiveConfig {
            request_timeout: Duration::from_secs(2),
            max_retries: 1,
            backoff: Duration::from_millis(10),
            ..Default::default()
        },
        ..Default::default()
    })
    .await
    .expect("pool");
    Engine::new(
        Arc::new(pool),
        EngineConfig {
            page_size: PAGE,
            strict,
            ..Default::default()
        },
    )
}

#[tokio::test]
async fn a_fleet_with_four_bad_clusters_answers_from_the_rest_with_one_warning_each() {
    let env = TestClusters::shared_seeded();
    let c1 = env.cluster("c1");
    let mut kubeconfigs = vec![env.kubeconfig()];
    let mut contexts = vec!["c1".to_string(), "c2".to_string()];
    let mut want = BTreeMap::from([("c1".to_string(), 22), ("c2".to_string(), 28)]);
    for (i, upstream) in ["c1", "c1", "c1", "c2", "c2", "c2"].into_iter().enumerate() {
        let context = format!("fleet-h{i}");
        kubeconfigs.push(env.kubeconfig_for(upstream, User::Admin, &context).unwrap());
        want.insert(context.clone(), if upstream == "c1" { 22 } else { 28 });
        contexts.push(context);
    }
    let (throttled, slow, expiring) = (
        FaultProxy::start(c1).await.unwrap(),
        FaultProxy::start(c1).await.unwrap(),
        FaultProxy::start(c1).await.unwrap(),
    );
    for (proxy, context) in [
        (&throttled, "fleet-throttled"),
        (&slow, "fleet-slow"),
        (&expiring, "fleet-expiring"),
    ] {
        kubeconfigs.push(proxy.kubeconfig(env, context).unwrap());
        contexts.push(context.to_string());
    }
    want.insert("fleet-throttled".into(), 22);
    want.insert("fleet-expiring".into(), 22);
    let healthy_and_bad = contexts.clone();
    kubeconfigs.push(env.dead_kubeconfig().unwrap());
    contexts.push("dead".into());
    assert_eq!(contexts.len(), 12);

    throttled.throttle_next("/api/v1/pods?", 1, 1);
    slow.delay_next("/api/v1/pods?", Duration::from_secs(5), 100);
    let continues = format!("/api/v1/pods?limit={PAGE}&continue=");
    expiring.fail_next(&continues, 410, 100);

    let engine = fleet_engine(kubeconfigs.clone(), &contexts, false).await;
    let session = engine
        .session(SessionRequest::local(Some("all")))
        .await
        .unwrap();
    let batches = session
        .collect("SELECT _cluster, count(*) FROM pods GROUP BY 1")
        .await
        .unwrap();
    let mut got = BTreeMap::new();
    for b in &batches {
        let names = datafusion::arrow::array::as_string_array(b.column(0));
        let counts = b
            .column(1)
            .as_any()
            .downcast_ref::<datafusion::arrow::array::Int64Array>()
            .unwrap();
        for i in 0..b.num_rows() {
            got.insert(names.value(i).to_string(), counts.value(i));
        }
    }
    assert_eq!(got, want, "every cluster that can answer, each pod once");

    let warnings = session.take_warnings();
    for context in &contexts {
        let about = warnings
            .iter()
            .filter(|w| w.contains(context.as_str()))
            .count();
        let bad = context == "dead" || context == "fleet-slow";
        assert_eq!(about, usize::from(bad), "{context}: {warnings:?}");
    }
    // The throttled cluster was asked again no sooner than its Retry-After.
    let statuses = throttled.statuses("/api/v1/pods");
    assert_eq!(statuses[0], 429, "{statuses:?}");
    assert!(statuses[1..].iter().all(|s| *s == 200), "{statuses:?}");
    assert!(throttled.gaps("/api/v1/pods")[0] >= Duration::from_secs(1));
    // The expiring cluster: restarted once, then listed unpaged.
    assert_eq!(expiring.statuses("/api/v1/pods"), [200, 410, 200, 410, 200]);
    let unpaged = expiring.requests().last().unwrap().0.clone();
    assert!(!unpaged.contains("limit="), "{unpaged}");

    // Strict: the dead cluster fails the session, the slow one (without it) the statement.
    let strict = fleet_engine(kubeconfigs.clone(), &contexts, true).await;
    let err = strict
        .session(SessionRequest::local(Some("all")))
        .await
        .expect_err("strict refuses a dead cluster");
    assert_eq!(err.sqlstate(), "58000", "{err}");
    assert!(err.to_string().contains("dead"), "{err}");

    let strict = fleet_engine(kubeconfigs, &healthy_and_bad, true).await;
    let err = common::rows(&strict, Some("all"), "SELECT count(*) FROM pods")
        .await
        .expect_err("strict fails on the slow cluster");
    assert_eq!(err.sqlstate(), "57014", "{err}");
    assert!(err.to_string().contains("fleet-slow"), "{err}");
}
