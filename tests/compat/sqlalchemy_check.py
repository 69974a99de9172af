"""SQLAlchemy 2 (the real library) against a PostgreSQL endpoint, through both of its PostgreSQL
drivers that tools ship with: psycopg2 (Superset's and pandas' default) and psycopg 3.

What runs is SQLAlchemy's own SQL, from sqlalchemy/sqlalchemy lib/sqlalchemy/dialects/postgresql/:
  * on first connect (base.py PGDialect.initialize, psycopg2.py / psycopg.py on_connect):
    `select pg_catalog.version()`, `select current_schema()`, `show standard_conforming_strings`,
    `show transaction isolation level`, and the hstore OID lookup of psycopg2's HstoreAdapter;
  * Inspector methods (base.py PGDialect.get_schema_names, get_table_names, get_view_names,
    get_foreign_table_names, get_multi_columns (-> _columns_query over pg_attribute/pg_class with
    format_type, pg_get_expr, attidentity, attgenerated), get_multi_pk_constraint (pg_constraint +
    pg_index unnest of conkey), get_multi_foreign_keys (pg_get_constraintdef), get_multi_indexes
    (pg_index, pg_get_indexdef), get_multi_unique_constraints, get_multi_check_constraints,
    get_multi_table_comment (pg_description), has_table);
  * MetaData.reflect (engine/reflection.py Inspector.reflect_table), and a select() of the
    reflected table with a timestamptz filter (sql/compiler.py, bound parameters).

Usage: sqlalchemy_check.py [DSN] (or COMPAT_DSN, or --host/--port/--dbname/--user/--password).
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg

from _harness import (
    KUBEPG_TABLES, KUBEPG_VIEWS, POD_COLUMNS, POD_TYPES, PRIMARY_KEY, RESOURCE_TABLES, SET_IN_EMPTY_POD, Checks, expect,
    expect_eq, expect_superset, target,
)

T = target()
checks = Checks("sqlalchemy")

# The SQLAlchemy type each pods column must reflect as.
WANT_TYPES = {
    "text": pg.TEXT, "timestamptz": pg.TIMESTAMP, "int8": pg.BIGINT, "jsonb": pg.JSONB,
    "bool": pg.BOOLEAN, "float8": pg.DOUBLE_PRECISION,
}


def run_driver(driver: str):
    engine = sa.create_engine(T.sqlalchemy_url(driver), poolclass=sa.pool.NullPool)
    p = f"{driver}."

    def connect():
        with engine.connect() as conn:
            expect(engine.dialect.server_version_info is not None, "no server_version_info")
            expect(engine.dialect.server_version_info >= (9,), f"server_version_info {engine.dialect.server_version_info}")
            # search_path is '"$user", public': on PostgreSQL the role kubepg resolves "$user" to
            # schema kubepg; kubepg itself answers public. Either way the resource tables must
            # resolve unqualified.
            expect(engine.dialect.default_schema_name in ("public", "kubepg"),
                   f"default_schema_name (current_schema()) {engine.dialect.default_schema_name!r}")
            expect_eq(conn.execute(sa.text("select count(*) from pods")).scalar(), 4, "unqualified pods")
            expect_eq(conn.execute(sa.text("select 1")).scalar(), 1, "select 1")

    checks.run(p + "connect", connect)

    def schema_names():
        names = sa.inspect(engine).get_schema_names()
        expect_superset(names, {"public", "kubepg"}, "get_schema_names")
        expect("pg_catalog" not in names, "get_schema_names lists pg_catalog")

    checks.run(p + "get_schema_names", schema_names)

    def table_names_public():
        insp = sa.inspect(engine)
        names = insp.get_table_names()
        expect_superset(names, RESOURCE_TABLES, "get_table_names() (default schema)")
        expect_superset(insp.get_table_names(schema="public"), RESOURCE_TABLES, "get_table_names('public')")
        expect(not KUBEPG_VIEWS & set(names), "views listed as tables")

    checks.run(p + "get_table_names.public", table_names_public)

    def table_names_kubepg():
        names = sa.inspect(engine).get_table_names(schema="kubepg")
        expect_superset(names, KUBEPG_TABLES, "get_table_names('kubepg')")
        expect(not KUBEPG_VIEWS & set(names), f"views listed as tables: {names}")

    checks.run(p + "get_table_names.kubepg", table_names_kubepg)

    def view_names():
        insp = sa.inspect(engine)
        expect_superset(insp.get_view_names(schema="kubepg"), KUBEPG_VIEWS, "get_view_names('kubepg')")
        expect(not RESOURCE_TABLES & set(insp.get_view_names(schema="public")), "tables listed as views")

    checks.run(p + "get_view_names", view_names)

    def foreign_table_names():
        # PGInspector.get_foreign_table_names: Superset's PostgresEngineSpec.get_table_names adds them.
        expect_eq(sa.inspect(engine).get_foreign_table_names(schema="public"), [], "get_foreign_table_names")

    checks.run(p + "get_foreign_table_names", foreign_table_names)

    def has_table():
        insp = sa.inspect(engine)
        expect(insp.has_table("pods"), "has_table('pods') is false")
        expect(insp.has_table("clusters", schema="kubepg"), "has_table('clusters', 'kubepg') is false")
        expect(not insp.has_table("no_such_table"), "has_table('no_such_table') is true")

    checks.run(p + "has_table", has_table)

    def columns():
        cols = sa.inspect(engine).get_columns("pods", schema="public")
        expect_eq([c["name"] for c in cols], POD_COLUMNS, "get_columns names (in order)")
        for c in cols:
            want = WANT_TYPES[POD_TYPES[c["name"]]]
            expect(isinstance(c["type"], want), f"{c['name']}: type {c['type']!r}, want {want.__name__}")
            expect(set(c) >= {"name", "type", "nullable", "default", "autoincrement", "comment"}, f"{c['name']}: keys {sorted(c)}")
        by = {c["name"]: c for c in cols}
        expect(by["created"]["type"].timezone, "created reflects as TIMESTAMP without time zone")
        expect(not by["uid"]["nullable"] and not by["_cluster"]["nullable"], "primary key columns nullable")
        expect(by["name"]["nullable"], "name not nullable")
        expect(by["name"]["default"] is None, f"name default {by['name']['default']!r}")

    checks.run(p + "get_columns.pods", columns)

    def columns_kubepg():
        cols = sa.inspect(engine).get_columns("clusters", schema="kubepg")
        expect_eq([c["name"] for c in cols], ["name", "in_scope", "reachable", "resources", "error"], "kubepg.clusters columns")
        vcols = sa.inspect(engine).get_columns("tables", schema="kubepg")
        expect_superset([c["name"] for c in vcols], {"cluster", "table", "objects", "synced", "last_event"}, "kubepg.tables (view) columns")

    checks.run(p + "get_columns.kubepg", columns_kubepg)

    def pk():
        got = sa.inspect(engine).get_pk_constraint("pods", schema="public")
        expect_eq(got["constrained_columns"], PRIMARY_KEY, "get_pk_constraint constrained_columns")
        expect("name" in got, f"get_pk_constraint keys {sorted(got)}")

    checks.run(p + "get_pk_constraint", pk)

    def fks():
        expect_eq(sa.inspect(engine).get_foreign_keys("pods", schema="public"), [], "get_foreign_keys")

    checks.run(p + "get_foreign_keys", fks)

    def indexes():
        # The primary key's index is not reported by get_indexes; kubepg has no other index.
        expect_eq(sa.inspect(engine).get_indexes("pods", schema="public"), [], "get_indexes")

    checks.run(p + "get_indexes", indexes)

    def uniques():
        expect_eq(sa.inspect(engine).get_unique_constraints("pods", schema="public"), [], "get_unique_constraints")

    checks.run(p + "get_unique_constraints", uniques)

    def check_constraints():
        expect_eq(sa.inspect(engine).get_check_constraints("pods", schema="public"), [], "get_check_constraints")

    checks.run(p + "get_check_constraints", check_constraints)

    def comment():
        got = sa.inspect(engine).get_table_comment("pods", schema="public")
        expect("text" in got, f"get_table_comment {got!r}")

    checks.run(p + "get_table_comment", comment)

    def multi_columns():
        got = sa.inspect(engine).get_multi_columns(schema="public")
        expect_superset(got, {("public", t) for t in RESOURCE_TABLES}, "get_multi_columns keys")
        expect_eq([c["name"] for c in got[("public", "pods")]], POD_COLUMNS, "get_multi_columns pods")
        kub = sa.inspect(engine).get_multi_columns(schema="kubepg", kind=sa.engine.ObjectKind.ANY)
        expect_superset(kub, {("kubepg", t) for t in KUBEPG_TABLES | KUBEPG_VIEWS}, "get_multi_columns kubepg (tables and views)")

    checks.run(p + "get_multi_columns", multi_columns)

    def multi_pk():
        got = sa.inspect(engine).get_multi_pk_constraint(schema="public")
        for t in RESOURCE_TABLES:
            expect_eq(got[("public", t)]["constrained_columns"], PRIMARY_KEY, f"{t} pk")

    checks.run(p + "get_multi_pk_constraint", multi_pk)

    def reflect():
        md = sa.MetaData()
        md.reflect(bind=engine, schema="public")
        expect_superset(md.tables, {f"public.{t}" for t in RESOURCE_TABLES}, "MetaData.reflect(schema='public')")
        pods = md.tables["public.pods"]
        expect_eq([c.name for c in pods.primary_key.columns], PRIMARY_KEY, "reflected primary key")
        expect_eq([c.name for c in pods.columns], POD_COLUMNS, "reflected columns")
        expect(isinstance(pods.c.labels.type, pg.JSONB), f"labels type {pods.c.labels.type!r}")
        expect_eq(len(pods.foreign_keys), 0, "reflected foreign keys")

    checks.run(p + "MetaData.reflect.public", reflect)

    def reflect_kubepg():
        md = sa.MetaData()
        md.reflect(bind=engine, schema="kubepg", views=True)
        expect_superset(md.tables, {f"kubepg.{t}" for t in KUBEPG_TABLES | KUBEPG_VIEWS}, "MetaData.reflect(schema='kubepg', views=True)")

    checks.run(p + "MetaData.reflect.kubepg", reflect_kubepg)

    def autoload():
        t = sa.Table("deployments", sa.MetaData(), autoload_with=engine)
        expect_superset(t.c.keys(), {"replicas", "ready_replicas", "spec", "status"}, "Table(autoload_with) columns")

    checks.run(p + "Table.autoload_with", autoload)

    def select_reflected():
        pods = sa.Table("pods", sa.MetaData(), autoload_with=engine, schema="public")
        since = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
        q = (
            sa.select(pods.c.name, pods.c.created, pods.c.labels, pods.c.restarts, pods.c.ready, pods.c.cpu_request)
            .where(pods.c.created >= since)
            .where(pods.c.namespace == "shop")
            .order_by(pods.c.name)
        )
        with engine.connect() as conn:
            rows = conn.execute(q).all()
        expect_eq([r.name for r in rows], ["web-0", "web-1"], "rows")
        r = rows[0]
        expect(isinstance(r.created, dt.datetime) and r.created.tzinfo is not None, f"created {r.created!r}")
        expect_eq(r.created, since, "created value")
        expect_eq(r.labels, {"app": "web", "tier": "frontend"}, "labels (jsonb) value")
        expect(isinstance(r.restarts, int), f"restarts {r.restarts!r}")
        expect(r.ready is True, f"ready {r.ready!r}")
        expect(isinstance(r.cpu_request, float), f"cpu_request {r.cpu_request!r}")

    checks.run(p + "select.timestamptz_filter", select_reflected)

    def select_nulls():
        pods = sa.Table("pods", sa.MetaData(), autoload_with=engine)
        with engine.connect() as conn:
            row = conn.execute(sa.select(pods).where(pods.c.uid == "uid-pod-null")).one()
        expect_eq(row.uid, "uid-pod-null", "uid")
        expect(all(v is None for k, v in row._mapping.items() if k not in SET_IN_EMPTY_POD), f"not all NULL: {row}")

    checks.run(p + "select.null_row", select_nulls)

    engine.dispose()


for driver in ("psycopg2", "psycopg"):
    run_driver(driver)

checks.finish()
