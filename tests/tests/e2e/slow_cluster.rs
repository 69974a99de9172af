//! A cluster too slow to answer is the cluster's failure, not a broken PostgreSQL connection:
//! pgjdbc gets 57014 (class 57, not 08, which tells pools to throw the connection away), and
//! the connection stays valid for the next query.

use std::time::Duration;

use kubepg_testkit::TestClusters;
use kubepg_testkit::proxy::FaultProxy;
use serde_json::Value;

use crate::common;

#[tokio::test(flavor = "multi_thread")]
async fn a_cluster_too_slow_to_answer_fails_the_query_and_leaves_pgjdbc_s_connection_valid() {
    let env = TestClusters::shared_seeded();
    let proxy = FaultProxy::start(env.cluster("c1")).await.unwrap();
    // Every LIST of pods answers after 5 s; the server gives each request 1 s.
    proxy.delay_next("/api/v1/pods?", Duration::from_secs(5), 100);
    let kubeconfig = proxy.kubeconfig(env, "slow").unwrap();
    let server = common::server(&[
        "--kubeconfig",
        kubeconfig.to_str().unwrap(),
        "--context",
        "slow",
        "--listen",
        "127.0.0.1:0",
        "--health-listen",
        "off",
        "--request-timeout",
        "1",
    ]);
    let out = tokio::process::Command::new("java")
        .args(["-cp", "/usr/share/java/postgresql.jar"])
        .arg(common::clients_dir().join("JdbcSlowCluster.java"))
        .arg(format!(
            "jdbc:postgresql://127.0.0.1:{}/kubepg",
            server.port
        ))
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(got["state"], "57014", "{got}");
    assert!(
        got["message"].as_str().unwrap().contains("timed out"),
        "{got}"
    );
    assert_eq!(got["valid"], true, "{got}");
    let namespaces = common::kubectl(
        &env.kubeconfig(),
        "c1",
        &["get", "namespaces", "-o", "name"],
    )
    .lines()
    .count();
    assert_eq!(got["after"], namespaces, "{got}");
}
