//! A continue token that outlives etcd's compaction: the API answers 410 Gone and the list is
//! restarted without returning any object twice. Its own test binary, because compacting etcd
//! expires every other test's tokens too.

use std::collections::BTreeSet;
use std::sync::Arc;

use futures::StreamExt;
use kubepg_kube::ListRequest;
use kubepg_kube::pool::{ClusterPool, PoolConfig};
use kubepg_kube::source::ListStats;
use kubepg_testkit::TestClusters;

#[tokio::test]
async fn an_expired_continue_token_restarts_the_list_without_duplicates() {
    let env = TestClusters::shared_seeded();
    let pool = ClusterPool::build(PoolConfig {
        kubeconfigs: vec![env.kubeconfig()],
        contexts: vec!["c1".into()],
        total_requests: 8,
        ..Default::default()
    })
    .await
    .expect("pool");
    let source = pool.get("c1").unwrap().clone();
    let discovered = pool.discovery.get(source.as_ref()).await.unwrap();
    let pods = discovered
        .resources
        .iter()
        .find(|r| r.plural == "pods" && r.group.is_empty())
        .unwrap()
        .clone();
    let audit = env.cluster("c1").audit();
    let mark = audit.mark();

    let stats = Arc::new(ListStats::default());
    let mut pages = source.list(
        &pods,
        ListRequest {
            page_size: 5,
            ..Default::default()
        },
        stats.clone(),
    );
    let mut uids = Vec::new();
    let first = pages.next().await.unwrap().unwrap();
    uids.extend(
        first
            .objects
            .iter()
            .map(|o| o["metadata"]["uid"].as_str().unwrap().to_string()),
    );
    assert_eq!(uids.len(), 5);
    env.compact_etcd().unwrap();
    while let Some(page) = pages.next().await {
        uids.extend(
            page.unwrap()
                .objects
                .iter()
                .map(|o| o["metadata"]["uid"].as_str().unwrap().to_string()),
        );
    }
    let unique: BTreeSet<_> = uids.iter().collect();
    assert_eq!(uids.len(), 22, "every pod once");
    assert_eq!(unique.len(), 22);

    let events = audit.wait_for(mark, |e| e.code() == 410).await.unwrap();
    let lists: Vec<_> = events
        .iter()
        .filter(|e| e.path() == "/api/v1/pods")
        .collect();
    assert_eq!(lists[0].query_param("continue"), None);
    assert_eq!(lists[1].code(), 410, "the second page's token expired");
    assert!(lists[1].query_param("continue").is_some());
    assert_eq!(lists[2].query_param("continue"), None, "the list restarted");
    assert!(ListStats::get(&stats.retries) >= 1);
}
