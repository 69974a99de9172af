//! One cached entry: the objects of one resource type in one cluster, kept current by the
//! source's watch, and the task that applies that watch to them.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock, Weak};
use std::time::{Duration, SystemTime};

// tokio's clock, so that idleness follows paused time in tests as it follows real time.
use tokio::time::Instant;

use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use kube::runtime::watcher::Event;
use tokio::sync::{broadcast, watch};
use tokio::task::AbortHandle;

use super::{Change, ChangeKind, ResourceKey, Shared};
use crate::raw::RawObject;
use crate::source::WatchEvent;
use crate::{Error, Result};

/// Objects by (namespace, name): the order a LIST returns them in.
type ObjectKey = (String, String);

/// What the cache holds per object besides its JSON.
#[derive(Debug)]
struct Stored {
    uid: String,
    resource_version: String,
    json: Bytes,
}

impl Stored {
    /// The memory an object holds: its JSON, its key and version strings, and the map entry.
    fn cost(&self, key: &ObjectKey) -> u64 {
        const ENTRY: usize = 96;
        (self.json.len()
            + self.uid.len()
            + self.resource_version.len()
            + key.0.len()
            + key.1.len()
            + ENTRY) as u64
    }
}

/// Where an entry's watch stands.
#[derive(Debug, Clone)]
pub(crate) enum Phase {
    /// The first list is still running; queries wait.
    Syncing,
    /// Synced and following changes.
    Watching,
    /// Synced, but the watch failed and is being restarted with backoff; queries read what the
    /// cache holds.
    Retrying(String),
    /// The entry could not be cached; waiting queries get this error and the entry is gone.
    Failed(Arc<Error>),
}

impl Phase {
    fn name(&self) -> &'static str {
        match self {
            Phase::Syncing => "syncing",
            Phase::Watching => "watching",
            Phase::Retrying(_) => "retrying",
            Phase::Failed(_) => "failed",
        }
    }
}

/// A full list in progress (the first one, or one after a 410): built aside and swapped in
/// whole at `InitDone`, so queries never see half a list.
#[derive(Default)]
struct Relist {
    objects: BTreeMap<ObjectKey, Stored>,
    bytes: u64,
}

#[derive(Debug)]
pub struct CachedResource {
    pub(crate) key: Arc<ResourceKey>,
    objects: RwLock<BTreeMap<ObjectKey, Stored>>,
    /// Bytes held by `objects` plus those of a list in progress.
    bytes: AtomicU64,
    count: AtomicU64,
    phase: watch::Sender<Phase>,
    synced: AtomicBool,
    last_used: Mutex<Instant>,
    last_event: Mutex<Option<SystemTime>>,
    events: broadcast::Sender<Arc<Change>>,
    task: Mutex<Option<AbortHandle>>,
    /// Names the objects' current state (see [`CachedResource::revision`]).
    revision: AtomicU64,
}

/// Revisions are drawn from one counter for all entries, so that an entry dropped and cached
/// again never repeats a revision of its earlier life.
static REVISIONS: AtomicU64 = AtomicU64::new(1);

/// Events a slow subscriber may fall behind by before it misses some (it is told how many).
const EVENT_BUFFER: usize = 1024;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl CachedResource {
    pub(crate) fn new(key: ResourceKey) -> Self {
        Self {
            key: Arc::new(key),
            objects: RwLock::default(),
            bytes: AtomicU64::new(0),
            count: AtomicU64::new(0),
            phase: watch::Sender::new(Phase::Syncing),
            synced: AtomicBool::new(false),
            last_used: Mutex::new(Instant::now()),
            last_event: Mutex::new(None),
            events: broadcast::Sender::new(EVENT_BUFFER),
            task: Mutex::new(None),
            revision: AtomicU64::new(0),
        }
    }

    /// Starts the task applying `events`; it ends when the entry is idle for `idle`, when the
    /// entry cannot be cached, or when the cache drops the entry.
    pub(crate) fn start(
        self: &Arc<Self>,
        shared: Weak<Shared>,
        events: BoxStream<'static, Result<WatchEvent>>,
        idle: Duration,
    ) {
        let task = tokio::spawn(run(self.clone(), shared, events, idle));
        *lock(&self.task) = Some(task.abort_handle());
    }

    /// Stops the watch; queries waiting for the first list get `error`.
    pub(crate) fn stop(&self, error: Option<Error>) {
        if let Some(e) = error {
            self.phase.send_replace(Phase::Failed(Arc::new(e)));
        } else if !self.is_synced() {
            self.phase
                .send_replace(Phase::Failed(Arc::new(Error::Watch {
                    cluster: self.key.cluster.clone(),
                    path: self.key.to_string(),
                    message: "dropped from the watch cache before its first list finished".into(),
                })));
        }
        if let Some(task) = lock(&self.task).take() {
            task.abort();
        }
    }

    /// Marks the entry as used now, which keeps it from going idle and from eviction.
    pub(crate) fn touch(&self) {
        *lock(&self.last_used) = Instant::now();
    }

    pub(crate) fn last_used(&self) -> Instant {
        *lock(&self.last_used)
    }

    pub(crate) fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    pub(crate) fn objects(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    pub(crate) fn is_synced(&self) -> bool {
        self.synced.load(Ordering::Relaxed)
    }

    pub(crate) fn last_event(&self) -> Option<SystemTime> {
        *lock(&self.last_event)
    }

    /// The phase's name and, when it failed or is retrying, why.
    pub(crate) fn phase(&self) -> (&'static str, Option<String>) {
        let phase = self.phase.borrow();
        let detail = match &*phase {
            Phase::Retrying(e) => Some(e.clone()),
            Phase::Failed(e) => Some(e.to_string()),
            Phase::Syncing | Phase::Watching => None,
        };
        (phase.name(), detail)
    }

    /// Equal revisions mean equal objects: whatever was computed from the objects at one
    /// revision holds as long as the revision stays. `None` before the first list is in.
    pub(crate) fn revision(&self) -> Option<u64> {
        self.is_synced()
            .then(|| self.revision.load(Ordering::Acquire))
    }

    /// Called with the objects' write lock held, after they changed, so that a reader that
    /// sees the new revision also sees the new objects.
    fn bump(&self) {
        self.revision
            .store(REVISIONS.fetch_add(1, Ordering::Relaxed), Ordering::Release);
    }

    pub(crate) fn is_subscribed(&self) -> bool {
        self.events.receiver_count() > 0
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Change>> {
        self.events.subscribe()
    }

    /// Waits until the first list is in (or the entry failed).
    pub(crate) async fn ready(&self) -> Result<()> {
        let mut rx = self.phase.subscribe();
        let phase = rx
            .wait_for(|p| !matches!(p, Phase::Syncing))
            .await
            .map(|p| p.clone());
        match phase {
            Ok(Phase::Failed(e)) => Err(super::replay(&e)),
            Ok(_) => Ok(()),
            // The sender lives as long as the entry, which the caller holds.
            Err(_) => Err(Error::Watch {
                cluster: self.key.cluster.clone(),
                path: self.key.to_string(),
                message: "the watch ended".into(),
            }),
        }
    }

    /// The JSON of the objects, as of now, in (namespace, name) order: those of one namespace
    /// (`namespace`, read as a range of the ordered map) and of one name (`name`), or all. A
    /// point lookup parses one object instead of every object of the resource.
    pub(crate) fn snapshot(&self, namespace: Option<&str>, name: Option<&str>) -> Vec<Bytes> {
        let objects = self.objects.read().unwrap_or_else(PoisonError::into_inner);
        let named = |k: &ObjectKey| name.is_none_or(|n| k.1 == n);
        match (namespace, name) {
            (Some(ns), Some(n)) => objects
                .get(&(ns.to_string(), n.to_string()))
                .map(|s| s.json.clone())
                .into_iter()
                .collect(),
            (Some(ns), None) => objects
                .range((ns.to_string(), String::new())..)
                .take_while(|(k, _)| k.0 == ns)
                .map(|(_, s)| s.json.clone())
                .collect(),
            (None, _) => objects
                .iter()
                .filter(|(k, _)| named(k))
                .map(|(_, s)| s.json.clone())
                .collect(),
        }
    }

    /// Applies one watch event; `relist` is the list in progress between `Init` and `InitDone`.
    fn apply(&self, event: WatchEvent, relist: &mut Option<Relist>, shared: &Shared) {
        *lock(&self.last_event) = Some(SystemTime::now());
        match event {
            Event::Init => {
                if let Some(old) = relist.replace(Relist::default()) {
                    self.bytes.fetch_sub(old.bytes, Ordering::Relaxed);
                }
            }
            Event::InitApply(object) => {
                let r = relist.get_or_insert_with(Relist::default);
                let (key, stored) = split(object);
                let cost = stored.cost(&key);
                r.bytes += cost;
                self.bytes.fetch_add(cost, Ordering::Relaxed);
                if let Some(old) = r.objects.insert(key.clone(), stored) {
                    let old_cost = old.cost(&key);
                    r.bytes -= old_cost;
                    self.bytes.fetch_sub(old_cost, Ordering::Relaxed);
                }
            }
            Event::InitDone => self.replace(relist.take().unwrap_or_default(), shared),
            Event::Apply(object) => {
                let (key, stored) = split(object);
                let mut objects = self.objects.write().unwrap_or_else(PoisonError::into_inner);
                let added = stored.cost(&key);
                let kind = match objects.get(&key) {
                    // The same version again (a watch restarted from an older point): no change.
                    Some(old) if old.resource_version == stored.resource_version => None,
                    Some(old) => Some(self.change(ChangeKind::Modified, &key, &stored, Some(old))),
                    None => Some(self.change(ChangeKind::Added, &key, &stored, None)),
                };
                if let Some(old) = objects.insert(key.clone(), stored) {
                    self.bytes.fetch_sub(old.cost(&key), Ordering::Relaxed);
                } else {
                    self.count.fetch_add(1, Ordering::Relaxed);
                }
                self.bytes.fetch_add(added, Ordering::Relaxed);
                if kind.is_some() {
                    self.bump();
                }
                drop(objects);
                if let Some(c) = kind {
                    self.publish(c, shared);
                }
            }
            Event::Delete(object) => {
                let (key, stored) = split(object);
                let mut objects = self.objects.write().unwrap_or_else(PoisonError::into_inner);
                if let Some(old) = objects.remove(&key) {
                    self.bytes.fetch_sub(old.cost(&key), Ordering::Relaxed);
                    self.count.fetch_sub(1, Ordering::Relaxed);
                    self.bump();
                }
                drop(objects);
                let change = self.change(ChangeKind::Deleted, &key, &stored, None);
                self.publish(change, shared);
            }
        }
    }

    /// Swaps in a finished list. After the first one, what differs from the objects it replaces
    /// are changes the watch missed (while reconnecting, or before a 410), published as such.
    fn replace(&self, list: Relist, shared: &Shared) {
        let mut objects = self.objects.write().unwrap_or_else(PoisonError::into_inner);
        let old = std::mem::replace(&mut *objects, list.objects);
        let old_bytes: u64 = old.iter().map(|(k, s)| s.cost(k)).sum();
        self.bytes.fetch_sub(old_bytes, Ordering::Relaxed);
        self.count.store(objects.len() as u64, Ordering::Relaxed);
        let mut missed = Vec::new();
        if self.is_synced() {
            for (key, stored) in objects.iter() {
                match old.get(key) {
                    Some(o) if o.resource_version == stored.resource_version => {}
                    Some(o) => missed.push(self.change(ChangeKind::Modified, key, stored, Some(o))),
                    None => missed.push(self.change(ChangeKind::Added, key, stored, None)),
                }
            }
            for (key, stored) in &old {
                if !objects.contains_key(key) {
                    missed.push(self.change(ChangeKind::Deleted, key, stored, None));
                }
            }
        }
        self.bump();
        drop(objects);
        for change in missed {
            self.publish(change, shared);
        }
        self.synced.store(true, Ordering::Relaxed);
        self.phase.send_replace(Phase::Watching);
    }

    fn change(
        &self,
        kind: ChangeKind,
        key: &ObjectKey,
        stored: &Stored,
        previous: Option<&Stored>,
    ) -> Change {
        Change {
            time: SystemTime::now(),
            key: self.key.clone(),
            kind,
            namespace: key.0.clone(),
            name: key.1.clone(),
            uid: stored.uid.clone(),
            resource_version: stored.resource_version.clone(),
            object: stored.json.clone(),
            previous: previous.map(|p| p.json.clone()),
        }
    }

    fn publish(&self, change: Change, shared: &Shared) {
        let change = Arc::new(change);
        // No subscriber is not an error: the change log below still has it. The log keeps no
        // previous versions: they would be memory outside the cache's bound.
        let _ = self.events.send(change.clone());
        shared.record(Arc::new(Change {
            previous: None,
            ..(*change).clone()
        }));
    }
}

fn split(object: RawObject) -> (ObjectKey, Stored) {
    let key = (object.namespace().to_string(), object.name().to_string());
    let stored = Stored {
        uid: object.uid().to_string(),
        resource_version: object.resource_version().to_string(),
        json: object.into_json(),
    };
    (key, stored)
}

/// The task behind one entry: applies the watch, keeps the cache within its memory bound, and
/// ends the entry once no list has read it for `idle`.
async fn run(
    entry: Arc<CachedResource>,
    shared: Weak<Shared>,
    mut events: BoxStream<'static, Result<WatchEvent>>,
    idle: Duration,
) {
    let mut relist = None;
    loop {
        // Idleness counts from the first list on: a long first list is not idle time.
        let since = if entry.is_synced() {
            entry.last_used()
        } else {
            Instant::now()
        };
        let deadline = since + idle;
        tokio::select! {
            item = events.next() => {
                let Some(shared) = shared.upgrade() else { return };
                match item {
                    Some(Ok(event)) => {
                        entry.apply(event, &mut relist, &shared);
                        if matches!(*entry.phase.borrow(), Phase::Retrying(_)) {
                            entry.phase.send_replace(Phase::Watching);
                        }
                        if !shared.enforce_limit(&entry) {
                            return;
                        }
                    }
                    // Before the first list is in, a failure is the answer to the waiting
                    // list (forbidden, not found, unreachable); the next list starts over.
                    Some(Err(e)) if !entry.is_synced() => {
                        tracing::warn!(entry = %entry.key, error = %e, "watch cache: first list failed");
                        shared.remove(&entry);
                        entry.stop(Some(e));
                        return;
                    }
                    Some(Err(e)) => {
                        tracing::info!(entry = %entry.key, error = %e, "watch cache: watch failed; retrying");
                        entry.phase.send_replace(Phase::Retrying(e.to_string()));
                    }
                    None => {
                        shared.remove(&entry);
                        entry.stop(None);
                        return;
                    }
                }
            }
            _ = tokio::time::sleep_until(deadline) => {
                // A subscriber (a LISTENing session) keeps the entry in use.
                if entry.is_subscribed() {
                    entry.touch();
                } else if entry.is_synced() && entry.last_used().elapsed() >= idle {
                    tracing::info!(entry = %entry.key, "watch cache: idle; stopping the watch");
                    if let Some(shared) = shared.upgrade() {
                        shared.remove(&entry);
                    }
                    return;
                }
            }
        }
    }
}
