//! Per-SQL-user Kubernetes identity through `kubepg serve` against a real API server with RBAC:
//! a SQL user mapped to a Kubernetes user and group gets exactly the rows that identity may
//! list (the API server's audit log shows its requests impersonated), never rows from kubepg's
//! shared watch cache; `kubepg.namespaces` scopes its scans to the namespaces it may read; a user
//! mapped to `self` shares kubepg's identity; every statement's log line names the identity.
//!
//! The mapping is given as the config file's `identities` map, the form the Helm chart writes.

use crate::common;

use std::path::Path;
use std::sync::{Arc, Mutex};

use k8s_openapi::api::core::v1::{Namespace, Pod, Secret};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::{Api, PostParams};
use kubepg_testkit::audit::AuditEvent;
use kubepg_testkit::{TestClusters, User};
use serde_json::{Value, json};
use tokio_postgres::{AsyncMessage, Client, NoTls, SimpleQueryMessage};

/// The group the team-a Role is bound to: alice reads team-a's pods only through it, so her
/// rows prove that the group was impersonated along with the user.
const GROUP: &str = "team-a-readers";

async fn create<K>(client: &kube::Client, namespace: Option<&str>, object: Value)
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + std::fmt::Debug
        + k8s_openapi::serde::de::DeserializeOwned
        + k8s_openapi::serde::Serialize,
    K::DynamicType: Default,
{
    let api: Api<K> = Api::namespaced(client.clone(), namespace.unwrap_or("default"));
    let object: K = serde_json::from_value(object).unwrap();
    api.create(&PostParams::default(), &object).await.unwrap();
}

/// Namespaces team-a (pods a1, a2 and a secret) and team-b (pod b1); a Role in team-a that
/// reads pods, bound to the group [`GROUP`]. Nothing is granted to the user alice herself.
async fn seed(env: &TestClusters) {
    let admin = env.cluster("c1").client(User::Admin).await.unwrap();
    let namespaces: Api<Namespace> = Api::all(admin.clone());
    for ns in ["team-a", "team-b"] {
        let object = serde_json::from_value(json!({"metadata": {"name": ns}})).unwrap();
        namespaces
            .create(&PostParams::default(), &object)
            .await
            .unwrap();
    }
    for (ns, name) in [("team-a", "a1"), ("team-a", "a2"), ("team-b", "b1")] {
        create::<Pod>(
            &admin,
            Some(ns),
            json!({
                "metadata": {"name": name},
                "spec": {"containers": [{"name": "main", "image": "busybox:1.36"}]}
            }),
        )
        .await;
    }
    create::<Secret>(
        &admin,
        Some("team-a"),
        json!({"metadata": {"name": "token"}, "stringData": {"token": "hunter2"}}),
    )
    .await;
    create::<Role>(
        &admin,
        Some("team-a"),
        json!({
            "metadata": {"name": "pod-reader"},
            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}]
        }),
    )
    .await;
    create::<RoleBinding>(
        &admin,
        Some("team-a"),
        json!({
            "metadata": {"name": "pod-reader"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "pod-reader"},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": GROUP}]
        }),
    )
    .await;
}

/// `kubepg serve` over context c1 of `kubeconfig`, with SQL users (password = user name) and
/// the identity map, given in a config file; statement log lines kept as JSON.
fn serve(kubeconfig: &Path, dir: &Path) -> (common::Server, common::Log) {
    let users = dir.join("users.yaml");
    std::fs::write(
        &users,
        "alice: alice\nalice_ns: alice_ns\nadmin: admin\nops: ops\n",
    )
    .unwrap();
    let config = dir.join("config.yaml");
    std::fs::write(
        &config,
        format!(
            "listen: 127.0.0.1:0\nhealth-listen: \"off\"\nusers-file: {}\nidentities:\n  alice: {{user: alice, groups: [{GROUP}]}}\n  alice_ns: {{user: alice, groups: [{GROUP}], namespaces: [team-a]}}\n  admin: self\n",
            users.display()
        ),
    )
    .unwrap();
    let (child, port, log) = common::serve_logged(
        &[
            "--kubeconfig",
            kubeconfig.to_str().unwrap(),
            "--context",
            "c1",
            "--log-json",
            "--config",
            config.to_str().unwrap(),
        ],
        &[],
    )
    .unwrap_or_else(|printed| panic!("kubepg serve exited:\n{printed}"));
    (common::Server { child, port }, log)
}

/// A connection as `user` (password = user name), and the NOTICEs it receives.
async fn connect(port: u16, user: &str) -> (Client, Arc<Mutex<Vec<String>>>) {
    let (client, mut conn) = tokio_postgres::Config::new()
        .host("127.0.0.1")
        .port(port)
        .user(user)
        .password(user)
        .dbname("kubepg")
        .connect(NoTls)
        .await
        .unwrap_or_else(|e| panic!("connecting as {user}: {e}"));
    let notices = Arc::new(Mutex::new(Vec::new()));
    let heard = notices.clone();
    tokio::spawn(async move {
        while let Some(Ok(message)) = std::future::poll_fn(|cx| conn.poll_message(cx)).await {
            if let AsyncMessage::Notice(n) = message {
                heard.lock().unwrap().push(n.message().to_string());
            }
        }
    });
    (client, notices)
}

/// Every row of the last statement of `sql`, as text.
async fn rows(db: &Client, sql: &str) -> Vec<Vec<String>> {
    db.simple_query(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .into_iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(r) => Some(
                (0..r.len())
                    .map(|i| r.get(i).unwrap_or("NULL").to_string())
                    .collect(),
            ),
            _ => None,
        })
        .collect()
}

fn names(rows: &[Vec<String>]) -> Vec<&str> {
    rows.iter().map(|r| r[0].as_str()).collect()
}

/// The SQLSTATE and message of a statement that must fail.
async fn refused(db: &Client, sql: &str) -> (String, String) {
    let e = db
        .simple_query(sql)
        .await
        .expect_err(&format!("{sql} must be refused"));
    let db_error = e.as_db_error().unwrap_or_else(|| panic!("{sql}: {e:?}"));
    (
        db_error.code().code().to_string(),
        db_error.message().to_string(),
    )
}

fn impersonated(e: &AuditEvent) -> Option<&kubepg_testkit::audit::AuditUser> {
    e.impersonated_user.as_ref()
}

/// The `kubepg::query` lines the server logged, each line's fields.
fn statements(log: &common::Log) -> Vec<Value> {
    log.lock()
        .unwrap()
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["target"] == "kubepg::query")
        .map(|v| v["fields"].clone())
        .collect()
}

/// This suite's own cluster: it seeds RBAC and namespaces of its own, and asserts on every
/// request made for pods.
fn cluster() -> &'static TestClusters {
    static ENV: std::sync::OnceLock<TestClusters> = std::sync::OnceLock::new();
    ENV.get_or_init(|| TestClusters::start(1).expect("starting the identity suite's cluster"))
}

/// The pods alice's group may list.
const TEAM_A_PODS: &str = "SELECT name FROM pods WHERE namespace = 'team-a' ORDER BY name";

#[tokio::test]
async fn each_sql_user_sees_what_its_kubernetes_identity_may_list() {
    let env = cluster();
    seed(env).await;
    let dir = tempfile::tempdir().unwrap();
    let (server, log) = serve(&env.kubeconfig(), dir.path());
    let audit = env.cluster("c1").audit();

    // admin shares kubepg's identity (kubepg-admin): both teams' pods. It also fills the
    // shared watch cache with every pod, team-b's included.
    let (admin, _) = connect(server.port, "admin").await;
    let mark = audit.mark();
    let both =
        "SELECT namespace, name FROM pods WHERE namespace IN ('team-a', 'team-b') ORDER BY 1, 2";
    assert_eq!(
        rows(&admin, both).await,
        [["team-a", "a1"], ["team-a", "a2"], ["team-b", "b1"]]
    );
    let events = audit
        .wait_for(mark, |e| e.path() == "/api/v1/namespaces/team-b/pods")
        .await
        .unwrap();
    for e in events.iter().filter(|e| e.path().ends_with("/pods")) {
        assert_eq!(e.user.username, "kubepg-admin", "{}", e.request_uri);
        assert!(impersonated(e).is_none(), "{}", e.request_uri);
    }
    rows(&admin, "SET kubepg.consistency = 'cached'").await;
    assert_eq!(rows(&admin, both).await.len(), 3);

    // alice is impersonated as user alice in group team-a-readers.
    let (alice, notices) = connect(server.port, "alice").await;
    let mark = audit.mark();
    assert_eq!(names(&rows(&alice, TEAM_A_PODS).await), ["a1", "a2"]);
    let events = audit
        .wait_for(mark, |e| e.path() == "/api/v1/namespaces/team-a/pods")
        .await
        .unwrap();
    let list = events
        .iter()
        .find(|e| e.path() == "/api/v1/namespaces/team-a/pods")
        .unwrap();
    assert_eq!(list.verb, "list");
    assert_eq!(list.code(), 200);
    assert_eq!(
        list.user.username, "kubepg-admin",
        "made with kubepg's credentials"
    );
    let as_alice = impersonated(list).expect("the LIST was impersonated");
    assert_eq!(as_alice.username, "alice");
    assert!(
        as_alice.groups.iter().any(|g| g == GROUP),
        "{:?}",
        as_alice.groups
    );

    // Across all namespaces, RBAC says no: 42501, and the connection goes on.
    let mark = audit.mark();
    let (code, message) = refused(&alice, "SELECT name FROM pods").await;
    assert_eq!(code, "42501", "{message}");
    assert!(message.contains("\"alice\""), "{message}");
    let events = audit
        .wait_for(mark, |e| e.path() == "/api/v1/pods")
        .await
        .unwrap();
    let forbidden = events.iter().find(|e| e.path() == "/api/v1/pods").unwrap();
    assert_eq!(forbidden.code(), 403);
    assert_eq!(impersonated(forbidden).unwrap().username, "alice");
    assert_eq!(rows(&alice, "SELECT 1").await, [["1"]]);

    // Secrets are another resource her group may not list, even in team-a.
    for sql in [
        "SELECT * FROM secrets",
        "SELECT name FROM secrets WHERE namespace = 'team-a'",
    ] {
        assert_eq!(refused(&alice, sql).await.0, "42501", "{sql}");
    }

    // kubepg.namespaces: unfiltered scans list only those namespaces; a namespace outside it
    // gives no rows (and no request); RESET returns to alice's mapping (no namespaces).
    rows(&alice, "SET kubepg.namespaces = 'team-a'").await;
    assert_eq!(rows(&alice, "SHOW kubepg.namespaces").await, [["team-a"]]);
    assert_eq!(
        names(&rows(&alice, "SELECT name FROM pods ORDER BY name").await),
        ["a1", "a2"]
    );
    let mark = audit.mark();
    assert!(
        rows(&alice, "SELECT name FROM pods WHERE namespace = 'team-b'")
            .await
            .is_empty()
    );
    rows(&alice, "RESET kubepg.namespaces").await;
    assert_eq!(rows(&alice, "SHOW kubepg.namespaces").await, [[""]]);
    assert_eq!(refused(&alice, "SELECT name FROM pods").await.0, "42501");
    let events = audit
        .wait_for(mark, |e| e.path() == "/api/v1/pods")
        .await
        .unwrap();
    assert!(
        !events
            .iter()
            .any(|e| e.path() == "/api/v1/namespaces/team-b/pods"),
        "no request for a namespace outside kubepg.namespaces"
    );

    // Cached consistency would read the cache admin filled, team-b's pod included; alice
    // lists live as herself instead, and is told so.
    rows(&alice, "SET kubepg.consistency = 'cached'").await;
    let mark = audit.mark();
    notices.lock().unwrap().clear();
    assert_eq!(names(&rows(&alice, TEAM_A_PODS).await), ["a1", "a2"]);
    let heard = notices.lock().unwrap().clone();
    assert!(
        heard
            .iter()
            .any(|n| n.contains("does not apply to a session acting as user=alice")),
        "{heard:?}"
    );
    let (code, message) = refused(&alice, "SELECT name FROM pods WHERE namespace = 'team-b'").await;
    assert_eq!(code, "42501", "{message}");
    assert_eq!(refused(&alice, "SELECT name FROM pods").await.0, "42501");
    let events = audit
        .wait_for(mark, |e| e.path() == "/api/v1/pods")
        .await
        .unwrap();
    let pod_requests: Vec<&AuditEvent> = events
        .iter()
        .filter(|e| e.path().ends_with("/pods"))
        .collect();
    let seen: Vec<(&str, &str, u16)> = pod_requests
        .iter()
        .map(|e| (e.verb.as_str(), e.path(), e.code()))
        .collect();
    assert_eq!(
        seen,
        [
            ("list", "/api/v1/namespaces/team-a/pods", 200),
            ("list", "/api/v1/namespaces/team-b/pods", 403),
            ("list", "/api/v1/pods", 403),
        ]
    );
    for e in pod_requests {
        assert_eq!(
            impersonated(e).map(|u| u.username.as_str()),
            Some("alice"),
            "{}",
            e.request_uri
        );
    }
    let (code, message) = refused(&alice, "SELECT * FROM kubepg.changes").await;
    assert_eq!(code, "42501", "{message}");
    // Notifications come from kubepg's own watches: not for an impersonated session.
    let (code, message) = refused(&alice, "LISTEN \"pods/team-a\"").await;
    assert_eq!(code, "42501", "{message}");
    assert!(message.contains("alice"), "{message}");

    // alice_ns starts limited to team-a by its mapping, and RESET keeps it there.
    let (scoped, _) = connect(server.port, "alice_ns").await;
    assert_eq!(rows(&scoped, "SHOW kubepg.namespaces").await, [["team-a"]]);
    assert_eq!(
        names(&rows(&scoped, "SELECT name FROM pods ORDER BY name").await),
        ["a1", "a2"]
    );
    rows(
        &scoped,
        "SET kubepg.namespaces = ''; RESET kubepg.namespaces",
    )
    .await;
    assert_eq!(rows(&scoped, "SHOW kubepg.namespaces").await, [["team-a"]]);

    // ops is not in the map: kubepg's own identity, like admin.
    let (ops, _) = connect(server.port, "ops").await;
    assert_eq!(rows(&ops, both).await.len(), 3);

    // Every statement's log line names the identity its session acted as. The server writes
    // a statement's line before answering it; this waits for the reader of its stderr.
    let mut logged = statements(&log);
    for _ in 0..100 {
        if logged.iter().any(|s| s["user"] == "ops") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        logged = statements(&log);
    }
    let identity_of = |user: &str| -> Vec<String> {
        logged
            .iter()
            .filter(|s| s["user"] == user)
            .map(|s| s["identity"].as_str().unwrap_or("?").to_string())
            .collect()
    };
    for (user, identity) in [
        ("admin", "kubepg"),
        ("ops", "kubepg"),
        ("alice", "user=alice groups=team-a-readers"),
        ("alice_ns", "user=alice groups=team-a-readers"),
    ] {
        let seen = identity_of(user);
        assert!(!seen.is_empty(), "{user}: {logged:?}");
        assert!(seen.iter().all(|i| i == identity), "{user}: {seen:?}");
    }
    let alice_refused = logged
        .iter()
        .find(|s| s["user"] == "alice" && s["outcome"] == "42501")
        .expect("a refused statement of alice is logged");
    assert_eq!(alice_refused["statement"], "SELECT name FROM pods");
}

#[tokio::test]
async fn without_the_impersonate_verb_kubepg_refuses_a_mapped_user_with_42501() {
    let env = cluster();
    // kubepg-restricted may not impersonate (nor list anything).
    let dir = tempfile::tempdir().unwrap();
    let (server, _log) = serve(&env.restricted_kubeconfig(), dir.path());
    let (alice, _) = connect(server.port, "alice").await;
    // (configmaps: the other test of this suite asserts on every request for pods.)
    let (code, message) = refused(
        &alice,
        "SELECT name FROM configmaps WHERE namespace = 'default'",
    )
    .await;
    assert_eq!(code, "42501", "{message}");
    assert!(message.contains("impersonate"), "{message}");
    assert_eq!(rows(&alice, "SELECT 1").await, [["1"]]);
}
