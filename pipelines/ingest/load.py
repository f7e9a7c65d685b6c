"""Load one (day, source) partition of landing files into the warehouse, atomically.

Every file of the day gets one ``ops.ingested_files`` row: ``loaded`` (its valid rows in the raw
table, its invalid ones in ``raw.rejects``; ``rows_in = rows_loaded + rows_rejected``, counted in
file rows: a ticket row loading as several events counts once), ``duplicate`` (same sha256 as a
file already loaded under another name, in another partition or earlier in this one: nothing
loaded) or ``failed`` (the file could not be parsed at all: ``error`` says why; the other files
still load). A file's rows not adding up raises ``UnaccountedRows``.

Files matching the source's glob whose name holds no date belong to no partition: they are
recorded as ``failed`` with ``partition_date`` NULL, and that list is refreshed (deleted and
rewritten) every time any partition of the source is ingested, so it always shows the undated
files present at the last ingest without ever duplicating them.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import polars as pl

from pipelines import warehouse
from pipelines.contracts.sources import Source
from pipelines.ingest.landing import file_sha256, files_of_day, landing_files, undated_files
from pipelines.ingest.parse import UnreadableFile, parse_landing_file
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
    """Replace the ``(day, source_name)`` partition of the raw table, ``raw.rejects`` and
    ``ops.ingested_files`` with what the landing files of ``day`` hold, in one transaction.

    File names in the warehouse are paths relative to ``landing_dir``. Returns the
    ``ops.ingested_files`` rows written (``INGESTED_FILE_SCHEMA``), undated files included.
    """
    landing_dir = Path(landing_dir)
    ingested_at = ingested_at or datetime.now(UTC)
    files = landing_files(landing_dir, source)
    day_files = files_of_day(files, source.date_pattern, day)
    digests: dict[Path, str] = {}
    unreadable: dict[Path, str] = {}
    for path in day_files:
        try:
            digests[path] = file_sha256(path)
        except OSError as error:
            unreadable[path] = f"{path.relative_to(landing_dir).as_posix()}: {error.strerror}"
    loaded_elsewhere = _loaded_files(con, source_name, day, list(digests.values()))

    records: list[dict[str, object]] = []
    rows: list[pl.DataFrame] = []
    rejects: list[pl.DataFrame] = []
    for path in day_files:
        name = path.relative_to(landing_dir).as_posix()
        record = {"file": name, "sha256": digests.get(path), "status": "loaded"}
        original = loaded_elsewhere.get(digests.get(path, ""))
        if path in unreadable:
            record |= {"status": "failed", "error": unreadable[path]}
        elif original is not None and original != name:
            record |= {"status": "duplicate", "duplicate_of": original}
        else:
            try:
                parsed = parse_landing_file(path, source, known_services, file_name=name)
            except UnreadableFile as error:
                record |= {"status": "failed", "error": str(error)}
            else:
                if parsed.rows_in != parsed.rows_loaded + parsed.rejects.height:
                    raise UnaccountedRows(
                        f"{name}: {parsed.rows_in} rows in, {parsed.rows_loaded} loaded + "
                        f"{parsed.rejects.height} rejected"
                    )
                loaded_elsewhere[digests[path]] = name
                rows.append(parsed.rows.with_columns(file=pl.lit(name)))
                rejects.append(parsed.rejects)
                record |= {
                    "rows_in": parsed.rows_in,
                    "rows_loaded": parsed.rows_loaded,
                    "rows_rejected": parsed.rejects.height,
                }
        records.append(record | {"partition_date": day})
    for path in undated_files(files, source.date_pattern):
        records.append(
            {
                "file": path.relative_to(landing_dir).as_posix(),
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
    partition = [source_name, day]
    in_partition = "source = ? AND partition_date = ?"
    warehouse.replace_rows(
        con,
        [
            (
                RAW_TABLES[source.kind],
                in_partition,
                partition,
                _stamped(rows, ROW_SCHEMAS[source.kind] | {"file": pl.String()}, source_name, day),
            ),
            (
                "raw.rejects",
                in_partition,
                partition,
                _stamped(rejects, REJECT_SCHEMA, source_name, day),
            ),
            (
                "ops.ingested_files",
                "source = ? AND (partition_date = ? OR partition_date IS NULL)",
                partition,
                ingested_files,
            ),
        ],
    )
    return ingested_files


def _loaded_files(
    con: duckdb.DuckDBPyConnection, source_name: str, day: date, digests: list[str]
) -> dict[str, str]:
    """sha256 → file name of files already loaded outside the partition being replaced."""
    loaded = warehouse.query(
        con,
        """
        SELECT sha256, min(file) AS file FROM ops.ingested_files
        WHERE status = 'loaded' AND list_contains(?, sha256)
          AND NOT (source = ? AND partition_date = ?)
        GROUP BY sha256
        """,
        [digests, source_name, day],
    )
    return dict(zip(loaded["sha256"], loaded["file"], strict=True))


def _stamped(
    frames: list[pl.DataFrame], schema: dict[str, pl.DataType], source_name: str, day: date
) -> pl.DataFrame:
    """The frames stacked, with the partition's ``partition_date`` and ``source`` columns."""
    stacked = pl.concat(frames) if frames else pl.DataFrame(schema=schema)
    return stacked.with_columns(partition_date=pl.lit(day, pl.Date), source=pl.lit(source_name))
