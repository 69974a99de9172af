//! The flags that say where clusters come from, shared by every command that reads them.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use clap::builder::BoolishValueParser;
use kubepg_kube::discovery::DiscoveryConfig;
use kubepg_kube::live::ApiObserver;
use kubepg_kube::pool::{ClusterPool, PoolConfig};
use kubepg_kube::{WatchConfig, WatchOptions};

/// The flags of the watch cache, by their argument ids.
pub const WATCH_FLAGS: &[&str] = &[
    "watch_memory",
    "watch_idle",
    "watch_timeout",
    "changes_max",
    "changes_age",
];

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
    #[arg(long, env = "KUBEPG_IN_CLUSTER", value_parser = BoolishValueParser::new())]
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
    /// The User-Agent of kubepg's API requests, which audit logs and API server metrics show
    /// (to tell several kubepg instances apart); default `kubepg/VERSION`.
    #[arg(long, env = "KUBEPG_USER_AGENT")]
    pub user_agent: Option<String>,
    /// Memory the watch cache may hold across all tables (bytes, or with KiB, MiB, GiB); the
    /// least recently used tables are dropped to stay under it.
    #[arg(long, env = "KUBEPG_WATCH_MEMORY", default_value = "256MiB", value_parser = parse_size)]
    pub watch_memory: u64,
    /// Seconds a cached table may go unread before its watch stops.
    #[arg(long, env = "KUBEPG_WATCH_IDLE", default_value_t = 600)]
    pub watch_idle: u64,
    /// Seconds one watch request stays open before the watcher starts the next one.
    #[arg(long, env = "KUBEPG_WATCH_TIMEOUT", default_value_t = 290)]
    pub watch_timeout: u64,
    /// Watch events kept in kubepg.changes.
    #[arg(long, env = "KUBEPG_CHANGES_MAX", default_value_t = 10_000)]
    pub changes_max: usize,
    /// Seconds a watch event stays in kubepg.changes.
    #[arg(long, env = "KUBEPG_CHANGES_AGE", default_value_t = 3600)]
    pub changes_age: u64,
}

/// How queries treat the clusters, shared by every command that runs SQL.
#[derive(Args, Debug, Clone)]
pub struct EngineArgs {
    /// Fail when any cluster fails, instead of warning and answering from the others.
    #[arg(long, env = "KUBEPG_STRICT", value_parser = BoolishValueParser::new())]
    pub strict: bool,
    /// Show secret values (they are redacted by default).
    #[arg(long, env = "KUBEPG_SHOW_SECRETS", value_parser = BoolishValueParser::new())]
    pub show_secrets: bool,
    /// Where rows come from: 'live' lists from the API server on every query, 'cached' reads
    /// the watch cache (sessions may SET kubepg.consistency).
    #[arg(long, env = "KUBEPG_CONSISTENCY", value_enum, default_value = "live")]
    pub consistency: ConsistencyArg,
}

impl EngineArgs {
    pub fn config(&self) -> kubepg_sql::EngineConfig {
        kubepg_sql::EngineConfig {
            strict: self.strict,
            show_secrets: self.show_secrets,
            consistency: self.consistency.into(),
            ..Default::default()
        }
    }
}

/// `--consistency`: the `kubepg.consistency` sessions start with.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ConsistencyArg {
    Live,
    Cached,
}

impl From<ConsistencyArg> for kubepg_sql::Consistency {
    fn from(c: ConsistencyArg) -> Self {
        match c {
            ConsistencyArg::Live => kubepg_sql::Consistency::Live,
            ConsistencyArg::Cached => kubepg_sql::Consistency::Cached,
        }
    }
}

/// `1048576`, `64KiB`, `256MiB`, `2GiB` (also `K`, `M`, `G`, `KB`, `MB`, `GB`, all powers of 1024).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("{s:?} is not a size like 256MiB"))?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        other => return Err(format!("unknown size unit {other:?} (use KiB, MiB or GiB)")),
    };
    number
        .checked_mul(1 << shift)
        .ok_or_else(|| format!("{s:?} is too large"))
}

impl SourceArgs {
    /// The cluster pool these flags describe; `observer` hears every API response.
    pub async fn pool(
        &self,
        observer: Option<Arc<dyn ApiObserver>>,
    ) -> anyhow::Result<ClusterPool> {
        let cache_dir = self.cache_dir.clone().or_else(|| {
            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/kubepg/discovery"))
        });
        let live = kubepg_kube::live::LiveConfig {
            per_cluster_requests: self.cluster_requests,
            request_timeout: Duration::from_secs(self.request_timeout),
            observer,
            ..Default::default()
        };
        let live = match &self.user_agent {
            Some(agent) => kubepg_kube::live::LiveConfig {
                user_agent: agent.clone(),
                ..live
            },
            None => live,
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
            watch: WatchConfig {
                memory_limit: self.watch_memory,
                idle: Duration::from_secs(self.watch_idle),
                changes_max: self.changes_max,
                changes_age: Duration::from_secs(self.changes_age),
                options: WatchOptions {
                    request_timeout: Some(Duration::from_secs(self.watch_timeout)),
                },
            },
        })
        .await?;
        if self.refresh {
            pool.discovery.invalidate();
        }
        Ok(pool)
    }
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes_take_binary_units() {
        assert_eq!(parse_size("1048576"), Ok(1 << 20));
        assert_eq!(parse_size("64KiB"), Ok(64 << 10));
        assert_eq!(parse_size("256 MiB"), Ok(256 << 20));
        assert_eq!(parse_size("2g"), Ok(2 << 30));
        assert!(parse_size("1.5GiB").is_err());
        assert!(parse_size("10 parsecs").is_err());
    }
}
