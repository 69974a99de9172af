//! One client connection: the startup gate (connection limit, database name, authentication),
//! the session made for the database the client named, and the simple and extended query paths.

use std::collections::HashMap;
use std::fmt::Debug;
use std::net::SocketAddr;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::ParamValues;
use datafusion::logical_expr::LogicalPlan;
use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast::{Declare, DeclareType, DiscardObject, Statement};
use datafusion_postgres::arrow_pg::datatypes::df::deserialize_parameters;
use datafusion_postgres::arrow_pg::datatypes::into_pg_type;
use datafusion_postgres::datafusion_pg_catalog::pg_catalog::context::EmptyContextProvider;
use datafusion_postgres::datafusion_pg_catalog::pg_catalog::setup_pg_catalog;
use datafusion_postgres::datafusion_pg_catalog::sql::PostgresCompatibilityParser;
use datafusion_postgres::hooks::cursor::CursorStatementHook;
use datafusion_postgres::hooks::transactions::TransactionStatementHook;
use datafusion_postgres::hooks::{HookClient, QueryHook};
use datafusion_postgres::pgwire::api::auth::cleartext::CleartextPasswordAuthStartupHandler;
use datafusion_postgres::pgwire::api::auth::md5pass::Md5PasswordAuthStartupHandler;
use datafusion_postgres::pgwire::api::auth::noop::NoopStartupHandler;
use datafusion_postgres::pgwire::api::auth::sasl::SASLAuthStartupHandler;
use datafusion_postgres::pgwire::api::auth::sasl::scram::ScramAuth;
use datafusion_postgres::pgwire::api::auth::{
    DefaultServerParameterProvider, ServerParameterProvider, StartupHandler,
};
use datafusion_postgres::pgwire::api::cancel::{CancelHandler, DefaultCancelHandler};
use datafusion_postgres::pgwire::api::portal::{Format, Portal};
use datafusion_postgres::pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use datafusion_postgres::pgwire::api::results::{FieldInfo, Response, Tag};
use datafusion_postgres::pgwire::api::stmt::{QueryParser, StoredStatement};
use datafusion_postgres::pgwire::api::store::PortalStore;
use datafusion_postgres::pgwire::api::{
    ClientInfo, ClientPortalStore, ConnectionManager, ErrorHandler, METADATA_DATABASE,
    METADATA_USER, PgWireServerHandlers, Type,
};
use datafusion_postgres::pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use datafusion_postgres::pgwire::messages::response::NoticeResponse;
use datafusion_postgres::pgwire::messages::startup::ParameterStatus;
use datafusion_postgres::pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use datafusion_postgres::pgwire::types::format::FormatOptions;
use futures::{Sink, SinkExt};
use kubepg_sql::{Engine, KubeSession};
use tokio::sync::OnceCell;

use crate::auth::{AuthMode, CleartextSource, Md5Source, SCRAM_ITERATIONS, ScramSource};
use crate::errors::{fatal, from_datafusion, to_pgwire};
use crate::idle::Activity;
use crate::listen::Listeners;
use crate::settings::Settings;
use crate::statement_log::{self, masked};
use crate::{ServerConfig, encode};

/// What a prepared statement holds: its text, and its parsed form and plan. The same shape as
/// datafusion-postgres's, whose cursor hook reads portals of this type.
pub type PreparedStatement = (String, Option<(Statement, LogicalPlan)>);

/// A connection's handlers; pgwire asks for each once per connection.
pub struct Connection {
    queries: Arc<Queries>,
    startup: Arc<StartupGate>,
    cancel: Arc<DefaultCancelHandler>,
}

impl Connection {
    pub fn new(
        engine: Engine,
        config: Arc<ServerConfig>,
        connections: Arc<ConnectionManager>,
        metrics: Arc<crate::health::Metrics>,
        peer: SocketAddr,
        over_limit: bool,
    ) -> Self {
        let params = Arc::new(Params::default());
        let auth = match &config.auth {
            AuthMode::Trust => Auth::Trust(TrustStartup {
                connections: connections.clone(),
                params: params.clone(),
            }),
            AuthMode::ScramSha256(users) => {
                let mut scram = ScramAuth::new(Arc::new(ScramSource(users.clone())));
                scram.set_iterations(SCRAM_ITERATIONS);
                Auth::Scram(
                    SASLAuthStartupHandler::new(params.clone())
                        .with_scram(scram)
                        .with_connection_manager(connections.clone()),
                )
            }
            AuthMode::Md5(users) => Auth::Md5(
                Md5PasswordAuthStartupHandler::new(
                    Arc::new(Md5Source(users.clone())),
                    params.clone(),
                )
                .with_connection_manager(connections.clone()),
            ),
            AuthMode::Cleartext(users) => Auth::Cleartext(
                CleartextPasswordAuthStartupHandler::new(
                    CleartextSource(users.clone()),
                    Params::default(),
                )
                .with_connection_manager(connections.clone()),
            ),
        };
        Self {
            queries: Arc::new(Queries {
                engine: engine.clone(),
                config: config.clone(),
                session: Arc::new(OnceCell::new()),
                parser: Arc::new(PostgresCompatibilityParser::new()),
                hooks: vec![
                    Arc::new(CursorStatementHook),
                    Arc::new(TransactionStatementHook),
                ],
                settings: Arc::new(Settings::new(config.statement_timeout)),
                peer,
                activity: Arc::default(),
                listeners: Arc::new(Listeners::new(metrics.clone())),
                metrics,
            }),
            cancel: Arc::new(DefaultCancelHandler::new(connections.clone())),
            startup: Arc::new(StartupGate {
                engine,
                config,
                over_limit,
                auth,
            }),
        }
    }
}

impl Connection {
    pub fn activity(&self) -> Arc<Activity> {
        self.queries.activity.clone()
    }

    /// The notifications of this connection's LISTEN channels; `None` after the first call.
    pub fn notifications(
        &self,
    ) -> Option<tokio::sync::mpsc::Receiver<crate::listen::Notification>> {
        self.queries.listeners.take_receiver()
    }

    pub fn metrics(&self) -> &crate::health::Metrics {
        &self.queries.metrics
    }

    /// The handlers by their types, for a message loop that needs to name the statement type
    /// ([`PgWireServerHandlers`] hides it).
    pub(crate) fn handlers(&self) -> (Arc<StartupGate>, Arc<Queries>, Arc<DefaultCancelHandler>) {
        (
            self.startup.clone(),
            self.queries.clone(),
            self.cancel.clone(),
        )
    }
}

impl PgWireServerHandlers for Connection {
    fn simple_query_handler(&self) -> Arc<impl SimpleQueryHandler> {
        self.queries.clone()
    }

    fn extended_query_handler(&self) -> Arc<impl ExtendedQueryHandler> {
        self.queries.clone()
    }

    fn startup_handler(&self) -> Arc<impl StartupHandler> {
        self.startup.clone()
    }

    /// A CancelRequest drops the running statement's future, and with it every Kubernetes
    /// request still in flight for it.
    fn error_handler(&self) -> Arc<impl ErrorHandler> {
        Arc::new(crate::auth::AuthErrors)
    }

    fn cancel_handler(&self) -> Arc<impl CancelHandler> {
        self.cancel.clone()
    }
}

/// ParameterStatus values: PostgreSQL 16 as clients parse it, read-only by default.
#[derive(Debug)]
struct Params(DefaultServerParameterProvider);

impl Default for Params {
    fn default() -> Self {
        let mut p = DefaultServerParameterProvider::default();
        p.server_version = format!("{} (kubepg)", crate::compat::SERVER_VERSION);
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

/// Refuses a connection before authentication when the server is full or the database names no
/// cluster, then lets the configured authentication run.
pub(crate) struct StartupGate {
    engine: Engine,
    config: Arc<ServerConfig>,
    over_limit: bool,
    auth: Auth,
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
            if self.over_limit {
                return Err(fatal("53300", "sorry, too many clients already".into()));
            }
            if self.config.tls_required && !client.is_secure() {
                return Err(fatal(
                    "28000",
                    "this server requires TLS: connect with sslmode=require (or verify-full)"
                        .into(),
                ));
            }
            let user = startup.parameters.get("user").cloned().unwrap_or_default();
            let database = startup.parameters.get("database").cloned().unwrap_or(user);
            if scope_of(&self.config, &database)
                .is_some_and(|s| self.engine.pool().resolve_scope(s).is_err())
            {
                return Err(fatal(
                    "3D000",
                    format!(
                        "database \"{database}\" does not exist (databases are cluster names, \"all\" or \"{}\")",
                        self.config.default_database
                    ),
                ));
            }
        }
        match &self.auth {
            Auth::Trust(h) => h.on_startup(client, message).await,
            Auth::Scram(h) => h.on_startup(client, message).await,
            Auth::Md5(h) => h.on_startup(client, message).await,
            Auth::Cleartext(h) => h.on_startup(client, message).await,
        }
    }
}

/// The cluster scope a database name picks: `None` for the default database.
fn scope_of<'a>(config: &ServerConfig, database: &'a str) -> Option<&'a str> {
    (!(database.is_empty() || database == config.default_database || database == "postgres"))
        .then_some(database)
}

/// Queries of one connection, over a session made on first use.
pub struct Queries {
    engine: Engine,
    config: Arc<ServerConfig>,
    /// Shared with the query parser pgwire asks for, so both see one session.
    session: Arc<OnceCell<Arc<KubeSession>>>,
    parser: Arc<PostgresCompatibilityParser>,
    metrics: Arc<crate::health::Metrics>,
    hooks: Vec<Arc<dyn QueryHook>>,
    peer: SocketAddr,
    activity: Arc<Activity>,
    settings: Arc<Settings>,
    listeners: Arc<Listeners>,
}

impl Queries {
    async fn session<C: ClientInfo + ?Sized>(&self, client: &C) -> PgWireResult<Arc<KubeSession>> {
        self.session
            .get_or_try_init(|| async {
                let database = client
                    .metadata()
                    .get(METADATA_DATABASE)
                    .cloned()
                    .unwrap_or_default();
                let catalog = if database.is_empty() || database == "postgres" {
                    self.config.default_database.clone()
                } else {
                    database.clone()
                };
                let mut siblings: Vec<String> = self.engine.pool().names();
                siblings.push("all".into());
                siblings.push(self.config.default_database.clone());
                let user = client
                    .metadata()
                    .get(METADATA_USER)
                    .cloned()
                    .unwrap_or_default();
                let session = self
                    .engine
                    .session_as(
                        scope_of(&self.config, &database),
                        &catalog,
                        &siblings,
                        self.config.identities.get(&user),
                    )
                    .await
                    .map_err(to_pgwire)?;
                setup_pg_catalog(&session.ctx, &catalog, EmptyContextProvider)
                    .map_err(|e| from_datafusion(*e))?;
                crate::catalog_types::install(&session.ctx, &catalog, self.settings.clone())
                    .map_err(from_datafusion)?;
                crate::information_schema::install(&session.ctx, &catalog)
                    .map_err(from_datafusion)?;
                crate::compat::register(&session.ctx, &user);
                self.settings.apply_startup(client.metadata());
                self.settings.register(&session.ctx);
                tracing::debug!(peer = %self.peer, database, user, identity = %session.identity.name(), "session started");
                Ok(Arc::new(session))
            })
            .await
            .cloned()
    }

    fn parse(&self, sql: &str) -> PgWireResult<Vec<Statement>> {
        self.parser
            .parse(&crate::rewrite::prepare(sql))
            .map(|statements| {
                statements
                    .into_iter()
                    .map(crate::rewrite::after_parse)
                    .collect()
            })
            .map_err(|e| to_pgwire(kubepg_sql::Error::DataFusion(e.into())))
    }

    /// Runs a plan to completion within the statement timeout, then describes and encodes it.
    async fn run<C: ClientInfo + ?Sized>(
        &self,
        client: &C,
        session: &KubeSession,
        plan: LogicalPlan,
        format: &Format,
        text: &str,
    ) -> PgWireResult<Response> {
        let options = Arc::new(FormatOptions::from_client_metadata(client.metadata()));
        let schema = plan.schema().as_arrow().clone();
        let names = crate::names::postgres_names(&plan);
        let batches = self.collect(client, session, plan, text).await?;
        let fields = encode::fields(&schema, format, Some(options), names)?;
        Ok(Response::Query(encode::response(Arc::new(fields), batches)))
    }

    /// Executes a plan to completion within the session's statement timeout, and records it
    /// (`text` is the statement as logged).
    async fn collect<C: ClientInfo + ?Sized>(
        &self,
        client: &C,
        session: &KubeSession,
        plan: LogicalPlan,
        text: &str,
    ) -> PgWireResult<Vec<RecordBatch>> {
        let started = std::time::Instant::now();
        let result = self
            .within_timeout(async {
                let df = session
                    .ctx
                    .execute_logical_plan(plan)
                    .await
                    .map_err(from_datafusion)?;
                df.collect().await.map_err(from_datafusion)
            })
            .await;
        let rows = result
            .as_ref()
            .map_or(0, |b| b.iter().map(RecordBatch::num_rows).sum::<usize>());
        self.record(client, session, text, started, rows, result.as_ref().err());
        result
    }

    /// `work` cut off at the session's `statement_timeout`.
    async fn within_timeout<T>(
        &self,
        work: impl Future<Output = PgWireResult<T>>,
    ) -> PgWireResult<T> {
        match self.settings.statement_timeout() {
            Some(t) => tokio::time::timeout(t, work).await.map_err(|_| {
                crate::errors::user_error(
                    "57014",
                    "canceling statement due to statement timeout".into(),
                )
            })?,
            None => work.await,
        }
    }

    /// `LISTEN` and `UNLISTEN`; `None` for any other statement.
    async fn listen<C: ClientInfo + ?Sized>(
        &self,
        client: &C,
        session: &KubeSession,
        statement: &Statement,
    ) -> Option<PgWireResult<Response>> {
        let started = std::time::Instant::now();
        let result = match statement {
            Statement::LISTEN { channel } => self
                .within_timeout(self.listeners.listen(
                    session,
                    &self.engine.pool().watch,
                    &crate::listen::channel_name(channel),
                ))
                .await
                .map(|()| Response::Execution(Tag::new("LISTEN"))),
            Statement::UNLISTEN { channel } => {
                self.listeners
                    .unlisten(&crate::listen::channel_name(channel));
                Ok(Response::Execution(Tag::new("UNLISTEN")))
            }
            // DISCARD ALL ends every LISTEN too, as in PostgreSQL; the rest of it is settings'.
            Statement::Discard {
                object_type: DiscardObject::ALL,
            } => {
                self.listeners.unlisten("*");
                return None;
            }
            _ => return None,
        };
        let text = statement.to_string();
        self.record(client, session, &text, started, 0, result.as_ref().err());
        Some(result)
    }

    fn record<C: ClientInfo + ?Sized>(
        &self,
        client: &C,
        session: &KubeSession,
        text: &str,
        started: std::time::Instant,
        rows: usize,
        error: Option<&PgWireError>,
    ) {
        let logged = statement_log::Logged {
            peer: self.peer,
            clusters: &session.scope,
            identity: &session.identity.name(),
            text,
        };
        statement_log::record(&self.metrics, client, &logged, started, rows, error);
    }

    /// Plans one statement; a refusal (bad SQL, unknown table, a write) is logged and counted
    /// like an executed statement.
    async fn plan<C: ClientInfo + ?Sized>(
        &self,
        client: &C,
        session: &KubeSession,
        statement: Statement,
        text: &str,
    ) -> PgWireResult<LogicalPlan> {
        let started = std::time::Instant::now();
        let result = session
            .logical_plan(DfStatement::Statement(Box::new(statement)))
            .await
            .map_err(to_pgwire);
        if let Err(e) = &result {
            self.record(client, session, text, started, 0, Some(e));
        }
        result
    }

    /// `COPY … TO STDOUT`: the query is planned like any other (guard included).
    async fn copy_out<C: ClientInfo + ?Sized>(
        &self,
        client: &C,
        session: &KubeSession,
        copy: PgWireResult<crate::copy::CopyOut>,
    ) -> PgWireResult<Response> {
        let copy = copy?;
        let text = masked(&copy.query);
        let plan = self.plan(client, session, copy.query, &text).await?;
        let schema = plan.schema().as_arrow().clone();
        let batches = self.collect(client, session, plan, &text).await?;
        Ok(Response::CopyOut(crate::copy::response(
            &schema,
            batches,
            &copy.format,
        )?))
    }

    /// `DECLARE name CURSOR FOR query`: the query is planned like any other (guard, timeout,
    /// statement log) and its rows wait in a portal of the cursor's name, whose statement keeps
    /// the plan so that Describe Portal (psycopg's server cursors) answers the cursor's columns.
    /// FETCH and CLOSE are datafusion-postgres's cursor hook, over the same portal store.
    async fn declare<C>(
        &self,
        client: &mut C,
        session: &KubeSession,
        declares: &[Declare],
        params: Option<&ParamValues>,
    ) -> PgWireResult<Response>
    where
        C: HookClient,
    {
        for declare in declares {
            let (Some(DeclareType::Cursor), Some(name), Some(query)) = (
                &declare.declare_type,
                declare.names.first(),
                &declare.for_query,
            ) else {
                return Err(crate::errors::user_error(
                    "42601",
                    "DECLARE needs a cursor name and CURSOR FOR a query".into(),
                ));
            };
            let statement = Statement::Query(query.clone());
            let text = masked(&statement);
            let mut plan = self.plan(client, session, statement.clone(), &text).await?;
            if let Some(params) = params {
                plan = plan
                    .replace_params_with_values(params)
                    .map_err(from_datafusion)?;
            }
            let schema = plan.schema().as_arrow().clone();
            let batches = self.collect(client, session, plan.clone(), &text).await?;
            let options = Arc::new(FormatOptions::from_client_metadata(client.metadata()));
            let fields = encode::fields(
                &schema,
                &Format::UnifiedText,
                Some(options),
                crate::names::postgres_names(&plan),
            )?;
            let stored = Arc::new(StoredStatement::new(
                name.value.clone(),
                (query.to_string(), Some((statement, plan))),
                vec![],
            ));
            let portal = Portal::new_cursor(name.value.clone(), stored);
            portal
                .start(encode::response(Arc::new(fields), batches))
                .await;
            HookClient::portal_store(client).put_portal(Arc::new(portal));
        }
        Ok(Response::Execution(Tag::new("DECLARE CURSOR")))
    }

    async fn send_warnings<C>(&self, client: &mut C, session: &KubeSession) -> PgWireResult<()>
    where
        C: Sink<PgWireBackendMessage> + Unpin + Send,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        for w in session.take_warnings() {
            let notice = NoticeResponse::from(ErrorInfo::new("WARNING".into(), "01000".into(), w));
            client
                .send(PgWireBackendMessage::NoticeResponse(notice))
                .await?;
        }
        Ok(())
    }
}

impl Queries {
    /// One statement of a simple query: COPY TO STDOUT, a hook's statement (SET, SHOW, BEGIN,
    /// cursors), or a query.
    async fn simple_statement<C>(
        &self,
        client: &mut C,
        session: &KubeSession,
        statement: Statement,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        if let Some(copy) = crate::copy::parse(&statement) {
            return self.copy_out(client, session, copy).await;
        }
        if let Statement::Declare { stmts } = &statement {
            return self.declare(client, session, stmts, None).await;
        }
        if let Some(result) = self.listen(client, session, &statement).await {
            return result;
        }
        if let Some(result) = self
            .settings
            .execute(client, &session.ctx, &statement)
            .await
        {
            return result;
        }
        for hook in &self.hooks {
            if let Some(result) = hook
                .handle_simple_query(&statement, &session.ctx, client)
                .await
            {
                return result;
            }
        }
        let text = masked(&statement);
        let plan = self.plan(client, session, statement, &text).await?;
        self.run(client, session, plan, &Format::UnifiedText, &text)
            .await
    }
}

#[async_trait]
impl SimpleQueryHandler for Queries {
    async fn do_query<C>(&self, client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let _running = self.activity.begin();
        let session = self.session(client).await?;
        let statements = self.parse(query)?;
        if statements.is_empty() {
            return Ok(vec![Response::EmptyQuery]);
        }
        let mut responses = Vec::with_capacity(statements.len());
        for statement in statements {
            let result = self.simple_statement(client, &session, statement).await;
            self.send_warnings(client, &session).await?;
            match result {
                Ok(r) => responses.push(r),
                // Like PostgreSQL, the statements after a failed one do not run.
                Err(e) => {
                    responses.push(error_response(e));
                    break;
                }
            }
        }
        Ok(responses)
    }
}

/// An error as a response, so the statements before it keep their results.
fn error_response(e: PgWireError) -> Response {
    match e {
        PgWireError::UserError(info) => Response::Error(info),
        other => Response::Error(Box::new(ErrorInfo::new(
            "ERROR".into(),
            "XX000".into(),
            other.to_string(),
        ))),
    }
}

#[async_trait]
impl QueryParser for Queries {
    type Statement = PreparedStatement;

    async fn parse_sql<C>(
        &self,
        client: &C,
        sql: &str,
        _types: &[Option<Type>],
    ) -> PgWireResult<Option<Self::Statement>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        let _running = self.activity.begin();
        let session = self.session(client).await?;
        let mut statements = self.parse(sql)?;
        if statements.is_empty() {
            return Ok(None);
        }
        let statement = statements.remove(0);
        if let Some(plan) = Settings::describe(&statement) {
            return Ok(Some((sql.to_string(), Some((statement, plan)))));
        }
        for hook in &self.hooks {
            if let Some(plan) = hook
                .handle_extended_parse_query(&statement, &session.ctx, client)
                .await
            {
                return Ok(Some((sql.to_string(), Some((statement, plan?)))));
            }
        }
        let text = masked(&statement);
        let plan = self
            .plan(client, &session, statement.clone(), &text)
            .await?;
        Ok(Some((sql.to_string(), Some((statement, plan)))))
    }

    fn get_parameter_types(&self, stmt: &Self::Statement) -> PgWireResult<Vec<Type>> {
        let Some((_, plan)) = &stmt.1 else {
            return Ok(vec![]);
        };
        parameter_types(plan)?
            .into_iter()
            .map(|t| t.as_ref().map_or(Ok(Type::UNKNOWN), into_pg_type))
            .collect()
    }

    fn get_result_schema(
        &self,
        stmt: &Self::Statement,
        column_format: Option<&Format>,
    ) -> PgWireResult<Vec<FieldInfo>> {
        let Some((_, plan)) = &stmt.1 else {
            return Ok(vec![]);
        };
        if matches!(
            plan,
            LogicalPlan::Statement(_) | LogicalPlan::Ddl(_) | LogicalPlan::Dml(_)
        ) {
            return Ok(vec![]);
        }
        encode::fields(
            plan.schema().as_arrow(),
            column_format.unwrap_or(&Format::UnifiedText),
            None,
            crate::names::postgres_names(plan),
        )
    }
}

/// `$1`, `$2`, … in order, with the types DataFusion inferred for them.
fn parameter_types(
    plan: &LogicalPlan,
) -> PgWireResult<Vec<Option<datafusion::arrow::datatypes::DataType>>> {
    let types = plan.get_parameter_types().map_err(from_datafusion)?;
    let mut ordered: Vec<(usize, Option<datafusion::arrow::datatypes::DataType>)> = types
        .into_iter()
        .filter_map(|(k, v)| {
            k.trim_start_matches('$')
                .parse::<usize>()
                .ok()
                .map(|i| (i, v))
        })
        .collect();
    ordered.sort_by_key(|(i, _)| *i);
    Ok(ordered.into_iter().map(|(_, t)| t).collect())
}

#[async_trait]
impl ExtendedQueryHandler for Queries {
    type Statement = PreparedStatement;
    type QueryParser = Queries;

    fn query_parser(&self) -> Arc<Self::QueryParser> {
        // The parser needs the connection's session; `Queries` is both.
        Arc::new(Queries {
            engine: self.engine.clone(),
            config: self.config.clone(),
            session: self.session.clone(),
            parser: self.parser.clone(),
            metrics: self.metrics.clone(),
            hooks: self.hooks.clone(),
            peer: self.peer,
            activity: self.activity.clone(),
            settings: self.settings.clone(),
            listeners: self.listeners.clone(),
        })
    }

    async fn do_query<C>(
        &self,
        client: &mut C,
        portal: &Portal<Self::Statement>,
        _max_rows: usize,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let _running = self.activity.begin();
        let session = self.session(client).await?;
        let Some((statement, plan)) = &portal.statement.statement.1 else {
            return Ok(Response::EmptyQuery);
        };
        let types = parameter_types(plan)?;
        let type_refs: Vec<Option<&datafusion::arrow::datatypes::DataType>> =
            types.iter().map(Option::as_ref).collect();
        let params: ParamValues = deserialize_parameters(portal, &type_refs)?;
        if let Statement::Declare { stmts } = statement {
            let result = self.declare(client, &session, stmts, Some(&params)).await;
            self.send_warnings(client, &session).await?;
            return result;
        }
        if let Some(result) = self.listen(client, &session, statement).await {
            return result;
        }
        if let Some(result) = self.settings.execute(client, &session.ctx, statement).await {
            return result;
        }
        for hook in &self.hooks {
            if let Some(result) = hook
                .handle_extended_query(statement, plan, &params, &session.ctx, client)
                .await
            {
                return result;
            }
        }
        let plan = plan
            .clone()
            .replace_params_with_values(&params)
            .map_err(from_datafusion)?;
        let result = self
            .run(
                client,
                &session,
                plan,
                &portal.result_column_format,
                &masked(statement),
            )
            .await;
        self.send_warnings(client, &session).await?;
        result
    }
}
