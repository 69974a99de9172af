//! What `kubepg query` refuses and hides: writes, local files, bad SQL, and secret values.

use crate::common;

use serde_json::json;

#[test]
fn refused_and_invalid_statements_fail_with_their_sqlstates_and_print_nothing() {
    for (sql, state, says) in [
        ("DROP TABLE pods", "25006", "read-only"),
        ("DELETE FROM pods", "25006", "read-only"),
        ("INSERT INTO pods (name) VALUES ('x')", "25006", "read-only"),
        (
            "CREATE EXTERNAL TABLE t STORED AS CSV LOCATION '/etc/passwd'",
            "42501",
            "local files",
        ),
        (
            "COPY (SELECT 1) TO '/tmp/kubepg-e2e-out.csv'",
            "42501",
            "permission denied",
        ),
        ("SELECT * FROM no_such_table", "42P01", "no_such_table"),
        ("SELEC name FROM pods", "42601", "SELEC"),
    ] {
        let run = common::query(["--demo", "-q", sql, "-o", "json"]);
        let stderr = run.error(state);
        assert!(stderr.contains(says), "{sql}: {stderr}");
    }
    assert!(!std::path::Path::new("/tmp/kubepg-e2e-out.csv").exists());
}

#[test]
fn a_refused_statement_stops_the_statements_after_it() {
    let run = common::query([
        "--demo",
        "-q",
        "DROP TABLE pods; SELECT count(*) FROM pods",
        "-o",
        "csv",
    ]);
    let stderr = run.error("25006");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

#[test]
fn secret_values_are_redacted_unless_shown_on_request() {
    let sql = "SELECT name, data FROM secrets WHERE name IN ('db-credentials', 'api-token') ORDER BY name";
    let hidden = common::query(["--demo", "-q", sql, "-o", "json"]);
    assert_eq!(
        hidden.json(),
        [
            json!({"name": "api-token", "data": {"token": "<redacted>"}}),
            json!({"name": "db-credentials",
                   "data": {"password": "<redacted>", "username": "<redacted>"}}),
        ]
    );
    // Extracting a value does not get around the redaction.
    let extracted = common::query([
        "--demo",
        "-q",
        "SELECT data->>'password' AS password FROM secrets WHERE name = 'db-credentials'",
        "-o",
        "csv",
        "--no-headers",
    ]);
    assert_eq!(extracted.ok(), "<redacted>\n");
    assert!(!extracted.stdout.contains("aHVudGVyMg=="));

    let shown = common::query(["--demo", "--show-secrets", "-q", sql, "-o", "json"]);
    assert_eq!(
        shown.json(),
        [
            json!({"name": "api-token", "data": {"token": "czNjcjN0LXQwa2Vu"}}),
            json!({"name": "db-credentials",
                   "data": {"password": "aHVudGVyMg==", "username": "c2hvcA=="}}),
        ]
    );
}

#[test]
fn a_refused_setting_reads_as_kubepg_says_it() {
    let out = common::query(["--demo", "-q", "SET kubepg.consistency = 'bogus'"]);
    let stderr = out.error("22023");
    assert!(
        stderr
            .contains("ERROR 22023: invalid value for parameter \"kubepg.consistency\": \"bogus\""),
        "{stderr}"
    );
}
