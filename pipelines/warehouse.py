"""DuckDB access: connect, run files from ``sql/``, replace a partition atomically.

The only module that knows the warehouse is DuckDB. Writers open a read-write connection (one
process at a time: every writing asset sits in the ``warehouse`` pool of limit 1); readers such as
notebooks and reports open it read-only.

The large per-day tables (``pipelines.lake.TABLES``) live in the lake beside the file, as Parquet
partitions read through views of the same names; ``replace_rows`` and ``insert_frame`` write them
there, partition file by partition file, so callers need not know which table lives where.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from pipelines import lake as lakes
from pipelines.lake import PARTITION, Lake
from pipelines.settings import SQL_DIR


def sql_text(name: str) -> str:
    """The text of ``sql/<name>.sql``."""
    return (SQL_DIR / f"{name}.sql").read_text()


@contextmanager
def connect(
    path: str | Path, read_only: bool = False, lake: Lake | None = None
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection to the warehouse at ``path`` in UTC, over ``lake`` (default
    ``lake_for(path)``); writers get the schema created first and the lake's views pointed at
    its files (tables of an older warehouse that now live in the lake are moved there)."""
    path = Path(path)
    lake = lake or lakes.lake_for(path)
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path), read_only=read_only)
    _lakes[id(con)] = _LakeState(lake)
    try:
        con.execute("SET TimeZone = 'UTC'")
        if not lake.is_local:
            con.register_filesystem(lake.fs)
        if not read_only:
            _prepare(con)
        yield con
    finally:
        _lakes.pop(id(con), None)
        con.close()


class _LakeState:
    """A connection's lake, with the files of each lake table as last listed or written."""

    def __init__(self, lake: Lake) -> None:
        self.lake = lake
        self.files: dict[str, pl.DataFrame] = {}
        self.viewed_with_files: dict[str, bool] = {}


_lakes: dict[int, _LakeState] = {}
"""The lake of each open connection (by id)."""


def lake_of(con: duckdb.DuckDBPyConnection) -> Lake:
    """The lake the connection was opened over."""
    return _lakes[id(con)].lake


def _files(con: duckdb.DuckDBPyConnection, table: str) -> pl.DataFrame:
    state = _lakes[id(con)]
    if table not in state.files:
        state.files[table] = lakes.partition_files(state.lake, table)
    return state.files[table]


def _prepare(con: duckdb.DuckDBPyConnection) -> None:
    """A writer's warehouse made current: the schema of ``sql/schema.sql`` applied (and the tables
    of a warehouse older than the lake moved there) unless the warehouse records that this very
    schema text was applied; each lake view recreated unless the one stored (its comment: a digest
    of its SQL) is the one for the lake and files there are. Most connections do neither."""
    schema = sql_text("schema")
    if _stored_digest(con, "SELECT digest FROM ops.schema_applied") != _digest(schema):
        con.execute(schema)
        for table in lakes.TABLES:
            _move_table_to_lake(con, table)
        con.execute(
            "CREATE OR REPLACE TABLE ops.schema_applied AS SELECT ? AS digest", [_digest(schema)]
        )
    state = _lakes[id(con)]
    stored = dict(
        con.execute(
            "SELECT schema_name || '.' || view_name, comment FROM duckdb_views() WHERE NOT internal"
        ).fetchall()
    )
    for table in lakes.TABLES:
        has_files = state.lake.has_files(table)
        if stored.get(table) == _digest(lakes.view_sql(state.lake, table, has_files)):
            state.viewed_with_files[table] = has_files
        else:
            _sync_view(con, table, has_files)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _stored_digest(con: duckdb.DuckDBPyConnection, sql: str) -> str | None:
    """The digest ``sql`` reads, or None before its table exists."""
    try:
        row = con.execute(sql).fetchone()
    except duckdb.CatalogException:
        return None
    return None if row is None else row[0]


def _sync_view(con: duckdb.DuckDBPyConnection, table: str, has_files: bool | None = None) -> None:
    """(Re)create the view of ``table`` when it has not been created for the files there are
    (``has_files``, else listed), with a digest of its SQL as its comment."""
    state = _lakes[id(con)]
    if has_files is None:
        has_files = not _files(con, table).is_empty()
    if state.viewed_with_files.get(table) != has_files:
        view = lakes.view_sql(state.lake, table, has_files)
        con.execute(view)
        con.execute(f"COMMENT ON VIEW {table} IS '{_digest(view)}'")
        state.viewed_with_files[table] = has_files


def _move_table_to_lake(con: duckdb.DuckDBPyConnection, table: str) -> None:
    """Move the rows of a DuckDB table of a warehouse older than the lake into the lake, then
    drop the table (a kill in between moves them again: every file is replaced whole)."""
    schema, name = table.split(".")
    kind = con.execute(
        "SELECT table_type FROM information_schema.tables WHERE table_schema = ? "
        "AND table_name = ?",
        [schema, name],
    ).fetchone()
    if kind is None or kind[0] != "BASE TABLE":
        return
    has_partition = con.execute(
        "SELECT count(*) FROM information_schema.columns WHERE table_schema = ? "
        "AND table_name = ? AND column_name = ?",
        [schema, name, PARTITION],
    ).fetchone()
    if has_partition == (0,):  # derived rows of a warehouse before the table had partitions:
        con.execute(f"DROP TABLE {table}")  # their partitions are recomputed where missing
        return
    days = con.execute(f"SELECT DISTINCT {PARTITION} FROM {table} ORDER BY 1").fetchall()
    for (day,) in days:
        rows = query(con, f"SELECT * FROM {table} WHERE {PARTITION} = ?", [day])
        _write_lake(con, table, "false", [], rows, sync_view=False)
    con.execute(f"DROP TABLE {table}")


def working_path(published: str | Path) -> Path:
    """The working copy a run writes beside the published warehouse (never opened by readers)."""
    published = Path(published)
    return published.with_name(f".{published.stem}.writing{published.suffix}")


def _wal(path: Path) -> Path:
    return path.with_name(f"{path.name}.wal")


def copy_database(source: str | Path, target: str | Path) -> Path:
    """``target`` made a copy of the database ``source`` (its write-ahead log too; an old
    ``target`` and its log are discarded). Nothing is copied when ``source`` does not exist."""
    source, target = Path(source), Path(target)
    remove_database(target)
    if source.exists():
        shutil.copyfile(source, target)
        if _wal(source).exists():
            shutil.copyfile(_wal(source), _wal(target))
    return target


def remove_database(path: str | Path) -> None:
    """Delete a database file and its write-ahead log, if there."""
    for part in (Path(path), _wal(Path(path))):
        part.unlink(missing_ok=True)


def begin_working_copy(published: str | Path) -> Path:
    """A fresh working copy of the published warehouse (a copy left by a killed run is
    discarded). Returns its path (nothing is copied before the first run)."""
    return copy_database(published, working_path(published))


def publish(working: str | Path, published: str | Path) -> None:
    """Make the working copy the warehouse, atomically: checkpointed into one file, then renamed
    over ``published``. Readers that have the old file open keep reading it; new connections
    see the new one."""
    working, published = Path(working), Path(published)
    with connect(working) as con:
        con.execute("CHECKPOINT")
    _wal(published).unlink(missing_ok=True)  # a log of the old file would be replayed on the new
    os.replace(working, published)


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
    """Append ``frame`` to ``table`` by column name; returns the rows written. A lake table's
    partition files that get rows are rewritten with their old rows and the new ones."""
    if frame.is_empty():
        return 0
    if table in lakes.TABLES:
        _write_lake(con, table, "false", [], frame)
        return frame.height
    columns = ", ".join(f'"{name}"' for name in frame.columns)
    con.register("_pledge_frame", frame)
    try:
        con.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM _pledge_frame")
    finally:
        con.unregister("_pledge_frame")
    return frame.height


@contextmanager
def any_order(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """Inside, DuckDB may return the rows of a statement without ORDER BY in any order: it need
    not keep its input's order through large joins and aggregations, and runs them faster."""
    con.execute("SET preserve_insertion_order = false")
    try:
        yield
    finally:
        con.execute("RESET preserve_insertion_order")


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
        if id(con) in _lakes:  # views made in the transaction are gone: make them again
            _lakes[id(con)] = _LakeState(_lakes[id(con)].lake)
            for table in lakes.TABLES:
                _sync_view(con, table)
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

    A lake table is replaced partition file by partition file, before the DuckDB tables: its
    ``where_sql`` may name only ``partition_date`` and the table's file key (whole files are
    replaced, each atomically). A kill between the files and the DuckDB commit leaves new files
    beside the old records of what was loaded, so the next run loads those days again.
    """
    for table, where_sql, params, frame in writes:
        if table in lakes.TABLES:
            _write_lake(con, table, where_sql, params, frame)
    with transaction(con):
        for table, where_sql, params, frame in writes:
            if table not in lakes.TABLES:
                con.execute(f"DELETE FROM {table} WHERE {where_sql}", list(params))
                insert_frame(con, table, frame)


def _write_lake(
    con: duckdb.DuckDBPyConnection,
    table: str,
    where_sql: str,
    params: Sequence[Any],
    frame: pl.DataFrame,
    sync_view: bool = True,
) -> None:
    """Replace the files of ``table`` whose (partition_date, file key) match ``where_sql`` with
    the rows of ``frame`` that belong to them; files getting rows of ``frame`` but not matching
    keep their rows (an append)."""
    state = _lakes[id(con)]
    spec = lakes.TABLES[table]
    keys = [PARTITION, spec.file_key or lakes.FILE_KEY]
    files = _files(con, table)
    con.register("_pledge_files", files)
    try:
        matched = query(con, f"SELECT * FROM _pledge_files WHERE {where_sql}", params)
    except duckdb.BinderException as error:
        raise ValueError(
            f"{table} lives in the lake, where whole partition files are replaced: the condition "
            f"{where_sql!r} may name only {' and '.join(dict.fromkeys(keys))}"
        ) from error
    finally:
        con.unregister("_pledge_files")
    rows = frame.select(spec.schema.keys())
    replaced = set(matched.select(keys).iter_rows())
    receiving = set(lakes.file_keys(table, rows).iter_rows())
    appended = (receiving - replaced) & set(files.iter_rows())
    kept = [lakes.read_partition(state.lake, table, *key) for key in sorted(appended, key=str)]
    lakes.replace_partitions(
        state.lake, table, pl.concat([rows, *kept], how="vertical_relaxed"), replaced | receiving
    )
    remaining = (set(files.iter_rows()) - replaced) | receiving
    state.files[table] = pl.DataFrame(list(remaining), schema=files.schema, orient="row")
    if sync_view:
        _sync_view(con, table)


def replace_with_query(
    con: duckdb.DuckDBPyConnection,
    table: str,
    where_sql: str,
    where_params: Sequence[Any],
    select_sql: str,
) -> None:
    """Delete the rows of ``table`` matching ``where_sql``, then insert the rows of
    ``select_sql`` (by column name), in one transaction and without the rows leaving DuckDB: the
    write of large tables computed in SQL (burn rates over every slice). A lake table written a
    day at a time is written by DuckDB itself (``_copy_to_lake``; ``select_sql`` then has a
    ``partition_date`` column); one with file keys gets the rows as ``replace_rows`` writes them."""
    if table in lakes.TABLES:
        if lakes.TABLES[table].file_key is None:
            _copy_to_lake(con, table, where_sql, where_params, select_sql)
        else:
            _write_lake(con, table, where_sql, where_params, query(con, select_sql))
        return
    with transaction(con):
        con.execute(f"DELETE FROM {table} WHERE {where_sql}", list(where_params))
        con.execute(f"INSERT INTO {table} BY NAME {select_sql}")


def _copy_to_lake(
    con: duckdb.DuckDBPyConnection,
    table: str,
    where_sql: str,
    params: Sequence[Any],
    select_sql: str,
) -> None:
    """Replace the partitions of ``table`` (a table written a whole day at a time) matching
    ``where_sql`` with the rows of ``select_sql`` (which has a ``partition_date`` column): DuckDB
    writes them as Hive partitions into a hidden folder, each then renamed over its old file."""
    state = _lakes[id(con)]
    spec = lakes.TABLES[table]
    columns = ", ".join(f'CAST("{name}" AS {kind}) AS "{name}"' for name, kind in spec.columns)
    folder = lakes.writing_folder(state.lake, table)
    target = folder if state.lake.is_local else state.lake.fs.unstrip_protocol(folder)
    try:
        con.execute(
            f"COPY (SELECT {PARTITION}, {columns} FROM ({select_sql})) "
            f"TO '{target}' (FORMAT parquet, PARTITION_BY ({PARTITION}))"
        )
        stored = {day for (day,) in _files(con, table).select(PARTITION).iter_rows()}
        days = _matching_days(
            con, table, stored | lakes.written_days(state.lake, folder), where_sql, params
        )
    except BaseException:
        if state.lake.fs.exists(folder):
            state.lake.fs.rm(folder, recursive=True)
        raise
    lakes.move_partitions(state.lake, table, folder, days)
    state.files.pop(table, None)
    _sync_view(con, table)


def _matching_days(
    con: duckdb.DuckDBPyConnection,
    table: str,
    days: set[date],
    where_sql: str,
    params: Sequence[Any],
) -> list[date]:
    """The ``days`` whose partition of ``table`` ``where_sql`` (on ``partition_date`` only)
    selects."""
    con.register(
        "_pledge_days", pl.DataFrame({PARTITION: sorted(days)}, schema={PARTITION: pl.Date})
    )
    try:
        rows = con.execute(f"SELECT {PARTITION} FROM _pledge_days WHERE {where_sql}", list(params))
        return [day for (day,) in rows.fetchall()]
    except duckdb.BinderException as error:
        raise ValueError(
            f"{table} lives in the lake, where whole partitions are replaced: the condition "
            f"{where_sql!r} may name only {PARTITION}"
        ) from error
    finally:
        con.unregister("_pledge_days")
