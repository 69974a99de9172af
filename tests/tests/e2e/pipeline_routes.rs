//! One statement list through every way into kubepg — the simple protocol, the extended
//! protocol and `kubepg query` — gives the same answers, and the right ones: SET/SHOW/RESET,
//! `current_setting()` and `pg_settings` agree for a setting of each kind, cursors page, a
//! failed transaction block refuses with 25P02 until ROLLBACK, and refusals carry their
//! SQLSTATEs.

use serde_json::Value;

use crate::common;

/// What one route answered for one statement: its tag (protocols only), rows, or SQLSTATE.
fn answers(got: &Value, route: &str) -> Vec<Vec<Value>> {
    got[route]
        .as_array()
        .unwrap_or_else(|| panic!("no {route} answers: {got}"))
        .iter()
        .map(|g| g.as_array().cloned().unwrap_or_default())
        .collect()
}

fn rows(answer: &Value) -> Vec<Vec<String>> {
    answer["rows"]
        .as_array()
        .map(|rows| {
            rows.iter()
                .map(|r| {
                    r.as_array()
                        .unwrap()
                        .iter()
                        .map(|c| c.as_str().unwrap().to_string())
                        .collect()
                })
                .collect()
        })
        .unwrap_or_default()
}

fn one(value: &str) -> Vec<Vec<String>> {
    vec![vec![value.to_string()]]
}

#[test]
fn one_statement_list_answers_the_same_through_every_route() {
    // No default timeout, so that RESET means the same to the server and to `kubepg query`.
    let server = common::server(&[
        "--demo",
        "--listen",
        "127.0.0.1:0",
        "--health-listen",
        "off",
        "--statement-timeout",
        "0",
    ]);
    let got = common::python_client(
        "pipeline_check.py",
        server.port,
        [common::kubepg().as_os_str(), "--demo".as_ref()],
    );
    let statements = got["statements"].as_array().unwrap().clone();
    let simple = answers(&got, "simple");
    let extended = answers(&got, "extended");
    let query = answers(&got, "query");

    // The two protocols agree on everything, tags included.
    for (i, group) in statements.iter().enumerate() {
        for (j, sql) in group.as_array().unwrap().iter().enumerate() {
            assert_eq!(simple[i][j], extended[i][j], "{sql}: simple vs extended");
        }
    }
    // `kubepg query` agrees on rows and errors up to its first error, where it stops.
    for (i, group) in statements.iter().enumerate() {
        for (j, sql) in group.as_array().unwrap().iter().enumerate() {
            let Some(q) = query[i].get(j) else { break };
            match simple[i][j].get("error") {
                Some(code) => {
                    assert_eq!(q.get("error"), Some(code), "{sql}: kubepg query");
                    break;
                }
                None => assert_eq!(rows(q), rows(&simple[i][j]), "{sql}: kubepg query"),
            }
        }
    }

    let s = &simple;
    // A setting of each kind reads the same through SHOW, current_setting() and pg_settings.
    for (first, value) in [(1, "7s"), (5, "cached"), (9, "1024")] {
        for k in first..first + 3 {
            assert_eq!(rows(&s[0][k]), one(value), "{}", statements[0][k]);
        }
    }
    assert_eq!(s[0][0]["tag"], "SET");
    assert_eq!(
        rows(&s[0][13]),
        one("0"),
        "RESET returns to the server's default"
    );

    // The cursor pages forward: 4 demo nodes, 2 fetched, 1 skipped, the last one left.
    let cursor = &s[1];
    assert_eq!(cursor[1]["tag"], "DECLARE CURSOR");
    assert_eq!(rows(&cursor[2]).len(), 2);
    assert_eq!(cursor[2]["tag"], "FETCH 2");
    assert_eq!(cursor[3]["tag"], "MOVE 1");
    assert_eq!(rows(&cursor[4]).len(), 1);
    assert_eq!(cursor[6]["tag"], "COMMIT");

    assert_eq!(rows(&s[2][1]), vec![vec!["1".to_string(), "x".to_string()]]);
    assert_eq!(s[2][0]["tag"], "SELECT 1");

    // A failed block refuses everything with 25P02 until ROLLBACK.
    let failed = &s[3];
    assert_eq!(failed[1]["error"], "42P01");
    assert_eq!(failed[2]["error"], "25P02");
    assert_eq!(failed[3]["tag"], "ROLLBACK");
    assert_eq!(rows(&failed[4]), one("2"));

    let refusals: Vec<&str> = s[4..]
        .iter()
        .map(|g| g[0]["error"].as_str().unwrap_or("none"))
        .collect();
    assert_eq!(
        refusals,
        [
            "25006", // DROP TABLE
            "25006", // COPY FROM STDIN
            "25006", // NOTIFY
            "42P01", // unknown table
            "21000", // a scalar subquery with two rows, as PostgreSQL refuses it
            "0A000", // LISTEN on a snapshot
            "22023", // a bad label selector
            "42704", // an unknown setting
            "22023", // a timeout past what a timeout can be
            "55P02", // a read-only setting
            "34000", // an unknown cursor
        ]
    );
}
