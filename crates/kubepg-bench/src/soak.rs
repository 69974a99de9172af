//! The soak: many sessions of a mixed workload for a while, the server's memory before, at its
//! peak and after they disconnect; then many short connections one after another.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use futures::future::join_all;
use tokio_postgres::Client;

use crate::server::{RssPeak, Server};

pub struct SoakRun {
    pub sessions: usize,
    pub queries: u64,
    pub errors: u64,
    /// The first few errors, for the report.
    pub error_samples: Vec<String>,
    pub latencies: Vec<Duration>,
    pub rss_before: u64,
    pub rss_peak: u64,
    pub rss_after: u64,
}

/// The workload's queries, by kind; a session runs them in turn from its own offset, so every
/// moment sees each kind. One session in ten reads live (a LIST of one namespace per query).
async fn one_query(
    pg: &Client,
    live: bool,
    k: usize,
    pods: usize,
    namespaces: usize,
) -> Result<()> {
    let pod = k % pods;
    let ns = format!("bulk-{:03}", pod % namespaces);
    if live {
        pg.query_one("SELECT count(*) FROM pods WHERE namespace = $1", &[&ns])
            .await?;
        return Ok(());
    }
    match k % 4 {
        0 => {
            let name = format!("bulk-{pod:06}");
            pg.query(
                "SELECT name, phase FROM pods WHERE namespace = $1 AND name = $2",
                &[&ns, &name],
            )
            .await?;
        }
        1 => {
            pg.query(
                "SELECT namespace, phase, count(*) FROM pods GROUP BY 1, 2",
                &[],
            )
            .await?;
        }
        2 => {
            pg.query(
                "SELECT labels ->> 'team' AS team, count(*) FROM pods WHERE labels ? 'team' GROUP BY 1",
                &[],
            )
            .await?;
        }
        _ => {
            pg.query(
                "SELECT name, labels -> 'team' FROM pods WHERE namespace = $1 ORDER BY created DESC LIMIT 20",
                &[&ns],
            )
            .await?;
        }
    }
    Ok(())
}

/// `sessions` clients running the mixed workload for `duration`, the server's RSS sampled every
/// 50 ms; "after" is read once every client has gone and the server had a moment to free.
pub async fn soak(
    server: &Server,
    sessions: usize,
    duration: Duration,
    pods: usize,
    namespaces: usize,
) -> Result<SoakRun> {
    let rss_before = server.rss_bytes()?;
    let mut clients = Vec::with_capacity(sessions);
    for i in 0..sessions {
        let pg = server
            .connect()
            .await
            .with_context(|| format!("soak session {i}"))?;
        let live = i % 10 == 9;
        let mode = if live { "live" } else { "cached" };
        pg.batch_execute(&format!("SET kubepg.consistency = '{mode}'"))
            .await?;
        clients.push((pg, live));
    }
    let peak = RssPeak::start(server.pid(), Duration::from_millis(50));
    let deadline = Instant::now() + duration;
    let runs = clients
        .iter()
        .enumerate()
        .map(|(i, (pg, live))| async move {
            let mut latencies = Vec::new();
            let mut errors = Vec::new();
            let mut k = i;
            while Instant::now() < deadline {
                let t = Instant::now();
                match one_query(pg, *live, k, pods, namespaces).await {
                    Ok(()) => latencies.push(t.elapsed()),
                    Err(e) => errors.push(format!("{e:#}")),
                }
                k += 1;
            }
            (latencies, errors)
        });
    let results = join_all(runs).await;
    drop(clients);
    let mut latencies = Vec::new();
    let mut errors = Vec::new();
    for (l, e) in results {
        latencies.extend(l);
        errors.extend(e);
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rss_peak = peak.stop().await?;
    let rss_after = server.rss_bytes()?;
    Ok(SoakRun {
        sessions,
        queries: (latencies.len() + errors.len()) as u64,
        errors: errors.len() as u64,
        error_samples: errors.into_iter().take(5).collect(),
        latencies,
        rss_before,
        rss_peak: rss_peak.max(rss_before),
        rss_after,
    })
}

/// RSS before and after `cycles` connect, `SELECT 1`, disconnect, one at a time.
pub async fn connect_cycles(server: &Server, cycles: usize) -> Result<(u64, u64)> {
    let before = server.rss_bytes()?;
    for i in 0..cycles {
        let pg = server
            .connect()
            .await
            .with_context(|| format!("connection {i}"))?;
        pg.simple_query("SELECT 1").await?;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    Ok((before, server.rss_bytes()?))
}
