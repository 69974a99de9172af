//! The testkit against real API servers: two seeded clusters read back through kube-rs, and the
//! audit log naming the requests made.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, ListParams};
use kubepg_testkit::fixtures::{self, Seed};
use kubepg_testkit::{TestClusters, User};

#[tokio::test]
async fn two_seeded_clusters_read_back_through_kube_rs() {
    let env = TestClusters::shared(2);
    let c1 = env.cluster("c1").client(User::Admin).await.unwrap();
    let c2 = env.cluster("c2").client(User::Admin).await.unwrap();
    fixtures::seed(&c1, &Seed::default()).await.unwrap();
    fixtures::seed(
        &c2,
        &Seed {
            crd: false,
            tenants: 2,
        },
    )
    .await
    .unwrap();

    let pods: Api<Pod> = Api::all(c1.clone());
    let pods = pods.list(&ListParams::default()).await.unwrap().items;
    assert_eq!(pods.len(), 22, "standard seed pod count");
    let crashing = pods
        .iter()
        .find(|p| {
            p.metadata.namespace.as_deref() == Some("shop")
                && p.metadata
                    .name
                    .as_deref()
                    .is_some_and(|n| n.starts_with("api-"))
                && p.status
                    .as_ref()
                    .and_then(|s| s.container_statuses.as_ref())
                    .is_some_and(|cs| cs[0].restart_count == 7)
        })
        .expect("the crash-looping api pod");
    let owner = &crashing.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(owner.kind, "ReplicaSet");
    let phases: std::collections::BTreeSet<_> = pods
        .iter()
        .filter_map(|p| p.status.as_ref()?.phase.clone())
        .collect();
    assert_eq!(
        phases.into_iter().collect::<Vec<_>>(),
        ["Failed", "Pending", "Running", "Succeeded", "Unknown"]
    );

    let nodes: Api<Node> = Api::all(c1.clone());
    let node = nodes.get("node-a2").await.unwrap();
    let status = node.status.unwrap();
    assert_eq!(status.capacity.unwrap()["memory"].0, "32Gi");
    assert_eq!(status.node_info.unwrap().kubelet_version, "v1.20.2");

    // The second cluster has its own objects under its own etcd prefix: tenants, no CRD.
    let deployments: Api<Deployment> = Api::namespaced(c2.clone(), "team-02");
    let d = deployments.get("service").await.unwrap();
    assert_eq!(d.status.unwrap().ready_replicas, Some(3));
    let c2_pods: Api<Pod> = Api::all(c2.clone());
    assert_eq!(
        c2_pods
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .len(),
        22 + 2 + 4
    );
    assert!(c2.list_api_group_resources("example.com/v1").await.is_err());
    let c1_widgets = c1.list_api_group_resources("example.com/v1").await.unwrap();
    assert!(c1_widgets.resources.iter().any(|r| r.name == "widgets"));

    // The restricted user sees the shop namespace and nothing else.
    let restricted = env.cluster("c1").client(User::Restricted).await.unwrap();
    let shop: Api<Pod> = Api::namespaced(restricted.clone(), "shop");
    assert_eq!(
        shop.list(&ListParams::default()).await.unwrap().items.len(),
        7
    );
    let all: Api<Pod> = Api::all(restricted);
    let err = all.list(&ListParams::default()).await.unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 403),
        "{err}"
    );
}

#[tokio::test]
async fn audit_log_records_each_request_with_its_selectors() {
    let env = TestClusters::shared(2);
    let cluster = env.cluster("c2");
    let client = cluster.client(User::Admin).await.unwrap();
    let audit = cluster.audit();
    let mark = audit.mark();

    let pods: Api<Pod> = Api::namespaced(client, "kube-system");
    pods.list(
        &ListParams::default()
            .labels("app=audit-probe")
            .fields("spec.nodeName=n1")
            .limit(5),
    )
    .await
    .unwrap();

    let events = audit
        .wait_for(mark, |e| e.path() == "/api/v1/namespaces/kube-system/pods")
        .await
        .unwrap();
    let list = events
        .iter()
        .find(|e| e.path() == "/api/v1/namespaces/kube-system/pods")
        .unwrap();
    assert_eq!(list.verb, "list");
    assert_eq!(list.user.username, "kubepg-admin");
    assert_eq!(list.code(), 200);
    assert_eq!(
        list.query_param("labelSelector").as_deref(),
        Some("app=audit-probe")
    );
    assert_eq!(
        list.query_param("fieldSelector").as_deref(),
        Some("spec.nodeName=n1")
    );
    assert_eq!(list.query_param("limit").as_deref(), Some("5"));
}
