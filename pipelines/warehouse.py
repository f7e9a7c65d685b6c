"""DuckDB access: connect, run files from ``sql/``, replace a partition atomically.

The only module that knows the warehouse is DuckDB. Writers open a read-write connection (one
process at a time: every writing asset sits in the ``warehouse`` pool of limit 1); readers such as
notebooks and reports open it read-only.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from pipelines.settings import SQL_DIR


def sql_text(name: str) -> str:
    """The text of ``sql/<name>.sql``."""
    return (SQL_DIR / f"{name}.sql").read_text()


@contextmanager
def connect(path: str | Path, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection to the warehouse at ``path`` in UTC; writers get the schema created first."""
    path = Path(path)
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path), read_only=read_only)
    try:
        con.execute("SET TimeZone = 'UTC'")
        if not read_only:
            con.execute(sql_text("schema"))
        yield con
    finally:
        con.close()


def query(
    con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] | None = None
) -> pl.DataFrame:
    """Run a parameterised query and return its result as a Polars frame (timestamps in UTC)."""
    frame = con.sql(sql, params=list(params) if params else None).pl()
    return frame.with_columns(
        pl.col(name).dt.convert_time_zone("UTC")
        for name, dtype in frame.schema.items()
        if isinstance(dtype, pl.Datetime) and dtype.time_zone is not None
    )


def insert_frame(con: duckdb.DuckDBPyConnection, table: str, frame: pl.DataFrame) -> int:
    """Append ``frame`` to ``table`` by column name; returns the rows written."""
    if frame.is_empty():
        return 0
    columns = ", ".join(f'"{name}"' for name in frame.columns)
    con.register("_pledge_frame", frame)
    try:
        con.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM _pledge_frame")
    finally:
        con.unregister("_pledge_frame")
    return frame.height


_in_transaction: set[int] = set()
"""Connections (by id) inside ``transaction``: an inner ``transaction`` joins the outer one."""


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """Everything inside lands together or not at all; nested uses join the outermost.

    A run over many partitions wraps them in one transaction (one commit instead of one per
    day); each partition's replacement stays atomic either way.
    """
    if id(con) in _in_transaction:
        yield
        return
    con.execute("BEGIN TRANSACTION")
    _in_transaction.add(id(con))
    try:
        yield
    except BaseException:
        con.execute("ROLLBACK")
        raise
    else:
        con.execute("COMMIT")
    finally:
        _in_transaction.discard(id(con))


def replace_rows(
    con: duckdb.DuckDBPyConnection,
    writes: Sequence[tuple[str, str, Sequence[Any], pl.DataFrame]],
) -> None:
    """Delete then insert, for several tables, in one transaction.

    Each write is ``(table, where_sql, where_params, frame)``: rows matching ``where_sql`` are
    deleted from ``table`` and ``frame`` is appended. Either every write lands or none does, so a
    rerun of a partition never duplicates rows.
    """
    with transaction(con):
        for table, where_sql, params, frame in writes:
            con.execute(f"DELETE FROM {table} WHERE {where_sql}", list(params))
            insert_frame(con, table, frame)


def replace_with_query(
    con: duckdb.DuckDBPyConnection,
    table: str,
    where_sql: str,
    where_params: Sequence[Any],
    select_sql: str,
) -> None:
    """Delete the rows of ``table`` matching ``where_sql``, then insert the rows of
    ``select_sql`` (by column name), in one transaction and without the rows leaving DuckDB: the
    write of large tables computed in SQL (burn rates over every slice)."""
    with transaction(con):
        con.execute(f"DELETE FROM {table} WHERE {where_sql}", list(where_params))
        con.execute(f"INSERT INTO {table} BY NAME {select_sql}")
