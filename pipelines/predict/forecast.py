"""Hourly forecasts of an objective's volume and bad ratio to the end of its current window.

Slices are summed per UTC hour (the last ``history_days`` days of complete hours before the hour
holding ``as_of``; hours with no slice count as zero volume). Two series per objective:
``volume`` (total events, minutes or slices per hour) and ``bad_ratio`` (bad / total per hour; an
hour with no volume takes the history's overall ratio, since it weighs nothing).

Models per series, the one with the lowest mean absolute error (MAE) on a holdout of the last
``min(24, n // 4)`` hours (fitted on the hours before) is refitted on the whole history
(HOURLY_MODELS; ``forecast_series`` takes other tables, e.g. DAILY_MODELS for daily item counts).
Each model needs a number of steps of history, of the training part to take part in the holdout
and of the whole history to be refitted:

- ``mean`` (≥ 24 h: a part of a day is biased by the daily cycle): the history's mean; the
  fallback when the training part is too short for every model or shorter than 8 hours
  (holdout_mae null then). Paths: the mean drawn with its standard error per path, plus
  residuals bootstrapped per hour.
- ``seasonal_naive_24`` (≥ 24 h of training), ``seasonal_naive_168`` (≥ 336 h): the last day or
  week repeated; paths add bootstrapped seasonal differences.
- ``holt_winters_24`` (≥ 48 h), ``holt_winters_168`` (≥ 336 h): additive Holt-Winters (level and
  daily or weekly season, no trend: a trend extrapolated over a month runs away), heuristic
  initialisation (``holt_winters_history`` steps at least); paths from statsmodels' ``simulate``
  (normal errors through the state equations, so the level's uncertainty accumulates with the
  horizon). Weekly seasons of 168 hours hold the daily pattern too.

A history shorter than every model needs gets no forecast: its prediction is
INSUFFICIENT_HISTORY.

Forecast steps are the UTC hours from the one holding ``as_of`` to the one holding the window's
end; each step's ``weight`` is the share of the hour inside ``[as_of, window_end)``.
"""

from __future__ import annotations

import warnings
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
from statsmodels.tools.sm_exceptions import ConvergenceWarning
from statsmodels.tsa.holtwinters import ExponentialSmoothing
from threadpoolctl import ThreadpoolController

from pipelines.sla.objectives import KEYS, UTC_US

HISTORY_DAYS = 28
SIMULATIONS = 500
INTERVAL = (0.1, 0.9)
"""Quantiles of the simulated paths reported as the prediction interval (an 80% interval)."""

HOUR_SECONDS = 3_600
DAY_SECONDS = 86_400
_MIN_HOLDOUT_HISTORY = 8
_BLAS = ThreadpoolController()
"""Holt-Winters fits run BLAS on one thread: the optimiser's vectors are tiny, and BLAS threads
waiting for work there took most of a fit's time on a busy machine (same results)."""

INSUFFICIENT_HISTORY = "insufficient_history"
"""What a prediction is when its history is shorter than every model needs: the method of its
predict.breach_risk row (probabilities and figures null) and the model of its predict.capacity
row."""


def holt_winters_history(period: int) -> int:
    """Steps of history the heuristic initialisation of a seasonal Holt-Winters needs in
    statsmodels: at least 10, two full seasons, and 10 + 2 × (period // 2) (the centred moving
    average loses half a season at each end and leaves 10 to estimate the level from)."""
    return max(10, 2 * period, 10 + 2 * (period // 2))


HOURLY_MODELS = {
    "mean": 24,
    "seasonal_naive_24": 24,
    "holt_winters_24": holt_winters_history(24),
    "seasonal_naive_168": 336,
    "holt_winters_168": holt_winters_history(168),
}
"""Candidate models of hourly series and the steps of history each needs, simplest first (the
first is the fallback; ties go to the first listed)."""

DAILY_MODELS = {"mean": 7, "seasonal_naive_7": 7, "holt_winters_7": holt_winters_history(7)}
"""Candidate models of daily series (weekly season) and the days of history each needs (a week
at least: fewer days are biased by the weekly cycle)."""

HOURLY_SCHEMA = {
    "contract_id": pl.String,
    "objective_id": pl.String,
    "hour": UTC_US,
    "total": pl.Float64,
    "bad": pl.Float64,
}
FORECASTS_SCHEMA = {
    "contract_id": pl.String,
    "objective_id": pl.String,
    "series": pl.String,
    "model": pl.String,
    "holdout_mae": pl.Float64,
    "hour": UTC_US,
    "weight": pl.Float64,
    "mean": pl.Float64,
    "interval_low": pl.Float64,
    "interval_high": pl.Float64,
}


@dataclass(frozen=True)
class SeriesForecast:
    """One series' chosen model, its holdout MAE (None without a holdout), the point forecast
    per step and simulated paths of shape (steps, simulations)."""

    model: str
    holdout_mae: float | None
    point: np.ndarray
    paths: np.ndarray


@dataclass(frozen=True)
class ObjectiveForecast:
    """Forecasts of one objective from ``as_of`` to its window's end: ``step_starts`` (epoch
    seconds of each UTC hour), ``weights`` (share of each hour inside [as_of, window_end))."""

    contract_id: str
    objective_id: str
    as_of: datetime
    window_end: datetime
    step_starts: np.ndarray
    weights: np.ndarray
    volume: SeriesForecast
    bad_ratio: SeriesForecast


def windows_at(windows: pl.DataFrame, as_of: datetime) -> pl.DataFrame:
    """The window holding ``as_of`` (window_start ≤ as_of < window_end) of every objective.

    Input and output: sla.windows rows (contract_id, objective_id, window_label, window_start,
    window_end, good, total, target, ...), one per objective, sorted by objective.
    """
    moment = pl.lit(as_of.astimezone(UTC), UTC_US)
    return windows.filter(pl.col("window_start") <= moment, pl.col("window_end") > moment).sort(
        KEYS
    )


def current_windows(windows: pl.DataFrame, as_of: datetime) -> pl.DataFrame:
    """The window holding ``as_of`` of every ratio objective (``windows_at`` with good and total
    known): sla.windows rows, one per objective."""
    return windows_at(windows, as_of).filter(
        pl.col("good").is_not_null(), pl.col("total").is_not_null()
    )


def hourly_history(
    slices: pl.DataFrame, as_of: datetime, history_days: int = HISTORY_DAYS
) -> pl.DataFrame:
    """Slices summed per UTC hour over the complete hours of the last ``history_days`` days
    before the hour holding ``as_of``.

    Input: sla.slices (contract_id, objective_id, slice_start, good, total). Output:
    HOURLY_SCHEMA (hour = the hour's start; bad = total − good), sorted by objective and hour.
    """
    first_step = _hour_floor(as_of)
    return (
        slices.lazy()
        .filter(
            pl.col("slice_start") >= pl.lit(first_step - timedelta(days=history_days), UTC_US),
            pl.col("slice_start") < pl.lit(first_step, UTC_US),
        )
        .group_by(*KEYS, hour=pl.col("slice_start").dt.truncate("1h"))
        .agg(total=pl.col("total").sum(), bad=(pl.col("total") - pl.col("good")).sum())
        .sort([*KEYS, "hour"])
        .collect()
        .cast(HOURLY_SCHEMA)  # type: ignore[arg-type]
    )


def objective_rng(seed: int, contract_id: str, objective_id: str) -> np.random.Generator:
    """A generator for one objective's simulations: reproducible from ``seed`` and the keys, and
    independent of the other objectives (adding one changes no other's paths)."""
    return np.random.default_rng([seed, zlib.crc32(f"{contract_id}\0{objective_id}".encode())])


@dataclass(frozen=True)
class ObjectiveSeries:
    """What one objective's forecast is made from: its dense hourly ``total`` and ``ratio``
    histories (oldest first) and its forecast steps to ``window_end`` (forecast_steps)."""

    contract_id: str
    objective_id: str
    window_end: datetime
    step_starts: np.ndarray
    weights: np.ndarray
    total: np.ndarray
    ratio: np.ndarray

    def history_key(self) -> bytes:
        """Equal for two objectives with the same histories, whose fits are then the same."""
        return self.total.tobytes() + b"|" + self.ratio.tobytes()


def objective_series(
    hourly: pl.DataFrame, current: pl.DataFrame, as_of: datetime
) -> list[ObjectiveSeries]:
    """The histories and forecast steps of every current window with any history, in
    ``current``'s order. Inputs as for ``forecast_objectives``."""
    as_of = as_of.astimezone(UTC)
    first_step = _hour_floor(as_of)
    histories = hourly.partition_by(KEYS, as_dict=True, maintain_order=True)
    series = []
    for contract_id, objective_id, window_end in current.select(*KEYS, "window_end").iter_rows():
        history = histories.get((contract_id, objective_id))
        if history is None or history.is_empty():
            continue
        step_starts, weights = forecast_steps(first_step, as_of, window_end, HOUR_SECONDS)
        total, bad = _dense_history(history, first_step)
        overall_ratio = bad.sum() / total.sum() if total.sum() > 0 else 0.0
        ratio = np.divide(bad, total, out=np.full_like(bad, overall_ratio), where=total > 0)
        series.append(
            ObjectiveSeries(
                contract_id, objective_id, window_end, step_starts, weights, total, ratio
            )
        )
    return series


SeriesFits = dict[bytes, "FittedSeries | None"]
"""Fits already made in a run, keyed by their history's bytes (fit_series is deterministic)."""


def forecast_objective(
    series: ObjectiveSeries,
    as_of: datetime,
    simulations: int,
    seed: int,
    fits: SeriesFits,
) -> ObjectiveForecast | None:
    """One objective's volume and bad-ratio forecasts (None when either history is shorter than
    every model needs). Fits are looked up in, or added to, ``fits``; the paths come from the
    objective's own generator (objective_rng), volume first, so they do not depend on which
    other objectives share its fits."""
    rng = objective_rng(seed, series.contract_id, series.objective_id)
    steps = len(series.step_starts)
    volume, bad_ratio = (
        fitted.forecast(steps, simulations, rng)
        if (fitted := _fitted(history, fits)) is not None
        else None
        for history in (series.total, series.ratio)
    )
    if volume is None or bad_ratio is None:
        return None
    return ObjectiveForecast(
        contract_id=series.contract_id,
        objective_id=series.objective_id,
        as_of=as_of.astimezone(UTC),
        window_end=series.window_end,
        step_starts=series.step_starts,
        weights=series.weights,
        volume=volume,
        bad_ratio=bad_ratio,
    )


def _fitted(history: np.ndarray, fits: SeriesFits) -> FittedSeries | None:
    key = history.tobytes()
    if key not in fits:
        fits[key] = fit_series(history)
    return fits[key]


def forecast_objectives(
    hourly: pl.DataFrame,
    current: pl.DataFrame,
    as_of: datetime,
    simulations: int = SIMULATIONS,
    seed: int = 0,
) -> list[ObjectiveForecast]:
    """Volume and bad-ratio forecasts to the end of each current window.

    Inputs: ``hourly`` (HOURLY_SCHEMA, from hourly_history at the same ``as_of``), ``current``
    (current_windows: contract_id, objective_id, window_end). Objectives whose history is
    shorter than every model needs (HOURLY_MODELS) get no forecast. Paths are reproducible:
    each objective's generator is seeded from ``seed`` and its keys. Objectives with the same
    history share its fits.
    """
    fits: SeriesFits = {}
    forecasts = (
        forecast_objective(series, as_of, simulations, seed, fits)
        for series in objective_series(hourly, current, as_of)
    )
    return [forecast for forecast in forecasts if forecast is not None]


@dataclass(frozen=True)
class FittedSeries:
    """A series' chosen model (fit_series): its name, holdout MAE (None without a holdout),
    point forecast and path simulator."""

    model: str
    holdout_mae: float | None
    point: PointForecast
    simulate: PathSimulator

    def forecast(self, steps: int, simulations: int, rng: np.random.Generator) -> SeriesForecast:
        return SeriesForecast(
            self.model, self.holdout_mae, self.point(steps), self.simulate(steps, simulations, rng)
        )


def fit_series(
    history: np.ndarray, models: dict[str, int] = HOURLY_MODELS, holdout_steps: int = 24
) -> FittedSeries | None:
    """The best of ``models`` (name → steps of history needed; see the module docstring) for a
    ``history`` (oldest first), chosen by MAE on a holdout of the last ``min(holdout_steps,
    n // 4)`` steps, refitted on all of it. Without a holdout (a history under 8 steps, or a
    training part too short for every model) the first of ``models``; None when the history
    is shorter than every model needs (INSUFFICIENT_HISTORY)."""
    if len(history) < min(models.values()):
        return None
    errors: dict[str, float] = {}
    if len(history) >= _MIN_HOLDOUT_HISTORY:
        holdout = min(holdout_steps, len(history) // 4)
        train, test = history[:-holdout], history[-holdout:]
        errors = {
            name: float(np.mean(np.abs(_fit(name, train)[0](holdout) - test)))
            for name, minimum in models.items()
            if len(train) >= minimum
        }
    model = min(errors, key=errors.__getitem__) if errors else next(iter(models))
    return FittedSeries(model, errors.get(model), *_fit(model, history))


def forecast_series(
    history: np.ndarray,
    steps: int,
    simulations: int,
    rng: np.random.Generator,
    models: dict[str, int] = HOURLY_MODELS,
    holdout_steps: int = 24,
) -> SeriesForecast | None:
    """fit_series of ``history``: ``steps`` point forecasts and ``simulations`` paths drawn
    with ``rng``; None when the history is shorter than every model needs."""
    fitted = fit_series(history, models, holdout_steps)
    return fitted.forecast(steps, simulations, rng) if fitted is not None else None


def forecasts_frame(forecasts: list[ObjectiveForecast]) -> pl.DataFrame:
    """The forecasts as rows: FORECASTS_SCHEMA, one row per objective, series ('volume',
    'bad_ratio') and hour (``series_frame``; volume clipped at 0, bad ratio to [0, 1])."""
    frames = [
        series_frame(
            forecast.contract_id,
            forecast.objective_id,
            name,
            series,
            forecast.step_starts,
            forecast.weights,
            upper,
        )
        for forecast in forecasts
        for name, series, upper in (
            ("volume", forecast.volume, None),
            ("bad_ratio", forecast.bad_ratio, 1.0),
        )
    ]
    if not frames:
        return pl.DataFrame(schema=FORECASTS_SCHEMA)
    return pl.concat(frames)


def series_frame(
    contract_id: str,
    objective_id: str,
    name: str,
    series: SeriesForecast,
    step_starts: np.ndarray,
    weights: np.ndarray,
    upper: float | None,
) -> pl.DataFrame:
    """One series' forecast as FORECASTS_SCHEMA rows, one per step (``hour`` = the step's start
    from ``step_starts`` in epoch seconds): ``mean`` the point forecast and ``interval_low``/
    ``interval_high`` the INTERVAL quantiles of the paths, clipped to [0, upper]."""
    return (
        pl.DataFrame(
            {
                "contract_id": contract_id,
                "objective_id": objective_id,
                "series": name,
                "model": series.model,
                "holdout_mae": series.holdout_mae,
                "hour": step_starts * 1_000_000,
                "weight": weights,
                "mean": np.clip(series.point, 0, upper),
                "interval_low": np.clip(np.quantile(series.paths, INTERVAL[0], axis=1), 0, upper),
                "interval_high": np.clip(np.quantile(series.paths, INTERVAL[1], axis=1), 0, upper),
            },
            schema_overrides={"hour": pl.Int64, "holdout_mae": pl.Float64},
        )
        .with_columns(pl.col("hour").cast(UTC_US))
        .cast(FORECASTS_SCHEMA)  # type: ignore[arg-type]
    )


PointForecast = Callable[[int], np.ndarray]
PathSimulator = Callable[[int, int, np.random.Generator], np.ndarray]


def _fit(model: str, history: np.ndarray) -> tuple[PointForecast, PathSimulator]:
    """A model fitted to ``history``: its point forecast and path simulator."""
    if model == "mean":
        mean = float(history.mean())
        residuals = history - mean
        standard_error = float(history.std()) / np.sqrt(len(history))

        def mean_paths(steps: int, simulations: int, rng: np.random.Generator) -> np.ndarray:
            level = mean + rng.normal(0.0, standard_error, simulations)
            return level + rng.choice(residuals, (steps, simulations))

        return (lambda steps: np.full(steps, mean)), mean_paths
    period = int(model.rsplit("_", 1)[1])
    if model.startswith("seasonal_naive"):
        season = history[-period:]
        differences = history[period:] - history[:-period]

        def naive_point(steps: int) -> np.ndarray:
            return np.resize(season, steps)

        def naive_paths(steps: int, simulations: int, rng: np.random.Generator) -> np.ndarray:
            return naive_point(steps)[:, None] + rng.choice(differences, (steps, simulations))

        return naive_point, naive_paths
    with _expected_warnings_ignored(), _BLAS.limit(limits=1, user_api="blas"):
        fitted = ExponentialSmoothing(
            history, seasonal="add", seasonal_periods=period, initialization_method="heuristic"
        ).fit()

    def holt_winters_point(steps: int) -> np.ndarray:
        with _expected_warnings_ignored():
            return np.asarray(fitted.forecast(steps))

    def holt_winters_paths(steps: int, simulations: int, rng: np.random.Generator) -> np.ndarray:
        with _expected_warnings_ignored():
            paths = fitted.simulate(steps, repetitions=simulations, error="add", rng=rng)
        return np.asarray(paths).reshape(steps, simulations)

    return holt_winters_point, holt_winters_paths


@contextmanager
def _expected_warnings_ignored() -> Iterator[None]:
    """Holt-Winters warnings that say nothing about the forecast: the log of a zero error sum
    in its information criteria (a series fitted exactly, e.g. all zeros; statsmodels recomputes
    them on every forecast) and the optimiser's convergence notes (the holdout judges the fit)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "divide by zero encountered in log", RuntimeWarning)
        warnings.filterwarnings("ignore", category=ConvergenceWarning)
        yield


def _dense_history(history: pl.DataFrame, first_step: datetime) -> tuple[np.ndarray, np.ndarray]:
    """Total and bad per hour from the objective's first history hour to the hour before
    ``first_step``, zero where no slice fell."""
    hours = history["hour"].dt.epoch("s").to_numpy() // HOUR_SECONDS
    end = int(first_step.timestamp()) // HOUR_SECONDS
    total = np.zeros(end - hours.min())
    bad = np.zeros(end - hours.min())
    total[hours - hours.min()] = history["total"].to_numpy()
    bad[hours - hours.min()] = history["bad"].to_numpy()
    return total, bad


def forecast_steps(
    first_step: datetime, as_of: datetime, window_end: datetime, step_seconds: int
) -> tuple[np.ndarray, np.ndarray]:
    """Epoch seconds of the forecast steps of ``step_seconds`` from ``first_step`` (the step
    holding ``as_of``) to the one holding ``window_end``, and each one's share inside
    [as_of, window_end)."""
    start, begin, end = (int(t.timestamp()) for t in (first_step, as_of, window_end))
    step_starts = np.arange(start, end, step_seconds, dtype=np.int64)
    inside = np.minimum(step_starts + step_seconds, end) - np.maximum(step_starts, begin)
    return step_starts, inside / step_seconds


def _hour_floor(moment: datetime) -> datetime:
    moment = moment.astimezone(UTC)
    return moment.replace(minute=0, second=0, microsecond=0)
