"""The timed steps of the benchmark, each run in a fresh spawned process by ``measured``.

Pledge's steps call the stages the way their Dagster assets do (``sla_slices``: one SQL statement
and one write per run of up to 92 days; ``sla_windows``: burn rates and alert firing in SQL over
the stored slices, written by DuckDB to the lake partition by partition, then the windows from the
slices' daily totals, summed in DuckDB).
The reference steps: DuckDB's own ``read_csv`` of the landing files into a table (against the
ingest), and the same monthly windows straight from the raw minute rows, by one hand-written
DuckDB query and by a plain pandas groupby.

Steps that only read are repeated ``BENCH_REPEAT`` times (default 3) and report their best time,
as the machine may be shared. Window results come back as ``service, window_label, good, total``
(Int64), sorted, so that the methods can be compared exactly.
"""

from __future__ import annotations

import os
import resource
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from time import perf_counter
from typing import Any, TypeVar

import duckdb
import polars as pl

from bench.data import TIME_ZONE
from pipelines import warehouse
from pipelines.contracts.loader import load_contracts
from pipelines.contracts.schema import Contract
from pipelines.contracts.sources import load_sources
from pipelines.ingest.load import ingest_partitions
from pipelines.progress import Progress
from pipelines.sla.assets import (
    day_periods,
    evidence_end,
    first_evidence,
    is_traffic,
    period_slices,
)
from pipelines.sla.burn import firing_at_end, refresh_burn, stored_episodes
from pipelines.sla.objectives import KEYS, alert_rules_frame, objectives_frame
from pipelines.sla.windows import daily_windows, measurement_starts, stored_daily_totals

MONTHLY_WINDOWS_SQL = f"""
    SELECT service, strftime(timezone('{TIME_ZONE}', ts), '%Y-%m') AS window_label,
           sum(total - errors) AS good, sum(total) AS total,
           sum(total - errors) / sum(total) AS attainment
    FROM raw.requests
    GROUP BY ALL
"""
"""The hand-written reference: monthly windows in the contract's zone from the raw minute rows."""


REPEAT = int(os.environ.get("BENCH_REPEAT", "3"))
T = TypeVar("T")


@dataclass(frozen=True)
class Timing:
    step: str
    rows: int
    seconds: float


@dataclass(frozen=True)
class StepResult:
    """What a step's process hands back: its timings, its peak resident memory, its payload."""

    timings: list[Timing]
    peak_mb: float
    payload: Any = None


def measured(step: Callable[..., tuple[list[Timing], Any]], *args: Any) -> StepResult:
    """Run ``step`` and add the peak resident memory of its process or of the largest process it
    ran (run it in a fresh process)."""
    timings, payload = step(*args)
    peak_kb = max(
        resource.getrusage(who).ru_maxrss
        for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
    )
    return StepResult(timings, peak_kb / 1024, payload)


def ingest(home: Path, days: list[date]) -> tuple[list[Timing], None]:
    """Every day's landing file into a fresh warehouse with ``ingest_partitions``, in one
    transaction, as the ingest asset runs them."""
    for stale in home.glob("warehouse.duckdb*"):
        stale.unlink()
    contracts = _contracts(home)
    known_services = {service.id for contract in contracts for service in contract.services}
    source = load_sources(home / "sources.yaml")["requests"]
    began = perf_counter()
    with _warehouse(home) as con, warehouse.transaction(con):
        files = ingest_partitions(con, "requests", source, home / "landing", days, known_services)
    loaded = int(files["rows_loaded"].sum())
    return [Timing("ingest (ingest_partitions, every day)", loaded, perf_counter() - began)], None


def duckdb_read_csv(home: Path) -> tuple[list[Timing], None]:
    """DuckDB's own ``read_csv`` of every landing file into a table of a fresh database file:
    the floor for the ingest (which also checks, rejects and records every file)."""
    path = home.parent / "read_csv.duckdb"
    path.unlink(missing_ok=True)
    files = str(home / "landing" / "requests" / "*.csv")
    began = perf_counter()
    with duckdb.connect(str(path)) as con:
        con.execute("SET enable_progress_bar = false")
        con.execute(f"CREATE TABLE requests AS SELECT * FROM read_csv('{files}')")
        [(rows,)] = con.execute("SELECT count(*) FROM requests").fetchall()
    seconds = perf_counter() - began
    path.unlink()
    return [Timing("DuckDB read_csv into a table (same files)", rows, seconds)], None


def slices(home: Path, days: list[date]) -> tuple[list[Timing], None]:
    """The ``sla_slices`` asset over every day: ``period_slices`` (one SQL statement per run of
    up to 92 days) and the write of each period (``replace_rows``), timed apart."""
    contracts = _contracts(home)
    objectives = objectives_frame(contracts)
    seconds = dict.fromkeys(["compute", "write"], 0.0)
    stored = 0
    periods = day_periods(days)
    with _warehouse(home) as con, Progress("slicing", len(periods), "periods") as sliced:
        [(raw_rows,)] = con.execute("SELECT count(*) FROM raw.requests").fetchall()
        began = perf_counter()
        as_of = evidence_end(con)
        first = first_evidence(con)
        assert as_of is not None, "no evidence ingested"
        seconds["compute"] += perf_counter() - began
        with warehouse.transaction(con):
            for first_day, last_day in periods:
                lap = perf_counter()
                period = period_slices(
                    con, contracts, objectives, first, first_day, last_day, as_of
                )
                seconds["compute"] += perf_counter() - lap
                lap = perf_counter()
                warehouse.replace_rows(
                    con,
                    [
                        (
                            "sla.slices",
                            "partition_date BETWEEN ? AND ?",
                            [first_day, last_day],
                            period,
                        )
                    ],
                )
                seconds["write"] += perf_counter() - lap
                stored += period.height
                sliced.advance()
    return [
        Timing(
            f"slices as sla/slices ({len(periods)} statements)", raw_rows, sum(seconds.values())
        ),
        Timing("  sql/sla/slices.sql (raw rows in DuckDB)", raw_rows, seconds["compute"]),
        Timing(f"  write sla.slices ({stored:,} slices)", stored, seconds["write"]),
    ], None


def burn(home: Path) -> tuple[list[Timing], pl.DataFrame]:
    """``sla_windows``' burn rates and alerts: ``refresh_burn`` of every partition (burn rates
    and alert firing in SQL over the stored slices, written to the lake partition by partition)
    and the episodes of the stored firing. The payload: the alerts firing at as_of (the
    windows' status needs them)."""
    contracts = _contracts(home)
    objectives = objectives_frame(contracts)
    traffic = objectives.filter(is_traffic(objectives))
    with _warehouse(home) as con:
        [(stored,)] = con.execute("SELECT count(*) FROM sla.slices").fetchall()
        began = perf_counter()
        refresh_burn(con, traffic, alert_rules_frame(contracts), None)
        firing = firing_at_end(stored_episodes(con, traffic))
        timing = Timing("burn rates + alerts (sla/windows)", stored, perf_counter() - began)
    return [timing], firing


def windows(home: Path, firing: pl.DataFrame) -> tuple[list[Timing], pl.DataFrame]:
    """``sla_windows``' windows step: the stored slices summed per local day in DuckDB
    (``stored_daily_totals``, with as_of and the first evidence), then ``daily_windows``; the
    two timed apart."""
    objectives = objectives_frame(_contracts(home))
    with _warehouse(home, read_only=True) as con:
        [(stored,)] = con.execute("SELECT count(*) FROM sla.slices").fetchall()
        (as_of, daily, first), read = _best_of(
            lambda: (
                evidence_end(con),
                stored_daily_totals(con, objectives),
                first_evidence(con),
            )
        )
    assert as_of is not None, "no evidence ingested"
    starts = measurement_starts(objectives, first)
    monthly, compute = _best_of(lambda: daily_windows(objectives, daily, firing, as_of, starts))
    result = monthly.join(objectives.select(*KEYS, "service"), on=KEYS).select(
        "service", "window_label", pl.col("good", "total").cast(pl.Int64)
    )
    return [
        Timing("windows: slices → daily totals (DuckDB)", stored, read),
        Timing("windows: daily_windows (local days)", daily.height, compute),
    ], result.sort("service", "window_label")


def duckdb_query(home: Path) -> tuple[list[Timing], pl.DataFrame]:
    """``MONTHLY_WINDOWS_SQL`` over ``raw.requests``."""
    with _warehouse(home, read_only=True) as con:
        [(rows,)] = con.execute("SELECT count(*) FROM raw.requests").fetchall()
        monthly, seconds = _best_of(lambda: con.sql(MONTHLY_WINDOWS_SQL).pl())
    result = monthly.select("service", "window_label", pl.col("good", "total").cast(pl.Int64))
    timing = Timing("DuckDB SQL query (raw rows)", rows, seconds)
    return [timing], result.sort("service", "window_label")


def pandas_groupby(home: Path) -> tuple[list[Timing], pl.DataFrame]:
    """The raw rows loaded into pandas (untimed), then zone conversion and a groupby, timed."""
    with _warehouse(home, read_only=True) as con:
        requests = con.sql("SELECT ts, service, total, errors FROM raw.requests").df()

    def monthly_sums() -> Any:
        local = requests["ts"].dt.tz_convert(TIME_ZONE)
        return (
            requests.assign(good=requests["total"] - requests["errors"])
            .groupby(["service", local.dt.year.rename("year"), local.dt.month.rename("month")])[
                ["good", "total"]
            ]
            .sum()
        )

    monthly, seconds = _best_of(monthly_sums)
    result = pl.from_pandas(monthly.reset_index()).select(
        "service",
        window_label=pl.format("{}-{}", "year", pl.col("month").cast(pl.String).str.zfill(2)),
        good=pl.col("good").cast(pl.Int64),
        total=pl.col("total").cast(pl.Int64),
    )
    timing = Timing("pandas groupby (raw rows)", len(requests), seconds)
    return [timing], result.sort("service", "window_label")


def _best_of(compute: Callable[[], T]) -> tuple[T, float]:
    """``compute``'s result and its best wall time over ``REPEAT`` runs."""
    best, result = float("inf"), None
    for _ in range(REPEAT):
        result = None  # free the last run's result first: the peak memory stays one run's
        began = perf_counter()
        result = compute()
        best = min(best, perf_counter() - began)
    return result, best


@contextmanager
def _warehouse(home: Path, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """The bench home's warehouse, without DuckDB's progress bar in the output."""
    with warehouse.connect(home / "warehouse.duckdb", read_only=read_only) as con:
        con.execute("SET enable_progress_bar = false")
        yield con


def _contracts(home: Path) -> list[Contract]:
    contracts, problems = load_contracts(home / "contracts")
    assert not problems, problems
    return contracts
