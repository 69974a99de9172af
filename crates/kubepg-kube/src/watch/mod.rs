//! The watch cache: per (cluster, resource type), the objects kept current by the source's
//! watch, shared by every session of a server.
//!
//! A resource is cached from the first list that asks the cache for it (that list waits for the
//! watch's first list), and dropped after nothing has read it for a while. Objects are held as
//! the JSON bytes the server sent ([`RawObject`]), not as parsed trees; the bytes of all cached
//! resources are bounded by [`WatchConfig::memory_limit`], and the least recently used are
//! dropped to stay under it. Every change a watch applies is published on the resource's channel
//! ([`WatchCache::subscribe`]) and kept in a change log bounded by count and age
//! ([`WatchCache::changes`]).
//!
//! [`CachedSource`] is how the rest of kubepg reads the cache: a [`Source`] whose lists are
//! answered from it, with selectors evaluated the way the API server evaluates them. A source
//! that cannot watch (a snapshot) is its own cache.

mod entry;

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::{self, BoxStream};
use futures::{StreamExt, TryStreamExt};
use serde_json::Value;
use tokio::sync::broadcast;

pub use crate::raw::RawObject;
pub use entry::CachedResource;

use crate::selector::FieldOp;
use crate::source::{ListRequest, ListStats, Page, ResourceInfo, Source, WatchOptions, paginate};
use crate::{Error, Result};

/// How much the cache holds and for how long.
#[derive(Debug, Clone)]
pub struct WatchConfig {
    /// Bytes of cached objects across all entries; least recently used entries are dropped to
    /// stay under it.
    pub memory_limit: u64,
    /// A cached resource nothing has read for this long stops watching and is dropped.
    pub idle: Duration,
    /// Changes kept in the change log.
    pub changes_max: usize,
    /// Changes older than this leave the change log.
    pub changes_age: Duration,
    pub options: WatchOptions,
}

impl Default for WatchConfig {
    fn default() -> Self {
        Self {
            memory_limit: 256 << 20,
            idle: Duration::from_secs(600),
            changes_max: 10_000,
            changes_age: Duration::from_secs(3600),
            options: WatchOptions::default(),
        }
    }
}

/// Which cached resource: a resource type (by group and plural) of one cluster.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ResourceKey {
    pub cluster: String,
    /// Empty for the core group.
    pub group: String,
    pub plural: String,
}

impl ResourceKey {
    pub fn of(source: &dyn Source, resource: &ResourceInfo) -> Self {
        Self {
            cluster: source.cluster().to_string(),
            group: resource.group.clone(),
            plural: resource.plural.clone(),
        }
    }
}

impl fmt::Display for ResourceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.group.is_empty() {
            write!(f, "{}/{}", self.cluster, self.plural)
        } else {
            write!(f, "{}/{}.{}", self.cluster, self.plural, self.group)
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Added,
    Modified,
    Deleted,
}

impl ChangeKind {
    /// The watch event type's name: `ADDED`, `MODIFIED`, `DELETED`.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Added => "ADDED",
            ChangeKind::Modified => "MODIFIED",
            ChangeKind::Deleted => "DELETED",
        }
    }
}

/// One change a watch applied to a cached entry.
#[derive(Debug, Clone)]
pub struct Change {
    /// When the cache applied it.
    pub time: SystemTime,
    /// Which resource of which cluster.
    pub key: Arc<ResourceKey>,
    pub kind: ChangeKind,
    /// Empty for cluster-scoped objects.
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub resource_version: String,
    /// The object after the change (for a deletion: its last state), as the server sent it.
    pub object: Bytes,
    /// For a modification: the object before it, so that what changed can be told.
    pub previous: Option<Bytes>,
}

/// One cached entry as the cache's status listing shows it.
#[derive(Debug, Clone)]
pub struct ResourceStatus {
    pub key: ResourceKey,
    /// `syncing`, `watching`, `retrying` or `failed`.
    pub state: &'static str,
    /// Why the watch is retrying or failed.
    pub error: Option<String>,
    pub objects: u64,
    pub bytes: u64,
    /// Whether the first list is in.
    pub synced: bool,
    pub last_event: Option<SystemTime>,
}

/// The watch cache of one server; clones share it.
#[derive(Debug, Clone)]
pub struct WatchCache {
    shared: Arc<Shared>,
}

#[derive(Debug)]
pub(crate) struct Shared {
    config: WatchConfig,
    entries: Mutex<HashMap<ResourceKey, Arc<CachedResource>>>,
    changes: Mutex<VecDeque<Arc<Change>>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl WatchCache {
    pub fn new(config: WatchConfig) -> Self {
        Self {
            shared: Arc::new(Shared {
                config,
                entries: Mutex::default(),
                changes: Mutex::default(),
            }),
        }
    }

    pub fn config(&self) -> &WatchConfig {
        &self.shared.config
    }

    /// `source` read through this cache: lists are answered from cached entries, started on
    /// first use. A source that cannot watch is returned as it is.
    pub fn cached(&self, source: Arc<dyn Source>) -> Arc<dyn Source> {
        if source.can_watch() {
            Arc::new(CachedSource {
                inner: source,
                cache: self.clone(),
            })
        } else {
            source
        }
    }

    /// The cached entry of `resource` in `source`'s cluster, started (not yet synced) when it
    /// is not cached yet; `None` when the source cannot watch.
    pub fn entry(
        &self,
        source: &Arc<dyn Source>,
        resource: &ResourceInfo,
    ) -> Option<Arc<CachedResource>> {
        let key = ResourceKey::of(source.as_ref(), resource);
        let mut entries = lock(&self.shared.entries);
        if let Some(t) = entries.get(&key) {
            t.touch();
            return Some(t.clone());
        }
        let events = source.watch(resource, &self.shared.config.options)?;
        tracing::info!(entry = %key, "watch cache: starting");
        let entry = Arc::new(CachedResource::new(key.clone()));
        entry.start(
            Arc::downgrade(&self.shared),
            events,
            self.shared.config.idle,
        );
        entries.insert(key, entry.clone());
        Some(entry)
    }

    /// The changes of one entry from now on, once its first list is in (starting its watch if
    /// needed); the first list's failure (forbidden, not found) is the answer. `Ok(None)` when
    /// the source cannot watch. A receiver that falls more than a thousand changes behind
    /// misses the oldest (and is told how many); it never holds anyone else up. The receiver
    /// closes when the entry leaves the cache.
    pub async fn subscribe(
        &self,
        source: &Arc<dyn Source>,
        resource: &ResourceInfo,
    ) -> Result<Option<broadcast::Receiver<Arc<Change>>>> {
        let Some(entry) = self.entry(source, resource) else {
            return Ok(None);
        };
        let receiver = entry.subscribe();
        entry.ready().await?;
        Ok(Some(receiver))
    }

    /// The revision of `resource`'s cached entry in `source`'s cluster (see
    /// [`Source::revision`]); `None` when it is not cached or not synced. Starts nothing.
    pub fn revision(&self, source: &Arc<dyn Source>, resource: &ResourceInfo) -> Option<u64> {
        let key = ResourceKey::of(source.as_ref(), resource);
        lock(&self.shared.entries)
            .get(&key)
            .and_then(|t| t.revision())
    }

    /// Every cached entry, in (cluster, group, plural) order.
    pub fn entries(&self) -> Vec<ResourceStatus> {
        let entries: Vec<Arc<CachedResource>> =
            lock(&self.shared.entries).values().cloned().collect();
        let mut out: Vec<ResourceStatus> = entries
            .iter()
            .map(|t| {
                let (state, error) = t.phase();
                ResourceStatus {
                    key: (*t.key).clone(),
                    state,
                    error,
                    objects: t.objects(),
                    bytes: t.bytes(),
                    synced: t.is_synced(),
                    last_event: t.last_event(),
                }
            })
            .collect();
        out.sort_by(|a, b| {
            (&a.key.cluster, &a.key.group, &a.key.plural).cmp(&(
                &b.key.cluster,
                &b.key.group,
                &b.key.plural,
            ))
        });
        out
    }

    /// The change log, oldest first.
    pub fn changes(&self) -> Vec<Arc<Change>> {
        let mut changes = lock(&self.shared.changes);
        self.shared.expire(&mut changes);
        changes.iter().cloned().collect()
    }
}

impl Shared {
    fn record(&self, change: Arc<Change>) {
        let mut changes = lock(&self.changes);
        changes.push_back(change);
        while changes.len() > self.config.changes_max {
            changes.pop_front();
        }
        self.expire(&mut changes);
    }

    fn expire(&self, changes: &mut VecDeque<Arc<Change>>) {
        let now = SystemTime::now();
        while changes.front().is_some_and(|c| {
            now.duration_since(c.time)
                .is_ok_and(|age| age > self.config.changes_age)
        }) {
            changes.pop_front();
        }
    }

    /// Drops `entry` from the cache, unless another entry has already taken its place.
    fn remove(&self, entry: &Arc<CachedResource>) {
        let mut entries = lock(&self.entries);
        if entries
            .get(&entry.key)
            .is_some_and(|t| Arc::ptr_eq(t, entry))
        {
            entries.remove(&entry.key);
        }
    }

    /// Drops the least recently used synced entries until the cache is within its bound; false
    /// when `current` alone is over it and must stop (its waiting queries get the reason).
    fn enforce_limit(&self, current: &Arc<CachedResource>) -> bool {
        let limit = self.config.memory_limit;
        let mut entries = lock(&self.entries);
        loop {
            let total: u64 = entries.values().map(|t| t.bytes()).sum();
            if total <= limit {
                return true;
            }
            let victim = entries
                .values()
                .filter(|t| !Arc::ptr_eq(t, current) && t.is_synced())
                // Entries someone LISTENs to go last: dropping one ends its notifications.
                .min_by_key(|t| (t.is_subscribed(), t.last_used()))
                .cloned();
            match victim {
                Some(v) => {
                    tracing::info!(entry = %v.key, bytes = v.bytes(), limit, "watch cache: over its memory bound; dropping the least recently used entry");
                    entries.remove(&v.key);
                    v.stop(None);
                }
                None if current.bytes() > limit => {
                    tracing::warn!(entry = %current.key, bytes = current.bytes(), limit, "watch cache: an entry alone exceeds the memory bound");
                    if entries
                        .get(&current.key)
                        .is_some_and(|t| Arc::ptr_eq(t, current))
                    {
                        entries.remove(&current.key);
                    }
                    drop(entries);
                    current.stop(Some(Error::CacheFull {
                        cluster: current.key.cluster.clone(),
                        resource: current.key.to_string(),
                        bytes: current.bytes(),
                        limit,
                    }));
                    return false;
                }
                // Only entries still in their first list are left; they finish or fail on
                // their own.
                None => return true,
            }
        }
    }
}

/// A copy of an error the cache stored for every list waiting on an entry. The watch path
/// only stores errors made of plain values, so nothing is lost.
fn replay(e: &Error) -> Error {
    match e {
        Error::Api {
            cluster,
            verb,
            path,
            code,
            reason,
            message,
        } => Error::Api {
            cluster: cluster.clone(),
            verb,
            path: path.clone(),
            code: *code,
            reason: reason.clone(),
            message: message.clone(),
        },
        Error::CacheFull {
            cluster,
            resource,
            bytes,
            limit,
        } => Error::CacheFull {
            cluster: cluster.clone(),
            resource: resource.clone(),
            bytes: *bytes,
            limit: *limit,
        },
        other => Error::Watch {
            cluster: other.cluster().unwrap_or_default().to_string(),
            path: String::new(),
            message: other.to_string(),
        },
    }
}

/// A source read through the watch cache.
#[derive(Debug)]
pub struct CachedSource {
    inner: Arc<dyn Source>,
    cache: WatchCache,
}

#[async_trait]
impl Source for CachedSource {
    fn cluster(&self) -> &str {
        self.inner.cluster()
    }

    fn cache_key(&self) -> Option<&str> {
        self.inner.cache_key()
    }

    async fn discover(&self) -> Result<Vec<ResourceInfo>> {
        self.inner.discover().await
    }

    fn list(
        &self,
        resource: &ResourceInfo,
        request: ListRequest,
        stats: Arc<ListStats>,
    ) -> BoxStream<'static, Result<Page>> {
        let Some(entry) = self.cache.entry(&self.inner, resource) else {
            return self.inner.list(resource, request, stats);
        };
        let namespaced = resource.namespaced;
        let cluster = self.inner.cluster().to_string();
        stream::once(async move {
            entry.ready().await?;
            entry.touch();
            // Narrowed by the (namespace, name) key first; the request still checks every
            // object it returns.
            let namespace = request.namespace.as_deref().filter(|_| namespaced);
            let name = request
                .fields
                .requirements
                .iter()
                .find(|r| r.path == "metadata.name" && r.op == FieldOp::Eq)
                .map(|r| r.value.as_str());
            let path = entry.key.to_string();
            let objects = entry
                .snapshot(namespace, name)
                .into_iter()
                .map(move |json| {
                    serde_json::from_slice::<Value>(&json)
                        .map(|object| (object, json.len() as u64))
                        .map_err(|e| Error::Decode {
                            cluster: cluster.clone(),
                            path: path.clone(),
                            message: e.to_string(),
                        })
                });
            // Cached lists make no API request.
            Ok(stream::iter(paginate(
                objects, namespaced, request, stats, false,
            )))
        })
        .try_flatten()
        .boxed()
    }

    fn can_watch(&self) -> bool {
        self.inner.can_watch()
    }

    fn revision(&self, resource: &ResourceInfo) -> Option<u64> {
        self.cache.revision(&self.inner, resource)
    }

    fn watch(
        &self,
        resource: &ResourceInfo,
        options: &WatchOptions,
    ) -> Option<BoxStream<'static, Result<crate::source::WatchEvent>>> {
        self.inner.watch(resource, options)
    }
}

#[cfg(test)]
mod tests;
