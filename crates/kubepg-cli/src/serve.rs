//! `kubepg serve`: the PostgreSQL endpoint.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::builder::BoolishValueParser;
use clap::{Args, ValueEnum};
use kubepg_server::{AuthMode, Server, ServerConfig, Users};
use kubepg_sql::{Engine, EngineConfig, IdentityMap};

use crate::sources::{EngineArgs, SourceArgs};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum AuthMethod {
    Scram,
    Md5,
    Password,
}

#[derive(Args, Debug)]
pub struct ServeArgs {
    #[command(flatten)]
    pub sources: SourceArgs,
    /// Address to accept PostgreSQL connections on.
    #[arg(long, env = "KUBEPG_LISTEN", default_value = "127.0.0.1:5432")]
    pub listen: SocketAddr,
    /// SQL users as user:password pairs, comma separated. Without users, only loopback
    /// connections are accepted, with no password (trust).
    #[arg(long, env = "KUBEPG_USERS", hide_env_values = true)]
    pub users: Option<String>,
    /// A YAML file mapping each user to its password (the Helm chart mounts a Secret here);
    /// `user:password` lines are read too.
    #[arg(long, env = "KUBEPG_USERS_FILE")]
    pub users_file: Option<PathBuf>,
    /// The Kubernetes identity of each SQL user, as YAML (the config file's `identities` map):
    /// `alice: {user: alice@example.com, groups: [team-a], namespaces: [team-a]}` impersonates
    /// that user and groups; `self` or null shares kubepg's own identity, as does every user the
    /// map leaves out unless a `"*"` entry says otherwise.
    #[arg(long, env = "KUBEPG_IDENTITIES")]
    pub identities: Option<String>,
    /// A YAML file holding the same map as --identities; its entries win over that flag's.
    #[arg(long, env = "KUBEPG_IDENTITIES_FILE")]
    pub identities_file: Option<PathBuf>,
    /// How users prove their password.
    #[arg(long, env = "KUBEPG_AUTH", value_enum, default_value = "scram")]
    pub auth: AuthMethod,
    /// Sessions served at once (counted from their startup packet; one more gets 53300).
    #[arg(long, env = "KUBEPG_MAX_CONNECTIONS", default_value_t = 100)]
    pub max_connections: usize,
    /// Connections not yet authenticated that may wait at once; more are closed at once.
    #[arg(long, env = "KUBEPG_MAX_STARTUPS", default_value_t = 200)]
    pub max_startups: usize,
    /// Seconds a connection may take from connecting to being authenticated.
    #[arg(long, env = "KUBEPG_AUTH_TIMEOUT", default_value_t = 10)]
    pub auth_timeout: u64,
    /// The largest message a client may send, in bytes (larger: FATAL 54000).
    #[arg(long, env = "KUBEPG_MAX_MESSAGE_BYTES", default_value = "16MiB", value_parser = crate::sources::parse_size)]
    pub max_message_bytes: u64,
    /// Default statement_timeout in seconds (0 disables; clients may SET their own).
    #[arg(long, env = "KUBEPG_STATEMENT_TIMEOUT", default_value_t = 300)]
    pub statement_timeout: u64,
    /// The database name that means the default cluster scope.
    #[arg(long, env = "KUBEPG_DEFAULT_DATABASE", default_value = "kubepg")]
    pub default_database: String,
    /// Memory one query may use for sorts, joins and aggregations, in MiB (0: unlimited).
    #[arg(long, env = "KUBEPG_QUERY_MEMORY_MB", default_value_t = 1024)]
    pub query_memory_mb: usize,
    /// Where /healthz, /readyz and /metrics are served ('off' or 'false' to serve them nowhere).
    #[arg(long, env = "KUBEPG_HEALTH_LISTEN", default_value = "127.0.0.1:9187")]
    pub health_listen: String,
    /// Seconds running queries may take to finish after SIGTERM.
    #[arg(long, env = "KUBEPG_SHUTDOWN_GRACE", default_value_t = 30)]
    pub shutdown_grace: u64,
    /// Close a connection that has run nothing for this many seconds (0: never).
    #[arg(long, env = "KUBEPG_IDLE_TIMEOUT", default_value_t = 0)]
    pub idle_timeout: u64,
    /// PEM certificate chain for TLS (with --tls-key); clients then may use sslmode=require.
    #[arg(long, env = "KUBEPG_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for TLS.
    #[arg(long, env = "KUBEPG_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// Refuse connections that did not negotiate TLS.
    #[arg(long, env = "KUBEPG_TLS_REQUIRED", value_parser = BoolishValueParser::new())]
    pub tls_required: bool,
    #[command(flatten)]
    pub engine: EngineArgs,
}

fn users(args: &ServeArgs) -> anyhow::Result<Users> {
    let mut users = Users::parse_pairs(args.users.as_deref().unwrap_or_default())
        .map_err(anyhow::Error::msg)?;
    if let Some(path) = &args.users_file {
        let file =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        // A YAML map can quote passwords holding ':'; plain `user:password` lines are not a map
        // to YAML and are read as pairs.
        let more = match serde_saphyr::from_str::<HashMap<String, String>>(&file) {
            Ok(map) => Users::new(map),
            Err(_) => Users::parse_lines(&file),
        }
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        users.extend(more);
    }
    Ok(users)
}

/// The SQL user → Kubernetes identity map of `--identities` and `--identities-file`.
fn identities(args: &ServeArgs) -> anyhow::Result<IdentityMap> {
    let parse = |text: &str, origin: &str| -> anyhow::Result<IdentityMap> {
        let value: serde_json::Value = if text.trim().is_empty() {
            serde_json::Value::Null
        } else {
            serde_saphyr::from_str(text).with_context(|| format!("{origin}: not YAML"))?
        };
        IdentityMap::from_value(&value).map_err(|e| anyhow::anyhow!("{origin}: {e}"))
    };
    let mut map = match &args.identities {
        Some(text) => parse(text, "--identities")?,
        None => IdentityMap::default(),
    };
    if let Some(path) = &args.identities_file {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        map.extend(parse(&text, &path.display().to_string())?);
    }
    Ok(map)
}

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let users = Arc::new(users(&args)?);
    let identities = Arc::new(identities(&args)?);
    if identities.impersonates() && users.is_empty() {
        tracing::warn!(
            "identities are mapped but no users are configured: with trust authentication any local client may connect as a mapped SQL user"
        );
    }
    let auth = match (users.is_empty(), args.auth) {
        (true, _) => AuthMode::Trust,
        (false, AuthMethod::Scram) => AuthMode::ScramSha256(users),
        (false, AuthMethod::Md5) => AuthMode::Md5(users),
        (false, AuthMethod::Password) => AuthMode::Cleartext(users),
    };
    if args.tls_cert.is_some() != args.tls_key.is_some()
        || (args.tls_required && args.tls_cert.is_none())
    {
        bail!(
            "TLS needs both a certificate and its key: give --tls-cert (a PEM certificate chain) and --tls-key (its private key){}",
            if args.tls_required {
                "; --tls-required refuses every client without TLS"
            } else {
                ""
            }
        );
    }
    if matches!(auth, AuthMode::Trust) && !args.listen.ip().is_loopback() {
        bail!(
            "no users configured: refusing to listen on {} without passwords (set --users or --users-file)",
            args.listen
        );
    }
    let metrics = Arc::new(kubepg_server::health::Metrics::default());
    let pool = Arc::new(args.sources.pool(Some(metrics.api())).await?);
    let engine = Engine::new(
        pool,
        EngineConfig {
            memory_limit: (args.query_memory_mb > 0).then(|| args.query_memory_mb * 1024 * 1024),
            observer: Some(metrics.clone()),
            ..args.engine.config()
        },
    );
    let server = Server::bind(
        ServerConfig {
            listen: args.listen,
            auth,
            max_connections: args.max_connections,
            max_startups: args.max_startups,
            auth_timeout: Duration::from_secs(args.auth_timeout.max(1)),
            max_message_bytes: usize::try_from(args.max_message_bytes).unwrap_or(usize::MAX),
            statement_timeout: Duration::from_secs(args.statement_timeout),
            default_database: args.default_database.clone(),
            shutdown_grace: Duration::from_secs(args.shutdown_grace),
            idle_timeout: (args.idle_timeout > 0).then(|| Duration::from_secs(args.idle_timeout)),
            tls: match (&args.tls_cert, &args.tls_key) {
                (Some(cert), Some(key)) => Some(Arc::new(
                    kubepg_server::tls::load(cert, key).map_err(anyhow::Error::msg)?,
                )),
                _ => None,
            },
            tls_required: args.tls_required,
            metrics,
            identities,
            // A YAML file's unquoted `off` arrives as `false`.
            health_listen: match args.health_listen.as_str() {
                "off" | "false" | "no" | "" => None,
                addr => Some(
                    addr.parse()
                        .with_context(|| format!("--health-listen {addr}"))?,
                ),
            },
        },
        engine,
    )
    .await?;
    let addr = server.local_addr()?;
    tracing::info!(%addr, "accepting PostgreSQL connections");
    eprintln!(
        "kubepg: listening on {addr} (database \"{}\")",
        args.default_database
    );
    if let Some(health) = server.health_addr() {
        eprintln!("kubepg: /healthz /readyz /metrics on http://{health}");
    }

    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutdown requested");
        let _ = stop.send(true);
    });
    server.run(stopped).await?;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => return std::future::pending().await,
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
