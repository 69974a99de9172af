//! A CRD created after a session started becomes a table on the first query that names it, with
//! no restart.

use crate::common;

use std::time::Duration;

use kube::api::{Api, DynamicObject, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use kubepg_kube::discovery::DiscoveryConfig;
use kubepg_testkit::{TestClusters, User};

#[tokio::test]
async fn a_crd_created_after_the_session_started_is_found_on_first_use() {
    let env = TestClusters::shared_seeded();
    let engine = common::engine_with_discovery(
        env,
        DiscoveryConfig {
            miss_interval: Duration::ZERO,
            ..Default::default()
        },
    )
    .await
    .0;
    let session = engine
        .session(kubepg_sql::SessionRequest::local(None))
        .await
        .unwrap();
    let err = session
        .collect("SELECT * FROM gizmos")
        .await
        .expect_err("no gizmos yet");
    assert_eq!(err.sqlstate(), "42P01");

    let client = env.cluster("c1").client(User::Admin).await.unwrap();
    let crds = Api::<DynamicObject>::all_with(
        client.clone(),
        &ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("apiextensions.k8s.io", "v1", "CustomResourceDefinition"),
            "customresourcedefinitions",
        ),
    );
    let crd: DynamicObject = serde_json::from_value(serde_json::json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "gizmos.example.com"},
        "spec": {"group": "example.com", "scope": "Cluster",
            "names": {"plural": "gizmos", "singular": "gizmo", "kind": "Gizmo"},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {"type": "object", "properties": {"level": {"type": "integer"}}}}}}}]}
    }))
    .unwrap();
    crds.create(&PostParams::default(), &crd).await.unwrap();
    let gizmos = Api::<DynamicObject>::all_with(
        client,
        &ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("example.com", "v1", "Gizmo"),
            "gizmos",
        ),
    );
    let gizmo: DynamicObject = serde_json::from_value(serde_json::json!({
        "apiVersion": "example.com/v1", "kind": "Gizmo", "metadata": {"name": "g1"}, "spec": {"level": 3}
    }))
    .unwrap();
    // The API serves a new CRD a moment after accepting it.
    let mut created = false;
    for _ in 0..100 {
        if gizmos.create(&PostParams::default(), &gizmo).await.is_ok() {
            created = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(created, "the gizmos CRD was never served");

    // The same session, no restart: the miss re-walks discovery and finds the CRD's schema.
    let batches = session
        .collect("SELECT name || ':' || CAST(level AS VARCHAR) FROM gizmos")
        .await
        .unwrap();
    assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 1);
    let value =
        datafusion::arrow::util::display::array_value_to_string(batches[0].column(0), 0).unwrap();
    assert_eq!(value, "g1:3");
}
