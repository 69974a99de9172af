//! A live cluster as a [`Source`]: discovery through the API discovery endpoints and paged LIST
//! requests with retries, 410 recovery and bounded concurrency.

mod discovery;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use futures::stream::{self, BoxStream};
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::Semaphore;

use crate::identity::Identity;
use crate::raw::RawObject;
use crate::source::{ListRequest, ListStats, Page, ResourceInfo, Source, WatchEvent, WatchOptions};
use crate::{Error, Result};

/// How a live source talks to its API server.
#[derive(Debug, Clone)]
pub struct LiveConfig {
    /// Concurrent requests to one cluster.
    pub per_cluster_requests: usize,
    /// Deadline of one request (one page).
    pub request_timeout: Duration,
    /// Retries of a page on 429, 5xx and broken connections.
    pub max_retries: u32,
    /// First retry delay; doubled on each retry, capped at 5 s.
    pub backoff: Duration,
    /// Told of every LIST and discovery response, and of every watch event.
    pub observer: Option<Arc<dyn ApiObserver>>,
    /// The User-Agent of every request, so that API server audit logs and metrics name kubepg.
    pub user_agent: String,
}

/// Receives each response of the LIST and discovery requests kubepg makes, for operators'
/// metrics. `status` is 0 when no response came (connection failure or timeout); `resource` is
/// `plural` or `plural.group`, or `discovery`.
pub trait ApiObserver: Send + Sync + std::fmt::Debug {
    fn response(&self, cluster: &str, resource: &str, status: u16, bytes: u64);

    /// One event of a watch (kube-runtime's watcher, which the watch cache runs): `listed` (an
    /// object of a full list), `applied`, `deleted`, or `error` (a failed request; the watcher
    /// retries).
    fn watch_event(&self, cluster: &str, resource: &str, event: &'static str);
}

/// The resource a request path is about: `/api/v1/namespaces/x/pods` → `pods`,
/// `/apis/apps/v1/deployments` → `deployments.apps`, a group or version document → `discovery`.
pub fn resource_of(path: &str) -> String {
    let path = path.split('?').next().unwrap_or_default();
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let (group, rest) = match segments.as_slice() {
        ["api", _version, rest @ ..] => ("", rest),
        ["apis", group, _version, rest @ ..] => (*group, rest),
        _ => return "discovery".into(),
    };
    let rest = match rest {
        ["namespaces", _ns, rest @ ..] if !rest.is_empty() => rest,
        other => other,
    };
    match rest.first() {
        None => "discovery".into(),
        Some(plural) if group.is_empty() => plural.to_string(),
        Some(plural) => format!("{plural}.{group}"),
    }
}

impl Default for LiveConfig {
    fn default() -> Self {
        Self {
            per_cluster_requests: 8,
            request_timeout: Duration::from_secs(30),
            max_retries: 4,
            backoff: Duration::from_millis(200),
            observer: None,
            user_agent: concat!("kubepg/", env!("CARGO_PKG_VERSION")).to_string(),
        }
    }
}

/// The wait before retry `attempt` (0-based): `backoff` doubled per attempt up to 5 s, a random
/// half of it left out so that sessions retrying together spread out, and never shorter than a
/// `Retry-After` the API server sent.
fn retry_delay(backoff: Duration, attempt: u32, retry_after: Option<Duration>) -> Duration {
    use std::hash::{BuildHasher, Hasher};
    let ceiling = (backoff * 2u32.saturating_pow(attempt)).min(Duration::from_secs(5));
    // A fresh RandomState is randomly keyed: a random number without a dependency for it.
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    let jittered = ceiling.mul_f64(0.5 + (random % 1000) as f64 / 2000.0);
    jittered.max(retry_after.unwrap_or_default())
}

/// One API server reached through a kube-rs client, as kubepg's own identity or, made by
/// [`Source::impersonating`], as another.
#[derive(Clone)]
pub struct LiveSource {
    cluster: String,
    client: kube::Client,
    /// What the client was made from; an impersonating source is made from it again.
    kube_config: Arc<kube::Config>,
    /// `None`: the credentials' own identity.
    identity: Option<Identity>,
    cache_key: String,
    config: LiveConfig,
    /// Shared by every identity of this cluster: the requests in flight to it.
    cluster_permits: Arc<Semaphore>,
    /// Shared by every cluster of a pool: the total number of requests in flight.
    global_permits: Arc<Semaphore>,
}

impl std::fmt::Debug for LiveSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveSource")
            .field("cluster", &self.cluster)
            .field("cache_key", &self.cache_key)
            .field("identity", &self.identity)
            .finish_non_exhaustive()
    }
}

impl LiveSource {
    /// A source for `cluster` with a kube-rs client made from `kube_config` (its cluster URL
    /// identifies the cluster in the on-disk discovery cache).
    pub fn new(
        cluster: impl Into<String>,
        kube_config: kube::Config,
        config: LiveConfig,
        global_permits: Arc<Semaphore>,
    ) -> Result<Self> {
        let cluster = cluster.into();
        let mut kube_config = kube_config;
        let agent = http::HeaderValue::from_str(&config.user_agent)
            .map_err(|e| Error::Kubeconfig(format!("user agent {:?}: {e}", config.user_agent)))?;
        kube_config.headers.push((http::header::USER_AGENT, agent));
        let client = kube::Client::try_from(kube_config.clone())
            .map_err(|e| Error::Kubeconfig(format!("context {cluster}: {e}")))?;
        Ok(Self {
            cache_key: format!("{cluster}@{}", kube_config.cluster_url),
            cluster_permits: Arc::new(Semaphore::new(config.per_cluster_requests.max(1))),
            cluster,
            client,
            kube_config: Arc::new(kube_config),
            identity: None,
            config,
            global_permits,
        })
    }

    /// GET `path`, with permits, timeout and retries; the body on 2xx.
    async fn get(&self, path: &str, stats: Option<&ListStats>) -> Result<bytes::Bytes> {
        let mut attempt = 0;
        loop {
            let (outcome, retry_after) = self.get_once(path).await;
            if let Some(stats) = stats {
                stats.add(&stats.requests, 1);
            }
            let retryable = match &outcome {
                Ok(_) => return outcome,
                Err(Error::Api { code, .. }) => *code == 429 || *code >= 500,
                Err(Error::Transport { .. } | Error::Timeout { .. }) => true,
                Err(_) => false,
            };
            if !retryable || attempt >= self.config.max_retries {
                return outcome;
            }
            let delay = retry_delay(self.config.backoff, attempt, retry_after)
                .min(self.config.request_timeout);
            tracing::debug!(cluster = %self.cluster, path, attempt, ?delay, "retrying");
            if let Some(stats) = stats {
                stats.add(&stats.retries, 1);
            }
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }

    /// One GET, and the delay the API server asked for before the next (`Retry-After`, which
    /// it sends with 429 and 503).
    async fn get_once(&self, path: &str) -> (Result<bytes::Bytes>, Option<Duration>) {
        let _global = self.global_permits.acquire().await;
        let _cluster = self.cluster_permits.acquire().await;
        let request = http::Request::get(path)
            .header(http::header::ACCEPT, "application/json")
            .body(kube::client::Body::empty());
        let request = match request {
            Ok(request) => request,
            Err(e) => return (Err(self.decode_error(path, e.to_string())), None),
        };
        let timeout = self.config.request_timeout;
        let mut retry_after = None;
        let fut = async {
            let response = self
                .client
                .send(request)
                .await
                .map_err(|source| self.transport_error(path, source))?;
            let status = response.status();
            retry_after = response
                .headers()
                .get(http::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            let body = response
                .into_body()
                .collect_bytes()
                .await
                .map_err(|source| self.transport_error(path, source))?;
            self.observe(path, status.as_u16(), body.len() as u64);
            if status.is_success() {
                Ok(body)
            } else {
                Err(self.api_error(path, status.as_u16(), &body))
            }
        };
        let outcome = match tokio::time::timeout(timeout, fut).await {
            Ok(Err(e @ Error::Transport { .. })) => {
                self.observe(path, 0, 0);
                Err(e)
            }
            Ok(r) => r,
            Err(_) => {
                self.observe(path, 0, 0);
                Err(Error::Timeout {
                    cluster: self.cluster.clone(),
                    path: path.to_string(),
                    seconds: timeout.as_secs(),
                })
            }
        };
        (outcome, retry_after)
    }

    fn observe(&self, path: &str, status: u16, bytes: u64) {
        if let Some(observer) = &self.config.observer {
            observer.response(&self.cluster, &resource_of(path), status, bytes);
        }
    }

    fn transport_error(&self, path: &str, source: kube::Error) -> Error {
        Error::Transport {
            cluster: self.cluster.clone(),
            path: path.to_string(),
            source,
        }
    }

    fn decode_error(&self, path: &str, message: String) -> Error {
        Error::Decode {
            cluster: self.cluster.clone(),
            path: path.to_string(),
            message,
        }
    }

    fn api_error(&self, path: &str, code: u16, body: &[u8]) -> Error {
        let status: Option<StatusBody> = serde_json::from_slice(body).ok();
        let (reason, message) = match status {
            Some(s) => (s.reason.unwrap_or_default(), s.message.unwrap_or_default()),
            None => (String::new(), String::from_utf8_lossy(body).into_owned()),
        };
        Error::Api {
            cluster: self.cluster.clone(),
            verb: "get",
            path: path.to_string(),
            code,
            reason,
            message,
        }
    }

    /// GET `path` and decode its JSON body (discovery documents).
    pub(crate) async fn fetch<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T> {
        let body = self.get(path, None).await?;
        serde_json::from_slice(&body).map_err(|e| self.decode_error(path, e.to_string()))
    }
}

#[derive(Deserialize)]
struct StatusBody {
    reason: Option<String>,
    message: Option<String>,
}

#[derive(Deserialize, Default)]
struct ListMeta {
    #[serde(rename = "continue", default)]
    continue_token: Option<String>,
}

#[derive(Deserialize)]
struct ListBody {
    #[serde(default)]
    metadata: ListMeta,
    #[serde(default)]
    items: Vec<Value>,
}

/// Where a paged list stands between two pages.
struct ListState {
    source: LiveSource,
    base_path: String,
    request: ListRequest,
    stats: Arc<ListStats>,
    continue_token: Option<String>,
    emitted: u64,
    done: bool,
    /// The uids returned so far: after a restart of an expired list, none of them repeats.
    returned: HashSet<String>,
    restarted: bool,
    /// A restarted list expired again: the rest comes in one unpaged LIST, which has no
    /// continue token to expire (client-go's pager falls back the same way).
    unpaged: bool,
}

impl ListState {
    fn page_path(&self) -> String {
        let mut query = form_query(&[
            (
                "limit",
                (!self.unpaged).then(|| self.request.page_size.max(1).to_string()),
            ),
            ("continue", self.continue_token.clone()),
            ("labelSelector", self.request.labels.to_query()),
            ("fieldSelector", self.request.fields.to_query()),
        ]);
        query.insert(0, '?');
        format!("{}{query}", self.base_path)
    }

    async fn step(mut self) -> Option<(Result<Page>, ListState)> {
        if self.done {
            return None;
        }
        let path = self.page_path();
        let body = match self.source.get(&path, Some(&self.stats)).await {
            Ok(body) => body,
            Err(Error::Api { code: 410, .. }) if self.continue_token.is_some() => {
                return Some(self.restart_expired(&path).await);
            }
            Err(e) => {
                self.done = true;
                return Some((Err(e), self));
            }
        };
        let page: ListBody = match serde_json::from_slice(&body) {
            Ok(p) => p,
            Err(e) => {
                self.done = true;
                let err = self.source.decode_error(&path, e.to_string());
                return Some((Err(err), self));
            }
        };
        self.stats.add(&self.stats.pages, 1);
        self.stats.add(&self.stats.bytes, body.len() as u64);
        Some(self.accept(page))
    }

    /// The continue token outlived etcd's compaction. Restart the list from the beginning and
    /// drop what was already returned: the caller sees every object once, at a newer version.
    /// A second expiry (a busy cluster compacting faster than the pages come) lists the rest
    /// unpaged instead of restarting forever.
    async fn restart_expired(mut self, path: &str) -> (Result<Page>, ListState) {
        tracing::info!(cluster = %self.source.cluster, path, "continue token expired (410); restarting the list");
        self.stats.add(&self.stats.retries, 1);
        self.unpaged = self.restarted;
        self.restarted = true;
        self.continue_token = None;
        (Ok(Page::default()), self)
    }

    fn accept(mut self, page: ListBody) -> (Result<Page>, ListState) {
        self.continue_token = page.metadata.continue_token.filter(|t| !t.is_empty());
        let mut objects = page.items;
        if self.restarted {
            objects.retain(|o| !self.returned.contains(uid(o)));
        }
        if let Some(limit) = self.request.limit {
            let room = limit.saturating_sub(self.emitted);
            objects.truncate(usize::try_from(room).unwrap_or(usize::MAX));
            if self.emitted + objects.len() as u64 >= limit {
                self.continue_token = None;
            }
        }
        self.returned
            .extend(objects.iter().map(|o| uid(o).to_string()));
        self.emitted += objects.len() as u64;
        self.stats.add(&self.stats.objects, objects.len() as u64);
        self.done = self.continue_token.is_none();
        (Ok(Page { objects }), self)
    }
}

/// A watcher failure as kubepg's error: API statuses keep their code (403 stays "forbidden"
/// for the client), everything else names the watch that failed.
fn watch_error(cluster: &str, path: &str, e: kube::runtime::watcher::Error) -> Error {
    use kube::runtime::watcher::Error as W;
    let api = |verb: &'static str, status: &kube::core::Status| Error::Api {
        cluster: cluster.to_string(),
        verb,
        path: path.to_string(),
        code: status.code,
        reason: status.reason.clone(),
        message: status.message.clone(),
    };
    match &e {
        W::InitialListFailed(kube::Error::Api(status)) => api("list", status),
        W::WatchStartFailed(kube::Error::Api(status))
        | W::WatchFailed(kube::Error::Api(status)) => api("watch", status),
        W::WatchError(status) => api("watch", status),
        _ => Error::Watch {
            cluster: cluster.to_string(),
            path: path.to_string(),
            message: e.to_string(),
        },
    }
}

fn uid(object: &Value) -> &str {
    object["metadata"]["uid"].as_str().unwrap_or_default()
}

fn form_query(pairs: &[(&str, Option<String>)]) -> String {
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        if let Some(v) = v {
            out.append_pair(k, v);
        }
    }
    out.finish()
}

#[async_trait]
impl Source for LiveSource {
    fn cluster(&self) -> &str {
        &self.cluster
    }

    fn cache_key(&self) -> Option<&str> {
        Some(&self.cache_key)
    }

    /// The same cluster, permits and settings, with a client of its own whose every request
    /// impersonates `identity` (replacing any impersonation the kubeconfig itself asks for).
    fn impersonating(&self, identity: &Identity) -> Result<Option<Arc<dyn Source>>> {
        let mut kube_config = (*self.kube_config).clone();
        kube_config.auth_info.impersonate = Some(identity.user.clone());
        kube_config.auth_info.impersonate_groups =
            (!identity.groups.is_empty()).then(|| identity.groups.clone());
        kube_config.auth_info.impersonate_uid = None;
        kube_config.auth_info.impersonate_user_extra = None;
        let client = kube::Client::try_from(kube_config).map_err(|e| {
            Error::Kubeconfig(format!(
                "context {}: impersonating {identity}: {e}",
                self.cluster
            ))
        })?;
        Ok(Some(Arc::new(LiveSource {
            client,
            identity: Some(identity.clone()),
            ..self.clone()
        })))
    }

    async fn discover(&self) -> Result<Vec<ResourceInfo>> {
        discovery::walk(self).await
    }

    fn can_watch(&self) -> bool {
        true
    }

    /// kube-runtime's watcher with its default backoff: it lists in pages, watches from the
    /// list's resourceVersion with bookmarks, lists again on 410 and reconnects after errors.
    /// Its requests are not bounded by the LIST permits: a watch is held open for minutes.
    fn watch(
        &self,
        resource: &ResourceInfo,
        options: &WatchOptions,
    ) -> Option<BoxStream<'static, Result<WatchEvent>>> {
        use kube::runtime::WatchStreamExt;
        use kube::runtime::watcher;

        let api_resource = kube::core::ApiResource {
            group: resource.group.clone(),
            version: resource.version.clone(),
            api_version: resource.api_version(),
            kind: resource.kind.clone(),
            plural: resource.plural.clone(),
        };
        let api: kube::Api<RawObject> = kube::Api::all_with(self.client.clone(), &api_resource);
        let mut config = watcher::Config::default();
        if let Some(t) = options.request_timeout {
            config = config.timeout(u32::try_from(t.as_secs()).unwrap_or(u32::MAX).max(1));
        }
        let cluster = self.cluster.clone();
        let path = resource.list_path(None);
        let observed = resource_of(&path);
        let observer = self.config.observer.clone();
        Some(
            watcher(api, config)
                .default_backoff()
                .inspect(move |r| {
                    let event = match r {
                        Ok(watcher::Event::InitApply(_)) => "listed",
                        Ok(watcher::Event::Apply(_)) => "applied",
                        Ok(watcher::Event::Delete(_)) => "deleted",
                        Ok(watcher::Event::Init | watcher::Event::InitDone) => return,
                        Err(_) => "error",
                    };
                    if let Some(o) = &observer {
                        o.watch_event(&cluster, &observed, event);
                    }
                })
                .map({
                    let cluster = self.cluster.clone();
                    move |r| r.map_err(|e| watch_error(&cluster, &path, e))
                })
                .boxed(),
        )
    }

    fn list(
        &self,
        resource: &ResourceInfo,
        request: ListRequest,
        stats: Arc<ListStats>,
    ) -> BoxStream<'static, Result<Page>> {
        let state = ListState {
            source: self.clone(),
            base_path: resource.list_path(request.namespace.as_deref()),
            request,
            stats,
            continue_token: None,
            emitted: 0,
            done: false,
            returned: HashSet::new(),
            restarted: false,
            unpaged: false,
        };
        stream::unfold(state, ListState::step).boxed()
    }
}

/// The discovery documents a walk reads, decoded leniently: fields kubepg does not use are
/// ignored so that older and newer servers both parse.
mod documents {
    use serde::Deserialize;

    #[derive(Deserialize)]
    pub struct ApiVersions {
        #[serde(default)]
        pub versions: Vec<String>,
    }

    #[derive(Deserialize)]
    pub struct ApiGroupList {
        #[serde(default)]
        pub groups: Vec<ApiGroup>,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct ApiGroup {
        pub name: String,
        pub preferred_version: Option<GroupVersion>,
        #[serde(default)]
        pub versions: Vec<GroupVersion>,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct GroupVersion {
        pub version: String,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct ApiResourceList {
        #[serde(default)]
        pub resources: Vec<ApiResource>,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct ApiResource {
        pub name: String,
        #[serde(default)]
        pub singular_name: String,
        pub namespaced: bool,
        pub kind: String,
        #[serde(default)]
        pub verbs: Vec<String>,
        #[serde(default)]
        pub short_names: Vec<String>,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_request_path_names_its_resource() {
        for (path, resource) in [
            ("/api/v1/pods?limit=500", "pods"),
            ("/api/v1/namespaces/shop/pods", "pods"),
            ("/apis/apps/v1/deployments", "deployments.apps"),
            (
                "/apis/example.com/v1/namespaces/a/widgets",
                "widgets.example.com",
            ),
            ("/api/v1", "discovery"),
            ("/apis/apps/v1", "discovery"),
            ("/apis", "discovery"),
        ] {
            assert_eq!(super::resource_of(path), resource, "{path}");
        }
    }

    #[test]
    fn retries_spread_out_and_wait_at_least_what_the_server_asked() {
        use std::time::Duration;
        let backoff = Duration::from_millis(200);
        let delays: Vec<Duration> = (0..50)
            .map(|_| super::retry_delay(backoff, 2, None))
            .collect();
        assert!(
            delays
                .iter()
                .all(|d| *d >= Duration::from_millis(400) && *d <= Duration::from_millis(800)),
            "{delays:?}"
        );
        assert!(delays.iter().any(|d| *d != delays[0]), "jitter: {delays:?}");
        assert!(super::retry_delay(backoff, 30, None) <= Duration::from_secs(5));
        assert_eq!(
            super::retry_delay(backoff, 0, Some(Duration::from_secs(3))),
            Duration::from_secs(3)
        );
    }
}
