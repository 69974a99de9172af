//! `SET kubepg.x = value` and `SHOW kubepg.x` over the wire, answered before
//! datafusion-postgres's SET/SHOW hook, which accepts any SET silently and does not know
//! kubepg's settings for SHOW. The settings themselves live in [`kubepg_sql::settings`]; this
//! hook only moves values in and out of the session's DataFusion config, so a bad value or an
//! unknown name reaches the client with its SQLSTATE (22023, 42704).

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::common::{DFSchema, ParamValues};
use datafusion::error::DataFusionError;
use datafusion::logical_expr::{EmptyRelation, LogicalPlan};
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::{Expr, Set, Statement, Value};
use datafusion_postgres::hooks::{HookClient, QueryHook};
use datafusion_postgres::pgwire::api::ClientInfo;
use datafusion_postgres::pgwire::api::results::{Response, Tag};
use datafusion_postgres::pgwire::error::{ErrorInfo, PgWireError, PgWireResult};

use crate::compat::one_value;
use crate::errors::{from_datafusion, to_pgwire};

const PREFIX: &str = "kubepg.";

pub struct KubepgSettingsHook;

/// What a statement asks of a kubepg setting.
enum Request {
    Set { name: String, value: String },
    Show { name: String },
}

fn request(statement: &Statement) -> Option<Request> {
    match statement {
        Statement::Set(Set::SingleAssignment {
            scope: None,
            hivevar: false,
            variable,
            values,
        }) => {
            let name = variable.to_string().to_ascii_lowercase();
            if !name.starts_with(PREFIX) {
                return None;
            }
            let value = match values.first()? {
                Expr::Value(v) => match &v.value {
                    Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => s.clone(),
                    other => other.to_string(),
                },
                Expr::Identifier(i) => i.value.clone(),
                other => other.to_string(),
            };
            Some(Request::Set { name, value })
        }
        Statement::ShowVariable { variable } => {
            let name = variable
                .iter()
                .map(|i| i.value.to_ascii_lowercase())
                .collect::<Vec<_>>()
                .join(".");
            name.starts_with(PREFIX).then_some(Request::Show { name })
        }
        _ => None,
    }
}

fn unrecognized(name: &str) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "ERROR".into(),
        "42704".into(),
        format!("unrecognized configuration parameter \"{name}\""),
    )))
}

/// A refused value carries kubepg's own error (and its SQLSTATE) inside DataFusion's; the client
/// gets that one, without DataFusion's "External error" wrapping.
fn setting_error(e: DataFusionError) -> PgWireError {
    match e {
        DataFusionError::External(inner) => match inner.downcast::<kubepg_sql::Error>() {
            Ok(setting) => to_pgwire(*setting),
            Err(inner) => from_datafusion(DataFusionError::External(inner)),
        },
        other => from_datafusion(other),
    }
}

fn answer(request: Request, ctx: &SessionContext) -> PgWireResult<Response> {
    match request {
        Request::Set { name, value } => {
            let state = ctx.state_ref();
            let mut state = state.write();
            state
                .config_mut()
                .options_mut()
                .set(&name, &value)
                .map_err(setting_error)?;
            Ok(Response::Execution(Tag::new("SET")))
        }
        Request::Show { name } => {
            let value = ctx
                .state()
                .config()
                .options()
                .entries()
                .into_iter()
                .find(|e| e.key == name)
                .ok_or_else(|| unrecognized(&name))?
                .value
                .unwrap_or_default();
            one_value(&name, value)
        }
    }
}

#[async_trait]
impl QueryHook for KubepgSettingsHook {
    async fn handle_simple_query(
        &self,
        statement: &Statement,
        ctx: &SessionContext,
        _client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        request(statement).map(|r| answer(r, ctx))
    }

    async fn handle_extended_parse_query(
        &self,
        statement: &Statement,
        _ctx: &SessionContext,
        _client: &(dyn ClientInfo + Send + Sync),
    ) -> Option<PgWireResult<LogicalPlan>> {
        // Described as no columns (SET) or one text column named after the setting (SHOW); the
        // work happens at execution.
        let fields = match request(statement)? {
            Request::Set { .. } => vec![],
            Request::Show { name } => vec![Field::new(name, DataType::Utf8, false)],
        };
        Some(
            DFSchema::try_from(Schema::new(fields))
                .map(|schema| {
                    LogicalPlan::EmptyRelation(EmptyRelation {
                        produce_one_row: true,
                        schema: Arc::new(schema),
                    })
                })
                .map_err(from_datafusion),
        )
    }

    async fn handle_extended_query(
        &self,
        statement: &Statement,
        _plan: &LogicalPlan,
        _params: &ParamValues,
        ctx: &SessionContext,
        _client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        request(statement).map(|r| answer(r, ctx))
    }
}
