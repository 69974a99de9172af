"""asyncpg against kubepg: parameters typed by their casts (asyncpg encodes each argument in the
type the server describes it as), a cursor moved with forward() (a MOVE of the portal asyncpg
bound) and read in steps, and copy_from_query. Prints one JSON object of what it read; the Rust
suite asserts on it.

Argument: a libpq keyword connection string (host=… port=… user=… dbname=…)."""

import asyncio
import datetime as dt
import io
import json
import sys

import asyncpg


async def main():
    params = dict(part.split("=", 1) for part in sys.argv[1].split())
    conn = await asyncpg.connect(
        host=params["host"], port=int(params["port"]), user=params["user"], database=params["dbname"]
    )
    out = {}
    out["int8"] = await conn.fetchval(
        "SELECT count(*) FROM pods WHERE namespace = $1 AND restarts >= $2::int8", "shop", 0
    )
    out["timestamptz"] = await conn.fetchval(
        "SELECT count(*) FROM pods WHERE namespace = 'shop' AND created >= $1::timestamptz",
        dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc),
    )
    async with conn.transaction():
        cur = await conn.cursor("SELECT name FROM pods WHERE namespace = 'shop' ORDER BY name")
        # As asyncpg's documentation shows it: forward() before the first fetch.
        skipped = await cur.forward(1)
        first = await cur.fetch(1)
        moved = await cur.forward(1)
        after = await cur.fetch(2)
        rest = await cur.forward(1000)
    out["cursor"] = [skipped, first[0]["name"], moved] + [r["name"] for r in after] + [rest]
    buffer = io.BytesIO()
    status = await conn.copy_from_query(
        "SELECT name FROM pods WHERE namespace = 'shop' ORDER BY name", output=buffer, format="csv"
    )
    out["copy"] = [status, buffer.getvalue().decode()]
    await conn.close()
    # A pool resets each connection it takes back (pg_advisory_unlock_all(), CLOSE ALL,
    # UNLISTEN *, RESET ALL) and hands the same one out again.
    pool = await asyncpg.create_pool(
        host=params["host"], port=int(params["port"]), user=params["user"], database=params["dbname"],
        min_size=1, max_size=1,
    )
    out["pool"] = []
    for _ in range(2):
        async with pool.acquire() as pooled:
            await pooled.fetchval("SELECT 1")
            out["pool"].append(pooled.get_server_pid())
    await pool.close()
    print(json.dumps(out))


asyncio.run(main())
