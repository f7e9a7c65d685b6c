"""What the evidence checks find, as pure functions over the warehouse: duplicate raw rows,
reject-heavy days, and from both the *blocked sources* and the objectives they hold back.

A source is blocked for a run when, in the run's days, its rows of a raw table are there twice
(``duplicate_rows``: the windows would count them twice) or it has a reject-heavy day
(``reject_heavy_days``: past both its share and its count of rejected rows). A blocked source
stops only what reads it: the objectives whose evidence it brings (``held_objectives``) keep the
slices, outcomes and windows stored before (``with_held``); every other objective is computed as
usual. The sources blocked and the objectives held are kept in ``ops.blocked_sources`` and
``ops.held_objectives`` for the run's summary and the report's banner.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

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


def duplicate_rows(
    con: duckdb.DuckDBPyConnection, table: str, days: tuple[date, date] | None
) -> pl.DataFrame:
    """Row identities found more than once (ROW_IDENTITY's columns, then ``copies``: Int64), of
    the rows dated in ``days`` (a day either side for ts-keyed tables, whose files may overlap
    midnight) or of the whole table. For raw.latency_samples: file, copies (rows in the table per
    row the file loaded)."""
    if table == "raw.latency_samples":
        where, params = days_filter("r.partition_date", days, margin=0)
        return query(
            con,
            "SELECT r.file, r.rows // f.rows_loaded AS copies FROM "
            f"(SELECT file, count(*) AS rows FROM {table} r WHERE {where} GROUP BY file) r "
            "JOIN ops.ingested_files f USING (file) "
            "WHERE f.status = 'loaded' AND r.rows > f.rows_loaded ORDER BY r.file",
            params,
        )
    identity = ROW_IDENTITY[table]
    columns = ", ".join(identity)
    if "file" in identity:
        where, params = days_filter("partition_date", days, margin=0)
    else:
        where, params = days_filter("ts::DATE", days, margin=1)
    return query(
        con,
        f"SELECT {columns}, count(*) AS copies FROM {table} WHERE {where} "
        f"GROUP BY {columns} HAVING count(*) > 1 ORDER BY {columns}",
        params,
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


def reject_heavy_message(heavy: pl.DataFrame, records: IngestRecords, top: int = 3) -> str:
    """One line per reject-heavy day (``reject_heavy_days`` rows): the share rejected, then each
    file of that source and day with rejects and its ``top`` most frequent reasons, e.g.
    ``requests 2026-11-02: 288 of 288 rows rejected (100.0%): requests/r.csv: 288 × unparseable
    number (first at line 2)``. ``records`` must cover those days."""
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
    return "\n".join(lines)


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


def _dated_rows(table: str, days: tuple[date, date] | None) -> tuple[str, list[date]]:
    """The condition keeping the rows of ``table`` that ``duplicate_rows`` judges for ``days``."""
    if table == "raw.latency_samples" or "file" in ROW_IDENTITY[table]:
        return days_filter("partition_date", days, margin=0)
    return days_filter("ts::DATE", days, margin=1)


def duplicate_files(
    con: duckdb.DuckDBPyConnection,
    table: str,
    duplicates: pl.DataFrame,
    days: tuple[date, date] | None,
) -> pl.DataFrame:
    """source, file (String), rows (Int64): the files whose rows of ``table`` are among
    ``duplicates`` (``duplicate_rows`` of the same table and days), how many of their rows."""
    identity = ("file",) if table == "raw.latency_samples" else ROW_IDENTITY[table]
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
    limits: Mapping[str, RejectLimit],
    days: tuple[date, date] | None,
) -> pl.DataFrame:
    """The sources of ``sources`` blocked in ``days`` (every day when None), one row per source
    and failing check (BLOCKED_SOURCES_SCHEMA; check_name ``no_duplicate_rows`` or
    ``reject_ratio``), each with a one-line reason naming its files, e.g. ``rows of raw.requests
    there more than once: web/a.csv (1 row), web/b.csv (1 row)``. ``limits``: ``reject_limits``
    of the sources."""
    kinds = sorted({source.kind for source in sources.values() if source.kind in RAW_TABLES})
    rows = []
    for kind in kinds:
        table = RAW_TABLES[kind]
        duplicates = duplicate_rows(con, table, days)
        if duplicates.is_empty():
            continue
        files = duplicate_files(con, table, duplicates, days).filter(
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
    heavy = reject_heavy_days(con, {name: limits[name] for name in sources}, days)
    if not heavy.is_empty():
        records = read_ingest_records(con, days)
        for (source,), of_source in heavy.group_by("source", maintain_order=True):
            message = reject_heavy_message(of_source, records)
            rows.append(
                (source, sources[source].kind, "reject_ratio", " / ".join(message.splitlines()))
            )
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


def blocked_evidence(
    con: duckdb.DuckDBPyConnection,
    sources: Mapping[str, Source],
    environment: Mapping[str, str],
    objectives: pl.DataFrame,
    days: tuple[date, date] | None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``blocked_sources`` of ``sources`` in ``days`` (limits from ``reject_limits`` of the
    sources and ``environment``) and the ``held_objectives`` of ``objectives`` they hold."""
    blocked = blocked_sources(con, sources, reject_limits(sources, environment), days)
    return blocked, held_objectives(con, objectives, blocked, sources, days)


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
