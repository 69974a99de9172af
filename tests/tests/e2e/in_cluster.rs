//! kubepg as a pod sees it: `KUBERNETES_SERVICE_HOST` set and a service-account token and CA
//! mounted at the standard path. The account is the one `deploy/` creates, bound to exactly the
//! chart's ClusterRole, with a token issued by the API server's TokenRequest API. Every table the
//! role allows answers; `secrets`, which it leaves out, is SQLSTATE 42501.
//!
//! The standard path is machine-wide, so the binary runs in a private mount namespace
//! (`unshare`) with a tmpfs over /run holding the mounted files.

use crate::common;

use std::path::Path;
use std::process::Command;

use kubepg_testkit::TestClusters;

fn kubectl(env: &TestClusters, args: &[&str]) -> String {
    common::kubectl(&env.kubeconfig(), "c1", args)
}

/// Runs `kubepg query --in-cluster -q SQL` with `mounted` as the service-account directory.
fn in_cluster_query(env: &TestClusters, mounted: &Path, sql: &str) -> common::Outcome {
    let c1 = env.cluster("c1");
    let port = c1.server.rsplit(':').next().unwrap();
    let home = tempfile::tempdir().unwrap();
    let mut cmd = Command::new("unshare");
    if uid() != 0 {
        cmd.args(["--user", "--map-root-user"]);
    }
    cmd.args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg(
            "mount -t tmpfs tmpfs /run && \
             mkdir -p /run/secrets/kubernetes.io/serviceaccount && \
             cp \"$1\"/* /run/secrets/kubernetes.io/serviceaccount/ && \
             shift && exec \"$@\"",
        )
        .arg("sh")
        .arg(mounted)
        .arg(common::kubepg())
        .args(["query", "--in-cluster", "-o", "json", "-q", sql])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap())
        .env("HOME", home.path())
        .env("KUBEPG_CACHE_DIR", home.path().join("discovery"))
        .env("KUBERNETES_SERVICE_HOST", "127.0.0.1")
        .env("KUBERNETES_SERVICE_PORT", port);
    let out = cmd.output().expect("unshare runs");
    common::Outcome {
        code: out.status.code(),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

/// The caller's user id, for choosing whether `unshare` needs a user namespace.
fn uid() -> u32 {
    let out = Command::new("id").arg("-u").output().expect("id runs");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(1)
}

/// This suite's own cluster: installing deploy/ adds a namespace and RBAC the shared clusters
/// must not get.
fn cluster() -> &'static TestClusters {
    static ENV: std::sync::OnceLock<TestClusters> = std::sync::OnceLock::new();
    ENV.get_or_init(|| {
        TestClusters::start_seeded().expect("starting the in-cluster suite's cluster")
    })
}

#[test]
fn a_pod_service_account_bound_to_the_chart_role_reads_what_it_allows_and_not_secrets() {
    let env = cluster();
    let deploy = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy");
    for file in [
        "namespace.yaml",
        "serviceaccount.yaml",
        "clusterrole.yaml",
        "clusterrolebinding.yaml",
    ] {
        kubectl(env, &["apply", "-f", deploy.join(file).to_str().unwrap()]);
    }
    let token = kubectl(env, &["create", "token", "kubepg", "-n", "kubepg"]);
    let mounted = tempfile::tempdir().unwrap();
    std::fs::write(mounted.path().join("token"), token.trim()).unwrap();
    std::fs::write(mounted.path().join("ca.crt"), env.cluster("c1").ca_pem()).unwrap();
    std::fs::write(mounted.path().join("namespace"), "kubepg").unwrap();

    let audit = env.cluster("c1").audit();
    let mark = audit.mark();
    let pods = in_cluster_query(
        env,
        mounted.path(),
        "SELECT _cluster, count(*) AS n FROM pods GROUP BY 1",
    )
    .json();
    let expected = kubectl(env, &["get", "pods", "-A", "-o", "name"])
        .lines()
        .count();
    assert_eq!(
        pods,
        [serde_json::json!({"_cluster": "in-cluster", "n": expected})]
    );
    let deployments =
        in_cluster_query(env, mounted.path(), "SELECT count(*) AS n FROM deployments").json();
    let expected = kubectl(env, &["get", "deployments", "-A", "-o", "name"])
        .lines()
        .count();
    assert_eq!(deployments[0]["n"], expected);

    let refused = in_cluster_query(env, mounted.path(), "SELECT name FROM secrets");
    let stderr = refused.error("42501");
    assert!(stderr.contains("secrets"), "{stderr}");

    // kubepg's requests were the service account's, made with the TokenRequest token.
    let events = audit.since(mark).unwrap();
    let lists: Vec<_> = events
        .iter()
        .filter(|e| !e.user_agent.starts_with("kubectl"))
        .filter(|e| e.path().ends_with("/pods") || e.path().ends_with("/secrets"))
        .collect();
    assert_eq!(
        lists.len(),
        2,
        "one LIST of pods, one refused LIST of secrets"
    );
    for e in lists {
        assert_eq!(
            e.user.username,
            "system:serviceaccount:kubepg:kubepg",
            "{}",
            e.path()
        );
    }
}
