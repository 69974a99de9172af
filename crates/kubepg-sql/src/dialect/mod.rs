//! The PostgreSQL dialect of a session: what clients' catalog queries read (`pg_catalog` from
//! datafusion-pg-catalog with kubepg's corrections, `information_schema` as PostgreSQL spells
//! it), the functions where kubepg answers as PostgreSQL does, and integer arithmetic that
//! fails on overflow. One file per family.

mod admin_functions;
mod arithmetic;
mod call;
mod catalog_rows;
pub mod expand_array;
mod formatting;
pub mod functions;
mod information_schema;
pub mod interval_mul;
mod json_build;
pub mod jsonb;
mod like_escape;
mod limits;
mod pg_catalog;
mod primary_keys;
mod privileges;
pub mod regclass;
pub mod regexp_split;
mod type_functions;
pub mod types;
mod visibility;

use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use datafusion::error::DataFusionError;
use datafusion::prelude::SessionContext;
use datafusion_pg_catalog::pg_catalog::context::{PgCatalogContextProvider, Role};
use datafusion_pg_catalog::pg_catalog::{
    PgCatalogSchemaProvider, PgCatalogStaticTables, create_current_database_udf, setup_pg_catalog,
};

use crate::error::Result;
use crate::settings::SessionSettings;

/// Installs what every session's dialect shares (functions, type planner, analyzer rules) in
/// the engine's template session, once; one function call may allocate `value_limit` bytes.
/// `catalog` is a catalog of the template that setup_pg_catalog requires; sessions get their
/// own from [`install_session`].
pub fn install_shared(ctx: &SessionContext, catalog: &str, value_limit: u64) -> Result<()> {
    setup_pg_catalog(ctx, catalog, SessionRole::default()).map_err(|e| *e)?;
    admin_functions::register(ctx);
    expand_array::register(ctx);
    formatting::register(ctx);
    interval_mul::register(ctx);
    json_build::register(ctx);
    jsonb::register(ctx);
    datafusion::execution::FunctionRegistry::register_expr_planner(
        &mut *ctx.state_ref().write(),
        jsonb::planner(),
    )?;
    like_escape::register(ctx);
    privileges::register(ctx);
    regexp_split::register(ctx);
    type_functions::register(ctx);
    ctx.add_analyzer_rule(Arc::new(arithmetic::CheckedIntegers));
    limits::bound(ctx, value_limit);
    Ok(())
}

/// Installs a session's own part of the dialect in `ctx` (made from the template), whose
/// tables live in catalog `catalog`, for SQL user `user`: `pg_catalog` and
/// `information_schema` over its catalogs, and the functions that name its user or database
/// or read its settings.
pub fn install_session(
    ctx: &SessionContext,
    catalog: &str,
    user: &str,
    settings: &Arc<SessionSettings>,
) -> Result<()> {
    let pg_catalog = PgCatalogSchemaProvider::try_new(
        ctx.state().catalog_list().clone(),
        static_tables()?,
        SessionRole {
            user: user.to_string(),
        },
    )?;
    ctx.catalog(catalog)
        .ok_or_else(|| DataFusionError::Plan(format!("no catalog {catalog}")))?
        .register_schema("pg_catalog", Arc::new(pg_catalog))?;
    ctx.register_udf(create_current_database_udf(catalog));
    pg_catalog::install(ctx, catalog, settings.clone())?;
    information_schema::install(ctx, catalog)?;
    functions::register(ctx, user, settings.clone());
    Ok(())
}

/// PostgreSQL's own catalog rows (pg_proc, pg_type, ...), decoded once for every session:
/// setup_pg_catalog decodes them for each call, about 2.5 MB a session.
fn static_tables() -> Result<Arc<PgCatalogStaticTables>> {
    static TABLES: OnceLock<Arc<PgCatalogStaticTables>> = OnceLock::new();
    if let Some(tables) = TABLES.get() {
        return Ok(tables.clone());
    }
    let tables = Arc::new(PgCatalogStaticTables::try_new()?);
    Ok(TABLES.get_or_init(|| tables).clone())
}

/// `pg_roles` (psql's `\du`, DBeaver's roles node, pgjdbc's privileges) lists the SQL user of
/// the session, a login role that can only read, as PostgreSQL lists the connected role.
#[derive(Debug, Clone, Default)]
struct SessionRole {
    user: String,
}

#[async_trait]
impl PgCatalogContextProvider for SessionRole {
    async fn roles(&self) -> Vec<String> {
        vec![self.user.clone()]
    }

    async fn role(&self, name: &str) -> Option<Role> {
        (name == self.user).then(|| Role {
            name: self.user.clone(),
            is_superuser: false,
            can_login: true,
            can_create_db: false,
            can_create_role: false,
            can_create_user: false,
            can_replication: false,
            grants: vec![],
            inherited_roles: vec![],
        })
    }
}
