"""Forecasts: hourly history, model choice by holdout error, forecast steps and the frame."""

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest
from statsmodels.tsa.holtwinters import ExponentialSmoothing

from pipelines.predict.forecast import (
    ANCHORED_STEPS,
    FORECASTS_SCHEMA,
    HISTORY_DAYS,
    choice_key,
    current_windows,
    dense_history,
    forecast_objectives,
    forecasts_frame,
    hourly_history,
    model_anchor,
    row_quantiles,
)
from pipelines.predict.models import (
    DAILY_MODELS,
    HOURLY_MODELS,
    ModelChoice,
    SeriesForecast,
    _fit,
    choose_model,
    fit_series,
    holt_winters_history,
)
from pipelines.sla.objectives import UTC_US

AS_OF = datetime(2026, 3, 11, 0, 30, tzinfo=UTC)


def slices_frame(starts: list[datetime], good: list[float], total: list[float]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "contract_id": "acme",
            "objective_id": "availability",
            "slice_start": starts,
            "good": good,
            "total": total,
        },
        schema_overrides={"slice_start": UTC_US},
    )


def test_hourly_history_sums_complete_hours_before_the_hour_of_as_of():
    starts = [
        datetime(2026, 2, 10, 23, 55, tzinfo=UTC),  # older than 28 days before 00:00: dropped
        datetime(2026, 2, 11, 0, 0, tzinfo=UTC),
        datetime(2026, 3, 10, 23, 0, tzinfo=UTC),
        datetime(2026, 3, 10, 23, 55, tzinfo=UTC),
        datetime(2026, 3, 11, 0, 5, tzinfo=UTC),  # the hour holding as_of: not history
    ]
    slices = slices_frame(starts, [1, 9, 90, 95, 50], [1, 10, 100, 100, 50])
    hourly = hourly_history(slices, AS_OF, HISTORY_DAYS)
    assert hourly["hour"].to_list() == [
        datetime(2026, 2, 11, 0, tzinfo=UTC),
        datetime(2026, 3, 10, 23, tzinfo=UTC),
    ]
    assert hourly["total"].to_list() == [10.0, 200.0]
    assert hourly["bad"].to_list() == [1.0, 15.0]


def test_ratio_timeslices_hours_count_slices_and_their_mean_bad_ratio():
    # ratio_timeslices slices hold good = the slice's ratio over total = 1: an hour's volume is
    # its slices and its bad ratio 1 - the mean slice ratio (1.0, 0.5, 0.9 → 0.2).
    starts = [datetime(2026, 3, 10, 23, minute, tzinfo=UTC) for minute in (0, 5, 10)]
    hourly = hourly_history(slices_frame(starts, [1.0, 0.5, 0.9], [1.0, 1.0, 1.0]), AS_OF)
    assert hourly["total"].to_list() == [3.0]
    assert hourly["bad"].to_list() == [pytest.approx(0.6)]


def forecast_series(history, steps, simulations, rng, models=HOURLY_MODELS, holdout_steps=24):
    """fit_series of ``history`` drawn ``steps`` ahead (None: too short for every model)."""
    fitted = fit_series(history, models, holdout_steps)
    return fitted.forecast(steps, simulations, rng) if fitted is not None else None


WEEK = np.array([2.0, 3.0, 3.0, 4.0, 3.0, 0.0, 0.0])
"""Items per day of a week: the same every week, so the weekly naive forecast is exact."""


def daily(days: int) -> SeriesForecast | None:
    return forecast_series(
        np.resize(WEEK, days), 3, 200, np.random.default_rng(0), DAILY_MODELS, holdout_steps=7
    )


def test_holt_winters_history_is_what_the_heuristic_initialisation_needs():
    assert [holt_winters_history(period) for period in (7, 24, 168)] == [16, 48, 336]
    _fit("holt_winters_7", np.resize(WEEK, 16))
    with pytest.raises(ValueError, match="heuristic"):
        _fit("holt_winters_7", np.resize(WEEK, 15))


@pytest.mark.parametrize(("period", "steps"), [(7, 1), (7, 30), (24, 23), (24, 719), (168, 200)])
def test_holt_winters_forecasts_are_statsmodels_own_bit_for_bit(period, steps):
    """The point forecast and paths come from the fit's states without statsmodels' forecast
    and simulate (which re-run the smoother), and equal theirs exactly."""
    history = np.random.default_rng(period).gamma(2.0, 50.0, 4 * period + 30)
    point, paths = _fit(f"holt_winters_{period}", history)
    fitted = ExponentialSmoothing(
        history, seasonal="add", seasonal_periods=period, initialization_method="heuristic"
    ).fit()
    assert np.array_equal(point(steps), fitted.forecast(steps))
    simulated = fitted.simulate(steps, repetitions=40, error="add", rng=np.random.default_rng(5))
    assert np.array_equal(
        paths(steps, 40, np.random.default_rng(5)), np.reshape(simulated, (steps, 40))
    )


@pytest.mark.parametrize("days", [1, 2, 6])
def test_less_than_a_week_of_days_is_insufficient_history(days):
    assert daily(days) is None


@pytest.mark.parametrize("days", [7, 8])
def test_a_week_falls_back_to_the_mean_without_holdout(days):
    forecast = daily(days)
    assert forecast is not None
    assert (forecast.model, forecast.holdout_mae) == ("mean", None)
    assert forecast.point.tolist() == [sum(np.resize(WEEK, days)) / days] * 3
    assert forecast.paths.shape == (3, 200)


@pytest.mark.parametrize("days", [9, 13, 14, 15, 16, 21])
def test_from_a_week_before_the_holdout_the_weekly_season_is_found(days):
    forecast = daily(days)
    assert forecast is not None
    assert (forecast.model, forecast.holdout_mae) == ("seasonal_naive_7", 0.0)
    assert forecast.point.tolist() == np.resize(np.roll(WEEK, -days), 3).tolist()


def test_no_length_of_history_fails():
    """Every length up to 35 days of a noisy count and up to three weeks of hours: no
    exception (18 to 20 days failed when Holt-Winters took part from 14 training days)."""
    rng = np.random.default_rng(3)
    for days in range(1, 36):
        forecast = forecast_series(
            rng.poisson(3, days).astype(float), 7, 20, rng, DAILY_MODELS, holdout_steps=7
        )
        assert (forecast is None) == (days < 7)
        assert forecast is None or DAILY_MODELS[forecast.model] <= days
    for hours in range(1, 24 * 21, 13):
        forecast = forecast_series(rng.poisson(30, hours).astype(float), 24, 20, rng)
        assert (forecast is None) == (hours < 24)
        assert forecast is None or HOURLY_MODELS[forecast.model] <= hours


def test_daily_season_is_chosen_over_the_mean_with_its_holdout_error():
    hours = np.arange(24 * 7)
    daily = 100 + 50 * np.sin(2 * np.pi * hours / 24)
    forecast = forecast_series(daily, 48, 300, np.random.default_rng(0))
    assert forecast.model in ("seasonal_naive_24", "holt_winters_24")
    assert forecast.holdout_mae is not None and forecast.holdout_mae < 1.0
    expected = 100 + 50 * np.sin(2 * np.pi * np.arange(24 * 7, 24 * 9) / 24)
    assert np.abs(forecast.point - expected).max() < 1.0


def test_weekly_season_is_chosen_with_enough_history():
    hours = np.arange(24 * 28)
    weekly = 100 + 40 * (hours % 168 < 24) + 10 * np.sin(2 * np.pi * hours / 24)
    noise = np.random.default_rng(1).normal(0, 1, len(hours))
    forecast = forecast_series(weekly + noise, 24, 300, np.random.default_rng(0))
    assert forecast.model.endswith("_168")
    # The next 24 hours are Monday-like (hour 672 % 168 == 0): the high day.
    assert abs(forecast.point.mean() - 140) < 2


def test_forecast_steps_weigh_the_partial_first_hour_and_the_frame_lists_each_hour():
    starts = [AS_OF.replace(minute=0) - timedelta(hours=h) for h in range(1, 49)]
    slices = slices_frame(starts, [99.0] * 48, [100.0] * 48)
    windows = pl.DataFrame(
        {
            "contract_id": ["acme", "acme"],
            "objective_id": ["availability", "availability"],
            "window_label": ["2026-03-10", "2026-03-11"],
            "window_start": [datetime(2026, 3, 10, tzinfo=UTC), datetime(2026, 3, 11, tzinfo=UTC)],
            "window_end": [datetime(2026, 3, 11, tzinfo=UTC), datetime(2026, 3, 11, 3, tzinfo=UTC)],
            "good": [2000.0, 40.0],
            "total": [2020.0, 40.0],
            "target": [0.99, 0.99],
        },
        schema_overrides={"window_start": UTC_US, "window_end": UTC_US},
    )
    current = current_windows(windows, AS_OF)
    assert current["window_label"].to_list() == ["2026-03-11"]
    (forecast,) = forecast_objectives(hourly_history(slices, AS_OF), current, AS_OF, 100)
    assert forecast.weights.tolist() == [0.5, 1.0, 1.0]
    assert forecast.volume.point.tolist() == [100.0, 100.0, 100.0]
    assert np.allclose(forecast.bad_ratio.point, 0.01)
    frame = forecasts_frame([forecast])
    assert frame.schema == pl.Schema(FORECASTS_SCHEMA)
    assert frame.filter(pl.col("series") == "volume")["hour"].to_list() == [
        datetime(2026, 3, 11, h, tzinfo=UTC) for h in range(3)
    ]
    assert frame["interval_low"].to_list() == frame["mean"].to_list()  # no spread: constant


def test_models_are_chosen_once_a_week_on_the_history_before_its_monday():
    """The week's models are chosen on the HISTORY_DAYS before Monday 00:00 UTC and run over
    each forecast's own history with the parameters chosen then: the choices found on Thursday
    serve Friday, a forecast does not depend on the forecasts before it, and the next Monday
    chooses again."""
    hours = np.arange(24 * 40)
    start = datetime(2026, 2, 1, tzinfo=UTC)  # a Sunday
    rng = np.random.default_rng(3)
    total = 200 + 80 * np.sin(2 * np.pi * hours / 24) + rng.normal(0, 8, len(hours))
    good = total * (1 - rng.uniform(0.001, 0.003, len(hours)))
    slices = slices_frame([start + timedelta(hours=int(h)) for h in hours], good, total)
    thursday, friday = (datetime(2026, 3, day, 6, 30, tzinfo=UTC) for day in (5, 6))
    monday = datetime(2026, 3, 2, tzinfo=UTC)
    assert model_anchor(thursday) == model_anchor(friday) == monday

    def forecast(as_of, choices):
        windows = pl.DataFrame(
            {
                **dict(contract_id=["acme"], objective_id=["availability"]),
                **dict(window_label=["2026-03"], good=[0.0], total=[0.0], target=[0.99]),
                "window_start": [datetime(2026, 3, 1, tzinfo=UTC)],
                "window_end": [datetime(2026, 3, 10, tzinfo=UTC)],
            },
            schema_overrides={"window_start": UTC_US, "window_end": UTC_US},
        )
        hourly = hourly_history(slices, as_of)
        (made,) = forecast_objectives(hourly, windows, as_of, 50, choices=choices)
        return made

    choices = {}
    on_thursday = forecast(thursday, choices)
    history = hourly_history(slices, thursday).filter(pl.col("hour") < monday)
    anchored_total, anchored_ratio = dense_history(history, monday)
    assert len(anchored_total) == HISTORY_DAYS * 24
    chosen = choose_model(anchored_total)
    assert choices[choice_key(anchored_total)] == chosen
    assert set(choices) == {choice_key(anchored_total), choice_key(anchored_ratio)}
    assert (on_thursday.volume.model, on_thursday.volume.holdout_mae) == (
        chosen.model,
        chosen.holdout_mae,
    )
    # Thursday's own history, run with the parameters chosen on Monday's.
    own_total, _ = dense_history(
        hourly_history(slices, thursday), datetime(2026, 3, 5, 6, tzinfo=UTC)
    )
    expected = fit_series(own_total, choice=chosen)
    assert np.array_equal(on_thursday.volume.point, expected.point(len(on_thursday.step_starts)))

    on_friday = forecast(friday, choices)
    assert len(choices) == 2  # Friday took Thursday's choices
    fresh = forecast(friday, {})
    assert np.array_equal(on_friday.volume.paths, fresh.volume.paths)
    assert np.array_equal(on_friday.bad_ratio.paths, fresh.bad_ratio.paths)

    forecast(datetime(2026, 3, 9, 0, 30, tzinfo=UTC), choices)
    assert len(choices) == 4  # a new week, chosen again


def test_until_a_week_of_anchor_history_is_long_enough_models_are_chosen_at_every_forecast():
    hours = np.arange(24 * 14)
    start = datetime(2026, 2, 25, tzinfo=UTC)
    total = 200 + 80 * np.sin(2 * np.pi * hours / 24)
    slices = slices_frame([start + timedelta(hours=int(h)) for h in hours], 0.99 * total, total)
    as_of = datetime(2026, 3, 10, 0, 30, tzinfo=UTC)  # 12 days of history before its Monday
    hourly = hourly_history(slices, as_of)
    anchored, _ = dense_history(hourly, model_anchor(as_of))
    assert 0 < len(anchored) < ANCHORED_STEPS and choice_key(anchored) is None
    own, _ = dense_history(hourly, as_of.replace(minute=0))
    assert fit_series(own).model == choose_model(own).model
    fitted = _fit(choose_model(own).model, own)
    assert np.array_equal(fit_series(own).point(30), fitted[0](30))


@pytest.mark.parametrize("model", ["seasonal_naive_168", "holt_winters_168"])
def test_a_weeks_model_longer_than_the_history_is_chosen_again_on_it(model):
    """A service back for two days after weeks without evidence: the week's model, chosen on the
    28 days before Monday, needs 336 hours; the 48 it has get their own model instead of an
    error."""
    history = 200 + 80 * np.sin(2 * np.pi * np.arange(48) / 24)
    fitted = fit_series(history, choice=ModelChoice(model, 1.0, (0.2, 0.1)))
    assert fitted.model == choose_model(history).model
    assert HOURLY_MODELS[fitted.model] <= 48


def test_row_quantiles_are_numpys_to_the_last_bit():
    """Rows of every width, scale and kind (ties, NaN, infinities): the same floats as
    np.quantile over the rows, the quantiles of the forecast intervals and the extremes."""
    rng = np.random.default_rng(3)
    for trial in range(400):
        width, steps = int(rng.integers(1, 600)), int(rng.integers(1, 20))
        values = rng.gamma(2.0, size=(steps, width)) * 10 ** rng.uniform(-6, 6)
        if trial % 4 == 1:
            values = np.round(values, 1)
        elif trial % 4 == 2:
            values[rng.random(values.shape) < 0.01] = np.nan
        elif trial % 4 == 3:
            values[:, : width // 3] = -np.inf
        for quantiles in ((0.1, 0.9), (0.0, 0.5, 1.0)):
            with np.errstate(invalid="ignore"):  # inf - inf, in numpy's as in ours
                expected = np.quantile(values, quantiles, axis=1)
                got = row_quantiles(values, quantiles)
            assert np.array_equal(got, expected, equal_nan=True)
