//! Who may connect to `kubepg serve`: SCRAM, MD5 and cleartext users (a wrong password or an
//! unknown user is 28P01), trust only on loopback, the connection limit (53300), and the
//! encryption requests a client opens with (GSSAPI refused, then TLS).

use std::collections::HashMap;
use std::sync::Arc;

use kubepg_kube::pool::{ClusterPool, PoolConfig};
use kubepg_server::{AuthMode, Server, ServerConfig, Users};
use kubepg_sql::{Engine, EngineConfig};
use kubepg_testkit::TestClusters;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::serve_protocol::{connect, start, start_with};

#[tokio::test]
async fn scram_users_authenticate_and_a_wrong_password_is_28p01() {
    let users =
        Arc::new(Users::new(HashMap::from([("alice".to_string(), "s3cret".to_string())])).unwrap());
    let s = start(AuthMode::ScramSha256(users), 10).await;
    let client = connect(s.addr, "c1", "alice", "s3cret").await.unwrap();
    let rows = client
        .query("SELECT count(*) FROM nodes", &[])
        .await
        .unwrap();
    assert_eq!(rows[0].get::<_, i64>(0), 4);
    let err = connect(s.addr, "c1", "alice", "wrong")
        .await
        .expect_err("wrong password refused");
    assert_eq!(err.code().map(|c| c.code()), Some("28P01"), "{err:?}");
    let err = connect(s.addr, "c1", "mallory", "s3cret")
        .await
        .expect_err("unknown user refused");
    assert_eq!(err.code().map(|c| c.code()), Some("28P01"), "{err:?}");
}

#[tokio::test]
async fn connections_past_the_limit_are_refused_with_53300() {
    let s = start(AuthMode::Trust, 1).await;
    let first = connect(s.addr, "c1", "kubepg", "").await.unwrap();
    let err = connect(s.addr, "c1", "kubepg", "")
        .await
        .expect_err("second connection refused");
    assert_eq!(err.code().map(|c| c.code()), Some("53300"), "{err:?}");
    assert_eq!(
        first.query("SELECT 1::bigint", &[]).await.unwrap()[0].get::<_, i64>(0),
        1
    );
}

#[tokio::test]
async fn trust_authentication_is_refused_off_loopback() {
    let env = TestClusters::shared_seeded();
    let pool = ClusterPool::build(PoolConfig {
        kubeconfigs: vec![env.kubeconfig()],
        ..Default::default()
    })
    .await
    .unwrap();
    let engine = Engine::new(Arc::new(pool), EngineConfig::default());
    let config = ServerConfig {
        listen: "0.0.0.0:0".parse().unwrap(),
        auth: AuthMode::Trust,
        ..Default::default()
    };
    let Err(err) = Server::bind(config, engine).await else {
        panic!("trust off loopback must be refused")
    };
    assert!(err.to_string().contains("loopback"), "{err}");
}

#[tokio::test]
async fn md5_and_cleartext_users_authenticate_for_older_clients() {
    let users =
        || Arc::new(Users::new(HashMap::from([("bob".to_string(), "pw".to_string())])).unwrap());
    for auth in [AuthMode::Md5(users()), AuthMode::Cleartext(users())] {
        let name = format!("{auth:?}")
            .split('(')
            .next()
            .unwrap_or_default()
            .to_string();
        let s = start(auth, 10).await;
        let client = connect(s.addr, "c1", "bob", "pw")
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let rows = client
            .query("SELECT count(*) FROM nodes", &[])
            .await
            .unwrap();
        assert_eq!(rows[0].get::<_, i64>(0), 4, "{name}");
        let err = connect(s.addr, "c1", "bob", "wrong")
            .await
            .expect_err("wrong password refused");
        assert_eq!(
            err.code().map(|c| c.code()),
            Some("28P01"),
            "{name}: {err:?}"
        );
    }
}

#[tokio::test]
async fn a_gssapi_encryption_request_is_refused_and_tls_then_offered() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("c.crt"), dir.path().join("c.key"));
    let made = std::process::Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args(["-subj", "/CN=localhost", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(made.status.success());
    let s = start_with(ServerConfig {
        tls: Some(Arc::new(kubepg_server::tls::load(&cert, &key).unwrap())),
        ..Default::default()
    })
    .await;
    let mut socket = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    // GSSENCRequest, then SSLRequest: length 8 and the protocol's magic codes.
    for (code, answer) in [(80877104u32, b'N'), (80877103u32, b'S')] {
        let mut request = 8u32.to_be_bytes().to_vec();
        request.extend(code.to_be_bytes());
        socket.write_all(&request).await.unwrap();
        let mut reply = [0u8; 1];
        socket.read_exact(&mut reply).await.unwrap();
        assert_eq!(reply[0], answer, "answer to request code {code}");
    }
}
