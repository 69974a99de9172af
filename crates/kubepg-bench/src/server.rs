//! The `kubepg` binary under test: built in release mode, run as its own process (so its
//! resident memory is its own), timed from spawn to its first accepted connection.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// Builds the release `kubepg` with the cargo that runs this bench, into the same target
/// directory, showing cargo's progress (a no-op when it is up to date).
pub fn build_release_kubepg() -> Result<PathBuf> {
    kubepg_testkit::build::build_kubepg(&["--release"], Stdio::inherit())
        .map_err(anyhow::Error::msg)
}

/// How to start `kubepg serve`.
pub struct ServeCommand {
    pub binary: PathBuf,
    pub kubeconfig: PathBuf,
    /// The discovery cache, private to this run.
    pub cache_dir: PathBuf,
    /// Where the server's stderr (one log line per statement) goes.
    pub log: PathBuf,
}

/// A running `kubepg serve`, stopped when dropped.
pub struct Server {
    child: Child,
    pub port: u16,
    /// From spawn to the first accepted TCP connection.
    pub started_in: Duration,
}

impl ServeCommand {
    /// Spawns the server on a free loopback port and polls until it accepts a connection.
    pub fn start(&self) -> Result<Server> {
        let port = free_port()?;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .with_context(|| format!("opening {}", self.log.display()))?;
        let mut cmd = Command::new(&self.binary);
        cmd.arg("serve")
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .args(["--health-listen", "off"])
            .arg("--cache-dir")
            .arg(&self.cache_dir)
            .env_remove("KUBECONFIG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        // The caller's own kubepg settings must not change what is measured.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("KUBEPG_") {
                cmd.env_remove(key);
            }
        }
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let spawned = Instant::now();
        let mut child = cmd
            .spawn()
            .with_context(|| format!("starting {}", self.binary.display()))?;
        loop {
            if TcpStream::connect(addr).is_ok() {
                break;
            }
            if let Some(status) = child.try_wait()? {
                bail!(
                    "kubepg serve exited ({status}) before accepting connections; see {}",
                    self.log.display()
                );
            }
            if spawned.elapsed() > Duration::from_secs(30) {
                let _ = child.kill();
                let _ = child.wait();
                bail!("kubepg serve accepted no connection within 30 s");
            }
            // Short enough not to hide a startup of a few milliseconds.
            std::thread::sleep(Duration::from_micros(200));
        }
        let started_in = spawned.elapsed();
        Ok(Server {
            child,
            port,
            started_in,
        })
    }
}

impl Server {
    /// A new pgwire session (trust authentication on loopback, the default database).
    pub async fn connect(&self) -> Result<tokio_postgres::Client> {
        let (client, connection) = self.connect_raw().await?;
        tokio::spawn(connection);
        Ok(client)
    }

    /// A new session whose connection the caller drives (to read its notifications).
    pub async fn connect_raw(
        &self,
    ) -> Result<(
        tokio_postgres::Client,
        tokio_postgres::Connection<tokio_postgres::Socket, tokio_postgres::tls::NoTlsStream>,
    )> {
        tokio_postgres::connect(
            &format!(
                "host=127.0.0.1 port={} user=kubepg dbname=kubepg",
                self.port
            ),
            tokio_postgres::NoTls,
        )
        .await
        .context("connecting to kubepg")
    }

    /// The server's resident memory (VmRSS), in bytes.
    pub fn rss_bytes(&self) -> Result<u64> {
        rss_of(self.child.id())
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The resident memory (VmRSS) of process `pid`, in bytes.
pub fn rss_of(pid: u32) -> Result<u64> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    let kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().strip_suffix("kB"))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .with_context(|| format!("no VmRSS in {path}"))?;
    Ok(kb * 1024)
}

/// The highest VmRSS of a process, sampled in the background until [`RssPeak::stop`].
pub struct RssPeak {
    done: std::sync::Arc<std::sync::atomic::AtomicBool>,
    sampling: tokio::task::JoinHandle<u64>,
}

impl RssPeak {
    pub fn start(pid: u32, every: Duration) -> Self {
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stop = done.clone();
        let sampling = tokio::spawn(async move {
            let mut peak = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                peak = peak.max(rss_of(pid).unwrap_or(0));
                tokio::time::sleep(every).await;
            }
            peak
        });
        Self { done, sampling }
    }

    pub async fn stop(self) -> Result<u64> {
        self.done.store(true, std::sync::atomic::Ordering::Relaxed);
        Ok(self.sampling.await?)
    }
}

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// `kubectl` as a user runs it, for the comparison row.
pub fn kubectl_get_pods(kubeconfig: &Path) -> Result<Duration> {
    let start = Instant::now();
    let status = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(["get", "pods", "-A", "-o", "json"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .status()
        .context("running kubectl")?;
    if !status.success() {
        bail!("kubectl get pods failed ({status})");
    }
    Ok(start.elapsed())
}
