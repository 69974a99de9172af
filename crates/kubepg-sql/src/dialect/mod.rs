//! The PostgreSQL dialect of a session: what clients' catalog queries read (`pg_catalog` from
//! datafusion-pg-catalog with kubepg's corrections, `information_schema` as PostgreSQL spells
//! it), the functions where kubepg answers as PostgreSQL does, and integer arithmetic that
//! fails on overflow. One file per family.

mod admin_functions;
mod arithmetic;
mod formatting;
pub mod functions;
mod information_schema;
mod limits;
mod pg_catalog;
mod type_functions;
pub mod types;

use std::sync::Arc;

use datafusion::prelude::SessionContext;
use datafusion_pg_catalog::pg_catalog::context::EmptyContextProvider;
use datafusion_pg_catalog::pg_catalog::setup_pg_catalog;

use crate::error::Result;
use crate::settings::SessionSettings;

/// Installs the dialect in `ctx`, whose tables live in catalog `catalog`, for SQL user `user`;
/// one function call may allocate `value_limit` bytes.
pub fn install(
    ctx: &SessionContext,
    catalog: &str,
    user: &str,
    settings: &Arc<SessionSettings>,
    value_limit: u64,
) -> Result<()> {
    setup_pg_catalog(ctx, catalog, EmptyContextProvider).map_err(|e| *e)?;
    pg_catalog::install(ctx, catalog, settings.clone())?;
    information_schema::install(ctx, catalog)?;
    functions::register(ctx, user, settings.clone());
    admin_functions::register(ctx);
    formatting::register(ctx);
    type_functions::register(ctx);
    ctx.add_analyzer_rule(Arc::new(arithmetic::CheckedIntegers));
    limits::bound(ctx, value_limit);
    Ok(())
}
