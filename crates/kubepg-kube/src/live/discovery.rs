//! A live cluster's discovery: `/api` and `/apis` walked for every resource that can be listed,
//! with the schemas of its CustomResourceDefinitions when kubepg may read them.

use futures::StreamExt;
use serde::Deserialize;

use super::LiveSource;
use super::documents::{ApiGroupList, ApiResourceList, ApiVersions};
use crate::Result;
use crate::crd::resource_from_crd;
use crate::source::{ResourceInfo, Source};

/// Walks `/api` and `/apis` (preferred versions), keeping every resource that can be listed, and
/// attaches CRD schemas when the caller may read CustomResourceDefinitions.
pub(crate) async fn walk(source: &LiveSource) -> Result<Vec<ResourceInfo>> {
    let mut paths: Vec<(String, String)> = Vec::new();
    let core: ApiVersions = source.fetch("/api").await?;
    for version in core.versions {
        paths.push((String::new(), version));
    }
    let groups: ApiGroupList = source.fetch("/apis").await?;
    for group in groups.groups {
        let preferred = group
            .preferred_version
            .or_else(|| group.versions.into_iter().next());
        if let Some(gv) = preferred {
            paths.push((group.name, gv.version));
        }
    }
    let lists = futures::stream::iter(paths)
        .map(|(group, version)| async move {
            let path = if group.is_empty() {
                format!("/api/{version}")
            } else {
                format!("/apis/{group}/{version}")
            };
            (group, version, source.fetch::<ApiResourceList>(&path).await)
        })
        .buffer_unordered(8)
        .collect::<Vec<_>>()
        .await;

    let mut resources = Vec::new();
    for (group, version, list) in lists {
        let list = match list {
            Ok(l) => l,
            // An aggregated API whose backend is down answers 503; the rest of the cluster is
            // still usable.
            Err(e) => {
                tracing::warn!(cluster = source.cluster(), group, version, error = %e, "skipping API group");
                continue;
            }
        };
        for r in list.resources {
            if r.name.contains('/') || !r.verbs.iter().any(|v| v == "list") {
                continue;
            }
            resources.push(ResourceInfo {
                group: group.clone(),
                version: version.clone(),
                singular: if r.singular_name.is_empty() {
                    r.kind.to_ascii_lowercase()
                } else {
                    r.singular_name
                },
                kind: r.kind,
                plural: r.name,
                short_names: r.short_names,
                namespaced: r.namespaced,
                verbs: r.verbs,
                crd: None,
            });
        }
    }
    attach_crd_schemas(source, &mut resources).await;
    resources.sort_by(|a, b| (&a.plural, &a.group).cmp(&(&b.plural, &b.group)));
    Ok(resources)
}

async fn attach_crd_schemas(source: &LiveSource, resources: &mut [ResourceInfo]) {
    if !resources
        .iter()
        .any(|r| r.group == "apiextensions.k8s.io" && r.plural == "customresourcedefinitions")
    {
        return;
    }
    #[derive(Deserialize)]
    struct CrdList {
        #[serde(default)]
        items: Vec<serde_json::Value>,
    }
    let list: CrdList = match source
        .fetch("/apis/apiextensions.k8s.io/v1/customresourcedefinitions")
        .await
    {
        Ok(l) => l,
        // Without permission to read CRDs, custom resources are still tables, with the common
        // columns and their bodies as jsonb.
        Err(e) => {
            tracing::info!(cluster = source.cluster(), error = %e, "CRD schemas unavailable");
            return;
        }
    };
    for crd in &list.items {
        let Some(info) = resource_from_crd(crd) else {
            continue;
        };
        if let Some(r) = resources
            .iter_mut()
            .find(|r| r.group == info.group && r.plural == info.plural)
        {
            r.crd = info.crd;
        }
    }
}
