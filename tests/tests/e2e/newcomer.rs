//! What a newcomer meets first, as they meet it: errors that say what to do (no kubeconfig,
//! `--in-cluster` outside a pod, a wrong context, a mistyped table, a cluster that is down),
//! booleans written as people write them, one config file for both commands, SQL on stdin, and
//! help that lists what matters.

use crate::common;

use kubepg_testkit::TestClusters;
use kubepg_testkit::proxy::FaultProxy;

/// `kubepg query ARGS` with a fresh HOME, these variables set and `stdin` written to it.
fn query(args: &[&str], envs: &[(&str, &str)], stdin: &str) -> (Option<i32>, String, String) {
    let out = common::query_with(args, envs, stdin);
    (out.code, out.stdout, out.stderr)
}

#[test]
fn setup_mistakes_say_what_to_do() {
    let (code, _, err) = query(&["-q", "SELECT 1"], &[], "");
    assert_eq!(code, Some(1));
    assert!(
        err.contains("cannot read") && err.contains("--kubeconfig") && err.contains("--demo"),
        "{err}"
    );
    assert!(!err.contains("'\""), "kube's doubled quotes: {err}");

    let (_, _, err) = query(&["--in-cluster", "-q", "SELECT 1"], &[], "");
    assert!(err.contains("works inside a pod only"), "{err}");

    let env = TestClusters::shared_seeded();
    let kubeconfig = env.kubeconfig();
    let kubeconfig = kubeconfig.to_str().unwrap();
    let (_, _, err) = query(
        &[
            "--kubeconfig",
            kubeconfig,
            "--context",
            "nosuch",
            "-q",
            "SELECT 1",
        ],
        &[],
        "",
    );
    assert!(
        err.contains("no context matches \"nosuch\"; the kubeconfig has c1, c2"),
        "{err}"
    );

    let (code, _, err) = query(&["--demo", "-q", "SELECT name FROM podz"], &[], "");
    assert_eq!(code, Some(1));
    assert_eq!(
        err.trim(),
        "ERROR 42P01: relation \"podz\" does not exist; did you mean pods?"
    );
}

#[test]
fn booleans_sql_on_stdin_and_help_as_people_expect() {
    for yes in ["1", "yes", "on", "true"] {
        let (code, out, err) = query(
            &["--demo", "-o", "csv", "--no-headers", "-q", "SELECT 1"],
            &[("KUBEPG_STRICT", yes)],
            "",
        );
        assert_eq!((code, out.as_str()), (Some(0), "1\n"), "{yes}: {err}");
    }
    let (code, out, err) = query(
        &["--demo", "-o", "csv", "--no-headers", "-f", "-"],
        &[],
        "SELECT count(*) FROM nodes;",
    );
    assert_eq!((code, out.as_str()), (Some(0), "4\n"), "{err}");

    let (_, help, _) = query(&["--help"], &[], "");
    assert!(!help.contains("--watch-memory"), "{help}");
    assert!(help.contains("KUBEPG_LOG"), "{help}");
    let serve_help = std::process::Command::new(common::kubepg())
        .args(["serve", "--help"])
        .output()
        .unwrap();
    let serve_help = String::from_utf8(serve_help.stdout).unwrap();
    assert!(serve_help.contains("--watch-memory"), "{serve_help}");
}

#[test]
fn the_demo_has_cronjobs() {
    let (code, out, err) = query(
        &[
            "--demo",
            "-o",
            "csv",
            "--no-headers",
            "-q",
            "SELECT namespace, name, schedule FROM cronjobs",
        ],
        &[],
        "",
    );
    assert_eq!(
        (code, out.as_str()),
        (Some(0), "batch,report,0 2 * * *\n"),
        "{err}"
    );
}

#[test]
fn one_config_file_serves_both_commands() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("kubepg.yaml");
    // Unquoted YAML booleans where a flag means on or off, serve's keys, a query section.
    std::fs::write(
        &config,
        "listen: 127.0.0.1:0\nhealth-listen: off\ntls-required: false\nstrict: 1\nquery:\n  scope: demo\n",
    )
    .unwrap();
    let config = config.to_str().unwrap();
    let (code, out, err) = query(
        &[
            "--demo",
            "--config",
            config,
            "-o",
            "csv",
            "--no-headers",
            "-q",
            "SELECT count(*) FROM nodes",
        ],
        &[],
        "",
    );
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out, "4\n");
    assert!(
        err.contains("left alone: health-listen, listen, tls-required"),
        "{err}"
    );
    let (child, port) = common::serve(&["--demo", "--config", config], &[])
        .unwrap_or_else(|printed| panic!("kubepg serve exited:\n{printed}"));
    let _server = common::Server { child, port };

    let printed =
        common::serve(&["--demo", "--tls-required"], &[]).expect_err("TLS without a certificate");
    assert!(
        printed.contains("TLS needs both a certificate and its key"),
        "{printed}"
    );
}

/// `SELECT count(*) FROM pods` through `kubeconfig`, with `home`'s discovery cache; its stderr.
fn count_pods(home: std::path::PathBuf, kubeconfig: std::path::PathBuf, ttl: &str) -> String {
    let mut cmd = common::isolated("query", &home);
    cmd.arg("--kubeconfig")
        .arg(kubeconfig)
        .args(["--discovery-ttl", ttl, "--request-timeout", "3"])
        .args(["-q", "SELECT count(*) FROM pods"]);
    String::from_utf8(cmd.output().unwrap().stderr).unwrap()
}

#[tokio::test]
async fn a_query_over_a_cluster_that_is_down_names_the_cluster_not_a_missing_table() {
    let env = TestClusters::shared_seeded();
    let home = tempfile::tempdir().unwrap();
    let at = home.path().to_path_buf();
    // Never discovered: the cluster is unreachable, not the table unknown.
    let dead = env.dead_kubeconfig().unwrap();
    let (h, k) = (at.clone(), dead);
    let err = tokio::task::spawn_blocking(move || count_pods(h, k, "600"))
        .await
        .unwrap();
    assert!(
        err.contains("ERROR 58000: cluster dead is unavailable"),
        "{err}"
    );
    assert!(!err.contains("42P01"), "{err}");

    // Discovered once, then down (its discovery is stale): its tables still resolve and the
    // query answers the cluster's own failure.
    let proxy = FaultProxy::start(env.cluster("c1")).await.unwrap();
    let kubeconfig = proxy.kubeconfig(env, "flaky").unwrap();
    let (h, k) = (at.clone(), kubeconfig.clone());
    let err = tokio::task::spawn_blocking(move || count_pods(h, k, "600"))
        .await
        .unwrap();
    assert!(!err.contains("ERROR"), "{err}");
    drop(proxy);
    let err = tokio::task::spawn_blocking(move || count_pods(at, kubeconfig, "0"))
        .await
        .unwrap();
    assert!(err.contains("ERROR 58000: cluster flaky"), "{err}");
}

/// The README's ```sql blocks, in order.
fn readme_sql_blocks(readme: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut rest = readme;
    while let Some(start) = rest.find("```sql\n") {
        let body = &rest[start + "```sql\n".len()..];
        let end = body.find("```").expect("a closed code block");
        blocks.push(body[..end].to_string());
        rest = &body[end..][3..];
    }
    blocks
}

#[test]
fn every_sql_example_of_the_readme_runs_on_the_demo() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .expect("the README");
    let blocks = readme_sql_blocks(&readme);
    assert!(blocks.len() >= 4, "{blocks:?}");
    for block in &blocks {
        let (code, out, err) = query(&["--demo", "-q", block], &[], "");
        if block.trim_start().starts_with("LISTEN") {
            // As the README says: a snapshot never changes, so there is nothing to follow.
            assert!(err.contains("ERROR 0A000"), "{block}\n{err}");
            continue;
        }
        assert_eq!(code, Some(0), "{block}\n{err}");
        assert!(!out.trim().is_empty(), "{block}: no output");
    }
    // The README's `kubepg query --demo` command lines, run as a shell would.
    let lines: Vec<&str> = readme
        .lines()
        .filter(|l| l.starts_with("kubepg query --demo"))
        .collect();
    assert!(!lines.is_empty());
    let home = tempfile::tempdir().unwrap();
    for line in lines {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(line.replacen("kubepg", &common::kubepg().display().to_string(), 1))
            .env("HOME", home.path())
            .env_remove("KUBECONFIG")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && !stdout.trim().is_empty(),
            "{line}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
