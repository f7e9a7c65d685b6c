"""Hourly forecasts of an objective's volume and bad ratio to the end of its current window.

Slices are summed per UTC hour (the last ``history_days`` days of complete hours before the hour
holding ``as_of``; hours with no slice count as zero volume). Two series per objective:
``volume`` (total events, minutes or slices per hour) and ``bad_ratio`` (bad / total per hour; an
hour with no volume takes the history's overall ratio, since it weighs nothing).

Each series' model is one of HOURLY_MODELS (models.py), chosen once a week (``choose_model``):
on the history before the start of the UTC week (Monday 00:00) holding the first forecast step,
the week's ``anchor``, as soon as that history is long enough for every model to take part in
the holdout (ANCHORED_STEPS); until then on the history itself, at every forecast. Each forecast
then runs the chosen model over its own history with the week's parameters (a Holt-Winters
smoother with fixed smoothing parameters, its states from the latest hours), which costs a sixth
of fitting it. A forecast is therefore a function of the slices of the LOOK_BACK_DAYS before it,
whatever runs came before.

A history shorter than every model needs gets no forecast: its prediction is
INSUFFICIENT_HISTORY.

Forecast steps are the UTC hours from the one holding ``as_of`` to the one holding the window's
end; each step's ``weight`` is the share of the hour inside ``[as_of, window_end)``.
"""

from __future__ import annotations

import hashlib
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl

from pipelines.predict.models import (
    HOURLY_MODELS,
    FittedSeries,
    ModelChoice,
    SeriesForecast,
    choose_model,
    fit_series,
)
from pipelines.sla.objectives import KEYS, UTC_US

HISTORY_DAYS = 28
ANCHOR_DAYS = 7
LOOK_BACK_DAYS = HISTORY_DAYS + ANCHOR_DAYS
"""The days of hourly history a forecast reads: its own HISTORY_DAYS and those before its
week's anchor (at most ANCHOR_DAYS earlier)."""
SIMULATIONS = 500
INTERVAL = (0.1, 0.9)
"""Quantiles of the simulated paths reported as the prediction interval (an 80% interval)."""

HOUR_SECONDS = 3_600
DAY_SECONDS = 86_400

INSUFFICIENT_HISTORY = "insufficient_history"
"""What a prediction is when its history is shorter than every model needs: the method of its
predict.breach_risk row (probabilities and figures null) and the model of its predict.capacity
row."""


ANCHORED_STEPS = max(HOURLY_MODELS.values()) + 24
"""Hours of history before a week's anchor from which the week's models are chosen on it: every
model then takes part in the 24-hour holdout."""

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
    slices: pl.DataFrame, as_of: datetime, history_days: int = LOOK_BACK_DAYS
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
    histories (oldest first), those before its week's anchor (``anchor_total``,
    ``anchor_ratio``: the models are chosen on them) and its forecast steps to ``window_end``
    (forecast_steps)."""

    contract_id: str
    objective_id: str
    window_end: datetime
    step_starts: np.ndarray
    weights: np.ndarray
    total: np.ndarray
    ratio: np.ndarray
    anchor_total: np.ndarray
    anchor_ratio: np.ndarray

    def history_key(self) -> bytes:
        """Equal for two objectives with the same histories, whose fits are then the same."""
        return b"|".join(
            history.tobytes()
            for history in (self.total, self.ratio, self.anchor_total, self.anchor_ratio)
        )

    def choice_keys(self) -> list[str | None]:
        """The choice_key of its two anchor histories."""
        return [choice_key(history) for history in (self.anchor_total, self.anchor_ratio)]


def objective_series(
    hourly: pl.DataFrame, current: pl.DataFrame, as_of: datetime
) -> list[ObjectiveSeries]:
    """The histories and forecast steps of every current window with any history, in
    ``current``'s order. Inputs as for ``forecast_objectives``."""
    as_of = as_of.astimezone(UTC)
    first_step = _hour_floor(as_of)
    anchor = model_anchor(first_step)
    histories = hourly.partition_by(KEYS, as_dict=True, maintain_order=True)
    series = []
    for contract_id, objective_id, window_end in current.select(*KEYS, "window_end").iter_rows():
        history = histories.get((contract_id, objective_id))
        if history is None or history.is_empty():
            continue
        total, ratio = dense_history(history, first_step)
        if not len(total):
            continue
        step_starts, weights = forecast_steps(first_step, as_of, window_end, HOUR_SECONDS)
        series.append(
            ObjectiveSeries(
                contract_id,
                objective_id,
                window_end,
                step_starts,
                weights,
                total,
                ratio,
                *dense_history(history, anchor),
            )
        )
    return series


def model_anchor(first_step: datetime) -> datetime:
    """The start of the UTC week (Monday 00:00) holding ``first_step``: the models of the
    forecasts that week are chosen on the history before it."""
    day = first_step.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return day - timedelta(days=day.weekday())


SeriesFits = dict[bytes, "FittedSeries | None"]
"""Fits already made in a run, keyed by their history's and anchor history's bytes (fit_series
is deterministic)."""

ModelChoices = dict[str, "ModelChoice | None"]
"""Models chosen on anchor histories, keyed by their choice_key (choose_model is
deterministic): kept from forecast to forecast, and from run to run (risk.py)."""


def choice_key(anchored: np.ndarray) -> str | None:
    """The key of the model chosen on an anchor history (a digest of its values), None while it
    is shorter than ANCHORED_STEPS: the model is then chosen on the history itself."""
    if len(anchored) < ANCHORED_STEPS:
        return None
    return hashlib.sha256(anchored.tobytes()).hexdigest()


def forecast_objective(
    series: ObjectiveSeries,
    as_of: datetime,
    simulations: int,
    seed: int,
    fits: SeriesFits,
    choices: ModelChoices,
) -> ObjectiveForecast | None:
    """One objective's volume and bad-ratio forecasts (None when either history is shorter than
    every model needs). Fits are looked up in, or added to, ``fits``, the models chosen on
    anchor histories in ``choices``; the paths come from the objective's own generator
    (objective_rng), volume first, so they do not depend on which other objectives share its
    fits."""
    rng = objective_rng(seed, series.contract_id, series.objective_id)
    steps = len(series.step_starts)
    volume, bad_ratio = (
        fitted.forecast(steps, simulations, rng)
        if (fitted := _fitted(history, anchored, fits, choices)) is not None
        else None
        for history, anchored in (
            (series.total, series.anchor_total),
            (series.ratio, series.anchor_ratio),
        )
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


def _fitted(
    history: np.ndarray, anchored: np.ndarray, fits: SeriesFits, choices: ModelChoices
) -> FittedSeries | None:
    """fit_series of ``history`` with the model chosen on its ``anchored`` history, once that
    is ANCHORED_STEPS long."""
    key = history.tobytes() + b"|" + anchored.tobytes()
    if key not in fits:
        choice = None
        if (anchor := choice_key(anchored)) is not None:
            if anchor not in choices:
                choices[anchor] = choose_model(anchored)
            choice = choices[anchor]
        fits[key] = fit_series(history, choice=choice)
    return fits[key]


def forecast_objectives(
    hourly: pl.DataFrame,
    current: pl.DataFrame,
    as_of: datetime,
    simulations: int = SIMULATIONS,
    seed: int = 0,
    choices: ModelChoices | None = None,
) -> list[ObjectiveForecast]:
    """Volume and bad-ratio forecasts to the end of each current window.

    Inputs: ``hourly`` (HOURLY_SCHEMA, from hourly_history at the same ``as_of``), ``current``
    (current_windows: contract_id, objective_id, window_end). Objectives whose history is
    shorter than every model needs (HOURLY_MODELS) get no forecast. Paths are reproducible:
    each objective's generator is seeded from ``seed`` and its keys. Objectives with the same
    history share its fits; ``choices`` (empty by default) holds the models chosen on anchor
    histories, and gains those chosen here.
    """
    fits: SeriesFits = {}
    choices = {} if choices is None else choices
    forecasts = (
        forecast_objective(series, as_of, simulations, seed, fits, choices)
        for series in objective_series(hourly, current, as_of)
    )
    return [forecast for forecast in forecasts if forecast is not None]


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
    low, high = np.clip(row_quantiles(series.paths, INTERVAL), 0, upper)
    steps = pl.DataFrame(
        {
            "hour": pl.Series((step_starts * 1_000_000).astype(np.int64)).cast(UTC_US),
            "weight": weights,
            "mean": np.clip(series.point, 0, upper),
            "interval_low": low,
            "interval_high": high,
        }
    )
    labels = {
        "contract_id": contract_id,
        "objective_id": objective_id,
        "series": name,
        "model": series.model,
        "holdout_mae": series.holdout_mae,
    }
    return steps.select(
        *(pl.lit(labels[column], FORECASTS_SCHEMA[column]).alias(column) for column in labels),
        pl.all(),
    )


def row_quantiles(values: np.ndarray, quantiles: tuple[float, ...]) -> np.ndarray:
    """``np.quantile(values, quantiles, axis=1)`` (its default 'linear' method) of a 2-D float
    array, the same to the last bit: read off each row sorted once, where numpy selects the
    order statistics of every row anew, 2.5 times as slowly for a forecast's paths."""
    ordered = np.sort(values, axis=1)
    last = ordered.shape[1] - 1
    rows = []
    for quantile in quantiles:
        # numpy's virtual index, neighbours and interpolation (numpy.lib._function_base_impl)
        virtual = np.float64(last) * quantile
        below = min(max(np.floor(virtual), 0), last)
        above = min(below + 1, last)
        gamma = virtual - below
        low, high = ordered[:, int(below)], ordered[:, int(above)]
        step = high - low
        rows.append(high - step * (1 - gamma) if gamma >= 0.5 else low + step * gamma)
    result = np.array(rows)
    result[:, np.isnan(ordered[:, -1])] = np.nan  # NaN sorts last: a row with one gives NaN
    return result


def dense_history(
    history: pl.DataFrame, end: datetime, days: int = HISTORY_DAYS
) -> tuple[np.ndarray, np.ndarray]:
    """Total and bad ratio per hour of the ``days`` before ``end`` in ``history``
    (HOURLY_SCHEMA, one objective), from the first of those hours with a slice to the hour
    before ``end`` (empty without one): total zero where no slice fell, the ratio bad / total,
    or the overall ratio of those hours where total is zero (the hour weighs nothing)."""
    hours = history["hour"].dt.epoch("s").to_numpy() // HOUR_SECONDS
    last = int(end.timestamp()) // HOUR_SECONDS
    inside = (hours >= last - days * 24) & (hours < last)
    if not inside.any():
        return np.zeros(0), np.zeros(0)
    first = hours[inside].min()
    total = np.zeros(last - first)
    bad = np.zeros(last - first)
    total[hours[inside] - first] = history["total"].to_numpy()[inside]
    bad[hours[inside] - first] = history["bad"].to_numpy()[inside]
    overall_ratio = bad.sum() / total.sum() if total.sum() > 0 else 0.0
    return total, np.divide(bad, total, out=np.full_like(bad, overall_ratio), where=total > 0)


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
