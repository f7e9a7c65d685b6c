"""Capacity: daily peaks, the linear trend with weekday effects, and the run-out dates."""

from datetime import UTC, date, datetime, timedelta

import numpy as np
import polars as pl
import pytest
from pydantic import ValidationError

from pipelines.contracts.loader import load_contract
from pipelines.contracts.schema import Capacity
from pipelines.predict.capacity import (
    CAPACITY_SCHEMA,
    MODEL,
    capacity_forecast,
    daily_peaks,
    declared_capacities,
)
from pipelines.predict.forecast import INSUFFICIENT_HISTORY
from pipelines.settings import REPO_ROOT

START = date(2026, 1, 1)  # a Thursday


def peaks_frame(service: str, peaks: np.ndarray) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "service": service,
            "day": [START + timedelta(days=int(d)) for d in range(len(peaks))],
            "peak": peaks.astype(float),
        }
    )


def test_linear_growth_runs_out_on_the_hand_computed_day() -> None:
    # peak = 10 + 0.1 t requests/s on day t: 20 is reached on day 100, 11 April 2026.
    t = np.arange(60)
    result = capacity_forecast(
        peaks_frame("api", 10 + 0.1 * t), pl.DataFrame({"service": ["api"], "capacity": [20.0]})
    )
    assert result.schema == pl.Schema(CAPACITY_SCHEMA)
    row = result.row(0, named=True)
    assert row["runs_out_at"] == date(2026, 4, 11) == START + timedelta(days=100)
    # A perfect fit leaves no spread: the earliest date is the same day.
    assert row["runs_out_earliest"] == date(2026, 4, 11)
    assert row["current_peak"] == pytest.approx(15.9)
    assert row["growth_per_day"] == pytest.approx(0.1 / 15.9)
    assert row["model"] == MODEL


def test_quiet_weekends_move_the_date_to_the_next_weekday() -> None:
    # Weekends 3 requests/s lower: day 100 is Saturday 11 April (17 requests/s), so the
    # capacity runs out on Monday 13 April (day 102: 20.2).
    t = np.arange(60)
    weekday = np.array([(START + timedelta(days=int(d))).weekday() for d in t])
    peaks = 10 + 0.1 * t - 3.0 * (weekday >= 5)
    result = capacity_forecast(
        peaks_frame("api", peaks), pl.DataFrame({"service": ["api"], "capacity": [20.0]})
    )
    assert result["runs_out_at"].to_list() == [date(2026, 4, 13)]


def test_noise_brings_the_earliest_date_forward_and_flat_demand_never_runs_out() -> None:
    rng = np.random.default_rng(1)
    t = np.arange(90)
    growing = 10 + 0.1 * t + rng.normal(0, 0.5, len(t))
    flat = 10 + rng.normal(0, 0.5, len(t))
    result = capacity_forecast(
        pl.concat([peaks_frame("growing", growing), peaks_frame("flat", flat)]),
        pl.DataFrame({"service": ["growing", "flat", "unmeasured"], "capacity": [20.0, 30.0, 5.0]}),
    )
    growing_row, flat_row, unmeasured = result.iter_rows(named=True)
    # The mean crossing stays within a week of day 100; the upper bound crosses weeks earlier.
    assert abs((growing_row["runs_out_at"] - date(2026, 4, 11)).days) <= 7
    assert growing_row["runs_out_earliest"] < growing_row["runs_out_at"] - timedelta(days=7)
    assert (flat_row["runs_out_at"], flat_row["runs_out_earliest"]) == (None, None)
    assert unmeasured["model"] == INSUFFICIENT_HISTORY and unmeasured["runs_out_at"] is None


def test_daily_peak_is_the_busiest_hours_rate_of_complete_days() -> None:
    minutes = pl.datetime_range(
        datetime(2026, 1, 1, tzinfo=UTC),
        datetime(2026, 1, 2, 12, tzinfo=UTC),
        "1m",
        closed="left",
        time_unit="us",
        time_zone="UTC",
        eager=True,
    )
    total = np.where(minutes.dt.hour().to_numpy() == 14, 120, 60)
    requests = pl.DataFrame({"ts": minutes, "service": "api", "total": total})
    # 14:00-15:00 carries 120 × 60 requests: 2 requests/s; 2 January is incomplete.
    assert daily_peaks(requests).rows() == [("api", date(2026, 1, 1), 2.0)]


def test_the_paylane_example_declares_two_capacities() -> None:
    paylane = load_contract(REPO_ROOT / "examples/contracts/paylane-payments.yaml")
    assert declared_capacities([paylane]).rows() == [("payments-api", 28.0), ("webhooks", 15.0)]


def test_a_capacity_must_be_positive() -> None:
    with pytest.raises(ValidationError, match="greater than 0"):
        Capacity(requests_per_second=0)
