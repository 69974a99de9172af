//! The `containers` table: one row per container (init containers included) of every pod, with
//! its resources as numbers and its state from the pod's status.

use serde_json::{Value, json};

use crate::columns::{ColType::*, ColumnSpec, Getter, col};

/// Columns of `containers`. `pod_name` is the pod's `metadata.name`, so `pod_name = 'x'` becomes
/// a field selector on the pods listed.
pub fn columns() -> Vec<ColumnSpec> {
    let mut pod_name = col("pod_name", Text, "metadata.name");
    pod_name.field_path = Some("metadata.name".into());
    let mut node = col("node_name", Text, "node_name");
    node.field_path = Some("spec.nodeName".into());
    vec![
        ColumnSpec::new("_cluster", Text, Getter::Cluster).not_null(),
        col("namespace", Text, "metadata.namespace"),
        pod_name,
        col("pod_uid", Text, "metadata.uid"),
        node,
        col("name", Text, "name"),
        col("init", Bool, "init"),
        col("image", Text, "image"),
        col("cpu_request", Cores, "resources.requests.cpu"),
        col("cpu_limit", Cores, "resources.limits.cpu"),
        col("memory_request", Bytes, "resources.requests.memory"),
        col("memory_limit", Bytes, "resources.limits.memory"),
        col("ready", Bool, "status.ready"),
        col("restarts", Int, "status.restartCount"),
        col("state", Text, "state"),
        col("reason", Text, "reason"),
        col("started_at", Timestamp, "started_at"),
        col("image_id", Text, "status.imageID"),
        col("ports", Json, "ports"),
    ]
}

/// The rows of one pod: each container's spec, next to its status and the pod's identity.
pub fn expand(pod: &Value) -> Vec<Value> {
    let mut rows = Vec::new();
    for (init, spec_key, status_key) in [
        (true, "initContainers", "initContainerStatuses"),
        (false, "containers", "containerStatuses"),
    ] {
        for c in pod["spec"][spec_key].as_array().into_iter().flatten() {
            let name = c["name"].as_str().unwrap_or_default();
            let status = pod["status"][status_key]
                .as_array()
                .into_iter()
                .flatten()
                .find(|s| s["name"] == name)
                .cloned()
                .unwrap_or(Value::Null);
            let (state, detail) = status["state"]
                .as_object()
                .and_then(|m| m.iter().next())
                .map_or((Value::Null, &Value::Null), |(k, v)| {
                    (Value::String(k.clone()), v)
                });
            rows.push(json!({
                "metadata": {"name": pod["metadata"]["name"], "namespace": pod["metadata"]["namespace"], "uid": pod["metadata"]["uid"]},
                "node_name": pod["spec"]["nodeName"],
                "name": name,
                "init": init,
                "image": c["image"],
                "resources": c["resources"],
                "ports": c["ports"],
                "status": status,
                "state": state,
                "reason": detail["reason"],
                "started_at": detail["startedAt"],
            }));
        }
    }
    rows
}
