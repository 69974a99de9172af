//! Writes kubepg's embedded demo cluster (`crates/kubepg-kube/demo/demo.json`) from a real API
//! server: one seeded test cluster, every listable resource (in its preferred version, else the
//! next version serving it), as one
//! `kind: List` of objects that each carry their apiVersion and kind.
//!
//! Run: `cargo run -p kubepg-testkit --example demo_snapshot -- crates/kubepg-kube/demo/demo.json`

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, Result};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::APIResourceList;
use kube::Client;
use kube::api::ListParams;
use kubepg_testkit::fixtures::{self, Seed};
use kubepg_testkit::{TestClusters, User};
use serde_json::{Value, json};

/// Resources a plain `list` would return nothing useful for, or that duplicate another one.
const SKIPPED: &[&str] = &["componentstatuses", "bindings"];

/// `events.k8s.io` serves the same objects as core `events`; keeping both doubles every event.
const SKIPPED_GROUPS: &[&str] = &["events.k8s.io"];

#[tokio::main]
async fn main() -> Result<()> {
    let out: PathBuf = std::env::args_os()
        .nth(1)
        .context("usage: demo_snapshot OUTPUT.json")?
        .into();

    let env = TestClusters::start(1)?;
    let client = env.clusters[0].client(User::Admin).await?;
    fixtures::seed(
        &client,
        &Seed {
            crd: true,
            tenants: 12,
        },
    )
    .await?;

    let mut items = Vec::new();
    let mut resource_lists = vec![(String::new(), client.list_core_api_resources("v1").await?)];
    for group in client.list_api_groups().await?.groups {
        if SKIPPED_GROUPS.contains(&group.name.as_str()) {
            continue;
        }
        // The preferred version first; a resource it lacks comes from the next version that
        // serves it, as kubepg's discovery picks it (CronJobs are batch/v1beta1 only in 1.20).
        let preferred = group.preferred_version.as_ref().or(group.versions.first());
        let versions = preferred
            .into_iter()
            .chain(group.versions.iter().filter(|v| Some(*v) != preferred));
        let mut seen = std::collections::HashSet::new();
        for gv in versions {
            let mut list = client
                .list_api_group_resources(&gv.group_version)
                .await
                .with_context(|| format!("discovering {}", gv.group_version))?;
            list.resources.retain(|r| seen.insert(r.name.clone()));
            resource_lists.push((group.name.clone(), list));
        }
    }
    for (group, list) in &resource_lists {
        items.extend(list_all(&client, group, list).await?);
    }

    items.sort_by_cached_key(sort_key);
    let counts = items
        .iter()
        .fold(BTreeMap::<String, usize>::new(), |mut m, o| {
            *m.entry(format!("{} {}", o["apiVersion"], o["kind"]))
                .or_default() += 1;
            m
        });
    let list = json!({"apiVersion": "v1", "kind": "List", "items": items});
    let mut text = serde_json::to_string_pretty(&list)?;
    text.push('\n');
    std::fs::write(&out, &text).with_context(|| format!("writing {}", out.display()))?;

    for (kind, n) in &counts {
        eprintln!("{n:5} {kind}");
    }
    eprintln!(
        "{} objects, {} bytes -> {}",
        counts.values().sum::<usize>(),
        text.len(),
        out.display()
    );
    Ok(())
}

/// Every object of every listable resource in one group version, with apiVersion and kind set
/// (a LIST response leaves them off its items) and `managedFields` dropped (noise nobody queries).
async fn list_all(client: &Client, group: &str, list: &APIResourceList) -> Result<Vec<Value>> {
    let mut out = Vec::new();
    for r in &list.resources {
        if r.name.contains('/')
            || SKIPPED.contains(&r.name.as_str())
            || !r.verbs.iter().any(|v| v == "list")
        {
            continue;
        }
        let path = if group.is_empty() {
            format!("/api/{}/{}", list.group_version, r.name)
        } else {
            format!("/apis/{}/{}", list.group_version, r.name)
        };
        let request = kube::core::Request::new(&path)
            .list(&ListParams::default())
            .with_context(|| format!("building LIST {path}"))?;
        let body: Value = client
            .request(request)
            .await
            .with_context(|| format!("LIST {path}"))?;
        let Some(objects) = body.get("items").and_then(Value::as_array) else {
            continue;
        };
        for object in objects {
            let mut object = object.clone();
            object["apiVersion"] = json!(list.group_version);
            object["kind"] = json!(r.kind);
            if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
                meta.remove("managedFields");
            }
            out.push(object);
        }
    }
    Ok(out)
}

fn sort_key(o: &Value) -> (String, String, String, String) {
    let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
    (
        s(&o["apiVersion"]),
        s(&o["kind"]),
        s(&o["metadata"]["namespace"]),
        s(&o["metadata"]["name"]),
    )
}
