"""Raw evidence → slices: good and total per objective per slice, after exclusions.

A slice is ``slice_seconds`` long and starts at a UTC epoch multiple of its length (5 min for
occurrences, the timeslice length otherwise). Slice lengths are whole minutes dividing a day, so a
slice never straddles a UTC day (the partition) and, for zones whose offset is a multiple of the
slice length (every zone for 1 and 5 minute slices), never straddles a local day either.

Evidence is read per minute: a raw row's minute is its timestamp truncated to the minute. An
objective measures from its *measurement start* (the first evidence of its service in its
evidence table, not before the contract's effective start) to its *measurement end* (``as_of``,
not after the contract's effective end); evidence outside is ignored and no slice exists there.

Per slice:

- ``excluded_minutes``: minutes of the slice removed by exclusions (their evidence counts nowhere).
- ``corrected_minutes``: minutes of the slice removed by corrections of the objective (see
  ``corrections.py``), exactly like exclusions but counted apart; a minute both excluded and
  corrected counts as excluded only.
- ``missing_minutes``: minutes of the slice within the measurement period, not excluded, with no
  evidence rows.
- occurrences (unit events): good and total are summed over the evidence minutes kept. Missing
  minutes have no events and do not change attainment; they are only reported.
- timeslices (unit minutes): a slice loses only its excluded and corrected minutes. Its *kept
  minutes* are its minutes within the measurement period, neither excluded nor corrected; the
  slice's SLI is computed over the evidence of those minutes, and a good slice adds their number
  to good and total, a bad one to total only (with maintenance 09:02–09:13 the 5-minute slice
  09:10 is judged on 09:13 and 09:14 and counts 2 minutes; a slice wholly removed counts
  nothing). A slice with kept minutes but no kept evidence, or whose evidence holds no
  requests/checks, counts per ``missing_data``: good (kept minutes to good and total), bad (to
  total) or excluded (nothing).
- ratio_timeslices (unit slices; OpenSLO RatioTimeslices): a slice with kept evidence holding
  requests/checks adds good / total of that evidence to good and 1 to total, so a window's
  attainment (sum good / sum total) is the mean of its slices' ratios (ratios 1.0, 0.5 and 0.9
  give 0.8, where occurrences would weigh each slice by its requests). A slice with kept minutes
  but no such evidence counts per ``missing_data``: good (1 to good and total), bad (1 to total)
  or excluded (nothing); a slice wholly removed counts nothing.

SLIs: requests good = total − errors; probes good = successful checks, total = checks; latency
good = requests at or under the threshold from cumulative histogram buckets (see
``histogram_share_at``) and a percentile per slice as Prometheus ``histogram_quantile`` computes it
(see ``histogram_quantile``).

The rules live in SQL, one statement per period (``sql/sla/slices.sql``, with the histogram
pieces ``sql/sla/histogram_share_at.sql`` and ``sql/sla/histogram_quantile.sql``): DuckDB reads
the raw tables by name and groups a year of minutes into slices without a row leaving it. The
frame functions here run the same SQL over Polars frames (tests, window percentiles).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import duckdb
import polars as pl

from pipelines.sla.objectives import KEYS, UTC_US
from pipelines.warehouse import sql_text

SLICES_SCHEMA = {
    "partition_date": pl.Date,
    "contract_id": pl.String,
    "objective_id": pl.String,
    "slice_start": UTC_US,
    "good": pl.Float64,
    "total": pl.Float64,
    "excluded_minutes": pl.Float64,
    "corrected_minutes": pl.Float64,
    "missing_minutes": pl.Float64,
}
SLICE_OBJECTIVE_COLUMNS = [
    *KEYS,
    "service",
    "sli_method",
    "slice_seconds",
    "effective_start",
    "effective_end",
    "budgeting",
    "missing_data",
    "slice_target",
    "threshold_seconds",
    "percentile",
]
"""The objectives_frame columns slices.sql reads (``slice_objectives``)."""

RAW_COLUMNS = {
    "requests": {"ts": UTC_US, "service": pl.String, "total": pl.Int64, "errors": pl.Int64},
    "probes": {"ts": UTC_US, "service": pl.String, "up": pl.Boolean},
    "latency_buckets": {
        "ts": UTC_US,
        "service": pl.String,
        "le_seconds": pl.Float64,
        "count": pl.Int64,
    },
}
"""The raw.* columns slices.sql reads, by table."""


def slices_sql(start: datetime, end: datetime, as_of: datetime) -> str:
    """The SELECT of every slice starting in ``[start, end)`` (UTC), evidence up to ``as_of``,
    over ``raw.*`` and the inputs ``slice_inputs`` registers; columns as sla.slices."""
    return sql_text("sla/slices").format(
        start=_timestamp(start),
        end=_timestamp(end),
        as_of=_timestamp(as_of),
        histogram_share_at=histogram_sql(
            "share_at", "slice_buckets", ["objective_index", "slice_start"]
        ),
        histogram_quantile=histogram_sql(
            "quantile", "slice_buckets", ["objective_index", "slice_start"]
        ),
    )


def histogram_sql(piece: str, buckets: str, keys: list[str]) -> str:
    """``sql/sla/histogram_<piece>.sql`` over the relation ``buckets``, grouped by ``keys``."""
    return sql_text(f"sla/histogram_{piece}").format(buckets=buckets, keys=", ".join(keys))


@contextmanager
def slice_inputs(
    con: duckdb.DuckDBPyConnection,
    objectives: pl.DataFrame,
    excluded: pl.DataFrame,
    first_evidence: pl.DataFrame,
    corrected: pl.DataFrame | None,
) -> Iterator[None]:
    """``slices_sql``'s small inputs registered on ``con`` while inside: slice_objectives,
    first_evidence, excluded_minutes and corrected_minutes (empty when None)."""
    if corrected is None:
        corrected = pl.DataFrame(
            schema={"contract_id": pl.String, "objective_id": pl.String, "minute": UTC_US}
        )
    frames = {
        "slice_objectives": objectives.select(SLICE_OBJECTIVE_COLUMNS),
        "first_evidence": first_evidence.select("service", "sli_method", "first_ts"),
        "excluded_minutes": excluded.select("contract_id", "service", "minute"),
        "corrected_minutes": corrected.select(*KEYS, "minute"),
    }
    for name, frame in frames.items():
        con.register(name, frame)
    try:
        yield
    finally:
        for name in frames:
            con.unregister(name)


def objective_slices(
    objectives: pl.DataFrame,
    requests: pl.LazyFrame,
    probes: pl.LazyFrame,
    latency_buckets: pl.LazyFrame,
    excluded: pl.DataFrame,
    first_evidence: pl.DataFrame,
    start: datetime,
    end: datetime,
    as_of: datetime,
    corrected: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Every objective's slices starting in ``[start, end)`` (UTC), evidence up to ``as_of``,
    from evidence frames: ``slices_sql`` run over them in an in-memory DuckDB.

    Inputs: ``objectives`` (objectives_frame); raw frames ``requests`` (ts, service, total,
    errors; one row per service and minute), ``probes`` (ts, service, up; one row per check) and
    ``latency_buckets`` (ts, service, le_seconds, count), which may hold more rows than the
    period; ``excluded`` (excluded_minutes: contract_id, service, minute); ``first_evidence``
    (service, sli_method, first_ts: the earliest raw timestamp of each service per evidence
    table); ``corrected`` (corrected_minutes: contract_id, objective_id, minute; none when
    omitted). Output: SLICES_SCHEMA, one row per slice of the measurement period (gaps included),
    partition_date = the UTC date of slice_start, sorted by contract_id, objective_id and
    slice_start.
    """
    raw = {"requests": requests, "probes": probes, "latency_buckets": latency_buckets}
    with (
        _frame_warehouse(raw) as con,
        slice_inputs(con, objectives, excluded, first_evidence, corrected),
    ):
        slices = con.sql(slices_sql(start, end, as_of)).pl()
    return slices.cast(SLICES_SCHEMA).sort([*KEYS, "slice_start"])  # type: ignore[arg-type]


def histogram_share_at(buckets: pl.LazyFrame, keys: list[str]) -> pl.LazyFrame:
    """Requests at or under ``threshold_seconds`` from cumulative buckets, per ``keys``
    (``sql/sla/histogram_share_at.sql`` over a frame).

    Input: keys, le_seconds, count (cumulative, monotone in le), threshold_seconds. Output: keys,
    good, total.
    """
    return _over_frame("share_at", buckets, keys)


def histogram_quantile(buckets: pl.LazyFrame, keys: list[str]) -> pl.LazyFrame:
    """The ``quantile`` (0–1) per ``keys`` from cumulative buckets, as Prometheus'
    histogram_quantile (``sql/sla/histogram_quantile.sql`` over a frame).

    Input: keys, le_seconds, count (cumulative, monotone), quantile. Output: keys,
    latency_quantile (seconds); keys with no requests are absent.
    """
    return _over_frame("quantile", buckets, keys)


def _over_frame(piece: str, buckets: pl.LazyFrame, keys: list[str]) -> pl.LazyFrame:
    """A histogram piece run by DuckDB over a frame; its result as a LazyFrame."""
    frame = buckets.collect()
    with duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")
        con.register("buckets", frame)
        result = con.sql(histogram_sql(piece, "buckets", keys)).pl()
    return result.lazy()


@contextmanager
def _frame_warehouse(raw: dict[str, pl.LazyFrame]) -> Iterator[duckdb.DuckDBPyConnection]:
    """An in-memory DuckDB whose ``raw.<table>`` views read the given frames."""
    with duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")
        con.execute("CREATE SCHEMA raw")
        for table, rows in raw.items():
            columns = RAW_COLUMNS[table]
            con.register(f"frame_{table}", rows.select(list(columns)).cast(columns).collect())  # type: ignore[arg-type]
            con.execute(f"CREATE VIEW raw.{table} AS SELECT * FROM frame_{table}")
        yield con


def _timestamp(moment: datetime) -> str:
    """A UTC TIMESTAMPTZ literal."""
    return f"TIMESTAMPTZ '{moment.astimezone(UTC).isoformat()}'"
