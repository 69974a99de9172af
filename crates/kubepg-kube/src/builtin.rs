//! The well-known built-in Kubernetes resource types, as a static table.
//!
//! A snapshot has objects but no discovery document, so it learns a kind's plural, scope and
//! short names from here; and the SQL layer asks which field selectors the real API server
//! accepts for a resource before pushing a filter down, because an unsupported field makes the
//! server reject the whole LIST.

/// One built-in resource type.
#[derive(Debug, PartialEq, Eq)]
pub struct BuiltinKind {
    /// "" for the core group.
    pub group: &'static str,
    /// A version served from Kubernetes 1.21 on. Snapshots match on group and kind, so this
    /// only matters when a request has to be built without discovery.
    pub version: &'static str,
    pub kind: &'static str,
    pub plural: &'static str,
    pub singular: &'static str,
    /// As `kubectl api-resources` shows them.
    pub short_names: &'static [&'static str],
    pub namespaced: bool,
}

const fn ns(
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    plural: &'static str,
    singular: &'static str,
    short_names: &'static [&'static str],
) -> BuiltinKind {
    BuiltinKind {
        group,
        version,
        kind,
        plural,
        singular,
        short_names,
        namespaced: true,
    }
}

const fn cluster(
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    plural: &'static str,
    singular: &'static str,
    short_names: &'static [&'static str],
) -> BuiltinKind {
    BuiltinKind {
        group,
        version,
        kind,
        plural,
        singular,
        short_names,
        namespaced: false,
    }
}

pub static BUILTIN_KINDS: &[BuiltinKind] = &[
    // core
    ns("", "v1", "Pod", "pods", "pod", &["po"]),
    ns("", "v1", "Service", "services", "service", &["svc"]),
    ns("", "v1", "Endpoints", "endpoints", "endpoints", &["ep"]),
    ns("", "v1", "ConfigMap", "configmaps", "configmap", &["cm"]),
    ns("", "v1", "Secret", "secrets", "secret", &[]),
    cluster("", "v1", "Namespace", "namespaces", "namespace", &["ns"]),
    cluster("", "v1", "Node", "nodes", "node", &["no"]),
    ns("", "v1", "Event", "events", "event", &["ev"]),
    cluster(
        "",
        "v1",
        "PersistentVolume",
        "persistentvolumes",
        "persistentvolume",
        &["pv"],
    ),
    ns(
        "",
        "v1",
        "PersistentVolumeClaim",
        "persistentvolumeclaims",
        "persistentvolumeclaim",
        &["pvc"],
    ),
    ns(
        "",
        "v1",
        "ServiceAccount",
        "serviceaccounts",
        "serviceaccount",
        &["sa"],
    ),
    ns(
        "",
        "v1",
        "ReplicationController",
        "replicationcontrollers",
        "replicationcontroller",
        &["rc"],
    ),
    ns(
        "",
        "v1",
        "ResourceQuota",
        "resourcequotas",
        "resourcequota",
        &["quota"],
    ),
    ns(
        "",
        "v1",
        "LimitRange",
        "limitranges",
        "limitrange",
        &["limits"],
    ),
    ns("", "v1", "PodTemplate", "podtemplates", "podtemplate", &[]),
    // apps
    ns(
        "apps",
        "v1",
        "Deployment",
        "deployments",
        "deployment",
        &["deploy"],
    ),
    ns(
        "apps",
        "v1",
        "ReplicaSet",
        "replicasets",
        "replicaset",
        &["rs"],
    ),
    ns(
        "apps",
        "v1",
        "StatefulSet",
        "statefulsets",
        "statefulset",
        &["sts"],
    ),
    ns(
        "apps",
        "v1",
        "DaemonSet",
        "daemonsets",
        "daemonset",
        &["ds"],
    ),
    ns(
        "apps",
        "v1",
        "ControllerRevision",
        "controllerrevisions",
        "controllerrevision",
        &[],
    ),
    // batch
    ns("batch", "v1", "Job", "jobs", "job", &[]),
    ns("batch", "v1", "CronJob", "cronjobs", "cronjob", &["cj"]),
    // networking.k8s.io
    ns(
        "networking.k8s.io",
        "v1",
        "Ingress",
        "ingresses",
        "ingress",
        &["ing"],
    ),
    ns(
        "networking.k8s.io",
        "v1",
        "NetworkPolicy",
        "networkpolicies",
        "networkpolicy",
        &["netpol"],
    ),
    cluster(
        "networking.k8s.io",
        "v1",
        "IngressClass",
        "ingressclasses",
        "ingressclass",
        &[],
    ),
    // policy
    ns(
        "policy",
        "v1",
        "PodDisruptionBudget",
        "poddisruptionbudgets",
        "poddisruptionbudget",
        &["pdb"],
    ),
    // rbac.authorization.k8s.io
    ns(
        "rbac.authorization.k8s.io",
        "v1",
        "Role",
        "roles",
        "role",
        &[],
    ),
    ns(
        "rbac.authorization.k8s.io",
        "v1",
        "RoleBinding",
        "rolebindings",
        "rolebinding",
        &[],
    ),
    cluster(
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRole",
        "clusterroles",
        "clusterrole",
        &[],
    ),
    cluster(
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRoleBinding",
        "clusterrolebindings",
        "clusterrolebinding",
        &[],
    ),
    // storage.k8s.io
    cluster(
        "storage.k8s.io",
        "v1",
        "StorageClass",
        "storageclasses",
        "storageclass",
        &["sc"],
    ),
    cluster(
        "storage.k8s.io",
        "v1",
        "VolumeAttachment",
        "volumeattachments",
        "volumeattachment",
        &[],
    ),
    cluster(
        "storage.k8s.io",
        "v1",
        "CSIDriver",
        "csidrivers",
        "csidriver",
        &[],
    ),
    cluster(
        "storage.k8s.io",
        "v1",
        "CSINode",
        "csinodes",
        "csinode",
        &[],
    ),
    ns(
        "storage.k8s.io",
        "v1",
        "CSIStorageCapacity",
        "csistoragecapacities",
        "csistoragecapacity",
        &[],
    ),
    // apiextensions.k8s.io
    cluster(
        "apiextensions.k8s.io",
        "v1",
        "CustomResourceDefinition",
        "customresourcedefinitions",
        "customresourcedefinition",
        &["crd", "crds"],
    ),
    // autoscaling: v1 is served by every release, v2 only from 1.23.
    ns(
        "autoscaling",
        "v1",
        "HorizontalPodAutoscaler",
        "horizontalpodautoscalers",
        "horizontalpodautoscaler",
        &["hpa"],
    ),
    // coordination.k8s.io
    ns("coordination.k8s.io", "v1", "Lease", "leases", "lease", &[]),
    // discovery.k8s.io
    ns(
        "discovery.k8s.io",
        "v1",
        "EndpointSlice",
        "endpointslices",
        "endpointslice",
        &[],
    ),
    // events.k8s.io: the same objects as core events, under another schema.
    ns("events.k8s.io", "v1", "Event", "events", "event", &["ev"]),
    // scheduling.k8s.io
    cluster(
        "scheduling.k8s.io",
        "v1",
        "PriorityClass",
        "priorityclasses",
        "priorityclass",
        &["pc"],
    ),
    // admissionregistration.k8s.io
    cluster(
        "admissionregistration.k8s.io",
        "v1",
        "MutatingWebhookConfiguration",
        "mutatingwebhookconfigurations",
        "mutatingwebhookconfiguration",
        &[],
    ),
    cluster(
        "admissionregistration.k8s.io",
        "v1",
        "ValidatingWebhookConfiguration",
        "validatingwebhookconfigurations",
        "validatingwebhookconfiguration",
        &[],
    ),
    // certificates.k8s.io
    cluster(
        "certificates.k8s.io",
        "v1",
        "CertificateSigningRequest",
        "certificatesigningrequests",
        "certificatesigningrequest",
        &["csr"],
    ),
    // node.k8s.io
    cluster(
        "node.k8s.io",
        "v1",
        "RuntimeClass",
        "runtimeclasses",
        "runtimeclass",
        &[],
    ),
    // apiregistration.k8s.io
    cluster(
        "apiregistration.k8s.io",
        "v1",
        "APIService",
        "apiservices",
        "apiservice",
        &[],
    ),
];

/// The built-in type with this API group ("" for core) and kind, both matched exactly.
pub fn by_group_kind(group: &str, kind: &str) -> Option<&'static BuiltinKind> {
    BUILTIN_KINDS
        .iter()
        .find(|k| k.group == group && k.kind == kind)
}

/// Field paths (beyond metadata.name and metadata.namespace, which every resource supports)
/// that the API server accepts in fieldSelector for this resource, from the apiserver's
/// registry strategies (pkg/registry/*/strategy.go GetAttrs / AddFieldLabelConversionFunc).
///
/// Only paths every release from 1.21 on accepts are listed: pushing a path an older server
/// does not know fails the whole LIST with 400. Newer additions left out for that reason: pod
/// `spec.hostNetwork` and `status.podIPs`, event `reportingComponent`, service `spec.clusterIP`
/// and `spec.type`. Nodes and namespaces accept `metadata.name` but not `metadata.namespace`.
/// events.k8s.io events get nothing beyond metadata: that API version registers no field label
/// conversions of its own.
pub fn supported_field_paths(group: &str, plural: &str) -> &'static [&'static str] {
    match (group, plural) {
        ("", "pods") => &[
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "status.phase",
            "status.podIP",
            "status.nominatedNodeName",
        ],
        ("", "events") => &[
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "source",
            "type",
        ],
        ("", "secrets") => &["type"],
        ("", "namespaces") => &["status.phase"],
        ("", "nodes") => &["spec.unschedulable"],
        ("", "replicationcontrollers") => &["status.replicas"],
        ("apps", "replicasets") => &["status.replicas"],
        ("batch", "jobs") => &["status.successful"],
        ("certificates.k8s.io", "certificatesigningrequests") => &["spec.signerName"],
        _ => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn core_kinds_are_found_by_empty_group() {
        let pod = by_group_kind("", "Pod").expect("Pod is built in");
        assert_eq!(
            (pod.version, pod.plural, pod.singular, pod.namespaced),
            ("v1", "pods", "pod", true)
        );
        assert_eq!(pod.short_names, &["po"]);
        let node = by_group_kind("", "Node").expect("Node is built in");
        assert!(!node.namespaced);
        assert_eq!(node.short_names, &["no"]);
    }

    #[test]
    fn lookups_need_the_exact_group_and_kind() {
        assert!(by_group_kind("apps", "Pod").is_none());
        assert!(by_group_kind("", "Deployment").is_none());
        assert!(by_group_kind("", "pod").is_none());
        assert!(by_group_kind("core", "Pod").is_none());
        assert!(by_group_kind("example.com", "Widget").is_none());
    }

    #[test]
    fn core_and_events_k8s_io_events_are_different_entries() {
        let core = by_group_kind("", "Event").expect("core Event");
        let new = by_group_kind("events.k8s.io", "Event").expect("events.k8s.io Event");
        assert_eq!(core.plural, "events");
        assert_eq!(new.plural, "events");
        assert!(!std::ptr::eq(core, new));
    }

    #[test]
    fn kubectl_short_names_are_present() {
        let expected = [
            ("", "Service", "svc"),
            ("", "Endpoints", "ep"),
            ("", "ConfigMap", "cm"),
            ("", "Namespace", "ns"),
            ("", "Event", "ev"),
            ("", "PersistentVolume", "pv"),
            ("", "PersistentVolumeClaim", "pvc"),
            ("", "ServiceAccount", "sa"),
            ("", "ReplicationController", "rc"),
            ("", "ResourceQuota", "quota"),
            ("", "LimitRange", "limits"),
            ("apps", "Deployment", "deploy"),
            ("apps", "ReplicaSet", "rs"),
            ("apps", "StatefulSet", "sts"),
            ("apps", "DaemonSet", "ds"),
            ("batch", "CronJob", "cj"),
            ("networking.k8s.io", "Ingress", "ing"),
            ("networking.k8s.io", "NetworkPolicy", "netpol"),
            ("policy", "PodDisruptionBudget", "pdb"),
            ("storage.k8s.io", "StorageClass", "sc"),
            ("apiextensions.k8s.io", "CustomResourceDefinition", "crd"),
            ("apiextensions.k8s.io", "CustomResourceDefinition", "crds"),
            ("autoscaling", "HorizontalPodAutoscaler", "hpa"),
            ("certificates.k8s.io", "CertificateSigningRequest", "csr"),
            ("scheduling.k8s.io", "PriorityClass", "pc"),
        ];
        for (group, kind, short) in expected {
            let k = by_group_kind(group, kind).unwrap_or_else(|| panic!("{group}/{kind}"));
            assert!(k.short_names.contains(&short), "{kind} lacks {short}");
        }
    }

    #[test]
    fn every_requested_resource_is_in_the_table() {
        let want = [
            ("", "pods"),
            ("", "services"),
            ("", "endpoints"),
            ("", "configmaps"),
            ("", "secrets"),
            ("", "namespaces"),
            ("", "nodes"),
            ("", "events"),
            ("", "persistentvolumes"),
            ("", "persistentvolumeclaims"),
            ("", "serviceaccounts"),
            ("", "replicationcontrollers"),
            ("", "resourcequotas"),
            ("", "limitranges"),
            ("apps", "deployments"),
            ("apps", "replicasets"),
            ("apps", "statefulsets"),
            ("apps", "daemonsets"),
            ("apps", "controllerrevisions"),
            ("batch", "jobs"),
            ("batch", "cronjobs"),
            ("networking.k8s.io", "ingresses"),
            ("networking.k8s.io", "networkpolicies"),
            ("networking.k8s.io", "ingressclasses"),
            ("policy", "poddisruptionbudgets"),
            ("rbac.authorization.k8s.io", "roles"),
            ("rbac.authorization.k8s.io", "rolebindings"),
            ("rbac.authorization.k8s.io", "clusterroles"),
            ("rbac.authorization.k8s.io", "clusterrolebindings"),
            ("storage.k8s.io", "storageclasses"),
            ("storage.k8s.io", "volumeattachments"),
            ("storage.k8s.io", "csidrivers"),
            ("storage.k8s.io", "csinodes"),
            ("apiextensions.k8s.io", "customresourcedefinitions"),
            ("autoscaling", "horizontalpodautoscalers"),
            ("coordination.k8s.io", "leases"),
            ("discovery.k8s.io", "endpointslices"),
            ("events.k8s.io", "events"),
            ("scheduling.k8s.io", "priorityclasses"),
            (
                "admissionregistration.k8s.io",
                "mutatingwebhookconfigurations",
            ),
            (
                "admissionregistration.k8s.io",
                "validatingwebhookconfigurations",
            ),
            ("certificates.k8s.io", "certificatesigningrequests"),
            ("node.k8s.io", "runtimeclasses"),
            ("apiregistration.k8s.io", "apiservices"),
        ];
        for (group, plural) in want {
            assert!(
                BUILTIN_KINDS
                    .iter()
                    .any(|k| k.group == group && k.plural == plural),
                "{group}/{plural} missing"
            );
        }
    }

    #[test]
    fn scope_matches_the_api_server() {
        let cluster_scoped = [
            ("", "Namespace"),
            ("", "Node"),
            ("", "PersistentVolume"),
            ("rbac.authorization.k8s.io", "ClusterRole"),
            ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
            ("storage.k8s.io", "StorageClass"),
            ("apiextensions.k8s.io", "CustomResourceDefinition"),
            ("certificates.k8s.io", "CertificateSigningRequest"),
            ("apiregistration.k8s.io", "APIService"),
            ("networking.k8s.io", "IngressClass"),
        ];
        for (group, kind) in cluster_scoped {
            let k = by_group_kind(group, kind).unwrap_or_else(|| panic!("{group}/{kind}"));
            assert!(!k.namespaced, "{kind} is cluster-scoped");
        }
        for (group, kind) in [
            ("", "PersistentVolumeClaim"),
            ("rbac.authorization.k8s.io", "Role"),
            ("coordination.k8s.io", "Lease"),
            ("events.k8s.io", "Event"),
        ] {
            let k = by_group_kind(group, kind).unwrap_or_else(|| panic!("{group}/{kind}"));
            assert!(k.namespaced, "{kind} is namespaced");
        }
    }

    #[test]
    fn table_has_no_duplicate_group_kind_plural_or_short_name() {
        let mut kinds = HashSet::new();
        let mut plurals = HashSet::new();
        let mut shorts = HashSet::new();
        for k in BUILTIN_KINDS {
            assert!(kinds.insert((k.group, k.kind)), "{}/{}", k.group, k.kind);
            assert!(
                plurals.insert((k.group, k.plural)),
                "{}/{}",
                k.group,
                k.plural
            );
            for s in k.short_names {
                assert!(shorts.insert((k.group, *s)), "{}/{s}", k.group);
            }
            assert_eq!(k.singular, k.kind.to_ascii_lowercase(), "{}", k.kind);
            assert!(!k.version.is_empty());
        }
    }

    #[test]
    fn pods_and_core_events_have_their_field_selectors() {
        let pods = supported_field_paths("", "pods");
        for p in [
            "spec.nodeName",
            "status.phase",
            "status.podIP",
            "spec.serviceAccountName",
        ] {
            assert!(pods.contains(&p), "pods lack {p}");
        }
        let events = supported_field_paths("", "events");
        for p in [
            "involvedObject.kind",
            "involvedObject.uid",
            "reason",
            "source",
            "type",
        ] {
            assert!(events.contains(&p), "events lack {p}");
        }
        assert!(!events.contains(&"reportingComponent"));
    }

    #[test]
    fn other_resources_have_only_their_registered_field_selectors() {
        assert_eq!(supported_field_paths("", "secrets"), &["type"]);
        assert_eq!(supported_field_paths("", "namespaces"), &["status.phase"]);
        assert_eq!(supported_field_paths("", "nodes"), &["spec.unschedulable"]);
        assert_eq!(
            supported_field_paths("", "replicationcontrollers"),
            &["status.replicas"]
        );
        assert_eq!(
            supported_field_paths("apps", "replicasets"),
            &["status.replicas"]
        );
        assert_eq!(
            supported_field_paths("batch", "jobs"),
            &["status.successful"]
        );
        assert_eq!(
            supported_field_paths("certificates.k8s.io", "certificatesigningrequests"),
            &["spec.signerName"]
        );
    }

    #[test]
    fn resources_without_extra_field_selectors_get_none() {
        for (group, plural) in [
            ("", "persistentvolumes"),
            ("", "persistentvolumeclaims"),
            ("", "configmaps"),
            ("", "services"),
            ("events.k8s.io", "events"),
            ("apps", "deployments"),
            ("", "replicasets"),
            ("example.com", "widgets"),
        ] {
            assert!(
                supported_field_paths(group, plural).is_empty(),
                "{group}/{plural}"
            );
        }
    }

    #[test]
    fn supported_field_paths_name_resources_in_the_table() {
        for (group, plural) in [
            ("", "pods"),
            ("", "events"),
            ("", "secrets"),
            ("", "namespaces"),
            ("", "nodes"),
            ("", "replicationcontrollers"),
            ("apps", "replicasets"),
            ("batch", "jobs"),
            ("certificates.k8s.io", "certificatesigningrequests"),
        ] {
            assert!(
                BUILTIN_KINDS
                    .iter()
                    .any(|k| k.group == group && k.plural == plural),
                "{group}/{plural}"
            );
        }
    }
}
