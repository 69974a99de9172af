//! What kubepg knows about the shape of each kind: typed columns for the well-known built-in
//! resources, typed columns from a CRD's schema and printer columns, and which top-level fields
//! become jsonb body columns.

use kubepg_kube::ResourceInfo;
use kubepg_kube::source::CrdInfo;
use serde_json::{Value, json};

use crate::columns::{
    ColType::*, ColumnSpec, Getter, PathSeg, col, computed, count, rest, snake_case, text,
    with_field,
};
use crate::quantity::{json_bytes, json_cores};

/// The full column list of a table over resources of one (group, plural).
pub fn table_columns(resource: &ResourceInfo) -> Vec<ColumnSpec> {
    let mut cols = vec![ColumnSpec::new("_cluster", Text, Getter::Cluster).not_null()];
    cols.push(
        ColumnSpec::new("name", Text, Getter::path("metadata.name")).with_field("metadata.name"),
    );
    if resource.namespaced {
        cols.push(ColumnSpec::new(
            "namespace",
            Text,
            Getter::path("metadata.namespace"),
        ));
    }
    cols.extend([
        ColumnSpec::new("uid", Text, Getter::Computed(uid)).not_null(),
        ColumnSpec::new("api_version", Text, Getter::ApiVersion),
        ColumnSpec::new("kind", Text, Getter::Kind),
        ColumnSpec::new(
            "created",
            Timestamp,
            Getter::path("metadata.creationTimestamp"),
        ),
        ColumnSpec::new(
            "resource_version",
            Text,
            Getter::path("metadata.resourceVersion"),
        ),
        ColumnSpec::new("generation", Int, Getter::path("metadata.generation")),
        ColumnSpec::new("labels", Json, Getter::path("metadata.labels")),
        ColumnSpec::new("annotations", Json, Getter::path("metadata.annotations")),
        ColumnSpec::new(
            "owner_references",
            Json,
            Getter::path("metadata.ownerReferences"),
        ),
        ColumnSpec::new("finalizers", Json, Getter::path("metadata.finalizers")),
        ColumnSpec::new(
            "deleted",
            Timestamp,
            Getter::path("metadata.deletionTimestamp"),
        ),
    ]);
    let typed = match &resource.crd {
        Some(crd) => crd_columns(crd),
        None => typed_columns(&resource.group, &resource.plural),
    };
    for c in typed {
        if !cols.iter().any(|x| x.name == c.name) {
            cols.push(c);
        }
    }
    let fields = kubepg_kube::builtin::supported_field_paths(&resource.group, &resource.plural);
    for c in &mut cols {
        if c.field_path
            .as_deref()
            .is_some_and(|p| p != "metadata.name" && !fields.contains(&p))
        {
            c.field_path = None;
        }
    }
    for (key, column) in body_columns(resource) {
        if !cols.iter().any(|x| x.name == column) {
            cols.push(ColumnSpec::new(
                &column,
                Json,
                Getter::Path(vec![PathSeg::Key(key)]),
            ));
        }
    }
    if let Some(c) = rest_column(resource)
        && !cols.iter().any(|x| x.name == c.name)
    {
        cols.push(c);
    }
    cols
}

/// Typed columns of a built-in resource, by API group and plural.
pub fn typed_columns(group: &str, plural: &str) -> Vec<ColumnSpec> {
    match (group, plural) {
        ("", "pods") => vec![
            with_field(col("phase", Text, "status.phase"), "status.phase"),
            with_field(col("node_name", Text, "spec.nodeName"), "spec.nodeName"),
            with_field(col("pod_ip", Text, "status.podIP"), "status.podIP"),
            col("host_ip", Text, "status.hostIP"),
            col("qos_class", Text, "status.qosClass"),
            computed("ready", Bool, |o| condition_true(o, "Ready")),
            computed("restarts", Int, pod_restarts),
            computed("containers", Int, |o| {
                json!(o["spec"]["containers"].as_array().map_or(0, Vec::len))
            }),
            computed("cpu_request", Cores, |o| {
                pod_resource(o, "requests", "cpu", json_cores).map_or(Value::Null, |c| json!(c))
            }),
            computed("memory_request", Bytes, |o| {
                pod_resource(o, "requests", "memory", bytes).map_or(Value::Null, whole)
            }),
            computed("cpu_limit", Cores, |o| {
                pod_resource(o, "limits", "cpu", json_cores).map_or(Value::Null, |c| json!(c))
            }),
            computed("memory_limit", Bytes, |o| {
                pod_resource(o, "limits", "memory", bytes).map_or(Value::Null, whole)
            }),
            col("start_time", Timestamp, "status.startTime"),
            with_field(
                col("service_account", Text, "spec.serviceAccountName"),
                "spec.serviceAccountName",
            ),
            with_field(
                col("restart_policy", Text, "spec.restartPolicy"),
                "spec.restartPolicy",
            ),
            computed("images", Json, |o| images(&o["spec"])),
        ],
        ("", "nodes") => vec![
            computed("ready", Bool, |o| condition_true(o, "Ready")),
            with_field(
                computed("unschedulable", Bool, |o| {
                    json!(o["spec"]["unschedulable"].as_bool().unwrap_or(false))
                }),
                "spec.unschedulable",
            ),
            col("kubelet_version", Text, "status.nodeInfo.kubeletVersion"),
            col("os_image", Text, "status.nodeInfo.osImage"),
            col("architecture", Text, "status.nodeInfo.architecture"),
            col("cpu_capacity", Cores, "status.capacity.cpu"),
            col("memory_capacity", Bytes, "status.capacity.memory"),
            col("pods_capacity", Bytes, "status.capacity.pods"),
            col("cpu_allocatable", Cores, "status.allocatable.cpu"),
            col("memory_allocatable", Bytes, "status.allocatable.memory"),
            computed("zone", Text, |o| {
                label_either(
                    o,
                    "topology.kubernetes.io/zone",
                    "failure-domain.beta.kubernetes.io/zone",
                )
            }),
            computed("instance_type", Text, |o| {
                label_either(
                    o,
                    "node.kubernetes.io/instance-type",
                    "beta.kubernetes.io/instance-type",
                )
            }),
            computed("internal_ip", Text, |o| address(o, "InternalIP")),
        ],
        ("apps", "deployments") => vec![
            col("replicas", Int, "spec.replicas"),
            count("ready_replicas", "status.readyReplicas"),
            count("available_replicas", "status.availableReplicas"),
            count("updated_replicas", "status.updatedReplicas"),
            count("unavailable_replicas", "status.unavailableReplicas"),
            computed("images", Json, |o| images(&o["spec"]["template"]["spec"])),
        ],
        ("apps", "statefulsets") => vec![
            col("replicas", Int, "spec.replicas"),
            count("ready_replicas", "status.readyReplicas"),
            count("current_replicas", "status.currentReplicas"),
            count("updated_replicas", "status.updatedReplicas"),
            computed("images", Json, |o| images(&o["spec"]["template"]["spec"])),
        ],
        ("apps", "replicasets") => vec![
            col("replicas", Int, "spec.replicas"),
            count("ready_replicas", "status.readyReplicas"),
            count("available_replicas", "status.availableReplicas"),
            count("fully_labeled_replicas", "status.fullyLabeledReplicas"),
            computed("images", Json, |o| images(&o["spec"]["template"]["spec"])),
        ],
        ("apps", "daemonsets") => vec![
            count("desired", "status.desiredNumberScheduled"),
            count("current", "status.currentNumberScheduled"),
            count("ready", "status.numberReady"),
            count("updated", "status.updatedNumberScheduled"),
            count("available", "status.numberAvailable"),
            count("misscheduled", "status.numberMisscheduled"),
            computed("images", Json, |o| images(&o["spec"]["template"]["spec"])),
        ],
        ("", "services") => vec![
            col("type", Text, "spec.type"),
            col("cluster_ip", Text, "spec.clusterIP"),
            col("ports", Json, "spec.ports"),
            col("selector", Json, "spec.selector"),
            computed("external_ip", Text, |o| {
                o["status"]["loadBalancer"]["ingress"][0]["ip"].clone()
            }),
        ],
        ("batch", "jobs") => vec![
            col("completions", Int, "spec.completions"),
            col("parallelism", Int, "spec.parallelism"),
            count("active", "status.active"),
            count("succeeded", "status.succeeded"),
            count("failed", "status.failed"),
            col("start_time", Timestamp, "status.startTime"),
            col("completion_time", Timestamp, "status.completionTime"),
            computed("complete", Bool, |o| condition_true(o, "Complete")),
        ],
        ("batch", "cronjobs") => vec![
            col("schedule", Text, "spec.schedule"),
            computed("suspend", Bool, |o| {
                json!(o["spec"]["suspend"].as_bool().unwrap_or(false))
            }),
            col("last_schedule_time", Timestamp, "status.lastScheduleTime"),
            computed("active_jobs", Int, |o| {
                json!(o["status"]["active"].as_array().map_or(0, Vec::len))
            }),
        ],
        ("", "namespaces") => vec![with_field(
            col("phase", Text, "status.phase"),
            "status.phase",
        )],
        ("", "events") => vec![
            with_field(text("type"), "type"),
            with_field(text("reason"), "reason"),
            text("message"),
            col("count", Int, "count"),
            col("first_timestamp", Timestamp, "firstTimestamp"),
            col("last_timestamp", Timestamp, "lastTimestamp"),
            with_field(
                col("involved_kind", Text, "involvedObject.kind"),
                "involvedObject.kind",
            ),
            with_field(
                col("involved_name", Text, "involvedObject.name"),
                "involvedObject.name",
            ),
            with_field(
                col("involved_namespace", Text, "involvedObject.namespace"),
                "involvedObject.namespace",
            ),
            with_field(col("source_component", Text, "source.component"), "source"),
        ],
        ("", "persistentvolumes") => vec![
            col("capacity", Bytes, "spec.capacity.storage"),
            col("storage_class", Text, "spec.storageClassName"),
            col("phase", Text, "status.phase"),
            col("claim_namespace", Text, "spec.claimRef.namespace"),
            col("claim_name", Text, "spec.claimRef.name"),
            col("reclaim_policy", Text, "spec.persistentVolumeReclaimPolicy"),
            col("access_modes", Json, "spec.accessModes"),
        ],
        ("", "persistentvolumeclaims") => vec![
            col("capacity", Bytes, "status.capacity.storage"),
            col("requested", Bytes, "spec.resources.requests.storage"),
            col("storage_class", Text, "spec.storageClassName"),
            col("phase", Text, "status.phase"),
            col("volume_name", Text, "spec.volumeName"),
            col("access_modes", Json, "spec.accessModes"),
        ],
        ("", "secrets") => vec![with_field(text("type"), "type")],
        ("networking.k8s.io", "ingresses") => vec![
            col("ingress_class", Text, "spec.ingressClassName"),
            computed("hosts", Json, |o| {
                Value::Array(
                    o["spec"]["rules"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|r| r.get("host").cloned())
                        .collect(),
                )
            }),
        ],
        _ => Vec::new(),
    }
}

/// Top-level fields that become jsonb columns, in order: (field, column).
pub fn body_columns(resource: &ResourceInfo) -> Vec<(String, String)> {
    let fields: &[&str] = match (resource.group.as_str(), resource.plural.as_str()) {
        ("", "configmaps") => &["data", "binaryData", "immutable"],
        ("", "secrets") => &["data", "stringData", "immutable"],
        ("", "events") => &[
            "involvedObject",
            "source",
            "series",
            "related",
            "action",
            "reportingComponent",
            "reportingInstance",
            "eventTime",
        ],
        ("", "serviceaccounts") => &[
            "secrets",
            "imagePullSecrets",
            "automountServiceAccountToken",
        ],
        ("", "endpoints") => &["subsets"],
        ("rbac.authorization.k8s.io", "roles") => &["rules"],
        ("rbac.authorization.k8s.io", "clusterroles") => &["rules", "aggregationRule"],
        ("rbac.authorization.k8s.io", "rolebindings" | "clusterrolebindings") => {
            &["roleRef", "subjects"]
        }
        ("storage.k8s.io", "storageclasses") => &[
            "provisioner",
            "parameters",
            "reclaimPolicy",
            "volumeBindingMode",
            "allowVolumeExpansion",
            "mountOptions",
            "allowedTopologies",
        ],
        ("scheduling.k8s.io", "priorityclasses") => {
            &["value", "globalDefault", "description", "preemptionPolicy"]
        }
        ("admissionregistration.k8s.io", _) => &["webhooks"],
        ("discovery.k8s.io", "endpointslices") => &["addressType", "endpoints", "ports"],
        ("node.k8s.io", "runtimeclasses") => &["handler", "overhead", "scheduling"],
        ("apps", "controllerrevisions") => &["data", "revision"],
        ("events.k8s.io", "events") => &[
            "eventTime",
            "series",
            "reportingController",
            "reportingInstance",
            "action",
            "reason",
            "regarding",
            "related",
            "note",
            "type",
            "deprecatedSource",
            "deprecatedFirstTimestamp",
            "deprecatedLastTimestamp",
            "deprecatedCount",
        ],
        _ => &["spec", "status"],
    };
    fields
        .iter()
        .map(|f| (f.to_string(), snake_case(f)))
        .collect()
}

/// Kinds kubepg has no fixed shape for (custom and aggregated resources) also get a `body`
/// column with every top-level field no other column claims, so nothing is lost.
pub fn rest_column(resource: &ResourceInfo) -> Option<ColumnSpec> {
    kubepg_kube::builtin::by_group_kind(&resource.group, &resource.kind)
        .is_none()
        .then(rest)
}

/// Typed columns from a CRD: top-level scalars of spec and status, then printer columns.
pub fn crd_columns(crd: &CrdInfo) -> Vec<ColumnSpec> {
    let mut cols = Vec::new();
    for p in &crd.properties {
        let ty = match (p.r#type.as_str(), p.format.as_deref()) {
            ("string", Some("date-time")) => Timestamp,
            ("string", _) => Text,
            ("integer", _) => Int,
            ("number", _) => Float,
            ("boolean", _) => Bool,
            _ => continue,
        };
        let name = snake_case(&p.name);
        let name = if cols.iter().any(|c: &ColumnSpec| c.name == name) {
            format!("{}_{name}", p.parent)
        } else {
            name
        };
        cols.push(ColumnSpec::new(
            &name,
            ty,
            Getter::Path(vec![
                PathSeg::Key(p.parent.clone()),
                PathSeg::Key(p.name.clone()),
            ]),
        ));
    }
    for pc in &crd.printer_columns {
        let Some(path) = json_path(&pc.json_path) else {
            continue;
        };
        let name = snake_case(&pc.name.replace(' ', "_")).to_ascii_lowercase();
        if cols
            .iter()
            .any(|c| c.name == name || c.get_path() == Some(&path))
        {
            continue;
        }
        let ty = match pc.r#type.as_str() {
            "integer" => Int,
            "number" => Float,
            "boolean" => Bool,
            "date" => Timestamp,
            _ => Text,
        };
        cols.push(ColumnSpec::new(&name, ty, Getter::Path(path)));
    }
    cols
}

/// A printer column's JSONPath (`.spec.replicas`, `.status.conditions[0].type`) as a path; `None`
/// for filters and wildcards, which are left to jsonb functions.
fn json_path(p: &str) -> Option<Vec<PathSeg>> {
    let p = p.strip_prefix('.').unwrap_or(p);
    let mut segs = Vec::new();
    for part in p.split('.') {
        let (key, rest) = part
            .split_once('[')
            .map_or((part, None), |(k, r)| (k, Some(r)));
        if key.is_empty() && rest.is_none() {
            return None;
        }
        if !key.is_empty() {
            segs.push(PathSeg::Key(key.to_string()));
        }
        if let Some(rest) = rest {
            let idx = rest.strip_suffix(']')?.parse().ok()?;
            segs.push(PathSeg::Index(idx));
        }
    }
    Some(segs)
}

impl ColumnSpec {
    fn get_path(&self) -> Option<&Vec<PathSeg>> {
        match &self.get {
            Getter::Path(p) => Some(p),
            _ => None,
        }
    }
}

/// The object's uid; one the API server never sent (a hand-written snapshot file) stands in as
/// `namespace/name`, unique within the table's cluster as the key needs it to be.
fn uid(o: &Value) -> Value {
    let meta = &o["metadata"];
    match &meta["uid"] {
        Value::String(uid) => Value::String(uid.clone()),
        _ => Value::String(match (meta["namespace"].as_str(), meta["name"].as_str()) {
            (Some(ns), Some(name)) => format!("{ns}/{name}"),
            (None, Some(name)) => name.to_string(),
            _ => String::new(),
        }),
    }
}

fn condition_true(o: &Value, kind: &str) -> Value {
    match o["status"]["conditions"].as_array() {
        Some(conds) => conds
            .iter()
            .find(|c| c["type"] == kind)
            .map_or(Value::Bool(false), |c| Value::Bool(c["status"] == "True")),
        None => Value::Null,
    }
}

fn pod_restarts(o: &Value) -> Value {
    let sum: i64 = ["containerStatuses", "initContainerStatuses"]
        .iter()
        .filter_map(|k| o["status"][k].as_array())
        .flatten()
        .filter_map(|c| c["restartCount"].as_i64())
        .sum();
    json!(sum)
}

/// A pod's effective request or limit of one resource, as the scheduler computes it: the sum
/// over its containers or the largest init container's, whichever is more, plus the pod's
/// overhead. `None` when no container names the resource.
fn pod_resource(
    o: &Value,
    kind: &str,
    resource: &str,
    amount: fn(&Value) -> Option<f64>,
) -> Option<f64> {
    let of = |containers: &str| {
        o["spec"][containers]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| amount(&c["resources"][kind][resource]))
            .collect::<Vec<f64>>()
    };
    let (app, init) = (of("containers"), of("initContainers"));
    if app.is_empty() && init.is_empty() {
        return None;
    }
    let sum: f64 = app.iter().sum();
    let init = init.into_iter().fold(0.0, f64::max);
    Some(sum.max(init) + amount(&o["spec"]["overhead"][resource]).unwrap_or(0.0))
}

fn bytes(v: &Value) -> Option<f64> {
    json_bytes(v).map(|b| b as f64)
}

fn whole(bytes: f64) -> Value {
    json!(bytes as i64)
}

fn images(pod_spec: &Value) -> Value {
    Value::Array(
        pod_spec["containers"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c.get("image").cloned())
            .collect(),
    )
}

fn label_either(o: &Value, a: &str, b: &str) -> Value {
    let labels = &o["metadata"]["labels"];
    labels
        .get(a)
        .or_else(|| labels.get(b))
        .cloned()
        .unwrap_or(Value::Null)
}

fn address(o: &Value, kind: &str) -> Value {
    o["status"]["addresses"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|a| a["type"] == kind)
        .map_or(Value::Null, |a| a["address"].clone())
}
