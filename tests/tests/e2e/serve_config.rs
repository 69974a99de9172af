//! `kubepg serve` configured from a YAML file: users from a YAML map, TLS that psql verifies or
//! that the server insists on, the order flags > environment > file, a file naming an unknown
//! setting refused at start, and an identities file (a bad one refused at start).

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A self-signed certificate for `localhost` and 127.0.0.1 (its own root for verify-full).
fn certificate(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let (cert, key) = (
        dir.join(format!("{name}.crt")),
        dir.join(format!("{name}.key")),
    );
    let out = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .args(["-subj", "/CN=localhost"])
        .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (cert, key)
}

fn psql(conninfo: &str, password: &str, commands: &[&str]) -> Output {
    let mut cmd = Command::new("psql");
    cmd.arg(conninfo).args(["-X", "-A", "-t"]);
    for c in commands {
        cmd.args(["-c", c]);
    }
    cmd.env("PGPASSWORD", password)
        .env("PGCONNECT_TIMEOUT", "10")
        .output()
        .expect("psql runs")
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_config_file_sets_yaml_users_and_required_tls_that_psql_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = certificate(dir.path(), "server");
    let (other, _) = certificate(dir.path(), "other");
    let users = dir.path().join("users.yaml");
    std::fs::write(&users, "alice: \"pa:ss word\"\n").unwrap();
    let config = dir.path().join("config.yaml");
    std::fs::write(
        &config,
        format!(
            "listen: 127.0.0.1:0\nhealth-listen: \"off\"\nusers-file: {}\ntls-cert: {}\ntls-key: {}\ntls-required: true\n",
            users.display(),
            cert.display(),
            key.display()
        ),
    )
    .unwrap();
    let server = common::server(&["--demo", "--config", config.to_str().unwrap()]);
    let port = server.port;
    let conninfo = |extra: &str| {
        format!("host=localhost hostaddr=127.0.0.1 port={port} user=alice dbname=kubepg {extra}")
    };

    let verified = psql(
        &conninfo(&format!(
            "sslmode=verify-full sslrootcert={}",
            cert.display()
        )),
        "pa:ss word",
        &["\\conninfo", "SELECT count(*) FROM nodes"],
    );
    let (stdout, stderr) = text(&verified);
    assert!(
        stdout.contains("SSL connection (protocol: TLSv1.3"),
        "{stdout}{stderr}"
    );
    assert!(stdout.ends_with("\n4\n"), "{stdout}{stderr}");

    let plain = psql(&conninfo("sslmode=disable"), "pa:ss word", &["SELECT 1"]);
    let (_, stderr) = text(&plain);
    assert!(!plain.status.success());
    assert!(stderr.contains("this server requires TLS"), "{stderr}");

    let wrong_root = psql(
        &conninfo(&format!(
            "sslmode=verify-full sslrootcert={}",
            other.display()
        )),
        "pa:ss word",
        &["SELECT 1"],
    );
    let (_, stderr) = text(&wrong_root);
    assert!(!wrong_root.status.success());
    assert!(stderr.contains("certificate verify failed"), "{stderr}");

    let wrong_password = psql(&conninfo("sslmode=require"), "pa:ss", &["SELECT 1"]);
    let (_, stderr) = text(&wrong_password);
    assert!(
        stderr.contains("password authentication failed for user \"alice\""),
        "{stderr}"
    );
}

#[test]
fn flags_beat_variables_which_beat_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yaml");
    std::fs::write(
        &config,
        "listen: 127.0.0.1:0\nhealth-listen: \"off\"\ndefault-database: fromfile\n",
    )
    .unwrap();
    let config = config.to_str().unwrap();
    let answers = |port: u16, db: &str| {
        let out = psql(
            &format!("host=127.0.0.1 port={port} user=kubepg dbname={db}"),
            "",
            &["SELECT count(*) FROM nodes"],
        );
        text(&out)
    };
    for (args, envs, database) in [
        (vec![], vec![], "fromfile"),
        (
            vec![],
            vec![("KUBEPG_DEFAULT_DATABASE", "fromenv")],
            "fromenv",
        ),
        (
            vec!["--default-database", "fromflag"],
            vec![("KUBEPG_DEFAULT_DATABASE", "fromenv")],
            "fromflag",
        ),
    ] {
        let mut all = vec!["--demo", "--config", config];
        all.extend(args);
        let (child, port) = common::serve(&all, &envs)
            .unwrap_or_else(|printed| panic!("kubepg serve exited:\n{printed}"));
        let _server = common::Server { child, port };
        assert_eq!(answers(port, database).0, "4\n", "database {database}");
        let (_, stderr) = answers(port, "kubepg");
        assert!(
            stderr.contains("database \"kubepg\" does not exist"),
            "{database}: {stderr}"
        );
    }
}

#[test]
fn a_config_file_with_an_unknown_key_stops_the_server_before_it_listens() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yaml");
    std::fs::write(&config, "listen: 127.0.0.1:0\nlistne: 0.0.0.0:5432\n").unwrap();
    let printed = common::serve(&["--demo", "--config", config.to_str().unwrap()], &[])
        .expect_err("kubepg serve must not start");
    assert!(
        printed.contains("unknown key \"listne\" for `kubepg serve`"),
        "{printed}"
    );
}

#[test]
fn an_identities_file_maps_sql_users_and_a_bad_one_stops_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("identities.yaml");
    std::fs::write(
        &file,
        "alice: {user: alice@example.com, groups: [team-a], namespaces: [shop]}\nbob: self\n",
    )
    .unwrap();
    let server = common::server(&[
        "--demo",
        "--listen",
        "127.0.0.1:0",
        "--health-listen",
        "off",
        "--identities-file",
        file.to_str().unwrap(),
    ]);
    let ask = |user: &str| {
        text(&psql(
            &format!(
                "host=127.0.0.1 port={} user={user} dbname=kubepg",
                server.port
            ),
            "",
            &[
                "SHOW kubepg.namespaces",
                "EXPLAIN SELECT name FROM pods",
                "SELECT count(*) FROM kubepg.changes",
            ],
        ))
    };
    // The demo is a snapshot, which has no RBAC: what changes is the session, not the rows.
    let (out, err) = ask("alice");
    assert!(out.starts_with("shop\n"), "{out}{err}");
    assert!(
        out.contains("namespaces=[shop], as_user=alice@example.com, as_groups=[team-a]"),
        "{out}{err}"
    );
    assert!(
        err.contains("permission denied: kubepg.changes reads the shared watch cache"),
        "{err}"
    );
    let (out, err) = ask("bob");
    assert!(out.starts_with("\n"), "{out}{err}");
    assert!(!out.contains("as_user"), "{out}{err}");
    assert!(out.ends_with("\n0\n"), "{out}{err}");

    std::fs::write(&file, "alice: {user: alice, grups: [team-a]}\n").unwrap();
    let printed = common::serve(
        &[
            "--demo",
            "--listen",
            "127.0.0.1:0",
            "--identities-file",
            file.to_str().unwrap(),
        ],
        &[],
    )
    .expect_err("kubepg serve must not start");
    assert!(
        printed.contains("alice: unknown key \"grups\" (expected user, groups, namespaces)"),
        "{printed}"
    );
}
