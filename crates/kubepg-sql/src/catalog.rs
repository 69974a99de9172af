//! Which tables a session sees and what each name means: every cluster's discovery (from the
//! pool's shared cache) and its status, resource plurals (the union over the clusters in
//! scope), `plural.group` where plurals collide, singular and short-name aliases, and the
//! `containers` table.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use datafusion::catalog::{SchemaProvider, TableProvider};
use datafusion::error::{DataFusionError, Result};
use futures::future::join_all;
use kubepg_kube::discovery::Discovered;
use kubepg_kube::pool::ClusterPool;
use kubepg_kube::{ResourceInfo, Source};

use crate::definition::{Rows, ScanOptions, TableDef};
use crate::memo::ScanMemo;
use crate::table::KubeTable;

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

/// What discovery found for one cluster.
#[derive(Debug, Clone)]
pub struct ClusterStatus {
    pub name: String,
    pub in_scope: bool,
    pub resources: Option<usize>,
    pub error: Option<String>,
}

/// Every cluster's discovery (from the shared cache) and its status relative to `scope`.
pub async fn discover(
    pool: &ClusterPool,
    scope: &[String],
    mode: Discovery,
) -> (Discoveries, Vec<ClusterStatus>) {
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
    pool: &ClusterPool,
    scope: &[String],
    mode: Discovery,
) -> (Arc<TableSet>, Vec<ClusterStatus>) {
    let (discovered, status) = discover(pool, scope, mode).await;
    (Arc::new(TableSet::build(&discovered, scope)), status)
}

/// Groups whose plurals win a bare name over a collision, most important first.
const GROUP_PRIORITY: &[&str] = &[
    "",
    "apps",
    "batch",
    "networking.k8s.io",
    "policy",
    "rbac.authorization.k8s.io",
    "storage.k8s.io",
    "autoscaling",
];

/// The clusters serving one resource, each with the resource as that cluster serves it.
type Serving = Vec<(Arc<dyn Source>, ResourceInfo)>;

/// The resolved table names of one session's view of the pool.
#[derive(Debug, Default)]
pub struct TableSet {
    /// Primary names, as listed by `\dt`.
    tables: BTreeMap<String, Arc<TableDef>>,
    /// Singular names and short names, resolved but not listed.
    aliases: BTreeMap<String, String>,
}

impl TableSet {
    /// `discovered`: every reachable cluster's resources; `scope`: the clusters whose resources
    /// make the table list.
    pub fn build(discovered: &Discoveries, scope: &[String]) -> Self {
        // (group, plural) → serving clusters; a resource is listed when a cluster in scope has it.
        let mut by_resource: BTreeMap<(String, String), (bool, Serving)> = BTreeMap::new();
        for (source, discovery) in discovered {
            let in_scope = scope.iter().any(|s| s == source.cluster());
            for r in discovery.resources.iter().filter(|r| r.can_list()) {
                let entry = by_resource
                    .entry((r.group.clone(), r.plural.clone()))
                    .or_default();
                entry.0 |= in_scope;
                entry.1.push((source.clone(), r.clone()));
            }
        }
        let mut by_plural: BTreeMap<String, Vec<(String, Serving)>> = BTreeMap::new();
        for ((group, plural), (in_scope, serving)) in by_resource {
            if in_scope {
                by_plural.entry(plural).or_default().push((group, serving));
            }
        }
        let mut set = TableSet::default();
        let mut alias_candidates: Vec<(String, String)> = Vec::new();
        for (plural, mut groups) in by_plural {
            groups.sort_by_key(|(g, _)| {
                (
                    GROUP_PRIORITY
                        .iter()
                        .position(|p| p == g)
                        .unwrap_or(usize::MAX),
                    g.clone(),
                )
            });
            for (i, (group, serving)) in groups.into_iter().enumerate() {
                let name = if i == 0 {
                    plural.clone()
                } else {
                    format!("{plural}.{group}")
                };
                let Some(def) = TableDef::new(name.clone(), serving, Rows::Objects) else {
                    continue;
                };
                if i == 0 {
                    alias_candidates.push((def.resource.singular.clone(), name.clone()));
                    for s in &def.resource.short_names {
                        alias_candidates.push((s.clone(), name.clone()));
                    }
                }
                if !group.is_empty() {
                    alias_candidates.push((format!("{plural}.{group}"), name.clone()));
                }
                if group.is_empty() && plural == "pods" {
                    let containers =
                        TableDef::new("containers".into(), def.serving.clone(), Rows::Containers);
                    if let Some(c) = containers {
                        set.tables
                            .entry("containers".into())
                            .or_insert_with(|| Arc::new(c));
                    }
                }
                set.tables.insert(name, Arc::new(def));
            }
        }
        for (alias, target) in alias_candidates {
            let alias = alias.to_ascii_lowercase();
            if !alias.is_empty() && !set.tables.contains_key(&alias) {
                set.aliases.entry(alias).or_insert(target);
            }
        }
        set
    }

    pub fn names(&self) -> Vec<String> {
        self.tables.keys().cloned().collect()
    }

    pub fn get(&self, name: &str) -> Option<Arc<TableDef>> {
        let name = name.to_ascii_lowercase();
        self.tables
            .get(&name)
            .or_else(|| self.aliases.get(&name).and_then(|t| self.tables.get(t)))
            .cloned()
    }

    pub fn tables(&self) -> impl Iterator<Item = &Arc<TableDef>> {
        self.tables.values()
    }
}

/// Schema `public` of a session: the resource tables, re-discovered when a name is missing so
/// a CRD created after the session started is found.
#[derive(Debug)]
pub struct KubeSchema {
    pub pool: Arc<ClusterPool>,
    pub memo: Arc<ScanMemo>,
    pub tables: RwLock<Arc<TableSet>>,
    pub options: ScanOptions,
}

impl KubeSchema {
    fn current(&self) -> Arc<TableSet> {
        self.tables.read().map(|t| t.clone()).unwrap_or_default()
    }
}

#[async_trait]
impl SchemaProvider for KubeSchema {
    fn table_names(&self) -> Vec<String> {
        self.current().names()
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        let mut def = self.current().get(name);
        if def.is_none() {
            let (fresh, status) =
                table_set(&self.pool, &self.options.scope, Discovery::OnMiss).await;
            def = fresh.get(name);
            if let Ok(mut t) = self.tables.write() {
                *t = fresh;
            }
            // No cluster in scope has ever answered discovery: the table is not unknown, the
            // clusters are.
            let in_scope: Vec<&ClusterStatus> = status.iter().filter(|c| c.in_scope).collect();
            if def.is_none()
                && let Some(first) = in_scope.first()
                && in_scope.iter().all(|c| c.error.is_some())
            {
                return Err(DataFusionError::External(Box::new(
                    crate::error::Error::ClusterUnavailable {
                        cluster: first.name.clone(),
                        message: format!(
                            "{} (no table of it is known until it answers once)",
                            first.error.clone().unwrap_or_default()
                        ),
                    },
                )));
            }
        }
        Ok(def.map(|def| {
            Arc::new(KubeTable {
                def,
                options: self.options.clone(),
                pool: self.pool.clone(),
                memo: self.memo.clone(),
            }) as Arc<dyn TableProvider>
        }))
    }

    fn table_exist(&self, name: &str) -> bool {
        self.current().get(name).is_some()
    }
}
