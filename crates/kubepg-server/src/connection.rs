//! One client connection's parts: its startup gate, its query handler ([`Queries`], over a
//! session made on first use for the database the client named), its cancel handler, and the
//! queue its LISTEN notifications arrive on for the message loop ([`crate::socket`]).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use datafusion_postgres::pgwire::api::cancel::DefaultCancelHandler;
use datafusion_postgres::pgwire::api::{
    ClientInfo, ConnectionManager, METADATA_DATABASE, METADATA_USER,
};
use datafusion_postgres::pgwire::error::PgWireResult;
use kubepg_sql::pipeline::{Notification, notification_queue};
use kubepg_sql::{Engine, KubeSession, SessionRequest};
use tokio::sync::{OnceCell, Semaphore, mpsc};

use crate::ServerConfig;
use crate::errors::to_pgwire;
use crate::health::Metrics;
use crate::idle::Activity;
use crate::logins::Logins;
use crate::startup::{StartupGate, scope_of};

/// One connection's handlers and what its message loop needs besides.
pub(crate) struct Connection {
    pub startup: Arc<StartupGate>,
    pub queries: Queries,
    /// A CancelRequest drops the running statement's future, and with it every Kubernetes
    /// request still in flight for it.
    pub cancel: Arc<DefaultCancelHandler>,
    /// What the connection's LISTEN channels send, for the loop to deliver.
    pub notifications: mpsc::Receiver<Notification>,
    pub activity: Arc<Activity>,
    pub metrics: Arc<Metrics>,
    /// Failed logins by address, shared by every connection.
    pub logins: Arc<Logins>,
}

impl Connection {
    pub fn new(
        engine: Engine,
        config: Arc<ServerConfig>,
        connections: Arc<ConnectionManager>,
        metrics: Arc<Metrics>,
        peer: SocketAddr,
        sessions: Arc<Semaphore>,
        logins: Arc<Logins>,
    ) -> Self {
        let (sender, notifications) = notification_queue();
        let activity = Arc::new(Activity::default());
        Self {
            startup: Arc::new(StartupGate::new(
                engine.clone(),
                config.clone(),
                connections.clone(),
                sessions,
                metrics.clone(),
            )),
            queries: Queries(Arc::new(Inner {
                engine,
                config,
                session: OnceCell::new(),
                notifications: Mutex::new(Some(sender)),
                peer,
                activity: activity.clone(),
                metrics: metrics.clone(),
            })),
            cancel: Arc::new(DefaultCancelHandler::new(connections)),
            notifications,
            activity,
            metrics,
            logins,
        }
    }
}

/// The queries of one connection, over its session. Clones share it (pgwire asks for the
/// extended protocol's parser as a handler of its own).
#[derive(Clone)]
pub struct Queries(pub(crate) Arc<Inner>);

pub(crate) struct Inner {
    pub engine: Engine,
    pub config: Arc<ServerConfig>,
    session: OnceCell<Arc<KubeSession>>,
    /// Handed to the session when it is made.
    notifications: Mutex<Option<mpsc::Sender<Notification>>>,
    pub peer: SocketAddr,
    pub activity: Arc<Activity>,
    pub metrics: Arc<Metrics>,
}

impl Queries {
    /// The connection's session, made on first use for the database and user the client
    /// named, with the settings of its startup packet.
    pub async fn session<C: ClientInfo + ?Sized>(
        &self,
        client: &C,
    ) -> PgWireResult<Arc<KubeSession>> {
        let inner = &self.0;
        inner
            .session
            .get_or_try_init(|| async {
                let metadata = client.metadata();
                let database = metadata.get(METADATA_DATABASE).cloned().unwrap_or_default();
                let user = metadata.get(METADATA_USER).cloned().unwrap_or_default();
                let catalog = if database.is_empty() || database == "postgres" {
                    inner.config.default_database.clone()
                } else {
                    database.clone()
                };
                let request = SessionRequest {
                    scope: scope_of(&inner.config, &database).map(String::from),
                    database: catalog,
                    default_database: inner.config.default_database.clone(),
                    identity: inner.config.identities.get(&user),
                    user: user.clone(),
                    statement_timeout: inner.config.statement_timeout,
                    startup: metadata
                        .iter()
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect(),
                    notifications: inner
                        .notifications
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .take(),
                };
                let session = inner.engine.session(request).await.map_err(to_pgwire)?;
                tracing::debug!(peer = %inner.peer, database, user, identity = %session.identity.name(), "session started");
                Ok(Arc::new(session))
            })
            .await
            .cloned()
    }
}
