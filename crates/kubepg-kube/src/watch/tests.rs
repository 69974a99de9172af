//! The cache over a synthetic watch: what queries read and what the change log holds after
//! lists, changes, relists, failures and memory pressure.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use kube::runtime::watcher::Event;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::*;
use crate::selector::LabelSelector;
use crate::source::WatchEvent;

type Feed = mpsc::UnboundedSender<Result<WatchEvent>>;

/// A cluster whose watches are fed by the test, one feed per resource plural.
#[derive(Debug, Default)]
struct Fake {
    feeds: Mutex<HashMap<String, mpsc::UnboundedReceiver<Result<WatchEvent>>>>,
}

impl Fake {
    fn feed(&self, plural: &str) -> Feed {
        let (tx, rx) = mpsc::unbounded_channel();
        self.feeds.lock().unwrap().insert(plural.into(), rx);
        tx
    }
}

#[async_trait]
impl Source for Fake {
    fn cluster(&self) -> &str {
        "fake"
    }

    async fn discover(&self) -> Result<Vec<ResourceInfo>> {
        Ok(vec![])
    }

    fn list(
        &self,
        _: &ResourceInfo,
        _: ListRequest,
        _: Arc<ListStats>,
    ) -> BoxStream<'static, Result<Page>> {
        panic!("a cached source must not list")
    }

    fn can_watch(&self) -> bool {
        true
    }

    fn watch(
        &self,
        resource: &ResourceInfo,
        _: &WatchOptions,
    ) -> Option<BoxStream<'static, Result<WatchEvent>>> {
        let rx = self.feeds.lock().unwrap().remove(&resource.plural)?;
        Some(
            futures::stream::unfold(rx, |mut rx| async { rx.recv().await.map(|x| (x, rx)) })
                .boxed(),
        )
    }
}

fn resource(plural: &str) -> ResourceInfo {
    ResourceInfo {
        group: String::new(),
        version: "v1".into(),
        kind: "Pod".into(),
        plural: plural.into(),
        singular: String::new(),
        short_names: vec![],
        namespaced: true,
        verbs: vec!["list".into(), "watch".into()],
        crd: None,
    }
}

fn pod(name: &str, rv: &str, app: &str) -> RawObject {
    let json = json!({"metadata": {"name": name, "namespace": "ns", "uid": format!("uid-{name}"),
        "resourceVersion": rv, "labels": {"app": app}}});
    RawObject::from_json(Bytes::from(json.to_string())).unwrap()
}

fn initial(feed: &Feed, objects: Vec<RawObject>) {
    feed.send(Ok(Event::Init)).unwrap();
    for o in objects {
        feed.send(Ok(Event::InitApply(o))).unwrap();
    }
    feed.send(Ok(Event::InitDone)).unwrap();
}

async fn names(source: &Arc<dyn Source>, plural: &str, labels: &str) -> Result<Vec<String>> {
    let request = ListRequest {
        labels: LabelSelector::parse(labels).unwrap(),
        ..ListRequest::default()
    };
    let pages: Vec<Page> = source
        .list(&resource(plural), request, Arc::default())
        .try_collect()
        .await?;
    Ok(pages
        .into_iter()
        .flat_map(|p| p.objects)
        .map(|o: Value| o["metadata"]["name"].as_str().unwrap().to_string())
        .collect())
}

fn changes(cache: &WatchCache) -> Vec<(&'static str, String, String)> {
    cache
        .changes()
        .iter()
        .map(|c| (c.kind.as_str(), c.name.clone(), c.resource_version.clone()))
        .collect()
}

/// Waits until the cache has applied what was fed (the task runs concurrently).
async fn settle<F: Fn() -> bool>(done: F) {
    for _ in 0..500 {
        if done() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    panic!("the cache never caught up");
}

#[tokio::test(start_paused = true)]
async fn a_cached_list_selects_like_the_server_and_follows_changes() {
    let fake = Arc::new(Fake::default());
    let feed = fake.feed("pods");
    initial(&feed, vec![pod("a", "1", "web"), pod("b", "2", "db")]);
    let cache = WatchCache::new(WatchConfig::default());
    let source = cache.cached(fake.clone());

    assert_eq!(names(&source, "pods", "").await.unwrap(), ["a", "b"]);
    assert_eq!(names(&source, "pods", "app=web").await.unwrap(), ["a"]);
    assert!(changes(&cache).is_empty(), "the first list is not a change");

    feed.send(Ok(Event::Apply(pod("c", "3", "web")))).unwrap();
    feed.send(Ok(Event::Apply(pod("a", "4", "db")))).unwrap();
    feed.send(Ok(Event::Delete(pod("b", "5", "db")))).unwrap();
    settle(|| cache.changes().len() == 3).await;
    assert_eq!(names(&source, "pods", "app=db").await.unwrap(), ["a"]);
    assert_eq!(names(&source, "pods", "").await.unwrap(), ["a", "c"]);
    assert_eq!(
        changes(&cache),
        [
            ("ADDED", "c".into(), "3".into()),
            ("MODIFIED", "a".into(), "4".into()),
            ("DELETED", "b".into(), "5".into())
        ]
    );
    let status = &cache.entries()[0];
    assert_eq!(
        (status.state, status.objects, status.synced),
        ("watching", 2, true)
    );
}

#[tokio::test(start_paused = true)]
async fn a_relist_after_410_publishes_what_the_watch_missed() {
    let fake = Arc::new(Fake::default());
    let feed = fake.feed("pods");
    initial(&feed, vec![pod("a", "1", "web"), pod("b", "2", "web")]);
    let cache = WatchCache::new(WatchConfig::default());
    let source = cache.cached(fake.clone());
    assert_eq!(names(&source, "pods", "").await.unwrap(), ["a", "b"]);

    feed.send(Err(Error::Api {
        cluster: "fake".into(),
        verb: "watch",
        path: "/api/v1/pods".into(),
        code: 410,
        reason: "Expired".into(),
        message: "too old resource version".into(),
    }))
    .unwrap();
    settle(|| cache.entries()[0].state == "retrying").await;
    // Still served from what the cache holds while the watch recovers.
    assert_eq!(names(&source, "pods", "").await.unwrap(), ["a", "b"]);

    initial(&feed, vec![pod("a", "7", "web"), pod("c", "8", "web")]);
    settle(|| cache.changes().len() == 3).await;
    assert_eq!(names(&source, "pods", "").await.unwrap(), ["a", "c"]);
    assert_eq!(
        changes(&cache),
        [
            ("MODIFIED", "a".into(), "7".into()),
            ("ADDED", "c".into(), "8".into()),
            ("DELETED", "b".into(), "2".into())
        ]
    );
    assert_eq!(cache.entries()[0].state, "watching");
}

#[tokio::test(start_paused = true)]
async fn a_failed_first_list_is_the_waiting_lists_error_and_the_next_list_starts_over() {
    let fake = Arc::new(Fake::default());
    let feed = fake.feed("pods");
    let cache = WatchCache::new(WatchConfig::default());
    let source = cache.cached(fake.clone());
    feed.send(Err(Error::Api {
        cluster: "fake".into(),
        verb: "list",
        path: "/api/v1/pods".into(),
        code: 403,
        reason: "Forbidden".into(),
        message: "pods is forbidden".into(),
    }))
    .unwrap();
    let err = names(&source, "pods", "").await.unwrap_err();
    assert_eq!(err.status(), Some(403), "{err}");
    settle(|| cache.entries().is_empty()).await;

    let feed = fake.feed("pods");
    initial(&feed, vec![pod("a", "1", "web")]);
    assert_eq!(names(&source, "pods", "").await.unwrap(), ["a"]);
}

#[tokio::test(start_paused = true)]
async fn the_least_recently_used_resource_is_dropped_to_stay_within_the_bound() {
    let fake = Arc::new(Fake::default());
    let one = pod("a", "1", "web");
    let cost = one.json().len() as u64;
    // Room for two entries of one object each, not three.
    let cache = WatchCache::new(WatchConfig {
        memory_limit: cost * 2 + 400,
        ..WatchConfig::default()
    });
    let source = cache.cached(fake.clone());
    // Each feed outlives its query: an entry ends with its stream.
    let mut feeds = Vec::new();
    for plural in ["first", "second", "third"] {
        let feed = fake.feed(plural);
        initial(&feed, vec![pod("a", "1", "web")]);
        assert_eq!(names(&source, plural, "").await.unwrap(), ["a"]);
        feeds.push(feed);
        // Paused time stands still: without a step every entry was used at the same instant and
        // the victim would be whichever the map yields first.
        tokio::time::advance(std::time::Duration::from_millis(1)).await;
    }
    let left: Vec<String> = cache.entries().into_iter().map(|t| t.key.plural).collect();
    assert_eq!(left, ["second", "third"]);
    let bytes: u64 = cache.entries().iter().map(|t| t.bytes).sum();
    assert!(bytes <= cache.config().memory_limit);
}

#[tokio::test(start_paused = true)]
async fn a_resource_larger_than_the_bound_fails_its_list_with_the_reason() {
    let fake = Arc::new(Fake::default());
    let feed = fake.feed("pods");
    initial(&feed, vec![pod("a", "1", "web"), pod("b", "2", "web")]);
    let cache = WatchCache::new(WatchConfig {
        memory_limit: 10,
        ..WatchConfig::default()
    });
    let source = cache.cached(fake.clone());
    let err = names(&source, "pods", "").await.unwrap_err();
    assert!(matches!(err, Error::CacheFull { limit: 10, .. }), "{err}");
    assert!(cache.entries().is_empty());
}

#[tokio::test(start_paused = true)]
async fn an_idle_resource_stops_unless_someone_subscribes_to_it() {
    let fake = Arc::new(Fake::default());
    let cache = WatchCache::new(WatchConfig {
        idle: std::time::Duration::from_millis(50),
        ..WatchConfig::default()
    });
    let source = cache.cached(fake.clone());
    let watched: Arc<dyn Source> = fake.clone();
    let (idle, listened) = (fake.feed("idle"), fake.feed("listened"));
    initial(&idle, vec![pod("a", "1", "web")]);
    initial(&listened, vec![pod("a", "1", "web")]);
    assert_eq!(names(&source, "idle", "").await.unwrap(), ["a"]);
    let mut changes = cache
        .subscribe(&watched, &resource("listened"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(names(&source, "listened", "").await.unwrap(), ["a"]);

    settle(|| cache.entries().len() == 1).await;
    assert_eq!(cache.entries()[0].key.plural, "listened");
    listened
        .send(Ok(Event::Apply(pod("b", "2", "web"))))
        .unwrap();
    let change = changes.recv().await.unwrap();
    assert_eq!(
        (change.kind, change.name.as_str()),
        (ChangeKind::Added, "b")
    );
}
