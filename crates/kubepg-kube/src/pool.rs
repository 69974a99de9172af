//! The configured clusters, one [`Source`] each, shared by every session with the discovery
//! cache and the watch cache; and which of them a name, a comma list or a glob picks.

use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::Semaphore;

use crate::discovery::{DiscoveryCache, DiscoveryConfig};
use crate::live::{LiveConfig, LiveSource};
use crate::snapshot::SnapshotSource;
use crate::watch::{WatchCache, WatchConfig};
use crate::{Error, Result, Source};

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
        })
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

fn load_kubeconfig(paths: &[PathBuf]) -> Result<kube::config::Kubeconfig> {
    let kerr = |e: kube::config::KubeconfigError| Error::Kubeconfig(e.to_string());
    if paths.is_empty() {
        return kube::config::Kubeconfig::read().map_err(kerr);
    }
    let mut merged: Option<kube::config::Kubeconfig> = None;
    for p in paths {
        let next = kube::config::Kubeconfig::read_from(p)
            .map_err(|e| Error::Kubeconfig(format!("{}: {e}", p.display())))?;
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
            return Err(Error::NoSuchCluster((*p).to_string()));
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
        let server = cfg.cluster_url.to_string();
        let client = kube::Client::try_from(cfg)
            .map_err(|e| Error::Kubeconfig(format!("context {name}: {e}")))?;
        sources.push(Arc::new(LiveSource::new(
            name,
            &server,
            client,
            config.live.clone(),
            global.clone(),
        )));
    }
    Ok((sources, scope))
}

fn in_cluster_source(config: &PoolConfig, global: &Arc<Semaphore>) -> Result<Arc<dyn Source>> {
    let mut cfg =
        kube::Config::incluster().map_err(|e| Error::Kubeconfig(format!("in-cluster: {e}")))?;
    cfg.default_retry = false;
    let server = cfg.cluster_url.to_string();
    let client =
        kube::Client::try_from(cfg).map_err(|e| Error::Kubeconfig(format!("in-cluster: {e}")))?;
    let name = config
        .in_cluster_name
        .clone()
        .unwrap_or_else(|| "in-cluster".to_string());
    Ok(Arc::new(LiveSource::new(
        name,
        &server,
        client,
        config.live.clone(),
        global.clone(),
    )))
}
