"""asyncpg (the real library) against a PostgreSQL endpoint. asyncpg speaks only the extended
protocol with binary results, prepares every statement (named, cached), and introspects types
with its own catalog queries.

What runs (MagicStack/asyncpg):
  * connect_utils.py / connection.py Connection.__init__: startup, server_version parsed from the
    ParameterStatus (serverversion.split_server_version_string), _detect_server_capabilities;
  * typed parameters and binary results: $1::int8 (int), $1::timestamptz (datetime), $1::jsonb
    (str, then dict after set_type_codec), int8/bool/float8/timestamptz/jsonb decoding;
  * Connection.prepare -> PreparedStatement.get_attributes / get_parameters (Describe);
  * Connection.cursor(...) inside a transaction: DECLARE-less portal cursor, Cursor.fetch /
    Cursor.forward (Execute with a row limit, suspended portal), async iteration with prefetch;
  * Connection.copy_from_query(..., output=BytesIO): COPY (query) TO STDOUT;
  * introspection.py TYPE_BY_NAME and INTRO_LOOKUP_TYPES (server >= 14) via
    Connection._introspect_types, preceded by its `SELECT current_setting('jit') AS cur,
    set_config('jit', 'off', false) AS new` and followed by set_config('jit', $1, false);
  * Connection.set_type_codec('jsonb', schema='pg_catalog') (connection.py);
  * pool.py Pool.acquire/release: the reset query built in connection.py
    Connection._get_reset_query (pg_advisory_unlock_all, CLOSE ALL, UNLISTEN *, RESET ALL as the
    server's capabilities allow).

Usage: asyncpg_check.py [DSN] (or COMPAT_DSN, or --host/--port/--dbname/--user/--password).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import json

import asyncpg
from asyncpg import introspection

from _harness import POD_COLUMNS, POD_TYPES, SET_IN_EMPTY_POD, Checks, expect, expect_eq, expect_superset, target

T = target()
checks = Checks("asyncpg")
UTC = dt.timezone.utc


async def connect():
    return await asyncpg.connect(
        host=T.host, port=T.port, user=T.user, password=T.password, database=T.dbname,
        ssl=T.params.get("sslmode", "prefer") if T.params.get("sslmode") else None,
    )


def arun(name, coro_fn):
    async def wrapped():
        conn = await connect()
        try:
            await coro_fn(conn)
        finally:
            await conn.close()

    checks.run(name, lambda: asyncio.run(wrapped()))


async def c_connect(conn):
    v = conn.get_server_version()
    expect(v.major >= 9, f"server version {v}")
    s = conn.get_settings()
    expect(s.server_version, "no server_version setting")
    expect_eq(s.client_encoding, "UTF8", "client_encoding")
    expect_eq(await conn.fetchval("SELECT 1"), 1, "SELECT 1")


async def c_int8(conn):
    rows = await conn.fetch("SELECT name, restarts FROM pods WHERE restarts >= $1::int8 ORDER BY name", 3)
    expect_eq([(r["name"], r["restarts"]) for r in rows], [("db-0", 12), ("web-1", 3)], "rows")
    expect(isinstance(rows[0]["restarts"], int), "restarts not int")


async def c_timestamptz(conn):
    since = dt.datetime(2024, 1, 1, 6, 0, tzinfo=UTC)
    rows = await conn.fetch("SELECT name, created FROM pods WHERE created >= $1::timestamptz ORDER BY created", since)
    expect_eq([r["name"] for r in rows], ["web-1", "db-0"], "rows")
    created = rows[0]["created"]
    expect(isinstance(created, dt.datetime) and created.tzinfo is not None, f"created {created!r}")
    expect_eq(created, dt.datetime(2024, 1, 1, 6, 30, tzinfo=UTC), "created value")


async def c_jsonb_param(conn):
    rows = await conn.fetch("SELECT name, labels FROM pods WHERE labels @> $1::jsonb ORDER BY name", '{"app": "web"}')
    expect_eq([r["name"] for r in rows], ["web-0", "web-1"], "rows")
    expect(isinstance(rows[0]["labels"], str), f"labels decoded as {type(rows[0]['labels'])} (default codec is text)")
    expect_eq(json.loads(rows[0]["labels"]), {"app": "web", "tier": "frontend"}, "labels")


async def c_types(conn):
    r = await conn.fetchrow("SELECT * FROM pods WHERE uid = $1", "uid-pod-1")
    expect_eq(list(r.keys()), POD_COLUMNS, "columns")
    expect(r["ready"] is True, f"ready {r['ready']!r}")
    expect(isinstance(r["cpu_request"], float), f"cpu_request {r['cpu_request']!r}")
    expect(isinstance(r["memory_request"], int), f"memory_request {r['memory_request']!r}")
    expect(r["generation"] is None, f"generation {r['generation']!r}")
    expect_eq(r["start_time"], dt.datetime(2024, 1, 1, 0, 0, 5, tzinfo=UTC), "start_time")
    expect_eq(json.loads(r["owner_references"])[0]["kind"], "ReplicaSet", "owner_references")


async def c_nulls(conn):
    r = await conn.fetchrow("SELECT * FROM pods WHERE uid = $1", "uid-pod-null")
    expect(all(v is None for k, v in r.items() if k not in SET_IN_EMPTY_POD), f"not all NULL: {r}")


async def c_prepare(conn):
    stmt = await conn.prepare("SELECT * FROM pods WHERE namespace = $1 AND created < $2")
    attrs = stmt.get_attributes()
    expect_eq([a.name for a in attrs], POD_COLUMNS, "attribute names")
    expect_eq({a.name: a.type.name for a in attrs}, POD_TYPES, "attribute types")
    expect_eq([p.name for p in stmt.get_parameters()], ["text", "timestamptz"], "parameter types")
    rows = await stmt.fetch("shop", dt.datetime(2030, 1, 1, tzinfo=UTC))
    expect_eq(sorted(r["name"] for r in rows), ["web-0", "web-1"], "rows")
    again = await stmt.fetch("data", dt.datetime(2030, 1, 1, tzinfo=UTC))
    expect_eq([r["name"] for r in again], ["db-0"], "re-executed prepared statement")


async def c_cursor(conn):
    async with conn.transaction():
        cur = await conn.cursor("SELECT uid FROM pods ORDER BY uid")
        first = await cur.fetch(2)
        moved = await cur.forward(1)
        rest = await cur.fetch(10)
    expect_eq([r["uid"] for r in first], ["uid-pod-1", "uid-pod-2"], "first fetch(2)")
    expect_eq(moved, 1, "forward(1)")
    expect_eq([r["uid"] for r in rest], ["uid-pod-null"], "fetch after forward")


async def c_cursor_iter(conn):
    async with conn.transaction():
        uids = [r["uid"] async for r in conn.cursor("SELECT uid FROM nodes ORDER BY uid", prefetch=2)]
    expect_eq(uids, ["uid-node-1", "uid-node-2", "uid-node-null"], "iterated")


async def c_copy(conn):
    out = io.BytesIO()
    status = await conn.copy_from_query(
        "SELECT name, namespace, restarts FROM pods WHERE namespace = $1 ORDER BY name", "shop",
        output=out, format="csv", header=True,
    )
    expect_eq(status, "COPY 2", "status")
    expect_eq(out.getvalue().decode().splitlines(), ["name,namespace,restarts", "web-0,shop,0", "web-1,shop,3"], "csv")


async def c_copy_text(conn):
    out = io.BytesIO()
    await conn.copy_from_query("SELECT uid, name FROM configmaps ORDER BY uid", output=out)
    expect_eq(out.getvalue().decode().splitlines(), ["uid-cm-1\tkube-root-ca.crt", "uid-cm-2\tweb-config", "uid-cm-null\tempty"], "text COPY")


async def c_type_by_name(conn):
    rows = await conn.fetch(introspection.TYPE_BY_NAME, "jsonb", "pg_catalog")
    expect_eq(len(rows), 1, "rows")
    expect_eq(list(rows[0].keys()), ["oid", "elemtype", "kind"], "columns")
    expect_eq((rows[0]["oid"], rows[0]["kind"]), (3802, b"b"), "jsonb")


async def c_intro_lookup(conn):
    # The query asyncpg runs on first use of a type it has no codec for.
    rows, _ = await conn._introspect_types([3802, 1184, 20], 30)
    by = {r["oid"]: r for r in rows}
    expect_superset(by, {3802, 1184, 20}, "introspected oids")
    expect_superset(rows[0].keys(), {"oid", "ns", "name", "kind", "basetype", "elemtype", "elemdelim",
                                      "range_subtype", "attrtypoids", "attrnames", "depth", "basetype_name",
                                      "elemtype_name", "range_subtype_name"}, "columns")
    expect_eq((by[3802]["name"], by[3802]["ns"], by[3802]["kind"]), ("jsonb", "pg_catalog", b"b"), "jsonb")
    expect_eq(by[1184]["name"], "timestamptz", "timestamptz")


async def c_set_type_codec(conn):
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
    rows = await conn.fetch("SELECT name, labels FROM pods WHERE labels @> $1::jsonb ORDER BY name", {"app": "db"})
    expect_eq([(r["name"], r["labels"]) for r in rows], [("db-0", {"app": "db"})], "rows with dict codec")


def pool_check():
    async def run():
        pool = await asyncpg.create_pool(
            host=T.host, port=T.port, user=T.user, password=T.password, database=T.dbname, min_size=1, max_size=1,
        )
        try:
            for _ in range(2):  # the second acquire follows the reset query of the first release
                async with pool.acquire() as conn:
                    expect_eq(await conn.fetchval("SELECT count(*) FROM pods"), 4, "count")
        finally:
            await pool.close()

    asyncio.run(run())


arun("connect", c_connect)
arun("param.int8", c_int8)
arun("param.timestamptz", c_timestamptz)
arun("param.jsonb", c_jsonb_param)
arun("binary_result_types", c_types)
arun("null_row", c_nulls)
arun("prepare.attributes", c_prepare)
arun("cursor.forward", c_cursor)
arun("cursor.iterate", c_cursor_iter)
arun("copy_from_query.csv", c_copy)
arun("copy_from_query.text", c_copy_text)
arun("introspection.TYPE_BY_NAME", c_type_by_name)
arun("introspection.INTRO_LOOKUP_TYPES", c_intro_lookup)
arun("set_type_codec.jsonb", c_set_type_codec)
checks.run("pool.reset_query", pool_check)
checks.finish()
