"""Grafana's PostgreSQL data source against a PostgreSQL endpoint: its table and column pickers
exactly as it builds them, and panel queries after its macro expansion. Run through psycopg 3
with no parameters, so each goes over the simple query protocol, as Grafana's Go driver
(lib/pq, simpleQuery) sends them.

Sources (grafana/grafana):
  * public/app/plugins/datasource/grafana-postgresql-datasource/postgresMetaQuery.ts
      getVersion, getTimescaleDBVersion, showSchemas, showTables(schema?), getSchema(table),
      buildSchemaConstraint  -- copied verbatim below (template literals, same whitespace).
  * pkg/tsdb/grafana-postgresql-datasource/macros.go  postgresMacroEngine.Interpolate /
      evaluateMacro: $__time, $__timeEpoch, $__timeFilter (BETWEEN RFC3339Nano UTC literals),
      $__timeFrom, $__timeTo, $__timeGroup (floor(extract(epoch from col)/s)*s, or
      __timeGroupAlias when followed by ','), $__timeGroupAlias (... AS "time"),
      $__unixEpochFilter (col >= from AND col <= to), $__unixEpochGroup(Alias) -- reimplemented
      here line for line (the regex, the ',' rule, %v of interval.Seconds()).
  * lib/pq conn_go18.go (*conn).Ping: simpleQuery(";") -- the data source health check.

Usage: grafana_check.py [DSN] (or COMPAT_DSN, or --host/--port/--dbname/--user/--password).
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import psycopg

from _harness import POD_COLUMNS, Checks, expect, expect_eq, expect_superset, target

T = target()
checks = Checks("grafana")


# ---- postgresMetaQuery.ts, verbatim -------------------------------------------------------------

def getVersion():
    return "SELECT current_setting('server_version_num')::int/100 as version"


def getTimescaleDBVersion():
    return "SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'"


def showSchemas():
    return """SELECT schema_name AS "name"
    FROM information_schema.schemata
    WHERE schema_name NOT IN ('information_schema',
                              'pg_catalog',
                              'pg_toast',
                              '_timescaledb_cache',
                              '_timescaledb_catalog',
                              '_timescaledb_internal',
                              '_timescaledb_config',
                              'timescaledb_information',
                              'timescaledb_experimental')
    ORDER BY schema_name"""


def buildSchemaConstraint():
    # quote_ident protects hyphenated schemes
    return """
          quote_ident(table_schema) IN (
          SELECT
            CASE WHEN trim(s[i]) = '"$user"' THEN user ELSE trim(s[i]) END
          FROM
            generate_series(
              array_lower(string_to_array(current_setting('search_path'),','),1),
              array_upper(string_to_array(current_setting('search_path'),','),1)
            ) as i,
            string_to_array(current_setting('search_path'),',') s
          )"""


def showTables(schema: str | None = None):
    if schema:
        schemaPart = "'" + schema.replace("'", "''") + "'"
        return f"""SELECT quote_ident(table_name) AS "table"
      FROM information_schema.tables
      WHERE quote_ident(table_schema) = {schemaPart}
      ORDER BY 1"""
    return f"""SELECT
    CASE WHEN {buildSchemaConstraint()}
      THEN quote_ident(table_name)
      ELSE quote_ident(table_schema) || '.' || quote_ident(table_name)
    END AS "table"
    FROM information_schema.tables
    WHERE quote_ident(table_schema) NOT IN ('information_schema',
                             'pg_catalog',
                             '_timescaledb_cache',
                             '_timescaledb_catalog',
                             '_timescaledb_internal',
                             '_timescaledb_config',
                             'timescaledb_information',
                             'timescaledb_experimental')
    ORDER BY CASE WHEN {buildSchemaConstraint()} THEN 0 ELSE 1 END, 1"""


def getSchema(table: str):
    tableNamePart = "'" + table.replace("'", "''") + "'"
    return f"""SELECT quote_ident(column_name) AS "column", data_type AS "type"
    FROM information_schema.columns
    WHERE
      CASE WHEN array_length(parse_ident({tableNamePart}),1) = 2
        THEN quote_ident(table_schema) = (parse_ident({tableNamePart}))[1]
          AND quote_ident(table_name) = (parse_ident({tableNamePart}))[2]
        ELSE quote_ident(table_name) = {tableNamePart}
          AND {buildSchemaConstraint()}
      END"""


# ---- macros.go, line for line -------------------------------------------------------------------

sExpr = r"\$([_a-zA-Z0-9]+)\(([^\)]*)\)"


def go_rfc3339nano(t: dt.datetime) -> str:
    # time.RFC3339Nano of a UTC time: trailing zeros of the fraction dropped, "Z" for UTC
    s = t.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    if t.microsecond:
        s += ("." + f"{t.microsecond:06d}").rstrip("0")
    return s + "Z"


def go_v(seconds: float) -> str:
    # fmt %v of a float64: 3600 -> "3600", 0.5 -> "0.5"
    return repr(seconds).removesuffix(".0") if seconds == int(seconds) else repr(seconds)


def parse_interval(s: str) -> float:
    # gtime.ParseInterval, for the units panels use
    m = re.fullmatch(r"(\d+)(ms|s|m|h|d|w|y)", s)
    if not m:
        raise ValueError(f"error parsing interval {s}")
    n, unit = int(m.group(1)), m.group(2)
    return n * {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}[unit]


def evaluate_macro(frm: dt.datetime, to: dt.datetime, name: str, args: list[str]) -> str:
    if name == "__time":
        return f'{args[0]} AS "time"'
    if name == "__timeEpoch":
        return f'extract(epoch from {args[0]}) as "time"'
    if name == "__timeFilter":
        return f"{args[0]} BETWEEN '{go_rfc3339nano(frm)}' AND '{go_rfc3339nano(to)}'"
    if name == "__timeFrom":
        return f"'{go_rfc3339nano(frm)}'"
    if name == "__timeTo":
        return f"'{go_rfc3339nano(to)}'"
    if name == "__timeGroup":
        if len(args) < 2:
            raise ValueError(f"macro {name} needs time column and interval and optional fill value")
        secs = parse_interval(args[1].strip("'"))
        return f"floor(extract(epoch from {args[0]})/{go_v(secs)})*{go_v(secs)}"
    if name == "__timeGroupAlias":
        return evaluate_macro(frm, to, "__timeGroup", args) + ' AS "time"'
    if name == "__unixEpochFilter":
        f, t = int(frm.timestamp()), int(to.timestamp())
        return f"{args[0]} >= {f} AND {args[0]} <= {t}"
    if name == "__unixEpochGroup":
        secs = parse_interval(args[1].strip("'"))
        return f"floor(({args[0]})/{go_v(secs)})*{go_v(secs)}"
    if name == "__unixEpochGroupAlias":
        return evaluate_macro(frm, to, "__unixEpochGroup", args) + ' AS "time"'
    raise ValueError(f"unknown macro {name!r}")


def interpolate(sql: str, frm: dt.datetime, to: dt.datetime) -> str:
    original = sql

    def repl(m: re.Match) -> str:
        name = m.group(1)
        if name == "__timeGroup":
            index = original.find(m.group(0))
            if index >= 0:
                index += len(m.group(0))
                if len(original) > index and original[index] == ",":
                    name = "__timeGroupAlias"
        args = [a.strip(" ") for a in m.group(2).split(",")]
        return evaluate_macro(frm, to, name, args)

    return re.sub(sExpr, repl, sql)


FROM = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
TO = dt.datetime(2024, 1, 8, tzinfo=dt.timezone.utc)


def query(sql: str):
    with psycopg.connect(T.dsn, autocommit=True) as conn:
        cur = conn.execute(sql)  # no parameters: psycopg sends it as a simple Query message
        return [d.name for d in cur.description] if cur.description else [], cur.fetchall() if cur.description else []


@checks.check("health.ping")
def _():
    with psycopg.connect(T.dsn, autocommit=True) as conn:
        cur = conn.execute(";")
        expect(cur.description is None, "';' returned a row description")


@checks.check("getVersion")
def _():
    cols, rows = query(getVersion())
    expect_eq(cols, ["version"], "columns")
    expect(isinstance(rows[0][0], int) and rows[0][0] >= 900, f"version {rows[0][0]!r}")


@checks.check("getTimescaleDBVersion")
def _():
    cols, rows = query(getTimescaleDBVersion())
    expect_eq(cols, ["extversion"], "columns")
    expect_eq(rows, [], "timescaledb version rows")


@checks.check("showSchemas")
def _():
    cols, rows = query(showSchemas())
    expect_eq(cols, ["name"], "columns")
    names = [r[0] for r in rows]
    expect_superset(names, {"public", "kubepg"}, "schemas")
    expect(names == sorted(names), f"not ordered: {names}")


@checks.check("showTables")
def _():
    cols, rows = query(showTables())
    expect_eq(cols, ["table"], "columns")
    tables = [r[0] for r in rows]
    # search_path is "$user", public: the resource tables come back unqualified.
    expect_superset(tables, {"pods", "deployments", "nodes", "configmaps"}, "unqualified resource tables")
    expect(not any(t.startswith(("pg_catalog.", "information_schema.")) for t in tables), "system tables listed")
    kubepg = [t for t in tables if t in ("clusters", "resources", "kubepg.clusters", "kubepg.resources")]
    expect_eq(len(kubepg), 2, f"kubepg's tables (qualified or not) in {tables}")


@checks.check("showTables.public")
def _():
    cols, rows = query(showTables("public"))
    expect_eq(cols, ["table"], "columns")
    tables = [r[0] for r in rows]
    expect_superset(tables, {"pods", "deployments", "nodes", "configmaps"}, "tables of public")
    expect(tables == sorted(tables), f"not ordered: {tables}")


@checks.check("showTables.kubepg")
def _():
    _, rows = query(showTables("kubepg"))
    expect_superset([r[0] for r in rows], {"clusters", "resources", "tables", "changes"}, "tables of kubepg")


WANT_DATA_TYPES = {
    "_cluster": "text", "created": "timestamp with time zone", "generation": "bigint", "labels": "jsonb",
    "ready": "boolean", "restarts": "bigint", "cpu_request": "double precision", "status": "jsonb",
}


def column_picker(table: str):
    cols, rows = query(getSchema(table))
    expect_eq(cols, ["column", "type"], "columns")
    got = dict(rows)
    expect_eq(sorted(got), sorted(POD_COLUMNS), f"columns of {table}")
    for c, t in WANT_DATA_TYPES.items():
        expect_eq(got[c], t, f"data_type of {c}")


checks.run("getSchema.pods", column_picker, "pods")
checks.run("getSchema.public.pods", column_picker, "public.pods")


@checks.check("getSchema.kubepg.clusters")
def _():
    _, rows = query(getSchema("kubepg.clusters"))
    expect_eq(sorted(r[0] for r in rows), ["error", "in_scope", "name", "reachable", "resources"], "columns")


@checks.check("macro.expansion")
def _():
    got = interpolate("SELECT $__timeGroup(created, 1h), count(*) FROM pods WHERE $__timeFilter(created) GROUP BY 1", FROM, TO)
    want = ("SELECT floor(extract(epoch from created)/3600)*3600 AS \"time\", count(*) FROM pods "
            "WHERE created BETWEEN '2024-01-01T00:00:00Z' AND '2024-01-08T00:00:00Z' GROUP BY 1")
    expect_eq(got, want, "expanded")


def panel(name: str, sql: str, want_cols: list[str], check_rows):
    def run():
        expanded = interpolate(sql, FROM, TO)
        expect("$__" not in expanded, f"unexpanded macro in {expanded}")
        cols, rows = query(expanded)
        expect_eq(cols, want_cols, f"columns of {expanded}")
        check_rows(rows)

    checks.run(name, run)


def rows_time_series(rows):
    expect(rows, "no rows")
    for r in rows:
        expect(isinstance(r[0], (int, float, Decimal)), f"time bucket {r[0]!r} is not a number")
    expect_eq(sum(r[1] for r in rows), 3, "pods in range")


panel("timeFilter", "SELECT $__time(created), name FROM pods WHERE $__timeFilter(created) ORDER BY 1",
      ["time", "name"], lambda rows: expect_eq([r[1] for r in rows], ["web-0", "web-1", "db-0"], "names"))
panel("timeGroup", "SELECT $__timeGroup(created, '1h') AS time, count(*) AS pods FROM pods WHERE $__timeFilter(created) GROUP BY 1 ORDER BY 1",
      ["time", "pods"], rows_time_series)
panel("timeGroup.comma_alias", "SELECT $__timeGroup(created,1d), count(*) AS pods FROM pods WHERE $__timeFilter(created) GROUP BY 1 ORDER BY 1",
      ["time", "pods"], rows_time_series)
panel("timeGroupAlias", "SELECT $__timeGroupAlias(created,5m), count(restarts) AS \"restarts\" FROM pods WHERE $__timeFilter(created) GROUP BY 1 ORDER BY 1",
      ["time", "restarts"], lambda rows: expect_eq(sum(r[1] for r in rows), 3, "restarts counted"))
panel("timeEpoch", "SELECT $__timeEpoch(created), restarts FROM pods WHERE $__timeFilter(created) ORDER BY 1",
      ["time", "restarts"], lambda rows: expect_eq(len(rows), 3, "rows"))
panel("timeFrom_timeTo", "SELECT count(*) AS n FROM pods WHERE created >= $__timeFrom() AND created < $__timeTo()",
      ["n"], lambda rows: expect_eq(rows, [(3,)], "count"))
panel("unixEpochFilter",
      "SELECT epoch AS time, name FROM (SELECT extract(epoch from created)::int8 AS epoch, name FROM pods) p WHERE $__unixEpochFilter(epoch) ORDER BY 1",
      ["time", "name"], lambda rows: expect_eq([r[1] for r in rows], ["web-0", "web-1", "db-0"], "names"))
panel("unixEpochGroupAlias",
      "SELECT $__unixEpochGroupAlias(epoch,1h), count(*) AS n FROM (SELECT extract(epoch from created)::int8 AS epoch FROM pods) p WHERE $__unixEpochFilter(epoch) GROUP BY 1 ORDER BY 1",
      ["time", "n"], lambda rows: expect_eq(sum(r[1] for r in rows), 3, "pods in range"))
panel("table_panel.jsonb",
      "SELECT name, namespace, labels->>'app' AS app, status->>'phase' AS phase FROM pods WHERE $__timeFilter(created) ORDER BY name",
      ["name", "namespace", "app", "phase"], lambda rows: expect_eq(rows[0], ("db-0", "data", "db", "Succeeded"), "first row"))

checks.finish()
