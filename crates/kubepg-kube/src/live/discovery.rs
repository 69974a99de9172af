//! A live cluster's discovery: `/api` and `/apis` walked for every resource that can be listed,
//! with the schemas of its CustomResourceDefinitions when kubepg may read them.

use futures::StreamExt;
use serde::Deserialize;

use super::LiveSource;
use super::documents::{ApiGroupList, ApiResourceList, ApiVersions};
use crate::Result;
use crate::crd::resource_from_crd;
use crate::source::{ResourceInfo, Source};

/// Walks `/api` and every served version of every group under `/apis`, keeping each resource
/// that can be listed once: in its group's preferred version where it exists there, else in the
/// first version the group lists that serves it (during an API migration a resource may be
/// served only by an older version: CronJobs in `batch/v1beta1` on Kubernetes 1.20). CRD
/// schemas are attached when the caller may read CustomResourceDefinitions.
pub(crate) async fn walk(source: &LiveSource) -> Result<Vec<ResourceInfo>> {
    // (group, version, rank): rank 0 is the preferred version, then the group's order.
    let mut paths: Vec<(String, String, usize)> = Vec::new();
    let core: ApiVersions = source.fetch("/api").await?;
    for (rank, version) in core.versions.into_iter().enumerate() {
        paths.push((String::new(), version, rank));
    }
    let groups: ApiGroupList = source.fetch("/apis").await?;
    for group in groups.groups {
        let preferred = group
            .preferred_version
            .map(|v| v.version)
            .or_else(|| group.versions.first().map(|v| v.version.clone()));
        let others = group
            .versions
            .into_iter()
            .map(|v| v.version)
            .filter(|v| Some(v) != preferred.as_ref());
        for (rank, version) in preferred.clone().into_iter().chain(others).enumerate() {
            paths.push((group.name.clone(), version, rank));
        }
    }
    let lists = futures::stream::iter(paths)
        .map(|(group, version, rank)| async move {
            let path = if group.is_empty() {
                format!("/api/{version}")
            } else {
                format!("/apis/{group}/{version}")
            };
            (
                group,
                version,
                rank,
                source.fetch::<ApiResourceList>(&path).await,
            )
        })
        .buffer_unordered(8)
        .collect::<Vec<_>>()
        .await;

    // (group, plural) → (rank, resource): the best-ranked version wins.
    let mut chosen: std::collections::BTreeMap<(String, String), (usize, ResourceInfo)> =
        std::collections::BTreeMap::new();
    for (group, version, rank, list) in lists {
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
            let resource = ResourceInfo {
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
            };
            let key = (group.clone(), resource.plural.clone());
            if chosen.get(&key).is_none_or(|(best, _)| rank < *best) {
                chosen.insert(key, (rank, resource));
            }
        }
    }
    let mut resources: Vec<ResourceInfo> = chosen.into_values().map(|(_, r)| r).collect();
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
