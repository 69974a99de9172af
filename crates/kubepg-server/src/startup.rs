//! A connection's startup: refusals before authentication (the server is full, TLS is
//! required, the database names no cluster), then the configured authentication, then the
//! ParameterStatus values PostgreSQL 16 reports for a read-only server.

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use datafusion_postgres::pgwire::api::PgWireConnectionState;
use datafusion_postgres::pgwire::api::auth::cleartext::CleartextPasswordAuthStartupHandler;
use datafusion_postgres::pgwire::api::auth::md5pass::Md5PasswordAuthStartupHandler;
use datafusion_postgres::pgwire::api::auth::noop::NoopStartupHandler;
use datafusion_postgres::pgwire::api::auth::sasl::SASLAuthStartupHandler;
use datafusion_postgres::pgwire::api::auth::sasl::SCRAM_SHA_256_PLUS_METHOD;
use datafusion_postgres::pgwire::api::auth::sasl::scram::ScramAuth;
use datafusion_postgres::pgwire::api::auth::{
    DefaultServerParameterProvider, ServerParameterProvider, StartupHandler,
};
use datafusion_postgres::pgwire::api::{ClientInfo, ConnectionManager};
use datafusion_postgres::pgwire::error::{PgWireError, PgWireResult};
use datafusion_postgres::pgwire::messages::startup::{ParameterStatus, PasswordMessageFamily};
use datafusion_postgres::pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use futures::{Sink, SinkExt};
use kubepg_sql::{Engine, SqlState};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::ServerConfig;
use crate::auth::{AuthMode, CleartextSource, Md5Source, SCRAM_ITERATIONS, ScramSource};
use crate::errors::fatal;
use crate::health::Metrics;

/// ParameterStatus values: PostgreSQL 16 as clients parse it, read-only by default.
#[derive(Debug)]
pub struct Params(DefaultServerParameterProvider);

impl Default for Params {
    fn default() -> Self {
        let mut p = DefaultServerParameterProvider::default();
        p.server_version = format!("{} (kubepg)", kubepg_sql::settings::SERVER_VERSION);
        p.is_superuser = false;
        p.default_transaction_read_only = true;
        Self(p)
    }
}

impl ServerParameterProvider for Params {
    fn server_parameters<C: ClientInfo>(&self, client: &C) -> Option<HashMap<String, String>> {
        self.0.server_parameters(client)
    }
}

enum Auth {
    Trust(TrustStartup),
    Scram(SASLAuthStartupHandler<Params>),
    Md5(Md5PasswordAuthStartupHandler<Md5Source, Params>),
    Cleartext(CleartextPasswordAuthStartupHandler<CleartextSource, Params>),
}

struct TrustStartup {
    connections: Arc<ConnectionManager>,
    params: Arc<Params>,
}

#[async_trait]
impl NoopStartupHandler for TrustStartup {
    fn connection_manager(&self) -> Option<Arc<ConnectionManager>> {
        Some(self.connections.clone())
    }

    /// pgwire's no-auth path announces its own defaults; these replace them before the client
    /// is ready (a later ParameterStatus wins).
    async fn post_startup<C>(
        &self,
        client: &mut C,
        _message: PgWireFrontendMessage,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        for (name, value) in self.params.server_parameters(client).unwrap_or_default() {
            client
                .send(PgWireBackendMessage::ParameterStatus(ParameterStatus::new(
                    name, value,
                )))
                .await?;
        }
        Ok(())
    }
}

/// Refuses a connection before authentication when the server is full, TLS is required and
/// missing, or the database names no cluster; then lets the configured authentication run.
pub struct StartupGate {
    engine: Engine,
    config: Arc<ServerConfig>,
    /// The sessions' slots; this connection's, once its startup packet took one.
    sessions: Arc<Semaphore>,
    session: Mutex<Option<OwnedSemaphorePermit>>,
    metrics: Arc<Metrics>,
    auth: Auth,
}

impl StartupGate {
    pub fn new(
        engine: Engine,
        config: Arc<ServerConfig>,
        connections: Arc<ConnectionManager>,
        sessions: Arc<Semaphore>,
        metrics: Arc<Metrics>,
    ) -> Self {
        let params = Arc::new(Params::default());
        let auth = match &config.auth {
            AuthMode::Trust => Auth::Trust(TrustStartup {
                connections,
                params,
            }),
            AuthMode::ScramSha256(users) => {
                let mut scram = ScramAuth::new(Arc::new(ScramSource(users.clone())));
                scram.set_iterations(SCRAM_ITERATIONS);
                Auth::Scram(
                    SASLAuthStartupHandler::new(params)
                        .with_scram(scram)
                        .with_connection_manager(connections),
                )
            }
            AuthMode::Md5(users) => Auth::Md5(
                Md5PasswordAuthStartupHandler::new(Arc::new(Md5Source(users.clone())), params)
                    .with_connection_manager(connections),
            ),
            AuthMode::Cleartext(users) => Auth::Cleartext(
                CleartextPasswordAuthStartupHandler::new(
                    CleartextSource(users.clone()),
                    Params::default(),
                )
                .with_connection_manager(connections),
            ),
        };
        Self {
            engine,
            config,
            sessions,
            session: Mutex::new(None),
            metrics,
            auth,
        }
    }
}

#[async_trait]
impl StartupHandler for StartupGate {
    async fn on_startup<C>(
        &self,
        client: &mut C,
        message: PgWireFrontendMessage,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        if let PgWireFrontendMessage::Startup(startup) = &message {
            let permit = self.sessions.clone().try_acquire_owned().ok();
            let refused = permit.is_none();
            *self.session.lock().unwrap_or_else(PoisonError::into_inner) = permit;
            if refused {
                self.metrics.refused_connections.inc();
                return Err(fatal(
                    SqlState::TooManyConnections,
                    "sorry, too many clients already".into(),
                ));
            }
            if self.config.tls_required && !client.is_secure() {
                return Err(fatal(
                    SqlState::InvalidAuthorizationSpecification,
                    "this server requires TLS: connect with sslmode=require (or verify-full)"
                        .into(),
                ));
            }
            let user = startup.parameters.get("user").cloned().unwrap_or_default();
            let database = startup.parameters.get("database").cloned().unwrap_or(user);
            if scope_of(&self.config, &database)
                .is_some_and(|s| self.engine.resolve_scope(s).is_err())
            {
                return Err(fatal(
                    SqlState::InvalidCatalogName,
                    format!(
                        "database \"{database}\" does not exist (databases are cluster names, \"all\" or \"{}\")",
                        self.config.default_database
                    ),
                ));
            }
        }
        match &self.auth {
            Auth::Trust(h) => h.on_startup(client, message).await,
            Auth::Scram(h) => {
                let message = refuse_channel_binding(client, message)?;
                h.on_startup(client, message).await
            }
            Auth::Md5(h) => h.on_startup(client, message).await,
            Auth::Cleartext(h) => h.on_startup(client, message).await,
        }
    }
}

/// kubepg offers SCRAM-SHA-256 only: it has no certificate binding to offer, and pgwire would
/// otherwise run a client's SCRAM-SHA-256-PLUS exchange over plaintext as if it were bound. A
/// client that picks it is refused, as PostgreSQL refuses a mechanism it did not offer.
fn refuse_channel_binding<C: ClientInfo>(
    client: &C,
    message: PgWireFrontendMessage,
) -> PgWireResult<PgWireFrontendMessage> {
    let PgWireFrontendMessage::PasswordMessageFamily(msg) = message else {
        return Ok(message);
    };
    if !matches!(
        client.state(),
        PgWireConnectionState::AuthenticationInProgress
    ) || matches!(msg, PasswordMessageFamily::SASLResponse(_))
    {
        return Ok(PgWireFrontendMessage::PasswordMessageFamily(msg));
    }
    let PasswordMessageFamily::Raw(body) = &msg else {
        return Ok(PgWireFrontendMessage::PasswordMessageFamily(msg));
    };
    // The mechanism name opens a SASLInitialResponse; a later SASLResponse never starts with
    // one (it starts `c=`).
    if body.starts_with(SCRAM_SHA_256_PLUS_METHOD.as_bytes())
        && body.get(SCRAM_SHA_256_PLUS_METHOD.len()) == Some(&0)
    {
        return Err(fatal(
            SqlState::InvalidAuthorizationSpecification,
            format!(
                "{SCRAM_SHA_256_PLUS_METHOD} was not offered: kubepg offers SCRAM-SHA-256 (use TLS for a protected connection)"
            ),
        ));
    }
    Ok(PgWireFrontendMessage::PasswordMessageFamily(msg))
}

/// The cluster scope a database name picks: `None` for the default database.
pub fn scope_of<'a>(config: &ServerConfig, database: &'a str) -> Option<&'a str> {
    (!(database.is_empty() || database == config.default_database || database == "postgres"))
        .then_some(database)
}
