"""Set-based work on a batch in a private in-memory DuckDB, apart from the store.

A stage hands in Arrow tables, runs one statement from ``sql/<name>.sql`` over them
and gets an Arrow table back. Nothing is written to the store, so this works the
same whether the store is DuckDB or PostgreSQL.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa

from leadshare.store import load_sql


def query(name: str, tables: dict[str, pa.Table], **params: object) -> pa.Table:
    """Run ``sql/<name>.sql`` over ``tables`` (registered by name) with ``$params``."""
    with duckdb.connect() as con:
        # Timestamps without an offset are read as UTC, whatever the machine's zone.
        con.execute("SET TimeZone = 'UTC'")
        for table_name, table in tables.items():
            con.register(table_name, table)
        return con.sql(load_sql(name), params=params or None).to_arrow_table()
