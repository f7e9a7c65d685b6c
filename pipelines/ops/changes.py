"""What changed since the last successful run: the days a plain ``pledge run`` recomputes.

A landing file is settled when ``ops.ingested_files`` records it with the same sha256, ingested
no later than the end of a successful run (``ops.runs``) whose days include its day; a day is
changed when one of its files is not settled, or a file recorded for it is gone. The definitions
(contracts folder and ``sources.yaml``) are current when the latest successful run that began at
the first landing day used the same ones, and no later run used others; otherwise every day is
changed. A plain run runs from the earliest changed day to the last landing day (each day's
``as_of`` and first evidence shape the later days).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import polars as pl

from pipelines.contracts.sources import read_sources
from pipelines.ingest.landing import file_sha256, landing_file_days
from pipelines.settings import Settings
from pipelines.warehouse import connect, insert_frame, query

LANDING_SCHEMA = {"file": pl.String(), "sha256": pl.String(), "partition_date": pl.Date()}
"""A landing file now: its name relative to the landing folder, sha256 and UTC day."""

RECORDED_SQL = """
SELECT file, sha256, source, partition_date,
       EXISTS (
           SELECT 1 FROM ops.runs r
           WHERE f.partition_date BETWEEN r.first_day AND r.last_day
             AND r.finished_at >= f.ingested_at
       ) AS settled
FROM ops.ingested_files f
WHERE partition_date IS NOT NULL
"""

RUNS_SQL = """
SELECT max(finished_at) AS last_run,
       max(finished_at) FILTER (WHERE definitions_sha256 = $1 AND first_day <= $2) AS full,
       max(finished_at) FILTER (WHERE definitions_sha256 <> $1) AS other
FROM ops.runs
"""


@dataclass(frozen=True)
class Changes:
    """What a plain run has to do: ``days`` (first, last) to run, or None when nothing changed
    (or nothing lands); ``reason`` says why; ``last_run`` is when the last successful run
    finished (None if none); ``files`` is the number of dated landing files."""

    days: tuple[date, date] | None
    reason: str
    last_run: datetime | None
    files: int


def definitions_sha256(settings: Settings) -> str:
    """sha256 over the contracts folder's files (relative names and bytes, sorted) and
    ``sources.yaml``: what every day's results depend on besides its evidence."""
    digest = hashlib.sha256()
    contracts = settings.contracts_dir
    files = sorted(p for p in contracts.rglob("*") if p.is_file()) if contracts.is_dir() else []
    named = [(p.relative_to(contracts).as_posix(), p) for p in files]
    for name, path in [*named, ("sources.yaml", settings.sources_file)]:
        content = path.read_bytes() if path.is_file() else b""
        for part in (name.encode(), content):
            digest.update(len(part).to_bytes(8, "big") + part)
    return digest.hexdigest()


def landing_state(settings: Settings) -> pl.DataFrame:
    """Every dated landing file of a valid source (``LANDING_SCHEMA``), hashed."""
    return pl.DataFrame(
        [
            (path.relative_to(settings.landing_dir).as_posix(), file_sha256(path), day)
            for path, day in landing_file_days(settings).items()
        ],
        schema=LANDING_SCHEMA,
        orient="row",
    )


def changed_days(landing: pl.DataFrame, recorded: pl.DataFrame) -> list[date]:
    """The days (sorted) with a landing file not settled in ``recorded`` under the same sha256,
    or with a recorded file no longer landing. ``landing``: ``LANDING_SCHEMA``; ``recorded``:
    file, sha256, partition_date, settled (bool) of the valid sources' ingested files."""
    settled = recorded.filter("settled").select("file", "sha256")
    new = landing.join(settled, on=["file", "sha256"], how="anti")
    gone = recorded.join(landing, on="file", how="anti")
    days = pl.concat([new["partition_date"], gone["partition_date"]]).unique().sort()
    return days.to_list()


def plan_run(settings: Settings) -> Changes:
    """The days a plain ``pledge run`` runs, judged against the warehouse (read-only); every
    landing day when there is no warehouse, it is locked by a writer, or holds no run yet."""
    landing = landing_state(settings)
    if landing.is_empty():
        return Changes(None, "no dated landing files", None, 0)
    span = (landing["partition_date"].min(), landing["partition_date"].max())
    every = Changes(span, "every landing day", None, landing.height)
    if not settings.warehouse_path.exists():
        return every
    sources = list(read_sources(settings.sources_file)[0])
    try:
        with connect(settings.warehouse_path, read_only=True) as con:
            runs = query(con, RUNS_SQL, [definitions_sha256(settings), span[0]])
            recorded = query(con, RECORDED_SQL).filter(pl.col("source").is_in(sources))
    except (duckdb.CatalogException, duckdb.IOException):  # no ops.runs yet; a writer holds it
        return every
    last_run, full, other = runs.row(0)
    if last_run is None:
        return every
    if full is None or (other is not None and other >= full):
        return Changes(span, "the definitions changed", last_run, landing.height)
    days = changed_days(landing, recorded)
    if not days:
        return Changes(None, "nothing new", last_run, landing.height)
    return Changes(
        (days[0], max(span[1], days[-1])), "changed landing files", last_run, landing.height
    )


def record_run(warehouse_path: Path, first_day: date, last_day: date, definitions: str) -> bool:
    """Record a successful run of ``first_day..last_day`` with the definitions' sha256; False
    when another process holds the warehouse (the next plain run then reruns these days)."""
    row = pl.DataFrame(
        {
            "finished_at": [datetime.now(UTC)],
            "first_day": [first_day],
            "last_day": [last_day],
            "definitions_sha256": [definitions],
        }
    )
    try:
        with connect(warehouse_path) as con:
            insert_frame(con, "ops.runs", row)
    except duckdb.IOException:  # an analyst opened it the moment the run let it go
        return False
    return True
