//! Transaction blocks as PostgreSQL runs them, on a server where every transaction is
//! read-only: `BEGIN`, `COMMIT`, `ROLLBACK`, `SAVEPOINT`, `RELEASE` and `ROLLBACK TO` move the
//! session between idle, in a block, and failed. A statement that fails inside a block fails
//! it; until `ROLLBACK` (or `ROLLBACK TO` a savepoint set before the failure) every other
//! statement is refused with 25P02, which is how psycopg and pgjdbc tell the state apart.

use async_trait::async_trait;
use datafusion::common::ParamValues;
use datafusion::sql::sqlparser::ast::Statement;

use super::hook::Hook;
use super::outcome::{Described, Outcome};
use super::session::KubeSession;
use super::state::TransactionState;
use crate::error::{Error, Result};
use crate::sqlstate::SqlState;

fn aborted() -> Error {
    Error::refused(
        SqlState::InFailedSqlTransaction,
        "current transaction is aborted, commands ignored until end of transaction block",
    )
}

/// Whether `statement` may run in a failed block: only the ways out.
fn leaves_failed_block(statement: &Statement) -> bool {
    matches!(
        statement,
        Statement::Commit { .. } | Statement::Rollback { .. }
    )
}

/// Refuses everything but COMMIT and ROLLBACK in a failed block.
pub struct Aborted;

#[async_trait]
impl Hook for Aborted {
    async fn describe(&self, statement: &Statement, s: &KubeSession) -> Option<Result<Described>> {
        (s.transaction.state() == TransactionState::Failed && !leaves_failed_block(statement))
            .then(|| Err(aborted()))
    }

    async fn run(
        &self,
        statement: &Statement,
        _params: Option<&ParamValues>,
        s: &KubeSession,
    ) -> Option<Result<Outcome>> {
        (s.transaction.state() == TransactionState::Failed && !leaves_failed_block(statement))
            .then(|| Err(aborted()))
    }
}

/// BEGIN, COMMIT, ROLLBACK and savepoints.
pub struct Transactions;

fn owns(statement: &Statement) -> bool {
    matches!(
        statement,
        Statement::StartTransaction { .. }
            | Statement::Commit { .. }
            | Statement::Rollback { .. }
            | Statement::Savepoint { .. }
            | Statement::ReleaseSavepoint { .. }
    )
}

#[async_trait]
impl Hook for Transactions {
    async fn describe(&self, statement: &Statement, _: &KubeSession) -> Option<Result<Described>> {
        owns(statement).then(|| Ok(Described::default()))
    }

    async fn run(
        &self,
        statement: &Statement,
        _params: Option<&ParamValues>,
        s: &KubeSession,
    ) -> Option<Result<Outcome>> {
        if !owns(statement) {
            return None;
        }
        let result = step(s, statement);
        if matches!(
            statement,
            Statement::Commit { .. }
                | Statement::Rollback {
                    savepoint: None,
                    ..
                }
        ) && result.is_ok()
        {
            s.close_transaction_cursors();
        }
        Some(result)
    }
}

fn step(s: &KubeSession, statement: &Statement) -> Result<Outcome> {
    let mut t = s.transaction.lock();
    let (state, savepoints) = &mut *t;
    let outside = |what: &str| {
        Error::refused(
            SqlState::NoActiveSqlTransaction,
            format!("{what} can only be used in transaction blocks"),
        )
    };
    let unknown = |name: &str| {
        Error::refused(
            SqlState::SavepointException,
            format!("savepoint \"{name}\" does not exist"),
        )
    };
    match statement {
        Statement::StartTransaction { .. } => {
            if *state == TransactionState::InBlock {
                s.warnings
                    .push("there is already a transaction in progress".into());
            }
            *state = TransactionState::InBlock;
            Ok(Outcome::command("BEGIN"))
        }
        Statement::Commit { .. } => {
            let tag = match *state {
                TransactionState::Failed => "ROLLBACK",
                TransactionState::InBlock => "COMMIT",
                TransactionState::Idle => {
                    s.warnings
                        .push("there is no transaction in progress".into());
                    "COMMIT"
                }
            };
            *state = TransactionState::Idle;
            savepoints.clear();
            Ok(Outcome::command(tag))
        }
        Statement::Rollback {
            savepoint: Some(name),
            ..
        } => {
            if *state == TransactionState::Idle {
                return Err(outside("ROLLBACK TO SAVEPOINT"));
            }
            match savepoints.iter().rposition(|p| p == &name.value) {
                Some(i) => {
                    savepoints.truncate(i + 1);
                    *state = TransactionState::InBlock;
                    Ok(Outcome::command("ROLLBACK"))
                }
                None => {
                    *state = TransactionState::Failed;
                    Err(unknown(&name.value))
                }
            }
        }
        Statement::Rollback { .. } => {
            if *state == TransactionState::Idle {
                s.warnings
                    .push("there is no transaction in progress".into());
            }
            *state = TransactionState::Idle;
            savepoints.clear();
            Ok(Outcome::command("ROLLBACK"))
        }
        Statement::Savepoint { name } => {
            if *state == TransactionState::Idle {
                return Err(outside("SAVEPOINT"));
            }
            savepoints.push(name.value.clone());
            Ok(Outcome::command("SAVEPOINT"))
        }
        Statement::ReleaseSavepoint { name } => {
            if *state == TransactionState::Idle {
                return Err(outside("RELEASE SAVEPOINT"));
            }
            match savepoints.iter().rposition(|p| p == &name.value) {
                Some(i) => {
                    savepoints.truncate(i);
                    Ok(Outcome::command("RELEASE"))
                }
                None => {
                    *state = TransactionState::Failed;
                    Err(unknown(&name.value))
                }
            }
        }
        _ => Err(Error::Unsupported(statement.to_string())),
    }
}
