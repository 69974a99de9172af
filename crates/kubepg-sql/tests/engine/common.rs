//! Helpers shared by the engine's integration tests: an engine over the shared seeded test
//! clusters, and query results as comparable text.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use datafusion::arrow::array::Array;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use kubepg_kube::live::LiveConfig;
use kubepg_kube::pool::{ClusterPool, PoolConfig};
use kubepg_sql::{Engine, EngineConfig};
use kubepg_testkit::TestClusters;

pub async fn engine(
    env: &TestClusters,
    contexts: &[&str],
    extra_kubeconfigs: &[PathBuf],
    config: EngineConfig,
) -> Engine {
    let mut kubeconfigs = vec![env.kubeconfig()];
    kubeconfigs.extend_from_slice(extra_kubeconfigs);
    build(kubeconfigs, contexts, Default::default(), config)
        .await
        .0
}

/// An engine over `contexts` whose API requests carry a user agent of their own, and that
/// agent: tests of this binary share the API servers, and one that counts requests in the
/// audit log counts only its own.
pub async fn tagged_engine(
    env: &TestClusters,
    contexts: &[&str],
    config: EngineConfig,
) -> (Engine, String) {
    build(vec![env.kubeconfig()], contexts, Default::default(), config).await
}

/// An engine over `c1` with its own discovery settings, and its user agent.
pub async fn engine_with_discovery(
    env: &TestClusters,
    discovery: kubepg_kube::discovery::DiscoveryConfig,
) -> (Engine, String) {
    build(
        vec![env.kubeconfig()],
        &["c1"],
        discovery,
        EngineConfig::default(),
    )
    .await
}

async fn build(
    kubeconfigs: Vec<PathBuf>,
    contexts: &[&str],
    discovery: kubepg_kube::discovery::DiscoveryConfig,
    config: EngineConfig,
) -> (Engine, String) {
    let agent = user_agent();
    let pool = ClusterPool::build(PoolConfig {
        kubeconfigs,
        contexts: contexts.iter().map(|c| c.to_string()).collect(),
        total_requests: 16,
        discovery,
        live: LiveConfig {
            user_agent: agent.clone(),
            ..Default::default()
        },
        ..Default::default()
    })
    .await
    .expect("pool");
    (Engine::new(Arc::new(pool), config), agent)
}

fn user_agent() -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!("kubepg-test/{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// Every row of the query's result as text cells (NULL as "∅"), in result order.
pub async fn rows(
    engine: &Engine,
    scope: Option<&str>,
    sql: &str,
) -> Result<Vec<Vec<String>>, kubepg_sql::Error> {
    let session = engine
        .session(kubepg_sql::SessionRequest::local(scope))
        .await?;
    let batches = session.collect(sql).await?;
    let options = FormatOptions::default();
    let mut out = Vec::new();
    for b in batches {
        let formatters: Vec<_> = b
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options).unwrap())
            .collect();
        for i in 0..b.num_rows() {
            out.push(
                b.columns()
                    .iter()
                    .zip(&formatters)
                    .map(|(c, f)| {
                        if c.is_null(i) {
                            "∅".to_string()
                        } else {
                            f.value(i).to_string()
                        }
                    })
                    .collect(),
            );
        }
    }
    Ok(out)
}

pub async fn sorted_rows(engine: &Engine, scope: Option<&str>, sql: &str) -> Vec<Vec<String>> {
    let mut r = rows(engine, scope, sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    r.sort();
    r
}
