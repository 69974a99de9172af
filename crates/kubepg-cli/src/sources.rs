//! The flags that say where clusters come from, shared by every command that reads them.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use kubepg_kube::discovery::DiscoveryConfig;
use kubepg_kube::pool::{ClusterPool, PoolConfig};

#[derive(Args, Debug, Clone)]
pub struct SourceArgs {
    /// Kubeconfig file (repeat to merge several); default: $KUBECONFIG or ~/.kube/config.
    #[arg(long, env = "KUBEPG_KUBECONFIG", value_delimiter = ':')]
    pub kubeconfig: Vec<PathBuf>,
    /// Contexts to use: a name, a comma list or a glob like 'prod-*' (default: all; the
    /// current context is the default scope).
    #[arg(long, env = "KUBEPG_CONTEXT")]
    pub context: Vec<String>,
    /// Use the pod's service-account credentials.
    #[arg(long, env = "KUBEPG_IN_CLUSTER")]
    pub in_cluster: bool,
    /// Snapshot file or directory of YAML/JSON objects (repeat: one cluster each).
    #[arg(long, env = "KUBEPG_SNAPSHOT", value_delimiter = ',')]
    pub snapshot: Vec<PathBuf>,
    /// The embedded demo cluster.
    #[arg(long)]
    pub demo: bool,
    /// Walk discovery again instead of using the cached result.
    #[arg(long)]
    pub refresh: bool,
    /// How long discovery results are reused, in seconds.
    #[arg(long, env = "KUBEPG_DISCOVERY_TTL", default_value_t = 600)]
    pub discovery_ttl: u64,
    /// Where discovery results are cached between runs.
    #[arg(long, env = "KUBEPG_CACHE_DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Requests in flight per cluster.
    #[arg(long, env = "KUBEPG_CLUSTER_REQUESTS", default_value_t = 8)]
    pub cluster_requests: usize,
    /// Requests in flight across all clusters.
    #[arg(long, env = "KUBEPG_TOTAL_REQUESTS", default_value_t = 32)]
    pub total_requests: usize,
    /// Deadline of one API request, in seconds.
    #[arg(long, env = "KUBEPG_REQUEST_TIMEOUT", default_value_t = 30)]
    pub request_timeout: u64,
}

impl SourceArgs {
    pub async fn pool(&self) -> anyhow::Result<ClusterPool> {
        let cache_dir = self.cache_dir.clone().or_else(|| {
            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/kubepg/discovery"))
        });
        let live = kubepg_kube::live::LiveConfig {
            per_cluster_requests: self.cluster_requests,
            request_timeout: Duration::from_secs(self.request_timeout),
            ..Default::default()
        };
        let pool = ClusterPool::build(PoolConfig {
            kubeconfigs: self.kubeconfig.clone(),
            contexts: self.context.clone(),
            in_cluster: self.in_cluster,
            in_cluster_name: None,
            snapshots: self.snapshot.clone(),
            demo: self.demo,
            live,
            total_requests: self.total_requests,
            discovery: DiscoveryConfig {
                dir: cache_dir,
                ttl: Duration::from_secs(self.discovery_ttl),
                ..Default::default()
            },
        })
        .await?;
        if self.refresh {
            pool.discovery.invalidate();
        }
        Ok(pool)
    }
}
