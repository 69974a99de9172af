"""psycopg 3 against kubepg: parameters, binary results, prepared statements, a server-side
cursor, COPY and LISTEN. Prints one JSON object of what it read; the Rust suite asserts on it.

Arguments: the connection string, then the kubectl arguments (kubeconfig, context) that make the
change LISTEN is to hear."""

import json
import subprocess
import sys

import psycopg

conn = psycopg.connect(sys.argv[1])
out = {}

cur = conn.cursor()
cur.execute(
    "SELECT name FROM pods WHERE namespace = %s AND restarts >= %s ORDER BY name",
    ("shop", 0),
)
out["params"] = [r[0] for r in cur.fetchall()]

bcur = conn.cursor(binary=True)
bcur.execute(
    "SELECT name, created, labels, restarts, ready FROM pods WHERE namespace = %s ORDER BY name LIMIT 1",
    ("shop",),
)
name, created, labels, restarts, ready = bcur.fetchone()
out["binary"] = {
    "name": name,
    "created_tz": created.tzinfo is not None,
    "labels": labels,
    "restarts": restarts,
    "ready_type": type(ready).__name__,
}
out["binary_types"] = [d.type_code for d in bcur.description]

out["prepared"] = [
    cur.execute(
        "SELECT count(*) FROM pods WHERE namespace = %s", ("shop",), prepare=True
    ).fetchone()[0]
    for _ in range(7)
]

with conn.transaction():
    with conn.cursor(name="pods_cursor") as server:
        server.execute("SELECT name FROM pods WHERE namespace = %s ORDER BY name", ("shop",))
        out["server_cursor"] = [
            [r[0] for r in server.fetchmany(2)],
            [r[0] for r in server.fetchmany(2)],
        ]
        out["server_cursor_columns"] = [d.name for d in server.description]

rows = []
with cur.copy(
    "COPY (SELECT name, namespace FROM pods WHERE namespace = 'shop' ORDER BY name) TO STDOUT"
) as copy:
    for row in copy.rows():
        rows.append(list(row))
out["copy_rows"] = rows

csv = b""
with cur.copy(
    "COPY (SELECT name FROM pods WHERE namespace = 'shop' ORDER BY name) TO STDOUT WITH (FORMAT csv, HEADER)"
) as copy:
    for chunk in copy:
        csv += bytes(chunk)
out["copy_csv"] = csv.decode()

try:
    cur.execute("SELECT * FROM no_such_table")
except psycopg.Error as e:
    out["error"] = e.sqlstate
conn.rollback()
out["after_error"] = cur.execute("SELECT count(*) FROM namespaces").fetchone()[0]
out["server_version"] = conn.info.server_version

# psycopg's own type lookup (to_regtype), which SQLAlchemy's psycopg dialect runs on connect.
info = psycopg.types.TypeInfo.fetch(conn, "jsonb")
out["type_info"] = [info.name, info.oid, info.array_oid]
out["format"] = cur.execute(
    "SELECT format('%s.%I', 'public', 'Pods'), quote_ident('Weird'), pg_typeof(created) FROM pods LIMIT 1"
).fetchone()
# Grafana's column picker for an unqualified table (postgresMetaQuery.ts getSchema, verbatim):
# the search-path constraint must keep the tables of the path.
out["grafana_columns"] = [
    r[0]
    for r in cur.execute(
        """SELECT quote_ident(column_name) AS "column", data_type AS "type"
    FROM information_schema.columns
    WHERE
      CASE WHEN array_length(parse_ident('pods'),1) = 2
        THEN quote_ident(table_schema) = (parse_ident('pods'))[1]
          AND quote_ident(table_name) = (parse_ident('pods'))[2]
        ELSE quote_ident(table_name) = 'pods'
          AND
          quote_ident(table_schema) IN (
          SELECT
            CASE WHEN trim(s[i]) = '"$user"' THEN user ELSE trim(s[i]) END
          FROM
            generate_series(
              array_lower(string_to_array(current_setting('search_path'),','),1),
              array_upper(string_to_array(current_setting('search_path'),','),1)
            ) as i,
            string_to_array(current_setting('search_path'),',') s
          )
      END"""
    ).fetchall()
]
# Superset's time-range filter (db_engine_specs/postgres.py convert_dttm: TO_TIMESTAMP with
# PostgreSQL's template, the datetime as isoformat(sep=" ", timespec="microseconds")).
out["superset_time_filter"] = cur.execute(
    "SELECT count(*) FROM pods WHERE namespace = 'shop'"
    " AND created >= TO_TIMESTAMP('2000-01-01 00:00:00.000000', 'YYYY-MM-DD HH24:MI:SS.US')"
    " AND created < TO_TIMESTAMP('2100-01-01 00:00:00.000000', 'YYYY-MM-DD HH24:MI:SS.US')"
    " AND created >= TO_DATE('2000-01-01', 'YYYY-MM-DD')"
).fetchone()[0]
# Metabase's describe-fields reads the primary key so (metabase/driver/postgres.clj, as
# HoneySQL renders it).
out["primary_key"] = [
    r[0]
    for r in cur.execute(
        'SELECT "kc"."column_name" FROM "information_schema"."table_constraints" AS "tc"'
        ' INNER JOIN "information_schema"."key_column_usage" AS "kc"'
        ' ON ("tc"."constraint_name" = "kc"."constraint_name") AND ("tc"."table_schema" = "kc"."table_schema")'
        ' AND ("tc"."table_name" = "kc"."table_name")'
        " WHERE \"tc\".\"constraint_type\" = 'PRIMARY KEY' AND \"tc\".\"table_name\" = 'pods'"
        ' ORDER BY "kc"."ordinal_position"'
    ).fetchall()
]
out["column_flags"] = cur.execute(
    "SELECT udt_schema, udt_name, is_identity, is_generated FROM information_schema.columns"
    " WHERE table_name = 'pods' AND column_name = 'labels'"
).fetchone()
# SQLAlchemy's schema listing escapes LIKE with '/'.
out["like_escape"] = [
    r[0]
    for r in cur.execute(
        "SELECT nspname FROM pg_catalog.pg_namespace WHERE nspname NOT LIKE 'pg/_' || '%%' ESCAPE '/' ORDER BY 1"
    ).fetchall()
]

# LISTEN as psycopg's documentation shows it: an autocommit connection, then notifies().
listener = psycopg.connect(sys.argv[1], autocommit=True)
listener.execute('LISTEN "configmaps/shop"')
kubectl = ["kubectl", "--kubeconfig", sys.argv[2], "--context", sys.argv[3], "-n", "shop"]
subprocess.run(kubectl + ["create", "configmap", "psycopg-listen", "--from-literal=k=v"], check=True, capture_output=True)
heard = []
for n in listener.notifies(timeout=60, stop_after=1):
    heard.append({"channel": n.channel, "pid": n.pid, "payload": json.loads(n.payload)})
subprocess.run(kubectl + ["delete", "configmap", "psycopg-listen"], check=True, capture_output=True)
out["notifies"] = heard
out["listener_pid"] = listener.info.backend_pid

print(json.dumps(out))
