//! What each cluster serves, cached in memory and on disk so that a warm start answers without
//! asking any cluster (a live cluster walks its discovery endpoints in [`crate::live`]).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use dashmap::DashMap;
use serde::{Deserialize, Serialize};

use crate::source::{ResourceInfo, Source};
use crate::{Error, Result};

/// One cluster's discovery result.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Discovered {
    /// Milliseconds since the Unix epoch.
    pub fetched_at_ms: u64,
    pub resources: Vec<ResourceInfo>,
}

impl Discovered {
    fn age(&self) -> Duration {
        Duration::from_millis(now_ms().saturating_sub(self.fetched_at_ms))
    }

    /// Younger than `max_age`; a zero `max_age` is never fresh.
    fn fresher_than(&self, max_age: Duration) -> bool {
        self.age() < max_age
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// How discovery results are kept.
#[derive(Debug, Clone)]
pub struct DiscoveryConfig {
    /// Where results are kept between runs; `None` keeps them in memory only.
    pub dir: Option<PathBuf>,
    /// How long a result is used before the cluster is walked again.
    pub ttl: Duration,
    /// A table name no cluster knows triggers a new walk, at most this often.
    pub miss_interval: Duration,
}

impl Default for DiscoveryConfig {
    fn default() -> Self {
        Self {
            dir: None,
            ttl: Duration::from_secs(600),
            miss_interval: Duration::from_secs(5),
        }
    }
}

/// Discovery results per cluster, shared by every session.
#[derive(Debug)]
pub struct DiscoveryCache {
    config: DiscoveryConfig,
    memory: DashMap<String, Arc<Discovered>>,
    /// Serialises walks of one cluster so concurrent sessions share a single walk.
    walking: DashMap<String, Arc<tokio::sync::Mutex<()>>>,
    /// When a cluster's walk last failed while an older result stood in for it.
    failed: DashMap<String, Instant>,
}

impl DiscoveryCache {
    pub fn new(config: DiscoveryConfig) -> Self {
        Self {
            config,
            memory: DashMap::new(),
            walking: DashMap::new(),
            failed: DashMap::new(),
        }
    }

    /// The cluster's resources: from memory, else from disk, else by walking it, whichever is
    /// the first still within the TTL.
    pub async fn get(&self, source: &dyn Source) -> Result<Arc<Discovered>> {
        self.get_with(source, self.config.ttl).await
    }

    /// A new walk after a table name was not found, rate-limited by `miss_interval`.
    pub async fn refresh_on_miss(&self, source: &dyn Source) -> Result<Arc<Discovered>> {
        self.get_with(source, self.config.miss_interval).await
    }

    /// Forgets every cluster's result, in memory and on disk (the `--refresh` flag).
    pub fn invalidate(&self) {
        self.memory.clear();
        self.failed.clear();
        if let Some(dir) = &self.config.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }

    async fn get_with(&self, source: &dyn Source, max_age: Duration) -> Result<Arc<Discovered>> {
        let key = source.cluster().to_string();
        if let Some(d) = self.fresh_in_memory(&key, max_age) {
            return Ok(d);
        }
        let lock = self.walking.entry(key.clone()).or_default().clone();
        let _walk = lock.lock().await;
        if let Some(d) = self.fresh_in_memory(&key, max_age) {
            return Ok(d);
        }
        // A cluster whose walk just failed is not walked again by every query: its last result
        // stands until `miss_interval` has passed.
        if let Some(d) = self.recently_failed(&key) {
            return Ok(d);
        }
        if let Some(d) = self.read_disk(source).filter(|d| d.fresher_than(max_age)) {
            let d = Arc::new(d);
            self.memory.insert(key, d.clone());
            return Ok(d);
        }
        let resources = match source.discover().await {
            Ok(resources) => resources,
            // A cluster that is down keeps its last known tables, so that a query names the
            // cluster's own failure (from its LIST) instead of an unknown table.
            Err(e) => {
                let last = self
                    .memory
                    .get(&key)
                    .map(|d| d.clone())
                    .or_else(|| self.read_disk(source).map(Arc::new));
                let Some(last) = last else {
                    return Err(e);
                };
                tracing::warn!(cluster = %key, error = %e, age_s = last.age().as_secs(), "discovery failed; using the last known resources");
                self.memory.insert(key.clone(), last.clone());
                self.failed.insert(key, Instant::now());
                return Ok(last);
            }
        };
        let d = Arc::new(Discovered {
            fetched_at_ms: now_ms(),
            resources,
        });
        self.failed.remove(&key);
        if let Err(e) = self.write_disk(source, &d) {
            tracing::warn!(error = %e, "discovery cache not written");
        }
        self.memory.insert(key, d.clone());
        Ok(d)
    }

    fn recently_failed(&self, key: &str) -> Option<Arc<Discovered>> {
        let failed = self.failed.get(key)?;
        if failed.elapsed() >= self.config.miss_interval {
            return None;
        }
        self.memory.get(key).map(|d| d.clone())
    }

    fn fresh_in_memory(&self, key: &str, max_age: Duration) -> Option<Arc<Discovered>> {
        self.memory
            .get(key)
            .filter(|d| d.fresher_than(max_age))
            .map(|d| d.clone())
    }

    fn disk_path(&self, source: &dyn Source) -> Option<PathBuf> {
        let dir = self.config.dir.as_ref()?;
        let key = source.cache_key()?;
        let safe: String = key
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        Some(dir.join(format!("{safe}.json")))
    }

    fn read_disk(&self, source: &dyn Source) -> Option<Discovered> {
        let bytes = std::fs::read(self.disk_path(source)?).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    fn write_disk(&self, source: &dyn Source, d: &Discovered) -> Result<()> {
        let Some(path) = self.disk_path(source) else {
            return Ok(());
        };
        let err = |e: std::io::Error| Error::Cache {
            path: path.display().to_string(),
            message: e.to_string(),
        };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(err)?;
        }
        let tmp = path.with_extension("json.tmp");
        let body = serde_json::to_vec(d).map_err(|e| Error::Cache {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        std::fs::write(&tmp, body).map_err(err)?;
        std::fs::rename(&tmp, &path).map_err(err)
    }
}
