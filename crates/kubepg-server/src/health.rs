//! The operations listener: `/healthz` (the process serves), `/readyz` (some cluster in the
//! default scope answers discovery), and `/metrics` in Prometheus text format: connections,
//! statements, API responses and bytes by cluster and resource, and the watch cache's tables.
//!
//! Probes must be answered while the PostgreSQL side is saturated: the listener runs on its
//! own thread and runtime, answers within a second (503 past it, or when more requests than
//! it works on at once arrive), and bounds its connections and how long a scraper may hold one.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use kubepg_sql::{Engine, Readiness};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tower::limit::GlobalConcurrencyLimitLayer;
use tower::load_shed::error::Overloaded;
use tower::{BoxError, ServiceBuilder};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    /// `ok`, or the SQLSTATE the statement failed with.
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WatchLabels {
    pub cluster: String,
    pub resource: String,
    pub event: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ApiLabels {
    pub cluster: String,
    /// `plural`, `plural.group` or `discovery`.
    pub resource: String,
    /// The HTTP status, or `0` when no response came.
    pub code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResourceLabels {
    pub cluster: String,
    pub resource: String,
}

/// The API responses kubepg's LIST and discovery requests got; the pool's live sources report
/// to it.
#[derive(Debug, Default)]
pub struct ApiMetrics {
    responses: Family<ApiLabels, Counter>,
    bytes: Family<ResourceLabels, Counter>,
    watch_events: Family<WatchLabels, Counter>,
}

impl kubepg_sql::observe::ApiObserver for ApiMetrics {
    fn response(&self, cluster: &str, resource: &str, status: u16, bytes: u64) {
        self.responses
            .get_or_create(&ApiLabels {
                cluster: cluster.into(),
                resource: resource.into(),
                code: status.to_string(),
            })
            .inc();
        self.bytes
            .get_or_create(&ResourceLabels {
                cluster: cluster.into(),
                resource: resource.into(),
            })
            .inc_by(bytes);
    }

    fn watch_event(&self, cluster: &str, resource: &str, event: &'static str) {
        self.watch_events
            .get_or_create(&WatchLabels {
                cluster: cluster.into(),
                resource: resource.into(),
                event: event.into(),
            })
            .inc();
    }
}

/// What the server counts.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    pub connections: Counter,
    pub active_connections: Gauge,
    pub refused_connections: Counter,
    pub statements: Family<OutcomeLabels, Counter>,
    pub statement_seconds: Histogram,
    /// NOTIFY messages sent to LISTENing clients.
    pub notifications: Counter,
    /// Changes a LISTENing client did not get: its queue was full, or it fell behind the watch.
    pub notifications_dropped: Counter,
    api: Arc<ApiMetrics>,
    cache_objects: Family<ResourceLabels, Gauge>,
    cache_bytes: Family<ResourceLabels, Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("kubepg");
        let connections = Counter::default();
        let active_connections = Gauge::default();
        let refused_connections = Counter::default();
        let statements = Family::<OutcomeLabels, Counter>::default();
        let statement_seconds = Histogram::new([
            0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
        ]);
        registry.register(
            "connections",
            "PostgreSQL connections accepted",
            connections.clone(),
        );
        registry.register(
            "active_connections",
            "PostgreSQL connections open now",
            active_connections.clone(),
        );
        registry.register(
            "refused_connections",
            "Connections refused past the connection limit",
            refused_connections.clone(),
        );
        registry.register(
            "statements",
            "Statements executed, by outcome (ok or SQLSTATE)",
            statements.clone(),
        );
        registry.register(
            "statement_duration_seconds",
            "Time to execute a statement",
            statement_seconds.clone(),
        );
        let notifications = Counter::default();
        let notifications_dropped = Counter::default();
        registry.register(
            "notifications",
            "Notifications sent to LISTENing clients",
            notifications.clone(),
        );
        registry.register(
            "notifications_dropped",
            "Changes a LISTENing client missed because it fell behind",
            notifications_dropped.clone(),
        );
        let api = Arc::new(ApiMetrics::default());
        registry.register(
            "api_responses",
            "Kubernetes API responses to LIST and discovery requests, by cluster, resource and HTTP status (0: none)",
            api.responses.clone(),
        );
        registry.register(
            "watch_events",
            "Kubernetes watch events, by cluster, resource and event (listed, applied, deleted, error)",
            api.watch_events.clone(),
        );
        registry.register(
            "api_response_bytes",
            "Bytes of Kubernetes API response bodies, by cluster and resource",
            api.bytes.clone(),
        );
        let cache_objects = Family::<ResourceLabels, Gauge>::default();
        let cache_bytes = Family::<ResourceLabels, Gauge>::default();
        registry.register(
            "watch_cache_objects",
            "Objects held by the watch cache, by cluster and resource",
            cache_objects.clone(),
        );
        registry.register(
            "watch_cache_bytes",
            "Bytes held by the watch cache, by cluster and resource",
            cache_bytes.clone(),
        );
        Self {
            registry,
            connections,
            active_connections,
            refused_connections,
            statements,
            statement_seconds,
            notifications,
            notifications_dropped,
            api,
            cache_objects,
            cache_bytes,
        }
    }
}

impl kubepg_sql::observe::EngineObserver for Metrics {
    fn notifications_dropped(&self, n: u64) {
        self.notifications_dropped.inc_by(n);
    }
}

impl Metrics {
    pub fn record_statement(&self, outcome: &str, seconds: f64) {
        self.statements
            .get_or_create(&OutcomeLabels {
                outcome: outcome.to_string(),
            })
            .inc();
        self.statement_seconds.observe(seconds);
    }

    /// Where the cluster pool's live sources report API responses.
    pub fn api(&self) -> Arc<ApiMetrics> {
        self.api.clone()
    }

    fn encode(&self, engine: &Engine) -> String {
        // Tables come and go (idle stop, eviction): the gauges show the cache as it is now.
        self.cache_objects.clear();
        self.cache_bytes.clear();
        for entry in engine.cache_entries() {
            let labels = ResourceLabels {
                cluster: entry.cluster,
                resource: entry.resource,
            };
            self.cache_objects
                .get_or_create(&labels)
                .set(entry.objects as i64);
            self.cache_bytes
                .get_or_create(&labels)
                .set(entry.bytes as i64);
        }
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// Requests the listener works on at once; more are answered 503 at once instead of queueing.
const MAX_REQUESTS: usize = 8;
/// Connections the listener keeps open; more are closed as they arrive.
const MAX_CONNECTIONS: usize = 128;
/// Every answer comes within this (a Kubernetes probe's default timeout), if only a 503.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(1);
/// A slow or silent scraper: its request headers must arrive within this, and no connection
/// stays open longer than its lifetime.
const HEADER_TIMEOUT: Duration = Duration::from_secs(2);
const CONNECTION_LIFETIME: Duration = Duration::from_secs(30);
/// How often readiness is checked in the background; `/readyz` answers the latest check, and
/// this until the first one is done.
const READINESS_EVERY: Duration = Duration::from_secs(5);
pub const NOT_CHECKED: &str = "not ready: the clusters are being checked\n";

/// Serves the operations endpoints on a thread and runtime of their own, so that probes are
/// answered while statements keep every worker of the main runtime busy, until `shutdown`
/// turns true.
pub fn spawn(
    listener: TcpListener,
    engine: Engine,
    metrics: Arc<Metrics>,
    shutdown: watch::Receiver<bool>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    let listener = listener.into_std()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    std::thread::Builder::new()
        .name("kubepg-health".into())
        .spawn(move || runtime.block_on(serve(listener, engine, metrics, shutdown)))
}

type Answer = Response<Full<Bytes>>;

async fn serve(
    listener: std::net::TcpListener,
    engine: Engine,
    metrics: Arc<Metrics>,
    mut shutdown: watch::Receiver<bool>,
) {
    let listener = match TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(error = %e, "health listener could not start");
            return;
        }
    };
    let (readiness, latest) = watch::channel(None);
    tokio::spawn(check_readiness(engine.clone(), readiness));
    let requests = GlobalConcurrencyLimitLayer::new(MAX_REQUESTS);
    let connections = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!(error = %e, "health listener accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => return,
        };
        let Ok(open) = connections.clone().try_acquire_owned() else {
            continue;
        };
        let (engine, metrics, latest) = (engine.clone(), metrics.clone(), latest.clone());
        let service = ServiceBuilder::new()
            .map_result(unavailable)
            .load_shed()
            .layer(requests.clone())
            .timeout(REQUEST_TIMEOUT)
            .service_fn(move |req| answer(req, engine.clone(), metrics.clone(), latest.clone()));
        tokio::spawn(async move {
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
            // Past its lifetime the connection is dropped, whatever it was doing.
            if let Ok(Err(e)) = tokio::time::timeout(CONNECTION_LIFETIME, conn).await {
                tracing::debug!(error = %e, "health connection ended with an error");
            }
            drop(open);
        });
    }
}

/// A request shed or past its time is answered, not dropped: a probe reads 503.
fn unavailable(answer: Result<Answer, BoxError>) -> Result<Answer, BoxError> {
    Ok(answer.unwrap_or_else(|e| {
        let why = if e.is::<Overloaded>() {
            "overloaded"
        } else {
            "timed out"
        };
        text(StatusCode::SERVICE_UNAVAILABLE, format!("{why}\n"))
    }))
}

/// Keeps the latest readiness in `readiness`: a check may take as long as discovery of a
/// slow cluster does, which no probe should wait for.
async fn check_readiness(engine: Engine, readiness: watch::Sender<Option<(StatusCode, String)>>) {
    loop {
        let state = ready(&engine).await;
        if readiness.send(Some(state)).is_err() {
            return;
        }
        tokio::time::sleep(READINESS_EVERY).await;
    }
}

async fn answer(
    req: Request<Incoming>,
    engine: Engine,
    metrics: Arc<Metrics>,
    readiness: watch::Receiver<Option<(StatusCode, String)>>,
) -> Result<Answer, Infallible> {
    let (status, body) = match req.uri().path() {
        "/healthz" => (StatusCode::OK, "ok\n".to_string()),
        "/readyz" => readiness
            .borrow()
            .clone()
            .unwrap_or_else(|| (StatusCode::SERVICE_UNAVAILABLE, NOT_CHECKED.to_string())),
        "/metrics" => (StatusCode::OK, metrics.encode(&engine)),
        _ => (StatusCode::NOT_FOUND, "not found\n".to_string()),
    };
    Ok(text(status, body))
}

fn text(status: StatusCode, body: String) -> Answer {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
}

/// Ready once a cluster of the default scope answers discovery (from the shared cache).
async fn ready(engine: &Engine) -> (StatusCode, String) {
    match engine.readiness().await {
        Readiness::Ready(answering) => {
            (StatusCode::OK, format!("ready: {}\n", answering.join(", ")))
        }
        Readiness::Unready(errors) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("no cluster answers: {}\n", errors.join("; ")),
        ),
    }
}
