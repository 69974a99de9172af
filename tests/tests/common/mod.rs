#![allow(dead_code)] // each test binary uses its own subset of these helpers

//! Running the real `kubepg` binary the way a user does, isolated from the machine it runs on.
//!
//! [`kubepg`] builds the binary (`kubepg_testkit::build`) once per test binary. Running the build
//! every time (not only when the file is missing) keeps a stale binary from being tested; when
//! nothing changed it is a no-op.
//!
//! Every run gets its own `HOME` and discovery cache directory and none of the caller's
//! `KUBECONFIG`/`KUBEPG_*` settings, so one test's on-disk cache never answers another's query.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;

use serde_json::Value;

/// The `kubepg` binary, built on first use.
pub fn kubepg() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(build_kubepg)
}

/// Builds the profile this test was built with, into the same target directory, so nothing is
/// compiled twice; cargo's output stays out of the test's unless the build fails.
fn build_kubepg() -> PathBuf {
    // This test runs from `<target>/<profile>/deps/`.
    let exe = std::env::current_exe().expect("the test's own path");
    let profile = exe
        .parent()
        .and_then(Path::parent)
        .and_then(Path::file_name)
        .and_then(OsStr::to_str);
    let args: &[&str] = match profile {
        Some("debug") | None => &[],
        Some("release") => &["--release"],
        Some(other) => &["--profile", other],
    };
    kubepg_testkit::build::build_kubepg(args, Stdio::piped()).unwrap_or_else(|e| panic!("{e}"))
}

/// What one run of the binary did.
#[derive(Debug)]
pub struct Outcome {
    /// The exit code (`None` when killed by a signal).
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Outcome {
    /// Stdout of a run that must have succeeded.
    pub fn ok(&self) -> &str {
        assert_eq!(
            self.code,
            Some(0),
            "kubepg failed\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout,
            self.stderr
        );
        &self.stdout
    }

    /// Stdout of a successful `-o json` run, parsed.
    pub fn json(&self) -> Vec<Value> {
        let out = self.ok();
        serde_json::from_str(out).unwrap_or_else(|e| panic!("not a JSON array ({e}):\n{out}"))
    }

    /// Asserts a failed run: exit code 1, nothing on stdout, and `ERROR <state>: ` (as a
    /// PostgreSQL client shows an error) starting a line of stderr. Returns stderr.
    pub fn error(&self, state: &str) -> &str {
        assert_eq!(
            (self.code, self.stdout.as_str()),
            (Some(1), ""),
            "expected ERROR {state}; stderr:\n{}",
            self.stderr
        );
        let prefix = format!("ERROR {state}: ");
        assert!(
            self.stderr.lines().any(|l| l.starts_with(&prefix)),
            "expected a line starting with {prefix:?} on stderr:\n{}",
            self.stderr
        );
        &self.stderr
    }

    /// The `WARNING: ` lines on stderr, without the prefix.
    pub fn warnings(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter_map(|l| l.strip_prefix("WARNING: "))
            .collect()
    }
}

/// `kubepg COMMAND` with none of the caller's cluster settings and `home` as its HOME and cache.
pub fn isolated(command: &str, home: &Path) -> Command {
    let mut cmd = Command::new(kubepg());
    cmd.arg(command);
    for (key, _) in std::env::vars_os() {
        let key_str = key.to_string_lossy();
        if key_str.starts_with("KUBEPG_")
            || key_str == "KUBECONFIG"
            || key_str == "KUBERNETES_SERVICE_HOST"
        {
            cmd.env_remove(&key);
        }
    }
    cmd.env("HOME", home)
        .env("KUBEPG_CACHE_DIR", home.join("discovery"))
        .stdin(Stdio::null());
    cmd
}

/// Starts `kubepg serve ARGS…` (with `envs` set) and waits for its "listening" line. Returns
/// the process and its PostgreSQL port, or everything it printed when it exited instead.
pub fn serve(args: &[&str], envs: &[(&str, &str)]) -> Result<(Child, u16), String> {
    serve_logged(args, envs).map(|(child, port, _)| (child, port))
}

/// What a server printed on stderr after its "listening" line, as it prints it.
pub type Log = std::sync::Arc<std::sync::Mutex<Vec<String>>>;

/// [`serve`], also keeping every stderr line (those before "listening" included).
pub fn serve_logged(args: &[&str], envs: &[(&str, &str)]) -> Result<(Child, u16, Log), String> {
    let home = tempfile::tempdir().expect("a temporary HOME").keep();
    let mut child = isolated("serve", &home)
        .args(args)
        .envs(envs.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running kubepg serve");
    let stderr = child.stderr.take().expect("piped stderr");
    let mut lines = BufReader::new(stderr).lines();
    let mut printed = String::new();
    let port = loop {
        let Some(Ok(line)) = lines.next() else {
            let _ = child.wait();
            return Err(printed);
        };
        if let Some(rest) = line.strip_prefix("kubepg: listening on 127.0.0.1:") {
            break rest
                .split_whitespace()
                .next()
                .and_then(|p| p.parse().ok())
                .expect("a port after the address");
        }
        printed.push_str(&line);
        printed.push('\n');
    };
    // Keep draining stderr so the server never blocks on a full pipe.
    let log = Log::new(std::sync::Mutex::new(
        printed.lines().map(String::from).collect(),
    ));
    let kept = log.clone();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            kept.lock().unwrap_or_else(|p| p.into_inner()).push(line);
        }
    });
    Ok((child, port, log))
}

/// A `kubepg serve` process, killed when dropped.
pub struct Server {
    pub child: Child,
    pub port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// [`serve`] for a test that needs the server up: panics with its output when it exits.
pub fn server(args: &[&str]) -> Server {
    let (child, port) =
        serve(args, &[]).unwrap_or_else(|printed| panic!("kubepg serve exited:\n{printed}"));
    Server { child, port }
}

/// [`server`] over the clusters of `kubeconfig` matching `context`, with no health listener.
pub fn cluster_server(kubeconfig: &Path, context: &str) -> Server {
    server(&[
        "--kubeconfig",
        kubeconfig.to_str().expect("a UTF-8 path"),
        "--context",
        context,
        "--listen",
        "127.0.0.1:0",
        "--health-listen",
        "off",
    ])
}

/// `kubectl --kubeconfig KUBECONFIG --context CONTEXT ARGS…`, which must succeed; its stdout.
pub fn kubectl(kubeconfig: &Path, context: &str, args: &[&str]) -> String {
    let out = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(["--context", context])
        .args(args)
        .output()
        .expect("kubectl runs");
    assert!(
        out.status.success(),
        "kubectl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("kubectl prints UTF-8")
}

/// Runs `kubepg query ARGS…` with a fresh `HOME` and discovery cache.
pub fn query<I, S>(args: I) -> Outcome
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    query_with(args, &[], "")
}

/// [`query`] with these variables set and `stdin` written to its standard input.
pub fn query_with<I, S>(args: I, envs: &[(&str, &str)], stdin: &str) -> Outcome
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let home = tempfile::tempdir().expect("a temporary HOME");
    let mut child = isolated("query", home.path())
        .args(args)
        .envs(envs.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running kubepg");
    std::io::Write::write_all(
        &mut child.stdin.take().expect("its stdin"),
        stdin.as_bytes(),
    )
    .expect("writing its stdin");
    let out = child.wait_with_output().expect("running kubepg");
    Outcome {
        code: out.status.code(),
        stdout: String::from_utf8(out.stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8(out.stderr).expect("stderr is UTF-8"),
    }
}

/// The interpreter of the virtualenv `scripts/test` installs psycopg into.
pub fn python() -> PathBuf {
    let cache = std::env::var_os("KUBEPG_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cache/kubepg"));
    let python = cache.join("venv/bin/python");
    assert!(
        python.is_file(),
        "{} is missing: scripts/test installs psycopg there",
        python.display()
    );
    python
}

pub fn clients_dir() -> PathBuf {
    PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap()).join("clients")
}

/// GET `http://ADDR/PATH` with curl: the status (0 when nothing answered) and the body.
pub async fn http_get(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    let out = tokio::process::Command::new("curl")
        .args([
            "-s",
            "-w",
            "\n%{http_code}",
            &format!("http://{addr}{path}"),
        ])
        .output()
        .await
        .expect("curl runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or_default();
    (code.parse().unwrap_or(0), body.to_string())
}

/// `/readyz` once its first check is done (it answers "being checked" before).
pub async fn readiness(addr: std::net::SocketAddr) -> (u16, String) {
    for _ in 0..300 {
        let answer = http_get(addr, "/readyz").await;
        if answer.1 != kubepg_server::health::NOT_CHECKED {
            return answer;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("readiness was never checked");
}

/// Runs `tests/clients/SCRIPT` with the test venv's Python against the server on `port` (its
/// first argument is the libpq DSN, then `args`), which must succeed; the JSON it prints.
pub fn python_client<I, S>(script: &str, port: u16, args: I) -> Value
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let out = Command::new(python())
        .arg(clients_dir().join(script))
        .arg(format!(
            "host=127.0.0.1 port={port} user=kubepg dbname=kubepg"
        ))
        .args(args)
        .output()
        .expect("running the Python client");
    assert!(
        out.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the client prints JSON")
}
