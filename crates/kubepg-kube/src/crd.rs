//! What a CustomResourceDefinition says about its resource: the names, scope and preferred
//! served version discovery would report, and the shape of its objects (typed properties of
//! `spec` and `status`, printer columns). Live discovery and snapshots both read CRDs so.

use kube::core::Version;
use serde_json::Value;

use crate::source::{CrdInfo, CrdProperty, PrinterColumn, ResourceInfo};

/// What a resource of a snapshot supports, and what a CRD read from a cluster is listed with:
/// reading, never writing.
pub const READ_VERBS: &[&str] = &["get", "list", "watch"];

/// What a cluster serving this CustomResourceDefinition would say in discovery, or `None` when
/// the object lacks the group or names that make it a resource.
///
/// The version is the served version of highest Kubernetes priority (what discovery prefers);
/// its schema gives the typed properties and its `additionalPrinterColumns` the printer columns.
/// `apiextensions.k8s.io/v1beta1` CRDs keep both at the top of `spec`, which is read as a
/// fallback.
pub fn resource_from_crd(crd: &Value) -> Option<ResourceInfo> {
    crd_resource(crd, None)
}

/// [`resource_from_crd`] in version `want` when the CRD defines it, else in its preferred one.
pub fn crd_resource(crd: &Value, want: Option<&str>) -> Option<ResourceInfo> {
    let spec = crd.get("spec")?;
    let group = spec.get("group")?.as_str()?;
    let names = spec.get("names")?;
    let kind = names.get("kind")?.as_str().filter(|k| !k.is_empty())?;
    let plural = names.get("plural")?.as_str().filter(|p| !p.is_empty())?;
    let singular = names
        .get("singular")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map_or_else(|| kind.to_ascii_lowercase(), str::to_string);
    let short_names = names
        .get("shortNames")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect();
    // v1 requires a scope; v1beta1 defaulted a missing one to Namespaced.
    let namespaced = spec.get("scope").and_then(Value::as_str) != Some("Cluster");

    let versions = spec
        .get("versions")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let named = || {
        versions
            .iter()
            .filter_map(|v| Some((v.get("name")?.as_str()?, v)))
    };
    let preferred = named().find(|(name, _)| Some(*name) == want).or_else(|| {
        named()
            .filter(|(_, v)| v.get("served").and_then(Value::as_bool).unwrap_or(true))
            .max_by_key(|(name, _)| Version::parse(name).priority())
    });
    let (version, chosen) = match preferred {
        Some((name, v)) => (name.to_string(), Some(v)),
        None => (spec.get("version")?.as_str()?.to_string(), None),
    };
    let schema = chosen
        .and_then(|v| v.get("schema"))
        .or_else(|| spec.get("validation"))
        .and_then(|s| s.get("openAPIV3Schema"));
    let columns = chosen
        .and_then(|v| v.get("additionalPrinterColumns"))
        .or_else(|| spec.get("additionalPrinterColumns"));

    Some(ResourceInfo {
        group: group.to_string(),
        version,
        kind: kind.to_string(),
        plural: plural.to_string(),
        singular,
        short_names,
        namespaced,
        verbs: READ_VERBS.iter().map(|v| v.to_string()).collect(),
        crd: Some(CrdInfo {
            properties: schema.map(crd_properties).unwrap_or_default(),
            printer_columns: columns.map(printer_columns).unwrap_or_default(),
        }),
    })
}

/// The top-level scalar properties of `spec` and `status`: the ones that fit a typed column.
///
/// Sorted by name within each of `spec` and `status`: JSON maps keep or lose the schema's order
/// depending on how serde_json is built, and a table's columns must not.
fn crd_properties(schema: &Value) -> Vec<CrdProperty> {
    let mut out = Vec::new();
    for parent in ["spec", "status"] {
        let start = out.len();
        let props = schema
            .get("properties")
            .and_then(|p| p.get(parent))
            .and_then(|p| p.get("properties"))
            .and_then(Value::as_object);
        for (name, prop) in props.into_iter().flatten() {
            let Some(ty) = prop.get("type").and_then(Value::as_str) else {
                continue;
            };
            if matches!(ty, "string" | "integer" | "number" | "boolean") {
                out.push(CrdProperty {
                    parent: parent.to_string(),
                    name: name.clone(),
                    r#type: ty.to_string(),
                    format: prop.get("format").and_then(Value::as_str).map(String::from),
                });
            }
        }
        out[start..].sort_by(|a: &CrdProperty, b: &CrdProperty| a.name.cmp(&b.name));
    }
    out
}

fn printer_columns(columns: &Value) -> Vec<PrinterColumn> {
    columns
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| {
            // v1beta1 spelled it `JSONPath`.
            let path = c.get("jsonPath").or_else(|| c.get("JSONPath"))?.as_str()?;
            Some(PrinterColumn {
                name: c.get("name")?.as_str()?.to_string(),
                r#type: c
                    .get("type")
                    .and_then(Value::as_str)
                    .unwrap_or("string")
                    .to_string(),
                json_path: path.to_string(),
            })
        })
        .collect()
}
