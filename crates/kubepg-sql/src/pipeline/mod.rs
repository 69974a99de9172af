//! The one statement pipeline every front end runs: parse (with the PostgreSQL-compatibility
//! rewrites) → an ordered list of hooks, each answering the statements it owns and passing the
//! rest on → plan → execute. The simple and extended protocols, cursors and `kubepg query` all
//! come through here, so a statement means the same thing wherever it is sent.
//!
//! What comes out is an [`Outcome`]: a command tag, or rows as a stream of record batches that
//! the front end encodes as they arrive. The pipeline bounds the whole statement — planning,
//! execution and the stream — by the session's `statement_timeout`, and marks the session's
//! transaction failed when a statement fails, whether it fails before or after its first row.

mod copy;
pub(crate) mod cursor;
mod discard;
mod listen;
pub mod mask;
pub mod names;
mod parse;
mod set_show;
pub(crate) mod transaction;

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use async_trait::async_trait;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::ParamValues;
use datafusion::logical_expr::LogicalPlan;
use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast::Statement;
use futures::stream::BoxStream;
use futures::{Stream, StreamExt};
use tokio::time::Instant;

pub use copy::CopyFormat;
pub use listen::{Listeners, Notification, notification_queue};
pub use transaction::TransactionState;

use crate::error::{Error, Result};
use crate::session::KubeSession;

/// A result's columns, named as PostgreSQL names them; a column's field metadata says when it
/// is jsonb.
pub type Columns = SchemaRef;

/// Record batches as they are computed, with kubepg's errors.
pub type Batches = BoxStream<'static, Result<RecordBatch>>;

/// Rows on their way to the client.
pub struct Rows {
    pub columns: Columns,
    pub batches: Batches,
    /// The command tag's word: `SELECT`, `FETCH`, `SHOW`, `EXPLAIN`.
    pub command: &'static str,
    /// When the statement's `statement_timeout` runs out: the batches end there, and a front
    /// end that cannot write them (a client that stops reading) stops there too.
    pub deadline: Option<Instant>,
}

impl std::fmt::Debug for Rows {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rows")
            .field("columns", &self.columns)
            .field("command", &self.command)
            .finish_non_exhaustive()
    }
}

/// What a statement did, for the front end to send.
#[derive(Debug)]
pub enum Outcome {
    /// No statement at all (an empty query string).
    Empty,
    /// A command: its tag, and what the protocol layer must do besides.
    Command {
        tag: String,
        effect: Option<Effect>,
    },
    Rows(Rows),
    /// `COPY … TO STDOUT`: the rows, and how to write them.
    Copy {
        rows: Rows,
        format: CopyFormat,
    },
}

/// What a command asks of the protocol layer beyond its tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// `DISCARD ALL`: drop every prepared statement and portal of the connection.
    DiscardAll,
    /// `DEALLOCATE name`; `None` for `DEALLOCATE ALL`.
    Deallocate(Option<String>),
}

impl Outcome {
    fn command(tag: impl Into<String>) -> Self {
        Outcome::Command {
            tag: tag.into(),
            effect: None,
        }
    }
}

/// What the protocol layer needs of a statement before it runs (the extended protocol's
/// Describe): its parameters and the columns it will return.
#[derive(Debug, Clone, Default)]
pub struct Described {
    /// `$1`, `$2`, … in order, with the types inferred for them (`None`: unknown).
    pub parameters: Vec<Option<DataType>>,
    /// `None`: the statement returns no rows.
    pub columns: Option<Columns>,
}

/// A statement parsed and, if it is a query, planned: the extended protocol's prepared
/// statement, and each statement of a simple query on its way through.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub statement: Statement,
    /// The statement as the statement log shows it (string literals masked).
    pub logged: String,
    pub described: Described,
    /// The plan of a query; `None` for statements a hook answers.
    plan: Option<LogicalPlan>,
}

/// One kind of statement the pipeline answers without planning it.
#[async_trait]
trait Hook: Send + Sync {
    /// The statement's parameters and columns, when it is this hook's.
    async fn describe(
        &self,
        statement: &Statement,
        session: &KubeSession,
    ) -> Option<Result<Described>>;

    /// Runs the statement, when it is this hook's.
    async fn run(
        &self,
        statement: &Statement,
        params: Option<&ParamValues>,
        session: &KubeSession,
    ) -> Option<Result<Outcome>>;
}

/// The only place that says which statement does what, in the order asked: a failed
/// transaction refuses everything but its way out before any other hook sees a statement.
const HOOKS: &[&dyn Hook] = &[
    &transaction::Aborted,
    &transaction::Transactions,
    &discard::Discard,
    &set_show::SetShow,
    &cursor::Cursors,
    &copy::CopyTo,
    &listen::Listen,
];

impl KubeSession {
    /// Splits `sql` into statements, with the rewrites that let DataFusion plan what
    /// PostgreSQL clients send.
    pub fn parse(&self, sql: &str) -> Result<Vec<Statement>> {
        parse::statements(sql)
    }

    /// Prepares one statement: a hook's statement is described by its hook, anything else is
    /// planned (through the read-only guard).
    pub async fn prepare(&self, statement: Statement) -> Result<Prepared> {
        let logged = mask::masked(&statement);
        let deadline = self.deadline();
        let prepared = within(deadline, async {
            for hook in HOOKS {
                if let Some(described) = hook.describe(&statement, self).await {
                    return Ok(Prepared {
                        described: described?,
                        statement: statement.clone(),
                        logged: logged.clone(),
                        plan: None,
                    });
                }
            }
            let plan = self.logical_plan(statement.clone()).await?;
            Ok(Prepared {
                described: describe_plan(&plan)?,
                statement: statement.clone(),
                logged: logged.clone(),
                plan: Some(plan),
            })
        })
        .await;
        self.mark(prepared)
    }

    /// Runs a prepared statement with its parameters (the extended protocol's Bind values).
    pub async fn execute(
        &self,
        prepared: &Prepared,
        params: Option<&ParamValues>,
    ) -> Result<Outcome> {
        let deadline = self.deadline();
        let outcome = within(deadline, async {
            match &prepared.plan {
                Some(plan) => {
                    if let Some(refused) = transaction::Aborted
                        .run(&prepared.statement, params, self)
                        .await
                    {
                        return refused;
                    }
                    let plan = match params {
                        Some(p) => plan.clone().replace_params_with_values(p)?,
                        None => plan.clone(),
                    };
                    self.query(plan, prepared.described.columns.clone()).await
                }
                None => {
                    for hook in HOOKS {
                        if let Some(outcome) = hook.run(&prepared.statement, params, self).await {
                            return outcome;
                        }
                    }
                    Err(Error::Unsupported(format!(
                        "{} cannot be run here",
                        prepared.logged
                    )))
                }
            }
        })
        .await;
        let outcome = self.mark(outcome)?;
        Ok(self.bounded(outcome, deadline))
    }

    /// Prepares and runs one statement (the simple protocol, `kubepg query`).
    pub async fn run(&self, statement: Statement) -> Result<Outcome> {
        let prepared = self.prepare(statement).await?;
        self.execute(&prepared, None).await
    }

    /// Runs every statement of `sql` and collects the rows of the last one that returns rows:
    /// for tests and tools that want a whole result at once.
    pub async fn collect(&self, sql: &str) -> Result<Vec<RecordBatch>> {
        let mut last = Vec::new();
        for statement in self.parse(sql)? {
            if let Outcome::Rows(rows) | Outcome::Copy { rows, .. } = self.run(statement).await? {
                last = rows
                    .batches
                    .collect::<Vec<_>>()
                    .await
                    .into_iter()
                    .collect::<Result<_>>()?;
            }
        }
        Ok(last)
    }

    /// The logical plan of one query, after the read-only guard accepted it.
    pub(crate) async fn logical_plan(&self, statement: Statement) -> Result<LogicalPlan> {
        let statement = DfStatement::Statement(Box::new(statement));
        crate::guard::check(&statement)?;
        let plan = self.ctx.state().statement_to_plan(statement).await?;
        datafusion::prelude::SQLOptions::new()
            .with_allow_ddl(false)
            .with_allow_dml(false)
            .verify_plan(&plan)?;
        Ok(plan)
    }

    /// Executes a planned query into rows named as PostgreSQL names them.
    async fn query(&self, plan: LogicalPlan, columns: Option<Columns>) -> Result<Outcome> {
        let command = match &plan {
            LogicalPlan::Explain(_) | LogicalPlan::Analyze(_) => "EXPLAIN",
            _ => "SELECT",
        };
        let columns = match columns {
            Some(c) => c,
            None => postgres_columns(&plan),
        };
        let df = self.ctx.execute_logical_plan(plan).await?;
        let stream = df.execute_stream().await?;
        Ok(Outcome::Rows(Rows {
            columns,
            batches: stream.map(|b| b.map_err(Error::from)).boxed(),
            command,
            deadline: None,
        }))
    }

    fn deadline(&self) -> Option<Instant> {
        self.settings
            .statement_timeout()
            .map(|timeout| Instant::now() + timeout)
    }

    /// A statement that failed fails the session's transaction block, as in PostgreSQL.
    fn mark<T>(&self, result: Result<T>) -> Result<T> {
        if result.is_err() {
            self.statement_failed();
        }
        result
    }

    /// The running statement failed outside the pipeline (it was canceled, or its rows could
    /// not be sent): the transaction block fails as it would for an error.
    pub fn statement_failed(&self) {
        self.transaction.fail();
    }

    /// Rows that stop at the deadline, and fail the transaction when they fail.
    fn bounded(&self, outcome: Outcome, deadline: Option<Instant>) -> Outcome {
        let bound = |rows: Rows| Rows {
            deadline,
            batches: Bounded {
                inner: rows.batches,
                deadline: deadline.map(|d| Box::pin(tokio::time::sleep_until(d))),
                transaction: self.transaction.clone(),
                done: false,
            }
            .boxed(),
            ..rows
        };
        match outcome {
            Outcome::Rows(rows) => Outcome::Rows(bound(rows)),
            Outcome::Copy { rows, format } => Outcome::Copy {
                rows: bound(rows),
                format,
            },
            other => other,
        }
    }
}

/// `work`, cut off at `deadline`.
async fn within<T>(deadline: Option<Instant>, work: impl Future<Output = Result<T>>) -> Result<T> {
    match deadline {
        Some(d) => tokio::time::timeout_at(d, work)
            .await
            .unwrap_or(Err(Error::StatementTimeout)),
        None => work.await,
    }
}

/// A statement's batches under its deadline; the first error ends them.
struct Bounded {
    inner: Batches,
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
    transaction: Arc<transaction::Transaction>,
    done: bool,
}

impl Stream for Bounded {
    type Item = Result<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        if let Some(deadline) = self.deadline.as_mut()
            && deadline.as_mut().poll(cx).is_ready()
        {
            self.done = true;
            self.transaction.fail();
            return Poll::Ready(Some(Err(Error::StatementTimeout)));
        }
        let next = self.inner.poll_next_unpin(cx);
        if let Poll::Ready(Some(Err(_))) = &next {
            self.done = true;
            self.transaction.fail();
        }
        next
    }
}

/// The parameters and columns of a planned query.
fn describe_plan(plan: &LogicalPlan) -> Result<Described> {
    let mut parameters: Vec<(usize, Option<DataType>)> = plan
        .get_parameter_types()?
        .into_iter()
        .filter_map(|(k, v)| {
            k.trim_start_matches('$')
                .parse::<usize>()
                .ok()
                .map(|i| (i, v))
        })
        .collect();
    parameters.sort_by_key(|(i, _)| *i);
    Ok(Described {
        parameters: parameters.into_iter().map(|(_, t)| t).collect(),
        columns: Some(postgres_columns(plan)),
    })
}

/// A plan's output schema with PostgreSQL's column names.
fn postgres_columns(plan: &LogicalPlan) -> Columns {
    let schema = plan.schema().as_arrow();
    match names::postgres_names(plan) {
        Some(names) => Arc::new(Schema::new_with_metadata(
            schema
                .fields()
                .iter()
                .zip(names)
                .map(|(f, name)| f.as_ref().clone().with_name(name))
                .collect::<Vec<Field>>(),
            schema.metadata().clone(),
        )),
        None => Arc::new(schema.clone()),
    }
}

/// Text columns with the given names, for what hooks answer (SHOW).
fn text_columns(names: &[&str]) -> Columns {
    Arc::new(Schema::new(
        names
            .iter()
            .map(|n| Field::new(*n, DataType::Utf8, true))
            .collect::<Vec<_>>(),
    ))
}

/// Rows of already-computed batches.
fn computed(columns: Columns, batches: Vec<RecordBatch>, command: &'static str) -> Outcome {
    Outcome::Rows(Rows {
        columns,
        batches: futures::stream::iter(batches.into_iter().map(Ok)).boxed(),
        command,
        deadline: None,
    })
}
