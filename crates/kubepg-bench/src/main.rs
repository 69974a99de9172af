//! `kubepg-bench`: seeds a real API server with N pods, runs the release `kubepg serve` against
//! it as a separate process, and measures, in one run, what issue #5 sets targets for: cold
//! queries against a raw LIST and kubectl, warm cached queries, concurrent point queries,
//! memory per cached pod, change-to-NOTIFY latency and startup time; then a soak (many sessions
//! of a mixed workload, and many short connections) for the server's memory over time.
//!
//! ```sh
//! cargo run --release -p kubepg-bench -- --pods 10000 --out BENCHMARKS.json
//! ```

mod measure;
mod report;
mod server;
mod soak;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Result;
use clap::Parser;
use kubepg_testkit::{TestClusters, User, fixtures};
use serde_json::json;

use measure::{median, percentile};
use report::{Machine, Row, ms};
use server::{ServeCommand, Server};

#[derive(Parser, Debug)]
#[command(about = "Benchmark kubepg against a real API server")]
struct Args {
    /// Pods to seed (default 10,000; 1,000 with --quick).
    #[arg(long)]
    pods: Option<usize>,
    /// Namespaces the pods are spread over.
    #[arg(long, default_value_t = 50)]
    namespaces: usize,
    /// A smoke run: fewer pods, repetitions and seconds per measurement.
    #[arg(long)]
    quick: bool,
    /// Where the JSON results are written.
    #[arg(long, default_value = "bench.json")]
    out: PathBuf,
    /// The kubepg binary to measure (default: build the release binary with cargo).
    #[arg(long)]
    kubepg: Option<PathBuf>,
}

/// How much of each measurement a run does.
struct Plan {
    pods: usize,
    namespaces: usize,
    /// Repetitions of each cold full listing (kubepg, raw LIST, kubectl, interleaved).
    cold_reps: usize,
    /// Warm queries: at most this many, and no longer than `warm_budget`.
    warm_reps: usize,
    warm_budget: Duration,
    point_connections: usize,
    point_duration: Duration,
    /// Pod changes whose notification is timed.
    notify_reps: usize,
    startup_reps: usize,
    /// The soak: this many sessions of the mixed workload for `soak_duration`.
    soak_sessions: usize,
    soak_duration: Duration,
    connect_cycles: usize,
}

impl Plan {
    fn new(args: &Args) -> Self {
        let pods = args.pods.unwrap_or(if args.quick { 1_000 } else { 10_000 });
        let namespaces = args.namespaces.clamp(1, pods.max(1));
        if args.quick {
            Self {
                pods,
                namespaces,
                cold_reps: 3,
                warm_reps: 50,
                warm_budget: Duration::from_secs(10),
                point_connections: 16,
                point_duration: Duration::from_secs(3),
                notify_reps: 20,
                startup_reps: 3,
                soak_sessions: SOAK_SESSIONS,
                soak_duration: SOAK_DURATION,
                connect_cycles: CONNECT_CYCLES,
            }
        } else {
            Self {
                pods,
                namespaces,
                cold_reps: 7,
                warm_reps: 300,
                warm_budget: Duration::from_secs(60),
                point_connections: 16,
                point_duration: Duration::from_secs(15),
                notify_reps: 200,
                startup_reps: 10,
                soak_sessions: SOAK_SESSIONS,
                soak_duration: SOAK_DURATION,
                connect_cycles: CONNECT_CYCLES,
            }
        }
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let plan = Plan::new(&args);
    let machine = Machine::probe();
    let binary = match &args.kubepg {
        Some(path) => path.clone(),
        None => server::build_release_kubepg()?,
    };
    eprintln!("bench: kubepg binary {}", binary.display());

    eprintln!("bench: starting a test API server");
    let env = TestClusters::start(1)?;
    let kube = env.cluster("c1").client(User::Admin).await?;
    eprintln!(
        "bench: seeding {} pods over {} namespaces",
        plan.pods, plan.namespaces
    );
    let seeding = Instant::now();
    fixtures::seed_bulk_pods(&kube, plan.pods, plan.namespaces, 16).await?;
    let seed_took = seeding.elapsed();
    let pods = plan.pods as u64;

    let work = tempfile::tempdir()?;
    let log = std::env::temp_dir().join(format!("kubepg-bench-{}.log", std::process::id()));
    let serve = ServeCommand {
        binary: binary.clone(),
        kubeconfig: env.kubeconfig(),
        cache_dir: work.path().join("discovery"),
        log: log.clone(),
    };
    eprintln!("bench: kubepg server log {}", log.display());
    let mut startups = Vec::new();

    // Cold: every kubepg query LISTs all pages from the API server. The three clients take
    // turns within each repetition so that load from other work on the machine hits them alike.
    eprintln!("bench: cold full listings, {} repetitions", plan.cold_reps);
    let cold = serve.start()?;
    startups.push(cold.started_in);
    let pg = cold.connect().await?;
    // A build with a watch cache may default to it; these rows are about the uncached path.
    let live_refused = measure::set_consistency(&pg, "live").await.err();
    // One untimed round first: kubepg's and kubectl's discovery, connection set-up.
    measure::count_pods(&pg, pods).await?;
    let first_list = measure::raw_list(&kube).await?;
    server::kubectl_get_pods(&env.kubeconfig())?;
    if first_list.objects != pods {
        anyhow::bail!(
            "the raw LIST saw {} pods, expected {pods}",
            first_list.objects
        );
    }
    let (mut t_raw, mut t_kubepg, mut t_kubectl) = (Vec::new(), Vec::new(), Vec::new());
    let mut list_bytes = first_list.bytes;
    for _ in 0..plan.cold_reps {
        let list = measure::raw_list(&kube).await?;
        list_bytes = list.bytes;
        t_raw.push(list.took);
        t_kubepg.push(measure::count_pods(&pg, pods).await?);
        t_kubectl.push(server::kubectl_get_pods(&env.kubeconfig())?);
    }
    drop(pg);
    drop(cold);

    // Cached: a fresh server, so its memory holds nothing from the cold rounds.
    eprintln!("bench: warm queries, point queries, memory");
    let warm = serve.start()?;
    startups.push(warm.started_in);
    let rss_idle = warm.rss_bytes()?;
    let pg = warm.connect().await?;
    let cached_refused = measure::set_consistency(&pg, "cached").await.err();
    // The first query fills the cache (or, in live mode, does discovery); later ones are warm.
    let fill = measure::group_by_phase(&pg, pods).await?;
    let audit = env.cluster("c1").audit();
    let mark = audit.mark();
    let mut t_warm = Vec::new();
    let warm_start = Instant::now();
    while t_warm.len() < plan.warm_reps
        && (t_warm.len() < 10 || warm_start.elapsed() < plan.warm_budget)
    {
        t_warm.push(measure::group_by_phase(&pg, pods).await?);
    }
    let rss_warm = warm.rss_bytes()?;
    // A server may accept the setting without having a cache (unknown settings are accepted):
    // warm queries that still LIST pods from the API server are live, whatever SET said. The
    // server writes a request's audit event as the response completes, a moment after it.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let warm_lists = audit
        .since(mark)?
        .iter()
        .filter(|e| e.verb == "list" && e.path().ends_with("/pods"))
        .count();
    let cached = cached_refused.is_none() && warm_lists == 0;
    let points = measure::point_queries(
        &warm,
        plan.point_connections,
        plan.point_duration,
        plan.pods,
        plan.namespaces,
    )
    .await?;
    let rss_after_points = warm.rss_bytes()?;
    drop(pg);
    // Results far larger than any batch, then ten times larger: the server's memory must not
    // grow with the rows (the first read also warms up what any query needs).
    let copies = LARGE_ROWS.div_ceil(pods);
    eprintln!(
        "bench: {}- and {}-row results, plain and through a cursor",
        pods * copies,
        pods * copies * 10
    );
    let large_plain = measure::large_plain(&warm, pods, copies).await?;
    let large_cursor = measure::large_cursor(&warm, pods, copies).await?;
    let larger_plain = measure::large_plain(&warm, pods, copies * 10).await?;
    let larger_cursor = measure::large_cursor(&warm, pods, copies * 10).await?;
    eprintln!("bench: {} pod changes to NOTIFY", plan.notify_reps);
    let notify =
        measure::notify_latency(&warm, &kube, plan.notify_reps, plan.pods, plan.namespaces).await;
    eprintln!(
        "bench: soak, {} sessions for {:?}, then {} connections",
        plan.soak_sessions, plan.soak_duration, plan.connect_cycles
    );
    let soak = soak::soak(
        &warm,
        plan.soak_sessions,
        plan.soak_duration,
        plan.pods,
        plan.namespaces,
    )
    .await?;
    let (cycles_before, cycles_after) = soak::connect_cycles(&warm, plan.connect_cycles).await?;
    drop(warm);

    eprintln!("bench: startup, {} more starts", plan.startup_reps);
    for _ in 0..plan.startup_reps {
        let s: Server = serve.start()?;
        startups.push(s.started_in);
    }

    let mode = if cached {
        "cached".to_string()
    } else {
        "live (no watch cache in this build)".to_string()
    };
    let ratio_raw = secs(median(&t_kubepg)) / secs(median(&t_raw));
    let ratio_kubectl = secs(median(&t_kubepg)) / secs(median(&t_kubectl));
    let (warm_p50, warm_p99) = (percentile(&t_warm, 50.0), percentile(&t_warm, 99.0));
    let qps = points.queries as f64 / points.elapsed.as_secs_f64();
    let json_per_pod = list_bytes as f64 / pods as f64;
    let rss_per_pod = rss_warm.saturating_sub(rss_idle) as f64 / pods as f64;
    let memory_ratio = rss_per_pod / json_per_pod;
    let startup_median = median(&startups);

    let rows = vec![
        Row {
            id: "cold_count_vs_raw_list",
            measurement: format!(
                "cold SELECT count(*) FROM pods / raw paged LIST (median of {})",
                plan.cold_reps
            ),
            value: format!(
                "{ratio_raw:.2}× ({} / {})",
                ms(median(&t_kubepg)),
                ms(median(&t_raw))
            ),
            target: "≤ 1.3×".into(),
            met: ratio_raw <= 1.3,
        },
        Row {
            id: "cold_count_vs_kubectl",
            measurement: format!(
                "cold SELECT count(*) FROM pods / kubectl get pods -A -o json (median of {})",
                plan.cold_reps
            ),
            value: format!(
                "{ratio_kubectl:.2}× ({} / {})",
                ms(median(&t_kubepg)),
                ms(median(&t_kubectl))
            ),
            target: "well under 1.0× (≤ 0.75×)".into(),
            met: ratio_kubectl <= 0.75,
        },
        Row {
            id: "warm_group_by",
            measurement: format!(
                "warm GROUP BY namespace, phase, {mode}: p50 / p99 of {}",
                t_warm.len()
            ),
            value: format!("{} / {}", ms(warm_p50), ms(warm_p99)),
            target: "p50 < 20 ms".into(),
            met: warm_p50 < Duration::from_millis(20),
        },
        Row {
            id: "point_query_qps",
            measurement: format!(
                "point query (namespace, name), {} connections, prepared, {mode}",
                plan.point_connections
            ),
            value: format!(
                "{qps:.0} q/s (p50 {}, p99 {})",
                ms(percentile(&points.latencies, 50.0)),
                ms(percentile(&points.latencies, 99.0))
            ),
            target: "> 2000 q/s".into(),
            met: qps > 2000.0,
        },
        Row {
            id: "memory_per_pod",
            measurement: if cached {
                "RSS per cached pod / pod JSON size".into()
            } else {
                "RSS growth per pod / pod JSON size (no watch cache in this build: nothing is cached)".into()
            },
            value: format!(
                "{memory_ratio:.2}× ({:.0} B / {:.0} B)",
                rss_per_pod, json_per_pod
            ),
            target: "≤ 1.5×".into(),
            met: cached && memory_ratio <= 1.5,
        },
        Row {
            id: "large_result_rss",
            measurement: format!(
                "server RSS peak while a client reads a {}-row, then a {}-row result: plain query; server-side cursor (DECLARE, FETCH FORWARD 2000)",
                large_plain.rows, larger_plain.rows
            ),
            value: format!(
                "{} → {}; {} → {} ({} / {} for the larger)",
                mib(large_plain.rss_peak),
                mib(larger_plain.rss_peak),
                mib(large_cursor.rss_peak),
                mib(larger_cursor.rss_peak),
                ms(larger_plain.took),
                ms(larger_cursor.took)
            ),
            target: "flat: 10× the rows peaks < 32 MiB higher".into(),
            met: larger_plain.rss_peak < large_plain.rss_peak + (32 << 20)
                && larger_cursor.rss_peak < large_cursor.rss_peak + (32 << 20),
        },
        Row {
            id: "soak",
            measurement: format!(
                "{} sessions × {:?} of point, GROUP BY and jsonb queries (cached; one session in ten live): errors, p50 / p99; server RSS before / peak / after they disconnect",
                soak.sessions, plan.soak_duration
            ),
            value: format!(
                "{} errors of {}, {} / {}; {} / {} / {}",
                soak.errors,
                soak.queries,
                ms(percentile(&soak.latencies, 50.0)),
                ms(percentile(&soak.latencies, 99.0)),
                mib(soak.rss_before),
                mib(soak.rss_peak),
                mib(soak.rss_after)
            ),
            target: "0 errors; RSS after within 32 MiB of before".into(),
            met: soak.errors == 0 && soak.rss_after <= soak.rss_before + (32 << 20),
        },
        Row {
            id: "connect_cycles",
            measurement: format!(
                "{} connect / SELECT 1 / disconnect cycles, one at a time: server RSS growth",
                plan.connect_cycles
            ),
            value: format!(
                "{} (from {})",
                mib(cycles_after.saturating_sub(cycles_before)),
                mib(cycles_before)
            ),
            target: "< 8 MiB".into(),
            met: cycles_after.saturating_sub(cycles_before) < 8 << 20,
        },
        Row {
            id: "notify_latency",
            measurement: match &notify {
                Ok(t) => format!(
                    "pod PATCH sent to its NOTIFY received (LISTEN pods), p50 / p99 of {}",
                    t.len()
                ),
                Err(_) => "pod change to NOTIFY".into(),
            },
            value: match &notify {
                Ok(t) => format!("{} / {}", ms(percentile(t, 50.0)), ms(percentile(t, 99.0))),
                Err(e) => format!("failed: {e:#}"),
            },
            target: "p99 < 200 ms".into(),
            met: notify
                .as_ref()
                .is_ok_and(|t| !t.is_empty() && percentile(t, 99.0) < Duration::from_millis(200)),
        },
        Row {
            id: "startup",
            measurement: format!(
                "kubepg serve start to accepting connections (median of {})",
                startups.len()
            ),
            value: format!(
                "{} (max {})",
                ms(startup_median),
                ms(startups.iter().max().copied().unwrap_or_default())
            ),
            target: "< 100 ms".into(),
            met: startup_median < Duration::from_millis(100),
        },
    ];
    report::print_table(&rows);

    let samples = |v: &[Duration]| v.iter().map(|d| secs(*d) * 1000.0).collect::<Vec<_>>();
    let report = json!({
        "pods": pods,
        "namespaces": plan.namespaces,
        "quick": args.quick,
        "machine": machine,
        "kubepg_binary": binary,
        "seed_seconds": seed_took.as_secs_f64(),
        "rows": rows,
        "details": {
            "consistency": {
                "cold_rows_set_live": live_refused.as_deref().map_or_else(|| "accepted".into(), |e| format!("refused: {e}")),
                "cached_rows": mode,
                "set_cached": cached_refused.as_deref().map_or_else(|| "accepted".into(), |e| format!("refused: {e}")),
                "pod_lists_during_warm_queries": warm_lists,
            },
            "cold_ms": {
                "kubepg_count": samples(&t_kubepg),
                "raw_list": samples(&t_raw),
                "kubectl": samples(&t_kubectl),
            },
            "raw_list_bytes": list_bytes,
            "raw_list_pages": pods.div_ceil(500),
            "json_bytes_per_pod": json_per_pod,
            "warm_first_query_ms": secs(fill) * 1000.0,
            "warm_ms": samples(&t_warm),
            "point": {
                "connections": plan.point_connections,
                "queries": points.queries,
                "seconds": points.elapsed.as_secs_f64(),
                "qps": qps,
                "p50_ms": secs(percentile(&points.latencies, 50.0)) * 1000.0,
                "p99_ms": secs(percentile(&points.latencies, 99.0)) * 1000.0,
                "cached_refused": points.refused,
            },
            "rss_bytes": {
                "idle": rss_idle,
                "warm": rss_warm,
                "after_point_queries": rss_after_points,
            },
            "notify_ms": match &notify {
                Ok(t) => json!(samples(t)),
                Err(e) => json!({"error": format!("{e:#}")}),
            },
            "startup_ms": samples(&startups),
            "soak": {
                "sessions": soak.sessions,
                "seconds": plan.soak_duration.as_secs_f64(),
                "queries": soak.queries,
                "errors": soak.errors,
                "error_samples": soak.error_samples,
                "p50_ms": secs(percentile(&soak.latencies, 50.0)) * 1000.0,
                "p99_ms": secs(percentile(&soak.latencies, 99.0)) * 1000.0,
                "rss_before": soak.rss_before,
                "rss_peak": soak.rss_peak,
                "rss_after": soak.rss_after,
                "connect_cycles": plan.connect_cycles,
                "connect_rss_before": cycles_before,
                "connect_rss_after": cycles_after,
            },
            "large_result": {
                "rows": [large_plain.rows, larger_plain.rows],
                "plain": [
                    {"ms": secs(large_plain.took) * 1000.0, "rss_before": large_plain.rss_before, "rss_peak": large_plain.rss_peak},
                    {"ms": secs(larger_plain.took) * 1000.0, "rss_before": larger_plain.rss_before, "rss_peak": larger_plain.rss_peak},
                ],
                "cursor": [
                    {"ms": secs(large_cursor.took) * 1000.0, "rss_before": large_cursor.rss_before, "rss_peak": large_cursor.rss_peak},
                    {"ms": secs(larger_cursor.took) * 1000.0, "rss_before": larger_cursor.rss_before, "rss_peak": larger_cursor.rss_peak},
                ],
            },
        },
    });
    report::write_json(&args.out, &report)?;
    eprintln!("bench: wrote {}", args.out.display());
    Ok(())
}

/// The soak is the same in a quick run: its point is the duration and the number of sessions.
const SOAK_SESSIONS: usize = 100;
const SOAK_DURATION: Duration = Duration::from_secs(60);
const CONNECT_CYCLES: usize = 1_000;

/// Rows of the large-result row: at least this many.
const LARGE_ROWS: u64 = 100_000;

/// MiB of growth, for the report.
fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / f64::from(1 << 20))
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}
