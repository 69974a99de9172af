//! `kubepg`: SQL over Kubernetes clusters.

mod config;
mod output;
mod query;
mod serve;
mod sources;

use clap::builder::BoolishValueParser;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

/// kubepg's hot paths (decoding LIST pages and cached objects) allocate and free millions of
/// small JSON values; under glibc malloc that was half the CPU of a cold query (BENCHMARKS.md's
/// profile), and freed pages stayed resident. mimalloc is faster at both and returns memory.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc returns freed pages to the OS after a delay, but only while the thread that freed
/// them keeps allocating: after a burst of sessions (each planned on a blocking-pool thread of
/// its own) the idle threads kept ~700 MB resident for good (the soak in BENCHMARKS.md).
/// Purging at once gives it back. The option number is `mi_option_purge_delay` of mimalloc 3's
/// `mi_option_e` (the version libmimalloc-sys builds by default), which libmimalloc-sys has no
/// constant for.
///
/// Transparent huge pages are off for the process: mimalloc asks for them on its arenas, and a
/// 2 MiB page holding one live object stays resident whole, so after the soak's 100 sessions
/// ~25 MiB stayed above the start and the idle server itself held ~24 MiB more. mimalloc's own
/// `allow_thp` option only acts when read at its initialisation, before `main`; the process
/// flag also covers the arena reserved then.
fn return_freed_memory() {
    const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
    // SAFETY: setting an option is a plain store into mimalloc's option table.
    unsafe { libmimalloc_sys::mi_option_set(PURGE_DELAY, 0) };
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_THP_DISABLE takes no pointers; a kernel without it returns an error, which
    // leaves huge pages as they were.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

/// Memory a thread's allocations leave on another thread's heap (a session's rows made on one
/// runtime worker, dropped on another after work stealing) is only given back when the owning
/// thread next collects its heap, which an idle worker never does: after the soak's 100
/// sessions had gone the server stayed ~70 MB above where it started. Each worker collects when
/// it goes idle, at most every 100 ms so that a busy one does not spend its time there.
fn collect_freed_memory() {
    use std::cell::Cell;
    use std::time::{Duration, Instant};
    thread_local!(static LAST: Cell<Option<Instant>> = const { Cell::new(None) });
    let now = Instant::now();
    if LAST
        .get()
        .is_some_and(|last| now - last < Duration::from_millis(100))
    {
        return;
    }
    LAST.set(Some(now));
    // SAFETY: collecting the calling thread's own heap, which mimalloc allows at any time.
    unsafe { libmimalloc_sys::mi_collect(false) }
}

#[derive(Parser)]
#[command(
    name = "kubepg",
    version,
    about = "A PostgreSQL endpoint for Kubernetes"
)]
struct Cli {
    /// YAML file of settings, keyed by long flag name; flags and KUBEPG_* variables win over it.
    #[arg(long, global = true, env = "KUBEPG_CONFIG")]
    config: Option<std::path::PathBuf>,
    /// Log as JSON lines on stderr.
    #[arg(long, global = true, env = "KUBEPG_LOG_JSON", value_parser = BoolishValueParser::new())]
    log_json: bool,
    #[command(subcommand)]
    command: Command,
}

const LOGGING: &str = "Logging: KUBEPG_LOG sets what is logged on stderr, as a tracing filter \
(`debug`, `kubepg=debug,kube_client=info`); default `warn` for query, `warn,kubepg=info` for serve.";

#[derive(Subcommand)]
enum Command {
    /// Run SQL against the configured clusters and print the result.
    #[command(after_help = LOGGING)]
    Query(Box<query::QueryArgs>),
    /// Serve the clusters as a PostgreSQL database.
    #[command(after_help = LOGGING)]
    Serve(Box<serve::ServeArgs>),
}

/// The command line, with the watch cache's flags left out of `query --help`: a one-shot query
/// accepts them (and `--consistency cached` uses them) but a newcomer reading its help has no
/// use for them.
fn command() -> clap::Command {
    Cli::command().mut_subcommand("query", |query| {
        sources::WATCH_FLAGS
            .iter()
            .fold(query, |q, flag| q.mut_arg(*flag, |a| a.hide(true)))
    })
}

fn parse() -> Cli {
    Cli::from_arg_matches(&command().get_matches()).unwrap_or_else(|e| e.exit())
}

fn main() -> std::process::ExitCode {
    return_freed_memory();
    let mut cli = parse();
    if let Some(path) = cli.config.clone() {
        let command = match cli.command {
            Command::Query(_) => "query",
            Command::Serve(_) => "serve",
        };
        match config::assignments::<Cli>(&path, command) {
            Ok(config::Assignments { vars, ignored }) => {
                if !ignored.is_empty() {
                    eprintln!(
                        "kubepg: {}: not for `kubepg {command}`, left alone: {} (a `{command}:` section holds this command's own keys)",
                        path.display(),
                        ignored.join(", ")
                    );
                }
                for (name, value) in vars {
                    if std::env::var_os(&name).is_none() {
                        // SAFETY: no other thread exists yet; the runtime starts below.
                        unsafe { std::env::set_var(name, value) };
                    }
                }
            }
            Err(e) => {
                eprintln!("kubepg: {e:#}");
                return std::process::ExitCode::FAILURE;
            }
        }
        // Parsed again so that the file's values take their place below flags and variables.
        cli = parse();
    }
    // A server logs every statement by default; a one-off query keeps stderr for warnings.
    // kube-rs warns on every TLS connection to a cluster whose kubeconfig skips verification;
    // kubepg says it once per cluster instead (in serve's log).
    let default_filter = match cli.command {
        Command::Serve(_) => "warn,kubepg=info,kube_client::client::tls=error",
        Command::Query(_) => "warn,kube_client::client::tls=error",
    };
    init_tracing(cli.log_json, default_filter);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(kubepg_sql::PLANNING_STACK)
        // Planning runs on the blocking pool, one thread per statement being planned; an idle
        // one keeps the stack its planning touched and its allocator heap (about 0.6 MB each
        // after a burst of 100 sessions), so it exits after a second rather than tokio's ten.
        .thread_keep_alive(std::time::Duration::from_secs(1))
        .on_thread_park(collect_freed_memory)
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("kubepg: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    // On a runtime thread, not this one: their stacks are the ones sized for planning.
    let result = runtime.block_on(async {
        let work = tokio::spawn(async move {
            match cli.command {
                Command::Query(args) => query::run(*args).await,
                Command::Serve(args) => serve::run(*args).await,
            }
        });
        work.await
            .unwrap_or_else(|e| Err(anyhow::anyhow!("kubepg stopped: {e}")))
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        // A statement's error reads as a PostgreSQL client shows it.
        Err(e) if e.is::<query::QueryError>() => {
            eprintln!("{e}");
            std::process::ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("kubepg: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn init_tracing(json: bool, default_filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("KUBEPG_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}
