//! A realistic, deterministic set of Kubernetes objects, written through the real API (statuses
//! through the status subresource, owner references to the real owners' uids), and a bulk pod
//! seeder for benchmarks.
//!
//! Everything here is fixed by [`Seed`]: names, labels, specs and statuses. Only what the server
//! assigns (uids, resource versions, creation timestamps) differs between runs.

use anyhow::{Context, Result};
use futures::{StreamExt, TryStreamExt, stream};
use kube::Client;
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
};
use serde_json::{Value, json};

/// What to seed.
#[derive(Debug, Clone)]
pub struct Seed {
    /// Create the `widgets.example.com` CRD and its objects.
    pub crd: bool,
    /// Extra `team-NN` namespaces, each with a deployment, its pods, a service and a config map
    /// (0 for tests; the demo snapshot uses more to look like a real cluster).
    pub tenants: usize,
}

impl Default for Seed {
    fn default() -> Self {
        Self {
            crd: true,
            tenants: 0,
        }
    }
}

/// The namespaces of the standard seed, with their labels.
pub const NAMESPACES: &[(&str, &str, &str)] = &[
    ("shop", "web", "prod"),
    ("payments", "payments", "prod"),
    ("monitoring", "sre", "prod"),
    ("staging", "web", "staging"),
    ("batch", "data", "prod"),
];

struct Node {
    name: &'static str,
    zone: &'static str,
    instance_type: &'static str,
    cpu: &'static str,
    memory: &'static str,
    ready: bool,
    unschedulable: bool,
}

const NODES: &[Node] = &[
    Node {
        name: "node-a1",
        zone: "eu-west-1a",
        instance_type: "m5.xlarge",
        cpu: "4",
        memory: "16Gi",
        ready: true,
        unschedulable: false,
    },
    Node {
        name: "node-a2",
        zone: "eu-west-1a",
        instance_type: "m5.2xlarge",
        cpu: "8",
        memory: "32Gi",
        ready: true,
        unschedulable: false,
    },
    Node {
        name: "node-b1",
        zone: "eu-west-1b",
        instance_type: "m5.xlarge",
        cpu: "4",
        memory: "16Gi",
        ready: false,
        unschedulable: false,
    },
    Node {
        name: "node-c1",
        zone: "eu-west-1c",
        instance_type: "c5.xlarge",
        cpu: "4",
        memory: "8Gi",
        ready: true,
        unschedulable: true,
    },
];

/// How one pod of a workload ends up.
#[derive(Clone, Copy)]
enum PodFate {
    Running,
    /// Running, not ready, restarting.
    CrashLoop,
    /// Not scheduled.
    Pending,
    Succeeded,
    Failed,
    /// Its node stopped reporting.
    Unknown,
}

struct Workload<'a> {
    namespace: &'a str,
    name: &'a str,
    app: &'a str,
    images: &'a [&'a str],
    cpu: &'a str,
    memory: &'a str,
    fates: &'a [PodFate],
}

const DEPLOYMENTS: &[Workload<'static>] = &[
    Workload {
        namespace: "shop",
        name: "web",
        app: "web",
        images: &["nginx:1.25.3"],
        cpu: "250m",
        memory: "256Mi",
        fates: &[PodFate::Running, PodFate::Running, PodFate::Running],
    },
    Workload {
        namespace: "shop",
        name: "api",
        app: "api",
        images: &["ghcr.io/acme/api:2.3.1", "envoyproxy/envoy:v1.28.0"],
        cpu: "500m",
        memory: "512Mi",
        fates: &[PodFate::Running, PodFate::CrashLoop],
    },
    Workload {
        namespace: "shop",
        name: "cart",
        app: "cart",
        images: &["ghcr.io/acme/cart:1.0.4"],
        cpu: "2",
        memory: "4Gi",
        fates: &[PodFate::Running, PodFate::Pending],
    },
    Workload {
        namespace: "payments",
        name: "ledger",
        app: "ledger",
        images: &["ghcr.io/acme/ledger:5.0.0"],
        cpu: "1",
        memory: "1Gi",
        fates: &[PodFate::Running, PodFate::Running],
    },
    Workload {
        namespace: "payments",
        name: "gateway",
        app: "gateway",
        images: &["ghcr.io/acme/gateway:0.9.2"],
        cpu: "100m",
        memory: "128Mi",
        fates: &[PodFate::Running],
    },
    Workload {
        namespace: "monitoring",
        name: "prometheus",
        app: "prometheus",
        images: &["prom/prometheus:v2.48.0"],
        cpu: "1",
        memory: "2Gi",
        fates: &[PodFate::Running],
    },
    Workload {
        namespace: "monitoring",
        name: "grafana",
        app: "grafana",
        images: &["grafana/grafana:10.2.2"],
        cpu: "200m",
        memory: "256Mi",
        fates: &[PodFate::Running],
    },
    Workload {
        namespace: "staging",
        name: "web",
        app: "web",
        images: &["nginx:1.25.4"],
        cpu: "250m",
        memory: "256Mi",
        fates: &[PodFate::Running, PodFate::Failed],
    },
];

const STATEFULSET: Workload<'static> = Workload {
    namespace: "payments",
    name: "postgres",
    app: "postgres",
    images: &["postgres:16.1"],
    cpu: "2",
    memory: "4Gi",
    fates: &[PodFate::Running, PodFate::Running],
};

/// Seeds the standard objects. Idempotent only on an empty cluster.
pub async fn seed(client: &Client, seed: &Seed) -> Result<()> {
    let s = Seeder {
        client: client.clone(),
    };
    for (ns, team, env) in NAMESPACES {
        s.create(json!({"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": ns, "labels": {"team": team, "env": env}}}))
            .await?;
    }
    for n in NODES {
        s.node(n).await?;
    }
    for w in DEPLOYMENTS {
        s.deployment(w).await?;
    }
    s.statefulset(&STATEFULSET).await?;
    s.daemonset().await?;
    s.jobs().await?;
    s.config_and_secrets().await?;
    s.events().await?;
    s.rbac().await?;
    if seed.crd {
        s.widgets().await?;
    }
    for t in 1..=seed.tenants {
        s.tenant(t).await?;
    }
    Ok(())
}

/// Creates `count` pods spread over `namespaces` namespaces (`bulk-000`, …) with realistic specs
/// and statuses, `concurrency` requests at a time. Pod `bulk-NNNNNN` is in namespace
/// `bulk-(NNNNNN mod namespaces)`.
pub async fn seed_bulk_pods(
    client: &Client,
    count: usize,
    namespaces: usize,
    concurrency: usize,
) -> Result<()> {
    let s = Seeder {
        client: client.clone(),
    };
    let namespaces = namespaces.max(1);
    for n in 0..namespaces {
        s.create(json!({"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": format!("bulk-{n:03}"), "labels": {"bulk": "true"}}}))
            .await?;
    }
    stream::iter(0..count)
        .map(|i| {
            let s = &s;
            async move {
                let ns = format!("bulk-{:03}", i % namespaces);
                let app = format!("app-{}", i % 50);
                let fate = if i % 20 == 7 {
                    PodFate::Pending
                } else if i % 50 == 3 {
                    PodFate::Failed
                } else {
                    PodFate::Running
                };
                let node = NODES[i % NODES.len()].name;
                let mut pod = pod_object(
                    &ns,
                    &format!("bulk-{i:06}"),
                    &app,
                    &["ghcr.io/acme/bulk:1.0.0", "envoyproxy/envoy:v1.28.0"],
                    "100m",
                    "128Mi",
                    node,
                    None,
                );
                add_workload_details(&mut pod, &app, i);
                s.create_with_status(
                    pod,
                    pod_status(
                        fate,
                        &["ghcr.io/acme/bulk:1.0.0", "envoyproxy/envoy:v1.28.0"],
                        i,
                    ),
                )
                .await
            }
        })
        .buffer_unordered(concurrency.max(1))
        .try_collect::<Vec<_>>()
        .await?;
    Ok(())
}

/// What a Deployment's ReplicaSet and the admission chain put on a production pod beyond
/// [`pod_object`]: template hash, owner, annotations, env, probes, the service-account token
/// volume, a security context. Bulk pods then weigh what real ones do (about 8 KB of JSON in a
/// LIST, managed fields included), which the benchmark's bytes-per-pod figures depend on.
fn add_workload_details(pod: &mut Value, app: &str, i: usize) {
    let hash = format!("{:x}", 0x6d5f_8c00 + i % 50);
    let meta = &mut pod["metadata"];
    meta["labels"]["pod-template-hash"] = json!(hash);
    meta["labels"]["team"] = json!(format!("team-{}", i % 7));
    meta["labels"]["app.kubernetes.io/version"] = json!("1.0.0");
    meta["annotations"] = json!({"kubectl.kubernetes.io/restartedAt": "2026-11-20T09:00:00Z",
        "prometheus.io/scrape": "true", "prometheus.io/port": "9090"});
    // No controller runs in a test cluster, so an owner that does not exist is never collected.
    meta["ownerReferences"] = json!([{"apiVersion": "apps/v1", "kind": "ReplicaSet",
        "name": format!("{app}-{hash}"), "uid": format!("00000000-0000-4000-8000-{:012x}", i % 50),
        "controller": true, "blockOwnerDeletion": true}]);
    let token_mount = json!({"name": "kube-api-access", "readOnly": true,
        "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"});
    let probe = json!({"httpGet": {"path": "/healthz", "port": 8080, "scheme": "HTTP"},
        "periodSeconds": 10, "timeoutSeconds": 1, "successThreshold": 1, "failureThreshold": 3});
    let spec = &mut pod["spec"];
    let main = &mut spec["containers"][0];
    main["env"] = json!([{"name": "APP_NAME", "value": app}, {"name": "LOG_LEVEL", "value": "info"},
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}},
        {"name": "POD_IP", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "status.podIP"}}}]);
    main["readinessProbe"] = probe.clone();
    main["livenessProbe"] = probe;
    main["volumeMounts"] = json!([token_mount, {"name": "config", "mountPath": "/etc/app"}]);
    let sidecar = &mut spec["containers"][1];
    sidecar["args"] = json!([
        "--config-path",
        "/etc/envoy/envoy.yaml",
        "--log-level",
        "warn"
    ]);
    sidecar["volumeMounts"] = json!([token_mount]);
    spec["securityContext"] = json!({"runAsNonRoot": true, "runAsUser": 1000, "fsGroup": 2000});
    spec["volumes"] = json!([
        {"name": "kube-api-access", "projected": {"defaultMode": 420, "sources": [
            {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
            {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
            {"downwardAPI": {"items": [{"path": "namespace",
                "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}]}},
        {"name": "config", "configMap": {"name": format!("{app}-config"), "defaultMode": 420}}]);
}

struct Seeder {
    client: Client,
}

impl Seeder {
    fn api(&self, obj: &Value) -> Result<Api<DynamicObject>> {
        let api_version = obj["apiVersion"]
            .as_str()
            .context("object without apiVersion")?;
        let kind = obj["kind"].as_str().context("object without kind")?;
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let gvk = GroupVersionKind::gvk(group, version, kind);
        let ar = ApiResource::from_gvk_with_plural(&gvk, &plural(kind));
        Ok(match obj["metadata"]["namespace"].as_str() {
            Some(ns) => Api::namespaced_with(self.client.clone(), ns, &ar),
            None => Api::all_with(self.client.clone(), &ar),
        })
    }

    async fn create(&self, obj: Value) -> Result<DynamicObject> {
        let api = self.api(&obj)?;
        let what = format!("{} {}", obj["kind"], obj["metadata"]["name"]);
        let obj: DynamicObject = serde_json::from_value(obj)?;
        api.create(&PostParams::default(), &obj)
            .await
            .with_context(|| format!("creating {what}"))
    }

    /// Creates an object, then writes its status through the status subresource, as a
    /// controller would.
    async fn create_with_status(&self, obj: Value, status: Value) -> Result<DynamicObject> {
        let api = self.api(&obj)?;
        let created = self.create(obj).await?;
        let name = created.metadata.name.clone().unwrap_or_default();
        api.patch_status(
            &name,
            &PatchParams::default(),
            &Patch::Merge(json!({"status": status})),
        )
        .await
        .with_context(|| format!("writing the status of {name}"))
    }

    async fn node(&self, n: &Node) -> Result<()> {
        let obj = json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": n.name, "labels": {
                "kubernetes.io/hostname": n.name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
                "topology.kubernetes.io/zone": n.zone, "node.kubernetes.io/instance-type": n.instance_type}},
            "spec": {"unschedulable": n.unschedulable, "podCIDR": "10.244.0.0/24"}});
        let pods = "110";
        let status = json!({
            "capacity": {"cpu": n.cpu, "memory": n.memory, "pods": pods, "ephemeral-storage": "100Gi"},
            "allocatable": {"cpu": format!("{}m", n.cpu.parse::<u32>().unwrap_or(1) * 1000 - 200),
                            "memory": n.memory.replace("Gi", "") .parse::<u64>().map(|g| format!("{}Mi", g * 1024 - 512)).unwrap_or_default(),
                            "pods": pods, "ephemeral-storage": "95Gi"},
            "conditions": [
                {"type": "Ready", "status": if n.ready { "True" } else { "Unknown" },
                 "reason": if n.ready { "KubeletReady" } else { "NodeStatusUnknown" },
                 "message": if n.ready { "kubelet is posting ready status" } else { "Kubelet stopped posting node status." },
                 "lastHeartbeatTime": "2026-11-20T10:00:00Z", "lastTransitionTime": "2026-11-01T08:00:00Z"},
                {"type": "MemoryPressure", "status": "False", "reason": "KubeletHasSufficientMemory",
                 "lastHeartbeatTime": "2026-11-20T10:00:00Z", "lastTransitionTime": "2026-11-01T08:00:00Z"}],
            "addresses": [{"type": "InternalIP", "address": node_ip(n.name)}, {"type": "Hostname", "address": n.name}],
            "nodeInfo": {"kubeletVersion": "v1.20.2", "kubeProxyVersion": "v1.20.2", "osImage": "Debian GNU/Linux 12 (bookworm)",
                "kernelVersion": "6.1.0-27-amd64", "containerRuntimeVersion": "containerd://1.7.11", "architecture": "amd64",
                "operatingSystem": "linux", "machineID": format!("{:032x}", n.name.len()), "systemUUID": n.name,
                "bootID": n.name}
        });
        self.create_with_status(obj, status).await?;
        Ok(())
    }

    async fn deployment(&self, w: &Workload<'_>) -> Result<()> {
        let replicas = w.fates.len();
        let ready = w
            .fates
            .iter()
            .filter(|f| matches!(f, PodFate::Running))
            .count();
        let labels = json!({"app": w.app, "team": team_of(w.namespace)});
        let dep = self.create_with_status(json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": w.name, "namespace": w.namespace, "labels": labels},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": w.app}},
                     "template": {"metadata": {"labels": {"app": w.app}}, "spec": pod_spec(w.images, w.cpu, w.memory, None)}}}),
            json!({"observedGeneration": 1, "replicas": replicas, "updatedReplicas": replicas, "readyReplicas": ready,
                   "availableReplicas": ready, "unavailableReplicas": replicas - ready,
                   "conditions": [{"type": "Available", "status": if ready == replicas { "True" } else { "False" },
                     "reason": "MinimumReplicasAvailable", "lastUpdateTime": "2026-11-20T09:00:00Z", "lastTransitionTime": "2026-11-20T09:00:00Z"}]})).await?;
        let hash = format!(
            "{:x}",
            0x5f4d_c000u32 + w.name.len() as u32 * 7919 + w.namespace.len() as u32
        );
        let rs_name = format!("{}-{hash}", w.name);
        let rs = self.create_with_status(json!({"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": rs_name, "namespace": w.namespace,
                "labels": {"app": w.app, "pod-template-hash": hash},
                "ownerReferences": [owner_ref("apps/v1", "Deployment", &dep)]},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": w.app, "pod-template-hash": hash}},
                     "template": {"metadata": {"labels": {"app": w.app, "pod-template-hash": hash}}, "spec": pod_spec(w.images, w.cpu, w.memory, None)}}}),
            json!({"replicas": replicas, "readyReplicas": ready, "availableReplicas": ready, "fullyLabeledReplicas": replicas, "observedGeneration": 1})).await?;
        for (i, fate) in w.fates.iter().enumerate() {
            let name = format!("{rs_name}-{}", pod_suffix(w.name, i));
            self.pod(
                w,
                &name,
                *fate,
                i,
                Some(owner_ref("apps/v1", "ReplicaSet", &rs)),
                &[("pod-template-hash", &hash)],
            )
            .await?;
        }
        Ok(())
    }

    async fn statefulset(&self, w: &Workload<'_>) -> Result<()> {
        let replicas = w.fates.len();
        let sts = self.create_with_status(json!({"apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {"name": w.name, "namespace": w.namespace, "labels": {"app": w.app}},
            "spec": {"replicas": replicas, "serviceName": w.name, "selector": {"matchLabels": {"app": w.app}},
                     "template": {"metadata": {"labels": {"app": w.app}}, "spec": pod_spec(w.images, w.cpu, w.memory, None)},
                     "volumeClaimTemplates": [{"metadata": {"name": "data"},
                        "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "standard", "resources": {"requests": {"storage": "10Gi"}}}}]}}),
            json!({"observedGeneration": 1, "replicas": replicas, "readyReplicas": replicas, "currentReplicas": replicas, "updatedReplicas": replicas})).await?;
        for i in 0..replicas {
            let name = format!("{}-{i}", w.name);
            let claim = format!("data-{name}");
            let pv = format!("pv-{}-{claim}", w.namespace);
            self.create_with_status(json!({"apiVersion": "v1", "kind": "PersistentVolume",
                "metadata": {"name": pv, "labels": {"type": "ssd"}},
                "spec": {"capacity": {"storage": "10Gi"}, "accessModes": ["ReadWriteOnce"], "storageClassName": "standard",
                         "persistentVolumeReclaimPolicy": "Retain", "hostPath": {"path": format!("/data/{pv}")},
                         "claimRef": {"namespace": w.namespace, "name": claim}}}),
                json!({"phase": "Bound"})).await?;
            self.create_with_status(json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                "metadata": {"name": claim, "namespace": w.namespace, "labels": {"app": w.app}},
                "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "standard", "volumeName": pv,
                         "resources": {"requests": {"storage": "10Gi"}}}}),
                json!({"phase": "Bound", "accessModes": ["ReadWriteOnce"], "capacity": {"storage": "10Gi"}})).await?;
            self.pod(
                w,
                &name,
                w.fates[i],
                i,
                Some(owner_ref("apps/v1", "StatefulSet", &sts)),
                &[("statefulset.kubernetes.io/pod-name", &name)],
            )
            .await?;
        }
        self.create(json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": "scratch", "namespace": "batch"},
            "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "fast", "resources": {"requests": {"storage": "500Mi"}}}})).await?;
        Ok(())
    }

    async fn daemonset(&self) -> Result<()> {
        let w = Workload {
            namespace: "monitoring",
            name: "node-exporter",
            app: "node-exporter",
            images: &["prom/node-exporter:v1.7.0"],
            cpu: "50m",
            memory: "64Mi",
            fates: &[
                PodFate::Running,
                PodFate::Running,
                PodFate::Unknown,
                PodFate::Running,
            ],
        };
        let ds = self.create_with_status(json!({"apiVersion": "apps/v1", "kind": "DaemonSet",
            "metadata": {"name": w.name, "namespace": w.namespace, "labels": {"app": w.app}},
            "spec": {"selector": {"matchLabels": {"app": w.app}},
                     "template": {"metadata": {"labels": {"app": w.app}}, "spec": pod_spec(w.images, w.cpu, w.memory, None)}}}),
            json!({"currentNumberScheduled": 4, "desiredNumberScheduled": 4, "numberMisscheduled": 0, "numberReady": 3,
                   "numberAvailable": 3, "numberUnavailable": 1, "updatedNumberScheduled": 4, "observedGeneration": 1})).await?;
        for (i, node) in NODES.iter().enumerate() {
            let name = format!("node-exporter-{}", pod_suffix(node.name, i));
            let pod = pod_object(
                w.namespace,
                &name,
                w.app,
                w.images,
                w.cpu,
                w.memory,
                node.name,
                Some(owner_ref("apps/v1", "DaemonSet", &ds)),
            );
            self.create_with_status(pod, pod_status(w.fates[i], w.images, i))
                .await?;
        }
        Ok(())
    }

    async fn jobs(&self) -> Result<()> {
        self.create(json!({"apiVersion": "batch/v1beta1", "kind": "CronJob",
            "metadata": {"name": "report", "namespace": "batch", "labels": {"app": "report"}},
            "spec": {"schedule": "0 2 * * *", "concurrencyPolicy": "Forbid",
                     "jobTemplate": {"spec": {"template": {"spec": job_pod_spec("ghcr.io/acme/report:3.1.0")}}}}})).await?;
        for (name, ok) in [("report-29394720", true), ("import-orders", false)] {
            let job = self.create_with_status(json!({"apiVersion": "batch/v1", "kind": "Job",
                "metadata": {"name": name, "namespace": "batch", "labels": {"app": name.split('-').next().unwrap_or(name)}},
                "spec": {"backoffLimit": 0, "completions": 1, "parallelism": 1,
                         "template": {"metadata": {"labels": {"job-name": name}}, "spec": job_pod_spec("ghcr.io/acme/report:3.1.0")}}}),
                if ok { json!({"succeeded": 1, "startTime": "2026-11-22T02:00:00Z", "completionTime": "2026-11-22T02:03:11Z",
                               "conditions": [{"type": "Complete", "status": "True", "lastProbeTime": "2026-11-22T02:03:11Z", "lastTransitionTime": "2026-11-22T02:03:11Z"}]}) }
                else { json!({"failed": 1, "startTime": "2026-11-22T04:00:00Z",
                              "conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "lastProbeTime": "2026-11-22T04:10:00Z", "lastTransitionTime": "2026-11-22T04:10:00Z"}]}) }).await?;
            let w = Workload {
                namespace: "batch",
                name,
                app: name,
                images: &["ghcr.io/acme/report:3.1.0"],
                cpu: "500m",
                memory: "1Gi",
                fates: &[],
            };
            let fate = if ok {
                PodFate::Succeeded
            } else {
                PodFate::Failed
            };
            self.pod(
                &w,
                &format!("{name}-{}", pod_suffix(name, 0)),
                fate,
                0,
                Some(owner_ref("batch/v1", "Job", &job)),
                &[("job-name", name)],
            )
            .await?;
        }
        Ok(())
    }

    async fn pod(
        &self,
        w: &Workload<'_>,
        name: &str,
        fate: PodFate,
        i: usize,
        owner: Option<Value>,
        extra_labels: &[(&str, &str)],
    ) -> Result<()> {
        let node = match fate {
            PodFate::Pending => None,
            _ => Some(
                NODES[(name.len() + i) % 2 + usize::from(matches!(fate, PodFate::Unknown)) * 2]
                    .name,
            ),
        };
        let mut pod = pod_object(
            w.namespace,
            name,
            w.app,
            w.images,
            w.cpu,
            w.memory,
            node.unwrap_or(""),
            owner,
        );
        if node.is_none() {
            pod["spec"].as_object_mut().map(|s| s.remove("nodeName"));
        }
        for (k, v) in extra_labels {
            pod["metadata"]["labels"][*k] = json!(v);
        }
        self.create_with_status(pod, pod_status(fate, w.images, i))
            .await?;
        Ok(())
    }

    async fn config_and_secrets(&self) -> Result<()> {
        let items = [
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "web-config", "namespace": "shop", "labels": {"app": "web"}},
                   "data": {"nginx.conf": "worker_processes 2;\nevents {}\n", "FEATURE_FLAGS": "checkout-v2,dark-mode"}}),
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "api-config", "namespace": "shop", "labels": {"app": "api"}},
                   "data": {"LOG_LEVEL": "info", "DB_HOST": "postgres.payments.svc"}}),
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "prometheus-config", "namespace": "monitoring", "labels": {"app": "prometheus"}},
                   "data": {"prometheus.yml": "global:\n  scrape_interval: 30s\n"}}),
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db-credentials", "namespace": "shop", "labels": {"app": "api"}},
                   "type": "Opaque", "data": {"username": "c2hvcA==", "password": "aHVudGVyMg=="}}),
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "api-token", "namespace": "payments"},
                   "type": "Opaque", "stringData": {"token": "s3cr3t-t0ken"}}),
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "ledger-tls", "namespace": "payments", "labels": {"app": "ledger"}},
                   "type": "kubernetes.io/tls", "data": {"tls.crt": "Y2VydA==", "tls.key": "a2V5"}}),
            json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "shop", "labels": {"app": "web"}},
                   "spec": {"type": "ClusterIP", "selector": {"app": "web"}, "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}]}}),
            json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "api", "namespace": "shop", "labels": {"app": "api"}},
                   "spec": {"type": "ClusterIP", "selector": {"app": "api"}, "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}, {"name": "grpc", "port": 9090, "protocol": "TCP"}]}}),
            json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "gateway", "namespace": "payments", "labels": {"app": "gateway"}},
                   "spec": {"type": "NodePort", "selector": {"app": "gateway"}, "ports": [{"name": "https", "port": 443, "targetPort": 8443, "nodePort": 30443, "protocol": "TCP"}]}}),
            json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "postgres", "namespace": "payments", "labels": {"app": "postgres"}},
                   "spec": {"clusterIP": "None", "selector": {"app": "postgres"}, "ports": [{"name": "pg", "port": 5432, "protocol": "TCP"}]}}),
            json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "grafana", "namespace": "monitoring", "labels": {"app": "grafana"}},
                   "spec": {"type": "LoadBalancer", "selector": {"app": "grafana"}, "ports": [{"name": "http", "port": 80, "targetPort": 3000, "protocol": "TCP"}]}}),
        ];
        for obj in items {
            self.create(obj).await?;
        }
        Ok(())
    }

    async fn events(&self) -> Result<()> {
        let events = [
            (
                "shop",
                "Pod",
                "api",
                "Warning",
                "BackOff",
                "Back-off restarting failed container api",
                42,
            ),
            (
                "shop",
                "Pod",
                "cart",
                "Warning",
                "FailedScheduling",
                "0/4 nodes are available: 4 Insufficient cpu.",
                17,
            ),
            (
                "staging",
                "Pod",
                "web",
                "Warning",
                "Evicted",
                "The node was low on resource: memory.",
                1,
            ),
            (
                "shop",
                "Deployment",
                "web",
                "Normal",
                "ScalingReplicaSet",
                "Scaled up replica set web to 3",
                1,
            ),
            (
                "payments",
                "StatefulSet",
                "postgres",
                "Normal",
                "SuccessfulCreate",
                "create Pod postgres-1 in StatefulSet postgres successful",
                1,
            ),
            (
                "batch",
                "Job",
                "import-orders",
                "Warning",
                "BackoffLimitExceeded",
                "Job has reached the specified backoff limit",
                1,
            ),
            (
                "monitoring",
                "Pod",
                "node-exporter",
                "Warning",
                "NodeNotReady",
                "Node is not ready",
                3,
            ),
        ];
        for (i, (ns, kind, prefix, typ, reason, message, count)) in events.into_iter().enumerate() {
            let name = format!("{prefix}.{:016x}", 0x1791_0000_0000_0000u64 + i as u64);
            self.create(json!({"apiVersion": "v1", "kind": "Event",
                "metadata": {"name": name, "namespace": ns},
                "involvedObject": {"kind": kind, "namespace": ns, "name": prefix, "apiVersion": if kind == "Pod" { "v1" } else { "apps/v1" }},
                "reason": reason, "message": message, "type": typ, "count": count,
                "firstTimestamp": format!("2026-11-2{}T0{}:00:00Z", i % 3, i),
                "lastTimestamp": format!("2026-11-22T1{}:30:00Z", i),
                "source": {"component": if reason == "FailedScheduling" { "default-scheduler" } else { "kubelet" }}})).await?;
        }
        Ok(())
    }

    /// The restricted test user may read pods, deployments and config maps in `shop` only.
    async fn rbac(&self) -> Result<()> {
        self.create(json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": {"name": "shop-reader", "namespace": "shop"},
            "rules": [{"apiGroups": [""], "resources": ["pods", "configmaps"], "verbs": ["get", "list", "watch"]},
                      {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get", "list", "watch"]}]})).await?;
        self.create(json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": "shop-reader", "namespace": "shop"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "shop-reader"},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "kubepg-restricted"}]})).await?;
        Ok(())
    }

    async fn widgets(&self) -> Result<()> {
        self.create(json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "widgets.example.com"},
            "spec": {"group": "example.com", "scope": "Namespaced",
                "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "shortNames": ["wd"]},
                "versions": [{"name": "v1", "served": true, "storage": true, "subresources": {"status": {}},
                    "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                        "spec": {"type": "object", "properties": {
                            "color": {"type": "string"}, "size": {"type": "integer"},
                            "weight": {"type": "number"}, "enabled": {"type": "boolean"},
                            "tags": {"type": "array", "items": {"type": "string"}}}},
                        "status": {"type": "object", "properties": {
                            "ready": {"type": "boolean"}, "observedAt": {"type": "string", "format": "date-time"}}}}}},
                    "additionalPrinterColumns": [
                        {"name": "Color", "type": "string", "jsonPath": ".spec.color"},
                        {"name": "Size", "type": "integer", "jsonPath": ".spec.size"},
                        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}]}]}})).await?;
        self.wait_for_resource("example.com/v1", "widgets").await?;
        let widgets = [
            ("shop", "blue-widget", "blue", 3, true),
            ("shop", "red-widget", "red", 10, false),
            ("staging", "blue-widget", "blue", 1, true),
            ("staging", "green-widget", "green", 7, true),
            ("payments", "big-widget", "red", 100, false),
        ];
        for (ns, name, color, size, ready) in widgets {
            self.create_with_status(json!({"apiVersion": "example.com/v1", "kind": "Widget",
                "metadata": {"name": name, "namespace": ns, "labels": {"color": color}},
                "spec": {"color": color, "size": size, "weight": size as f64 * 1.5, "enabled": ready, "tags": [color, "demo"]}}),
                json!({"ready": ready, "observedAt": "2026-11-22T12:00:00Z"})).await?;
        }
        Ok(())
    }

    /// A newly created CRD is served a moment after it is accepted.
    async fn wait_for_resource(&self, group_version: &str, plural: &str) -> Result<()> {
        for _ in 0..200 {
            if let Ok(list) = self.client.list_api_group_resources(group_version).await
                && list.resources.iter().any(|r| r.name == plural)
            {
                return Ok(());
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        anyhow::bail!("{plural}.{group_version} was never served")
    }

    async fn tenant(&self, t: usize) -> Result<()> {
        let ns = format!("team-{t:02}");
        self.create(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": {"team": ns, "env": "prod"}}})).await?;
        let fates: &[PodFate] = match t % 4 {
            0 => &[PodFate::Running, PodFate::Running, PodFate::Running],
            1 => &[PodFate::Running, PodFate::CrashLoop],
            2 => &[
                PodFate::Running,
                PodFate::Running,
                PodFate::Pending,
                PodFate::Running,
            ],
            _ => &[PodFate::Running],
        };
        let w = Workload {
            namespace: &ns,
            name: "service",
            app: "service",
            images: &["ghcr.io/acme/service:4.2.0"],
            cpu: "300m",
            memory: "384Mi",
            fates,
        };
        self.deployment(&w).await?;
        self.create(json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "service", "namespace": ns, "labels": {"app": "service"}},
            "spec": {"selector": {"app": "service"}, "ports": [{"port": 80, "targetPort": 8080}]}})).await?;
        self.create(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "service-config", "namespace": ns},
            "data": {"TENANT": ns}})).await?;
        Ok(())
    }
}

fn plural(kind: &str) -> String {
    let lower = kind.to_ascii_lowercase();
    match lower.as_str() {
        "customresourcedefinition" => "customresourcedefinitions".into(),
        l if l.ends_with("ss") => format!("{l}es"),
        l if l.ends_with('y') => format!("{}ies", &l[..l.len() - 1]),
        l => format!("{l}s"),
    }
}

fn team_of(namespace: &str) -> &str {
    NAMESPACES
        .iter()
        .find(|(n, ..)| *n == namespace)
        .map_or(namespace, |(_, t, _)| t)
}

fn owner_ref(api_version: &str, kind: &str, owner: &DynamicObject) -> Value {
    json!({"apiVersion": api_version, "kind": kind, "name": owner.metadata.name, "uid": owner.metadata.uid,
           "controller": true, "blockOwnerDeletion": true})
}

/// A stable, pod-like random suffix derived from the inputs.
fn pod_suffix(seed: &str, i: usize) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut h: u64 = 1469598103934665603;
    for b in seed.bytes().chain(i.to_le_bytes()) {
        h = (h ^ u64::from(b)).wrapping_mul(1099511628211);
    }
    (0..5)
        .map(|k| ALPHABET[((h >> (k * 8)) % ALPHABET.len() as u64) as usize] as char)
        .collect()
}

fn node_ip(node: &str) -> String {
    let idx = NODES.iter().position(|n| n.name == node).unwrap_or(0);
    format!("10.0.0.{}", 10 + idx)
}

fn pod_spec(images: &[&str], cpu: &str, memory: &str, node: Option<&str>) -> Value {
    let containers: Vec<Value> = images.iter().enumerate().map(|(i, image)| {
        let name = container_name(image, i);
        json!({"name": name, "image": image, "imagePullPolicy": "IfNotPresent",
               "ports": if i == 0 { json!([{"containerPort": 8080, "protocol": "TCP"}]) } else { json!([]) },
               "resources": if i == 0 { json!({"requests": {"cpu": cpu, "memory": memory}, "limits": {"memory": memory}}) }
                            else { json!({"requests": {"cpu": "50m", "memory": "64Mi"}}) }})
    }).collect();
    let mut spec = json!({"containers": containers, "restartPolicy": "Always", "serviceAccountName": "default",
                          "terminationGracePeriodSeconds": 30, "dnsPolicy": "ClusterFirst", "schedulerName": "default-scheduler"});
    if let Some(node) = node {
        spec["nodeName"] = json!(node);
    }
    spec
}

fn job_pod_spec(image: &str) -> Value {
    let mut spec = pod_spec(&[image], "500m", "1Gi", None);
    spec["restartPolicy"] = json!("Never");
    spec["initContainers"] = json!([{"name": "migrate", "image": image, "command": ["migrate"],
                                     "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}}]);
    spec
}

fn container_name(image: &str, i: usize) -> String {
    let base = image.rsplit('/').next().unwrap_or(image);
    let base = base.split(':').next().unwrap_or(base);
    if i == 0 {
        base.to_string()
    } else {
        format!("{base}-sidecar")
    }
}

#[allow(clippy::too_many_arguments)]
fn pod_object(
    ns: &str,
    name: &str,
    app: &str,
    images: &[&str],
    cpu: &str,
    memory: &str,
    node: &str,
    owner: Option<Value>,
) -> Value {
    let mut meta = json!({"name": name, "namespace": ns, "labels": {"app": app}});
    if let Some(owner) = owner {
        meta["ownerReferences"] = json!([owner]);
    }
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": pod_spec(images, cpu, memory, Some(node))})
}

fn pod_status(fate: PodFate, images: &[&str], i: usize) -> Value {
    let started = "2026-11-20T09:00:00Z";
    let ip = format!("10.244.{}.{}", i % 4, 10 + i % 200);
    let statuses = |ready: bool, restarts: u32, state: Value| -> Value {
        images.iter().enumerate().map(|(k, image)| json!({
            "name": container_name(image, k), "image": image, "imageID": format!("docker.io/{image}@sha256:{:064x}", k + 1),
            "ready": ready || k > 0, "started": ready || k > 0, "restartCount": if k == 0 { restarts } else { 0 },
            "containerID": format!("containerd://{:064x}", i * 10 + k + 1),
            "state": if k == 0 { state.clone() } else { json!({"running": {"startedAt": started}}) }})).collect::<Vec<_>>().into()
    };
    let cond = |ready: bool| {
        json!([
        {"type": "Initialized", "status": "True", "lastTransitionTime": started},
        {"type": "Ready", "status": if ready { "True" } else { "False" }, "lastTransitionTime": started},
        {"type": "ContainersReady", "status": if ready { "True" } else { "False" }, "lastTransitionTime": started},
        {"type": "PodScheduled", "status": "True", "lastTransitionTime": started}])
    };
    match fate {
        PodFate::Running => {
            json!({"phase": "Running", "conditions": cond(true), "hostIP": "10.0.0.10", "podIP": ip,
            "podIPs": [{"ip": ip}], "startTime": started, "qosClass": "Burstable",
            "containerStatuses": statuses(true, (i % 3) as u32, json!({"running": {"startedAt": started}}))})
        }
        PodFate::CrashLoop => {
            json!({"phase": "Running", "conditions": cond(false), "hostIP": "10.0.0.11", "podIP": ip,
            "podIPs": [{"ip": ip}], "startTime": started, "qosClass": "Burstable",
            "containerStatuses": statuses(false, 7, json!({"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 5m0s restarting failed container"}}))})
        }
        PodFate::Pending => json!({"phase": "Pending", "qosClass": "Burstable",
            "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                            "message": "0/4 nodes are available: 4 Insufficient cpu.", "lastTransitionTime": started}]}),
        PodFate::Succeeded => {
            json!({"phase": "Succeeded", "hostIP": "10.0.0.10", "podIP": ip, "startTime": "2026-11-22T02:00:00Z", "qosClass": "Burstable",
            "conditions": cond(false),
            "containerStatuses": statuses(false, 0, json!({"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": "2026-11-22T02:00:05Z", "finishedAt": "2026-11-22T02:03:10Z"}}))})
        }
        PodFate::Failed => {
            json!({"phase": "Failed", "reason": "Evicted", "message": "The node was low on resource: memory.", "hostIP": "10.0.0.11",
            "startTime": started, "qosClass": "Burstable", "conditions": cond(false),
            "containerStatuses": statuses(false, 0, json!({"terminated": {"exitCode": 137, "reason": "OOMKilled", "startedAt": started, "finishedAt": "2026-11-21T03:00:00Z"}}))})
        }
        PodFate::Unknown => {
            json!({"phase": "Unknown", "hostIP": "10.0.0.12", "podIP": ip, "startTime": started, "qosClass": "Burstable",
            "conditions": cond(false),
            "containerStatuses": statuses(false, 1, json!({"running": {"startedAt": started}}))})
        }
    }
}
