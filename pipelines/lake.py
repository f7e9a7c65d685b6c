"""The lake: the large per-day tables as Hive-partitioned Parquet files, read through DuckDB views.

Layout under the lake root (``<home>/lake`` by default, any fsspec URL with ``PLEDGE_LAKE``)::

    <root>/<schema>/<table>/partition_date=YYYY-MM-DD/<file key>.parquet

A partition holds one file per *file key* (the ``source`` of a raw table: each (day, source) is
ingested on its own; ``part`` for tables written a whole day at a time). A file is replaced by
writing a hidden temporary file beside it and renaming it over the old one, so a reader, or a
run killed mid-write, never sees a partial partition, and processes writing different files never
meet. ``partition_date`` is in the path, not in the file. Every reader sees a lake table as a view
of the DuckDB warehouse with the table's name and the exact column types below (``view_sql``).

The functions here know files and frames only; ``pipelines.warehouse`` connects them to DuckDB.
"""

from __future__ import annotations

import os
import posixpath
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from urllib.parse import quote, unquote

import fsspec
import polars as pl

LAKE_VARIABLE = "PLEDGE_LAKE"
"""The lake root: a folder or an fsspec URL (``file://``, ``s3://``, ``memory://`` ...)."""

PARTITION = "partition_date"
WHOLE_DAY_KEY = "part"
"""The file name (without ``.parquet``) of tables written a whole day at a time."""
FILE_KEY = "file_key"
"""The file key column of ``partition_files`` for tables written a whole day at a time."""

POLARS_TYPES: dict[str, pl.DataType] = {
    "DATE": pl.Date(),
    "TIMESTAMPTZ": pl.Datetime("us", "UTC"),
    "BIGINT": pl.Int64(),
    "DOUBLE": pl.Float64(),
    "VARCHAR": pl.String(),
    "BOOLEAN": pl.Boolean(),
}


@dataclass(frozen=True)
class LakeTable:
    """A table of the lake: its columns (name, DuckDB type) after ``partition_date``, and the
    column naming a partition's files (None: one file per day)."""

    name: str
    columns: tuple[tuple[str, str], ...]
    file_key: str | None

    @property
    def schema(self) -> dict[str, pl.DataType]:
        """The Polars schema of the table's rows, ``partition_date`` first."""
        return {PARTITION: pl.Date(), **{n: POLARS_TYPES[t] for n, t in self.columns}}


TABLES: dict[str, LakeTable] = {
    table.name: table
    for table in [
        # Request counters, one row per (minute, service): total requests and the failed ones.
        # partition_date is the day named in the landing file's name (the unit replaced on
        # re-ingest): a row's ts may fall outside it (files cut at local midnight), select rows
        # by ts. source: the sources.yaml entry; file: the path under the landing folder.
        LakeTable(
            "raw.requests",
            (
                ("ts", "TIMESTAMPTZ"),
                ("service", "VARCHAR"),
                ("total", "BIGINT"),
                ("errors", "BIGINT"),
                ("source", "VARCHAR"),
                ("file", "VARCHAR"),
            ),
            "source",
        ),
        # Cumulative latency histogram buckets (Prometheus semantics): requests with latency <=
        # le_seconds; le_seconds = +inf is the bucket holding every request. Partitions, source
        # and file as raw.requests.
        LakeTable(
            "raw.latency_buckets",
            (
                ("ts", "TIMESTAMPTZ"),
                ("service", "VARCHAR"),
                ("le_seconds", "DOUBLE"),
                ("count", "BIGINT"),
                ("source", "VARCHAR"),
                ("file", "VARCHAR"),
            ),
            "source",
        ),
        # Synthetic probe results, one row per (minute, service, location). Partitions, source
        # and file as raw.requests.
        LakeTable(
            "raw.probes",
            (
                ("ts", "TIMESTAMPTZ"),
                ("service", "VARCHAR"),
                ("location", "VARCHAR"),
                ("up", "BOOLEAN"),
                ("source", "VARCHAR"),
                ("file", "VARCHAR"),
            ),
            "source",
        ),
        # Good/total per slice of an objective, after exclusions and corrections; partition_date
        # is the UTC day of slice_start. unit: 'events' (occurrences), 'minutes' (timeslices: a
        # good slice counts its length in good minutes) or 'slices' (ratio_timeslices: a slice
        # counts its good/total ratio over 1). excluded_minutes / corrected_minutes:
        # minutes removed by exclusions / by corrections (a minute both excluded and corrected
        # counts as excluded).
        LakeTable(
            "sla.slices",
            (
                ("contract_id", "VARCHAR"),
                ("objective_id", "VARCHAR"),
                ("slice_start", "TIMESTAMPTZ"),
                ("good", "DOUBLE"),
                ("total", "DOUBLE"),
                ("excluded_minutes", "DOUBLE"),
                ("corrected_minutes", "DOUBLE"),
                ("missing_minutes", "DOUBLE"),
            ),
            None,
        ),
        # Burn rates at the end of every slice of sla.slices over each look-back (sla/burn.py:
        # LOOKBACKS); partition_date is the partition of the slice (the UTC day of its start).
        LakeTable(
            "sla.burn_rates",
            (
                ("contract_id", "VARCHAR"),
                ("objective_id", "VARCHAR"),
                ("ts", "TIMESTAMPTZ"),
                ("burn_5m", "DOUBLE"),
                ("burn_30m", "DOUBLE"),
                ("burn_1h", "DOUBLE"),
                ("burn_6h", "DOUBLE"),
                ("burn_1d", "DOUBLE"),
                ("burn_3d", "DOUBLE"),
            ),
            None,
        ),
        # The slice ends at which an alert rule fires (both its look-back burn rates above its
        # burn_rate): burn is the long look-back's burn rate. Partitions as sla.burn_rates.
        LakeTable(
            "sla.alert_firing",
            (
                ("contract_id", "VARCHAR"),
                ("objective_id", "VARCHAR"),
                ("severity", "VARCHAR"),
                ("ts", "TIMESTAMPTZ"),
                ("slice_seconds", "BIGINT"),
                ("burn", "DOUBLE"),
            ),
            None,
        ),
    ]
}
"""Every lake table by its warehouse name."""


@dataclass(frozen=True)
class Lake:
    """A lake root: ``url`` as configured, ``fs`` its fsspec filesystem, ``root`` the path in it."""

    url: str
    fs: fsspec.AbstractFileSystem
    root: str

    @classmethod
    def at(cls, url: str | os.PathLike) -> Lake:
        """The lake at a folder or fsspec URL (a local folder is made absolute)."""
        text = os.fspath(url)
        if "://" not in text:
            text = Path(text).resolve().as_posix()
        fs, root = fsspec.core.url_to_fs(text)
        return cls(text, fs, root.rstrip("/"))

    @property
    def is_local(self) -> bool:
        return "file" in _protocols(self.fs)

    def table_dir(self, table: str) -> str:
        return posixpath.join(self.root, *table.split("."))

    def partition_dir(self, table: str, day: date) -> str:
        return posixpath.join(self.table_dir(table), f"{PARTITION}={day.isoformat()}")

    def file_path(self, table: str, day: date, key: str | None) -> str:
        """The file of ``(day, key)``; ``key`` is quoted (a source name may hold any character)."""
        name = WHOLE_DAY_KEY if key is None else quote(key, safe="")
        return posixpath.join(self.partition_dir(table, day), f"{name}.parquet")

    def has_files(self, table: str) -> bool:
        """Whether ``table`` has a partition file (a local lake stops at the first one found)."""
        pattern = posixpath.join(self.table_dir(table), "*", "*.parquet")
        if self.is_local:
            return next(Path(self.table_dir(table)).glob("*/*.parquet"), None) is not None
        return bool(self.fs.glob(pattern))

    def glob_url(self, table: str) -> str:
        """Every file of ``table``, as DuckDB reads it (a local path or a protocol URL)."""
        pattern = posixpath.join(self.table_dir(table), "*", "*.parquet")
        return pattern if self.is_local else self.fs.unstrip_protocol(pattern)


def lake_for(warehouse_path: str | os.PathLike) -> Lake:
    """The lake of a warehouse: ``PLEDGE_LAKE`` when set, else the folder ``lake`` beside it."""
    configured = os.environ.get(LAKE_VARIABLE, "").strip()
    return Lake.at(configured or Path(warehouse_path).resolve().parent / "lake")


def partition_files(lake: Lake, table: str) -> pl.DataFrame:
    """One row per file of ``table``: ``partition_date`` (Date) and its file key (String,
    named after the key column, ``file_key`` and null for tables written a day at a time)."""
    spec = TABLES[table]
    rows = []
    for path in lake.fs.glob(posixpath.join(lake.table_dir(table), "*", "*.parquet")):
        folder, name = posixpath.split(path)
        day = date.fromisoformat(posixpath.basename(folder).removeprefix(f"{PARTITION}="))
        key = None if spec.file_key is None else unquote(name.removesuffix(".parquet"))
        rows.append((day, key))
    return pl.DataFrame(rows, schema=_files_schema(spec), orient="row").sort(PARTITION)


def file_keys(table: str, rows: pl.DataFrame) -> pl.DataFrame:
    """The distinct (partition_date, file key) of ``rows``, as ``partition_files`` names them."""
    spec = TABLES[table]
    key = pl.col(spec.file_key) if spec.file_key else pl.lit(None, pl.String)
    return rows.select(PARTITION, key.alias(spec.file_key or FILE_KEY)).unique()


def read_partition(lake: Lake, table: str, day: date, key: str | None) -> pl.DataFrame:
    """The rows of one file (``TABLES[table].schema``); none when it does not exist."""
    spec = TABLES[table]
    path = lake.file_path(table, day, key)
    if not lake.fs.exists(path):
        return pl.DataFrame(schema=spec.schema)
    with lake.fs.open(path, "rb") as handle:
        rows = pl.read_parquet(handle)
    return rows.with_columns(pl.lit(day, pl.Date).alias(PARTITION)).select(spec.schema.keys())


def write_partition(lake: Lake, table: str, day: date, key: str | None, rows: pl.DataFrame) -> int:
    """Replace the file ``(day, key)`` of ``table`` with ``rows`` (cast to the table's schema;
    their ``partition_date`` column, if any, is dropped): written to a hidden temporary file,
    then renamed over the old one. No rows removes the file. Returns the rows written."""
    spec = TABLES[table]
    path = lake.file_path(table, day, key)
    if rows.is_empty():
        if lake.fs.exists(path):
            lake.fs.rm(path)
        return 0
    columns = [name for name, _ in spec.columns]
    data = rows.select(pl.col(name).cast(spec.schema[name], strict=True) for name in columns)
    folder, name = posixpath.split(path)
    temporary = posixpath.join(folder, f".{name}.{uuid.uuid4().hex}.tmp")
    lake.fs.makedirs(folder, exist_ok=True)
    try:
        with lake.fs.open(temporary, "wb") as handle:
            data.write_parquet(handle, statistics=True)
        lake.fs.mv(temporary, path)
    finally:
        if lake.fs.exists(temporary):
            lake.fs.rm(temporary)
    return data.height


def replace_partitions(
    lake: Lake,
    table: str,
    rows: pl.DataFrame,
    partitions: Iterable[tuple[date, str | None]],
) -> int:
    """Replace each file ``(day, key)`` of ``partitions`` with the rows of ``rows`` that belong
    to it (by ``partition_date`` and the file key column); a file with no rows is removed. Rows
    outside ``partitions`` are an error (they would be lost). Returns the rows written."""
    spec = TABLES[table]
    wanted = set(partitions)
    by_file = rows.partition_by(
        [PARTITION, spec.file_key] if spec.file_key else [PARTITION], as_dict=True
    )
    found = {
        (group[0], group[1] if spec.file_key else None): part for group, part in by_file.items()
    }
    stray = sorted(set(found) - wanted, key=str)
    if stray:
        raise ValueError(f"{table}: rows for partitions not being replaced: {stray[:5]}")
    return sum(
        write_partition(lake, table, day, key, found.get((day, key), rows.clear()))
        for day, key in sorted(wanted, key=str)
    )


def writing_folder(lake: Lake, table: str) -> str:
    """The path of a fresh hidden folder in ``table``'s folder (made) for a writer to fill with
    Hive partitions (``partition_date=YYYY-MM-DD/*.parquet``) before ``move_partitions`` moves
    them in. Readers never see it: the table's files lie one folder deep, these two."""
    lake.fs.makedirs(lake.table_dir(table), exist_ok=True)
    return posixpath.join(lake.table_dir(table), f".writing-{uuid.uuid4().hex}")


def written_days(lake: Lake, folder: str) -> set[date]:
    """The days of the Hive partitions written under ``folder``."""
    return set(_written_files(lake, folder))


def _written_files(lake: Lake, folder: str) -> dict[date, list[str]]:
    written: dict[date, list[str]] = {}
    for path in sorted(lake.fs.glob(posixpath.join(folder, f"{PARTITION}=*", "*.parquet"))):
        day = posixpath.basename(posixpath.dirname(path)).removeprefix(f"{PARTITION}=")
        written.setdefault(date.fromisoformat(day), []).append(path)
    return written


def move_partitions(lake: Lake, table: str, folder: str, days: Iterable[date]) -> int:
    """Make the Hive partitions written under ``folder`` the files of ``days`` of ``table`` (a
    table written a whole day at a time), each by one rename over the old file; a day of
    ``days`` with nothing written loses its file. Partitions of other days are an error (their
    rows would be lost); ``folder`` is removed either way. Returns the partitions moved in."""
    if TABLES[table].file_key is not None:
        raise ValueError(f"{table}: partitions hold one file per {TABLES[table].file_key}")
    wanted = set(days)
    try:
        written = _written_files(lake, folder)
        stray = sorted(set(written) - wanted)
        if stray:
            raise ValueError(f"{table}: rows for partitions not being replaced: {stray[:5]}")
        for day in sorted(wanted):
            paths = written.get(day, [])
            if len(paths) > 1:  # one file per partition: merge what the writer split
                with_rows = [pl.read_parquet(lake.fs.cat_file(path)) for path in paths]
                write_partition(lake, table, day, None, pl.concat(with_rows))
            elif paths:
                lake.fs.makedirs(lake.partition_dir(table, day), exist_ok=True)
                lake.fs.mv(paths[0], lake.file_path(table, day, None))
            elif lake.fs.exists(lake.file_path(table, day, None)):
                lake.fs.rm(lake.file_path(table, day, None))
        return len(written)
    finally:
        if lake.fs.exists(folder):
            lake.fs.rm(folder, recursive=True)


def view_sql(lake: Lake, table: str, has_files: bool) -> str:
    """``CREATE OR REPLACE VIEW`` of ``table`` over its files, with the declared column types
    (a typed empty view while the table has no file: DuckDB cannot read a glob matching none)."""
    spec = TABLES[table]
    columns = [(PARTITION, "DATE"), *spec.columns]
    select = ", ".join(f'CAST("{name}" AS {kind}) AS "{name}"' for name, kind in columns)
    if has_files:
        glob = lake.glob_url(table).replace("'", "''")
        source = (
            f"read_parquet('{glob}', hive_partitioning = true, "
            f"hive_types = {{'{PARTITION}': DATE}})"
        )
    else:
        nulls = ", ".join(f'NULL AS "{name}"' for name, _ in columns)
        source = f"(SELECT {nulls} WHERE false)"
    return f"CREATE OR REPLACE VIEW {table} AS SELECT {select} FROM {source}"


def _files_schema(spec: LakeTable) -> dict[str, pl.DataType]:
    return {PARTITION: pl.Date(), spec.file_key or FILE_KEY: pl.String()}


def _protocols(fs: fsspec.AbstractFileSystem) -> tuple[str, ...]:
    protocol = fs.protocol
    return (protocol,) if isinstance(protocol, str) else tuple(protocol)
