//! `kubepg query` against real API servers (kubepg-testkit): context globs and lists, merged
//! kubeconfigs, and a cluster that does not answer.

use crate::common;

use kubepg_testkit::TestClusters;
use kubepg_testkit::audit::AuditEvent;
use serde_json::json;

fn is_pod_list(e: &AuditEvent) -> bool {
    e.verb == "list" && e.path() == "/api/v1/pods"
}

#[test]
fn a_context_glob_queries_every_matching_cluster_and_a_name_only_that_one() {
    let env = TestClusters::shared_seeded();
    let kubeconfig = env.kubeconfig();
    let kubeconfig = kubeconfig.to_str().unwrap();
    let sql = "SELECT _cluster, count(*) AS pods FROM pods GROUP BY 1 ORDER BY 1";
    let (a1, a2) = (env.cluster("c1").audit(), env.cluster("c2").audit());
    let before = a2.mark();

    let both = common::query([
        "--kubeconfig",
        kubeconfig,
        "--context",
        "c*",
        "--scope",
        "all",
        "-q",
        sql,
        "-o",
        "json",
    ]);
    assert_eq!(
        both.json(),
        [
            json!({"_cluster": "c1", "pods": 22}),
            json!({"_cluster": "c2", "pods": 28})
        ]
    );
    assert!(both.stderr.is_empty(), "{}", both.stderr);

    // Every request of that run is in c2's log before the next run starts.
    assert!(
        a2.wait_for_blocking(before, is_pod_list).is_ok(),
        "c2 was not listed"
    );
    let (m1, m2) = (a1.mark(), a2.mark());
    let agent = "kubepg-test/context-name-only";
    let one = common::query([
        "--kubeconfig",
        kubeconfig,
        "--context",
        "c1",
        "--user-agent",
        agent,
        "--scope",
        "all",
        "-q",
        sql,
        "-o",
        "json",
    ]);
    assert_eq!(one.json(), [json!({"_cluster": "c1", "pods": 22})]);
    assert!(
        a1.wait_for_blocking(m1, |e| is_pod_list(e) && e.user_agent == agent)
            .is_ok(),
        "c1 was not listed"
    );
    // c2 is not in the pool at all: not a single request of this run reaches it (other tests
    // of this binary may call c2 meanwhile, under their own user agents).
    let to_c2: Vec<_> = a2
        .since(m2)
        .unwrap()
        .into_iter()
        .filter(|e| e.user_agent == agent)
        .collect();
    assert!(
        to_c2.is_empty(),
        "c2 must not be called: {:?}",
        to_c2.iter().map(|e| &e.request_uri).collect::<Vec<_>>()
    );
}

#[test]
fn an_unreachable_cluster_is_a_warning_unless_strict() {
    let env = TestClusters::shared_seeded();
    let dead = env.dead_kubeconfig().unwrap();
    let kubeconfig = env.kubeconfig();
    let sql = "SELECT _cluster, count(*) AS namespaces FROM namespaces GROUP BY 1 ORDER BY 1";

    // Two kubeconfigs by repeating the flag.
    let lenient = common::query([
        "--kubeconfig".as_ref(),
        kubeconfig.as_os_str(),
        "--kubeconfig".as_ref(),
        dead.as_os_str(),
        "--context".as_ref(),
        "c1,dead".as_ref(),
        "--scope".as_ref(),
        "all".as_ref(),
        "-q".as_ref(),
        sql.as_ref(),
        "-o".as_ref(),
        "json".as_ref(),
    ]);
    assert_eq!(lenient.json(), [json!({"_cluster": "c1", "namespaces": 9})]);
    let warnings = lenient.warnings();
    assert!(
        warnings.iter().any(|w| w.contains("dead")),
        "expected a warning naming the dead cluster; stderr:\n{}",
        lenient.stderr
    );
    assert!(
        !warnings.iter().any(|w| w.contains("c1")),
        "only the dead cluster is unavailable: {warnings:?}"
    );

    // The same two kubeconfigs as one colon-separated list, as in $KUBECONFIG.
    let both = std::env::join_paths([&kubeconfig, &dead]).unwrap();
    let strict = common::query([
        "--kubeconfig".as_ref(),
        both.as_os_str(),
        "--context".as_ref(),
        "c1,dead".as_ref(),
        "--scope".as_ref(),
        "all".as_ref(),
        "--strict".as_ref(),
        "-q".as_ref(),
        sql.as_ref(),
        "-o".as_ref(),
        "json".as_ref(),
    ]);
    let stderr = strict.error("58000");
    assert!(stderr.contains("dead"), "{stderr}");
}
