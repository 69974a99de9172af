"""pgcli (the real library, over psycopg 3) against a PostgreSQL endpoint: its connection set-up,
the completion refresh it runs at start-up, what completion then offers, and the backslash
commands its pgspecial dependency answers with its own SQL.

What runs (dbcli/pgcli, dbcli/pgspecial):
  * pgcli/pgexecute.py PGExecute.connect (conn.info parameters, is_superuser, server_version,
    is_virtual_database -> is_protocol_error `SELECT 1`, get_socket_directory when no host,
    register_typecasters);
  * pgcli/completion_refresher.py: every @refresher in CompletionRefresher.refreshers, in order
    (schemata: search_path_query `SELECT * FROM unnest(current_schemas(true))` + schemata_query;
    tables: tables_query (relkind = ANY(%s)) + _columns (atttypid::regtype::text,
    pg_get_expr(def.adbin ...)) + foreignkeys; views; types: datatypes; databases:
    databases_query; casing (no casing file: skipped, as pgcli does); functions: functions);
    PGExecute.casing and full_databases (\\l) directly;
  * pgcli/pgcompleter.py PGCompleter.get_completions on the refreshed metadata;
  * pgspecial/dbcommands.py through PGExecute.run: \\dt (list_tables), \\d pods
    (describe_table_details), \\dn (list_schemas), \\l (list_databases), \\du (list_roles),
    \\dv (list_views), \\df (list_functions), \\dT (list_datatypes).

Usage: pgcli_check.py [DSN] (or COMPAT_DSN, or --host/--port/--dbname/--user/--password).
"""

from __future__ import annotations

from pgcli.completion_refresher import CompletionRefresher
from pgcli.pgcompleter import PGCompleter
from pgcli.pgexecute import PGExecute
from pgspecial.main import PGSpecial
from prompt_toolkit.document import Document

from _harness import (
    KUBEPG_TABLES, KUBEPG_VIEWS, POD_COLUMNS, RESOURCE_TABLES, Checks, expect, expect_eq, expect_superset,
    target,
)

T = target()
checks = Checks("pgcli")
special = PGSpecial()
state = {}


@checks.check("connect")
def _():
    ex = PGExecute(dsn=T.dsn)
    expect_eq(ex.dbname, T.dbname, "dbname")
    expect_eq(ex.user, T.user, "user")
    expect(ex.server_version, "no server_version")
    expect(ex.superuser is False, f"superuser {ex.superuser!r}")
    expect(not ex.is_virtual_database(), "taken for a pgbouncer virtual database")
    expect(ex.pid, "no backend pid")
    state["ex"] = ex


def executor() -> PGExecute:
    return state.get("ex") or PGExecute(dsn=T.dsn)


completer = PGCompleter(smart_completion=True, pgspecial=special, settings={})
for name, refresher in CompletionRefresher.refreshers.items():
    checks.run(f"refresh.{name}", lambda r=refresher: r(completer, executor()))


@checks.check("metadata.tables")
def _():
    tables = completer.dbmetadata["tables"]
    expect_superset(tables.get("public", {}), RESOURCE_TABLES, "tables of public")
    expect_superset(tables.get("kubepg", {}), KUBEPG_TABLES, "tables of kubepg")
    expect_eq(list(tables["public"]["pods"]), POD_COLUMNS, "columns of pods")
    expect_eq(tables["public"]["pods"]["created"].datatype, "timestamp with time zone", "created type")
    expect_eq(tables["public"]["pods"]["labels"].datatype, "jsonb", "labels type")


@checks.check("metadata.views")
def _():
    expect_superset(completer.dbmetadata["views"].get("kubepg", {}), KUBEPG_VIEWS, "views of kubepg")


@checks.check("metadata.search_path")
def _():
    expect("public" in completer.search_path, f"search_path {completer.search_path}")
    expect("pg_catalog" in completer.search_path, f"search_path {completer.search_path}")


@checks.check("metadata.databases")
def _():
    expect(T.dbname in completer.databases, f"databases {completer.databases}")


def completions(text: str) -> set[str]:
    return {c.text for c in completer.get_completions(Document(text=text, cursor_position=len(text)), None)}


@checks.check("complete.table")
def _():
    expect("pods" in completions("SELECT * FROM po"), f"no pods in {sorted(completions('SELECT * FROM po'))[:20]}")


@checks.check("complete.column")
def _():
    text = "SELECT re FROM pods"  # cursor after "re": columns of pods
    got = {c.text for c in completer.get_completions(Document(text=text, cursor_position=9), None)}
    expect_superset(got, {"restarts", "resource_version"}, "column completions")


@checks.check("complete.schema_qualified")
def _():
    got = completions("SELECT * FROM kubepg.")
    expect_superset(got, {"clusters", "resources", "tables", "changes"}, "kubepg. completions")


@checks.check("executor.tables")
def _():
    got = list(executor().tables())
    expect_superset(got, {("public", t) for t in RESOURCE_TABLES} | {("kubepg", t) for t in KUBEPG_TABLES}, "tables()")


@checks.check("executor.table_columns")
def _():
    cols = [r for r in executor().table_columns() if r[:2] == ("public", "pods")]
    expect_eq([r[2] for r in cols], POD_COLUMNS, "columns")
    expect_eq(len(cols[0]), 6, "row width (schema, table, column, type, has_default, default)")
    expect_eq({r[2]: r[3] for r in cols}["restarts"], "bigint", "restarts type")


@checks.check("executor.foreignkeys")
def _():
    expect_eq(list(executor().foreignkeys()), [], "foreign keys")


@checks.check("executor.functions")
def _():
    fns = list(executor().functions())
    expect(all(hasattr(f, "func_name") for f in fns), "not FunctionMetadata")


@checks.check("executor.datatypes")
def _():
    list(executor().datatypes())  # no user-defined types: the answer only has to be well-formed


@checks.check("executor.casing")
def _():
    words = list(executor().casing())
    expect(all(isinstance(w, str) for w in words), f"casing {words[:5]}")


@checks.check("executor.full_databases")
def _():
    rows, headers, status = executor().full_databases()
    expect_eq(headers, ["Name", "Owner", "Encoding", "Collate", "Ctype", "Access privileges"], "headers")
    expect(T.dbname in [r[0] for r in rows], "database not listed")


def special_cmd(cmd: str):
    results = list(executor().run(cmd, pgspecial=special))
    expect(results, f"{cmd}: no result")
    title, rows, headers, status, _sql, success, is_special = results[0]
    expect(success and is_special, f"{cmd}: success={success} is_special={is_special}")
    return title, (list(rows) if rows is not None else []), headers, status


@checks.check(r"special.\dt")
def _():
    _, rows, headers, _ = special_cmd(r"\dt")
    expect_eq(list(headers), ["Schema", "Name", "Type", "Owner"], "headers")
    expect_superset({r[1] for r in rows if r[0] == "public"}, RESOURCE_TABLES, "tables")


@checks.check(r"special.\d pods")
def _():
    title, rows, headers, status = special_cmd(r"\d pods")
    expect_eq(list(headers)[:2], ["Column", "Type"], "headers")
    expect_eq([r[0] for r in rows], POD_COLUMNS, "columns")
    expect_eq({r[0]: r[1] for r in rows}["created"], "timestamp with time zone", "created type")
    expect("pods" in (title or "") or "pods" in str(status), f"title {title!r}")


@checks.check(r"special.\dn")
def _():
    _, rows, headers, _ = special_cmd(r"\dn")
    expect_eq(list(headers), ["Name", "Owner"], "headers")
    expect_superset([r[0] for r in rows], {"public", "kubepg"}, "schemas")


@checks.check(r"special.\l")
def _():
    _, rows, headers, _ = special_cmd(r"\l")
    expect_eq(list(headers)[:2], ["Name", "Owner"], "headers")
    expect(T.dbname in [r[0] for r in rows], "database not listed")


@checks.check(r"special.\du")
def _():
    _, rows, headers, _ = special_cmd(r"\du")
    expect_superset(list(headers), {"rolname", "rolsuper", "rolcanlogin", "memberof"}, "headers")
    expect(T.user in [r[0] for r in rows], f"{T.user} not in roles")


@checks.check(r"special.\dv kubepg.*")
def _():
    _, rows, headers, _ = special_cmd(r"\dv kubepg.*")
    expect_superset([r[1] for r in rows], KUBEPG_VIEWS, "views")


@checks.check(r"special.\df")
def _():
    special_cmd(r"\df")


@checks.check(r"special.\dT")
def _():
    special_cmd(r"\dT")


checks.finish()
