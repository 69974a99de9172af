"""Shared by the Python checks of the client-compatibility suite: where to connect, and how each
check is run and reported.

Connection: a libpq URI (postgresql://user:password@host:port/dbname[?params]) as the first
argument, or --host/--port/--dbname/--user/--password options, or the environment variable
COMPAT_DSN. Every check prints one line, `ok NAME` or `FAIL NAME: why`; the file ends with
`CLIENT: N passed, N failed` and exits non-zero when any check failed. A failing check never stops
the others.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, unquote, urlsplit


@dataclass
class Target:
    host: str
    port: int
    dbname: str
    user: str
    password: str
    params: dict

    @property
    def dsn(self) -> str:
        """The target as a libpq URI."""
        auth = quote(self.user, safe="")
        if self.password:
            auth += ":" + quote(self.password, safe="")
        query = "&".join(f"{k}={quote(v, safe='')}" for k, v in self.params.items())
        return f"postgresql://{auth}@{self.host}:{self.port}/{quote(self.dbname, safe='')}" + (
            "?" + query if query else ""
        )

    def sqlalchemy_url(self, driver: str) -> str:
        return self.dsn.replace("postgresql://", f"postgresql+{driver}://", 1)


def target(argv: list[str] | None = None) -> Target:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dsn", nargs="?", default=os.environ.get("COMPAT_DSN"))
    parser.add_argument("--host")
    parser.add_argument("--port", type=int)
    parser.add_argument("--dbname")
    parser.add_argument("--user")
    parser.add_argument("--password")
    args = parser.parse_args(argv)
    host, port, dbname, user, password, params = "127.0.0.1", 5432, "kubepg", "kubepg", "", {}
    if args.dsn:
        u = urlsplit(args.dsn)
        if u.scheme not in ("postgresql", "postgres"):
            parser.error(f"not a postgresql:// URI: {args.dsn}")
        host = u.hostname or host
        port = u.port or port
        dbname = unquote(u.path.lstrip("/")) or dbname
        user = unquote(u.username) if u.username else user
        password = unquote(u.password) if u.password else password
        params = dict(parse_qsl(u.query))
    host = args.host or host
    port = args.port or port
    dbname = args.dbname or dbname
    user = args.user or user
    password = args.password if args.password is not None else password
    return Target(host, port, dbname, user, password, params)


class Checks:
    """Runs named checks one by one, each isolated, and reports them."""

    def __init__(self, client: str):
        self.client = client
        self.passed = 0
        self.failed = 0

    def run(self, name: str, fn, *args, **kwargs):
        try:
            result = fn(*args, **kwargs)
        except Exception as e:  # noqa: BLE001 - every failure is reported, none stops the rest
            self.failed += 1
            why = f"{type(e).__name__}: {e}".replace("\n", " | ")
            print(f"FAIL {self.client}.{name}: {why[:800]}", flush=True)
            if os.environ.get("COMPAT_VERBOSE"):
                traceback.print_exc()
            return None
        self.passed += 1
        print(f"ok {self.client}.{name}", flush=True)
        return result

    def check(self, name: str):
        """Decorator form: runs the function at once as check NAME."""

        def deco(fn):
            self.run(name, fn)
            return fn

        return deco

    def finish(self):
        print(f"{self.client}: {self.passed} passed, {self.failed} failed", flush=True)
        sys.exit(1 if self.failed else 0)


def expect(cond: bool, why: str):
    if not cond:
        raise AssertionError(why)


def expect_eq(got, want, what: str):
    if got != want:
        raise AssertionError(f"{what}: got {got!r}, want {want!r}")


def expect_superset(got, want, what: str):
    missing = set(want) - set(got)
    if missing:
        raise AssertionError(f"{what}: missing {sorted(missing)} (got {sorted(got)[:40]})")


# The shape of the reference tables (reference.sql), which is kubepg's.
OBJECT_COLUMNS = [
    "_cluster", "name", "namespace", "uid", "api_version", "kind", "created", "resource_version",
    "generation", "labels", "annotations", "owner_references", "finalizers", "deleted",
]
POD_COLUMNS = OBJECT_COLUMNS + [
    "phase", "node_name", "pod_ip", "host_ip", "qos_class", "ready", "restarts", "containers",
    "cpu_request", "memory_request", "cpu_limit", "memory_limit", "start_time", "service_account",
    "restart_policy", "images", "spec", "status",
]
# PostgreSQL's type names (pg_type.typname) of the pods columns.
POD_TYPES = dict(
    zip(
        POD_COLUMNS,
        ["text"] * 6 + ["timestamptz", "text", "int8"] + ["jsonb"] * 4 + ["timestamptz"]
        + ["text"] * 5 + ["bool", "int8", "int8", "float8", "int8", "float8", "int8", "timestamptz"]
        + ["text", "text", "jsonb", "jsonb", "jsonb"],
    )
)
# The columns a pod named only by its uid still has (reference.sql's `empty` pod of kind-b): the
# key, its name (a snapshot object needs one), its kind, and the counts and lists kubepg
# computes from the spec; every other column is NULL.
SET_IN_EMPTY_POD = {"_cluster", "name", "uid", "api_version", "kind", "restarts", "containers", "images"}
RESOURCE_TABLES = {"pods", "deployments", "nodes", "configmaps"}
KUBEPG_TABLES = {"clusters", "resources"}
KUBEPG_VIEWS = {"tables", "changes"}
PRIMARY_KEY = ["_cluster", "uid"]
