//! The wire side of the statement pipeline: the simple protocol's Query and the extended
//! protocol's Parse, Describe and Execute, each handing statements to the session's pipeline
//! ([`kubepg_sql::pipeline`]) and sending what comes out as it comes: rows are encoded batch by
//! batch while the query still runs, under the client's cancel request and the statement's
//! timeout, and a portal with a row limit keeps the rest of its stream for the next Execute.
//!
//! pgwire's default Query and Execute handling collects a result before it is sent (and its
//! cancel covers only the statement's start), so `on_query` and `on_execute` are kubepg's.

use std::fmt::Debug;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use async_trait::async_trait;
use datafusion::arrow::datatypes::DataType;
use datafusion_postgres::arrow_pg::datatypes::df::deserialize_parameters;
use datafusion_postgres::arrow_pg::datatypes::into_pg_type;
use datafusion_postgres::pgwire::api::portal::{Format, Portal, PortalExecutionState};
use datafusion_postgres::pgwire::api::query::{
    ExtendedQueryHandler, SimpleQueryHandler, send_describe_response, send_execution_response,
    send_partial_query_response, send_query_response,
};
use datafusion_postgres::pgwire::api::results::{
    DescribePortalResponse, FieldInfo, QueryResponse, Response, Tag,
};
use datafusion_postgres::pgwire::api::stmt::QueryParser;
use datafusion_postgres::pgwire::api::store::{Entry, MemPortalStore, PortalStore};
use datafusion_postgres::pgwire::api::{
    ClientInfo, ClientPortalStore, ConnectionHandle, DEFAULT_NAME, PgWireConnectionState, Type,
};
use datafusion_postgres::pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use datafusion_postgres::pgwire::messages::PgWireBackendMessage;
use datafusion_postgres::pgwire::messages::copy::{CopyDone, CopyOutResponse};
use datafusion_postgres::pgwire::messages::extendedquery::{
    Describe, Execute, TARGET_TYPE_BYTE_PORTAL,
};
use datafusion_postgres::pgwire::messages::response::{
    EmptyQueryResponse, NoticeResponse, ReadyForQuery, TransactionStatus,
};
use datafusion_postgres::pgwire::messages::simplequery::Query;
use datafusion_postgres::pgwire::messages::startup::ParameterStatus;
use datafusion_postgres::pgwire::types::format::FormatOptions;
use futures::channel::oneshot;
use futures::future::{Either, select};
use futures::{Sink, SinkExt, StreamExt};
use kubepg_sql::pipeline::{Effect, Outcome, Prepared, Rows, TransactionState};
use kubepg_sql::{KubeSession, SqlState};

use crate::connection::Queries;
use crate::encode::{self, CopyWriter};
use crate::errors::{error, to_pgwire};
use crate::statement_log;

/// What a prepared statement holds: the pipeline's prepared statement.
pub type PreparedStatement = Arc<Prepared>;

/// The status ReadyForQuery reports for the session's transaction block.
fn wire_status(state: TransactionState) -> TransactionStatus {
    match state {
        TransactionState::Idle => TransactionStatus::Idle,
        TransactionState::InBlock => TransactionStatus::Transaction,
        TransactionState::Failed => TransactionStatus::Error,
    }
}

/// The receiver a CancelRequest for this connection fires, installed for the statement about
/// to run.
async fn cancel_receiver<C: ClientInfo + ?Sized>(client: &C) -> Option<oneshot::Receiver<()>> {
    let handle = client.session_extensions().get::<Arc<ConnectionHandle>>()?;
    Some(handle.start_query().await)
}

/// `work`, unless the client cancels it first.
async fn cancellable<T>(
    cancel: Option<oneshot::Receiver<()>>,
    work: impl Future<Output = PgWireResult<T>>,
) -> PgWireResult<T> {
    match cancel {
        Some(cancel) => match select(pin!(work), cancel).await {
            Either::Left((result, _)) => result,
            Either::Right(_) => Err(error(
                SqlState::QueryCanceled,
                "canceling statement due to user request".into(),
            )),
        },
        None => work.await,
    }
}

/// `send`, cut off at the statement's deadline (a client that stops reading its rows holds
/// the statement no longer than its timeout).
async fn until<T>(
    deadline: Option<tokio::time::Instant>,
    send: impl Future<Output = PgWireResult<T>>,
) -> PgWireResult<T> {
    match deadline {
        Some(d) => tokio::time::timeout_at(d, send)
            .await
            .unwrap_or_else(|_| Err(to_pgwire(kubepg_sql::Error::StatementTimeout))),
        None => send.await,
    }
}

/// The protocol-level portal a `MOVE` names, when no SQL cursor of the session has that name,
/// with the count it moves.
async fn protocol_portal<C>(
    client: &C,
    session: &KubeSession,
    statement: &datafusion::sql::sqlparser::ast::Statement,
) -> Option<(
    Arc<Portal<PreparedStatement>>,
    kubepg_sql::Result<Option<u64>>,
)>
where
    C: ClientPortalStore,
    C::PortalStore: PortalStore,
{
    let (name, count) = kubepg_sql::pipeline::portal_move(statement)?;
    if session.cursor_columns(&name).await.is_some() {
        return None;
    }
    let store = client
        .portal_store()
        .as_any()
        .downcast_ref::<MemPortalStore<PreparedStatement>>()?;
    Some((store.get_portal(&name)?.value()?.clone(), count))
}

/// What opening a portal did.
enum Opened {
    /// The statement had no rows and its answer was sent.
    Answered,
    /// Its rows wait in the portal, until this deadline.
    Rows(Option<tokio::time::Instant>),
}

/// How values are printed: the client's formatting settings and the session's zone.
fn options<C: ClientInfo + ?Sized>(client: &C, session: &KubeSession) -> Arc<FormatOptions> {
    let mut options = FormatOptions::from_client_metadata(client.metadata());
    options.time_zone = session.settings.time_zone().shown().to_string();
    Arc::new(options)
}

/// The rows of a result as pgwire's lazily encoded row stream, counting what is sent.
fn query_response(rows: Rows, fields: Vec<FieldInfo>, sent: Arc<AtomicUsize>) -> QueryResponse {
    let fields = Arc::new(fields);
    let encoding = fields.clone();
    let data = rows.batches.flat_map(move |batch| {
        let encoded: Vec<PgWireResult<_>> = match batch {
            Ok(batch) => {
                sent.fetch_add(batch.num_rows(), Ordering::Relaxed);
                encode::rows(&encoding, batch).collect()
            }
            Err(e) => vec![Err(to_pgwire(e))],
        };
        futures::stream::iter(encoded)
    });
    let mut response = QueryResponse::new(fields, data);
    response.set_command_tag(rows.command);
    response
}

impl Queries {
    /// Sends what a command asks of the protocol layer and its CommandComplete.
    async fn command<C>(client: &mut C, tag: &str, effect: Option<Effect>) -> PgWireResult<()>
    where
        C: ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        match effect {
            Some(Effect::DiscardAll) => client.portal_store().clear_portals(),
            Some(Effect::Deallocate(Some(name))) => client.portal_store().rm_statement(&name),
            // pgwire's statement store cannot list its statements: they stay until replaced
            // by name or the connection ends.
            Some(Effect::Deallocate(None)) | None => {}
        }
        send_execution_response(client, Tag::new(tag)).await
    }

    /// `COPY … TO STDOUT`: CopyOutResponse, a CopyData per row as batches come, CopyDone.
    async fn copy_out<C>(
        client: &mut C,
        rows: Rows,
        format: &kubepg_sql::pipeline::CopyFormat,
        zone: kubepg_sql::time_zone::SessionZone,
        sent: &AtomicUsize,
    ) -> PgWireResult<()>
    where
        C: Sink<PgWireBackendMessage> + Unpin + Send,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let mut writer = CopyWriter::new(&rows.columns, format, zone)?;
        let columns = writer.columns();
        client
            .feed(PgWireBackendMessage::CopyOutResponse(CopyOutResponse::new(
                0,
                columns as i16,
                vec![0; columns],
            )))
            .await?;
        if let Some(header) = CopyWriter::header(&rows.columns, format) {
            client.feed(PgWireBackendMessage::CopyData(header)).await?;
        }
        let mut batches = rows.batches;
        let mut count = 0;
        while let Some(batch) = batches.next().await {
            let batch = batch.map_err(to_pgwire)?;
            for data in writer.rows(&batch)? {
                client.feed(PgWireBackendMessage::CopyData(data)).await?;
            }
            count += batch.num_rows();
            sent.fetch_add(batch.num_rows(), Ordering::Relaxed);
        }
        client
            .feed(PgWireBackendMessage::CopyDone(CopyDone::new()))
            .await?;
        send_execution_response(client, Tag::new("COPY").with_rows(count)).await
    }

    /// What the session's last statement left for the client: warnings as NoticeResponses,
    /// and changed settings (a ParameterStatus for those PostgreSQL reports, and pgwire's
    /// value formatting for those it reads).
    async fn after_statement<C>(client: &mut C, session: &KubeSession) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        for w in session.take_warnings() {
            let notice = NoticeResponse::from(ErrorInfo::new(
                "WARNING".into(),
                SqlState::Warning.code().into(),
                w,
            ));
            client
                .feed(PgWireBackendMessage::NoticeResponse(notice))
                .await?;
        }
        for changed in session.settings.take_changed() {
            if let Some(key) = formatting_key(&changed.name) {
                client
                    .metadata_mut()
                    .insert(key.to_string(), changed.value.clone());
            }
            if changed.reported {
                client
                    .feed(PgWireBackendMessage::ParameterStatus(ParameterStatus::new(
                        changed.name,
                        changed.value,
                    )))
                    .await?;
            }
        }
        client.set_transaction_status(wire_status(session.transaction_state()));
        Ok(())
    }

    fn record<C: ClientInfo + ?Sized>(
        &self,
        client: &C,
        session: &KubeSession,
        text: &str,
        started: Instant,
        rows: usize,
        error: Option<&PgWireError>,
    ) {
        let logged = statement_log::Logged {
            peer: self.0.peer,
            clusters: &session.scope,
            identity: &session.identity.name(),
            text,
        };
        statement_log::record(&self.0.metrics, client, &logged, started, rows, error);
    }

    /// One statement of a simple query, from parse to its last row.
    async fn simple_statement<C>(
        &self,
        client: &mut C,
        session: &KubeSession,
        prepared: &Prepared,
        sent: &Arc<AtomicUsize>,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        match session.execute(prepared, None).await.map_err(to_pgwire)? {
            Outcome::Empty => {
                client
                    .feed(PgWireBackendMessage::EmptyQueryResponse(
                        EmptyQueryResponse::new(),
                    ))
                    .await?;
                Ok(())
            }
            Outcome::Command { tag, effect } => Self::command(client, &tag, effect).await,
            Outcome::Rows(rows) => {
                let deadline = rows.deadline;
                let fields = encode::fields(
                    &rows.columns,
                    &Format::UnifiedText,
                    Some(options(client, session)),
                )?;
                let response = query_response(rows, fields, sent.clone());
                until(deadline, send_query_response(client, response, true)).await
            }
            Outcome::Copy { rows, format } => {
                until(
                    rows.deadline,
                    Self::copy_out(client, rows, &format, session.settings.time_zone(), sent),
                )
                .await
            }
        }
    }

    /// A simple query: each statement in turn, each answered before the next one starts;
    /// like PostgreSQL, the statements after a failed one do not run.
    async fn simple<C>(&self, client: &mut C, query: &str) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let session = self.session(client).await?;
        let started = Instant::now();
        let statements = match session.parse(query).await {
            Ok(s) => s,
            Err(e) => {
                let e = to_pgwire(e);
                self.record(
                    client,
                    &session,
                    &kubepg_sql::pipeline::mask::masked_text(query),
                    started,
                    0,
                    Some(&e),
                );
                return Err(e);
            }
        };
        if statements.is_empty() {
            client
                .feed(PgWireBackendMessage::EmptyQueryResponse(
                    EmptyQueryResponse::new(),
                ))
                .await?;
            return Ok(());
        }
        for statement in statements {
            let started = Instant::now();
            let logged = kubepg_sql::pipeline::mask::masked(&statement);
            let sent = Arc::new(AtomicUsize::new(0));
            let cancel = cancel_receiver(client).await;
            let result = cancellable(cancel, async {
                if let Some((portal, count)) = protocol_portal(client, &session, &statement).await {
                    let count = count.map_err(to_pgwire)?;
                    return Self::move_portal(client, &session, &portal, count, &sent).await;
                }
                let prepared = session.prepare(statement).await.map_err(to_pgwire)?;
                self.simple_statement(client, &session, &prepared, &sent)
                    .await
            })
            .await;
            if result.is_err() {
                session.statement_failed();
            }
            Self::after_statement(client, &session).await?;
            let rows = sent.load(Ordering::Relaxed);
            self.record(
                client,
                &session,
                &logged,
                started,
                rows,
                result.as_ref().err(),
            );
            if let Err(e) = result {
                let info: ErrorInfo = e.into();
                client
                    .feed(PgWireBackendMessage::ErrorResponse(info.into()))
                    .await?;
                break;
            }
        }
        Ok(())
    }

    /// Runs a portal's statement on its first Execute, then sends up to `max_rows` of its
    /// rows (all for 0); what is left waits in the portal.
    async fn execute_portal<C>(
        &self,
        client: &mut C,
        session: &KubeSession,
        portal: &Portal<PreparedStatement>,
        max_rows: usize,
        sent: &Arc<AtomicUsize>,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = PreparedStatement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let state = portal.state();
        let mut state = state.lock().await;
        let deadline = match Self::open_portal(client, session, portal, &mut state, sent).await? {
            Opened::Answered => return Ok(()),
            Opened::Rows(deadline) => deadline,
        };
        match &mut *state {
            PortalExecutionState::Suspended(response) => {
                let suspended = until(
                    deadline,
                    send_partial_query_response(client, response, max_rows),
                )
                .await?;
                if !suspended {
                    *state = PortalExecutionState::Finished;
                }
                Ok(())
            }
            _ => send_execution_response(client, Tag::new("SELECT").with_rows(0)).await,
        }
    }

    /// Runs a portal's statement if it has not run yet, leaving its rows in the portal; a
    /// statement without rows is answered then and there.
    async fn open_portal<C>(
        client: &mut C,
        session: &KubeSession,
        portal: &Portal<PreparedStatement>,
        state: &mut PortalExecutionState,
        sent: &Arc<AtomicUsize>,
    ) -> PgWireResult<Opened>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        if !matches!(*state, PortalExecutionState::Initial) {
            return Ok(Opened::Rows(None));
        }
        let prepared = &portal.statement.statement;
        let types: Vec<Option<&DataType>> = prepared
            .described
            .parameters
            .iter()
            .map(Option::as_ref)
            .collect();
        let params = deserialize_parameters(portal, &types)?;
        match session
            .execute(prepared, Some(&params))
            .await
            .map_err(to_pgwire)?
        {
            Outcome::Empty => {
                *state = PortalExecutionState::Finished;
                client
                    .feed(PgWireBackendMessage::EmptyQueryResponse(
                        EmptyQueryResponse::new(),
                    ))
                    .await?;
                Ok(Opened::Answered)
            }
            Outcome::Command { tag, effect } => {
                *state = PortalExecutionState::Finished;
                Self::command(client, &tag, effect).await?;
                Ok(Opened::Answered)
            }
            Outcome::Copy { rows, format } => {
                *state = PortalExecutionState::Finished;
                until(
                    rows.deadline,
                    Self::copy_out(client, rows, &format, session.settings.time_zone(), sent),
                )
                .await?;
                Ok(Opened::Answered)
            }
            Outcome::Rows(rows) => {
                let deadline = rows.deadline;
                let fields = encode::fields(
                    &rows.columns,
                    &portal.result_column_format,
                    Some(options(client, session)),
                )?;
                *state =
                    PortalExecutionState::Suspended(query_response(rows, fields, sent.clone()));
                Ok(Opened::Rows(deadline))
            }
        }
    }

    /// `MOVE` over a protocol-level portal (asyncpg's `cursor.forward()`): its rows are
    /// skipped, up to `count` (all for `None`), and the tag says how many.
    async fn move_portal<C>(
        client: &mut C,
        session: &KubeSession,
        portal: &Portal<PreparedStatement>,
        count: Option<u64>,
        sent: &Arc<AtomicUsize>,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let state = portal.state();
        let mut state = state.lock().await;
        let deadline = match Self::open_portal(client, session, portal, &mut state, sent).await? {
            Opened::Answered => return Ok(()),
            Opened::Rows(deadline) => deadline,
        };
        let mut moved = 0u64;
        if let PortalExecutionState::Suspended(response) = &mut *state {
            let skip = async {
                while count.is_none_or(|c| moved < c) {
                    match response.data_rows().next().await {
                        Some(row) => {
                            row?;
                            moved += 1;
                        }
                        None => return Ok(true),
                    }
                }
                Ok::<bool, PgWireError>(false)
            };
            if until(deadline, skip).await? {
                *state = PortalExecutionState::Finished;
            }
        }
        send_execution_response(client, Tag::new("MOVE").with_rows(moved as usize)).await
    }
}

/// The connection metadata key pgwire's value formatting reads for a setting.
fn formatting_key(setting: &str) -> Option<&'static str> {
    match setting {
        "DateStyle" => Some("datestyle"),
        "IntervalStyle" => Some("intervalstyle"),
        "bytea_output" => Some("bytea_output"),
        "extra_float_digits" => Some("extra_float_digits"),
        _ => None,
    }
}

#[async_trait]
impl SimpleQueryHandler for Queries {
    async fn on_query<C>(&self, client: &mut C, query: Query) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        if !matches!(client.state(), PgWireConnectionState::ReadyForQuery) {
            return Err(PgWireError::NotReadyForQuery);
        }
        let _running = self.0.activity.begin();
        client.set_state(PgWireConnectionState::QueryInProgress);
        let result = self.simple(client, &query.query).await;
        client.set_state(PgWireConnectionState::ReadyForQuery);
        if let Ok(session) = self.session(client).await {
            client.set_transaction_status(wire_status(session.transaction_state()));
        }
        result?;
        client
            .send(PgWireBackendMessage::ReadyForQuery(ReadyForQuery::new(
                client.transaction_status(),
            )))
            .await?;
        Ok(())
    }

    /// Never reached: `on_query` answers every Query. pgwire's trait requires it.
    async fn do_query<C>(&self, _client: &mut C, _query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        Err(PgWireError::NotReadyForQuery)
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
        let _running = self.0.activity.begin();
        let session = self.session(client).await?;
        let started = Instant::now();
        let result = async {
            let mut statements = session.parse(sql).await?;
            if statements.len() > 1 {
                return Err(kubepg_sql::Error::refused(
                    SqlState::SyntaxError,
                    "cannot insert multiple commands into a prepared statement",
                ));
            }
            match statements.pop() {
                None => Ok(None),
                Some(statement) => session.prepare(statement).await.map(|p| Some(Arc::new(p))),
            }
        }
        .await
        .map_err(to_pgwire);
        if let Err(e) = &result {
            let text = kubepg_sql::pipeline::mask::masked_text(sql);
            self.record(client, &session, &text, started, 0, Some(e));
        }
        result
    }

    fn get_parameter_types(&self, stmt: &Self::Statement) -> PgWireResult<Vec<Type>> {
        stmt.described
            .parameters
            .iter()
            .map(|t| t.as_ref().map_or(Ok(Type::UNKNOWN), into_pg_type))
            .collect()
    }

    fn get_result_schema(
        &self,
        stmt: &Self::Statement,
        column_format: Option<&Format>,
    ) -> PgWireResult<Vec<FieldInfo>> {
        match &stmt.described.columns {
            Some(columns) => {
                encode::fields(columns, column_format.unwrap_or(&Format::UnifiedText), None)
            }
            None => Ok(vec![]),
        }
    }
}

#[async_trait]
impl ExtendedQueryHandler for Queries {
    type Statement = PreparedStatement;
    type QueryParser = Queries;

    fn query_parser(&self) -> Arc<Self::QueryParser> {
        Arc::new(self.clone())
    }

    /// A portal named like one of the session's cursors is that cursor (psycopg describes its
    /// server-side cursors so); anything else is pgwire's.
    async fn on_describe<C>(&self, client: &mut C, message: Describe) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let name = message.name.as_deref().unwrap_or(DEFAULT_NAME);
        if message.target_type == TARGET_TYPE_BYTE_PORTAL
            && client.portal_store().get_portal(name).is_none()
        {
            let session = self.session(client).await?;
            if let Some(columns) = session.cursor_columns(name).await {
                let fields = encode::fields(&columns, &Format::UnifiedText, None)?;
                return send_describe_response(client, &DescribePortalResponse::new(fields)).await;
            }
        }
        self._on_describe(client, message).await
    }

    async fn on_execute<C>(&self, client: &mut C, message: Execute) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        if !matches!(client.state(), PgWireConnectionState::ReadyForQuery) {
            return Err(PgWireError::NotReadyForQuery);
        }
        let _running = self.0.activity.begin();
        let name = message.name.as_deref().unwrap_or(DEFAULT_NAME);
        let portal = match client.portal_store().get_portal(name) {
            Some(Entry::Value(portal)) => portal,
            Some(Entry::Empty) => {
                return client
                    .feed(PgWireBackendMessage::EmptyQueryResponse(
                        EmptyQueryResponse::new(),
                    ))
                    .await
                    .map_err(Into::into);
            }
            None => return Err(PgWireError::PortalNotFound(name.to_owned())),
        };
        let session = self.session(client).await?;
        client.set_state(PgWireConnectionState::QueryInProgress);
        let started = Instant::now();
        let sent = Arc::new(AtomicUsize::new(0));
        let cancel = cancel_receiver(client).await;
        let result = cancellable(
            cancel,
            self.execute_portal(client, &session, &portal, message.max_rows as usize, &sent),
        )
        .await;
        if result.is_err() {
            session.statement_failed();
        }
        client.set_state(PgWireConnectionState::ReadyForQuery);
        Self::after_statement(client, &session).await?;
        self.record(
            client,
            &session,
            &portal.statement.statement.logged,
            started,
            sent.load(Ordering::Relaxed),
            result.as_ref().err(),
        );
        result
    }

    /// Never reached: `on_execute` answers every Execute. pgwire's trait requires it.
    async fn do_query<C>(
        &self,
        _client: &mut C,
        _portal: &Portal<Self::Statement>,
        _max_rows: usize,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        Err(PgWireError::NotReadyForQuery)
    }
}
