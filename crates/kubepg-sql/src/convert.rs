//! Kubernetes objects (parsed JSON) to Arrow record batches, column by column.

use std::collections::HashSet;
use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, BooleanBuilder, Float64Builder, Int64Builder, StringBuilder,
    TimestampMicrosecondBuilder,
};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::{RecordBatch, RecordBatchOptions};
use datafusion::error::Result;
use serde_json::{Map, Value};

use crate::columns::{ColType, ColumnSpec, Getter, PathSeg, lookup};
use crate::jsonb_text::jsonb_text;
use crate::quantity::{json_bytes, json_cores};

/// Builds batches of one table's projected columns.
#[derive(Debug, Clone)]
pub struct Converter {
    columns: Vec<ColumnSpec>,
    schema: SchemaRef,
    /// Top-level fields some column of the table shows, so `body` leaves them out.
    claimed: Arc<HashSet<String>>,
    cluster: Arc<str>,
    api_version: Arc<str>,
    kind: Arc<str>,
}

impl Converter {
    /// `all` is the table's full column list; `projected` the columns to build, whose schema is
    /// `schema`.
    pub fn new(
        all: &[ColumnSpec],
        projected: Vec<ColumnSpec>,
        schema: SchemaRef,
        cluster: &str,
        api_version: &str,
        kind: &str,
    ) -> Self {
        let mut claimed: HashSet<String> = ["apiVersion", "kind", "metadata"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        for c in all {
            if let Getter::Path(p) | Getter::PathOr(p, _) = &c.get
                && let Some(PathSeg::Key(k)) = p.first()
                && p.len() == 1
            {
                claimed.insert(k.clone());
            }
        }
        Self {
            columns: projected,
            schema,
            claimed: Arc::new(claimed),
            cluster: cluster.into(),
            api_version: api_version.into(),
            kind: kind.into(),
        }
    }

    pub fn convert(&self, objects: &[Value]) -> Result<RecordBatch> {
        let arrays: Vec<ArrayRef> = self
            .columns
            .iter()
            .map(|c| self.column(c, objects))
            .collect();
        let options = RecordBatchOptions::new().with_row_count(Some(objects.len()));
        Ok(RecordBatch::try_new_with_options(
            self.schema.clone(),
            arrays,
            &options,
        )?)
    }

    fn value<'a>(&'a self, c: &'a ColumnSpec, o: &'a Value) -> Cell<'a> {
        match &c.get {
            Getter::Cluster => Cell::Str(&self.cluster),
            Getter::ApiVersion => Cell::Str(o["apiVersion"].as_str().unwrap_or(&self.api_version)),
            Getter::Kind => Cell::Str(o["kind"].as_str().unwrap_or(&self.kind)),
            Getter::Path(p) => lookup(o, p).map_or(Cell::Null, Cell::Ref),
            Getter::PathOr(p, d) => Cell::Ref(lookup(o, p).filter(|v| !v.is_null()).unwrap_or(d)),
            Getter::Computed(f) => Cell::Owned(f(o)),
            Getter::Rest => match o.as_object() {
                Some(map) => {
                    let rest: Map<String, Value> = map
                        .iter()
                        .filter(|(k, _)| !self.claimed.contains(k.as_str()))
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect();
                    if rest.is_empty() {
                        Cell::Null
                    } else {
                        Cell::Owned(Value::Object(rest))
                    }
                }
                None => Cell::Null,
            },
        }
    }

    fn column(&self, c: &ColumnSpec, objects: &[Value]) -> ArrayRef {
        let n = objects.len();
        match c.ty {
            ColType::Text | ColType::Json => {
                let mut b = StringBuilder::with_capacity(n, n * 16);
                for o in objects {
                    match (c.ty, self.value(c, o)) {
                        (_, Cell::Str(s)) => b.append_value(s),
                        (_, Cell::Null)
                        | (_, Cell::Ref(Value::Null))
                        | (_, Cell::Owned(Value::Null)) => b.append_null(),
                        (ColType::Text, Cell::Ref(Value::String(s))) => b.append_value(s),
                        (ColType::Text, Cell::Owned(Value::String(s))) => b.append_value(s),
                        (ColType::Json, Cell::Ref(v)) => b.append_value(jsonb_text(v)),
                        (ColType::Json, Cell::Owned(v)) => b.append_value(jsonb_text(&v)),
                        (_, Cell::Ref(v)) => b.append_value(v.to_string()),
                        (_, Cell::Owned(v)) => b.append_value(v.to_string()),
                    }
                }
                Arc::new(b.finish())
            }
            ColType::Int | ColType::Bytes => {
                let mut b = Int64Builder::with_capacity(n);
                for o in objects {
                    let cell = self.value(c, o);
                    let v = cell.get().and_then(|v| match c.ty {
                        ColType::Bytes => json_bytes(v),
                        _ => v
                            .as_i64()
                            .or_else(|| v.as_str().and_then(|s| s.parse().ok())),
                    });
                    b.append_option(v);
                }
                Arc::new(b.finish())
            }
            ColType::Float | ColType::Cores => {
                let mut b = Float64Builder::with_capacity(n);
                for o in objects {
                    let cell = self.value(c, o);
                    let v = cell.get().and_then(|v| match c.ty {
                        ColType::Cores => json_cores(v),
                        _ => v
                            .as_f64()
                            .or_else(|| v.as_str().and_then(|s| s.parse().ok())),
                    });
                    b.append_option(v);
                }
                Arc::new(b.finish())
            }
            ColType::Bool => {
                let mut b = BooleanBuilder::with_capacity(n);
                for o in objects {
                    let cell = self.value(c, o);
                    b.append_option(cell.get().and_then(|v| {
                        v.as_bool()
                            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                    }));
                }
                Arc::new(b.finish())
            }
            ColType::Timestamp => {
                let mut b = TimestampMicrosecondBuilder::with_capacity(n).with_timezone("UTC");
                for o in objects {
                    let cell = self.value(c, o);
                    b.append_option(cell.get().and_then(Value::as_str).and_then(parse_timestamp));
                }
                Arc::new(b.finish())
            }
        }
    }
}

/// A column value: borrowed from the object, computed, or a plain string from context.
enum Cell<'a> {
    Null,
    Str(&'a str),
    Ref(&'a Value),
    Owned(Value),
}

impl Cell<'_> {
    fn get(&self) -> Option<&Value> {
        match self {
            Cell::Ref(v) => Some(v),
            Cell::Owned(v) => Some(v),
            Cell::Null | Cell::Str(_) => None,
        }
    }
}

/// RFC 3339 (`2026-11-20T09:00:00Z`, with optional fraction) to microseconds since the epoch.
pub fn parse_timestamp(s: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.timestamp_micros())
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{Array, AsArray};
    use datafusion::arrow::datatypes::{Float64Type, Int64Type, TimestampMicrosecondType};
    use kubepg_kube::ResourceInfo;
    use serde_json::json;

    use super::*;
    use crate::columns::schema_of;

    fn resource(group: &str, version: &str, kind: &str, plural: &str) -> ResourceInfo {
        ResourceInfo {
            group: group.into(),
            version: version.into(),
            kind: kind.into(),
            plural: plural.into(),
            singular: kind.to_ascii_lowercase(),
            short_names: vec![],
            namespaced: true,
            verbs: vec!["list".into()],
            crd: None,
        }
    }

    fn convert(r: &ResourceInfo, objects: &[Value]) -> RecordBatch {
        let columns = crate::kinds::table_columns(r);
        Converter::new(
            &columns,
            columns.clone(),
            schema_of(&columns),
            "c1",
            &r.api_version(),
            &r.kind,
        )
        .convert(objects)
        .unwrap()
    }

    fn text(batch: &RecordBatch, column: &str, row: usize) -> Option<String> {
        let c = batch.column_by_name(column).unwrap().as_string::<i32>();
        (!c.is_null(row)).then(|| c.value(row).to_string())
    }

    #[test]
    fn a_pod_becomes_typed_columns_and_jsonb_bodies() {
        let pod = json!({
            "metadata": {
                "name": "web-1", "namespace": "shop", "uid": "u1",
                "creationTimestamp": "2026-11-20T09:00:00Z", "resourceVersion": "42",
                "labels": {"app": "web"},
                "managedFields": [{"manager": "kubectl"}],
            },
            "spec": {"nodeName": "node-a", "containers": [{"name": "c", "image": "nginx:1"}]},
            "status": {
                "phase": "Running",
                "conditions": [{"type": "Ready", "status": "True"}],
                "containerStatuses": [{"name": "c", "restartCount": 3}],
            },
        });
        // List items omit apiVersion and kind: the resource's fill them in.
        let b = convert(&resource("", "v1", "Pod", "pods"), &[pod]);
        assert_eq!(b.num_rows(), 1);
        assert_eq!(text(&b, "_cluster", 0).as_deref(), Some("c1"));
        assert_eq!(text(&b, "api_version", 0).as_deref(), Some("v1"));
        assert_eq!(text(&b, "kind", 0).as_deref(), Some("Pod"));
        assert_eq!(text(&b, "phase", 0).as_deref(), Some("Running"));
        assert_eq!(text(&b, "node_name", 0).as_deref(), Some("node-a"));
        assert!(b.column_by_name("ready").unwrap().as_boolean().value(0));
        assert_eq!(
            b.column_by_name("restarts")
                .unwrap()
                .as_primitive::<Int64Type>()
                .value(0),
            3
        );
        assert_eq!(
            b.column_by_name("created")
                .unwrap()
                .as_primitive::<TimestampMicrosecondType>()
                .value(0),
            parse_timestamp("2026-11-20T09:00:00Z").unwrap()
        );
        let labels: Value = serde_json::from_str(&text(&b, "labels", 0).unwrap()).unwrap();
        assert_eq!(labels, json!({"app": "web"}));
        // Absent fields are NULL, not zero or "".
        assert!(b.column_by_name("generation").unwrap().is_null(0));
        assert!(text(&b, "pod_ip", 0).is_none());
        let spec: Value = serde_json::from_str(&text(&b, "spec", 0).unwrap()).unwrap();
        assert_eq!(spec["nodeName"], "node-a");
    }

    #[test]
    fn quantities_become_cores_and_bytes_and_garbage_becomes_null() {
        let node = |cpu: &str, memory: &str| {
            json!({
                "metadata": {"name": "n"},
                "status": {"capacity": {"cpu": cpu, "memory": memory}},
            })
        };
        let mut nodes = resource("", "v1", "Node", "nodes");
        nodes.namespaced = false;
        let b = convert(&nodes, &[node("1500m", "2Gi"), node("lots", "")]);
        let cpu = b
            .column_by_name("cpu_capacity")
            .unwrap()
            .as_primitive::<Float64Type>();
        let memory = b
            .column_by_name("memory_capacity")
            .unwrap()
            .as_primitive::<Int64Type>();
        assert_eq!((cpu.value(0), memory.value(0)), (1.5, 2 << 30));
        assert!(cpu.is_null(1) && memory.is_null(1));
    }

    #[test]
    fn a_pods_requests_and_limits_are_what_the_scheduler_counts() {
        let container = |cpu: &str, memory: &str| json!({"resources": {"requests": {"cpu": cpu, "memory": memory}, "limits": {"cpu": cpu}}});
        let pods = [
            // Two app containers sum; the overhead comes on top.
            json!({"metadata": {"name": "a"}, "spec": {
                "containers": [container("250m", "64Mi"), container("500m", "64Mi")],
                "overhead": {"cpu": "250m"},
            }}),
            // An init container larger than the app containers' sum is the request.
            json!({"metadata": {"name": "b"}, "spec": {
                "containers": [container("100m", "1Gi")],
                "initContainers": [container("2", "10Mi")],
            }}),
            // No container names a resource: NULL, not 0.
            json!({"metadata": {"name": "c"}, "spec": {"containers": [{"name": "x"}]}}),
        ];
        let b = convert(&resource("", "v1", "Pod", "pods"), &pods);
        let cores = |c: &str| {
            b.column_by_name(c)
                .unwrap()
                .as_primitive::<Float64Type>()
                .clone()
        };
        let bytes = |c: &str| {
            b.column_by_name(c)
                .unwrap()
                .as_primitive::<Int64Type>()
                .clone()
        };
        let (cpu, memory) = (cores("cpu_request"), bytes("memory_request"));
        assert_eq!((cpu.value(0), memory.value(0)), (1.0, 128 << 20));
        assert_eq!((cpu.value(1), memory.value(1)), (2.0, 1 << 30));
        assert!(cpu.is_null(2) && memory.is_null(2));
        assert_eq!(cores("cpu_limit").value(1), 2.0);
        assert!(bytes("memory_limit").is_null(0));
    }

    #[test]
    fn a_kind_without_a_shape_keeps_its_other_fields_in_body() {
        let r = resource("example.com", "v1", "Gadget", "gadgets");
        let b = convert(
            &r,
            &[json!({"metadata": {"name": "g"}, "spec": {"size": 3}, "extra": {"x": 1}})],
        );
        let body: Value = serde_json::from_str(&text(&b, "body", 0).unwrap()).unwrap();
        assert_eq!(body, json!({"extra": {"x": 1}}));
    }
}
