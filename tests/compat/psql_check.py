"""psql 15 (the real client, Debian's postgresql-client-15) against a PostgreSQL endpoint: its
backslash commands, whose SQL is built by src/bin/psql/describe.c (postgres/postgres) for the
server_version the server reports, run as `psql -X -E -A -F <tab> DSN -c '\\d+ pods'`. -E makes
psql print each catalog query it sends (the check requires that it did, and shows them on
failure); -A/-F give parseable rows without changing a single query.

describe.c functions behind each command: \\d describeTableDetails/listTables, \\d+ pods
describeOneTableDetails (+ its footers: "Indexes:" from pg_index/pg_get_indexdef,
"Access method:"), \\dt/\\dt+/\\dv/\\di listTables, \\dn/\\dn+ listSchemas, \\l listAllDbs,
\\du describeRoles, \\dT describeTypes, \\df describeFunctions, \\dx listExtensions.
Plus what a session does around them: \\conninfo, a SELECT in aligned and expanded (\\x) form,
\\copy (query) TO STDOUT.

Usage: psql_check.py [DSN] (or COMPAT_DSN, or --host/--port/--dbname/--user/--password).
The psql binary: $PSQL, else /usr/lib/postgresql/15/bin/psql, else psql on PATH.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess

from _harness import POD_COLUMNS, RESOURCE_TABLES, Checks, expect, expect_eq, expect_superset, target

T = target()
checks = Checks("psql")
PSQL = os.environ.get("PSQL") or (
    "/usr/lib/postgresql/15/bin/psql" if os.path.exists("/usr/lib/postgresql/15/bin/psql") else shutil.which("psql")
)

QUERY_BLOCK = re.compile(r"\*{9} QUERY \*{10}\n(.*?)\n\*{26}\n\n", re.S)


def psql(*commands: str, aligned: bool = False, echo: bool = True) -> tuple[str, list[str]]:
    """Runs psql with each command as a -c; returns (output without the -E blocks, the queries)."""
    argv = [PSQL, "-X", "-v", "ON_ERROR_STOP=1"]
    if echo:
        argv.append("-E")
    if not aligned:
        argv += ["-A", "-F", "\t"]
    argv.append(T.dsn)
    for c in commands:
        argv += ["-c", c]
    env = dict(os.environ, PGCONNECT_TIMEOUT="10", PAGER="", PSQL_PAGER="", LC_ALL="C.UTF-8")
    p = subprocess.run(argv, capture_output=True, text=True, timeout=60, env=env)
    queries = QUERY_BLOCK.findall(p.stdout)
    out = QUERY_BLOCK.sub("", p.stdout)
    if p.returncode != 0:
        raise AssertionError(f"psql {' '.join(commands)} exited {p.returncode}: {p.stderr.strip()} | queries: {queries}")
    return out, queries


def table(cmd: str, title: str | None = None):
    """A list command: (title line, header, rows, footer lines, queries)."""
    out, queries = psql(cmd)
    expect(queries, f"{cmd}: psql -E printed no catalog query")
    lines = out.rstrip("\n").split("\n")
    t = lines[0] if not title or lines[0].startswith(title) else None
    if title:
        expect(t is not None, f"{cmd}: title {lines[0]!r}, want {title!r}")
    header = lines[1].split("\t")
    rows, footer = [], []
    for line in lines[2:]:
        if re.fullmatch(r"\(\d+ rows?\)", line) or footer:
            footer.append(line)
        elif line and not line.startswith((" ", "Indexes:", "Access method:", "View definition:")):
            rows.append(line.split("\t"))
        else:
            footer.append(line)
    return t, header, rows, footer, queries


def explain(queries):
    return " | queries: " + " ;; ".join(q.replace("\n", " ")[:300] for q in queries)


@checks.check("client_version")
def _():
    v = subprocess.run([PSQL, "--version"], capture_output=True, text=True).stdout
    expect(re.search(r"\(PostgreSQL\) 15\.", v), f"psql version {v.strip()!r}")


@checks.check(r"\conninfo")
def _():
    out, _ = psql(r"\conninfo", echo=False)
    expect(f'database "{T.dbname}"' in out and f'user "{T.user}"' in out, out.strip())


@checks.check(r"\d")
def _():
    _, header, rows, _, q = table(r"\d", "List of relations")
    expect_eq(header, ["Schema", "Name", "Type", "Owner"], "header" + explain(q))
    expect_superset({(r[0], r[1], r[2]) for r in rows}, {("public", t, "table") for t in RESOURCE_TABLES}, "relations" + explain(q))


def describe_pods(cmd: str, want_header: list[str]):
    _, header, rows, footer, q = table(cmd, 'Table "public.pods"')
    expect_eq(header, want_header, "header" + explain(q))
    expect_eq([r[0] for r in rows], POD_COLUMNS, "columns" + explain(q))
    types = {r[0]: r[1] for r in rows}
    for col, t in (("created", "timestamp with time zone"), ("generation", "bigint"), ("labels", "jsonb"),
                   ("ready", "boolean"), ("cpu_request", "double precision"), ("name", "text")):
        expect_eq(types[col], t, f"type of {col}" + explain(q))
    nullable = {r[0]: r[3] for r in rows}
    expect_eq((nullable["_cluster"], nullable["uid"], nullable["name"]), ("not null", "not null", ""), "Nullable" + explain(q))
    expect("Indexes:" in footer, f"no Indexes: footer in {footer}" + explain(q))
    idx = footer[footer.index("Indexes:") + 1:]
    expect(any(re.search(r'^\s+"[^"]+" PRIMARY KEY, btree \(_cluster, uid\)$', line) for line in idx),
           f"no primary key index line in {idx}" + explain(q))


checks.run(r"\d pods", describe_pods, r"\d pods", ["Column", "Type", "Collation", "Nullable", "Default"])
checks.run(r"\d+ pods", describe_pods, r"\d+ pods",
           ["Column", "Type", "Collation", "Nullable", "Default", "Storage", "Compression", "Stats target", "Description"])


@checks.check(r"\d kubepg.tables")
def _():
    _, header, rows, _, q = table(r"\d kubepg.tables", 'View "kubepg.tables"')
    expect_eq(header, ["Column", "Type", "Collation", "Nullable", "Default"], "header" + explain(q))
    expect_eq([r[0] for r in rows], ["cluster", "table", "mode", "objects", "bytes", "synced", "last_event", "error"], "columns" + explain(q))


@checks.check(r"\dt")
def _():
    _, header, rows, _, q = table(r"\dt", "List of relations")
    expect_eq(header, ["Schema", "Name", "Type", "Owner"], "header" + explain(q))
    expect_superset({(r[0], r[1]) for r in rows if r[2] == "table"}, {("public", t) for t in RESOURCE_TABLES}, "tables" + explain(q))


@checks.check(r"\dt+")
def _():
    _, header, rows, _, q = table(r"\dt+", "List of relations")
    expect_eq(header, ["Schema", "Name", "Type", "Owner", "Persistence", "Access method", "Size", "Description"], "header" + explain(q))
    expect_superset({r[1] for r in rows if r[0] == "public"}, RESOURCE_TABLES, "tables" + explain(q))


@checks.check(r"\dt kubepg.*")
def _():
    _, _, rows, _, q = table(r"\dt kubepg.*", "List of relations")
    expect_eq(sorted(r[1] for r in rows), ["clusters", "resources"], "tables of kubepg" + explain(q))


@checks.check(r"\dn")
def _():
    _, header, rows, _, q = table(r"\dn", "List of schemas")
    expect_eq(header, ["Name", "Owner"], "header" + explain(q))
    expect_superset([r[0] for r in rows], {"public", "kubepg"}, "schemas" + explain(q))


@checks.check(r"\dn+")
def _():
    _, header, rows, _, q = table(r"\dn+", "List of schemas")
    expect_eq(header, ["Name", "Owner", "Access privileges", "Description"], "header" + explain(q))
    expect_superset([r[0] for r in rows], {"public", "kubepg"}, "schemas" + explain(q))


@checks.check(r"\l")
def _():
    _, header, rows, _, q = table(r"\l", "List of databases")
    expect_eq(header[:5], ["Name", "Owner", "Encoding", "Collate", "Ctype"], "header" + explain(q))
    expect(T.dbname in [r[0] for r in rows], f"{T.dbname} not listed" + explain(q))


@checks.check(r"\du")
def _():
    _, header, rows, _, q = table(r"\du", "List of roles")
    expect_eq(header, ["Role name", "Attributes", "Member of"], "header" + explain(q))
    expect(T.user in [r[0] for r in rows], f"{T.user} not listed" + explain(q))


@checks.check(r"\dT")
def _():
    _, header, _, _, q = table(r"\dT", "List of data types")
    expect_eq(header, ["Schema", "Name", "Description"], "header" + explain(q))


@checks.check(r"\df")
def _():
    _, header, _, _, q = table(r"\df", "List of functions")
    expect_eq(header, ["Schema", "Name", "Result data type", "Argument data types", "Type"], "header" + explain(q))


@checks.check(r"\dv kubepg.*")
def _():
    _, header, rows, _, q = table(r"\dv kubepg.*", "List of relations")
    expect_eq(header, ["Schema", "Name", "Type", "Owner"], "header" + explain(q))
    expect_eq(sorted((r[1], r[2]) for r in rows), [("changes", "view"), ("tables", "view")], "views" + explain(q))


@checks.check(r"\di")
def _():
    _, header, rows, _, q = table(r"\di", "List of relations")
    expect_eq(header, ["Schema", "Name", "Type", "Owner", "Table"], "header" + explain(q))
    expect("pods" in [r[4] for r in rows if r[2] == "index"], f"no index of pods in {rows}" + explain(q))


@checks.check(r"\dx")
def _():
    _, header, _, _, q = table(r"\dx", "List of installed extensions")
    expect_eq(header, ["Name", "Version", "Schema", "Description"], "header" + explain(q))


@checks.check("select.aligned")
def _():
    out, _ = psql("SELECT name, restarts, labels, created FROM pods WHERE namespace = 'shop' ORDER BY name", aligned=True, echo=False)
    lines = out.split("\n")
    expect_eq([c.strip() for c in lines[0].split("|")], ["name", "restarts", "labels", "created"], "header")
    expect(re.match(r"^-+\+-+\+-+\+-+$", lines[1]), f"rule {lines[1]!r}")
    expect_eq([c.strip() for c in lines[2].split("|")],
              ["web-0", "0", '{"app": "web", "tier": "frontend"}', "2024-01-01 00:00:00+00"], "first row")
    expect("(2 rows)" in out, out)


@checks.check("select.expanded")
def _():
    out, _ = psql(r"\x on", "SELECT uid, phase FROM pods WHERE uid = 'uid-pod-3'", echo=False)
    expect("uid\tuid-pod-3" in out.replace("|", "\t") and "phase\tSucceeded" in out.replace("|", "\t"), out)


@checks.check(r"\copy")
def _():
    out, _ = psql(r"\copy (SELECT name, namespace, restarts FROM pods WHERE namespace = 'shop' ORDER BY name) TO STDOUT WITH (FORMAT csv, HEADER)", echo=False)
    expect_eq(out.strip().split("\n"), ["name,namespace,restarts", "web-0,shop,0", "web-1,shop,3"], "csv")


checks.finish()
