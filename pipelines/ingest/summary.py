"""The data-quality summary of ingested evidence, from ``ops.ingested_files`` and ``raw.rejects``:
per source, the files loaded, duplicate and failed, the rows loaded and rejected, the most common
reject reasons with an example line, and every failed file with its error.

``read_ingest_records`` reads the two tables (read-only); everything else is a pure function of
the frames it returns. ``pledge run`` prints :func:`summary_text`; the portfolio's data-quality
banner and ``rejects.html`` show the same frames.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import duckdb
import polars as pl

from pipelines.warehouse import query

FILE_COLUMNS = (
    "source",
    "file",
    "partition_date",
    "status",
    "rows_loaded",
    "rows_rejected",
    "error",
)
"""The ``ops.ingested_files`` columns the summary reads."""

REASON_SCHEMA: dict[str, pl.DataType] = {
    "source": pl.String(),
    "file": pl.String(),
    "reason": pl.String(),
    "rejects": pl.Int64(),
    "line": pl.Int64(),
    "record": pl.String(),
}
"""Rejects counted per (source, file, reason), with the first such line as the example."""

REJECT_LISTING_SCHEMA: dict[str, pl.DataType] = {
    "source": pl.String(),
    "file": pl.String(),
    "line": pl.Int64(),
    "reason": pl.String(),
    "record": pl.String(),
}

TOP_REASONS = 3
"""Reject reasons shown per source (the most frequent)."""

EXAMPLE_WIDTH = 100
"""Characters of an example line shown in the printed summary."""


@dataclass(frozen=True)
class IngestRecords:
    """What the warehouse says of the files ingested: ``files`` (``FILE_COLUMNS``: source, file,
    status String; partition_date Date, null for a file without a date in its name; rows_loaded,
    rows_rejected Int64; error String) and ``reasons`` (``REASON_SCHEMA``)."""

    files: pl.DataFrame
    reasons: pl.DataFrame

    @property
    def has_problems(self) -> bool:
        """A file failed or a row was rejected."""
        problems = (pl.col("status") == "failed") | (pl.col("rows_rejected") > 0)
        return not self.files.filter(problems).is_empty()


def read_ingest_records(
    con: duckdb.DuckDBPyConnection, days: tuple[date, date] | None = None
) -> IngestRecords:
    """The files of the partitions dated in ``days`` (every partition when None) and the files
    without a date, and the rejects of those partitions counted per file and reason."""
    where, params = days_filter("partition_date", days)
    files = query(
        con,
        f"SELECT {', '.join(FILE_COLUMNS)} FROM ops.ingested_files "
        f"WHERE partition_date IS NULL OR {where} ORDER BY source, file",
        params,
    )
    reasons = query(
        con,
        "SELECT source, file, reason, count(*) AS rejects, min(line) AS line, "
        "arg_min(record, line) AS record FROM raw.rejects "
        f"WHERE {where} GROUP BY source, file, reason ORDER BY source, file, reason",
        params,
    )
    return IngestRecords(files, reasons.cast(REASON_SCHEMA))  # type: ignore[arg-type]


def read_rejects(con: duckdb.DuckDBPyConnection, per_file: int) -> pl.DataFrame:
    """The first ``per_file`` rejects of every file, by line (``REJECT_LISTING_SCHEMA``)."""
    return query(
        con,
        "SELECT source, file, line, reason, record FROM raw.rejects "
        "QUALIFY row_number() OVER (PARTITION BY source, file ORDER BY line) <= ? "
        "ORDER BY source, file, line",
        [per_file],
    ).cast(REJECT_LISTING_SCHEMA)  # type: ignore[arg-type]


def source_summary(records: IngestRecords) -> pl.DataFrame:
    """One row per source: source, files_loaded, files_duplicate, files_failed, rows_loaded,
    rows_rejected (Int64), sorted by source."""
    return (
        records.files.group_by("source")
        .agg(
            *(
                (pl.col("status") == status).sum().cast(pl.Int64).alias(f"files_{status}")
                for status in ("loaded", "duplicate", "failed")
            ),
            pl.col("rows_loaded").sum().cast(pl.Int64),
            pl.col("rows_rejected").sum().cast(pl.Int64),
        )
        .sort("source")
    )


def top_reasons(
    records: IngestRecords, top: int = TOP_REASONS, per: tuple[str, ...] = ("source",)
) -> pl.DataFrame:
    """The ``top`` most frequent reject reasons of each source (or of each group of the ``per``
    columns, e.g. ``("source", "file")``): the ``per`` columns, reason, rejects (Int64) and the
    example, the first such line of the first file (file, line, record); sorted by the ``per``
    columns, then most rejects first, then reason."""
    example = [pl.col(name).first() for name in ("file", "line", "record") if name not in per]
    return (
        records.reasons.sort("source", "file", "line")
        .group_by(*per, "reason", maintain_order=True)
        .agg(pl.col("rejects").sum(), *example)
        .sort([*per, "rejects", "reason"], descending=[*(False for _ in per), True, False])
        .group_by(*per, maintain_order=True)
        .head(top)
    )


def failed_files(records: IngestRecords) -> pl.DataFrame:
    """source, file, error of every failed file, by source and file. The error drops a leading
    ``<file>: `` (the file is its own column)."""
    return (
        records.files.filter(pl.col("status") == "failed")
        .select(
            "source",
            "file",
            error=pl.col("error").str.strip_prefix(pl.col("file") + ": "),
        )
        .sort("source", "file")
    )


def summary_text(records: IngestRecords, top: int = TOP_REASONS) -> str:
    """The summary as text, a block per source::

        requests: files 1 loaded, 0 duplicate, 1 failed; rows 2,016 loaded, 3 rejected
          failed: requests/requests-2026-11-02.csv: missing column(s) ...
          rejected 3 × unparseable number, e.g. requests/requests-2026-11-01.csv:7: {...}

    Example lines are cut to :data:`EXAMPLE_WIDTH` characters."""
    reasons = top_reasons(records, top)
    failed = failed_files(records)
    lines = []
    for row in source_summary(records).iter_rows(named=True):
        source = row["source"]
        lines.append(
            f"{source}: files {row['files_loaded']} loaded, {row['files_duplicate']} duplicate, "
            f"{row['files_failed']} failed; rows {row['rows_loaded']:,} loaded, "
            f"{row['rows_rejected']:,} rejected"
        )
        lines.extend(
            f"  failed: {file}: {error}"
            for file, error in failed.filter(pl.col("source") == source)
            .select("file", "error")
            .iter_rows()
        )
        lines.extend(
            f"  rejected {reason['rejects']:,} × {reason['reason']}, e.g. "
            f"{reason['file']}:{reason['line']}: {shorten(reason['record'] or '')}"
            for reason in reasons.filter(pl.col("source") == source).iter_rows(named=True)
        )
    return "\n".join(lines)


def shorten(text: str, width: int = EXAMPLE_WIDTH) -> str:
    """``text`` on one line, cut to ``width`` characters with a trailing ``…`` when longer."""
    flat = " ".join(text.splitlines())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def days_filter(
    column: str, days: tuple[date, date] | None, margin: int = 0
) -> tuple[str, list[date]]:
    """A SQL condition (and its parameters) keeping the rows whose date ``column`` lies in
    ``days``, widened by ``margin`` days either side; TRUE without days."""
    if days is None:
        return "TRUE", []
    first, last = days
    return f"{column} BETWEEN ? AND ?", [
        first - timedelta(days=margin),
        last + timedelta(days=margin),
    ]
