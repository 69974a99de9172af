"""One statement list through every way into kubepg: psycopg over the simple protocol (no
parameters: PQsendQuery), psycopg over the extended protocol (prepare=True: Parse/Bind/Execute),
and `kubepg query`. Prints one JSON object of what each answered, statement by statement; the
Rust suite asserts that the three agree and that the answers are the right ones.

Arguments: the connection string, the kubepg binary, then the arguments that give `kubepg
query` the same clusters as the server (e.g. --demo)."""

import csv
import io
import json
import subprocess
import sys
import tempfile

import psycopg

DSN, KUBEPG, SOURCE = sys.argv[1], sys.argv[2], sys.argv[3:]

# Groups of statements, each run in a session of its own.
GROUPS = [
    # One setting of each kind, read four ways.
    [
        "SET statement_timeout = '7s'",
        "SHOW statement_timeout",
        "SELECT current_setting('statement_timeout')",
        "SELECT setting FROM pg_settings WHERE name = 'statement_timeout'",
        "SET kubepg.consistency = 'cached'",
        "SHOW kubepg.consistency",
        "SELECT current_setting('kubepg.consistency')",
        "SELECT setting FROM pg_settings WHERE name = 'kubepg.consistency'",
        "SET datafusion.execution.batch_size = 1024",
        "SHOW datafusion.execution.batch_size",
        "SELECT current_setting('datafusion.execution.batch_size')",
        "SELECT setting FROM pg_settings WHERE name = 'datafusion.execution.batch_size'",
        "RESET statement_timeout",
        "SHOW statement_timeout",
    ],
    # A cursor in a transaction block.
    [
        "BEGIN",
        "DECLARE c CURSOR FOR SELECT name FROM nodes ORDER BY name",
        "FETCH 2 FROM c",
        "MOVE 1 IN c",
        "FETCH ALL FROM c",
        "CLOSE c",
        "COMMIT",
    ],
    # Queries.
    [
        "SELECT count(*) FROM pods",
        "SELECT 1 AS one, 'x' AS letter",
        "SELECT name FROM namespaces ORDER BY 1 LIMIT 3",
        "SELECT (SELECT min(name) FROM nodes)",
    ],
    # A failed transaction block and its way out.
    [
        "BEGIN",
        "SELECT * FROM no_such_table",
        "SELECT 1",
        "ROLLBACK",
        "SELECT 2",
    ],
] + [
    # Refusals, one session each.
    [sql]
    for sql in [
        "DROP TABLE pods",
        "COPY pods FROM STDIN",
        "NOTIFY pods",
        "SELECT * FROM no_such_table",
        "SELECT (SELECT name FROM nodes)",
        "LISTEN pods",
        "SELECT labels_match(labels, 'app in (') FROM pods",
        "SELECT current_setting('no_such_setting')",
        "SET statement_timeout = '99999999999999999s'",
        "SET server_version = '9.6'",
        "FETCH 1 FROM no_such_cursor",
    ]
]

MARKER = "--8<--"


def text(v):
    if v is None:
        return ""
    if isinstance(v, bool):
        return "t" if v else "f"
    return str(v)


def answer(cur, sql, prepare):
    try:
        if prepare:
            cur.execute(sql, prepare=True)
        else:
            cur.execute(sql)
    except psycopg.Error as e:
        return {"error": e.sqlstate}
    rows = None
    if cur.description is not None:
        rows = [[text(v) for v in row] for row in cur.fetchall()]
    return {"tag": cur.statusmessage, "rows": rows}


def through_psycopg(prepare):
    out = []
    for group in GROUPS:
        with psycopg.connect(DSN, autocommit=True) as conn:
            cur = conn.cursor()
            out.append([answer(cur, sql, prepare) for sql in group])
    return out


def through_query():
    """`kubepg query` stops at the first error, as psql does for one query string: each group is
    one run, statements separated by a marker row, and the error is that of the statement
    after the last marker printed."""
    out = []
    for group in GROUPS:
        sql = f"; SELECT '{MARKER}'; ".join(group)
        with tempfile.TemporaryDirectory() as home:
            run = subprocess.run(
                [KUBEPG, "query", *SOURCE, "-o", "csv", "--no-headers", "-q", sql],
                capture_output=True,
                text=True,
                env={"HOME": home, "PATH": "/usr/bin:/bin"},
                timeout=120,
            )
        chunks, current = [], []
        for row in csv.reader(io.StringIO(run.stdout)):
            if row == [MARKER]:
                chunks.append(current)
                current = []
            else:
                current.append(row)
        chunks.append(current)
        answers = [{"rows": rows} for rows in chunks]
        if run.returncode != 0:
            error = next(
                (l.split()[1].rstrip(":") for l in run.stderr.splitlines() if l.startswith("ERROR ")),
                "none",
            )
            answers[-1] = {"error": error}
        out.append(answers)
    return out


print(
    json.dumps(
        {
            "statements": GROUPS,
            "simple": through_psycopg(prepare=False),
            "extended": through_psycopg(prepare=True),
            "query": through_query(),
        }
    )
)
