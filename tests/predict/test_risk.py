"""Breach risk on synthetic series whose outcome is known, exhaustion time by hand, calibration."""

import warnings
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest
from threadpoolctl import threadpool_info

from pipelines.predict.forecast import (
    current_windows,
    forecast_objectives,
    forecasts_frame,
    hourly_history,
)
from pipelines.predict.risk import (
    BREACH_RISK_SCHEMA,
    PAST_DAYS,
    breach_risk,
    linear_extrapolation_risk,
    traffic_breach_risk,
    unknown_without_enough_data,
    with_past_deviations,
)
from pipelines.sla.objectives import UTC_US

HOUR = timedelta(hours=1)
WINDOW_START = datetime(2026, 3, 1, tzinfo=UTC)
WINDOW_END = datetime(2026, 3, 31, tzinfo=UTC)  # a 30-day window


def slices_frame(
    start: datetime, step: timedelta, good: np.ndarray, total: np.ndarray
) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "contract_id": "acme",
            "objective_id": "availability",
            "slice_start": pl.datetime_range(
                start, start + step * (len(total) - 1), step, time_zone="UTC", eager=True
            ),
            "good": good.astype(float),
            "total": total.astype(float),
        }
    ).cast({"slice_start": UTC_US})


def window_so_far(
    slices: pl.DataFrame, as_of: datetime, start: datetime, end: datetime, target: float
) -> pl.DataFrame:
    """The sla.windows row of the window [start, end) at as_of."""
    inside = slices.filter(pl.col("slice_start") >= start, pl.col("slice_start") < as_of)
    return pl.DataFrame(
        {
            "contract_id": ["acme"],
            "objective_id": ["availability"],
            "window_label": ["w"],
            "window_start": [start],
            "window_end": [end],
            "good": [inside["good"].sum()],
            "total": [inside["total"].sum()],
            "target": [target],
        },
        schema_overrides={"window_start": UTC_US, "window_end": UTC_US},
    )


def risk(slices: pl.DataFrame, window: pl.DataFrame, as_of: datetime, simulations: int = 500):
    current = current_windows(window, as_of)
    forecasts = forecast_objectives(hourly_history(slices, as_of), current, as_of, simulations)
    return breach_risk(current, forecasts, as_of)


def noisy_hours(hours: int, bad_ratio: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Hourly total (Poisson around a daily cycle of mean 1000) and good (binomial bad)."""
    rng = np.random.default_rng(seed)
    total = rng.poisson(1000 * (1 + 0.4 * np.sin(2 * np.pi * np.arange(hours) / 24)))
    bad = rng.binomial(total, bad_ratio)
    return total - bad, total


def test_exhaustion_of_a_linear_burn_is_the_hand_computed_instant():
    # 1000 events and 2 bad per hour, in 5-minute slices, from 14 days before the window.
    # At 10 days 30 minutes into the window: bad 481 of 240 500; the window's total will be
    # 720 000, its budget 720 (target 99.9%), reached after 239 more bad = 119.5 hours, at
    # 2026-03-16 00:00. Final attainment 1 − 1440 / 720 000 = 0.998.
    start = WINDOW_START - timedelta(days=14)
    slices_count = (44 * 24) * 12
    total = np.full(slices_count, 1000 / 12)
    good = total - 2 / 12
    slices = slices_frame(start, timedelta(minutes=5), good, total)
    as_of = datetime(2026, 3, 11, 0, 30, tzinfo=UTC)
    window = window_so_far(slices, as_of, WINDOW_START, WINDOW_END, 0.999)
    row = risk(slices, window, as_of).row(0, named=True)
    assert row["p_breach"] == 1.0
    assert row["expected_attainment"] == pytest.approx(0.998, abs=1e-9)
    assert row["predicted_exhaustion_at"] == datetime(2026, 3, 16, tzinfo=UTC)
    assert row["bad_ratio_holdout_mae"] == pytest.approx(0, abs=1e-12)
    linear = linear_extrapolation_risk(window, as_of).row(0, named=True)
    assert linear["predicted_exhaustion_at"] == datetime(2026, 3, 16, tzinfo=UTC)
    assert linear["p_breach"] == 1.0


def test_a_steady_burn_that_began_recently_must_breach_though_the_window_is_on_track():
    # Clean (0.03% bad) for 14 days before the window and its first 9 days, then 0.25% bad for
    # 3 days: attainment so far 99.92% ≥ 99.9%, so linear extrapolation sees no breach; 18 more
    # days at 0.25% end near 99.82%.
    history_hours = 26 * 24
    ratio = np.where(np.arange(history_hours) < 23 * 24, 0.0003, 0.0025)
    good, total = noisy_hours(history_hours, ratio, seed=1)
    start = WINDOW_START - timedelta(days=14)
    slices = slices_frame(start, timedelta(hours=1), good, total)
    as_of = datetime(2026, 3, 13, tzinfo=UTC)
    window = window_so_far(slices, as_of, WINDOW_START, WINDOW_END, 0.999)
    row = risk(slices, window, as_of).row(0, named=True)
    assert row["p_breach"] > 0.9
    assert row["attainment_high"] < 0.999
    assert WINDOW_START < row["predicted_exhaustion_at"] < WINDOW_END
    assert linear_extrapolation_risk(window, as_of)["p_breach"].to_list() == [0.0]


def test_a_clean_series_must_not_breach():
    history_hours = 26 * 24
    good, total = noisy_hours(history_hours, np.full(history_hours, 0.0003), seed=2)
    slices = slices_frame(WINDOW_START - timedelta(days=14), timedelta(hours=1), good, total)
    as_of = datetime(2026, 3, 13, tzinfo=UTC)
    row = risk(slices, window_so_far(slices, as_of, WINDOW_START, WINDOW_END, 0.999), as_of)
    assert row["p_breach"].to_list() == [0.0]
    assert row["predicted_exhaustion_at"].to_list() == [None]
    assert row["attainment_low"][0] > 0.999


def test_an_already_breached_window_cannot_recover():
    # 15 days at 0.3% bad: 1080 bad, more than the 720 the whole window's total allows even if
    # every remaining event is good.
    history_hours = 29 * 24
    ratio = np.where(np.arange(history_hours) < 14 * 24, 0.0003, 0.003)
    good, total = noisy_hours(history_hours, ratio, seed=3)
    slices = slices_frame(WINDOW_START - timedelta(days=14), timedelta(hours=1), good, total)
    as_of = datetime(2026, 3, 16, tzinfo=UTC)
    result = risk(slices, window_so_far(slices, as_of, WINDOW_START, WINDOW_END, 0.999), as_of)
    assert result.schema == pl.Schema(BREACH_RISK_SCHEMA)
    row = result.row(0, named=True)
    assert row["p_breach"] == 1.0
    assert row["attainment_high"] < 0.999
    assert row["predicted_exhaustion_at"] == as_of
    assert row["method"] == "forecast" and row["window_label"] == "w"


@pytest.mark.parametrize(("hours", "method"), [(23, "insufficient_history"), (24, "forecast")])
def test_less_than_a_day_of_hours_is_insufficient_history(hours, method):
    """Evidence from the window's start to as_of, already far below target: without a day of
    hours there is no forecast, and no probability either (not a certain breach)."""
    good, total = np.full(hours, 90), np.full(hours, 100)
    slices = slices_frame(WINDOW_START, timedelta(hours=1), good, total)
    as_of = WINDOW_START + timedelta(hours=hours)
    result = risk(slices, window_so_far(slices, as_of, WINDOW_START, WINDOW_END, 0.999), as_of)
    assert result.schema == pl.Schema(BREACH_RISK_SCHEMA)
    row = result.row(0, named=True)
    assert (row["method"], row["window_label"], row["target"]) == (method, "w", 0.999)
    assert row["p_breach"] == (None if hours < 24 else 1.0)
    assert (row["volume_model"], row["bad_ratio_model"]) == (
        (None, None) if hours < 24 else ("mean", "mean")
    )


@pytest.mark.parametrize("workers", [1, 2])
def test_a_portfolio_in_worker_processes_is_predicted_as_one_objective_at_a_time(workers):
    """Three objectives, two with the same history (a contract copied): the batched prediction,
    in one process or two, gives exactly the rows of breach_risk and forecasts_frame."""
    history_hours = 26 * 24
    ratio = np.where(np.arange(history_hours) < 23 * 24, 0.0003, 0.0025)
    good, total = noisy_hours(history_hours, ratio, seed=1)
    other_good, other_total = noisy_hours(history_hours, np.full(history_hours, 0.0003), seed=2)
    start = WINDOW_START - timedelta(days=14)
    as_of = datetime(2026, 3, 13, tzinfo=UTC)
    copies = [
        ("acme", good, total),
        ("acme-copy", good, total),
        ("globex", other_good, other_total),
    ]
    slices = pl.concat(
        slices_frame(start, timedelta(hours=1), g, t).with_columns(contract_id=pl.lit(contract))
        for contract, g, t in copies
    )
    windows = pl.concat(
        window_so_far(slices.filter(pl.col("contract_id") == contract), as_of, WINDOW_START,
                      WINDOW_END, 0.999).with_columns(contract_id=pl.lit(contract))
        for contract, _, _ in copies
    )  # fmt: skip
    current = current_windows(windows, as_of)
    hourly = hourly_history(slices, as_of)
    forecasts = forecast_objectives(hourly, current, as_of, 50)
    past = hourly_history(slices, as_of, PAST_DAYS)
    risk_rows, forecast_rows = traffic_breach_risk(
        hourly, current, as_of, past, workers, simulations=50, min_objectives_per_worker=1
    )
    assert risk_rows.equals(breach_risk(current, with_past_deviations(forecasts, past), as_of))
    assert not risk_rows.equals(breach_risk(current, forecasts, as_of))  # the past does count
    assert forecast_rows.equals(forecasts_frame(forecasts))
    assert risk_rows["contract_id"].to_list() == ["acme", "acme-copy", "globex"]
    assert forecast_rows.height == 2 * 3 * len(forecasts[0].step_starts)
    # The copy shares the fits, not the paths (each objective's own generator).
    assert risk_rows["volume_model"][0] == risk_rows["volume_model"][1]
    assert risk_rows["expected_attainment"][0] != risk_rows["expected_attainment"][1]


def test_probabilities_are_calibrated_on_simulated_windows():
    # 160 two-day windows (target 99%) predicted half way, after 3 days of history. The bad
    # ratio moves in regimes: each hour it jumps with probability 1/12 by a factor e^N(0, 0.3)
    # around a base level near the target drawn per window. Binned by predicted probability
    # ([0, 0.2), [0.2, 0.8), [0.8, 1]), the observed breach frequency is within 0.15 of the
    # mean prediction in every bin, each holding at least 15 windows.
    rng = np.random.default_rng(7)
    hours, start = 5 * 24, datetime(2026, 3, 1, tzinfo=UTC)
    window_start, window_end = start + timedelta(days=3), start + timedelta(days=5)
    as_of = start + timedelta(days=4)
    predicted, breached = [], []
    for seed in range(160):
        jumps = rng.normal(0, 0.3, hours) * (rng.random(hours) < 1 / 12)
        ratio = np.minimum(0.01 * np.exp(rng.normal(0, 0.15) + np.cumsum(jumps)), 1.0)
        good, total = noisy_hours(hours, ratio, seed=1000 + seed)
        slices = slices_frame(start, timedelta(hours=1), good, total)
        window = window_so_far(slices, as_of, window_start, window_end, 0.99)
        predicted.append(risk(slices, window, as_of, simulations=300)["p_breach"][0])
        breached.append(good[72:].sum() / total[72:].sum() < 0.99)
    outcomes = pl.DataFrame({"predicted": predicted, "breached": breached}).with_columns(
        bin=pl.when(pl.col("predicted") < 0.2)
        .then(0)
        .when(pl.col("predicted") < 0.8)
        .then(1)
        .otherwise(2)
    )
    bins = outcomes.group_by("bin").agg(
        pl.len(), pl.col("predicted").mean(), observed=pl.col("breached").mean()
    )
    print(bins.sort("bin"))
    assert bins.height == 3 and bins["len"].min() >= 15
    assert (bins["predicted"] - bins["observed"]).abs().max() <= 0.15


def test_a_window_with_insufficient_data_has_an_unknown_breach_risk():
    risk = pl.DataFrame(
        [
            {"contract_id": "desk", "objective_id": objective_id, "window_label": "2026-03",
             "p_breach": p_breach, "predicted_exhaustion_at": WINDOW_END,
             "method": "item_simulation", "expected_measured": 5.0}
            for objective_id, p_breach in (("nps", 1.0), ("csat", 0.3))
        ],
        schema=BREACH_RISK_SCHEMA,
    )  # fmt: skip
    windows = pl.DataFrame(
        {
            "contract_id": "desk",
            "objective_id": ["nps", "csat"],
            "window_label": "2026-03",
            "status": ["insufficient_data", "on_track"],
        }
    )
    unknown = unknown_without_enough_data(risk, windows)
    assert unknown.schema == pl.Schema(BREACH_RISK_SCHEMA)
    assert unknown.select(
        "objective_id", "p_breach", "predicted_exhaustion_at", "method", "expected_measured"
    ).rows() == [
        ("nps", None, None, "insufficient_data", 5.0),
        ("csat", 0.3, WINDOW_END, "item_simulation", 5.0),
    ]


def test_past_deviations_add_a_past_stretch_of_the_bad_ratio_less_its_median_hour() -> None:
    # Past bad ratios per hour 0.1, 0.1, 0.1, 0.5 (median 0.1: deviations 0, 0, 0, 0.4). A
    # 3-step forecast of ratio 0.2 gets, per path, three consecutive deviations (circularly):
    # one of (0, 0, 0), (0, 0, 0.4), (0, 0.4, 0), (0.4, 0, 0).
    as_of = datetime(2026, 3, 1, 4, tzinfo=UTC)
    past = pl.DataFrame(
        {
            "contract_id": "acme",
            "objective_id": "availability",
            "hour": [datetime(2026, 3, 1, hour, tzinfo=UTC) for hour in range(4)],
            "total": 10.0,
            "bad": [1.0, 1.0, 1.0, 5.0],
        }
    ).cast({"hour": UTC_US})
    flat = slices_frame(as_of - 48 * HOUR, HOUR, np.full(48, 8.0), np.full(48, 10.0))
    current = current_windows(window_so_far(flat, as_of, as_of, as_of + 3 * HOUR, 0.9), as_of)
    forecasts = forecast_objectives(hourly_history(flat, as_of), current, as_of, simulations=400)
    (shifted,) = with_past_deviations(forecasts, past)
    added = shifted.bad_ratio.paths - forecasts[0].bad_ratio.paths
    assert {tuple(np.round(column, 9)) for column in added.T} == {
        (0.0, 0.0, 0.0),
        (0.0, 0.0, 0.4),
        (0.0, 0.4, 0.0),
        (0.4, 0.0, 0.0),
    }
    assert shifted.volume is forecasts[0].volume
    # A quiet past (every hour at its median) adds nothing; without past hours nothing changes.
    quiet = past.with_columns(bad=1.0)
    assert np.array_equal(
        with_past_deviations(forecasts, quiet)[0].bad_ratio.paths, forecasts[0].bad_ratio.paths
    )
    assert with_past_deviations(forecasts, past.clear()) == forecasts


def test_threads_that_fit_leave_the_warning_filters_and_blas_threads_as_they_were():
    """Objectives predicted on two threads whose fits warn (an all-zero bad ratio fits exactly:
    statsmodels logs a zero error sum) show no warning, and the process's warning filters and
    BLAS thread limits are those from before (the fits' contexts are process-wide)."""
    hours = 26 * 24
    start = WINDOW_START - timedelta(days=14)
    as_of = datetime(2026, 3, 13, tzinfo=UTC)
    slices = pl.concat(
        slices_frame(start, timedelta(hours=1), total, total).with_columns(
            contract_id=pl.lit(f"clean-{n}")
        )
        for n, total in enumerate(
            100.0 + 20 * np.sin(np.arange(hours) * (2 * np.pi / 24)) + n for n in range(4)
        )
    )
    current = current_windows(
        pl.concat(
            window_so_far(
                slices.filter(pl.col("contract_id") == f"clean-{n}"),
                as_of,
                WINDOW_START,
                WINDOW_END,
                0.999,
            ).with_columns(contract_id=pl.lit(f"clean-{n}"))
            for n in range(4)
        ),
        as_of,
    )
    filters = list(warnings.filters)
    blas = threadpool_info()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        traffic_breach_risk(hourly_history(slices, as_of), current, as_of, workers=2)
    assert [str(warning.message) for warning in caught] == []
    assert warnings.filters == filters
    assert threadpool_info() == blas
