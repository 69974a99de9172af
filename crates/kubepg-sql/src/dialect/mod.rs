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

use async_trait::async_trait;
use datafusion::prelude::SessionContext;
use datafusion_pg_catalog::pg_catalog::context::{PgCatalogContextProvider, Role};
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
    let role = SessionRole {
        user: user.to_string(),
    };
    setup_pg_catalog(ctx, catalog, role).map_err(|e| *e)?;
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

/// `pg_roles` (psql's `\du`, DBeaver's roles node, pgjdbc's privileges) lists the SQL user of
/// the session, a login role that can only read, as PostgreSQL lists the connected role.
#[derive(Debug, Clone)]
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
