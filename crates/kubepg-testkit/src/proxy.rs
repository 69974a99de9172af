//! A fault-injecting proxy in front of one test API server: a test makes chosen requests fail
//! with an HTTP status or a dropped connection, or answer late, lets the rest through, and then
//! reads what the proxy saw.
//!
//! # Design
//!
//! Status faults need the proxy to see HTTP, and kubepg reaches API servers only over HTTPS, so
//! the proxy terminates TLS. It presents the API server's own serving certificate
//! (`pki/apiserver.crt`, issued by the test CA for IP 127.0.0.1): to kubepg the proxy is the same
//! server on another port, trusted through the same `ca.crt`, with no certificate to generate.
//! Behind the TLS acceptor, hyper serves HTTP/1.1 (kube-rs speaks HTTP/1.1; the proxy offers only
//! `http/1.1` in ALPN). Each request either takes the next matching fault, or is forwarded
//! upstream through a kube-rs client that has no credentials and no retry layer of its own:
//! the caller's `Authorization` header passes through unchanged (the API server sees the
//! caller's identity) and every attempt kubepg makes reaches the API server exactly once.
//! Responses stream back, so watches work too.
//!
//! A dropped connection is injected per request (the proxy reads the request, then closes the
//! connection without answering) rather than per accepted connection: clients keep connections
//! alive and pooled, so "drop the next connection" would hit whichever request happened to open
//! one, while "drop the next list of pods" is deterministic.
//!
//! The proxy appends `kubepg-fault-proxy/<port>` to the User-Agent it forwards, so a test can
//! pick its own requests out of a shared API server's audit log ([`FaultProxy::forwarded`]).
//!
//! The proxy runs on the caller's tokio runtime and stops when dropped.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use anyhow::{Context, Result};
use bytes::Bytes;
use http::header::{self, HeaderName, HeaderValue};
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use kube::client::Body;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;

use crate::audit::AuditEvent;
use crate::cluster::{Cluster, TestClusters, User};

/// The status [`FaultProxy::requests`] records for a request whose connection was dropped.
pub const DROPPED: u16 = 0;

/// A running proxy for one [`Cluster`]; stops when dropped.
pub struct FaultProxy {
    addr: SocketAddr,
    upstream: Cluster,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

struct Shared {
    client: kube::Client,
    tag: String,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    faults: Vec<Fault>,
    /// (path and query, status answered or [`DROPPED`], when it arrived), in the order
    /// answered.
    log: Vec<(String, u16, std::time::Instant)>,
}

#[derive(Debug)]
struct Fault {
    prefix: String,
    action: Action,
    remaining: usize,
}

#[derive(Debug, Clone, Copy)]
enum Action {
    Status(u16),
    /// 429 with a `Retry-After` of this many seconds.
    Throttle(u64),
    Drop,
    /// Forward, but only after this long: a slow cluster.
    Delay(std::time::Duration),
}

/// The service's error: hyper closes the connection without writing a response.
#[derive(Debug)]
struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by the fault proxy")
    }
}

impl std::error::Error for Dropped {}

impl std::fmt::Debug for FaultProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultProxy")
            .field("addr", &self.addr)
            .field("upstream", &self.upstream.server)
            .finish_non_exhaustive()
    }
}

impl FaultProxy {
    /// Listens on a free loopback port and forwards to `upstream` until dropped.
    pub async fn start(upstream: &Cluster) -> Result<Self> {
        let pki = upstream.pki_dir();
        let certs = CertificateDer::pem_file_iter(pki.join("apiserver.crt"))
            .context("reading the API server certificate")?
            .collect::<Result<Vec<_>, _>>()?;
        let key = PrivateKeyDer::from_pem_file(pki.join("apiserver.key"))
            .context("reading the API server key")?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut tls = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(certs, key)?;
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        let acceptor = TlsAcceptor::from(Arc::new(tls));

        let mut config = kube::Config::new(upstream.server.parse()?);
        config.root_cert = Some(vec![
            CertificateDer::from_pem_slice(upstream.ca_pem().as_bytes())?.to_vec(),
        ]);
        config.default_retry = false;
        let client = kube::Client::try_from(config)?;

        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            client,
            tag: format!("kubepg-fault-proxy/{}", addr.port()),
            state: Mutex::default(),
        });
        let task = tokio::spawn(accept_loop(listener, acceptor, shared.clone()));
        Ok(Self {
            addr,
            upstream: upstream.clone(),
            shared,
            task,
        })
    }

    /// `https://127.0.0.1:PORT`.
    pub fn server(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// A kubeconfig with one context, `context`, reaching the upstream cluster through this proxy
    /// as the admin user. Its file is this proxy's own, so concurrent tests do not share one.
    pub fn kubeconfig(&self, env: &TestClusters, context: &str) -> Result<PathBuf> {
        env.write_kubeconfig(
            &format!("kubeconfig-proxy-{}-{context}", self.addr.port()),
            context,
            &self.server(),
            self.upstream.token(User::Admin),
        )
    }

    /// The next `times` requests whose path and query start with `prefix` are answered with
    /// `status` and a `Status` body, without reaching the API server. A prefix ending in `?`
    /// (`/api/v1/pods?`) matches LIST requests of exactly that path and not discovery.
    pub fn fail_next(&self, prefix: &str, status: u16, times: usize) {
        self.add(prefix, Action::Status(status), times);
    }

    /// The next `times` requests whose path and query start with `prefix` are answered 429
    /// with `Retry-After: SECONDS`, as an API server under priority and fairness does.
    pub fn throttle_next(&self, prefix: &str, seconds: u64, times: usize) {
        self.add(prefix, Action::Throttle(seconds), times);
    }

    /// The time between each request for exactly `path` (any query) and the one before it.
    pub fn gaps(&self, path: &str) -> Vec<std::time::Duration> {
        let arrivals: Vec<std::time::Instant> = self
            .shared
            .lock()
            .log
            .iter()
            .filter(|(uri, ..)| uri.split_once('?').map_or(uri.as_str(), |(p, _)| p) == path)
            .map(|(.., at)| *at)
            .collect();
        arrivals.windows(2).map(|w| w[1] - w[0]).collect()
    }

    /// The next `times` requests whose path and query start with `prefix` are read and then
    /// their connection is closed without an answer.
    pub fn drop_next(&self, prefix: &str, times: usize) {
        self.add(prefix, Action::Drop, times);
    }

    /// The next `times` requests whose path and query start with `prefix` are held for `delay`
    /// before they are forwarded.
    pub fn delay_next(&self, prefix: &str, delay: std::time::Duration, times: usize) {
        self.add(prefix, Action::Delay(delay), times);
    }

    /// Every request so far: (path and query, status answered or [`DROPPED`]), in answer order.
    pub fn requests(&self) -> Vec<(String, u16)> {
        self.shared
            .lock()
            .log
            .iter()
            .map(|(uri, status, _)| (uri.clone(), *status))
            .collect()
    }

    /// The statuses answered to requests for exactly `path` (any query), in order.
    pub fn statuses(&self, path: &str) -> Vec<u16> {
        self.requests()
            .into_iter()
            .filter(|(uri, _)| uri.split_once('?').map_or(uri.as_str(), |(p, _)| p) == path)
            .map(|(_, status)| status)
            .collect()
    }

    /// Whether an audit event of the upstream server is a request this proxy forwarded.
    pub fn forwarded(&self, event: &AuditEvent) -> bool {
        event.user_agent.contains(&self.shared.tag)
    }

    fn add(&self, prefix: &str, action: Action, times: usize) {
        if times > 0 {
            self.shared.lock().faults.push(Fault {
                prefix: prefix.to_string(),
                action,
                remaining: times,
            });
        }
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        // The accept loop owns the connection tasks: aborting it ends them all.
        self.task.abort();
    }
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The first matching fault with uses left, using one up.
    fn take_fault(&self, uri: &str) -> Option<Action> {
        let mut state = self.lock();
        let fault = state
            .faults
            .iter_mut()
            .find(|f| f.remaining > 0 && uri.starts_with(&f.prefix))?;
        fault.remaining -= 1;
        Some(fault.action)
    }

    fn record(&self, uri: String, status: u16, arrived: std::time::Instant) {
        self.lock().log.push((uri, status, arrived));
    }
}

async fn accept_loop(listener: TcpListener, acceptor: TlsAcceptor, shared: Arc<Shared>) {
    let mut connections = JoinSet::new();
    loop {
        while connections.try_join_next().is_some() {}
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        connections.spawn(serve(tcp, acceptor.clone(), shared.clone()));
    }
}

async fn serve(tcp: TcpStream, acceptor: TlsAcceptor, shared: Arc<Shared>) {
    let Ok(tls) = acceptor.accept(tcp).await else {
        return;
    };
    let service = hyper::service::service_fn(move |req| handle(shared.clone(), req));
    // Ends with an error when a fault drops the connection; nothing to report.
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(tls), service)
        .await;
}

async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Result<Response<Body>, Dropped> {
    let uri = req.uri().path_and_query().map_or_else(
        || req.uri().path().to_string(),
        |pq| pq.as_str().to_string(),
    );
    let arrived = std::time::Instant::now();
    let response = match shared.take_fault(&uri) {
        Some(Action::Drop) => {
            shared.record(uri, DROPPED, arrived);
            return Err(Dropped);
        }
        Some(Action::Status(code)) => status_response(code, "injected by the kubepg fault proxy"),
        Some(Action::Throttle(seconds)) => {
            let mut response = status_response(429, "injected by the kubepg fault proxy");
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
            response
        }
        Some(Action::Delay(delay)) => {
            tokio::time::sleep(delay).await;
            match forward(&shared, &uri, req).await {
                Ok(response) => response,
                Err(e) => status_response(502, &format!("fault proxy: upstream failed: {e:#}")),
            }
        }
        None => match forward(&shared, &uri, req).await {
            Ok(response) => response,
            Err(e) => status_response(502, &format!("fault proxy: upstream failed: {e:#}")),
        },
    };
    shared.record(uri, response.status().as_u16(), arrived);
    Ok(response)
}

/// Headers that belong to one connection, not to the request or response.
const HOP_BY_HOP: &[HeaderName] = &[
    header::CONNECTION,
    header::HOST,
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

async fn forward(shared: &Shared, uri: &str, req: Request<Incoming>) -> Result<Response<Body>> {
    let (parts, body) = req.into_parts();
    let body = body.collect().await?.to_bytes();
    let mut upstream = Request::builder().method(parts.method).uri(uri);
    let headers = upstream
        .headers_mut()
        .context("building the upstream request")?;
    for (name, value) in &parts.headers {
        if !HOP_BY_HOP.contains(name) && name != "keep-alive" {
            headers.append(name, value.clone());
        }
    }
    let agent = match parts.headers.get(header::USER_AGENT) {
        Some(ua) => format!("{} {}", String::from_utf8_lossy(ua.as_bytes()), shared.tag),
        None => shared.tag.clone(),
    };
    headers.insert(header::USER_AGENT, HeaderValue::try_from(agent)?);
    let mut response = shared.client.send(upstream.body(Body::from(body))?).await?;
    for name in HOP_BY_HOP {
        response.headers_mut().remove(name);
    }
    Ok(response)
}

/// An answer in the API server's own error shape (a `Status` object).
fn status_response(code: u16, message: &str) -> Response<Body> {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let reason = match status.as_u16() {
        410 => "Expired",
        429 => "TooManyRequests",
        500 => "InternalError",
        503 => "ServiceUnavailable",
        504 => "Timeout",
        _ => status.canonical_reason().unwrap_or("Unknown"),
    };
    let body = serde_json::json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": status.as_u16(),
    });
    let mut response = Response::new(Body::from(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}
