"""Apache Superset against a PostgreSQL endpoint, replayed without installing Superset (far too
heavy for a test): its engine spec's SQL, copied with citations, run through SQLAlchemy 2 +
psycopg2 (PostgresEngineSpec.default_driver = "psycopg2") the way Superset runs it.

Sources (apache/superset):
  * superset/db_engine_specs/postgres.py
      PostgresBaseEngineSpec._time_grain_expressions  DATE_TRUNC('second'|...|'year', {col})
      PostgresBaseEngineSpec.convert_dttm             TO_TIMESTAMP('<iso us>', 'YYYY-MM-DD HH24:MI:SS.US'),
                                                      TO_DATE('<iso>', 'YYYY-MM-DD')
      PostgresBaseEngineSpec.epoch_to_dttm            (timestamp 'epoch' + {col} * interval '1 second')
      PostgresEngineSpec.get_catalog_names            SELECT datname FROM pg_database WHERE datistemplate = false;
      PostgresEngineSpec.get_table_names              inspector.get_table_names | get_foreign_table_names
      PostgresEngineSpec.get_prequeries               set search_path = "<schema>"
      PostgresEngineSpec.get_datatype                 psycopg2.extensions string_types/binary_types
      PostgresEngineSpec.get_cancel_query_id          SELECT pg_backend_pid()
      PostgresEngineSpec.estimate_statement_cost      EXPLAIN <statement>, regex cost=(a)..(b)
  * superset/db_engine_specs/base.py
      BaseEngineSpec.get_schema_names / get_view_names / get_columns (the SQLAlchemy inspector),
      BaseEngineSpec.select_star   select(text("*")).select_from(text(quoted table)).limit(100),
                                   compiled with literal binds (Database.compile_sqla_query)
  * superset/commands/database/test_connection.py   engine.dialect.do_ping(raw connection)
  * superset/connectors/sqla/models.py SqlaTable.get_sqla_query: a time-series chart query,
    DATE_TRUNC(...) AS <col>, count(*), WHERE col >= TO_TIMESTAMP(..) AND col < TO_TIMESTAMP(..),
    GROUP BY, ORDER BY metric DESC, LIMIT (built here with SQLAlchemy Core as Superset builds it).
  * superset/connectors/sqla/utils.py get_virtual_table_metadata: a virtual dataset's SQL run with
    LIMIT 1 on a raw DB-API cursor, columns typed from cursor.description.

Usage: superset_check.py [DSN] (or COMPAT_DSN, or --host/--port/--dbname/--user/--password).
"""

from __future__ import annotations

import datetime as dt
import re

import psycopg2.extensions
import sqlalchemy as sa

from _harness import (
    KUBEPG_TABLES, KUBEPG_VIEWS, POD_COLUMNS, PRIMARY_KEY, RESOURCE_TABLES, Checks, expect,
    expect_eq, expect_superset, target,
)

T = target()
checks = Checks("superset")
engine = sa.create_engine(T.sqlalchemy_url("psycopg2"), poolclass=sa.pool.NullPool)

# postgres.py PostgresBaseEngineSpec._time_grain_expressions
TIME_GRAINS = {
    "PT1S": "DATE_TRUNC('second', {col})",
    "PT1M": "DATE_TRUNC('minute', {col})",
    "PT1H": "DATE_TRUNC('hour', {col})",
    "P1D": "DATE_TRUNC('day', {col})",
    "P1W": "DATE_TRUNC('week', {col})",
    "P1M": "DATE_TRUNC('month', {col})",
    "P3M": "DATE_TRUNC('quarter', {col})",
    "P1Y": "DATE_TRUNC('year', {col})",
}


def convert_dttm_timestamp(d: dt.datetime) -> str:
    # postgres.py PostgresBaseEngineSpec.convert_dttm, DateTime branch
    dttm_formatted = d.isoformat(sep=" ", timespec="microseconds")
    return f"""TO_TIMESTAMP('{dttm_formatted}', 'YYYY-MM-DD HH24:MI:SS.US')"""


def convert_dttm_date(d: dt.datetime) -> str:
    # postgres.py PostgresBaseEngineSpec.convert_dttm, Date branch
    return f"TO_DATE('{d.date().isoformat()}', 'YYYY-MM-DD')"


def compile_sqla_query(qry) -> str:
    # superset/models/core.py Database.compile_sqla_query: literal binds, the engine's dialect
    return str(qry.compile(engine, compile_kwargs={"literal_binds": True}))


@checks.check("test_connection.do_ping")
def _():
    raw = engine.raw_connection()
    try:
        expect(engine.dialect.do_ping(raw), "do_ping returned false")
    finally:
        raw.close()


@checks.check("get_catalog_names")
def _():
    with engine.connect() as conn:
        rows = conn.exec_driver_sql("""
SELECT datname FROM pg_database
WHERE datistemplate = false;
            """).all()
    names = sorted(r[0] for r in rows)
    expect(T.dbname in names, f"database {T.dbname!r} not in {names}")


@checks.check("get_schema_names")
def _():
    expect_superset(sa.inspect(engine).get_schema_names(), {"public", "kubepg"}, "schemas")


@checks.check("get_table_names")
def _():
    insp = sa.inspect(engine)
    for schema, want in (("public", RESOURCE_TABLES), ("kubepg", KUBEPG_TABLES)):
        names = set(insp.get_table_names(schema)) | set(insp.get_foreign_table_names(schema))
        expect_superset(names, want, f"tables of {schema}")


@checks.check("get_view_names")
def _():
    expect_superset(sorted(sa.inspect(engine).get_view_names("kubepg")), KUBEPG_VIEWS, "views of kubepg")


@checks.check("table_metadata")
def _():
    # superset/databases/utils.py get_table_metadata: columns, pk, fks, indexes, comment
    insp = sa.inspect(engine)
    cols = insp.get_columns("pods", "public")
    expect_eq([c["name"] for c in cols], POD_COLUMNS, "columns")
    types = {c["name"]: str(c["type"]) for c in cols}
    expect(types["created"].startswith("TIMESTAMP"), f"created type {types['created']}")
    expect_eq(types["labels"], "JSONB", "labels type")
    expect(re.match(r"^double precision", types["cpu_request"], re.IGNORECASE), f"cpu_request type {types['cpu_request']}")
    expect_eq(types["restarts"], "BIGINT", "restarts type")
    expect_eq(insp.get_pk_constraint("pods", "public")["constrained_columns"], PRIMARY_KEY, "primary key")
    expect_eq(insp.get_foreign_keys("pods", "public"), [], "foreign keys")
    expect_eq(insp.get_indexes("pods", "public"), [], "indexes")
    expect("text" in insp.get_table_comment("pods", "public"), "comment")


@checks.check("select_star")
def _():
    quote = engine.dialect.identifier_preparer.quote
    qry = sa.select(sa.text("*")).select_from(sa.text(quote("public") + "." + quote("pods"))).limit(100)
    sql = compile_sqla_query(qry)
    expect("LIMIT 100" in sql, sql)
    with engine.connect() as conn:
        result = conn.exec_driver_sql(sql)
        expect_eq(list(result.keys()), POD_COLUMNS, "columns of SELECT *")
        expect_eq(len(result.all()), 4, "rows")


@checks.check("prequeries.search_path")
def _():
    with engine.connect() as conn:
        conn.exec_driver_sql('set search_path = "public"')
        expect_eq(conn.exec_driver_sql("SELECT count(*) FROM pods").scalar(), 4, "unqualified pods after set search_path")
        conn.exec_driver_sql('set search_path = "kubepg"')
        expect_eq(conn.exec_driver_sql("SELECT count(*) FROM clusters").scalar(), 2, "unqualified clusters after set search_path")


@checks.check("virtual_dataset.cursor_description")
def _():
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute("SELECT name, created, restarts, labels, ready, cpu_request FROM pods ORDER BY name\nLIMIT 1")
        rows = cur.fetchall()
        expect_eq(len(rows), 1, "rows")
        names = [d[0] for d in cur.description]
        expect_eq(names, ["name", "created", "restarts", "labels", "ready", "cpu_request"], "description names")
        # PostgresEngineSpec.get_datatype
        known = psycopg2.extensions.binary_types.copy()
        known.update(psycopg2.extensions.string_types)
        got = {d[0]: (known[d[1]].name if d[1] in known else None) for d in cur.description}
        for col in ("name", "created", "restarts", "ready", "cpu_request"):
            expect(got[col] is not None, f"{col}: type code {dict((d[0], d[1]) for d in cur.description)[col]} unknown to psycopg2")
        expect(isinstance(rows[0][1], dt.datetime) and rows[0][1].tzinfo is not None, f"created {rows[0][1]!r}")
        expect(isinstance(rows[0][3], dict), f"labels {rows[0][3]!r}")
    finally:
        raw.close()


def time_series(grain: str):
    expr = TIME_GRAINS[grain].format(col="created")
    since = dt.datetime(2024, 1, 1)
    until = dt.datetime(2024, 1, 8)
    pods = sa.table("pods", schema="public")
    created = sa.literal_column("created")
    qry = (
        sa.select(sa.literal_column(expr).label("created"), sa.func.count().label("count"))
        .select_from(pods)
        .where(sa.and_(created >= sa.text(convert_dttm_timestamp(since)), created < sa.text(convert_dttm_timestamp(until))))
        .group_by(sa.literal_column(expr))
        .order_by(sa.desc(sa.literal_column("count")))
        .limit(10000)
    )
    sql = compile_sqla_query(qry)
    expect("TO_TIMESTAMP('2024-01-01 00:00:00.000000', 'YYYY-MM-DD HH24:MI:SS.US')" in sql, sql)
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(sql).all()
    expect(rows, "no rows")
    expect_eq(sum(r.count for r in rows), 3, "pods created in the week")
    for r in rows:
        expect(isinstance(r.created, dt.datetime), f"bucket {r.created!r}")


for grain in TIME_GRAINS:
    checks.run(f"time_grain.{grain}", time_series, grain)


@checks.check("convert_dttm.date")
def _():
    with engine.connect() as conn:
        n = conn.exec_driver_sql(
            f"SELECT count(*) FROM public.pods WHERE created >= {convert_dttm_date(dt.datetime(2024, 1, 2, 15))}"
        ).scalar()
    expect_eq(n, 1, "pods created on or after 2024-01-02")


@checks.check("epoch_to_dttm")
def _():
    expr = "(timestamp 'epoch' + {col} * interval '1 second')".format(col="restarts")
    with engine.connect() as conn:
        v = conn.exec_driver_sql(f"SELECT {expr} AS t FROM pods WHERE uid = 'uid-pod-3'").scalar()
    expect_eq(v, dt.datetime(1970, 1, 1, 0, 0, 12), "epoch + 12 s")


@checks.check("get_cancel_query_id")
def _():
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute("SELECT pg_backend_pid()")
        pid = cur.fetchone()[0]
        expect(isinstance(pid, int), f"pid {pid!r}")
    finally:
        raw.close()


@checks.check("estimate_statement_cost")
def _():
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute("EXPLAIN SELECT * FROM pods")
        result = cur.fetchone()[0]
        match = re.search(r"cost=([\d\.]+)\.\.([\d\.]+)", result)
        expect(match is not None, f"no cost= in {result!r}")
    finally:
        raw.close()


engine.dispose()
checks.finish()
