//! The operations listener: `/healthz` (the process serves), `/readyz` (some cluster in the
//! default scope answers discovery), and `/metrics` in Prometheus text format: connections,
//! statements, API responses and bytes by cluster and resource, and the watch cache's tables.

use std::convert::Infallible;
use std::sync::Arc;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use kubepg_sql::{Engine, Readiness};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio::sync::watch;

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

/// Serves the operations endpoints until `shutdown` turns true.
pub async fn serve(
    listener: TcpListener,
    engine: Engine,
    metrics: Arc<Metrics>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "health listener accept failed");
                    continue;
                }
            },
            _ = shutdown.changed() => return,
        };
        let (engine, metrics) = (engine.clone(), metrics.clone());
        tokio::spawn(async move {
            let service = service_fn(move |req| answer(req, engine.clone(), metrics.clone()));
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(error = %e, "health connection ended with an error");
            }
        });
    }
}

async fn answer(
    req: Request<Incoming>,
    engine: Engine,
    metrics: Arc<Metrics>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (status, body) = match req.uri().path() {
        "/healthz" => (StatusCode::OK, "ok\n".to_string()),
        "/readyz" => ready(&engine).await,
        "/metrics" => (StatusCode::OK, metrics.encode(&engine)),
        _ => (StatusCode::NOT_FOUND, "not found\n".to_string()),
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    Ok(response)
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
