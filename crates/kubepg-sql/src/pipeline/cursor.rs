//! SQL cursors: `DECLARE name CURSOR FOR query`, `FETCH`, `MOVE` and `CLOSE`, the way
//! psycopg's server-side cursors, asyncpg's `cursor()` and psql users page through a result
//! too large to take at once. A cursor holds its query's batch stream, not its rows: each
//! FETCH computes only as far as it reads, under its own statement timeout.
//!
//! Cursors scan forward only (PostgreSQL's NO SCROLL); a cursor without HOLD lives until the
//! end of its transaction block, as in PostgreSQL.

use async_trait::async_trait;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::ParamValues;
use datafusion::sql::sqlparser::ast::{
    CloseCursor, Declare, DeclareType, FetchDirection, Ident, Statement, Value,
};
use futures::StreamExt;

use super::hook::Hook;
use super::outcome::{Batches, Columns, Described, Outcome, Rows, computed};
use super::parse::MOVE_MARKER;
use super::plan::describe_plan;
use super::session::KubeSession;
use super::state::{Cursor, TransactionState};
use crate::error::{Error, Result};
use crate::sqlstate::SqlState;

/// A cursor's name as PostgreSQL folds it.
fn cursor_name(ident: &Ident) -> String {
    match ident.quote_style {
        None => ident.value.to_lowercase(),
        Some(_) => ident.value.clone(),
    }
}

fn no_such(name: &str) -> Error {
    Error::refused(
        SqlState::InvalidCursorName,
        format!("cursor \"{name}\" does not exist"),
    )
}

impl KubeSession {
    /// The columns of the open cursor `name`: the extended protocol's Describe of a portal
    /// named like a cursor (psycopg describes its server-side cursors so).
    pub async fn cursor_columns(&self, name: &str) -> Option<Columns> {
        self.cursors
            .0
            .lock()
            .await
            .get(name)
            .map(|c| c.columns.clone())
    }

    /// Closes the cursors of a transaction block that ended.
    pub(crate) fn close_transaction_cursors(&self) {
        if let Ok(mut cursors) = self.cursors.0.try_lock() {
            cursors.retain(|_, c| c.hold);
        }
    }

    /// Closes every cursor (`DISCARD ALL`, `CLOSE ALL`).
    pub(crate) async fn close_cursors(&self) {
        self.cursors.0.lock().await.clear();
    }
}

pub struct Cursors;

#[async_trait]
impl Hook for Cursors {
    async fn describe(&self, statement: &Statement, s: &KubeSession) -> Option<Result<Described>> {
        match statement {
            Statement::Declare { stmts } => Some(
                match stmts.as_slice() {
                    [declare] => {
                        let query = declare_query(declare);
                        match query {
                            Ok(q) => s
                                .logical_plan(Statement::Query(Box::new(q.clone())))
                                .await
                                .and_then(|plan| describe_plan(&plan)),
                            Err(e) => Err(e),
                        }
                    }
                    _ => Err(one_cursor()),
                }
                .map(|d| Described {
                    parameters: d.parameters,
                    columns: None,
                }),
            ),
            Statement::Fetch { name, into, .. } => {
                let name = cursor_name(name);
                if is_move(into) {
                    return Some(Ok(Described::default()));
                }
                Some(match s.cursor_columns(&name).await {
                    Some(columns) => Ok(Described {
                        parameters: vec![],
                        columns: Some(columns),
                    }),
                    None => Err(no_such(&name)),
                })
            }
            Statement::Close { .. } => Some(Ok(Described::default())),
            _ => None,
        }
    }

    async fn run(
        &self,
        statement: &Statement,
        params: Option<&ParamValues>,
        s: &KubeSession,
    ) -> Option<Result<Outcome>> {
        Some(match statement {
            Statement::Declare { stmts } => match stmts.as_slice() {
                [declare] => declare_cursor(s, declare, params).await,
                _ => Err(one_cursor()),
            },
            Statement::Fetch {
                name,
                direction,
                into,
                ..
            } => fetch(s, &cursor_name(name), direction, is_move(into)).await,
            Statement::Close { cursor } => {
                match cursor {
                    CloseCursor::All => s.close_cursors().await,
                    CloseCursor::Specific { name } => {
                        let name = cursor_name(name);
                        if s.cursors.0.lock().await.remove(&name).is_none() {
                            return Some(Err(no_such(&name)));
                        }
                    }
                }
                Ok(Outcome::command("CLOSE CURSOR"))
            }
            _ => return None,
        })
    }
}

fn one_cursor() -> Error {
    Error::refused(
        SqlState::SyntaxError,
        "DECLARE declares one cursor at a time",
    )
}

fn is_move(into: &Option<datafusion::sql::sqlparser::ast::ObjectName>) -> bool {
    into.as_ref().is_some_and(|n| n.to_string() == MOVE_MARKER)
}

fn declare_query(declare: &Declare) -> Result<&datafusion::sql::sqlparser::ast::Query> {
    match (&declare.declare_type, &declare.for_query) {
        (Some(DeclareType::Cursor), Some(query)) => Ok(query.as_ref()),
        _ => Err(Error::refused(
            SqlState::SyntaxError,
            "DECLARE needs a cursor name and CURSOR FOR a query",
        )),
    }
}

async fn declare_cursor(
    s: &KubeSession,
    declare: &Declare,
    params: Option<&ParamValues>,
) -> Result<Outcome> {
    let query = declare_query(declare)?;
    let Some(name) = declare.names.first().map(cursor_name) else {
        return Err(one_cursor());
    };
    let hold = declare.hold == Some(true);
    if !hold && s.transaction.state() == TransactionState::Idle {
        return Err(Error::refused(
            SqlState::NoActiveSqlTransaction,
            "DECLARE CURSOR can only be used in transaction blocks",
        ));
    }
    if declare.scroll == Some(true) {
        return Err(Error::Unsupported(
            "SCROLL cursors are not supported; cursors scan forward only".into(),
        ));
    }
    if s.cursors.0.lock().await.contains_key(&name) {
        return Err(Error::refused(
            SqlState::DuplicateCursor,
            format!("cursor \"{name}\" already exists"),
        ));
    }
    let mut plan = s
        .logical_plan(Statement::Query(Box::new(query.clone())))
        .await?;
    if let Some(params) = params {
        plan = plan.replace_params_with_values(params)?;
    }
    let Outcome::Rows(rows) = s.query(plan, None).await? else {
        return Err(Error::Unsupported("a cursor needs a query".into()));
    };
    s.cursors.0.lock().await.insert(
        name,
        Cursor {
            columns: rows.columns,
            batches: Some(rows.batches),
            pending: None,
            hold,
        },
    );
    Ok(Outcome::command("DECLARE CURSOR"))
}

/// A `MOVE` statement's cursor name and how many rows it moves (`None`: all that are left),
/// for a front end whose protocol-level portals `MOVE` may name too, as in PostgreSQL
/// (asyncpg's `cursor.forward()` moves the portal it bound). A session's own cursors come
/// first: the front end asks [`KubeSession::cursor_columns`] before taking the name as a portal.
pub fn portal_move(statement: &Statement) -> Option<(String, Result<Option<u64>>)> {
    match statement {
        Statement::Fetch {
            name,
            direction,
            into,
            ..
        } if is_move(into) => Some((name.value.clone(), count(direction))),
        _ => None,
    }
}

/// How many rows a direction asks for; `None` for all that are left.
fn count(direction: &FetchDirection) -> Result<Option<u64>> {
    let number = |v: &Value| -> Result<u64> {
        match v {
            Value::Number(n, _) => n.parse::<i64>().ok(),
            _ => None,
        }
        .and_then(|n| u64::try_from(n).ok())
        .ok_or_else(backward)
    };
    match direction {
        FetchDirection::Next => Ok(Some(1)),
        FetchDirection::Count { limit } => number(&limit.value).map(Some),
        FetchDirection::Forward { limit: Some(limit) } => number(&limit.value).map(Some),
        FetchDirection::Forward { limit: None } => Ok(Some(1)),
        FetchDirection::All | FetchDirection::ForwardAll => Ok(None),
        _ => Err(backward()),
    }
}

fn backward() -> Error {
    Error::refused(
        SqlState::ObjectNotInPrerequisiteState,
        "cursor can only scan forward (kubepg cursors are NO SCROLL)",
    )
}

async fn fetch(
    s: &KubeSession,
    name: &str,
    direction: &FetchDirection,
    discard: bool,
) -> Result<Outcome> {
    let wanted = count(direction)?;
    let mut cursors = s.cursors.0.lock().await;
    let cursor = cursors.get_mut(name).ok_or_else(|| no_such(name))?;
    let columns = cursor.columns.clone();
    let Some(wanted) = wanted else {
        // FETCH ALL streams the rest rather than collecting it.
        let pending = cursor.pending.take();
        let rest = cursor.batches.take();
        drop(cursors);
        let head = futures::stream::iter(pending.map(Ok));
        let batches: Batches = match rest {
            Some(rest) => head.chain(rest).boxed(),
            None => head.boxed(),
        };
        if discard {
            let mut moved = 0;
            let mut batches = batches;
            while let Some(b) = batches.next().await {
                moved += b?.num_rows();
            }
            return Ok(Outcome::command(format!("MOVE {moved}")));
        }
        return Ok(Outcome::Rows(Rows {
            columns: columns.clone(),
            batches,
            command: "FETCH",
            deadline: None,
        }));
    };
    let mut taken: Vec<RecordBatch> = Vec::new();
    let mut have = 0u64;
    while have < wanted {
        let batch = match cursor.pending.take() {
            Some(b) => b,
            None => match cursor.batches.as_mut() {
                Some(stream) => match stream.next().await {
                    Some(b) => b?,
                    None => {
                        cursor.batches = None;
                        break;
                    }
                },
                None => break,
            },
        };
        let rows = batch.num_rows() as u64;
        if have + rows > wanted {
            let keep = (wanted - have) as usize;
            cursor.pending = Some(batch.slice(keep, batch.num_rows() - keep));
            taken.push(batch.slice(0, keep));
            have = wanted;
        } else {
            have += rows;
            taken.push(batch);
        }
    }
    if discard {
        return Ok(Outcome::command(format!("MOVE {have}")));
    }
    Ok(computed(columns, taken, "FETCH"))
}
