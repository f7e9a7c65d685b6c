"""What the evidence checks find, as pure functions over the warehouse: duplicate raw rows,
reject-heavy days, and from both the *blocked sources* and the objectives they hold back.

A source is blocked for a run when, in the run's days, its rows of a raw table are there twice
(``duplicate_rows``: the windows would count them twice) or it has a reject-heavy day
(``reject_heavy_days``: past both its share and its count of rejected rows). A blocked source
stops only what reads it: the objectives whose evidence it brings (``held_objectives``) keep the
slices, outcomes and windows stored before (``with_held``); every other objective is computed as
usual. The evidence is judged once a run (``find_evidence``, by the asset ``ops/blocked_sources``)
and what it finds kept in the warehouse: ``ops.duplicate_rows`` and ``ops.reject_heavy_days`` for
the raw assets' checks, ``ops.blocked_sources`` and ``ops.held_objectives`` for the SLA assets
(``read_held``), the run's summary and the report's banner.
"""

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import duckdb
import polars as pl

from pipelines.contracts.sources import Source
from pipelines.ingest.load import RAW_TABLES
from pipelines.ingest.summary import IngestRecords, days_filter, read_ingest_records, top_reasons
from pipelines.ops.jobs import PARTITION_RANGE_END, PARTITION_RANGE_START
from pipelines.warehouse import query

ROW_IDENTITY: dict[str, tuple[str, ...]] = {
    "raw.requests": ("ts", "service"),
    "raw.latency_buckets": ("ts", "service", "le_seconds"),
    "raw.probes": ("ts", "service", "location"),
    "raw.ticket_events": ("file", "ticket_id", "ts", "seq"),
    "raw.security_incidents": ("file", "incident_id"),
    "raw.backup_runs": ("file", "service", "run_id"),
    "raw.restore_tests": ("file", "service", "test_id"),
    "raw.survey_responses": ("file", "service", "response_id"),
}
"""Columns that identify one row. A counter or probe minute must appear once whatever file brought
it (twice is counted twice); items may be re-exported by later files (the ``raw.latest_*`` views
pick one), so they must be unique within a file. Latency samples have no identity: their check
is that no file's rows are in the table more often than the file loaded them."""


DEFAULT_MAX_REJECT_RATIO = 0.01
DEFAULT_MAX_REJECTED_ROWS = 10


@dataclass(frozen=True)
class RejectLimit:
    """A day of a source is reject-heavy past both: a share of its rows and a count of rows."""

    max_ratio: float = DEFAULT_MAX_REJECT_RATIO
    max_rows: int = DEFAULT_MAX_REJECTED_ROWS


def _identity(table: str) -> tuple[str, ...]:
    """The columns ``duplicate_rows`` gives of ``table`` before ``copies``."""
    return ("file",) if table == "raw.latency_samples" else ROW_IDENTITY[table]


def _dated_rows(table: str, days: tuple[date, date] | None) -> tuple[str, list]:
    """The condition keeping the rows of ``table`` that ``duplicate_rows`` judges for ``days``:
    those of the partitions of ``days``, or for the ts-keyed tables those whose UTC day lies in
    ``days`` or a day either side (a range of ts, so the lake skips other days' files)."""
    if table == "raw.latency_samples" or "file" in ROW_IDENTITY[table] or days is None:
        return days_filter("partition_date", days, margin=0)
    first, last = days
    return "ts >= ? AND ts < ?", [
        datetime.combine(first - timedelta(days=1), time(), UTC),
        datetime.combine(last + timedelta(days=2), time(), UTC),
    ]


def duplicate_rows(
    con: duckdb.DuckDBPyConnection, table: str, days: tuple[date, date] | None
) -> pl.DataFrame:
    """Row identities found more than once (ROW_IDENTITY's columns, then ``copies``: Int64), of
    the rows dated in ``days`` (a day either side for ts-keyed tables, whose files may overlap
    midnight) or of the whole table. For raw.latency_samples: file, copies (rows in the table per
    row the file loaded). The rows are grouped by their identity's hash first, then only those
    of a repeated hash by their identity (half the work of grouping them all by it)."""
    where, params = _dated_rows(table, days)
    if table == "raw.latency_samples":
        return query(
            con,
            "SELECT r.file, r.rows // f.rows_loaded AS copies FROM "
            f"(SELECT file, count(*) AS rows FROM {table} WHERE {where} GROUP BY file) r "
            "JOIN ops.ingested_files f USING (file) "
            "WHERE f.status = 'loaded' AND r.rows > f.rows_loaded ORDER BY r.file",
            params,
        )
    columns = ", ".join(ROW_IDENTITY[table])
    return query(
        con,
        f"WITH repeated AS (SELECT hash({columns}) AS key FROM {table} WHERE {where} "
        "GROUP BY key HAVING count(*) > 1) "
        f"SELECT {columns}, count(*) AS copies FROM {table} "
        f"WHERE {where} AND hash({columns}) IN (SELECT key FROM repeated) "
        f"GROUP BY {columns} HAVING count(*) > 1 ORDER BY {columns}",
        [*params, *params],
    )


DUPLICATE_ROWS_SCHEMA = {
    "table_name": pl.String,
    "ts": pl.Datetime("us", "UTC"),
    "service": pl.String,
    "le_seconds": pl.Float64,
    "location": pl.String,
    "file": pl.String,
    "ticket_id": pl.String,
    "seq": pl.Int64,
    "incident_id": pl.String,
    "run_id": pl.String,
    "test_id": pl.String,
    "response_id": pl.String,
    "copies": pl.Int64,
}
"""``ops.duplicate_rows``: each raw table's ``duplicate_rows``, the identity columns of every
table (null where not the table's)."""


def found_duplicates(
    con: duckdb.DuckDBPyConnection, days: tuple[date, date] | None
) -> pl.DataFrame:
    """``duplicate_rows`` of every raw table in ``days``, stacked (DUPLICATE_ROWS_SCHEMA)."""
    found = [
        duplicate_rows(con, table, days).with_columns(table_name=pl.lit(table))
        for table in RAW_TABLES.values()
    ]
    return (
        pl.concat([pl.DataFrame(schema=DUPLICATE_ROWS_SCHEMA), *found], how="diagonal_relaxed")
        .select(list(DUPLICATE_ROWS_SCHEMA))
        .cast(DUPLICATE_ROWS_SCHEMA)  # type: ignore[arg-type]
    )


def read_duplicates(con: duckdb.DuckDBPyConnection, table: str) -> pl.DataFrame:
    """The duplicates of ``table`` the latest evidence checks found (``ops.duplicate_rows``), as
    ``duplicate_rows`` gave them."""
    columns = ", ".join(_identity(table))
    return query(
        con,
        f"SELECT {columns}, copies FROM ops.duplicate_rows WHERE table_name = ? ORDER BY {columns}",
        [table],
    )


def max_reject_ratio(setting: str | None) -> float:
    """``PLEDGE_MAX_REJECT_RATIO`` as a share in [0, 1] (DEFAULT_MAX_REJECT_RATIO when unset)."""
    if not setting:
        return DEFAULT_MAX_REJECT_RATIO
    try:
        ratio = float(setting)
    except ValueError:
        ratio = -1.0
    if not 0.0 <= ratio <= 1.0:
        raise ValueError(f"PLEDGE_MAX_REJECT_RATIO: {setting!r} is not a share between 0 and 1")
    return ratio


def max_rejected_rows(setting: str | None) -> int:
    """``PLEDGE_MAX_REJECTED_ROWS`` as a count >= 0 (DEFAULT_MAX_REJECTED_ROWS when unset)."""
    if not setting:
        return DEFAULT_MAX_REJECTED_ROWS
    if not setting.strip().isdigit():
        raise ValueError(f"PLEDGE_MAX_REJECTED_ROWS: {setting!r} is not a count of rows")
    return int(setting)


def reject_limits(
    sources: Mapping[str, Source], environment: Mapping[str, str]
) -> dict[str, RejectLimit]:
    """Each source's RejectLimit: its own ``max_reject_ratio``/``max_rejected_rows`` from
    sources.yaml, else PLEDGE_MAX_REJECT_RATIO/PLEDGE_MAX_REJECTED_ROWS, else the defaults."""
    ratio = max_reject_ratio(environment.get("PLEDGE_MAX_REJECT_RATIO"))
    rows = max_rejected_rows(environment.get("PLEDGE_MAX_REJECTED_ROWS"))
    return {
        name: RejectLimit(
            ratio if source.max_reject_ratio is None else source.max_reject_ratio,
            rows if source.max_rejected_rows is None else source.max_rejected_rows,
        )
        for name, source in sources.items()
    }


def reject_heavy_days(
    con: duckdb.DuckDBPyConnection,
    limits: Mapping[str, RejectLimit],
    days: tuple[date, date] | None,
) -> pl.DataFrame:
    """(source, day) partitions of the sources in ``limits`` past both their limits: more rows
    rejected than ``max_rows`` and a rejected share of the rows read over ``max_ratio``: source,
    partition_date (Date), rows_loaded, rows_rejected (Int64), reject_ratio (Float64)."""
    where, params = days_filter("partition_date", days, margin=0)
    names = list(limits)
    return query(
        con,
        "SELECT source, partition_date, sum(rows_loaded)::BIGINT AS rows_loaded, "
        "sum(rows_rejected)::BIGINT AS rows_rejected, "
        "sum(rows_rejected) / (sum(rows_loaded) + sum(rows_rejected)) AS reject_ratio "
        "FROM ops.ingested_files JOIN (SELECT unnest(?) AS source, unnest(?) AS max_ratio, "
        f"unnest(?) AS max_rows) USING (source) WHERE {where} "
        "GROUP BY source, partition_date, max_ratio, max_rows "
        "HAVING sum(rows_rejected) > max_rows "
        "AND sum(rows_rejected) > max_ratio * (sum(rows_loaded) + sum(rows_rejected)) "
        "ORDER BY source, partition_date",
        [
            names,
            [limits[name].max_ratio for name in names],
            [limits[name].max_rows for name in names],
            *params,
        ],
    )


REJECT_HEAVY_SCHEMA = {
    "source": pl.String,
    "partition_date": pl.Date,
    "rows_loaded": pl.Int64,
    "rows_rejected": pl.Int64,
    "reject_ratio": pl.Float64,
    "reason": pl.String,
}
"""``ops.reject_heavy_days``: ``reject_heavy_days`` rows with their ``reject_heavy_reasons``."""


def reject_heavy_reasons(heavy: pl.DataFrame, records: IngestRecords, top: int = 3) -> pl.DataFrame:
    """``heavy`` (``reject_heavy_days`` rows) with each day's one-line reason (REJECT_HEAVY_SCHEMA):
    the share rejected, then each file of that source and day with rejects and its ``top`` most
    frequent reasons, e.g. ``requests 2026-11-02: 288 of 288 rows rejected (100.0%):
    requests/r.csv: 288 × unparseable number (first at line 2)``. ``records`` must cover those
    days."""
    day_of_file = records.files.select("source", "file", "partition_date")
    reasons = top_reasons(records, top, per=("source", "file")).join(
        day_of_file, on=["source", "file"], maintain_order="left"
    )
    lines = []
    for day in heavy.iter_rows(named=True):
        read = day["rows_loaded"] + day["rows_rejected"]
        files = [
            f"{file}: "
            + "; ".join(
                f"{row['rejects']:,} × {row['reason']} (first at line {row['line']})"
                for row in rows.iter_rows(named=True)
            )
            for (file,), rows in reasons.filter(
                (pl.col("source") == day["source"])
                & (pl.col("partition_date") == day["partition_date"])
            ).group_by("file", maintain_order=True)
        ]
        lines.append(
            f"{day['source']} {day['partition_date']}: {day['rows_rejected']:,} of {read:,} rows "
            f"rejected ({day['reject_ratio']:.1%}): " + " | ".join(files)
        )
    return heavy.with_columns(reason=pl.Series(lines, dtype=pl.String))


def read_reject_heavy(con: duckdb.DuckDBPyConnection, sources: Collection[str]) -> pl.DataFrame:
    """The reject-heavy days of ``sources`` the latest evidence checks found
    (``ops.reject_heavy_days``, REJECT_HEAVY_SCHEMA), by source and day."""
    return query(
        con,
        "SELECT * FROM ops.reject_heavy_days WHERE source IN (SELECT unnest(?::VARCHAR[])) "
        "ORDER BY source, partition_date",
        [list(sources)],
    )


def run_days(tags: Mapping[str, str]) -> tuple[date, date] | None:
    """The first and last day a run covers, from its partition tags (None: not a day run)."""
    if PARTITION_RANGE_START in tags and PARTITION_RANGE_END in tags:
        return (
            date.fromisoformat(tags[PARTITION_RANGE_START]),
            date.fromisoformat(tags[PARTITION_RANGE_END]),
        )
    if "dagster/partition" in tags:
        day = date.fromisoformat(tags["dagster/partition"])
        return day, day
    return None


BLOCKED_SOURCES_SCHEMA = {
    "source": pl.String,
    "kind": pl.String,
    "check_name": pl.String,
    "reason": pl.String,
}
HELD_OBJECTIVES_SCHEMA = {"contract_id": pl.String, "objective_id": pl.String, "source": pl.String}


def duplicate_files(
    con: duckdb.DuckDBPyConnection,
    table: str,
    duplicates: pl.DataFrame,
    days: tuple[date, date] | None,
) -> pl.DataFrame:
    """source, file (String), rows (Int64): the files whose rows of ``table`` are among
    ``duplicates`` (``duplicate_rows`` of the same table and days), how many of their rows."""
    identity = _identity(table)
    where, params = _dated_rows(table, days)
    con.register("_pledge_duplicates", duplicates.select(identity))
    try:
        return query(
            con,
            f"SELECT source, file, count(*) AS rows FROM {table} "
            f"SEMI JOIN _pledge_duplicates USING ({', '.join(identity)}) WHERE {where} "
            "GROUP BY source, file ORDER BY source, file",
            params,
        )
    finally:
        con.unregister("_pledge_duplicates")


def blocked_sources(
    con: duckdb.DuckDBPyConnection,
    sources: Mapping[str, Source],
    duplicates: pl.DataFrame,
    reject_heavy: pl.DataFrame,
    days: tuple[date, date] | None,
) -> pl.DataFrame:
    """The sources of ``sources`` blocked in ``days`` (every day when None), one row per source
    and failing check (BLOCKED_SOURCES_SCHEMA; check_name ``no_duplicate_rows`` or
    ``reject_ratio``), each with a one-line reason naming its files, e.g. ``rows of raw.requests
    there more than once: web/a.csv (1 row), web/b.csv (1 row)``. ``duplicates``:
    ``found_duplicates`` of ``days``; ``reject_heavy``: the sources' ``reject_heavy_reasons``."""
    kinds = sorted({source.kind for source in sources.values() if source.kind in RAW_TABLES})
    rows = []
    for kind in kinds:
        table = RAW_TABLES[kind]
        of_table = duplicates.filter(pl.col("table_name") == table)
        if of_table.is_empty():
            continue
        files = duplicate_files(con, table, of_table, days).filter(
            pl.col("source").is_in(list(sources))
        )
        for (source,), of_source in files.group_by("source", maintain_order=True):
            rows.append(
                (
                    source,
                    kind,
                    "no_duplicate_rows",
                    f"rows of {table} there more than once: "
                    + ", ".join(
                        f"{file} ({n:,} row{'' if n == 1 else 's'})"
                        for file, n in of_source.select("file", "rows").iter_rows()
                    ),
                )
            )
    heavy = reject_heavy.filter(pl.col("source").is_in(list(sources)))
    for (source,), of_source in heavy.group_by("source", maintain_order=True):
        reason = " / ".join(of_source["reason"])
        rows.append((source, sources[source].kind, "reject_ratio", reason))
    return pl.DataFrame(rows, schema=BLOCKED_SOURCES_SCHEMA, orient="row")


def held_objectives(
    con: duckdb.DuckDBPyConnection,
    objectives: pl.DataFrame,
    blocked: pl.DataFrame,
    sources: Mapping[str, Source],
    days: tuple[date, date] | None,
) -> pl.DataFrame:
    """The objectives each blocked source brings evidence to (HELD_OBJECTIVES_SCHEMA):
    ``objectives`` (sla.objectives rows: contract_id, objective_id, service, sli_method) reading
    the source's kind for a service of the source's rows in ``days`` or its declared
    ``service:``; every objective of that kind when the source names no service at all (its
    rows all rejected)."""
    held = [pl.DataFrame(schema=HELD_OBJECTIVES_SCHEMA)]
    for source, kind in blocked.select("source", "kind").unique(maintain_order=True).iter_rows():
        where, params = days_filter("partition_date", days)
        services = set(
            query(
                con,
                f"SELECT DISTINCT service FROM {RAW_TABLES[kind]} WHERE source = ? AND {where}",
                [source, *params],
            )["service"]
        ) | ({sources[source].service} - {None})
        reading = objectives.filter(pl.col("sli_method") == kind)
        if services:
            reading = reading.filter(pl.col("service").is_in(sorted(services)))
        held.append(reading.select("contract_id", "objective_id", source=pl.lit(source, pl.String)))
    return pl.concat(held).unique(
        ["contract_id", "objective_id"], keep="first", maintain_order=True
    )


def with_held(computed: pl.DataFrame, stored: pl.DataFrame, held: pl.DataFrame) -> pl.DataFrame:
    """``computed`` rows of the objectives not in ``held``, then the ``stored`` rows (in
    ``computed``'s columns and types) of those in ``held``: what a table keeps when the held
    objectives are not recomputed. Both frames have contract_id and objective_id."""
    keys = ["contract_id", "objective_id"]
    return pl.concat(
        [
            computed.join(held, on=keys, how="anti"),
            stored.join(held, on=keys, how="semi").select(computed.columns).cast(computed.schema),
        ]
    )


@dataclass(frozen=True)
class Findings:
    """What the evidence checks find in a run's days: ``duplicates`` of every raw table
    (DUPLICATE_ROWS_SCHEMA), the sources' reject-heavy days with their reasons
    (REJECT_HEAVY_SCHEMA), and the sources blocked by either (BLOCKED_SOURCES_SCHEMA)."""

    duplicates: pl.DataFrame
    reject_heavy: pl.DataFrame
    blocked: pl.DataFrame


def find_evidence(
    con: duckdb.DuckDBPyConnection,
    sources: Mapping[str, Source],
    limits: Mapping[str, RejectLimit],
    days: tuple[date, date] | None,
) -> Findings:
    """The Findings of ``sources`` in ``days`` (every day when None); ``limits``:
    ``reject_limits`` of the sources."""
    duplicates = found_duplicates(con, days)
    heavy = reject_heavy_days(con, {name: limits[name] for name in sources}, days)
    heavy = (
        heavy.with_columns(reason=pl.lit(None, pl.String))
        if heavy.is_empty()
        else reject_heavy_reasons(heavy, read_ingest_records(con, days))
    )
    return Findings(duplicates, heavy, blocked_sources(con, sources, duplicates, heavy, days))


def read_held(con: duckdb.DuckDBPyConnection, kinds: Collection[str]) -> pl.DataFrame:
    """The objectives held back by the latest evidence checks' blocked sources of the source
    kinds ``kinds`` (``ops.held_objectives``, HELD_OBJECTIVES_SCHEMA)."""
    return query(
        con,
        "SELECT contract_id, objective_id, source FROM ops.held_objectives WHERE source IN "
        "(SELECT source FROM ops.blocked_sources WHERE kind IN (SELECT unnest(?::VARCHAR[])))",
        [list(kinds)],
    )


def read_blocked(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """The latest run's blocked sources (``ops.blocked_sources``), each with the objectives it
    held: source, kind, check_name, reason (String), held (List[String], ``contract/objective``)."""
    return query(
        con,
        "SELECT b.source, b.kind, b.check_name, b.reason, "
        "coalesce(list(h.contract_id || '/' || h.objective_id ORDER BY h.contract_id, "
        "h.objective_id) FILTER (WHERE h.contract_id IS NOT NULL), []) AS held "
        "FROM ops.blocked_sources b LEFT JOIN ops.held_objectives h USING (source) "
        "GROUP BY ALL ORDER BY b.source, b.check_name",
    )


def blocked_line(source: str, check_name: str, reason: str, held: list[str]) -> str:
    """One ``read_blocked`` row as the run's summary says it."""
    return (
        f"source {source} blocked ({check_name}): {reason}; held back, with the figures of the "
        f"previous run: {', '.join(held) or 'no objective'}"
    )
