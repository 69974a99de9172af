//! `DISCARD ALL` (what connection pools send before handing a connection on) resets the
//! session as PostgreSQL does: settings back to their start, every cursor closed, every LISTEN
//! ended, and the protocol layer told to drop its prepared statements. `DISCARD PLANS`,
//! `SEQUENCES` and `TEMP` have nothing to discard here.

use async_trait::async_trait;
use datafusion::common::ParamValues;
use datafusion::sql::sqlparser::ast::{DiscardObject, Statement};

use super::hook::Hook;
use super::outcome::{Described, Effect, Outcome};
use super::session::KubeSession;
use super::state::TransactionState;
use crate::error::{Error, Result};
use crate::sqlstate::SqlState;

pub struct Discard;

#[async_trait]
impl Hook for Discard {
    async fn describe(&self, statement: &Statement, _: &KubeSession) -> Option<Result<Described>> {
        matches!(statement, Statement::Discard { .. }).then(|| Ok(Described::default()))
    }

    async fn run(
        &self,
        statement: &Statement,
        _params: Option<&ParamValues>,
        s: &KubeSession,
    ) -> Option<Result<Outcome>> {
        let Statement::Discard { object_type } = statement else {
            return None;
        };
        if *object_type != DiscardObject::ALL {
            return Some(Ok(Outcome::command(format!("DISCARD {object_type}"))));
        }
        if s.transaction.state() != TransactionState::Idle {
            return Some(Err(Error::refused(
                SqlState::ActiveSqlTransaction,
                "DISCARD ALL cannot run inside a transaction block",
            )));
        }
        Some(
            async {
                s.settings.reset_all()?;
                s.close_cursors().await;
                s.listeners.unlisten("*");
                Ok(Outcome::Command {
                    tag: "DISCARD ALL".into(),
                    effect: Some(Effect::DiscardAll),
                })
            }
            .await,
        )
    }
}
