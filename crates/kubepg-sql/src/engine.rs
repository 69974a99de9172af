//! The engine shared by every session: the cluster pool, and how a session is made over it.
//! Front ends reach the clusters only through the engine's methods (scope names, readiness,
//! what the watch cache holds), never through the pool itself.

use std::sync::{Arc, OnceLock, RwLock};

use datafusion::catalog::{CatalogProvider, MemoryCatalogProvider, MemoryCatalogProviderList};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::{SessionState, SessionStateBuilder};
use datafusion::prelude::{SessionConfig, SessionContext};
use kubepg_kube::pool::ClusterPool;

use crate::catalog::{ClusterStatus, Discovery, KubeSchema, table_set};
use crate::definition::ScanOptions;
use crate::error::{Error, Result};
use crate::memo::ScanMemo;
use crate::observe::EngineObserver;
use crate::pipeline::{KubeSession, Listeners, SessionRequest};
use crate::settings::{Consistency, KubepgSettings, SessionSettings};
use crate::system;
use crate::warnings::QueryWarnings;

/// The query memory that bounds what one function call may allocate when none is set.
const DEFAULT_VALUE_LIMIT: usize = 1 << 30;

/// The DataFusion catalog a session's tables live in when the front end names none.
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
    /// Hears what the engine drops (notifications a slow client missed).
    pub observer: Option<Arc<dyn EngineObserver>>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            strict: false,
            show_secrets: false,
            page_size: 500,
            memory_limit: None,
            consistency: Consistency::Live,
            observer: None,
        }
    }
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
    template: OnceLock<SessionState>,
}

/// Whether the engine can answer: some cluster of the default scope answers discovery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    /// The clusters that answer.
    Ready(Vec<String>),
    /// Why each cluster does not.
    Unready(Vec<String>),
}

/// One resource the watch cache holds in one cluster, for metrics.
#[derive(Debug, Clone)]
pub struct CacheEntry {
    pub cluster: String,
    /// `plural`, or `plural.group`.
    pub resource: String,
    pub objects: u64,
    pub bytes: u64,
}

impl Engine {
    pub fn new(pool: Arc<ClusterPool>, config: EngineConfig) -> Self {
        // Batches built from the cache may take a quarter of what the cache itself may hold.
        let memo = Arc::new(ScanMemo::new(
            usize::try_from(pool.watch.config().memory_limit / 4).unwrap_or(usize::MAX),
        ));
        Self {
            inner: Arc::new(Inner {
                pool,
                config,
                memo,
                template: OnceLock::new(),
            }),
        }
    }

    pub fn config(&self) -> &EngineConfig {
        &self.inner.config
    }

    /// Every configured cluster's name, in configuration order.
    pub fn cluster_names(&self) -> Vec<String> {
        self.inner.pool.names()
    }

    /// The clusters a scope (a name, comma list, glob or `all`) names.
    pub fn resolve_scope(&self, scope: &str) -> Result<Vec<String>> {
        self.inner
            .pool
            .resolve_scope(scope)
            .map_err(|_| Error::UnknownScope(scope.to_string()))
    }

    /// Whether some cluster of the default scope answers discovery (from the shared cache).
    pub async fn readiness(&self) -> Readiness {
        let pool = &self.inner.pool;
        let scope = pool.default_scope().to_vec();
        let (_, clusters) = crate::catalog::discover(pool, &scope, Discovery::Cached).await;
        let answering: Vec<String> = clusters
            .iter()
            .filter(|c| c.in_scope && c.error.is_none())
            .map(|c| c.name.clone())
            .collect();
        if answering.is_empty() {
            Readiness::Unready(
                clusters
                    .iter()
                    .filter_map(|c| c.error.as_ref().map(|e| format!("{}: {e}", c.name)))
                    .collect(),
            )
        } else {
            Readiness::Ready(answering)
        }
    }

    /// What the watch cache holds now.
    pub fn cache_entries(&self) -> Vec<CacheEntry> {
        self.inner
            .pool
            .watch
            .entries()
            .into_iter()
            .map(|t| CacheEntry {
                resource: if t.key.group.is_empty() {
                    t.key.plural.clone()
                } else {
                    format!("{}.{}", t.key.plural, t.key.group)
                },
                cluster: t.key.cluster,
                objects: t.objects,
                bytes: t.bytes,
            })
            .collect()
    }

    /// A new session as `request` describes it.
    pub async fn session(&self, request: SessionRequest) -> Result<KubeSession> {
        let identity = Arc::new(request.identity);
        let consistency = if identity.may_read_shared_cache() {
            self.inner.config.consistency
        } else {
            Consistency::Live
        };
        let pool = &self.inner.pool;
        let scope = match &request.scope {
            None => pool.default_scope().to_vec(),
            Some(s) => self.resolve_scope(s)?,
        };
        let warnings = QueryWarnings::default();
        let (tables, status) = table_set(pool, &scope, Discovery::Cached).await;
        self.check_clusters(&status, &warnings)?;

        let settings = Arc::new(SessionSettings::new(request.statement_timeout));
        settings.apply_startup(
            request
                .startup
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str())),
        );
        let mut config = SessionConfig::new()
            .with_default_catalog_and_schema(&request.database, "public")
            .with_create_default_catalog_and_schema(false)
            .with_information_schema(true)
            .set_str("datafusion.sql_parser.dialect", "PostgreSQL")
            .set_bool("datafusion.sql_parser.enable_ident_normalization", true)
            // This check compares DataFusion's own two views of an aggregate's input and fails
            // queries where they differ only in nullability (a CASE over a NULL condition).
            .set_bool(
                "datafusion.execution.skip_physical_aggregate_schema_check",
                true,
            )
            .with_option_extension(
                KubepgSettings::new(consistency).with_namespaces(identity.namespaces.clone()),
            )
            .with_extension(Arc::new(warnings.clone()));
        // The functions DataFusion makes with the state (`now()`) take the session's zone then.
        config.options_mut().execution.time_zone = Some(settings.time_zone().engine_name());
        let mut runtime = RuntimeEnvBuilder::new();
        if let Some(limit) = self.inner.config.memory_limit {
            runtime = runtime.with_memory_limit(limit, 1.0);
        }
        let state = SessionStateBuilder::new_from_existing(self.template()?)
            .with_config(config)
            .with_runtime_env(runtime.build_arc()?)
            .with_catalog_list(Arc::new(MemoryCatalogProviderList::new()))
            .build();
        let ctx = SessionContext::new_with_state(state);

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
                pool: pool.clone(),
                memo: self.inner.memo.clone(),
                tables: RwLock::new(tables),
                options,
            }),
        )?;
        ctx.register_catalog(
            &request.database,
            Arc::new(catalog) as Arc<dyn CatalogProvider>,
        );
        // Every database a client could connect to is listed, as `\l` and DBeaver show them.
        let mut siblings = self.cluster_names();
        siblings.push("all".into());
        siblings.push(request.default_database.clone());
        for sibling in siblings.iter().filter(|s| **s != request.database) {
            ctx.register_catalog(
                sibling,
                Arc::new(MemoryCatalogProvider::new()) as Arc<dyn CatalogProvider>,
            );
        }

        crate::dialect::install_session(&ctx, &request.database, &request.user, &settings)?;
        settings.attach(&ctx);
        Ok(KubeSession {
            ctx,
            warnings,
            scope,
            identity,
            settings,
            transaction: Arc::default(),
            cursors: Default::default(),
            listeners: Listeners::new(request.notifications, self.inner.config.observer.clone()),
            pool: pool.clone(),
        })
    }

    /// What every session starts from: DataFusion's functions, kubepg's and the dialect's,
    /// planners and analyzer rules, made once (each session made them anew before, about 5 MB
    /// apiece). A session gets a copy with its own configuration, memory pool and catalogs.
    fn template(&self) -> Result<SessionState> {
        if let Some(state) = self.inner.template.get() {
            return Ok(state.clone());
        }
        let state = SessionStateBuilder::new()
            .with_config(SessionConfig::new().with_create_default_catalog_and_schema(false))
            .with_default_features()
            .build();
        let mut ctx = SessionContext::new_with_state(state);
        crate::functions::register(&mut ctx)?;
        ctx.register_catalog(CATALOG, Arc::new(MemoryCatalogProvider::new()));
        // A quarter of the query's memory: sending a value copies it at least once more.
        let value_limit = self
            .inner
            .config
            .memory_limit
            .unwrap_or(DEFAULT_VALUE_LIMIT) as u64
            / 4;
        crate::dialect::install_shared(&ctx, CATALOG, value_limit)?;
        Ok(self.inner.template.get_or_init(|| ctx.state()).clone())
    }

    /// Clusters of the scope that did not answer discovery: an error when strict, else a
    /// warning each.
    fn check_clusters(&self, status: &[ClusterStatus], warnings: &QueryWarnings) -> Result<()> {
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
        Ok(())
    }
}

impl SessionRequest {
    /// A session of kubepg's own identity over `scope` (`None`: the default scope), named
    /// like a connection to the default database: what a one-off query asks for.
    pub fn local(scope: Option<&str>) -> Self {
        Self {
            scope: scope.map(String::from),
            database: CATALOG.into(),
            default_database: CATALOG.into(),
            user: "kubepg".into(),
            ..Default::default()
        }
    }
}
