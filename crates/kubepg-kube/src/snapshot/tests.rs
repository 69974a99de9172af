use super::*;
use crate::selector::{FieldSelector, LabelSelector};
use crate::source::{CrdInfo, PrinterColumn};
use futures::TryStreamExt;
use futures::executor::block_on;
use infer::guess_plural;

fn from_yaml(yaml: &str) -> SnapshotSource {
    SnapshotSource::from_bytes("test", "test.yaml", yaml.as_bytes()).unwrap()
}

fn discovered(source: &SnapshotSource) -> Vec<(String, String, String, bool)> {
    block_on(source.discover())
        .unwrap()
        .into_iter()
        .map(|r| (r.api_version(), r.kind, r.plural, r.namespaced))
        .collect()
}

fn resource(source: &SnapshotSource, kind: &str) -> ResourceInfo {
    block_on(source.discover())
        .unwrap()
        .into_iter()
        .find(|r| r.kind == kind)
        .unwrap_or_else(|| panic!("{kind} not discovered"))
}

fn objects(source: &SnapshotSource, kind: &str) -> Vec<Value> {
    let stats = Arc::new(ListStats::default());
    let request = ListRequest::default();
    let stream = source.list(&resource(source, kind), request, stats);
    let pages: Vec<Page> = block_on(stream.try_collect()).unwrap();
    pages.into_iter().flat_map(|p| p.objects).collect()
}

/// `namespace/name` of every object, page by page, and the stats the list reported.
fn list(
    source: &SnapshotSource,
    kind: &str,
    request: ListRequest,
) -> (Vec<Vec<String>>, Arc<ListStats>) {
    let stats = Arc::new(ListStats::default());
    let stream = source.list(&resource(source, kind), request, stats.clone());
    let pages: Vec<Page> = block_on(stream.try_collect()).unwrap();
    let names = pages
        .iter()
        .map(|p| p.objects.iter().map(id).collect())
        .collect();
    (names, stats)
}

fn id(o: &Value) -> String {
    let ns = str_at(o, &["metadata", "namespace"]);
    format!("{ns}/{}", str_at(o, &["metadata", "name"]))
}

fn labels(s: &str) -> LabelSelector {
    LabelSelector::parse(s).unwrap()
}

fn fields(s: &str) -> FieldSelector {
    FieldSelector::parse(s).unwrap()
}

fn entry(a: &str, k: &str, p: &str, n: bool) -> (String, String, String, bool) {
    (a.into(), k.into(), p.into(), n)
}

const MULTI_DOC: &str = r#"
---
apiVersion: v1
kind: Namespace
metadata:
  name: shop
---
# a document holding only a comment
---
apiVersion: v1
kind: Pod
metadata:
  name: web-1
  namespace: shop
  labels: {app: web}
  managedFields:
  - manager: kubectl
    operation: Apply
spec:
  nodeName: node-a
status:
  phase: Running
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec: {replicas: 3}
"#;

#[test]
fn multi_document_yaml_loads_every_object_and_skips_empty_documents() {
    let source = from_yaml(MULTI_DOC);
    assert_eq!(
        discovered(&source),
        [
            entry("v1", "Namespace", "namespaces", false),
            entry("v1", "Pod", "pods", true),
            entry("apps/v1", "Deployment", "deployments", true),
        ]
    );
    let pods = objects(&source, "Pod");
    assert_eq!(pods.len(), 1);
    assert_eq!(pods[0]["metadata"]["labels"]["app"], "web");
    assert_eq!(pods[0]["status"]["phase"], "Running");
    assert_eq!(objects(&source, "Deployment")[0]["spec"]["replicas"], 3);
    let pod = resource(&source, "Pod");
    assert_eq!(pod.short_names, ["po"]);
    assert_eq!(pod.verbs, ["get", "list", "watch"]);
    assert_eq!(pod.crd, None);
}

#[test]
fn managed_fields_are_dropped_on_load() {
    let pods = objects(&from_yaml(MULTI_DOC), "Pod");
    assert!(pods[0]["metadata"].get("managedFields").is_none());
    assert_eq!(pods[0]["metadata"]["name"], "web-1");
}

#[test]
fn a_typed_list_gives_its_items_their_api_version_and_kind() {
    // A raw LIST response: items carry neither apiVersion nor kind.
    let json = br#"{"apiVersion": "apps/v1", "kind": "DeploymentList", "metadata": {"resourceVersion": "9"},
            "items": [{"metadata": {"name": "api", "namespace": "shop"}},
                      {"metadata": {"name": "web", "namespace": "shop"}}]}"#;
    let source = SnapshotSource::from_bytes("test", "deployments.json", json).unwrap();
    assert_eq!(
        discovered(&source),
        [entry("apps/v1", "Deployment", "deployments", true)]
    );
    let deployments = objects(&source, "Deployment");
    assert_eq!(deployments.len(), 2);
    assert_eq!(deployments[0]["apiVersion"], "apps/v1");
    assert_eq!(deployments[0]["kind"], "Deployment");
}

#[test]
fn kubectl_list_output_and_json_arrays_unpack_into_their_items() {
    let yaml = r#"
apiVersion: v1
kind: List
metadata: {resourceVersion: ""}
items:
- apiVersion: v1
  kind: Node
  metadata: {name: node-a}
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: settings, namespace: shop}
  data: {LEVEL: debug}
"#;
    let source = from_yaml(yaml);
    assert_eq!(
        discovered(&source),
        [
            entry("v1", "ConfigMap", "configmaps", true),
            entry("v1", "Node", "nodes", false),
        ]
    );
    assert_eq!(objects(&source, "ConfigMap")[0]["data"]["LEVEL"], "debug");

    let json = br#"[{"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-b"}},
                        {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-a"}}]"#;
    let source = SnapshotSource::from_bytes("test", "nodes", json).unwrap();
    let (pages, _) = list(&source, "Node", ListRequest::default());
    assert_eq!(pages, [["/node-a", "/node-b"]]);
}

#[test]
fn a_plain_list_item_without_a_kind_is_an_error_naming_the_file_and_item() {
    let yaml = "kind: List\napiVersion: v1\nitems:\n- metadata: {name: x}\n";
    let err = SnapshotSource::from_bytes("test", "dump.yaml", yaml.as_bytes()).unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, Error::Snapshot { ref path, .. } if path == "dump.yaml"));
    assert!(message.contains("document 1, item 1"), "{message}");
    assert!(message.contains("without apiVersion"), "{message}");
}

#[test]
fn broken_files_are_errors_naming_the_file() {
    let err = SnapshotSource::from_bytes("test", "bad.yaml", b"a: [1, 2\nb: c\n").unwrap_err();
    assert!(
        err.to_string()
            .starts_with("snapshot bad.yaml: invalid YAML"),
        "{err}"
    );
    let err = SnapshotSource::from_bytes("test", "bad.json", b"{\"kind\": ").unwrap_err();
    assert!(
        err.to_string()
            .starts_with("snapshot bad.json: invalid JSON"),
        "{err}"
    );
    let err = SnapshotSource::from_bytes("test", "n.yaml", b"42\n").unwrap_err();
    assert!(err.to_string().contains("found a number"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    let err = SnapshotSource::load("test", &dir.path().join("missing.yaml")).unwrap_err();
    assert!(err.to_string().contains("missing.yaml"), "{err}");
    let err = SnapshotSource::load("test", dir.path()).unwrap_err();
    assert!(
        err.to_string().contains("no .yaml, .yml or .json files"),
        "{err}"
    );
}

#[test]
fn a_directory_loads_every_snapshot_file_under_it_in_path_order() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("shop/pods")).unwrap();
    std::fs::create_dir_all(root.join(".git")).unwrap();
    let pod = |name: &str, phase: &str| {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: shop}}\nstatus: {{phase: {phase}}}\n"
        )
    };
    std::fs::write(root.join("a.yaml"), pod("web-1", "Pending")).unwrap();
    // Read after a.yaml, so its copy of web-1 wins.
    std::fs::write(root.join("shop/pods/b.yml"), pod("web-1", "Running")).unwrap();
    std::fs::write(
        root.join("shop/c.json"),
        r#"{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}"#,
    )
    .unwrap();
    std::fs::write(root.join("notes.txt"), "not: [yaml").unwrap();
    std::fs::write(root.join(".git/config.yaml"), "not: [yaml").unwrap();

    let source = SnapshotSource::load("disk", root).unwrap();
    assert_eq!(source.cluster(), "disk");
    assert_eq!(
        discovered(&source),
        [
            entry("v1", "Namespace", "namespaces", false),
            entry("v1", "Pod", "pods", true),
        ]
    );
    let pods = objects(&source, "Pod");
    assert_eq!(pods.len(), 1);
    assert_eq!(pods[0]["status"]["phase"], "Running");

    let single = SnapshotSource::load("one", &root.join("a.yaml")).unwrap();
    assert_eq!(objects(&single, "Pod")[0]["status"]["phase"], "Pending");

    std::fs::write(root.join("shop/broken.yaml"), "kind: [").unwrap();
    let err = SnapshotSource::load("disk", root).unwrap_err();
    assert!(err.to_string().contains("broken.yaml"), "{err}");
}

const CRDS: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, listKind: WidgetList, shortNames: [wd]}
  versions:
  - name: v1alpha1
    served: true
    storage: false
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec: {type: object, properties: {legacy: {type: string}}}
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              color: {type: string}
              size: {type: integer, format: int32}
              weight: {type: number}
              enabled: {type: boolean}
              tags: {type: array, items: {type: string}}
              port: {x-kubernetes-int-or-string: true}
          status:
            type: object
            properties:
              observedAt: {type: string, format: date-time}
              conditions: {type: array, items: {type: object}}
    additionalPrinterColumns:
    - {name: Color, type: string, jsonPath: .spec.color}
    - {name: Age, type: date, jsonPath: .metadata.creationTimestamp}
  - name: v2beta1
    served: false
    storage: false
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: gadgets.example.com}
spec:
  group: example.com
  scope: Cluster
  names: {plural: gadgets, kind: Gadget}
  versions:
  - {name: v1, served: true, storage: true}
---
apiVersion: example.com/v1
kind: Widget
metadata: {name: blue, namespace: shop}
spec: {color: blue, size: 3}
"#;

#[test]
fn crds_in_the_snapshot_are_discovered_with_their_schema_even_without_objects() {
    let source = from_yaml(CRDS);
    assert_eq!(
        discovered(&source),
        [
            entry(
                "apiextensions.k8s.io/v1",
                "CustomResourceDefinition",
                "customresourcedefinitions",
                false
            ),
            entry("example.com/v1", "Gadget", "gadgets", false),
            entry("example.com/v1", "Widget", "widgets", true),
        ]
    );
    let widget = resource(&source, "Widget");
    assert_eq!(widget.singular, "widget");
    assert_eq!(widget.short_names, ["wd"]);
    assert_eq!(widget.verbs, ["get", "list", "watch"]);
    let crd = widget.crd.unwrap();
    let props: Vec<_> = crd
        .properties
        .iter()
        .map(|p| {
            (
                p.parent.as_str(),
                p.name.as_str(),
                p.r#type.as_str(),
                p.format.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        props,
        [
            ("spec", "color", "string", None),
            ("spec", "enabled", "boolean", None),
            ("spec", "size", "integer", Some("int32")),
            ("spec", "weight", "number", None),
            ("status", "observedAt", "string", Some("date-time")),
        ]
    );
    assert_eq!(
        crd.printer_columns,
        [
            PrinterColumn {
                name: "Color".into(),
                r#type: "string".into(),
                json_path: ".spec.color".into()
            },
            PrinterColumn {
                name: "Age".into(),
                r#type: "date".into(),
                json_path: ".metadata.creationTimestamp".into()
            },
        ]
    );
    let gadget = resource(&source, "Gadget");
    assert_eq!(gadget.singular, "gadget");
    assert_eq!(gadget.crd, Some(CrdInfo::default()));
    assert!(objects(&source, "Gadget").is_empty());
    assert_eq!(objects(&source, "Widget")[0]["spec"]["color"], "blue");
}

#[test]
fn crd_objects_read_in_an_older_version_are_described_by_that_versions_schema() {
    let yaml = CRDS.replace(
        "apiVersion: example.com/v1\nkind: Widget",
        "apiVersion: example.com/v1alpha1\nkind: Widget",
    );
    let widget = resource(&from_yaml(&yaml), "Widget");
    assert_eq!(widget.api_version(), "example.com/v1alpha1");
    let crd = widget.crd.unwrap();
    assert_eq!(crd.properties.len(), 1);
    assert_eq!(crd.properties[0].name, "legacy");
    assert_eq!(
        resource_from_crd(&objects(&from_yaml(CRDS), "CustomResourceDefinition")[1])
            .unwrap()
            .version,
        "v1"
    );
}

#[test]
fn resource_from_crd_rejects_objects_that_are_not_crds() {
    assert_eq!(resource_from_crd(&serde_json::json!({"spec": {}})), None);
    let v1beta1 = serde_json::json!({"spec": {"group": "old.io", "version": "v1beta1",
            "names": {"kind": "Thing", "plural": "things"},
            "validation": {"openAPIV3Schema": {"properties": {"spec": {"properties": {"n": {"type": "integer"}}}}}},
            "additionalPrinterColumns": [{"name": "N", "type": "integer", "JSONPath": ".spec.n"}]}});
    let info = resource_from_crd(&v1beta1).unwrap();
    assert_eq!((info.version.as_str(), info.namespaced), ("v1beta1", true));
    let crd = info.crd.unwrap();
    assert_eq!(crd.properties[0].name, "n");
    assert_eq!(crd.printer_columns[0].json_path, ".spec.n");
}

#[test]
fn unknown_kinds_get_a_guessed_plural_and_their_objects_scope() {
    let yaml = r#"
apiVersion: gateway.networking.example/v1
kind: Gateway
metadata: {name: edge, namespace: infra}
---
apiVersion: policy.example/v1beta2
kind: FirewallPolicy
metadata: {name: strict}
---
apiVersion: policy.example/v1
kind: FirewallPolicy
metadata: {name: open}
---
apiVersion: mesh.example/v1
kind: Mesh
metadata: {name: m}
"#;
    assert_eq!(
        discovered(&from_yaml(yaml)),
        [
            entry("gateway.networking.example/v1", "Gateway", "gateways", true),
            entry("mesh.example/v1", "Mesh", "meshes", false),
            entry(
                "policy.example/v1",
                "FirewallPolicy",
                "firewallpolicies",
                false
            ),
        ]
    );
    assert_eq!(guess_plural("Box"), "boxes");
    assert_eq!(guess_plural("Patch"), "patches");
    assert_eq!(guess_plural("Class"), "classes");
}

fn pods_yaml() -> String {
    let mut yaml = String::new();
    for (ns, name, app, phase, node) in [
        ("shop", "web-2", "web", "Running", "node-a"),
        ("shop", "web-1", "web", "Running", "node-b"),
        ("shop", "api-1", "api", "Pending", ""),
        ("staging", "web-1", "web", "Failed", "node-a"),
        ("staging", "db-1", "db", "Running", "node-a"),
        ("batch", "job-1", "job", "Succeeded", "node-b"),
        ("batch", "job-2", "job", "Running", "node-b"),
    ] {
        yaml.push_str(&format!(
                "---\napiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: {ns}, labels: {{app: {app}}}}}\n\
                 spec: {{nodeName: '{node}'}}\nstatus: {{phase: {phase}}}\n"
            ));
    }
    yaml.push_str("---\napiVersion: v1\nkind: Node\nmetadata: {name: node-a}\n");
    yaml
}

#[test]
fn list_filters_by_namespace_labels_and_fields_in_namespace_name_order() {
    let source = from_yaml(&pods_yaml());
    let all = |pages: Vec<Vec<String>>| pages.concat();
    let (pages, _) = list(&source, "Pod", ListRequest::default());
    assert_eq!(
        all(pages),
        [
            "batch/job-1",
            "batch/job-2",
            "shop/api-1",
            "shop/web-1",
            "shop/web-2",
            "staging/db-1",
            "staging/web-1"
        ]
    );
    let request = ListRequest {
        namespace: Some("shop".into()),
        ..Default::default()
    };
    assert_eq!(
        all(list(&source, "Pod", request).0),
        ["shop/api-1", "shop/web-1", "shop/web-2"]
    );
    let request = ListRequest {
        labels: labels("app in (web, db)"),
        ..Default::default()
    };
    assert_eq!(
        all(list(&source, "Pod", request).0),
        ["shop/web-1", "shop/web-2", "staging/db-1", "staging/web-1"]
    );
    let request = ListRequest {
        namespace: Some("staging".into()),
        labels: labels("app=web"),
        ..Default::default()
    };
    assert_eq!(all(list(&source, "Pod", request).0), ["staging/web-1"]);
    let request = ListRequest {
        fields: fields("status.phase=Running,spec.nodeName=node-a"),
        ..Default::default()
    };
    assert_eq!(
        all(list(&source, "Pod", request).0),
        ["shop/web-2", "staging/db-1"]
    );
    // A namespace does not hide cluster-scoped objects, as on a live server.
    let request = ListRequest {
        namespace: Some("shop".into()),
        ..Default::default()
    };
    assert_eq!(all(list(&source, "Node", request).0), ["/node-a"]);
}

#[test]
fn list_pages_by_page_size_stops_at_the_limit_and_counts_requests() {
    let source = from_yaml(&pods_yaml());
    let request = ListRequest {
        page_size: 3,
        ..Default::default()
    };
    let (pages, stats) = list(&source, "Pod", request);
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [3, 3, 1]);
    assert_eq!(ListStats::get(&stats.requests), 3);
    assert_eq!(ListStats::get(&stats.pages), 3);
    assert_eq!(ListStats::get(&stats.objects), 7);
    assert!(ListStats::get(&stats.bytes) > 7 * 50);

    let request = ListRequest {
        page_size: 3,
        limit: Some(5),
        ..Default::default()
    };
    let (pages, stats) = list(&source, "Pod", request);
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [3, 2]);
    assert_eq!(ListStats::get(&stats.objects), 5);

    // Page size 0 is the server default; a page that fills exactly ends the list.
    let request = ListRequest {
        labels: labels("app=web"),
        page_size: 0,
        limit: Some(3),
        ..Default::default()
    };
    let (pages, stats) = list(&source, "Pod", request);
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [3]);
    assert_eq!(ListStats::get(&stats.requests), 1);

    // Nothing matching is one request answered with one empty page.
    let request = ListRequest {
        namespace: Some("nowhere".into()),
        ..Default::default()
    };
    let (pages, stats) = list(&source, "Pod", request);
    assert_eq!(pages, [Vec::<String>::new()]);
    assert_eq!(ListStats::get(&stats.requests), 1);

    let request = ListRequest {
        limit: Some(0),
        ..Default::default()
    };
    let (pages, stats) = list(&source, "Pod", request);
    assert!(pages.is_empty());
    assert_eq!(ListStats::get(&stats.requests), 0);
}

#[test]
fn demo_cluster_has_pods_in_every_phase_nodes_and_widgets() {
    let source = demo().unwrap();
    assert_eq!(source.cluster(), "demo");
    let resources = block_on(source.discover()).unwrap();
    let plurals: BTreeSet<_> = resources.iter().map(|r| r.plural.as_str()).collect();
    for plural in [
        "pods",
        "nodes",
        "widgets",
        "namespaces",
        "deployments",
        "events",
    ] {
        assert!(
            plurals.contains(plural),
            "{plural} missing from {plurals:?}"
        );
    }
    let widgets = resource(&source, "Widget");
    assert_eq!(widgets.api_version(), "example.com/v1");
    assert!(!widgets.crd.unwrap().properties.is_empty());

    let pods = objects(&source, "Pod");
    assert!(pods.len() >= 40, "{} pods", pods.len());
    let phases: BTreeSet<_> = pods
        .iter()
        .map(|p| str_at(p, &["status", "phase"]))
        .collect();
    assert_eq!(
        phases.into_iter().collect::<Vec<_>>(),
        ["Failed", "Pending", "Running", "Succeeded", "Unknown"]
    );
    assert_eq!(objects(&source, "Node").len(), 4);
    assert_eq!(objects(&source, "Widget").len(), 5);
    assert!(
        pods.iter()
            .all(|p| p["metadata"].get("managedFields").is_none())
    );
}
