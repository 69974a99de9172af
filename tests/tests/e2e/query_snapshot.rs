//! `kubepg query --snapshot` over files a user would have: manifests as multi-document YAML and
//! `kubectl get -o json` output, in a directory or as a single file.

use crate::common;

use std::path::Path;

use serde_json::{Value, json};

const MANIFESTS: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
  labels: {app: web, tier: front}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: 'nginx:1.27'}]
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: worker
  namespace: jobs
  labels: {app: worker}
spec:
  replicas: 1
  selector: {matchLabels: {app: worker}}
  template:
    metadata: {labels: {app: worker}}
    spec:
      containers: [{name: worker, image: 'busybox:1.36'}]
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: web-config
  namespace: shop
data:
  greeting: hello, world
";

fn pod(namespace: &str, name: &str, app: Option<&str>, phase: &str) -> Value {
    let mut labels = json!({"pod-template-hash": "abc123"});
    if let Some(app) = app {
        labels["app"] = json!(app);
    }
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": labels,
                     "uid": format!("uid-{name}"), "creationTimestamp": "2025-01-02T03:04:05Z"},
        "spec": {"nodeName": "node-1", "containers": [{"name": "main", "image": "busybox:1.36"}]},
        "status": {"phase": phase}
    })
}

/// The pods as `kubectl get pods -A -o json` prints them: a plain `List`.
fn pod_list() -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "List",
        "metadata": {"resourceVersion": ""},
        "items": [
            pod("shop", "web-1", Some("web"), "Running"),
            pod("shop", "web-2", Some("web"), "Pending"),
            pod("jobs", "worker-1", Some("worker"), "Running"),
            pod("shop", "debug", None, "Succeeded"),
            pod("jobs", "web-3", Some("web"), "Running"),
        ]
    })
}

fn write_snapshot(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("apps.yaml"), MANIFESTS).unwrap();
    std::fs::write(
        dir.join("pods.json"),
        serde_json::to_vec_pretty(&pod_list()).unwrap(),
    )
    .unwrap();
    // Not a manifest: a snapshot directory ignores other files.
    std::fs::write(dir.join("README.md"), "# exported from prod-east\n").unwrap();
}

#[test]
fn a_snapshot_directory_is_one_cluster_named_after_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("prod-east");
    write_snapshot(&dir);
    let snapshot = dir.to_str().unwrap();

    let counts = common::query([
        "--snapshot",
        snapshot,
        "-q",
        "SELECT 'deployments' AS t, _cluster, count(*) AS n FROM deployments GROUP BY _cluster \
         UNION ALL SELECT 'configmaps', _cluster, count(*) FROM configmaps GROUP BY _cluster \
         UNION ALL SELECT 'pods', _cluster, count(*) FROM pods GROUP BY _cluster \
         ORDER BY t",
        "-o",
        "json",
    ]);
    assert_eq!(
        counts.json(),
        [
            json!({"t": "configmaps", "_cluster": "prod-east", "n": 1}),
            json!({"t": "deployments", "_cluster": "prod-east", "n": 2}),
            json!({"t": "pods", "_cluster": "prod-east", "n": 5}),
        ]
    );

    // Typed columns come from the manifests.
    let deployments = common::query([
        "--snapshot",
        snapshot,
        "-q",
        "SELECT namespace, name, replicas, labels FROM deployments ORDER BY name",
        "-o",
        "json",
    ]);
    assert_eq!(
        deployments.json(),
        [
            json!({"namespace": "shop", "name": "web", "replicas": 3,
                   "labels": {"app": "web", "tier": "front"}}),
            json!({"namespace": "jobs", "name": "worker", "replicas": 1,
                   "labels": {"app": "worker"}}),
        ]
    );
    let config = common::query([
        "--snapshot",
        snapshot,
        "-q",
        "SELECT data->>'greeting' FROM configmaps WHERE name = 'web-config'",
        "-o",
        "csv",
        "--no-headers",
    ]);
    assert_eq!(config.ok(), "\"hello, world\"\n");
}

#[test]
fn a_label_filter_on_a_snapshot_returns_exactly_the_matching_rows() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("snap");
    write_snapshot(&dir);
    let snapshot = dir.to_str().unwrap();

    let all = common::query([
        "--snapshot",
        snapshot,
        "-q",
        "SELECT namespace, name, labels FROM pods ORDER BY namespace, name",
        "-o",
        "json",
    ])
    .json();
    assert_eq!(all.len(), 5);
    let expected: Vec<Value> = all
        .iter()
        .filter(|r| r["labels"]["app"] == "web")
        .map(|r| json!({"namespace": r["namespace"], "name": r["name"]}))
        .collect();
    assert_eq!(
        expected,
        [
            json!({"namespace": "jobs", "name": "web-3"}),
            json!({"namespace": "shop", "name": "web-1"}),
            json!({"namespace": "shop", "name": "web-2"}),
        ]
    );

    // The label condition becomes a selector the snapshot evaluates itself.
    let filtered = common::query([
        "--snapshot",
        snapshot,
        "-q",
        "SELECT namespace, name FROM pods WHERE labels->>'app' = 'web' ORDER BY namespace, name",
        "-o",
        "json",
    ]);
    assert_eq!(filtered.json(), expected);

    // The negation keeps pods without the label, as SQL's `IS DISTINCT FROM` does.
    let others = common::query([
        "--snapshot",
        snapshot,
        "-q",
        "SELECT name FROM pods WHERE labels->>'app' IS DISTINCT FROM 'web' ORDER BY name",
        "-o",
        "csv",
        "--no-headers",
    ]);
    assert_eq!(others.ok(), "debug\nworker-1\n");

    // Namespace and label together.
    let both = common::query([
        "--snapshot",
        snapshot,
        "-q",
        "SELECT name, phase FROM pods WHERE namespace = 'shop' AND labels->>'app' = 'web' ORDER BY name",
        "-o",
        "csv",
        "--no-headers",
    ]);
    assert_eq!(both.ok(), "web-1,Running\nweb-2,Pending\n");
}

#[test]
fn snapshot_files_are_clusters_named_after_their_stems() {
    let tmp = tempfile::tempdir().unwrap();
    let manifests = tmp.path().join("staging.yaml");
    std::fs::write(&manifests, MANIFESTS).unwrap();
    let pods = tmp.path().join("prod.json");
    std::fs::write(&pods, serde_json::to_vec(&pod_list()).unwrap()).unwrap();

    let run = common::query([
        "--snapshot".as_ref(),
        manifests.as_os_str(),
        "--snapshot".as_ref(),
        pods.as_os_str(),
        "-q".as_ref(),
        "SELECT _cluster, kind, count(*) AS n FROM deployments GROUP BY 1, 2 \
         UNION ALL SELECT _cluster, kind, count(*) FROM pods GROUP BY 1, 2 ORDER BY 1, 2"
            .as_ref(),
        "-o".as_ref(),
        "csv".as_ref(),
    ]);
    assert_eq!(
        run.ok(),
        "_cluster,kind,n\nprod,Pod,5\nstaging,Deployment,2\n"
    );
}
