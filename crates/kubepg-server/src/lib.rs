//! kubepg's PostgreSQL front door: every connection gets its own session over the shared engine,
//! speaking the simple and extended query protocols with pg_catalog for client tools.
//!
//! [`Server`] accepts connections; per connection, [`startup`] refuses or authenticates
//! ([`auth`]), [`connection`] makes the session for the database the client named, and
//! [`pipeline`] hands its statements to the engine's pipeline and streams what comes out
//! ([`encode`] turns batches into rows, [`errors`] gives every failure its SQLSTATE), all in the
//! message loop of [`socket`].

pub mod auth;
mod auth_exchange;
mod connection;
mod encode;
mod errors;
mod frames;
pub mod health;
mod idle;
mod logins;
mod pipeline;
mod socket;
mod startup;
mod statement_log;
pub mod tls;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use datafusion_postgres::pgwire::api::ConnectionManager;
use datafusion_postgres::pgwire::tokio::tokio_rustls::{TlsAcceptor, rustls};
use kubepg_sql::{Engine, IdentityMap};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};

pub use auth::{AuthMode, Users};

/// How the server listens and what it allows.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub auth: AuthMode,
    /// Sessions served at once, counted from their startup packet; one more is refused with
    /// SQLSTATE 53300.
    pub max_connections: usize,
    /// Connections that have not finished authenticating; more are closed at once, so that
    /// silent sockets cannot hold the sessions' slots.
    pub max_startups: usize,
    /// How long a connection may take from connecting to being authenticated.
    pub auth_timeout: Duration,
    /// The largest message a client may send (a startup packet: 10,000 bytes); a larger one
    /// is refused with a FATAL 54000 as soon as its header arrives.
    pub max_message_bytes: usize,
    /// Default `statement_timeout` of every session (0 = none).
    pub statement_timeout: Duration,
    /// The database a client gets when it names none, or names `postgres`.
    pub default_database: String,
    /// How long running queries may finish after shutdown begins.
    pub shutdown_grace: Duration,
    /// Where `/healthz`, `/readyz` and `/metrics` are served; `None` serves them nowhere.
    pub health_listen: Option<SocketAddr>,
    /// A connection that runs nothing for this long is closed.
    pub idle_timeout: Option<Duration>,
    /// Offered to clients that ask for TLS.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Connections without TLS are refused (SQLSTATE 28000).
    pub tls_required: bool,
    /// What `/metrics` reports; shared with the cluster pool so that it can count API responses.
    pub metrics: Arc<health::Metrics>,
    /// The Kubernetes identity each SQL user's session acts as (empty: kubepg's own for all).
    pub identities: Arc<IdentityMap>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 5432)),
            auth: AuthMode::Trust,
            max_connections: 100,
            max_startups: 200,
            auth_timeout: Duration::from_secs(10),
            max_message_bytes: 16 << 20,
            statement_timeout: Duration::from_secs(300),
            default_database: "kubepg".into(),
            shutdown_grace: Duration::from_secs(30),
            health_listen: None,
            idle_timeout: None,
            tls: None,
            tls_required: false,
            metrics: Arc::default(),
            identities: Arc::default(),
        }
    }
}

/// The running front door.
pub struct Server {
    config: Arc<ServerConfig>,
    engine: Engine,
    listener: TcpListener,
    health: Option<TcpListener>,
    metrics: Arc<health::Metrics>,
    connections: Arc<ConnectionManager>,
}

impl Server {
    /// Binds the listener. Refuses `trust` authentication on anything but loopback.
    pub async fn bind(config: ServerConfig, engine: Engine) -> std::io::Result<Self> {
        if config.tls_required && config.tls.is_none() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "TLS is required but no certificate is configured",
            ));
        }
        if matches!(config.auth, AuthMode::Trust) && !config.listen.ip().is_loopback() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "trust authentication (no users configured) is only allowed on a loopback address; configure users",
            ));
        }
        let named = |what: &str, addr: SocketAddr, e: std::io::Error| {
            std::io::Error::new(e.kind(), format!("{what} {addr}: {e}"))
        };
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|e| named("PostgreSQL listener", config.listen, e))?;
        let health = match config.health_listen {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .map_err(|e| named("health listener", addr, e))?,
            ),
            None => None,
        };
        Ok(Self {
            metrics: config.metrics.clone(),
            config: Arc::new(config),
            engine,
            listener,
            health,
            connections: Arc::new(ConnectionManager::new()),
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Where the operations endpoints are served, if anywhere.
    pub fn health_addr(&self) -> Option<SocketAddr> {
        self.health.as_ref().and_then(|h| h.local_addr().ok())
    }

    /// Serves until `shutdown` turns true, then stops accepting and gives running connections
    /// the grace period to finish.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) -> std::io::Result<()> {
        let Server {
            config,
            engine,
            listener,
            health,
            metrics,
            connections,
        } = self;
        if let Some(health) = health {
            health::spawn(health, engine.clone(), metrics.clone(), shutdown.clone())?;
        }
        let tls = config.tls.clone().map(TlsAcceptor::from);
        let sessions = Arc::new(Semaphore::new(config.max_connections.max(1)));
        let startups = Arc::new(Semaphore::new(config.max_startups.max(1)));
        let mut accept_failures = AcceptFailures::default();
        let logins = Arc::new(logins::Logins::default());
        let mut tasks = tokio::task::JoinSet::new();
        // Turned true when the grace period is over: each connection then says why it closes.
        let (terminate, terminate_rx) = watch::channel(false);
        loop {
            tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((socket, peer)) => {
                        let Ok(starting) = startups.clone().try_acquire_owned() else {
                            metrics.refused_connections.inc();
                            tracing::debug!(%peer, "closing a connection: too many in startup");
                            continue;
                        };
                        metrics.connections.inc();
                        let conn = connection::Connection::new(engine.clone(), config.clone(), connections.clone(), metrics.clone(), peer, sessions.clone(), logins.clone());
                        let active = metrics.clone();
                        let tls = tls.clone();
                        let terminate = terminate_rx.clone();
                        let limits = socket::Limits {
                            idle_timeout: config.idle_timeout,
                            auth_timeout: config.auth_timeout,
                            max_message_bytes: config.max_message_bytes,
                        };
                        tasks.spawn(async move {
                            active.active_connections.inc();
                            serve_socket(socket, tls, conn, peer, limits, starting, terminate).await;
                            active.active_connections.dec();
                        });
                    }
                    Err(e) => accept_failures.failed(e).await,
                },
                _ = shutdown.changed() => {
                    if *shutdown.borrow() {
                        break;
                    }
                }
            }
            while tasks.try_join_next().is_some() {}
        }
        // Closed now, so new clients are refused at once instead of waiting in the backlog.
        drop(listener);
        tracing::info!(running = tasks.len(), "shutting down: no new connections");
        let grace = config.shutdown_grace;
        if tokio::time::timeout(grace, async { while tasks.join_next().await.is_some() {} })
            .await
            .is_err()
        {
            tracing::warn!(
                left = tasks.len(),
                "grace period over; closing the remaining connections"
            );
            // Connections between statements send FATAL 57P01 and close; a moment later the
            // ones still running a statement are dropped.
            let _ = terminate.send(true);
            let _ = tokio::time::timeout(TERMINATE_WAIT, async {
                while tasks.join_next().await.is_some() {}
            })
            .await;
            tasks.abort_all();
        }
        Ok(())
    }
}

/// How long connections get to say FATAL 57P01 once the grace period is over.
const TERMINATE_WAIT: Duration = Duration::from_secs(1);

/// Failed accepts (out of file descriptors, mostly): each waits a moment, so that the loop does
/// not spin on a condition that lasts, and they are logged once per interval with their count.
#[derive(Default)]
struct AcceptFailures {
    since_log: u64,
    logged: Option<tokio::time::Instant>,
}

impl AcceptFailures {
    const PAUSE: Duration = Duration::from_millis(100);
    const LOG_EVERY: Duration = Duration::from_secs(10);

    async fn failed(&mut self, e: std::io::Error) {
        self.since_log += 1;
        let now = tokio::time::Instant::now();
        if self.logged.is_none_or(|at| now - at >= Self::LOG_EVERY) {
            tracing::warn!(error = %e, failures = self.since_log, "accept failed; pausing before accepting again");
            self.since_log = 0;
            self.logged = Some(now);
        }
        tokio::time::sleep(Self::PAUSE).await;
    }
}

async fn serve_socket(
    socket: TcpStream,
    tls: Option<TlsAcceptor>,
    conn: connection::Connection,
    peer: SocketAddr,
    limits: socket::Limits,
    starting: tokio::sync::OwnedSemaphorePermit,
    terminate: watch::Receiver<bool>,
) {
    if let Err(e) = socket::serve(socket, tls, conn, peer, limits, starting, terminate).await {
        tracing::debug!(%peer, error = %e, "connection ended with an error");
    }
}
