"""Timing of the slice and window steps on synthetic per-minute request rows.

Run: ``.venv/bin/python -m tests.sla.bench [rows]`` (default 10 M: 100 services × 100 000 minutes).
Compares the window step with a hand-written DuckDB GROUP BY over the same slices.
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime, timedelta

import duckdb
import numpy as np
import polars as pl

from pipelines.sla.burn import alert_episodes, burn_ledger, burn_rates, firing_at_end
from pipelines.sla.objectives import alert_rules_frame, objectives_frame
from pipelines.sla.slices import objective_slices
from pipelines.sla.windows import objective_windows
from pipelines.spec.schema import Contract

SERVICES = 100


def synthetic(rows: int) -> tuple[list[Contract], pl.DataFrame, datetime]:
    minutes = rows // SERVICES
    start = datetime(2026, 1, 1, tzinfo=UTC)
    contracts = [
        Contract.model_validate(
            {
                "id": f"c{n}",
                "title": "bench",
                "provider": "p",
                "consumer": "c",
                "time_zone": ["Europe/Berlin", "America/New_York", "UTC"][n % 3],
                "services": [{"id": f"s{n}"}],
                "objectives": [
                    {
                        "id": "availability",
                        "service": f"s{n}",
                        "sli": {"kind": "availability"},
                        "target": 0.999,
                    }
                ],
            }
        )
        for n in range(SERVICES)
    ]
    rng = np.random.default_rng(1)
    epoch_us = int(start.timestamp()) * 1_000_000
    requests = pl.DataFrame(
        {
            "ts": np.tile(np.arange(minutes, dtype=np.int64) * 60_000_000 + epoch_us, SERVICES),
            "service": np.repeat([f"s{n}" for n in range(SERVICES)], minutes),
            "total": rng.integers(50, 150, SERVICES * minutes),
            "errors": rng.binomial(1, 0.05, SERVICES * minutes),
        }
    ).with_columns(pl.from_epoch("ts", time_unit="us").dt.replace_time_zone("UTC"))
    return contracts, requests, start + timedelta(minutes=minutes)


def main(rows: int) -> None:
    contracts, requests, as_of = synthetic(rows)
    objectives = objectives_frame(contracts)
    first = requests.group_by("service").agg(first_ts=pl.col("ts").min())
    first = first.with_columns(sli_method=pl.lit("requests"))
    empty = pl.LazyFrame(
        schema={"ts": pl.Datetime("us", "UTC"), "service": pl.String, "up": pl.Boolean}
    )
    buckets = pl.LazyFrame(
        schema={
            "ts": pl.Datetime("us", "UTC"),
            "service": pl.String,
            "le_seconds": pl.Float64,
            "count": pl.Int64,
        }
    )
    excluded = pl.DataFrame(
        schema={"contract_id": pl.String, "service": pl.String, "minute": pl.Datetime("us", "UTC")}
    )
    began = time.perf_counter()
    slices = objective_slices(
        objectives, requests.lazy(), empty, buckets, excluded, first,
        requests["ts"].min(), as_of, as_of,
    )  # fmt: skip
    sliced = time.perf_counter()
    no_alerts = pl.DataFrame(schema={"contract_id": pl.String, "objective_id": pl.String})
    windows = objective_windows(objectives, slices, no_alerts, as_of)
    windowed = time.perf_counter()
    ledger = burn_ledger(objectives, slices)
    rates = burn_rates(ledger)
    alerts = alert_episodes(ledger, alert_rules_frame(contracts))
    firing_at_end(alerts)
    burned = time.perf_counter()
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.register("slices", slices)
    con.register("objectives", objectives)
    query = """
        SELECT s.contract_id, s.objective_id,
               strftime(timezone(o.time_zone, s.slice_start), '%Y-%m') AS window_label,
               sum(good) AS good, sum(total) AS total, sum(good) / sum(total) AS attainment
        FROM slices s JOIN objectives o USING (contract_id, objective_id)
        GROUP BY ALL
    """
    ducked = time.perf_counter()
    con.execute(query).fetchall()
    duck = time.perf_counter() - ducked
    print(f"{requests.height:,} request rows → {slices.height:,} slices → {windows.height} windows")
    print(f"slices  {sliced - began:6.2f} s")
    print(f"windows {windowed - sliced:6.2f} s   (DuckDB GROUP BY by month: {duck:.2f} s)")
    print(
        f"burn    {burned - windowed:6.2f} s   "
        f"({rates.height:,} burn-rate rows, {alerts.height} alerts)"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000_000)
