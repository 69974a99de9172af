//! The watch cache through `kubepg serve` against real API servers: cached queries stop
//! listing, follow creates, patches and deletes (also in `kubepg.changes` and as LISTEN
//! notifications), survive a 410, stay within their memory bound, and answer exactly what live
//! queries answer.
//!
//! Each test reads resource types no other test of this binary reads on the same cluster, so
//! the audit log assertions see only their own server's requests.

#[path = "../common/mod.rs"]
mod common;

use std::future::Future;
use std::path::Path;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Namespace, Pod, Secret};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kubepg_testkit::audit::{AuditEvent, AuditLog, Mark};
use kubepg_testkit::{TestClusters, User};
use serde_json::json;
use tokio_postgres::{Client, NoTls, SimpleQueryMessage};

use common::Server;

/// Starts `kubepg serve` for one context of `kubeconfig` on a free loopback port.
fn serve(kubeconfig: &Path, context: &str, extra: &[&str]) -> Server {
    let mut args = vec![
        "--kubeconfig",
        kubeconfig.to_str().unwrap(),
        "--context",
        context,
        "--listen",
        "127.0.0.1:0",
        "--health-listen",
        "off",
    ];
    args.extend(extra);
    common::server(&args)
}

fn pg_config(server: &Server) -> tokio_postgres::Config {
    let mut config = tokio_postgres::Config::new();
    config
        .host("127.0.0.1")
        .port(server.port)
        .user("kubepg")
        .dbname("kubepg");
    config
}

async fn connect(server: &Server) -> Client {
    let (client, conn) = pg_config(server).connect(NoTls).await.unwrap();
    tokio::spawn(conn);
    client
}

type Rows = Vec<Vec<Option<String>>>;

/// Every row of the last statement's result, as text.
async fn rows(db: &Client, sql: &str) -> Rows {
    db.simple_query(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .into_iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(r) => {
                Some((0..r.len()).map(|i| r.get(i).map(String::from)).collect())
            }
            _ => None,
        })
        .collect()
}

fn text(rows: &[&[&str]]) -> Rows {
    rows.iter()
        .map(|r| r.iter().map(|c| Some(c.to_string())).collect())
        .collect()
}

/// Polls `check` until it is true; the deadline is generous, the assertion is the outcome.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(90);
    while !check().await {
        assert!(Instant::now() < deadline, "never happened: {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn requests(audit: &AuditLog, mark: Mark, verb: &str, path: &str) -> Vec<AuditEvent> {
    audit
        .requests_since(mark)
        .unwrap()
        .into_iter()
        .filter(|e| e.verb == verb && e.path() == path)
        .collect()
}

async fn namespace(client: &kube::Client, name: &str) {
    let api: Api<Namespace> = Api::all(client.clone());
    let ns = serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
    api.create(&PostParams::default(), &ns).await.unwrap();
}

fn pod(name: &str, step: &str) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {"app": "watched", "step": step}},
        "spec": {"containers": [{"name": "main", "image": "busybox:1.36"}]}
    }))
    .unwrap()
}

const ROLES: &str = "/apis/rbac.authorization.k8s.io/v1/roles";

#[tokio::test]
async fn a_second_cached_query_makes_no_list_request() {
    let env = TestClusters::shared_seeded();
    // The API server logs a watch once it sends an event or ends; a short watch request makes
    // it end (and the watcher resume from its resourceVersion: watching again, never listing).
    let agent = "kubepg-test/cached-roles";
    let server = serve(
        &env.kubeconfig(),
        "c1",
        &[
            "--consistency",
            "cached",
            "--watch-timeout",
            "1",
            "--user-agent",
            agent,
        ],
    );
    let db = connect(&server).await;
    let audit = env.cluster("c1").audit();
    let sql = "SELECT namespace, name, resource_version FROM roles ORDER BY 1, 2";

    let start = audit.mark();
    let first = rows(&db, sql).await;
    assert!(!first.is_empty(), "the seed has roles");
    // The cache's initial LIST and its WATCH from that list's resourceVersion.
    eventually("the cache lists and watches roles", || async {
        !requests(&audit, start, "list", ROLES).is_empty()
            && !requests(&audit, start, "watch", ROLES).is_empty()
    })
    .await;
    let watch = &requests(&audit, start, "watch", ROLES)[0];
    assert!(
        watch.query_param("resourceVersion").is_some(),
        "the watch starts from the list: {}",
        watch.request_uri
    );

    let again = audit.mark();
    assert_eq!(rows(&db, sql).await, first);
    // Long enough for the watch to have been renewed a few times.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        rows(&db, "SELECT count(*) FROM roles WHERE namespace = 'shop'").await,
        text(&[&[&first
            .iter()
            .filter(|r| r[0].as_deref() == Some("shop"))
            .count()
            .to_string()]])
    );
    // Whatever the second and third queries requested has been logged by the time a request
    // made after them is (the log is written in order).
    let marker = env.cluster("c1").client(User::Admin).await.unwrap();
    Api::<Namespace>::all(marker).get("shop").await.unwrap();
    audit
        .wait_for(again, |e| {
            e.verb == "get" && e.path() == "/api/v1/namespaces/shop"
        })
        .await
        .unwrap();
    let lists: Vec<String> = audit
        .requests_since(again)
        .unwrap()
        .into_iter()
        .filter(|e| e.verb == "list" && e.user_agent == agent && e.path().ends_with("/roles"))
        .map(|e| e.request_uri)
        .collect();
    assert!(lists.is_empty(), "cached queries must not list: {lists:?}");
    assert!(
        !requests(&audit, again, "watch", ROLES).is_empty(),
        "the watch goes on"
    );
}

#[tokio::test]
async fn live_mode_still_lists_on_every_query() {
    let env = TestClusters::shared_seeded();
    let agent = "kubepg-test/live-configmaps";
    let server = serve(&env.kubeconfig(), "c1", &["--user-agent", agent]);
    let db = connect(&server).await;
    let audit = env.cluster("c1").audit();
    assert_eq!(
        rows(&db, "SHOW kubepg.consistency").await,
        text(&[&["live"]])
    );
    let sql = "SELECT count(*) FROM configmaps";
    let start = audit.mark();
    let first = rows(&db, sql).await;
    audit
        .wait_for(start, |e| {
            e.verb == "list" && e.user_agent == agent && e.path() == "/api/v1/configmaps"
        })
        .await
        .unwrap();
    let second_mark = audit.mark();
    assert_eq!(rows(&db, sql).await, first);
    audit
        .wait_for(second_mark, |e| {
            e.verb == "list" && e.user_agent == agent && e.path() == "/api/v1/configmaps"
        })
        .await
        .unwrap();
    assert!(
        requests(&audit, start, "watch", "/api/v1/configmaps")
            .iter()
            .all(|e| e.user_agent != agent),
        "live mode must not watch"
    );
}

#[tokio::test]
async fn pod_changes_reach_cached_queries_and_kubepg_changes_with_secrets_redacted() {
    let env = TestClusters::shared_seeded();
    let kube = env.cluster("c2").client(User::Admin).await.unwrap();
    namespace(&kube, "watch-crud").await;
    let server = serve(&env.kubeconfig(), "c2", &[]);
    let db = connect(&server).await;

    // The session setting, over the wire: SET and SHOW, and the errors of bad ones.
    db.simple_query("SET kubepg.consistency = 'cached'")
        .await
        .unwrap();
    assert_eq!(
        rows(&db, "SHOW kubepg.consistency").await,
        text(&[&["cached"]])
    );
    let bad = db
        .simple_query("SET kubepg.consistency = 'eventual'")
        .await
        .unwrap_err();
    assert_eq!(bad.code().map(|c| c.code()), Some("22023"), "{bad}");
    let message = bad.as_db_error().map(|e| e.message().to_string());
    assert_eq!(
        message.as_deref(),
        Some(
            "invalid value for parameter \"kubepg.consistency\": \"eventual\" (expected 'live' or 'cached')"
        )
    );
    // The same through the extended protocol (Parse, Describe, Execute).
    let shown = db.query("SHOW kubepg.consistency", &[]).await.unwrap();
    assert_eq!(shown[0].get::<_, String>(0), "cached");
    db.execute("SET kubepg.consistency = 'live'", &[])
        .await
        .unwrap();
    assert_eq!(
        rows(&db, "SHOW kubepg.consistency").await,
        text(&[&["live"]])
    );
    db.simple_query("SET kubepg.consistency = 'cached'")
        .await
        .unwrap();
    let unknown = db.simple_query("SHOW kubepg.nope").await.unwrap_err();
    assert_eq!(unknown.code().map(|c| c.code()), Some("42704"), "{unknown}");
    assert!(
        rows(&db, "EXPLAIN SELECT name FROM pods")
            .await
            .iter()
            .any(|r| r.iter().flatten().any(|c| c.contains("consistency=cached"))),
        "the scan reads the cache"
    );

    let sql = "SELECT name, labels->>'step' FROM pods WHERE namespace = 'watch-crud' ORDER BY 1";
    assert_eq!(rows(&db, sql).await, Rows::new());

    let pods: Api<Pod> = Api::namespaced(kube.clone(), "watch-crud");
    pods.create(&PostParams::default(), &pod("w1", "created"))
        .await
        .unwrap();
    eventually("the created pod is cached", || async {
        rows(&db, sql).await == text(&[&["w1", "created"]])
    })
    .await;
    pods.patch(
        "w1",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"step": "patched"}}})),
    )
    .await
    .unwrap();
    eventually("the patch is cached", || async {
        rows(&db, sql).await == text(&[&["w1", "patched"]])
    })
    .await;
    pods.delete("w1", &DeleteParams::default().grace_period(0))
        .await
        .unwrap();
    eventually("the deletion is cached", || async {
        rows(&db, sql).await.is_empty()
    })
    .await;

    let changes = rows(
        &db,
        "SELECT type, name, json_get_str(object, 'metadata', 'labels', 'step') FROM kubepg.changes \
         WHERE cluster = 'c2' AND \"table\" = 'pods' AND namespace = 'watch-crud' ORDER BY time",
    )
    .await;
    assert_eq!(
        changes.first(),
        text(&[&["ADDED", "w1", "created"]]).first()
    );
    assert!(
        changes.contains(&text(&[&["MODIFIED", "w1", "patched"]])[0]),
        "{changes:?}"
    );
    assert_eq!(
        changes.last(),
        text(&[&["DELETED", "w1", "patched"]]).first()
    );

    // Secrets read from the cache and from the change log are redacted like live ones.
    let secret_sql =
        "SELECT json_get_str(data, 'password') FROM secrets WHERE namespace = 'watch-crud'";
    assert_eq!(rows(&db, secret_sql).await, Rows::new());
    let secrets: Api<Secret> = Api::namespaced(kube, "watch-crud");
    let secret = serde_json::from_value(json!({
        "metadata": {"name": "token"},
        "stringData": {"password": "hunter2"}
    }))
    .unwrap();
    secrets
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    eventually("the secret is cached", || async {
        rows(&db, secret_sql).await == text(&[&["<redacted>"]])
    })
    .await;
    let logged = rows(
        &db,
        "SELECT type, json_get_str(object, 'data', 'password') FROM kubepg.changes \
         WHERE \"table\" = 'secrets' AND namespace = 'watch-crud'",
    )
    .await;
    assert_eq!(logged, text(&[&["ADDED", "<redacted>"]]));
}

#[tokio::test]
async fn cached_rows_equal_live_rows_for_every_pushdown_form() {
    let env = TestClusters::shared_seeded();
    let server = serve(&env.kubeconfig(), "c1", &[]);
    let live = connect(&server).await;
    let cached = connect(&server).await;
    cached
        .simple_query("SET kubepg.consistency = 'cached'")
        .await
        .unwrap();
    let queries = [
        "SELECT * FROM pods ORDER BY namespace, name",
        "SELECT * FROM pods WHERE namespace = 'shop' ORDER BY name",
        "SELECT name FROM pods WHERE namespace IN ('shop', 'payments') ORDER BY 1",
        "SELECT namespace, name FROM pods WHERE namespace <> 'shop' ORDER BY 1, 2",
        "SELECT namespace, name FROM pods WHERE labels->>'app' = 'web' ORDER BY 1, 2",
        "SELECT namespace, name FROM pods WHERE labels->>'app' <> 'web' ORDER BY 1, 2",
        "SELECT namespace, name FROM pods WHERE labels->>'app' IN ('web', 'api') ORDER BY 1, 2",
        "SELECT namespace, name FROM pods WHERE labels->>'app' NOT IN ('web', 'api') ORDER BY 1, 2",
        "SELECT namespace, name FROM pods WHERE labels ? 'app' ORDER BY 1, 2",
        "SELECT namespace, name FROM pods WHERE labels->>'app' IS NULL ORDER BY 1, 2",
        "SELECT namespace, name FROM pods WHERE NOT (labels ? 'tier') ORDER BY 1, 2",
        "SELECT namespace, name FROM pods WHERE phase = 'Running' ORDER BY 1, 2",
        "SELECT namespace, name FROM pods WHERE phase <> 'Running' ORDER BY 1, 2",
        "SELECT namespace, name FROM pods WHERE node_name = 'node-a1' AND namespace = 'shop' ORDER BY 1, 2",
        "SELECT namespace, name FROM pods WHERE node_name = '' ORDER BY 1, 2",
        "SELECT * FROM pods WHERE name = (SELECT min(name) FROM pods WHERE namespace = 'shop')",
        "SELECT * FROM containers ORDER BY namespace, pod_name, name",
        "SELECT * FROM nodes ORDER BY name",
        "SELECT name FROM nodes WHERE unschedulable = true ORDER BY 1",
        "SELECT name FROM namespaces WHERE labels->>'team' = 'web' ORDER BY 1",
        "SELECT * FROM events WHERE type = 'Warning' ORDER BY namespace, name",
        "SELECT name, type FROM secrets WHERE type = 'Opaque' ORDER BY namespace, name",
        "SELECT name, data FROM secrets ORDER BY namespace, name",
    ];
    for sql in queries {
        let expected = rows(&live, sql).await;
        assert_eq!(rows(&cached, sql).await, expected, "{sql}");
        assert!(
            !expected.is_empty() || sql.contains("IS NULL") || sql.contains("= ''"),
            "{sql} matches something"
        );
    }
    // Point lookups, which the cache answers from its (namespace, name) index.
    let first = rows(
        &live,
        "SELECT name FROM pods WHERE namespace = 'shop' ORDER BY name LIMIT 1",
    )
    .await[0][0]
        .clone()
        .unwrap();
    for (sql, found) in [
        (
            format!("SELECT * FROM pods WHERE namespace = 'shop' AND name = '{first}'"),
            1,
        ),
        (
            format!("SELECT namespace, name FROM pods WHERE name = '{first}'"),
            1,
        ),
        (
            format!("SELECT name FROM pods WHERE namespace = 'payments' AND name = '{first}'"),
            0,
        ),
    ] {
        let expected = rows(&live, &sql).await;
        assert_eq!(expected.len(), found, "{sql}");
        assert_eq!(rows(&cached, &sql).await, expected, "{sql}");
    }
}

#[tokio::test]
async fn eviction_keeps_the_cache_within_its_memory_bound() {
    let env = TestClusters::shared_seeded();
    let bound: i64 = 40 * 1024;
    let server = serve(
        &env.kubeconfig(),
        "c1",
        &["--consistency", "cached", "--watch-memory", "40KiB"],
    );
    let db = connect(&server).await;
    let tables = [
        "services",
        "deployments",
        "replicasets",
        "statefulsets",
        "daemonsets",
        "jobs",
        "rolebindings",
    ];
    for t in tables {
        rows(&db, &format!("SELECT count(*) FROM {t}")).await;
        let cached = rows(&db, "SELECT \"table\", bytes FROM kubepg.tables").await;
        let total: i64 = cached
            .iter()
            .map(|r| r[1].as_deref().unwrap().parse::<i64>().unwrap())
            .sum();
        assert!(total <= bound, "{total} bytes cached > {bound}: {cached:?}");
        assert!(
            cached.iter().any(|r| r[0].as_deref() == Some(t)),
            "{t} was just read and is cached: {cached:?}"
        );
    }
    let left: Vec<String> = rows(&db, "SELECT \"table\" FROM kubepg.tables ORDER BY 1")
        .await
        .into_iter()
        .map(|r| r[0].clone().unwrap())
        .collect();
    assert!(
        left.len() < tables.len(),
        "some tables were evicted to stay under {bound} bytes: {left:?}"
    );
    assert!(
        !left.contains(&"services".to_string()),
        "the least recently used table goes first: {left:?}"
    );
}

#[tokio::test]
async fn the_cache_survives_a_410_and_converges() {
    // Watches read etcd here (no API server watch cache), so compacting etcd expires the
    // resourceVersion the watch resumes from: the next watch gets 410 Gone.
    let env = TestClusters::start_with(1, &["--watch-cache=false"]).unwrap();
    let kube = env.cluster("c1").client(User::Admin).await.unwrap();
    namespace(&kube, "w410").await;
    let pods: Api<Pod> = Api::namespaced(kube.clone(), "w410");
    pods.create(&PostParams::default(), &pod("before", "created"))
        .await
        .unwrap();
    let server = serve(
        &env.kubeconfig(),
        "c1",
        &["--consistency", "cached", "--watch-timeout", "1"],
    );
    let db = connect(&server).await;
    let sql = "SELECT name FROM pods WHERE namespace = 'w410' ORDER BY 1";
    let audit = env.cluster("c1").audit();
    assert_eq!(rows(&db, sql).await, text(&[&["before"]]));

    // A write after the list, so the revision the watch resumes at (the list's + 1) is older
    // than the compaction's.
    namespace(&kube, "w410-later").await;
    let compacted = audit.mark();
    env.compact_etcd().unwrap();
    // The watch ends after a second and resumes from the list's resourceVersion, which is
    // compacted away: 410, and the watcher lists again.
    eventually("the cache lists pods again after the 410", || async {
        !requests(&audit, compacted, "list", "/api/v1/pods").is_empty()
    })
    .await;

    pods.create(&PostParams::default(), &pod("after", "created"))
        .await
        .unwrap();
    pods.delete("before", &DeleteParams::default().grace_period(0))
        .await
        .unwrap();
    eventually("the cache shows the changes made after the 410", || async {
        rows(&db, sql).await == text(&[&["after"]])
    })
    .await;
    assert_eq!(
        rows(
            &db,
            "SELECT \"table\", mode, synced FROM kubepg.tables WHERE \"table\" = 'pods'"
        )
        .await,
        text(&[&["pods", "watching", "t"]])
    );
    // Only what happened after the relist is a change (deleting may first set
    // deletionTimestamp: MODIFIED, then DELETED).
    let changes = rows(
        &db,
        "SELECT type, name FROM kubepg.changes WHERE namespace = 'w410' ORDER BY time",
    )
    .await;
    assert_eq!(
        changes.first(),
        text(&[&["ADDED", "after"]]).first(),
        "{changes:?}"
    );
    assert_eq!(
        changes.last(),
        text(&[&["DELETED", "before"]]).first(),
        "{changes:?}"
    );
}

#[test]
fn kubepg_query_sets_and_shows_the_consistency() {
    let env = TestClusters::shared_seeded();
    let kubeconfig = env.kubeconfig();
    let out = common::query([
        "--kubeconfig",
        kubeconfig.to_str().unwrap(),
        "--context",
        "c1",
        "-o",
        "csv",
        "--no-headers",
        "-q",
        "SET kubepg.consistency = 'cached'; SHOW kubepg.consistency; \
         SELECT count(*) FROM namespaces WHERE labels->>'team' = 'web'; \
         SELECT cluster, \"table\", mode, synced FROM kubepg.tables",
    ]);
    // SHOW answers one column, as in PostgreSQL.
    assert_eq!(out.ok(), "cached\n2\nc1,namespaces,watching,t\n");
}

#[test]
fn cached_consistency_over_a_snapshot_reads_the_snapshot() {
    let out = common::query([
        "--demo",
        "--consistency",
        "cached",
        "-o",
        "csv",
        "--no-headers",
        "-q",
        "SELECT count(*) FROM pods WHERE namespace = 'shop'; \
         SELECT count(*) FROM kubepg.tables",
    ]);
    let live = common::query([
        "--demo",
        "-o",
        "csv",
        "--no-headers",
        "-q",
        "SELECT count(*) FROM pods WHERE namespace = 'shop'",
    ]);
    let counts: Vec<&str> = out.ok().lines().collect();
    assert_eq!(counts[0], live.ok().trim());
    assert_ne!(counts[0], "0");
    assert_eq!(counts[1], "0", "a snapshot needs no watch");
}

/// A connection whose notifications arrive on a channel, as `(channel, payload as JSON)`.
async fn listening(
    server: &Server,
) -> (
    Client,
    tokio::sync::mpsc::UnboundedReceiver<(String, serde_json::Value)>,
) {
    let (client, mut conn) = pg_config(server).connect(NoTls).await.unwrap();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(message) = std::future::poll_fn(|cx| conn.poll_message(cx)).await {
            match message {
                Ok(tokio_postgres::AsyncMessage::Notification(n)) => {
                    let payload = serde_json::from_str(n.payload()).unwrap_or_else(|e| {
                        panic!("payload is JSON ({e}): {}", n.payload());
                    });
                    let _ = tx.send((n.channel().to_string(), payload));
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
    });
    (client, rx)
}

/// The next notification, as (channel, type, namespace, name), with its payload.
async fn notified(
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<(String, serde_json::Value)>,
) -> ((String, String, String, String), serde_json::Value) {
    let (channel, payload) = tokio::time::timeout(Duration::from_secs(90), rx.recv())
        .await
        .expect("a notification arrives")
        .expect("the connection is open");
    let field = |k: &str| payload[k].as_str().unwrap_or_default().to_string();
    (
        (channel, field("type"), field("namespace"), field("name")),
        payload,
    )
}

fn seen(
    channel: &str,
    kind: &str,
    namespace: &str,
    name: &str,
) -> (String, String, String, String) {
    (channel.into(), kind.into(), namespace.into(), name.into())
}

#[tokio::test]
async fn listen_delivers_every_change_of_the_channels_objects_to_every_listener() {
    let env = TestClusters::shared_seeded();
    let kube = env.cluster("c2").client(User::Admin).await.unwrap();
    namespace(&kube, "listen-a").await;
    namespace(&kube, "listen-b").await;
    let server = serve(&env.kubeconfig(), "c2", &[]);
    let (a, mut a_rx) = listening(&server).await;
    let (b, mut b_rx) = listening(&server).await;

    // Unquoted names fold to lower case; the narrowed channel takes a namespace and a label
    // selector; B listens through the extended protocol.
    a.batch_execute("LISTEN Pods; LISTEN \"pods/listen-a?app=watched\"")
        .await
        .unwrap();
    b.execute("LISTEN \"pod/listen-b\"", &[]).await.unwrap();

    let a_pods: Api<Pod> = Api::namespaced(kube.clone(), "listen-a");
    let b_pods: Api<Pod> = Api::namespaced(kube.clone(), "listen-b");
    a_pods
        .create(&PostParams::default(), &pod("p1", "created"))
        .await
        .unwrap();
    let mut first = [notified(&mut a_rx).await, notified(&mut a_rx).await];
    first.sort_by(|x, y| x.0.cmp(&y.0));
    assert_eq!(
        first.iter().map(|n| n.0.clone()).collect::<Vec<_>>(),
        [
            seen("pods", "ADDED", "listen-a", "p1"),
            seen("pods/listen-a?app=watched", "ADDED", "listen-a", "p1"),
        ]
    );
    let payload = &first[0].1;
    assert_eq!(payload["cluster"], "c2");
    assert_eq!(payload["table"], "pods");
    assert!(
        payload["uid"].as_str().is_some_and(|u| !u.is_empty()),
        "{payload}"
    );
    assert!(
        payload["resource_version"]
            .as_str()
            .is_some_and(|v| !v.is_empty()),
        "{payload}"
    );

    // The connection keeps answering queries between notifications.
    assert_eq!(rows(&a, "SELECT 1").await, text(&[&["1"]]));

    a_pods
        .patch(
            "p1",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"step": "patched"}}})),
        )
        .await
        .unwrap();
    let mut modified = [notified(&mut a_rx).await, notified(&mut a_rx).await];
    modified.sort_by(|x, y| x.0.cmp(&y.0));
    assert_eq!(modified[0].0, seen("pods", "MODIFIED", "listen-a", "p1"));
    assert_eq!(
        modified[0].1["changed"],
        json!(["labels"]),
        "{}",
        modified[0].1
    );

    // A pod of the other namespace reaches B's channel and A's unnarrowed one only.
    b_pods
        .create(&PostParams::default(), &pod("p2", "created"))
        .await
        .unwrap();
    assert_eq!(
        notified(&mut b_rx).await.0,
        seen("pod/listen-b", "ADDED", "listen-b", "p2"),
        "B's first notification is its own namespace's pod, not listen-a's"
    );
    assert_eq!(
        notified(&mut a_rx).await.0,
        seen("pods", "ADDED", "listen-b", "p2")
    );

    // After UNLISTEN pods, A hears only its narrowed channel; deleting notifies DELETED (maybe
    // after a MODIFIED that sets the deletion timestamp).
    a.batch_execute("UNLISTEN pods").await.unwrap();
    a_pods
        .delete("p1", &DeleteParams::default().grace_period(0))
        .await
        .unwrap();
    loop {
        let (n, _) = notified(&mut a_rx).await;
        assert_eq!(n.0, "pods/listen-a?app=watched", "{n:?}");
        if n.1 == "DELETED" {
            assert_eq!(
                n,
                seen("pods/listen-a?app=watched", "DELETED", "listen-a", "p1")
            );
            break;
        }
    }

    // Refusals keep the connection usable.
    let cases = [
        ("LISTEN nosuchtable", "42P01"),
        ("LISTEN \"pods/a/b\"", "42602"),
        ("LISTEN \"pods?app=(\"", "42602"),
        ("LISTEN \"kubepg.changes\"", "0A000"),
        ("NOTIFY pods, 'hello'", "25006"),
    ];
    for (sql, state) in cases {
        let e = b.simple_query(sql).await.unwrap_err();
        assert_eq!(e.code().map(|c| c.code()), Some(state), "{sql}: {e}");
    }
    // Each channel may pin a watch: a connection has at most 64 (B has one already).
    for i in 1..64 {
        b.batch_execute(&format!("LISTEN \"pods/many-{i}\""))
            .await
            .unwrap();
    }
    let e = b.simple_query("LISTEN \"pods/many-64\"").await.unwrap_err();
    assert_eq!(e.code().map(|c| c.code()), Some("53400"), "{e}");
    b.batch_execute("UNLISTEN *; LISTEN \"pods/many-64\"")
        .await
        .unwrap();
    assert_eq!(rows(&b, "SELECT 1").await, text(&[&["1"]]));
}

#[tokio::test]
async fn listen_over_several_clusters_follows_those_it_may_and_names_the_others() {
    let env = TestClusters::shared_seeded();
    let restricted = env
        .kubeconfig_for("c2", User::Restricted, "c2-restricted")
        .unwrap();
    let server = common::server(&[
        "--kubeconfig",
        env.kubeconfig().to_str().unwrap(),
        "--kubeconfig",
        restricted.to_str().unwrap(),
        "--context",
        "c1,c2-restricted",
        "--listen",
        "127.0.0.1:0",
        "--health-listen",
        "off",
    ]);
    let (client, mut conn) = pg_config(&server)
        .dbname("all")
        .connect(NoTls)
        .await
        .unwrap();
    let (tx, mut notices) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(Ok(message)) = std::future::poll_fn(|cx| conn.poll_message(cx)).await {
            let _ = tx.send(message);
        }
    });
    // The restricted identity may not watch pods in every namespace: c1 is followed, and the
    // client is told which cluster is not.
    client.batch_execute("LISTEN pods").await.unwrap();
    let mut told = None;
    while let Ok(Some(message)) =
        tokio::time::timeout(Duration::from_secs(30), notices.recv()).await
    {
        if let tokio_postgres::AsyncMessage::Notice(n) = message {
            told = Some((n.severity().to_string(), n.message().to_string()));
            break;
        }
    }
    let (severity, message) = told.expect("a notice about the cluster left out");
    assert_eq!(severity, "WARNING");
    assert!(
        message.contains("cluster c2-restricted is not followed") && message.contains("403"),
        "{message}"
    );
    assert_eq!(rows(&client, "SELECT 1").await, text(&[&["1"]]));
}
