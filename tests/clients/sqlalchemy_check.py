"""SQLAlchemy 2's PostgreSQL dialect reflecting kubepg through both of its drivers, psycopg2
(parameters interpolated by the client) and psycopg 3 (parameters bound by the server): every
Inspector method Superset and other SQLAlchemy tools call on a table, MetaData.reflect(), and
Superset's conversion of an epoch column (apache/superset superset/db_engine_specs/postgres.py,
epoch_to_dttm: `(timestamp 'epoch' + {col} * interval '1 second')`).
Prints one JSON object per driver of what SQLAlchemy read; the Rust suite asserts on it.

Argument: a libpq keyword connection string (host=… port=… user=… dbname=…)."""

import json
import sys

from sqlalchemy import MetaData, create_engine, inspect, text


def reflect(driver, params):
    url = f"postgresql+{driver}://{params['user']}@{params['host']}:{params['port']}/{params['dbname']}"
    engine = create_engine(url)
    inspector = inspect(engine)
    out = {
        "schemas": inspector.get_schema_names(),
        "tables": inspector.get_table_names(),
        "columns": {c["name"]: str(c["type"]) for c in inspector.get_columns("pods")},
        "pk": inspector.get_pk_constraint("pods"),
        "foreign_keys": inspector.get_foreign_keys("pods"),
        "indexes": inspector.get_indexes("pods"),
        "unique": inspector.get_unique_constraints("pods"),
        "checks": inspector.get_check_constraints("pods"),
    }
    metadata = MetaData()
    metadata.reflect(engine, only=["pods", "deployments"])
    out["reflected"] = {
        name: [c.name for c in table.primary_key.columns]
        for name, table in sorted(metadata.tables.items())
    }
    with engine.connect() as connection:
        epoch = "(timestamp 'epoch' + restarts * interval '1 second')"
        out["epoch_to_dttm"] = {
            str(restarts): when.isoformat()
            for restarts, when in connection.execute(
                text(f"SELECT restarts, {epoch} FROM pods WHERE restarts IS NOT NULL")
            )
        }
    engine.dispose()
    return out


def main():
    params = dict(part.split("=", 1) for part in sys.argv[1].split())
    print(json.dumps({driver: reflect(driver, params) for driver in ["psycopg2", "psycopg"]}))


main()
