//! Where kubepg answers as PostgreSQL 16 rather than as DataFusion: `version()`,
//! `SHOW server_version` / `server_version_num`, and `current_setting` of those.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{ParamValues, ScalarValue};
use datafusion::logical_expr::{ColumnarValue, LogicalPlan, Volatility, create_udf};
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::Statement;
use datafusion_postgres::hooks::{HookClient, QueryHook};
use datafusion_postgres::pgwire::api::ClientInfo;
use datafusion_postgres::pgwire::api::Type;
use datafusion_postgres::pgwire::api::results::{
    DataRowEncoder, FieldFormat, FieldInfo, QueryResponse, Response,
};
use datafusion_postgres::pgwire::error::PgWireResult;

pub const SERVER_VERSION: &str = "16.6";
pub const SERVER_VERSION_NUM: &str = "160006";

fn version_string() -> String {
    format!(
        "PostgreSQL {SERVER_VERSION} (kubepg {}) on {}-linux, compiled by rustc",
        env!("CARGO_PKG_VERSION"),
        std::env::consts::ARCH
    )
}

/// Registers `version()` answering like PostgreSQL.
pub fn register(ctx: &SessionContext) {
    let version = version_string();
    ctx.register_udf(create_udf(
        "version",
        vec![],
        DataType::Utf8,
        Volatility::Stable,
        Arc::new(move |_| {
            Ok(ColumnarValue::Scalar(ScalarValue::Utf8(Some(
                version.clone(),
            ))))
        }),
    ));
}

/// Answers `SHOW server_version` and `SHOW server_version_num` before datafusion-postgres's
/// SET/SHOW hook, which reports DataFusion's version.
pub struct ServerVersionHook;

fn show(name: &str) -> Option<String> {
    match name {
        "server_version" => Some(format!("{SERVER_VERSION} (kubepg)")),
        "server_version_num" => Some(SERVER_VERSION_NUM.into()),
        _ => None,
    }
}

pub(crate) fn one_value(name: &str, value: String) -> PgWireResult<Response> {
    let fields = Arc::new(vec![FieldInfo::new(
        name.into(),
        None,
        None,
        Type::TEXT,
        FieldFormat::Text,
    )]);
    let mut encoder = DataRowEncoder::new(fields.clone());
    encoder.encode_field(&Some(value))?;
    let row = encoder.take_row();
    Ok(Response::Query(QueryResponse::new(
        fields,
        futures::stream::iter([Ok(row)]),
    )))
}

/// The variable a `SHOW` asks for and its value, when this hook answers it.
fn wanted(statement: &Statement) -> Option<(String, String)> {
    let Statement::ShowVariable { variable } = statement else {
        return None;
    };
    let [name] = variable.as_slice() else {
        return None;
    };
    let name = name.value.to_ascii_lowercase();
    show(&name).map(|v| (name, v))
}

fn answer(statement: &Statement) -> Option<PgWireResult<Response>> {
    wanted(statement).map(|(name, value)| one_value(&name, value))
}

#[async_trait]
impl QueryHook for ServerVersionHook {
    async fn handle_simple_query(
        &self,
        statement: &Statement,
        _ctx: &SessionContext,
        _client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        answer(statement)
    }

    async fn handle_extended_parse_query(
        &self,
        statement: &Statement,
        ctx: &SessionContext,
        _client: &(dyn ClientInfo + Send + Sync),
    ) -> Option<PgWireResult<LogicalPlan>> {
        // Planned as a constant so Describe reports one text column.
        let (name, value) = wanted(statement)?;
        let plan = ctx
            .state()
            .create_logical_plan(&format!("SELECT '{value}' AS {name}"))
            .await;
        Some(
            plan.map_err(|e| {
                datafusion_postgres::pgwire::error::PgWireError::ApiError(Box::new(e))
            }),
        )
    }

    async fn handle_extended_query(
        &self,
        statement: &Statement,
        _plan: &LogicalPlan,
        _params: &ParamValues,
        _ctx: &SessionContext,
        _client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        answer(statement)
    }
}
