"""Capacity: when does a service's demand outgrow the capacity its contract declares?

Demand is each complete UTC day's peak: the request rate (requests/s) of its busiest hour. A
linear trend with a day-of-week effect is fitted to the daily peaks by least squares (statsmodels
OLS): ``peak = level + growth × day + weekday effect``, so that quiet weekends neither hide nor
fake growth. The fit is projected day by day over HORIZON_DAYS; the capacity runs out on the
first day whose forecast peak reaches it (``runs_out_at``), and at the earliest on the first day
whose upper prediction bound does (``runs_out_earliest``: a one-sided UPPER_QUANTILE bound on
that day's peak). Both are null when that does not happen within the horizon.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import polars as pl
from statsmodels.regression.linear_model import OLS

from pipelines.contracts.schema import Contract
from pipelines.predict.forecast import INSUFFICIENT_HISTORY

HORIZON_DAYS = 730
MIN_DAYS = 14
UPPER_QUANTILE = 0.95
MODEL = "ols_linear_trend_weekday"

CAPACITIES_SCHEMA = {"service": pl.String, "capacity": pl.Float64}
PEAKS_SCHEMA = {"service": pl.String, "day": pl.Date, "peak": pl.Float64}
CAPACITY_SCHEMA = {
    "service": pl.String,
    "capacity": pl.Float64,
    "current_peak": pl.Float64,
    "growth_per_day": pl.Float64,
    "runs_out_at": pl.Date,
    "runs_out_earliest": pl.Date,
    "model": pl.String,
}


def declared_capacities(contracts: list[Contract]) -> pl.DataFrame:
    """CAPACITIES_SCHEMA: each service that declares a capacity, in requests/s (first
    declaration wins when several contracts name the service)."""
    rows = [
        (service.id, service.capacity.requests_per_second)
        for contract in contracts
        for service in contract.services
        if service.capacity is not None
    ]
    return pl.DataFrame(rows, schema=CAPACITIES_SCHEMA, orient="row").unique(
        "service", keep="first", maintain_order=True
    )


def daily_peaks(requests: pl.DataFrame) -> pl.DataFrame:
    """The busiest hour's request rate of each service and complete UTC day.

    Input: ``raw.requests`` rows (ts, service, total). Output: PEAKS_SCHEMA (``peak`` in
    requests/s), only days with evidence in all 24 hours, sorted by service and day.
    """
    return (
        requests.lazy()
        .group_by("service", hour=pl.col("ts").dt.truncate("1h"))
        .agg(rate=pl.col("total").sum() / 3600)
        .group_by("service", day=pl.col("hour").dt.date())
        .agg(peak=pl.col("rate").max(), hours=pl.len())
        .filter(pl.col("hours") == 24)
        .select(*PEAKS_SCHEMA)
        .sort("service", "day")
        .collect()
        .cast(PEAKS_SCHEMA)  # type: ignore[arg-type]
    )


def _design(days: np.ndarray) -> np.ndarray:
    """Columns: 1, day number, one indicator per weekday but Monday (days: int days since epoch;
    1970-01-01 was a Thursday)."""
    weekday = (days + 3) % 7
    return np.column_stack([np.ones(len(days)), days, np.eye(7)[weekday][:, 1:]])


def _first_day(days: np.ndarray, reached: np.ndarray) -> date | None:
    hits = np.flatnonzero(reached)
    return date(1970, 1, 1) + timedelta(days=int(days[hits[0]])) if hits.size else None


def service_forecast(peaks: pl.DataFrame, capacity: float) -> dict[str, object]:
    """The CAPACITY_SCHEMA fields but ``service`` and ``capacity`` for one service's daily peaks
    (``day``, ``peak``, sorted by day): ``current_peak`` the highest peak of the last 7 days,
    ``growth_per_day`` the fitted trend as a share of it."""
    if peaks.height < MIN_DAYS:
        return dict.fromkeys(list(CAPACITY_SCHEMA)[2:-1]) | {"model": INSUFFICIENT_HISTORY}
    days = peaks["day"].cast(pl.Int64).to_numpy()
    fit = OLS(peaks["peak"].to_numpy(), _design(days)).fit()
    future = np.arange(days[-1] + 1, days[-1] + 1 + HORIZON_DAYS)
    forecast = fit.get_prediction(_design(future)).summary_frame(alpha=2 * (1 - UPPER_QUANTILE))
    current_peak = float(peaks["peak"].tail(7).max())
    return {
        "current_peak": current_peak,
        "growth_per_day": float(fit.params[1]) / current_peak,
        "runs_out_at": _first_day(future, forecast["mean"].to_numpy() >= capacity),
        "runs_out_earliest": _first_day(future, forecast["obs_ci_upper"].to_numpy() >= capacity),
        "model": MODEL,
    }


def capacity_forecast(peaks: pl.DataFrame, capacities: pl.DataFrame) -> pl.DataFrame:
    """When each service with a declared capacity is expected to run out of it.

    Inputs: ``peaks`` (PEAKS_SCHEMA, from ``daily_peaks``), ``capacities`` (CAPACITIES_SCHEMA,
    from ``declared_capacities``). Output: CAPACITY_SCHEMA, one row per declared capacity (the
    forecast fields null and ``model`` INSUFFICIENT_HISTORY with fewer than MIN_DAYS daily
    peaks).
    """
    rows = [
        {
            "service": service,
            "capacity": capacity,
            **service_forecast(peaks.filter(pl.col("service") == service).sort("day"), capacity),
        }
        for service, capacity in capacities.iter_rows()
    ]
    return pl.DataFrame(rows, schema=CAPACITY_SCHEMA)
