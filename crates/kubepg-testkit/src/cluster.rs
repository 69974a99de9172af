//! Starting, sharing and stopping real clusters, and building clients for them.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use anyhow::{Context, Result, bail};

use crate::audit::AuditLog;

/// The identities every test cluster accepts (bearer tokens from its token file).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum User {
    /// `kubepg-admin`, in `system:masters`.
    Admin,
    /// `kubepg-restricted`: no permissions until a test or [`crate::fixtures`] grants some.
    Restricted,
}

/// One API server of a [`TestClusters`] run.
#[derive(Debug, Clone)]
pub struct Cluster {
    /// The kubeconfig context name (`c1`, `c2`, …).
    pub name: String,
    /// `https://127.0.0.1:PORT`.
    pub server: String,
    admin_token: String,
    restricted_token: String,
    ca_pem: String,
    dir: PathBuf,
}

impl Cluster {
    pub fn token(&self, user: User) -> &str {
        match user {
            User::Admin => &self.admin_token,
            User::Restricted => &self.restricted_token,
        }
    }

    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// A kube-rs client for this cluster, bound to the calling runtime.
    pub async fn client(&self, user: User) -> Result<kube::Client> {
        let file = match user {
            User::Admin => "kubeconfig",
            User::Restricted => "kubeconfig-restricted",
        };
        let kubeconfig = kube::config::Kubeconfig::read_from(self.dir.join("..").join(file))?;
        let options = kube::config::KubeConfigOptions {
            context: Some(self.name.clone()),
            ..Default::default()
        };
        let config = kube::Config::from_custom_kubeconfig(kubeconfig, &options).await?;
        Ok(kube::Client::try_from(config)?)
    }

    /// The API audit log of this server.
    pub fn audit(&self) -> AuditLog {
        AuditLog::new(self.dir.join("audit.log"))
    }

    /// The run's certificates: `ca.crt`, and `apiserver.crt`/`apiserver.key` (127.0.0.1).
    pub(crate) fn pki_dir(&self) -> PathBuf {
        self.dir.join("../pki")
    }
}

/// One etcd plus N API servers, torn down when dropped or when the owning process exits.
#[derive(Debug)]
pub struct TestClusters {
    pub clusters: Vec<Cluster>,
    /// Owned by the script from `up` on: `down` removes it.
    dir: PathBuf,
}

impl TestClusters {
    /// Starts `n` API servers sharing one etcd.
    pub fn start(n: usize) -> Result<Self> {
        Self::start_with(n, &[])
    }

    /// Starts `n` API servers sharing one etcd, each with `apiserver_args` added to its flags
    /// (`--watch-cache=false` makes watches read etcd, so that compacting it expires their
    /// resource versions).
    pub fn start_with(n: usize, apiserver_args: &[&str]) -> Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("kubepg-test-")
            .tempdir()?
            .keep();
        let out = Command::new(script())
            .arg("up")
            .arg("--dir")
            .arg(&dir)
            .arg("--clusters")
            .arg(n.to_string())
            .arg("--owner-pid")
            .arg(std::process::id().to_string())
            .args(apiserver_args.iter().flat_map(|a| ["--apiserver-arg", a]))
            .stdin(Stdio::null())
            .stderr(Stdio::inherit())
            .output()
            .context("running scripts/test-cluster")?;
        if !out.status.success() {
            bail!("scripts/test-cluster up failed ({})", out.status);
        }
        let env = read_env(&dir.join("env"))?;
        let get = |k: &str| {
            env.get(k)
                .cloned()
                .with_context(|| format!("{k} missing from the test-cluster env file"))
        };
        let ca_pem = std::fs::read_to_string(get("KUBEPG_TEST_CA")?)?;
        let clusters = (1..=n)
            .map(|i| {
                let cdir = dir.join(format!("c{i}"));
                let port = std::fs::read_to_string(cdir.join("port"))?;
                Ok(Cluster {
                    name: format!("c{i}"),
                    server: format!("https://127.0.0.1:{}", port.trim()),
                    admin_token: get("KUBEPG_TEST_ADMIN_TOKEN")?,
                    restricted_token: get("KUBEPG_TEST_RESTRICTED_TOKEN")?,
                    ca_pem: ca_pem.clone(),
                    dir: cdir,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { clusters, dir })
    }

    /// Clusters shared by every test of one test binary, started on first use.
    ///
    /// They live until the test process exits (the script's owner-pid watcher stops them), so a
    /// test must not assume it is alone on them: use its own namespace or names.
    pub fn shared(n: usize) -> &'static TestClusters {
        static SHARED: OnceLock<TestClusters> = OnceLock::new();
        let c = SHARED.get_or_init(|| match TestClusters::start(n) {
            Ok(c) => c,
            Err(e) => panic!("starting shared test clusters: {e:#}"),
        });
        assert_eq!(
            c.clusters.len(),
            n,
            "one test binary must ask for the same number of shared clusters"
        );
        c
    }

    /// Two shared clusters seeded once per test binary: `c1` with the standard seed, `c2` with
    /// two tenants and without the `widgets` CRD (the multi-cluster shape most tests want).
    pub fn shared_seeded() -> &'static TestClusters {
        static SEEDED: OnceLock<()> = OnceLock::new();
        let env = Self::shared(2);
        SEEDED.get_or_init(|| {
            let seeds = [
                ("c1", crate::fixtures::Seed::default()),
                (
                    "c2",
                    crate::fixtures::Seed {
                        crd: false,
                        tenants: 2,
                    },
                ),
            ];
            if let Err(e) = env.seed(&seeds) {
                panic!("seeding the shared clusters: {e:#}");
            }
        });
        env
    }

    /// One cluster of its own, seeded like the shared `c1`: for a suite that adds objects of
    /// its own (namespaces, RBAC) and must not change what the shared clusters hold.
    pub fn start_seeded() -> Result<Self> {
        let env = Self::start(1)?;
        env.seed(&[("c1", crate::fixtures::Seed::default())])?;
        Ok(env)
    }

    /// Seeds each named cluster. Test functions run inside their own runtimes; seeding gets a
    /// runtime of its own on a separate thread.
    fn seed(&self, seeds: &[(&str, crate::fixtures::Seed)]) -> Result<()> {
        std::thread::scope(|s| {
            s.spawn(|| -> Result<()> {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                rt.block_on(async {
                    for (name, seed) in seeds {
                        let client = self.cluster(name).client(User::Admin).await?;
                        crate::fixtures::seed(&client, seed).await?;
                    }
                    Ok(())
                })
            })
            .join()
            .unwrap_or_else(|_| Err(anyhow::anyhow!("seeding panicked")))
        })
    }

    pub fn cluster(&self, name: &str) -> &Cluster {
        self.clusters
            .iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("no test cluster named {name}"))
    }

    /// Admin kubeconfig with one context per cluster (`c1`, `c2`, …).
    pub fn kubeconfig(&self) -> PathBuf {
        self.dir.join("kubeconfig")
    }

    /// The same contexts with the restricted user's token.
    pub fn restricted_kubeconfig(&self) -> PathBuf {
        self.dir.join("kubeconfig-restricted")
    }

    /// Compacts etcd's history up to now, as the API server does every few minutes: every
    /// continue token and resource version issued before this is expired afterwards.
    pub fn compact_etcd(&self) -> Result<()> {
        let env = read_env(&self.dir.join("env"))?;
        let etcd = env.get("KUBEPG_TEST_ETCD").context("etcd url missing")?;
        let run = |path: &str, body: &str| -> Result<serde_json::Value> {
            let out = Command::new("curl")
                .args(["-sf", "-X", "POST", "-d", body, &format!("{etcd}{path}")])
                .output()?;
            if !out.status.success() {
                bail!(
                    "etcd {path} failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            Ok(serde_json::from_slice(&out.stdout)?)
        };
        // Compaction keeps the revision it is given readable, so first write a marker key
        // (outside every API server's prefix) to move past the revision of any issued token.
        // The JSON gateway takes base64 keys: "L2t1YmVwZy1tYXJrZXI=" is "/kubepg-marker".
        let put = run(
            "/v3/kv/put",
            r#"{"key":"L2t1YmVwZy1tYXJrZXI=","value":"eA=="}"#,
        )?;
        let revision = put["header"]["revision"]
            .as_str()
            .context("etcd revision missing")?
            .to_string();
        run(
            "/v3/kv/compaction",
            &format!(r#"{{"revision":"{revision}","physical":true}}"#),
        )?;
        Ok(())
    }

    /// A kubeconfig with one context, `context`, for `cluster` as `user`: lets a test put the
    /// same server in a pool twice, or as another identity.
    pub fn kubeconfig_for(&self, cluster: &str, user: User, context: &str) -> Result<PathBuf> {
        let c = self.cluster(cluster);
        self.write_kubeconfig(
            &format!("kubeconfig-{context}"),
            context,
            &c.server,
            c.token(user),
        )
    }

    /// Writes `file` in the run's directory: one context, `context`, for `server` (trusting the
    /// test CA) with `token`.
    pub(crate) fn write_kubeconfig(
        &self,
        file: &str,
        context: &str,
        server: &str,
        token: &str,
    ) -> Result<PathBuf> {
        let path = self.dir.join(file);
        let ca = self.dir.join("pki/ca.crt");
        std::fs::write(
            &path,
            format!(
                "apiVersion: v1\nkind: Config\ncurrent-context: {context}\nclusters:\n- name: {context}\n  cluster: {{server: '{server}', certificate-authority: '{}'}}\nusers:\n- name: {context}\n  user: {{token: '{token}'}}\ncontexts:\n- name: {context}\n  context: {{cluster: {context}, user: {context}}}\n",
                ca.display(),
            ),
        )?;
        Ok(path)
    }

    /// A kubeconfig with one context, `dead`, whose server is a closed loopback port: a cluster
    /// that never answers.
    pub fn dead_kubeconfig(&self) -> Result<PathBuf> {
        let closed = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let path = self.dir.join("kubeconfig-dead");
        std::fs::write(
            &path,
            format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: dead\n  cluster: {{server: 'https://127.0.0.1:{closed}'}}\nusers:\n- name: dead\n  user: {{token: x}}\ncontexts:\n- name: dead\n  context: {{cluster: dead, user: dead}}\n"
            ),
        )?;
        Ok(path)
    }

    /// The directory holding the clusters' files, for tests that write more kubeconfigs.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for TestClusters {
    fn drop(&mut self) {
        let _ = Command::new(script())
            .arg("down")
            .arg("--dir")
            .arg(&self.dir)
            .stdin(Stdio::null())
            .status();
    }
}

/// The checkout's `scripts/test-cluster`, found from the test's working directory first: a
/// shared target directory may hold a testkit compiled in another checkout.
fn script() -> PathBuf {
    let relative = Path::new("scripts/test-cluster");
    std::env::current_dir()
        .ok()
        .and_then(|cwd| {
            cwd.ancestors()
                .map(|dir| dir.join(relative))
                .find(|p| p.is_file())
        })
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../..")
                .join(relative)
        })
}

fn read_env(path: &Path) -> Result<HashMap<String, String>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {path:?}"))?;
    Ok(text
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect())
}
