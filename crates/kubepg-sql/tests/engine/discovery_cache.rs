//! A warm start answers from the on-disk discovery cache without walking the API groups. Its own
//! test binary: it asserts that no other discovery requests reach the server.

use crate::common;

use kubepg_kube::discovery::DiscoveryConfig;
use kubepg_testkit::TestClusters;

#[tokio::test]
async fn a_warm_start_answers_from_the_disk_cache_without_walking_discovery() {
    let env = TestClusters::shared_seeded();
    let cache = tempfile::tempdir().unwrap();
    let config = DiscoveryConfig {
        dir: Some(cache.path().to_path_buf()),
        ..Default::default()
    };
    let audit = env.cluster("c1").audit();

    let (cold, cold_agent) = common::engine_with_discovery(env, config.clone()).await;
    let mark = audit.mark();
    assert_eq!(
        common::sorted_rows(&cold, None, "SELECT count(*) FROM nodes").await,
        [["4"]]
    );
    let events = audit
        .wait_for(mark, |e| {
            e.path() == "/api/v1/nodes" && e.user_agent == cold_agent
        })
        .await
        .unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.path() == "/apis" && e.user_agent == cold_agent),
        "the cold start walks discovery"
    );
    assert_eq!(
        std::fs::read_dir(cache.path()).unwrap().count(),
        1,
        "one cache file per cluster"
    );

    // A new pool (a restarted process) with the same cache directory.
    let (warm, warm_agent) = common::engine_with_discovery(env, config).await;
    let mark = audit.mark();
    assert_eq!(
        common::sorted_rows(&warm, None, "SELECT count(*) FROM nodes").await,
        [["4"]]
    );
    let events = audit
        .wait_for(mark, |e| {
            e.path() == "/api/v1/nodes" && e.user_agent == warm_agent
        })
        .await
        .unwrap();
    let walked: Vec<_> = events
        .iter()
        .filter(|e| e.user_agent == warm_agent)
        .filter(|e| e.path() == "/api" || e.path().starts_with("/apis"))
        .collect();
    assert!(
        walked.is_empty(),
        "a warm start must not walk discovery: {walked:?}"
    );
}
