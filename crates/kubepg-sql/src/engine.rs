//! The engine shared by every session: the cluster pool, and how a session's DataFusion context
//! is made over it.

use std::sync::{Arc, RwLock};

use datafusion::catalog::{CatalogProvider, MemoryCatalogProvider};
use datafusion::dataframe::DataFrame;
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::{SQLOptions, SessionConfig, SessionContext};
use datafusion::sql::parser::{DFParser, Statement as DfStatement};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;
use futures::future::join_all;
use kubepg_kube::Source;
use kubepg_kube::discovery::Discovered;
use kubepg_kube::pool::ClusterPool;

use crate::catalog::{KubeSchema, TableSet};
use crate::error::{Error, Result};
use crate::identity::SessionIdentity;
use crate::memo::ScanMemo;
use crate::settings::{Consistency, KubepgSettings};
use crate::system::{self, ClusterStatus};
use crate::table::ScanOptions;
use crate::warnings::QueryWarnings;

/// The DataFusion catalog every session's tables live in.
pub const CATALOG: &str = "kubepg";

/// Engine-wide settings; each session starts from them.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// A failing cluster fails the query instead of becoming a warning.
    pub strict: bool,
    /// Show secret values instead of redacting them.
    pub show_secrets: bool,
    /// Objects per LIST page.
    pub page_size: u32,
    /// Memory one query may hold for sorts, joins and aggregations.
    pub memory_limit: Option<usize>,
    /// The `kubepg.consistency` every session starts with.
    pub consistency: Consistency,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            strict: false,
            show_secrets: false,
            page_size: 500,
            memory_limit: None,
            consistency: Consistency::Live,
        }
    }
}

/// The clusters that answered discovery, each with what it serves.
pub type Discoveries = Vec<(Arc<dyn Source>, Arc<Discovered>)>;

/// How fresh discovery must be when a session looks at its tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Discovery {
    /// Whatever the cache holds within its TTL.
    Cached,
    /// A name was not found: walk again unless a walk just happened.
    OnMiss,
}

#[derive(Debug, Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    pool: Arc<ClusterPool>,
    config: EngineConfig,
    memo: Arc<ScanMemo>,
}

/// One client's session: its DataFusion context and the warnings its queries collect.
pub struct KubeSession {
    pub ctx: SessionContext,
    pub warnings: QueryWarnings,
    pub scope: Vec<String>,
    /// Who the session's Kubernetes requests are made as.
    pub identity: Arc<SessionIdentity>,
}

impl Engine {
    pub fn new(pool: Arc<ClusterPool>, config: EngineConfig) -> Self {
        // Batches built from the cache may take a quarter of what the cache itself may hold.
        let memo = Arc::new(ScanMemo::new(
            usize::try_from(pool.watch.config().memory_limit / 4).unwrap_or(usize::MAX),
        ));
        Self {
            inner: Arc::new(Inner { pool, config, memo }),
        }
    }

    /// The batches of cached scans, shared by every session.
    pub fn memo(&self) -> &Arc<ScanMemo> {
        &self.inner.memo
    }

    pub fn pool(&self) -> &Arc<ClusterPool> {
        &self.inner.pool
    }

    pub fn config(&self) -> &EngineConfig {
        &self.inner.config
    }

    /// Every cluster's discovery (from the shared cache) and its status relative to `scope`.
    pub async fn discover(
        &self,
        scope: &[String],
        mode: Discovery,
    ) -> (Discoveries, Vec<ClusterStatus>) {
        let pool = &self.inner.pool;
        let results = join_all(pool.sources().iter().map(|s| async move {
            let d = match mode {
                Discovery::Cached => pool.discovery.get(s.as_ref()).await,
                Discovery::OnMiss => pool.discovery.refresh_on_miss(s.as_ref()).await,
            };
            (s.clone(), d)
        }))
        .await;
        let mut discovered = Vec::new();
        let mut status = Vec::new();
        for (source, result) in results {
            let name = source.cluster().to_string();
            let in_scope = scope.contains(&name);
            match result {
                Ok(d) => {
                    status.push(ClusterStatus {
                        name,
                        in_scope,
                        resources: Some(d.resources.len()),
                        error: None,
                    });
                    discovered.push((source, d));
                }
                Err(e) => {
                    tracing::warn!(cluster = %name, error = %e, "discovery failed");
                    status.push(ClusterStatus {
                        name,
                        in_scope,
                        resources: None,
                        error: Some(e.to_string()),
                    });
                }
            }
        }
        (discovered, status)
    }

    /// The tables of a scope, and the discovery status of every cluster.
    pub async fn table_set(
        &self,
        scope: &[String],
        mode: Discovery,
    ) -> (Arc<TableSet>, Vec<ClusterStatus>) {
        let (discovered, status) = self.discover(scope, mode).await;
        (Arc::new(TableSet::build(&discovered, scope)), status)
    }

    /// A new session over `scope` (a cluster name, comma list, glob, or `all`; `None` is the
    /// pool's default scope).
    pub async fn session(&self, scope: Option<&str>) -> Result<KubeSession> {
        self.session_in(scope, CATALOG, &[]).await
    }

    /// A session whose tables live in catalog `catalog` (a PostgreSQL front end names it after
    /// the connection's database), with `siblings` registered as empty catalogs so that catalog
    /// listings show every database a client could connect to.
    pub async fn session_in(
        &self,
        scope: Option<&str>,
        catalog: &str,
        siblings: &[String],
    ) -> Result<KubeSession> {
        self.session_as(scope, catalog, siblings, SessionIdentity::default())
            .await
    }

    /// [`Engine::session_in`] acting as `identity`: every scan lists as that identity (table
    /// names still come from the shared discovery, made as kubepg), the session's
    /// `kubepg.namespaces` starts at the identity's namespaces, and a session that may not read
    /// the shared watch cache starts `live` whatever the engine's default consistency.
    pub async fn session_as(
        &self,
        scope: Option<&str>,
        catalog: &str,
        siblings: &[String],
        identity: SessionIdentity,
    ) -> Result<KubeSession> {
        let identity = Arc::new(identity);
        let consistency = if identity.may_read_shared_cache() {
            self.inner.config.consistency
        } else {
            Consistency::Live
        };
        let pool = &self.inner.pool;
        let scope = match scope {
            None => pool.default_scope().to_vec(),
            Some(s) => pool
                .resolve_scope(s)
                .map_err(|_| Error::UnknownScope(s.to_string()))?,
        };
        let warnings = QueryWarnings::default();
        let (tables, status) = self.table_set(&scope, Discovery::Cached).await;
        for s in status.iter().filter(|s| s.in_scope) {
            if let Some(e) = &s.error {
                if self.inner.config.strict {
                    return Err(Error::ClusterUnavailable {
                        cluster: s.name.clone(),
                        message: e.clone(),
                    });
                }
                warnings.push(format!("cluster {} is unavailable: {e}", s.name));
            }
        }

        let config = SessionConfig::new()
            .with_default_catalog_and_schema(catalog, "public")
            .with_create_default_catalog_and_schema(false)
            .with_information_schema(true)
            .set_str("datafusion.sql_parser.dialect", "PostgreSQL")
            .set_bool("datafusion.sql_parser.enable_ident_normalization", true)
            .with_option_extension(
                KubepgSettings::new(consistency).with_namespaces(identity.namespaces.clone()),
            )
            .with_extension(Arc::new(warnings.clone()));
        let mut runtime = RuntimeEnvBuilder::new();
        if let Some(limit) = self.inner.config.memory_limit {
            runtime = runtime.with_memory_limit(limit, 1.0);
        }
        let state = SessionStateBuilder::new()
            .with_config(config)
            .with_runtime_env(runtime.build_arc()?)
            .with_default_features()
            .build();
        let mut ctx = SessionContext::new_with_state(state);
        crate::functions::register(&mut ctx)?;

        let catalog_name = catalog;
        let catalog = MemoryCatalogProvider::new();
        let options = ScanOptions {
            scope: scope.clone(),
            strict: self.inner.config.strict,
            show_secrets: self.inner.config.show_secrets,
            page_size: self.inner.config.page_size,
            consistency,
            identity: identity.clone(),
        };
        catalog.register_schema(
            "kubepg",
            system::schema(
                &status,
                &tables,
                &pool.watch,
                self.inner.config.show_secrets,
                &identity,
            )?,
        )?;
        catalog.register_schema(
            "public",
            Arc::new(KubeSchema {
                engine: self.clone(),
                tables: RwLock::new(tables),
                options,
            }),
        )?;
        ctx.register_catalog(catalog_name, Arc::new(catalog) as Arc<dyn CatalogProvider>);
        for sibling in siblings.iter().filter(|s| s.as_str() != catalog_name) {
            ctx.register_catalog(
                sibling,
                Arc::new(MemoryCatalogProvider::new()) as Arc<dyn CatalogProvider>,
            );
        }
        Ok(KubeSession {
            ctx,
            warnings,
            scope,
            identity,
        })
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
    /// Splits `sql` into statements (PostgreSQL dialect).
    pub fn parse(sql: &str) -> Result<Vec<DfStatement>> {
        match DFParser::parse_sql_with_dialect(sql, &PostgreSqlDialect {}) {
            Ok(statements) => Ok(statements.into_iter().collect()),
            Err(e) => {
                // DataFusion's parser knows fewer statements than PostgreSQL (COPY FROM, GRANT,
                // VACUUM, ...). Those that PostgreSQL would parse are refused for what they are.
                if let Ok(statements) = Parser::parse_sql(&PostgreSqlDialect {}, sql) {
                    for s in statements {
                        crate::guard::check(&DfStatement::Statement(Box::new(s)))?;
                    }
                }
                Err(Error::DataFusion(e))
            }
        }
    }

    /// Plans one statement after the read-only guard accepted it.
    pub async fn plan(&self, statement: DfStatement) -> Result<DataFrame> {
        let plan = self.logical_plan(statement).await?;
        Ok(self.ctx.execute_logical_plan(plan).await?)
    }

    /// The logical plan of one statement, after the read-only guard accepted it.
    pub async fn logical_plan(&self, statement: DfStatement) -> Result<LogicalPlan> {
        crate::guard::check(&statement)?;
        let plan = self.ctx.state().statement_to_plan(statement).await?;
        SQLOptions::new()
            .with_allow_ddl(false)
            .with_allow_dml(false)
            .verify_plan(&plan)?;
        Ok(plan)
    }

    /// Plans every statement of `sql` in order and returns the last one's DataFrame (earlier
    /// statements only take effect through planning, e.g. SET).
    pub async fn sql(&self, sql: &str) -> Result<DataFrame> {
        let mut last = None;
        for statement in Self::parse(sql)? {
            last = Some(self.plan(statement).await?);
        }
        match last {
            Some(df) => Ok(df),
            None => Ok(self.ctx.read_empty()?),
        }
    }

    pub fn take_warnings(&self) -> Vec<String> {
        self.warnings.take()
    }

    /// Whether this session may read kubepg's shared watch cache (cached scans,
    /// `kubepg.changes`, notifications fed by the cache): see
    /// [`SessionIdentity::may_read_shared_cache`].
    pub fn may_read_shared_cache(&self) -> bool {
        self.identity.may_read_shared_cache()
    }
}
