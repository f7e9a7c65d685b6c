"""The models of a series forecast (hourly volume and bad ratio, daily item counts): the
candidates, the choice among them by holdout error, their point forecasts and paths.

Models per series, the one with the lowest mean absolute error (MAE) on a holdout of the last
``min(24, n // 4)`` steps (fitted on the steps before) is refitted on the whole history
(``choose_model``; HOURLY_MODELS, or other tables, e.g. DAILY_MODELS for daily item counts).
Each model needs a number of steps of history, of the training part to take part in the holdout
and of the whole history to be refitted; ``fit_series`` runs a chosen model over a history:

- ``mean`` (≥ 24 h: a part of a day is biased by the daily cycle): the history's mean; the
  fallback when the training part is too short for every model or shorter than 8 hours
  (holdout_mae null then). Paths: the mean drawn with its standard error per path, plus
  residuals bootstrapped per hour.
- ``seasonal_naive_24`` (≥ 24 h of training), ``seasonal_naive_168`` (≥ 336 h): the last day or
  week repeated; paths add bootstrapped seasonal differences.
- ``holt_winters_24`` (≥ 48 h), ``holt_winters_168`` (≥ 336 h): additive Holt-Winters (level and
  daily or weekly season, no trend: a trend extrapolated over a month runs away), heuristic
  initialisation (``holt_winters_history`` steps at least), smoothing parameters fitted by
  statsmodels (or given: the smoother alone); point forecast and paths those of statsmodels'
  ``forecast`` and ``simulate`` (normal errors through the state equations, so the level's
  uncertainty accumulates with the horizon), computed from the fit's states
  (``_holt_winters``). Weekly seasons of 168 hours hold the daily pattern too.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
from statsmodels.tools.sm_exceptions import ConvergenceWarning
from statsmodels.tsa.holtwinters import ExponentialSmoothing
from threadpoolctl import ThreadpoolController

_MIN_HOLDOUT_HISTORY = 8


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


@dataclass(frozen=True)
class SeriesForecast:
    """One series' chosen model, its holdout MAE (None without a holdout), the point forecast
    per step and simulated paths of shape (steps, simulations)."""

    model: str
    holdout_mae: float | None
    point: np.ndarray
    paths: np.ndarray


@dataclass(frozen=True)
class ModelChoice:
    """A series' model chosen by choose_model: its name, its holdout MAE (None without a
    holdout) and, for a Holt-Winters model, its smoothing parameters (alpha, gamma) fitted on
    the whole history."""

    model: str
    holdout_mae: float | None
    smoothing: tuple[float, float] | None = None


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


def choose_model(
    history: np.ndarray, models: dict[str, int] = HOURLY_MODELS, holdout_steps: int = 24
) -> ModelChoice | None:
    """The best of ``models`` (name → steps of history needed; see the module docstring) for a
    ``history`` (oldest first), chosen by MAE on a holdout of the last ``min(holdout_steps,
    n // 4)`` steps, its parameters refitted on all of it. Without a holdout (a history under
    8 steps, or a training part too short for every model) the first of ``models``; None when
    the history is shorter than every model needs (INSUFFICIENT_HISTORY)."""
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
    smoothing = _smoothing(model, history) if model.startswith("holt_winters") else None
    return ModelChoice(model, errors.get(model), smoothing)


def fit_series(
    history: np.ndarray,
    models: dict[str, int] = HOURLY_MODELS,
    holdout_steps: int = 24,
    choice: ModelChoice | None = None,
) -> FittedSeries | None:
    """``choice`` (by default choose_model of ``history``) run over ``history``: its point
    forecast and path simulator from the states the history ends with; None when the history is
    shorter than every model needs. A ``choice`` whose model needs more history than there is
    (a series back after weeks without evidence, chosen on the weeks before) is made again on
    ``history``."""
    if choice is None or len(history) < models.get(choice.model, len(history) + 1):
        choice = choose_model(history, models, holdout_steps)
    if choice is None:
        return None
    return FittedSeries(
        choice.model, choice.holdout_mae, *_fit(choice.model, history, choice.smoothing)
    )


PointForecast = Callable[[int], np.ndarray]
PathSimulator = Callable[[int, int, np.random.Generator], np.ndarray]


def _fit(
    model: str, history: np.ndarray, smoothing: tuple[float, float] | None = None
) -> tuple[PointForecast, PathSimulator]:
    """A model fitted to ``history`` (a Holt-Winters one with the ``smoothing`` parameters
    alpha and gamma when given, else optimised): its point forecast and path simulator."""
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
    fitted = _holt_winters_fit(history, period, smoothing)
    return _holt_winters(
        float(fitted.level[-1]),
        fitted.season,
        float(fitted.params["smoothing_level"]),
        float(fitted.params["smoothing_seasonal"]),
        float(np.sqrt(np.sum(fitted.resid**2) / (len(history) - (period + 3)))),
        period,
    )


def _smoothing(model: str, history: np.ndarray) -> tuple[float, float]:
    """The smoothing parameters (alpha, gamma) of Holt-Winters ``model`` fitted to ``history``."""
    params = _holt_winters_fit(history, int(model.rsplit("_", 1)[1])).params
    return float(params["smoothing_level"]), float(params["smoothing_seasonal"])


def _holt_winters_fit(
    history: np.ndarray, period: int, smoothing: tuple[float, float] | None = None
) -> Any:
    """statsmodels' additive Holt-Winters without trend, heuristic initialisation, fitted to
    ``history``: with the ``smoothing`` parameters (alpha, gamma) when given (the smoother
    alone), else optimised."""
    fixed = {}
    if smoothing is not None:
        fixed = {"smoothing_level": smoothing[0], "smoothing_seasonal": smoothing[1]}
    with fitting():
        return ExponentialSmoothing(
            history, seasonal="add", seasonal_periods=period, initialization_method="heuristic"
        ).fit(optimized=smoothing is None, **fixed)


def _holt_winters(
    level: float, season: np.ndarray, alpha: float, gamma: float, sigma: float, period: int
) -> tuple[PointForecast, PathSimulator]:
    """The point forecast and paths of an additive Holt-Winters fit without trend, from its last
    ``level``, the seasonal state of every history step (``season``), its smoothing parameters
    and its residuals' standard deviation ``sigma`` (over n − (period + 3) degrees of freedom):
    bit for bit statsmodels' ``forecast`` and ``simulate(error="add")``, without re-running the
    smoother over the history or a loop over the steps.

    Point forecast of step k (from 0): the level plus ``season[-period - 1:-1]`` at
    (k + 1) mod period (statsmodels repeats the season before its last update). Paths: normal
    errors e_t (sigma), y_t = l_{t-1} + s_{t-period} + e_t, l_t = l_{t-1} + alpha e_t and
    s_t = s_{t-period} + gamma e_t from the last level and ``season[-period:]``; both states
    are cumulative sums (the season's per phase), the additions of statsmodels' loop in its
    order."""
    cycle = season[-period - 1 : -1]

    def holt_winters_point(steps: int) -> np.ndarray:
        return level + cycle[(np.arange(steps) + 1) % period]

    def holt_winters_paths(steps: int, simulations: int, rng: np.random.Generator) -> np.ndarray:
        errors = rng.standard_normal((steps, simulations)) * sigma
        levels = np.cumsum(np.vstack([np.full((1, simulations), level), alpha * errors]), axis=0)
        cycles = -(-steps // period)
        seasons = np.zeros(((cycles + 1) * period, simulations))
        seasons[:period] = season[-period:, None]
        seasons[period : period + steps] = gamma * errors
        seasons = np.cumsum(seasons.reshape(cycles + 1, period, simulations), axis=0)
        return levels[:-1] + seasons.reshape(-1, simulations)[:steps] + errors

    return holt_winters_point, holt_winters_paths


_BLAS = ThreadpoolController()


@contextmanager
def fitting() -> Iterator[None]:
    """The context a Holt-Winters fit runs in: the BLAS libraries loaded (numpy's and scipy's)
    on one thread, and the expected warnings ignored (_expected_warnings_ignored). Its
    optimiser (L-BFGS-B) makes thousands of BLAS calls on vectors of two, and waking a second
    thread for each made a fit three times slower and kept the other core busy (same results).
    Both are the process's state, not a thread's: threads that fit must run inside a fitting()
    entered before them, so that each one's own entering and leaving keeps that state."""
    with _expected_warnings_ignored(), _BLAS.limit(limits=1, user_api="blas"):
        yield


@contextmanager
def _expected_warnings_ignored() -> Iterator[None]:
    """Holt-Winters warnings that say nothing about the forecast: the log of a zero error sum
    in its information criteria (a series fitted exactly, e.g. all zeros) and the optimiser's
    convergence notes (the holdout judges the fit)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "divide by zero encountered in log", RuntimeWarning)
        warnings.filterwarnings("ignore", category=ConvergenceWarning)
        yield
