"""Load (day, source) partitions of landing files into the warehouse, atomically.

Every file of a day gets one ``ops.ingested_files`` row: ``loaded`` (its valid rows in the raw
table, its invalid ones in ``raw.rejects``; ``rows_in = rows_loaded + rows_rejected``, counted in
file rows: a ticket row loading as several events counts once), ``duplicate`` (same sha256 as a
file already loaded under another name, outside the partitions being replaced or earlier in
them, days in order: nothing loaded) or ``failed`` (the file could not be parsed at all:
``error`` says why; the other files still load). A file's rows not adding up raises
``UnaccountedRows``.

Files matching the source's glob whose name holds no date belong to no partition: they are
recorded as ``failed`` with ``partition_date`` NULL, and that list is refreshed (deleted and
rewritten) every time any partition of the source is ingested, so it always shows the undated
files present at the last ingest without ever duplicating them.

A run over many days costs what its rows cost: the files are listed and hashed once, the loaded
digests looked up once, small files judged together (``parse.parse_records``) and the rows
written a few days at a time (``FLUSH_ROWS``), each lake partition file once and each DuckDB
table with one delete and one insert per flush.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import polars as pl

from pipelines import warehouse
from pipelines.contracts.sources import Source
from pipelines.ingest.landing import file_sha256, files_by_day, landing_files
from pipelines.ingest.parse import (
    LandingRecords,
    UnreadableFile,
    parse_landing_file,
    parse_records,
    read_landing_file,
)
from pipelines.ingest.rows import REJECT_SCHEMA, ROW_SCHEMAS

RAW_TABLES = {
    "requests": "raw.requests",
    "histogram": "raw.latency_buckets",
    "probes": "raw.probes",
    "tickets": "raw.ticket_events",
    "security_incidents": "raw.security_incidents",
    "backup_runs": "raw.backup_runs",
    "restore_tests": "raw.restore_tests",
    "survey_responses": "raw.survey_responses",
    "latency_samples": "raw.latency_samples",
}
"""The raw table each source kind loads into."""

INGESTED_FILE_SCHEMA: dict[str, pl.DataType] = {
    "file": pl.String(),
    "sha256": pl.String(),
    "source": pl.String(),
    "partition_date": pl.Date(),
    "status": pl.String(),
    "rows_loaded": pl.Int64(),
    "rows_rejected": pl.Int64(),
    "error": pl.String(),
    "duplicate_of": pl.String(),
    "ingested_at": pl.Datetime("us", "UTC"),
    "rows_in": pl.Int64(),
}

FLUSH_ROWS = 1_000_000
"""Parsed rows held in memory before the partitions of their days are written (memory follows
this, not the number of days a run covers)."""

_IN_PARTITIONS = "source = ? AND list_contains(?, partition_date)"


class UnaccountedRows(RuntimeError):
    """A parsed file whose rows in differ from rows loaded + rows rejected (a defect of the
    parser, never of the file)."""


def ingest_partition(
    con: duckdb.DuckDBPyConnection,
    source_name: str,
    source: Source,
    landing_dir: str | Path,
    day: date,
    known_services: Collection[str],
    ingested_at: datetime | None = None,
) -> pl.DataFrame:
    """``ingest_partitions`` of the one day ``day``."""
    return ingest_partitions(
        con, source_name, source, landing_dir, [day], known_services, ingested_at
    )


def ingest_partitions(
    con: duckdb.DuckDBPyConnection,
    source_name: str,
    source: Source,
    landing_dir: str | Path,
    days: Iterable[date],
    known_services: Collection[str],
    ingested_at: datetime | None = None,
) -> pl.DataFrame:
    """Replace the ``(day, source_name)`` partitions of the raw table, ``raw.rejects`` and
    ``ops.ingested_files`` of every day of ``days`` with what the landing files of each day
    hold, in one transaction.

    File names in the warehouse are paths relative to ``landing_dir``. Returns the
    ``ops.ingested_files`` rows written (``INGESTED_FILE_SCHEMA``), undated files included.
    """
    landing_dir = Path(landing_dir)
    ingested_at = ingested_at or datetime.now(UTC)
    run_days = sorted(set(days))
    by_day = files_by_day(landing_files(landing_dir, source), source.date_pattern)
    digests: dict[Path, str] = {}
    unreadable: dict[Path, str] = {}
    for day in run_days:
        for path in by_day.get(day, []):
            try:
                digests[path] = file_sha256(path)
            except OSError as error:
                unreadable[path] = f"{_name(path, landing_dir)}: {error.strerror}"
    loaded_elsewhere = _loaded_files(con, source_name, run_days, list(digests.values()))

    records: list[dict[str, object]] = []
    chunk: list[_DayFile] = []
    waiting: set[str] = set()  # digests of the chunk's files read, to be judged
    held = flushed = 0
    with warehouse.transaction(con):
        for index, day in enumerate(run_days):
            for path in by_day.get(day, []):
                name = _name(path, landing_dir)
                digest = digests.get(path)
                file = _DayFile(path, day, {"file": name, "sha256": digest, "partition_date": day})
                records.append(file.record)
                chunk.append(file)
                original = loaded_elsewhere.get(digest or "")
                if path in unreadable:
                    file.record |= {"status": "failed", "error": unreadable[path]}
                elif original is not None and original != name:
                    file.record |= {"status": "duplicate", "duplicate_of": original}
                elif digest not in waiting:  # a copy of a file read waits for its judgement
                    waiting.add(digest)
                    held += _read(file, source)
            if held >= FLUSH_ROWS or index + 1 == len(run_days):
                rows, rejects = _loaded(chunk, loaded_elsewhere, source, known_services)
                _replace_day_rows(
                    con, source_name, source.kind, run_days[flushed : index + 1], rows, rejects
                )
                chunk, waiting, held, flushed = [], set(), 0, index + 1
        for path in by_day.get(None, []):
            records.append(
                {
                    "file": _name(path, landing_dir),
                    "status": "failed",
                    "error": f"no date matching {source.date_pattern!r} in the file name",
                }
            )
        ingested_files = pl.DataFrame(
            [{"rows_in": 0, "rows_loaded": 0, "rows_rejected": 0} | record for record in records],
            schema=INGESTED_FILE_SCHEMA,
        ).with_columns(
            source=pl.lit(source_name), ingested_at=pl.lit(ingested_at, pl.Datetime("us", "UTC"))
        )
        warehouse.replace_rows(
            con,
            [
                (
                    "ops.ingested_files",
                    "source = ? AND (list_contains(?, partition_date) OR partition_date IS NULL)",
                    [source_name, run_days],
                    ingested_files,
                )
            ],
        )
    return ingested_files


def _name(path: Path, landing_dir: Path) -> str:
    """A landing file's name in the warehouse: its path under the landing folder."""
    return path.relative_to(landing_dir).as_posix()


@dataclass
class _DayFile:
    """A dated landing file of the run: its ``ops.ingested_files`` record, settled as the file
    is read and judged, and its records while they wait to be judged."""

    path: Path
    day: date
    record: dict[str, object]
    read: LandingRecords | None = None

    @property
    def name(self) -> str:
        return str(self.record["file"])


def _read(file: _DayFile, source: Source) -> int:
    """Read the file (``failed`` when it cannot be); returns the records it holds."""
    try:
        file.read = read_landing_file(file.path, source, file.name)
    except UnreadableFile as error:
        file.record |= {"status": "failed", "error": str(error)}
        return 0
    return file.read.records.height


def _loaded(
    chunk: list[_DayFile],
    loaded_elsewhere: dict[str, str],
    source: Source,
    known_services: Collection[str],
) -> tuple[list[pl.DataFrame], list[pl.DataFrame]]:
    """Judge the files of ``chunk`` read (``parse.parse_records``: small ones together) and
    settle every record, in file order as if one by one: a copy of a file of the chunk is a
    duplicate when that file loaded, else judged by itself. Returns the rows and rejects of the
    files that load, each stamped with its ``partition_date`` (rows also with their ``file``)."""
    reads = [file.read for file in chunk if file.read is not None]
    judged = iter(parse_records(reads, source, known_services))
    rows: list[pl.DataFrame] = []
    rejects: list[pl.DataFrame] = []
    for file in chunk:
        if file.read is None and "status" in file.record:
            continue  # failed or duplicate before being read
        digest = str(file.record["sha256"])
        if file.read is not None:
            parsed = next(judged)
            file.read = None
        elif loaded_elsewhere.get(digest, file.name) != file.name:
            file.record |= {"status": "duplicate", "duplicate_of": loaded_elsewhere[digest]}
            continue
        else:  # a copy of a file that did not load: it fails the same way, under its own name
            try:
                parsed = parse_landing_file(file.path, source, known_services, file.name)
            except UnreadableFile as error:
                parsed = error
        if isinstance(parsed, UnreadableFile):
            file.record |= {"status": "failed", "error": str(parsed)}
            continue
        if parsed.rows_in != parsed.rows_loaded + parsed.rejects.height:
            raise UnaccountedRows(
                f"{file.name}: {parsed.rows_in} rows in, {parsed.rows_loaded} loaded + "
                f"{parsed.rejects.height} rejected"
            )
        loaded_elsewhere[digest] = file.name
        day = pl.lit(file.day, pl.Date)
        rows.append(parsed.rows.with_columns(file=pl.lit(file.name), partition_date=day))
        rejects.append(parsed.rejects.with_columns(partition_date=day))
        file.record |= {
            "status": "loaded",
            "rows_in": parsed.rows_in,
            "rows_loaded": parsed.rows_loaded,
            "rows_rejected": parsed.rejects.height,
        }
    return rows, rejects


def _replace_day_rows(
    con: duckdb.DuckDBPyConnection,
    source_name: str,
    kind: str,
    days: list[date],
    rows: list[pl.DataFrame],
    rejects: list[pl.DataFrame],
) -> None:
    """Replace the ``(day, source_name)`` partitions of ``days`` of the raw table and
    ``raw.rejects`` with the stacked ``rows`` and ``rejects`` (each with its ``partition_date``)."""
    row_schema = ROW_SCHEMAS[kind] | {"file": pl.String(), "partition_date": pl.Date()}
    reject_schema = REJECT_SCHEMA | {"partition_date": pl.Date()}
    warehouse.replace_rows(
        con,
        [
            (
                RAW_TABLES[kind],
                _IN_PARTITIONS,
                [source_name, days],
                _stacked(rows, row_schema, source_name),
            ),
            (
                "raw.rejects",
                _IN_PARTITIONS,
                [source_name, days],
                _stacked(rejects, reject_schema, source_name),
            ),
        ],
    )


def _loaded_files(
    con: duckdb.DuckDBPyConnection, source_name: str, days: list[date], digests: list[str]
) -> dict[str, str]:
    """sha256 → file name of files already loaded outside the partitions being replaced."""
    loaded = warehouse.query(
        con,
        f"""
        SELECT sha256, min(file) AS file FROM ops.ingested_files
        WHERE status = 'loaded' AND list_contains(?, sha256) AND NOT ({_IN_PARTITIONS})
        GROUP BY sha256
        """,
        [digests, source_name, days],
    )
    return dict(zip(loaded["sha256"], loaded["file"], strict=True))


def _stacked(
    frames: list[pl.DataFrame], schema: dict[str, pl.DataType], source_name: str
) -> pl.DataFrame:
    """The frames stacked (``schema`` when there are none), with the ``source`` column."""
    stacked = pl.concat(frames) if frames else pl.DataFrame(schema=schema)
    return stacked.with_columns(source=pl.lit(source_name))
