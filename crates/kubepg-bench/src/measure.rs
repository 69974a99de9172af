//! One function per thing measured; each checks its answer, so a fast wrong result never
//! counts as a fast result.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use futures::future::try_join_all;
use serde::Deserialize;
use serde::de::IgnoredAny;
use tokio_postgres::{Client, SimpleQueryMessage};

use crate::server::{RssPeak, Server};

/// One full paged LIST of every pod.
pub struct ListRun {
    pub took: Duration,
    /// Bytes of the JSON bodies, all pages together.
    pub bytes: u64,
    pub objects: u64,
}

/// The part of a LIST page the client needs: the continue token and how many items came.
#[derive(Deserialize)]
struct Page {
    metadata: PageMeta,
    items: Vec<IgnoredAny>,
}

#[derive(Deserialize)]
struct PageMeta {
    #[serde(rename = "continue")]
    continue_: Option<String>,
}

/// Pages through `/api/v1/pods` 500 at a time as any API client does, reading each body and
/// finding only its continue token and item count.
pub async fn raw_list(client: &kube::Client) -> Result<ListRun> {
    let start = Instant::now();
    let mut token: Option<String> = None;
    let (mut bytes, mut objects) = (0u64, 0u64);
    loop {
        let mut uri = "/api/v1/pods?limit=500".to_string();
        if let Some(t) = &token {
            uri.push_str("&continue=");
            uri.extend(form_urlencoded::byte_serialize(t.as_bytes()));
        }
        let body = client
            .request_text(http::Request::get(uri).body(Vec::new())?)
            .await
            .context("listing pods")?;
        bytes += body.len() as u64;
        let page: Page = serde_json::from_str(&body).context("decoding a pod list page")?;
        objects += page.items.len() as u64;
        match page.metadata.continue_ {
            Some(t) if !t.is_empty() => token = Some(t),
            _ => break,
        }
    }
    Ok(ListRun {
        took: start.elapsed(),
        bytes,
        objects,
    })
}

/// The single value of a one-row, one-column result of the simple protocol.
fn scalar(messages: &[SimpleQueryMessage]) -> Result<String> {
    messages
        .iter()
        .find_map(|m| match m {
            SimpleQueryMessage::Row(row) => row.get(0).map(str::to_string),
            _ => None,
        })
        .context("no row")
}

/// `SELECT count(*) FROM pods`, which must count `expected` pods.
pub async fn count_pods(pg: &Client, expected: u64) -> Result<Duration> {
    let start = Instant::now();
    let rows = pg.simple_query("SELECT count(*) FROM pods").await?;
    let took = start.elapsed();
    let count: u64 = scalar(&rows)?.parse()?;
    if count != expected {
        bail!("count(*) FROM pods returned {count}, expected {expected}");
    }
    Ok(took)
}

/// Asks the session for a consistency mode; `Err` carries the server's refusal.
pub async fn set_consistency(pg: &Client, mode: &str) -> Result<(), String> {
    pg.batch_execute(&format!("SET kubepg.consistency = '{mode}'"))
        .await
        .map_err(|e| match e.as_db_error() {
            Some(db) => format!("{}: {}", db.code().code(), db.message()),
            None => e.to_string(),
        })
}

/// The dashboard query; its counts must add up to `expected` pods.
pub async fn group_by_phase(pg: &Client, expected: u64) -> Result<Duration> {
    let start = Instant::now();
    let rows = pg
        .simple_query("SELECT namespace, phase, count(*) FROM pods GROUP BY 1, 2")
        .await?;
    let took = start.elapsed();
    let total: u64 = rows
        .iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(row) => row.get(2).map(str::parse::<u64>),
            _ => None,
        })
        .sum::<Result<u64, _>>()?;
    if total != expected {
        bail!("GROUP BY counted {total} pods, expected {expected}");
    }
    Ok(took)
}

/// Point queries from many connections at once.
pub struct PointRun {
    pub queries: u64,
    pub elapsed: Duration,
    pub latencies: Vec<Duration>,
    /// Why the sessions are not cached, when the server refused the mode.
    pub refused: Option<String>,
}

/// `connections` sessions, each preparing the point query once and running it with different
/// pods (the seeder's names: `bulk-NNNNNN` in namespace `bulk-(N mod namespaces)`) until
/// `duration` has passed. Every query must find its pod.
pub async fn point_queries(
    server: &Server,
    connections: usize,
    duration: Duration,
    pods: usize,
    namespaces: usize,
) -> Result<PointRun> {
    let mut sessions = Vec::with_capacity(connections);
    let mut refused = None;
    for _ in 0..connections {
        let pg = server.connect().await?;
        if let Err(e) = set_consistency(&pg, "cached").await {
            refused = Some(e);
        }
        let stmt = pg
            .prepare("SELECT name, phase FROM pods WHERE namespace = $1 AND name = $2")
            .await
            .context("preparing the point query")?;
        sessions.push((pg, stmt));
    }
    let start = Instant::now();
    let deadline = start + duration;
    let workers = sessions
        .iter()
        .enumerate()
        .map(|(c, (pg, stmt))| async move {
            let mut latencies = Vec::new();
            let mut k = 0usize;
            while Instant::now() < deadline {
                // A stride coprime with any realistic pod count walks every pod before repeating.
                let i = (c * 7919 + k * 104_729) % pods;
                k += 1;
                let (ns, name) = (
                    format!("bulk-{:03}", i % namespaces),
                    format!("bulk-{i:06}"),
                );
                let t = Instant::now();
                let rows = pg.query(stmt, &[&ns, &name]).await?;
                latencies.push(t.elapsed());
                if rows.len() != 1 {
                    bail!("{ns}/{name}: {} rows, expected 1", rows.len());
                }
            }
            Ok(latencies)
        });
    let per_worker = try_join_all(workers).await?;
    let elapsed = start.elapsed();
    let latencies: Vec<Duration> = per_worker.into_iter().flatten().collect();
    Ok(PointRun {
        queries: latencies.len() as u64,
        elapsed,
        latencies,
        refused,
    })
}

/// `reps` times: patch a label of one seeded pod, and time from sending the patch to the
/// `LISTEN pods` session's notification of that change (so the API server's write is included).
pub async fn notify_latency(
    server: &Server,
    kube: &kube::Client,
    reps: usize,
    pods: usize,
    namespaces: usize,
) -> Result<Vec<Duration>> {
    let (pg, mut connection) = server.connect_raw().await?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(Ok(message)) = std::future::poll_fn(|cx| connection.poll_message(cx)).await {
            if let tokio_postgres::AsyncMessage::Notification(n) = message {
                let _ = tx.send((Instant::now(), n.payload().to_string()));
            }
        }
    });
    pg.batch_execute("LISTEN pods")
        .await
        .context("LISTEN pods")?;
    let mut latencies = Vec::with_capacity(reps);
    for k in 0..reps {
        let i = (k * 104_729) % pods.max(1);
        let (ns, name) = (
            format!("bulk-{:03}", i % namespaces),
            format!("bulk-{i:06}"),
        );
        let api: kube::Api<kube::core::DynamicObject> = kube::Api::namespaced_with(
            kube.clone(),
            &ns,
            &kube::core::ApiResource::from_gvk(&kube::core::GroupVersionKind::gvk("", "v1", "Pod")),
        );
        let sent = Instant::now();
        api.patch(
            &name,
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(
                serde_json::json!({"metadata": {"labels": {"bench-step": k.to_string()}}}),
            ),
        )
        .await
        .with_context(|| format!("patching {ns}/{name}"))?;
        loop {
            let (at, payload) = tokio::time::timeout(Duration::from_secs(30), rx.recv())
                .await
                .with_context(|| format!("no notification for {ns}/{name} within 30 s"))?
                .context("the LISTEN session ended")?;
            let n: serde_json::Value = serde_json::from_str(&payload)?;
            if n["name"] == name.as_str() && n["namespace"] == ns.as_str() {
                latencies.push(at.duration_since(sent));
                break;
            }
        }
    }
    Ok(latencies)
}

/// The value at percentile `p` (nearest rank) of `samples`.
pub fn percentile(samples: &[Duration], p: f64) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort();
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub fn median(samples: &[Duration]) -> Duration {
    percentile(samples, 50.0)
}

/// One large result read to the end, and the server's memory meanwhile.
pub struct LargeRun {
    pub rows: u64,
    pub took: Duration,
    pub rss_before: u64,
    pub rss_peak: u64,
}

/// `rows_wanted` rows (pods repeated through a cross join with `generate_series`) read by
/// `read`, sampling the server's RSS every 10 ms until the last row is in.
async fn large_result<F, Fut>(server: &Server, read: F) -> Result<LargeRun>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<u64>>,
{
    let rss_before = server.rss_bytes()?;
    let peak = RssPeak::start(server.pid(), Duration::from_millis(10));
    let start = Instant::now();
    let rows = read().await;
    let took = start.elapsed();
    let rss_peak = peak.stop().await?.max(rss_before);
    Ok(LargeRun {
        rows: rows?,
        took,
        rss_before,
        rss_peak,
    })
}

/// The query of the large-result rows: `copies` of every pod's name, namespace, uid and labels.
fn large_query(copies: u64) -> String {
    format!(
        "SELECT p.name, p.namespace, p.uid, p.labels, g FROM pods p \
         CROSS JOIN generate_series(1, {copies}) AS t(g)"
    )
}

/// A plain query whose rows stream to a client that reads them one by one.
pub async fn large_plain(server: &Server, pods: u64, copies: u64) -> Result<LargeRun> {
    let pg = server.connect().await?;
    let run = large_result(server, || async {
        let rows = pg
            .query_raw(&large_query(copies), std::iter::empty::<&str>())
            .await?;
        futures::pin_mut!(rows);
        let mut n = 0u64;
        while let Some(row) = futures::StreamExt::next(&mut rows).await {
            row?;
            n += 1;
        }
        Ok(n)
    })
    .await?;
    if run.rows != pods * copies {
        bail!(
            "the large query returned {} rows, expected {}",
            run.rows,
            pods * copies
        );
    }
    Ok(run)
}

/// The same rows through a server-side cursor, as psycopg's named cursors read them:
/// `DECLARE` in a transaction, then `FETCH FORWARD 2000` until it returns nothing.
pub async fn large_cursor(server: &Server, pods: u64, copies: u64) -> Result<LargeRun> {
    let mut pg = server.connect().await?;
    let run = large_result(server, || async {
        let tx = pg.transaction().await?;
        tx.batch_execute(&format!("DECLARE big CURSOR FOR {}", large_query(copies)))
            .await?;
        let mut n = 0u64;
        loop {
            let got = tx
                .simple_query("FETCH FORWARD 2000 FROM big")
                .await?
                .iter()
                .filter(|m| matches!(m, SimpleQueryMessage::Row(_)))
                .count() as u64;
            if got == 0 {
                break;
            }
            n += got;
        }
        tx.commit().await?;
        Ok(n)
    })
    .await?;
    if run.rows != pods * copies {
        bail!(
            "the cursor returned {} rows, expected {}",
            run.rows,
            pods * copies
        );
    }
    Ok(run)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: &[u64]) -> Vec<Duration> {
        v.iter().map(|&m| Duration::from_millis(m)).collect()
    }

    #[test]
    fn percentile_is_the_nearest_rank_of_unsorted_samples() {
        let samples = ms(&[40, 10, 30, 20]);
        assert_eq!(median(&samples), Duration::from_millis(20));
        assert_eq!(percentile(&samples, 99.0), Duration::from_millis(40));
        assert_eq!(percentile(&samples, 0.0), Duration::from_millis(10));
    }

    #[test]
    fn percentile_of_no_samples_is_zero() {
        assert_eq!(median(&[]), Duration::ZERO);
    }
}
