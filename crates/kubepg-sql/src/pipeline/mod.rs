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
mod cursor;
mod discard;
mod hook;
mod listen;
pub mod mask;
mod missing_table;
pub mod names;
mod outcome;
mod parse;
mod plan;
mod postgres_syntax;
mod session;
mod set_show;
mod state;
mod transaction;

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::ParamValues;
use datafusion::sql::sqlparser::ast::Statement;
use futures::{Stream, StreamExt};
use tokio::time::Instant;

pub use cursor::portal_move;
use hook::Hook;
pub use outcome::{Batches, Columns, CopyFormat, Described, Effect, Outcome, Prepared, Rows};
use plan::describe_plan;
pub use session::{KubeSession, SessionRequest};
pub use state::{Listeners, Notification, TransactionState, notification_queue};

use crate::error::{Error, Result};

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
    ///
    /// Parsing is CPU work that a huge statement can make long: it runs on the blocking pool
    /// (whose threads have the stack a deep syntax tree needs), and the statement timeout
    /// answers 57014 when it runs past it, without waiting for it to finish.
    pub async fn parse(&self, sql: &str) -> Result<Vec<Statement>> {
        let sql = sql.to_string();
        within(
            self.deadline(),
            plan::off_task(move || parse::statements(&sql)),
        )
        .await
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
        for statement in self.parse(sql).await? {
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
    transaction: Arc<state::Transaction>,
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
