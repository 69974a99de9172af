//! The watch cache: per (cluster, resource type), the objects kept current by the source's
//! watch, shared by every session of a server.
//!
//! A table is started by the first query that reads it in `cached` consistency (that query waits
//! for the first list), and stopped after it has been idle for a while. Objects are held as the
//! JSON bytes the server sent ([`RawObject`]), not as parsed trees; the bytes of all tables are
//! bounded by [`WatchConfig::memory_limit`], and the least recently used tables are dropped to
//! stay under it. Every change a watch applies is published on the table's broadcast channel
//! ([`WatchCache::subscribe`]) and kept in a change log bounded by count and age
//! ([`WatchCache::changes`]).
//!
//! [`CachedSource`] is how the rest of kubepg reads the cache: a [`Source`] whose lists are
//! answered from it, with selectors evaluated the way the API server evaluates them. A source
//! that cannot watch (a snapshot) is its own cache.

mod raw;
mod table;

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

pub use raw::RawObject;
pub use table::CachedTable;

use crate::selector::FieldOp;
use crate::source::{ListRequest, ListStats, Page, ResourceInfo, Source, WatchOptions};
use crate::{Error, Result};

/// How much the cache holds and for how long.
#[derive(Debug, Clone)]
pub struct WatchConfig {
    /// Bytes of cached objects across all tables; least recently used tables are dropped to
    /// stay under it.
    pub memory_limit: u64,
    /// A table no query has read for this long stops watching and is dropped.
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

/// Which table: a resource type (by group and plural) of one cluster.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TableKey {
    pub cluster: String,
    /// Empty for the core group.
    pub group: String,
    pub plural: String,
}

impl TableKey {
    pub fn of(source: &dyn Source, resource: &ResourceInfo) -> Self {
        Self {
            cluster: source.cluster().to_string(),
            group: resource.group.clone(),
            plural: resource.plural.clone(),
        }
    }
}

impl fmt::Display for TableKey {
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

/// One change a watch applied to a cached table.
#[derive(Debug, Clone)]
pub struct Change {
    /// When the cache applied it.
    pub time: SystemTime,
    pub table: Arc<TableKey>,
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

/// One cached table as `kubepg.tables` shows it.
#[derive(Debug, Clone)]
pub struct TableStatus {
    pub key: TableKey,
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
    tables: Mutex<HashMap<TableKey, Arc<CachedTable>>>,
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
                tables: Mutex::default(),
                changes: Mutex::default(),
            }),
        }
    }

    pub fn config(&self) -> &WatchConfig {
        &self.shared.config
    }

    /// `source` read through this cache: lists are answered from cached tables, started on
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

    /// The cached table of `resource` in `source`'s cluster, started (not yet synced) when it
    /// is not cached yet; `None` when the source cannot watch.
    pub fn table(
        &self,
        source: &Arc<dyn Source>,
        resource: &ResourceInfo,
    ) -> Option<Arc<CachedTable>> {
        let key = TableKey::of(source.as_ref(), resource);
        let mut tables = lock(&self.shared.tables);
        if let Some(t) = tables.get(&key) {
            t.touch();
            return Some(t.clone());
        }
        let events = source.watch(resource, &self.shared.config.options)?;
        tracing::info!(table = %key, "watch cache: starting");
        let table = Arc::new(CachedTable::new(key.clone()));
        table.start(
            Arc::downgrade(&self.shared),
            events,
            self.shared.config.idle,
        );
        tables.insert(key, table.clone());
        Some(table)
    }

    /// The changes of one table from now on, once its first list is in (starting its watch if
    /// needed); the first list's failure (forbidden, not found) is the answer. `Ok(None)` when
    /// the source cannot watch. A receiver that falls more than a thousand changes behind
    /// misses the oldest (and is told how many); it never holds anyone else up. The receiver
    /// closes when the table leaves the cache.
    pub async fn subscribe(
        &self,
        source: &Arc<dyn Source>,
        resource: &ResourceInfo,
    ) -> Result<Option<broadcast::Receiver<Arc<Change>>>> {
        let Some(table) = self.table(source, resource) else {
            return Ok(None);
        };
        let receiver = table.subscribe();
        table.ready().await?;
        Ok(Some(receiver))
    }

    /// The revision of `resource`'s cached table in `source`'s cluster (see
    /// [`Source::revision`]); `None` when it is not cached or not synced. Starts nothing.
    pub fn revision(&self, source: &Arc<dyn Source>, resource: &ResourceInfo) -> Option<u64> {
        let key = TableKey::of(source.as_ref(), resource);
        lock(&self.shared.tables)
            .get(&key)
            .and_then(|t| t.revision())
    }

    /// Every cached table, in (cluster, group, plural) order.
    pub fn tables(&self) -> Vec<TableStatus> {
        let tables: Vec<Arc<CachedTable>> = lock(&self.shared.tables).values().cloned().collect();
        let mut out: Vec<TableStatus> = tables
            .iter()
            .map(|t| {
                let (state, error) = t.phase();
                TableStatus {
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

    /// Drops `table` from the cache, unless another table has already taken its place.
    fn remove(&self, table: &Arc<CachedTable>) {
        let mut tables = lock(&self.tables);
        if tables
            .get(&table.key)
            .is_some_and(|t| Arc::ptr_eq(t, table))
        {
            tables.remove(&table.key);
        }
    }

    /// Drops the least recently used synced tables until the cache is within its bound; false
    /// when `current` alone is over it and must stop (its waiting queries get the reason).
    fn enforce_limit(&self, current: &Arc<CachedTable>) -> bool {
        let limit = self.config.memory_limit;
        let mut tables = lock(&self.tables);
        loop {
            let total: u64 = tables.values().map(|t| t.bytes()).sum();
            if total <= limit {
                return true;
            }
            let victim = tables
                .values()
                .filter(|t| !Arc::ptr_eq(t, current) && t.is_synced())
                // Tables someone LISTENs to go last: dropping one ends its notifications.
                .min_by_key(|t| (t.is_subscribed(), t.last_used()))
                .cloned();
            match victim {
                Some(v) => {
                    tracing::info!(table = %v.key, bytes = v.bytes(), limit, "watch cache: over its memory bound; dropping the least recently used table");
                    tables.remove(&v.key);
                    v.stop(None);
                }
                None if current.bytes() > limit => {
                    tracing::warn!(table = %current.key, bytes = current.bytes(), limit, "watch cache: a table alone exceeds the memory bound");
                    if tables
                        .get(&current.key)
                        .is_some_and(|t| Arc::ptr_eq(t, current))
                    {
                        tables.remove(&current.key);
                    }
                    drop(tables);
                    current.stop(Some(Error::CacheFull {
                        cluster: current.key.cluster.clone(),
                        table: current.key.to_string(),
                        bytes: current.bytes(),
                        limit,
                    }));
                    return false;
                }
                // Only tables still in their first list are left; they finish or fail on
                // their own.
                None => return true,
            }
        }
    }
}

/// A copy of an error the cache stored for every query waiting on a table. The watch path
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
            table,
            bytes,
            limit,
        } => Error::CacheFull {
            cluster: cluster.clone(),
            table: table.clone(),
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
        let Some(table) = self.cache.table(&self.inner, resource) else {
            return self.inner.list(resource, request, stats);
        };
        let namespaced = resource.namespaced;
        let cluster = self.inner.cluster().to_string();
        stream::once(async move {
            table.ready().await?;
            table.touch();
            // Narrowed by the (namespace, name) key first; the request still checks every
            // object it returns.
            let namespace = request.namespace.as_deref().filter(|_| namespaced);
            let name = request
                .fields
                .requirements
                .iter()
                .find(|r| r.path == "metadata.name" && r.op == FieldOp::Eq)
                .map(|r| r.value.as_str());
            let objects = table.snapshot(namespace, name);
            let pages = CachedPages {
                objects: objects.into_iter(),
                namespaced,
                page_size: match request.page_size {
                    0 => 500,
                    n => n as usize,
                },
                request,
                stats,
                cluster,
                path: table.key.to_string(),
                emitted: 0,
            };
            Ok(stream::iter(pages))
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

/// A list answered from a cached table's snapshot: each object parsed as its page is made,
/// and kept when the request selects it.
struct CachedPages {
    objects: std::vec::IntoIter<Bytes>,
    namespaced: bool,
    page_size: usize,
    request: ListRequest,
    stats: Arc<ListStats>,
    cluster: String,
    path: String,
    emitted: u64,
}

impl Iterator for CachedPages {
    type Item = Result<Page>;

    fn next(&mut self) -> Option<Result<Page>> {
        let want = self.request.next_page_len(self.emitted, self.page_size);
        if want == 0 {
            return None;
        }
        let mut objects = Vec::new();
        let mut bytes = 0;
        while objects.len() < want {
            let Some(json) = self.objects.next() else {
                break;
            };
            let object: Value = match serde_json::from_slice(&json) {
                Ok(v) => v,
                Err(e) => {
                    return Some(Err(Error::Decode {
                        cluster: self.cluster.clone(),
                        path: self.path.clone(),
                        message: e.to_string(),
                    }));
                }
            };
            if self.request.selects(self.namespaced, &object) {
                bytes += json.len() as u64;
                objects.push(object);
            }
        }
        if objects.is_empty() {
            return None;
        }
        self.emitted += objects.len() as u64;
        self.stats.add(&self.stats.pages, 1);
        self.stats.add(&self.stats.objects, objects.len() as u64);
        self.stats.add(&self.stats.bytes, bytes);
        Some(Ok(Page { objects }))
    }
}

#[cfg(test)]
mod tests;
