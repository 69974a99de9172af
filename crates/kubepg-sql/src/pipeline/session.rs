//! One client's session: its DataFusion context over a cluster scope, its settings registry,
//! transaction block, cursors and LISTEN channels, and the warnings its statements collect.
//! Statements go through it by the pipeline ([`crate::pipeline`]).

use std::sync::Arc;
use std::time::Duration;

use datafusion::prelude::SessionContext;
use kubepg_kube::pool::ClusterPool;
use tokio::sync::mpsc;

use super::state::{Listeners, Notification, OpenCursors, Transaction, TransactionState};
use crate::identity::SessionIdentity;
use crate::settings::SessionSettings;
use crate::warnings::QueryWarnings;

/// What a front end asks a session for.
#[derive(Debug, Clone, Default)]
pub struct SessionRequest {
    /// The cluster scope: a context name, comma list, glob or `all`; `None` for the pool's
    /// default scope.
    pub scope: Option<String>,
    /// The database name the session's tables live under (catalog listings show it).
    pub database: String,
    /// The database name that means the default scope; listed with the cluster names.
    pub default_database: String,
    /// The SQL user (`session_user`).
    pub user: String,
    /// Who the session's Kubernetes requests are made as.
    pub identity: SessionIdentity,
    /// The `statement_timeout` the session starts with (zero: none).
    pub statement_timeout: Duration,
    /// Settings from the client's startup packet.
    pub startup: Vec<(String, String)>,
    /// Where LISTEN's notifications go; `None` drops them (a one-off query).
    pub notifications: Option<mpsc::Sender<Notification>>,
}

pub struct KubeSession {
    pub ctx: SessionContext,
    pub warnings: QueryWarnings,
    pub scope: Vec<String>,
    /// Who the session's Kubernetes requests are made as.
    pub identity: Arc<SessionIdentity>,
    pub settings: Arc<SessionSettings>,
    pub(crate) transaction: Arc<Transaction>,
    pub(crate) cursors: OpenCursors,
    pub(crate) listeners: Listeners,
    pub(crate) pool: Arc<ClusterPool>,
}

impl std::fmt::Debug for KubeSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeSession")
            .field("scope", &self.scope)
            .field("identity", &self.identity)
            .finish_non_exhaustive()
    }
}

/// Schemas may hold the session's catalog list (datafusion-pg-catalog's `pg_catalog` does), a
/// reference cycle that would keep every closed session's catalogs in memory; emptying the
/// catalogs when the session ends breaks it.
impl Drop for KubeSession {
    fn drop(&mut self) {
        for name in self.ctx.catalog_names() {
            if let Some(catalog) = self.ctx.catalog(&name) {
                for schema in catalog.schema_names() {
                    let _ = catalog.deregister_schema(&schema, true);
                }
            }
        }
    }
}

impl KubeSession {
    pub fn take_warnings(&self) -> Vec<String> {
        self.warnings.take()
    }

    /// Idle, in a transaction block, or in a failed one.
    pub fn transaction_state(&self) -> TransactionState {
        self.transaction.state()
    }

    /// Whether this session may read kubepg's shared watch cache (cached scans,
    /// `kubepg.changes`, notifications fed by the cache): see
    /// [`SessionIdentity::may_read_shared_cache`].
    pub fn may_read_shared_cache(&self) -> bool {
        self.identity.may_read_shared_cache()
    }
}
