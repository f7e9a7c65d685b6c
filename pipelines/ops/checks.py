"""Asset checks on what matters: no duplicate raw rows, fresh sources, few rejects, and a current
window for every objective.

Duplicate rows block what is downstream (the windows would count evidence twice); a reject-heavy
day is an error that does not (the rows that loaded are valid evidence; the check names the files
and their most common reject reasons, and ``pledge run`` exits non-zero); stale sources warn; an
objective without a current window is an error that does not stop the reports. A check of a
run over days looks at those days; run alone (from the UI) it looks at everything. Thresholds
come from the environment, a source's own (``sources.yaml``) taking precedence:

- A day of a source is reject-heavy when both its rejected share exceeds the largest allowed
  (``max_reject_ratio``; ``PLEDGE_MAX_REJECT_RATIO``, default 0.01) and its rejected rows exceed
  those tolerated whatever their share (``max_rejected_rows``; ``PLEDGE_MAX_REJECTED_ROWS``,
  default 10): one bad line of a five-line file is 20 % but no reason to alarm.
- ``PLEDGE_FRESHNESS``: maximum age of each source's newest evidence, in hours, as
  ``source=hours,...`` (e.g. ``requests=6,security=720``); sources not named get their kind's
  default (``MAX_AGE_HOURS``). Age is measured at the end of the run's last day, or now when that
  is earlier or the run has no days: a backfill of past days is judged as of those days.
"""

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import dagster as dg
import duckdb
import polars as pl

from pipelines.contracts.sources import Source
from pipelines.ingest.assets import ingest_assets
from pipelines.ingest.load import RAW_TABLES
from pipelines.ingest.summary import (
    IngestRecords,
    days_filter,
    read_ingest_records,
    top_reasons,
)
from pipelines.ops.jobs import PARTITION_RANGE_END, PARTITION_RANGE_START
from pipelines.resources import WAREHOUSE_POOL, PledgeHome
from pipelines.sla.assets import evidence_end
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

EVIDENCE_TIME = {
    "raw.security_incidents": "detected_at",
    "raw.backup_runs": "finished_at",
    "raw.restore_tests": "finished_at",
}
"""The column dating a row, where it is not ``ts``."""

MAX_AGE_HOURS: dict[str, float | None] = {
    "requests": 36,
    "histogram": 36,
    "probes": 36,
    "latency_samples": 36,
    "backup_runs": 72,
    "tickets": 72,
    "survey_responses": 7 * 24,
    "restore_tests": 8 * 24,
    "security_incidents": None,
}
"""Default maximum age of a source's newest evidence by kind: a daily export plus slack; tickets
over a weekend; a nightly backup run missed once; weekly restore tests. No incident for a long
time is good news: not checked."""

DEFAULT_MAX_REJECT_RATIO = 0.01
DEFAULT_MAX_REJECTED_ROWS = 10


@dataclass(frozen=True)
class RejectLimit:
    """A day of a source is reject-heavy past both: a share of its rows and a count of rows."""

    max_ratio: float = DEFAULT_MAX_REJECT_RATIO
    max_rows: int = DEFAULT_MAX_REJECTED_ROWS


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


def freshness_time(days: tuple[date, date] | None, now: datetime) -> datetime:
    """The instant evidence age is measured at: the end of the run's last day, or ``now`` when
    that is earlier or the run covers no days."""
    if days is None:
        return now
    return min(now, datetime.combine(days[1] + timedelta(days=1), time(), UTC))


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


def newest_evidence(con: duckdb.DuckDBPyConnection, table: str) -> pl.DataFrame:
    """source (String), newest (Datetime UTC): the latest evidence time of each source."""
    column = EVIDENCE_TIME.get(table, "ts")
    return query(con, f"SELECT source, max({column}) AS newest FROM {table} GROUP BY source")


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


def max_ages(sources: Mapping[str, str], setting: str | None = None) -> dict[str, timedelta | None]:
    """Each source's maximum evidence age (None: not checked). ``sources``: name → kind;
    ``setting``: ``PLEDGE_FRESHNESS`` text, ``source=hours`` pairs separated by commas."""
    hours = {name: MAX_AGE_HOURS[kind] for name, kind in sources.items()}
    for pair in filter(None, (part.strip() for part in (setting or "").split(","))):
        name, _, value = pair.partition("=")
        try:
            hours[name.strip()] = float(value)
        except ValueError:
            raise ValueError(f"PLEDGE_FRESHNESS: {pair!r} is not source=hours") from None
    return {
        name: None if value is None else timedelta(hours=value)
        for name, value in hours.items()
        if name in sources
    }


def stale_sources(
    newest: pl.DataFrame, ages: Mapping[str, timedelta | None], as_of: datetime
) -> pl.DataFrame:
    """The sources whose newest evidence (``newest_evidence``) is older than their maximum age at
    ``as_of``, or which have none: source (String), newest (Datetime UTC, null without
    evidence), age_hours (Float64, null without evidence), max_age_hours (Float64)."""
    latest = dict(newest.iter_rows())
    rows = [
        {
            "source": name,
            "newest": latest.get(name),
            "age_hours": None
            if latest.get(name) is None
            else (as_of - latest[name]).total_seconds() / 3600,
            "max_age_hours": limit.total_seconds() / 3600,
        }
        for name, limit in sorted(ages.items())
        if limit is not None and (latest.get(name) is None or as_of - latest[name] > limit)
    ]
    return pl.DataFrame(
        rows,
        schema={
            "source": pl.String,
            "newest": pl.Datetime("us", "UTC"),
            "age_hours": pl.Float64,
            "max_age_hours": pl.Float64,
        },
    )


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


def objectives_without_current_window(
    con: duckdb.DuckDBPyConnection, as_of: datetime
) -> pl.DataFrame:
    """contract_id, objective_id of every objective in effect at ``as_of`` that has no current
    (incomplete) window in sla.windows."""
    return query(
        con,
        "SELECT contract_id, objective_id FROM sla.objectives o "
        "WHERE coalesce(effective_start <= ?, TRUE) AND coalesce(effective_end > ?, TRUE) "
        "AND NOT EXISTS (SELECT 1 FROM sla.windows w WHERE w.contract_id = o.contract_id "
        "AND w.objective_id = o.objective_id AND NOT w.is_complete) "
        "ORDER BY contract_id, objective_id",
        [as_of, as_of],
    )


def _listing(frame: pl.DataFrame, limit: int = 20) -> dg.MetadataValue:
    """The first rows of a frame as a markdown table."""
    if frame.is_empty():
        return dg.MetadataValue.md("none")
    head = frame.head(limit)
    lines = [
        "| " + " | ".join(head.columns) + " |",
        "|" + " --- |" * head.width,
        *("| " + " | ".join(str(value) for value in row) + " |" for row in head.iter_rows()),
    ]
    more = [f"\n… and {frame.height - limit} more"] if frame.height > limit else []
    return dg.MetadataValue.md("\n".join(lines + more))


def raw_checks(asset: dg.AssetsDefinition, kind: str) -> dg.AssetChecksDefinition:
    """The duplicate, reject and freshness checks of one raw asset (source kind ``kind``), run
    as one step on one read-only connection (each can still be run alone)."""
    table = RAW_TABLES[kind]
    specs = [
        dg.AssetCheckSpec(
            "no_duplicate_rows",
            asset=asset,
            blocking=True,
            description=f"No row of {table} is there twice (it would be counted twice).",
        ),
        dg.AssetCheckSpec(
            "reject_ratio",
            asset=asset,
            description="No source of the asset rejects both more than its max_reject_ratio "
            f"(PLEDGE_MAX_REJECT_RATIO, default {DEFAULT_MAX_REJECT_RATIO:.0%}) of a day's rows "
            "and more than its max_rejected_rows (PLEDGE_MAX_REJECTED_ROWS, default "
            f"{DEFAULT_MAX_REJECTED_ROWS}) (an error naming the files and reasons; it does not "
            "block what is downstream).",
        ),
        dg.AssetCheckSpec(
            "fresh_sources",
            asset=asset,
            description="Each source's newest evidence is younger than its maximum age "
            "(PLEDGE_FRESHNESS).",
        ),
    ]

    @dg.multi_asset_check(
        name=f"{asset.key.path[-1]}_checks", specs=specs, can_subset=True, pool=WAREHOUSE_POOL
    )
    def checks(
        context: dg.AssetCheckExecutionContext, pledge: PledgeHome
    ) -> Iterator[dg.AssetCheckResult]:
        days = run_days(context.run.tags)
        declared = pledge.sources_of_kind(kind)
        sources = {name: kind for name in declared}
        selected = {key.name for key in context.selected_asset_check_keys}
        with pledge.connect(read_only=True) as con:
            if "no_duplicate_rows" in selected:
                duplicates = duplicate_rows(con, table, days)
                yield dg.AssetCheckResult(
                    check_name="no_duplicate_rows",
                    passed=duplicates.is_empty(),
                    severity=dg.AssetCheckSeverity.ERROR,
                    metadata={
                        "duplicate_keys": duplicates.height,
                        "duplicates": _listing(duplicates),
                    },
                )
            if "reject_ratio" in selected:
                limits = reject_limits(declared, os.environ)
                heavy = reject_heavy_days(con, limits, days)
                yield dg.AssetCheckResult(
                    check_name="reject_ratio",
                    passed=heavy.is_empty(),
                    severity=dg.AssetCheckSeverity.ERROR,
                    description=None
                    if heavy.is_empty()
                    else reject_heavy_message(heavy, read_ingest_records(con, days)),
                    metadata={
                        "limits": _listing(
                            pl.DataFrame(
                                [{"source": name, **vars(limit)} for name, limit in limits.items()]
                            )
                        ),
                        "reject_heavy_days": heavy.height,
                        "days": _listing(heavy),
                    },
                )
            if "fresh_sources" in selected:
                as_of = freshness_time(days, datetime.now(UTC))
                ages = max_ages(sources, os.environ.get("PLEDGE_FRESHNESS"))
                stale = stale_sources(newest_evidence(con, table), ages, as_of)
                yield dg.AssetCheckResult(
                    check_name="fresh_sources",
                    passed=stale.is_empty(),
                    severity=dg.AssetCheckSeverity.WARN,
                    metadata={
                        "as_of": str(as_of),
                        "sources_checked": sum(limit is not None for limit in ages.values()),
                        "stale_sources": _listing(stale),
                    },
                )

    return checks


@dg.asset_check(
    asset=dg.AssetKey(["sla", "windows"]),
    name="current_window_per_objective",
    pool=WAREHOUSE_POOL,
    description="Every objective in effect has a current window (else reports and predictions "
    "leave it out).",
)
def current_window_per_objective(pledge: PledgeHome) -> dg.AssetCheckResult:
    with pledge.connect(read_only=True) as con:
        as_of = evidence_end(con) or datetime.now(UTC)
        missing = objectives_without_current_window(con, as_of)
    return dg.AssetCheckResult(
        passed=missing.is_empty(),
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "as_of": str(as_of),
            "objectives_without_window": missing.height,
            "objectives": _listing(missing),
        },
    )


RAW_KINDS = {table.split(".")[1]: kind for kind, table in RAW_TABLES.items()}

asset_checks = [
    *(raw_checks(asset, RAW_KINDS[asset.key.path[1]]) for asset in ingest_assets),
    current_window_per_objective,
]
