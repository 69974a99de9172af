//! `kubepg query` output formats over the embedded demo cluster: typed JSON, YAML that parses
//! back with nested jsonb, CSV quoting, the table footer, and several statements from a file.

use crate::common;

use serde_json::{Value, json};

#[test]
fn demo_answers_with_typed_json() {
    let run = common::query([
        "--demo",
        "-q",
        "SELECT name, ready, cpu_capacity, memory_capacity FROM nodes ORDER BY name",
        "-o",
        "json",
    ]);
    let rows = run.json();
    let names: Vec<&str> = rows.iter().filter_map(|r| r["name"].as_str()).collect();
    assert_eq!(names, ["node-a1", "node-a2", "node-b1", "node-c1"]);
    let a2 = rows
        .iter()
        .find(|r| r["name"] == "node-a2")
        .expect("node-a2");
    // Real JSON types, not text: a float for cores, an integer for bytes, a boolean.
    assert_eq!(a2["cpu_capacity"].as_f64(), Some(8.0), "{a2}");
    assert!(a2["cpu_capacity"].is_f64(), "{a2}");
    assert_eq!(a2["memory_capacity"].as_i64(), Some(34_359_738_368), "{a2}");
    assert!(a2["memory_capacity"].is_i64(), "{a2}");
    assert_eq!(a2["ready"], Value::Bool(true), "{a2}");
    // Keys come in the order of the select list (the raw text, since a parsed map may sort).
    let first_line = run.stdout.lines().nth(1).expect("a first row");
    let positions: Vec<usize> = [
        "\"name\"",
        "\"ready\"",
        "\"cpu_capacity\"",
        "\"memory_capacity\"",
    ]
    .iter()
    .map(|k| {
        first_line
            .find(k)
            .unwrap_or_else(|| panic!("{k} in {first_line}"))
    })
    .collect();
    assert!(positions.is_sorted(), "keys out of order: {first_line}");
    assert!(run.stderr.is_empty(), "{}", run.stderr);
}

#[test]
fn yaml_output_parses_back_with_jsonb_as_mappings() {
    let run = common::query([
        "--demo",
        "-q",
        "SELECT namespace, name, replicas, labels FROM deployments WHERE namespace = 'shop' ORDER BY name",
        "-o",
        "yaml",
    ]);
    let rows: Value = serde_saphyr::from_str(run.ok())
        .unwrap_or_else(|e| panic!("not YAML ({e}):\n{}", run.stdout));
    assert_eq!(
        rows,
        json!([
            {"namespace": "shop", "name": "api", "replicas": 2, "labels": {"app": "api", "team": "web"}},
            {"namespace": "shop", "name": "cart", "replicas": 2, "labels": {"app": "cart", "team": "web"}},
            {"namespace": "shop", "name": "web", "replicas": 3, "labels": {"app": "web", "team": "web"}},
        ])
    );

    let run = common::query([
        "--demo",
        "-q",
        "SELECT name, labels FROM namespaces WHERE name = 'shop'",
        "-o",
        "yaml",
    ]);
    // A block mapping nested under the row, not a JSON string.
    assert!(
        run.ok()
            .contains("  labels:\n    env: prod\n    team: web\n"),
        "{}",
        run.stdout
    );
    let rows: Value = serde_saphyr::from_str(&run.stdout).expect("YAML");
    assert_eq!(
        rows,
        json!([{"name": "shop", "labels": {"env": "prod", "team": "web"}}])
    );
}

#[test]
fn csv_quotes_jsonb_and_leaves_out_headers_on_request() {
    let sql =
        "SELECT name, labels FROM namespaces WHERE name IN ('shop', 'payments') ORDER BY name";
    let with_headers = common::query(["--demo", "-q", sql, "-o", "csv"]);
    assert_eq!(
        with_headers.ok(),
        "name,labels\n\
         payments,\"{\"\"env\"\": \"\"prod\"\", \"\"team\"\": \"\"payments\"\"}\"\n\
         shop,\"{\"\"env\"\": \"\"prod\"\", \"\"team\"\": \"\"web\"\"}\"\n"
    );
    let without = common::query(["--demo", "-q", sql, "-o", "csv", "--no-headers"]);
    assert_eq!(
        without.ok(),
        with_headers
            .stdout
            .split_once('\n')
            .expect("a header line")
            .1
    );
    // An empty result still has its header line, and nothing else.
    let empty = common::query([
        "--demo",
        "-q",
        "SELECT name, labels FROM namespaces WHERE name = 'nope'",
        "-o",
        "csv",
    ]);
    assert_eq!(empty.ok(), "name,labels\n");
}

#[test]
fn table_output_aligns_columns_and_counts_rows() {
    let run = common::query([
        "--demo",
        "-q",
        "SELECT name, ready FROM nodes WHERE name LIKE 'node-a%' ORDER BY name",
    ]);
    assert_eq!(
        run.ok(),
        "name    | ready\n\
         --------+------\n\
         node-a1 | t\n\
         node-a2 | t\n\
         (2 rows)\n"
    );
    let one = common::query([
        "--demo",
        "-q",
        "SELECT count(*) AS pods FROM pods",
        "-o",
        "table",
    ]);
    assert_eq!(one.ok(), "pods\n----\n52\n(1 row)\n");
    let bare = common::query([
        "--demo",
        "-q",
        "SELECT count(*) AS pods FROM pods",
        "--no-headers",
    ]);
    assert_eq!(bare.ok(), "52\n");
}

#[test]
fn a_file_with_two_statements_runs_both_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("report.sql");
    std::fs::write(
        &file,
        "-- nodes first, then a count\n\
         SELECT name FROM nodes WHERE NOT ready;\n\
         SELECT count(*) AS namespaces FROM namespaces WHERE name LIKE 'team-%';\n",
    )
    .unwrap();
    let run = common::query([
        "--demo".as_ref(),
        "-f".as_ref(),
        file.as_os_str(),
        "-o".as_ref(),
        "csv".as_ref(),
    ]);
    assert_eq!(run.ok(), "name\nnode-b1\nnamespaces\n12\n");

    // The first statement's rows are printed before a later statement fails.
    std::fs::write(
        &file,
        "SELECT name FROM nodes WHERE NOT ready; SELECT * FROM no_such_table;",
    )
    .unwrap();
    let run = common::query([
        "--demo".as_ref(),
        "-f".as_ref(),
        file.as_os_str(),
        "-o".as_ref(),
        "csv".as_ref(),
    ]);
    assert_eq!(
        (run.code, run.stdout.as_str()),
        (Some(1), "name\nnode-b1\n"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.lines().any(|l| l.starts_with("ERROR 42P01: ")),
        "{}",
        run.stderr
    );
}
