//! One object as the API server sent it: the few metadata fields the cache keys and tracks
//! versions by are read out, the rest stays as the JSON bytes of the response.
//!
//! kube-runtime's watcher needs a [`Resource`] type to decode lists and watch events into;
//! this one decodes each object once into a borrowed raw JSON slice, copies those bytes, and
//! never builds a tree of it. That keeps a cached table at roughly the size of its JSON.

use std::borrow::Cow;

use bytes::Bytes;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::core::{ApiResource, DynamicResourceScope, Resource};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

/// An object's identity and version, and its JSON.
#[derive(Debug, Clone)]
pub struct RawObject {
    /// Only `name`, `namespace`, `uid` and `resourceVersion` are filled in.
    meta: ObjectMeta,
    json: Bytes,
}

/// The metadata fields read out of each object.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Identity {
    name: Option<String>,
    namespace: Option<String>,
    uid: Option<String>,
    resource_version: Option<String>,
}

#[derive(Deserialize)]
struct Head {
    #[serde(default)]
    metadata: Identity,
}

impl RawObject {
    /// Reads the identity out of one object's JSON.
    pub fn from_json(json: Bytes) -> serde_json::Result<Self> {
        let head: Head = serde_json::from_slice(&json)?;
        let id = head.metadata;
        Ok(Self {
            meta: ObjectMeta {
                name: id.name,
                namespace: id.namespace,
                uid: id.uid,
                resource_version: id.resource_version,
                ..ObjectMeta::default()
            },
            json,
        })
    }

    pub fn name(&self) -> &str {
        self.meta.name.as_deref().unwrap_or_default()
    }

    /// Empty for cluster-scoped objects.
    pub fn namespace(&self) -> &str {
        self.meta.namespace.as_deref().unwrap_or_default()
    }

    pub fn uid(&self) -> &str {
        self.meta.uid.as_deref().unwrap_or_default()
    }

    pub fn resource_version(&self) -> &str {
        self.meta.resource_version.as_deref().unwrap_or_default()
    }

    /// The object as the server sent it.
    pub fn json(&self) -> &Bytes {
        &self.json
    }

    pub fn into_json(self) -> Bytes {
        self.json
    }
}

impl<'de> Deserialize<'de> for RawObject {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = Box::<RawValue>::deserialize(deserializer)?;
        let text: Box<str> = raw.into();
        RawObject::from_json(Bytes::from(String::from(text))).map_err(D::Error::custom)
    }
}

impl Resource for RawObject {
    type DynamicType = ApiResource;
    type Scope = DynamicResourceScope;

    fn group(dt: &ApiResource) -> Cow<'_, str> {
        dt.group.as_str().into()
    }

    fn version(dt: &ApiResource) -> Cow<'_, str> {
        dt.version.as_str().into()
    }

    fn kind(dt: &ApiResource) -> Cow<'_, str> {
        dt.kind.as_str().into()
    }

    fn api_version(dt: &ApiResource) -> Cow<'_, str> {
        dt.api_version.as_str().into()
    }

    fn plural(dt: &ApiResource) -> Cow<'_, str> {
        dt.plural.as_str().into()
    }

    fn meta(&self) -> &ObjectMeta {
        &self.meta
    }

    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.meta
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::core::{ObjectList, WatchEvent};

    const POD: &str = r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"web-1","namespace":"shop","uid":"u-1","resourceVersion":"42","labels":{"app":"web"}},"spec":{"nodeName":"n1"}}"#;

    #[test]
    fn a_list_keeps_each_item_as_the_bytes_the_server_sent() {
        let body = format!(
            r#"{{"kind":"PodList","apiVersion":"v1","metadata":{{"resourceVersion":"50"}},"items":[{POD}]}}"#
        );
        let list: ObjectList<RawObject> = serde_json::from_str(&body).unwrap();
        assert_eq!(list.metadata.resource_version.as_deref(), Some("50"));
        let pod = &list.items[0];
        assert_eq!(
            (
                pod.namespace(),
                pod.name(),
                pod.uid(),
                pod.resource_version()
            ),
            ("shop", "web-1", "u-1", "42")
        );
        assert_eq!(pod.json().as_ref(), POD.as_bytes());
    }

    #[test]
    fn a_watch_event_keeps_its_object_as_bytes() {
        let line = format!(r#"{{"type":"MODIFIED","object":{POD}}}"#);
        let event: WatchEvent<RawObject> = serde_json::from_str(&line).unwrap();
        let WatchEvent::Modified(pod) = event else {
            panic!("not MODIFIED: {event:?}")
        };
        assert_eq!(pod.json().as_ref(), POD.as_bytes());
    }
}
