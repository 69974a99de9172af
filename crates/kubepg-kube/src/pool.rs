//! The configured clusters, one [`Source`] each, shared by every session with the discovery
//! cache and the watch cache; and which of them a name, a comma list or a glob picks. Sessions
//! of impersonated SQL users get each cluster as their [`Identity`] from
//! [`ClusterPool::source_as`], made once per (cluster, identity) and kept.

use std::path::PathBuf;
use std::sync::Arc;

use dashmap::DashMap;
use tokio::sync::Semaphore;

use crate::discovery::{DiscoveryCache, DiscoveryConfig};
use crate::live::{LiveConfig, LiveSource};
use crate::snapshot::SnapshotSource;
use crate::watch::{WatchCache, WatchConfig};
use crate::{Error, Identity, Result, Source};

/// Where clusters come from.
#[derive(Debug, Clone, Default)]
pub struct PoolConfig {
    /// Kubeconfig files, merged in order; empty means `$KUBECONFIG` or `~/.kube/config`.
    pub kubeconfigs: Vec<PathBuf>,
    /// Context names, comma lists or globs (`prod-*`); empty means every context.
    pub contexts: Vec<String>,
    /// Use the pod's service-account credentials (also chosen when no kubeconfig exists and
    /// `KUBERNETES_SERVICE_HOST` is set).
    pub in_cluster: bool,
    /// The cluster name in-cluster credentials are known by.
    pub in_cluster_name: Option<String>,
    /// Snapshot files or directories, one cluster each (named after the file stem).
    pub snapshots: Vec<PathBuf>,
    /// The embedded demo cluster.
    pub demo: bool,
    pub live: LiveConfig,
    /// Requests in flight across all clusters.
    pub total_requests: usize,
    pub discovery: DiscoveryConfig,
    pub watch: WatchConfig,
}

/// Every configured cluster, in configuration order.
#[derive(Debug)]
pub struct ClusterPool {
    sources: Vec<Arc<dyn Source>>,
    /// The clusters a session sees when it names none.
    default_scope: Vec<String>,
    pub discovery: DiscoveryCache,
    /// The watch cache every session's `cached` queries read.
    pub watch: WatchCache,
    /// Each cluster as each identity sessions asked for (the identities come from the operator's
    /// mapping, so this stays as small as that mapping): a reconnecting user reuses the client
    /// and its HTTP connections.
    impersonated: DashMap<(String, Identity), Arc<dyn Source>>,
}

impl ClusterPool {
    pub async fn build(config: PoolConfig) -> Result<Self> {
        let mut sources: Vec<Arc<dyn Source>> = Vec::new();
        let mut default_scope = Vec::new();
        let mut kubeconfig_names = Vec::new();
        let global = Arc::new(Semaphore::new(config.total_requests.max(1)));

        if config.demo {
            sources.push(Arc::new(SnapshotSource::demo()?));
        }
        for path in &config.snapshots {
            let name = path.file_stem().map_or_else(
                || "snapshot".to_string(),
                |s| s.to_string_lossy().into_owned(),
            );
            sources.push(Arc::new(SnapshotSource::load(
                unique_name(&sources, name),
                path,
            )?));
        }
        let use_kubeconfig = !config.kubeconfigs.is_empty()
            || (!config.demo && config.snapshots.is_empty() && !config.in_cluster);
        if use_kubeconfig {
            match load_kubeconfig(&config.kubeconfigs) {
                Ok(kubeconfig) => {
                    let (live, scope) = live_sources(kubeconfig, &config, &global).await?;
                    kubeconfig_names = live.iter().map(|s| s.cluster().to_string()).collect();
                    sources.extend(live);
                    default_scope = scope;
                }
                // With no kubeconfig at all, a pod falls back to its service account.
                Err(e) if config.kubeconfigs.is_empty() && in_cluster_available() => {
                    tracing::info!(error = %e, "no kubeconfig; using in-cluster credentials");
                    sources.push(in_cluster_source(&config, &global)?);
                }
                Err(e) => return Err(e),
            }
        }
        if config.in_cluster {
            sources.push(in_cluster_source(&config, &global)?);
        }
        if sources.is_empty() {
            return Err(Error::NoSuchCluster(config.contexts.join(",")));
        }
        if default_scope.is_empty() {
            default_scope = sources.iter().map(|s| s.cluster().to_string()).collect();
        } else {
            // Snapshots and in-cluster credentials are always in the default scope.
            for s in &sources {
                let n = s.cluster().to_string();
                if !default_scope.contains(&n) && !kubeconfig_names.contains(&n) {
                    default_scope.push(n);
                }
            }
        }
        Ok(Self {
            sources,
            default_scope,
            discovery: DiscoveryCache::new(config.discovery),
            watch: WatchCache::new(config.watch),
            impersonated: DashMap::new(),
        })
    }

    /// `source` (one of this pool's) acting as `identity`: an impersonating source, made on
    /// first use and kept, or `source` itself when it has no RBAC to defer to (snapshots).
    pub fn source_as(
        &self,
        source: &Arc<dyn Source>,
        identity: &Identity,
    ) -> Result<Arc<dyn Source>> {
        let key = (source.cluster().to_string(), identity.clone());
        if let Some(found) = self.impersonated.get(&key) {
            return Ok(found.clone());
        }
        let made = source
            .impersonating(identity)?
            .unwrap_or_else(|| source.clone());
        // Two sessions may race here; the first one in is kept, so both share one client.
        Ok(self.impersonated.entry(key).or_insert(made).clone())
    }

    pub fn sources(&self) -> &[Arc<dyn Source>] {
        &self.sources
    }

    pub fn names(&self) -> Vec<String> {
        self.sources
            .iter()
            .map(|s| s.cluster().to_string())
            .collect()
    }

    pub fn get(&self, name: &str) -> Option<&Arc<dyn Source>> {
        self.sources.iter().find(|s| s.cluster() == name)
    }

    pub fn default_scope(&self) -> &[String] {
        &self.default_scope
    }

    /// The clusters a scope string names: `all` or `*`, a name, a comma list, or globs.
    pub fn resolve_scope(&self, scope: &str) -> Result<Vec<String>> {
        let names = self.names();
        let mut out = Vec::new();
        for part in scope.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let matched: Vec<&String> = if part == "all" || part == "*" {
                names.iter().collect()
            } else {
                names.iter().filter(|n| matches_pattern(part, n)).collect()
            };
            if matched.is_empty() {
                return Err(Error::NoSuchCluster(part.to_string()));
            }
            for m in matched {
                if !out.contains(m) {
                    out.push(m.clone());
                }
            }
        }
        if out.is_empty() {
            return Err(Error::NoSuchCluster(scope.to_string()));
        }
        Ok(out)
    }
}

/// A cluster name against a pattern: exact, or a glob with `*`, `?` and `[...]`.
pub fn matches_pattern(pattern: &str, name: &str) -> bool {
    if pattern == name {
        return true;
    }
    glob::Pattern::new(pattern).is_ok_and(|p| p.matches(name))
}

fn unique_name(sources: &[Arc<dyn Source>], name: String) -> String {
    let mut candidate = name.clone();
    let mut i = 2;
    while sources.iter().any(|s| s.cluster() == candidate) {
        candidate = format!("{name}-{i}");
        i += 1;
    }
    candidate
}

fn in_cluster_available() -> bool {
    std::env::var_os("KUBERNETES_SERVICE_HOST").is_some()
}

/// What to do without a kubeconfig, for a newcomer who has none.
const NO_KUBECONFIG_HINT: &str = "give one with --kubeconfig (or KUBECONFIG), use --in-cluster inside a pod, or try kubepg without a cluster: --demo";

/// The innermost cause of an error: kube's own messages wrap and quote the path they name.
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut inner = e;
    while let Some(next) = inner.source() {
        inner = next;
    }
    inner.to_string()
}

fn load_kubeconfig(paths: &[PathBuf]) -> Result<kube::config::Kubeconfig> {
    let kerr = |e: kube::config::KubeconfigError| Error::Kubeconfig(e.to_string());
    if paths.is_empty() {
        return kube::config::Kubeconfig::read().map_err(|e| {
            let place = std::env::var("KUBECONFIG").unwrap_or_else(|_| {
                std::env::var("HOME").map_or_else(
                    |_| "~/.kube/config".into(),
                    |home| format!("{home}/.kube/config"),
                )
            });
            Error::Kubeconfig(format!(
                "cannot read {place} ({}): {NO_KUBECONFIG_HINT}",
                root_cause(&e)
            ))
        });
    }
    let mut merged: Option<kube::config::Kubeconfig> = None;
    for p in paths {
        let next = kube::config::Kubeconfig::read_from(p).map_err(|e| {
            Error::Kubeconfig(format!("cannot read {}: {}", p.display(), root_cause(&e)))
        })?;
        merged = Some(match merged {
            None => next,
            Some(m) => m.merge(next).map_err(kerr)?,
        });
    }
    merged.ok_or_else(|| Error::Kubeconfig("no kubeconfig given".into()))
}

async fn live_sources(
    kubeconfig: kube::config::Kubeconfig,
    config: &PoolConfig,
    global: &Arc<Semaphore>,
) -> Result<(Vec<Arc<dyn Source>>, Vec<String>)> {
    let all: Vec<String> = kubeconfig.contexts.iter().map(|c| c.name.clone()).collect();
    let patterns: Vec<&str> = config
        .contexts
        .iter()
        .flat_map(|c| c.split(','))
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    let mut chosen = Vec::new();
    for p in &patterns {
        let hits: Vec<&String> = all.iter().filter(|n| matches_pattern(p, n)).collect();
        if hits.is_empty() {
            return Err(Error::NoSuchContext {
                pattern: (*p).to_string(),
                available: all.clone(),
            });
        }
        chosen.extend(
            hits.into_iter()
                .filter(|h| !chosen.contains(*h))
                .cloned()
                .collect::<Vec<_>>(),
        );
    }
    let scope = if patterns.is_empty() {
        chosen = all.clone();
        kubeconfig
            .current_context
            .clone()
            .filter(|c| all.contains(c))
            .map(|c| vec![c])
            .unwrap_or_default()
    } else {
        chosen.clone()
    };
    let mut sources: Vec<Arc<dyn Source>> = Vec::new();
    for name in chosen {
        let options = kube::config::KubeConfigOptions {
            context: Some(name.clone()),
            ..Default::default()
        };
        let mut cfg = kube::Config::from_custom_kubeconfig(kubeconfig.clone(), &options)
            .await
            .map_err(|e| Error::Kubeconfig(format!("context {name}: {e}")))?;
        // kubepg's LIST loop retries with its own limits and counts what it does; kube-rs's
        // retry layer underneath would retry again, unseen and unbounded by those limits.
        cfg.default_retry = false;
        if cfg.accept_invalid_certs {
            tracing::info!(cluster = %name, "TLS certificate verification is off for this cluster (insecure-skip-tls-verify in the kubeconfig)");
        }
        sources.push(Arc::new(LiveSource::new(
            name,
            cfg,
            config.live.clone(),
            global.clone(),
        )?));
    }
    Ok((sources, scope))
}

fn in_cluster_source(config: &PoolConfig, global: &Arc<Semaphore>) -> Result<Arc<dyn Source>> {
    let mut cfg = kube::Config::incluster().map_err(|e| {
        if in_cluster_available() {
            Error::Kubeconfig(format!("in-cluster credentials: {e}"))
        } else {
            Error::Kubeconfig(
                "--in-cluster works inside a pod only (KUBERNETES_SERVICE_HOST is not set): outside one, use --kubeconfig and --context".into(),
            )
        }
    })?;
    cfg.default_retry = false;
    let name = config
        .in_cluster_name
        .clone()
        .unwrap_or_else(|| "in-cluster".to_string());
    Ok(Arc::new(LiveSource::new(
        name,
        cfg,
        config.live.clone(),
        global.clone(),
    )?))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A kubeconfig whose one context points at a closed port: making clients connects nowhere.
    fn kubeconfig(dir: &std::path::Path) -> PathBuf {
        let path = dir.join("kubeconfig");
        std::fs::write(
            &path,
            "apiVersion: v1\nkind: Config\ncurrent-context: c1\nclusters:\n- name: c1\n  cluster: {server: 'https://127.0.0.1:1'}\nusers:\n- name: c1\n  user: {token: x}\ncontexts:\n- name: c1\n  context: {cluster: c1, user: c1}\n",
        )
        .unwrap();
        path
    }

    #[tokio::test]
    async fn a_cluster_as_an_identity_is_made_once_and_a_snapshot_is_itself() {
        let dir = tempfile::tempdir().unwrap();
        let pool = ClusterPool::build(PoolConfig {
            kubeconfigs: vec![kubeconfig(dir.path())],
            demo: true,
            total_requests: 4,
            ..Default::default()
        })
        .await
        .unwrap();
        let alice = Identity::new("alice", vec!["team-a".into()]);
        let bob = Identity::new("bob", vec![]);
        let live = pool.get("c1").unwrap().clone();
        let as_alice = pool.source_as(&live, &alice).unwrap();
        assert!(!Arc::ptr_eq(&as_alice, &live));
        assert_eq!(as_alice.cluster(), "c1");
        assert!(format!("{as_alice:?}").contains("alice"), "{as_alice:?}");
        assert!(Arc::ptr_eq(
            &as_alice,
            &pool.source_as(&live, &alice).unwrap()
        ));
        assert!(!Arc::ptr_eq(
            &as_alice,
            &pool.source_as(&live, &bob).unwrap()
        ));

        let demo = pool.get("demo").unwrap().clone();
        assert!(Arc::ptr_eq(&demo, &pool.source_as(&demo, &alice).unwrap()));
    }
}
