//! Discovery of a snapshot's kinds that no CRD in it describes: the built-in table when it
//! knows the kind, else what the objects themselves say (their versions, whether they have
//! namespaces, an English plural of the kind).

use std::collections::BTreeSet;

use kube::core::Version;
use serde_json::Value;

use super::{split_api_version, str_at};
use crate::builtin;
use crate::crd::READ_VERBS;
use crate::source::ResourceInfo;

/// Discovery for a kind with no CRD in the snapshot: the built-in table when it knows the kind,
/// otherwise what the objects themselves suggest.
pub(super) fn resource_from_objects<'a>(
    group: &str,
    kind: &str,
    objects: impl Iterator<Item = &'a Value>,
) -> ResourceInfo {
    let mut versions = BTreeSet::new();
    let mut namespaced = false;
    for object in objects {
        versions.insert(split_api_version(str_at(object, &["apiVersion"])).1);
        namespaced |= !str_at(object, &["metadata", "namespace"]).is_empty();
    }
    // The objects' own version, preferring the one the built-in table knows when they agree: a
    // snapshot of an older cluster serves older versions (flowcontrol v1beta1, say).
    let seen_version = |preferred: Option<&str>| -> String {
        match preferred {
            Some(p) if versions.is_empty() || versions.contains(p) => p.to_string(),
            _ => versions
                .iter()
                .max_by_key(|v| Version::parse(v).priority())
                .map_or_else(String::new, |v| v.to_string()),
        }
    };
    let verbs = READ_VERBS.iter().map(|v| v.to_string()).collect();
    match builtin::by_group_kind(group, kind) {
        Some(b) => ResourceInfo {
            group: group.to_string(),
            version: seen_version(Some(b.version)),
            kind: kind.to_string(),
            plural: b.plural.to_string(),
            singular: b.singular.to_string(),
            short_names: b.short_names.iter().map(|s| s.to_string()).collect(),
            namespaced: b.namespaced,
            verbs,
            crd: None,
        },
        None => ResourceInfo {
            group: group.to_string(),
            version: seen_version(None),
            kind: kind.to_string(),
            plural: guess_plural(kind),
            singular: kind.to_ascii_lowercase(),
            short_names: Vec::new(),
            namespaced,
            verbs,
            crd: None,
        },
    }
}

/// The version of highest Kubernetes priority among the objects' apiVersions.
pub(super) fn newest_version<'a>(objects: impl Iterator<Item = &'a Value>) -> Option<String> {
    objects
        .map(|o| split_api_version(str_at(o, &["apiVersion"])).1)
        .filter(|v| !v.is_empty())
        .max_by_key(|v| Version::parse(v).priority())
        .map(str::to_string)
}

/// English plural of a lowercased kind, for kinds nobody told us the plural of.
pub(super) fn guess_plural(kind: &str) -> String {
    let lower = kind.to_ascii_lowercase();
    let before_y = lower.strip_suffix('y');
    match before_y {
        // `gateway` → `gateways`, but `policy` → `policies`.
        Some(stem) if !stem.ends_with(['a', 'e', 'i', 'o', 'u']) => format!("{stem}ies"),
        _ if ["s", "x", "ch", "sh"].iter().any(|s| lower.ends_with(s)) => format!("{lower}es"),
        _ => format!("{lower}s"),
    }
}
