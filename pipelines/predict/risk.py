"""Breach risk: the probability that an objective's current window ends below target.

Monte Carlo over the forecast's paths (forecast.py). For path j, with the window's good and bad
so far (G, B, total T = G + B) and per remaining hour k its weight w_k, simulated volume V_kj
(clipped at 0) and bad ratio r_kj:

    remaining total  R_j = Σ_k w_k V_kj
    remaining bad    D_j = Σ_k w_k V_kj r_kj, clipped to [0, R_j] (the ratio's paths are not
                     clipped per hour, so symmetric noise around a small ratio does not bias up)
    final attainment A_j = 1 − (B + D_j) / (T + R_j)

p_breach is the share of paths with A_j < target; expected_attainment the paths' mean,
attainment_low/attainment_high their 10th and 90th percentiles. The window's error budget in path
j is (1 − target) × (T + R_j); the path exhausts it at the first instant its cumulative bad
exceeds it (linear within an hour; ``as_of`` when B alone exceeds it), and
predicted_exhaustion_at is the median over paths (null when fewer than half exhaust it before
the window ends, so it is set exactly when p_breach ≥ 0.5 up to ties).

New incidents. The forecast's paths spread the history's noise evenly (Holt-Winters: normal
errors; the naive and mean models: hours resampled one by one), so an outage or a burst of errors
later in the window is almost never drawn, and a window that has not burned yet gets p_breach 0.
``with_past_deviations`` gives each path, hour by hour, the deviation of a stretch of the
objective's own longer past (PAST_DAYS) from its typical hour (the median hourly bad ratio): path
j adds r_{s_j + k} − median(r) to the bad ratio of its hour k, s_j a uniformly drawn past hour
(circularly, when the past is shorter than the window). Past incidents come back at the rate,
length and size they had; a quiet past adds almost nothing. No constant is fitted: the only
choice is how far back to look.

The baseline ``linear_extrapolation_risk`` extrapolates the burn so far linearly in time: good and
total both scale by window length / elapsed time, so the projected attainment is the attainment
so far, and the budget runs out at window_start + (1 − target) × T × length / B.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime
from functools import partial

import numpy as np
import polars as pl

from pipelines.predict.forecast import (
    FORECASTS_SCHEMA,
    INSUFFICIENT_HISTORY,
    INTERVAL,
    SIMULATIONS,
    ModelChoices,
    ObjectiveForecast,
    ObjectiveSeries,
    SeriesFits,
    dense_history,
    forecast_objective,
    forecasts_frame,
    objective_rng,
    objective_series,
)
from pipelines.predict.kept import KeptPredictions, inputs_digest
from pipelines.predict.models import ModelChoice, fitting
from pipelines.sla.objectives import KEYS, UTC_US
from pipelines.workers import shared_map

BREACH_RISK_SCHEMA = {
    "contract_id": pl.String,
    "objective_id": pl.String,
    "window_label": pl.String,
    "as_of": UTC_US,
    "p_breach": pl.Float64,
    "expected_attainment": pl.Float64,
    "attainment_low": pl.Float64,
    "attainment_high": pl.Float64,
    "predicted_exhaustion_at": UTC_US,
    "target": pl.Float64,
    "window_end": UTC_US,
    "method": pl.String,
    "volume_model": pl.String,
    "volume_holdout_mae": pl.Float64,
    "bad_ratio_model": pl.String,
    "bad_ratio_holdout_mae": pl.Float64,
    "unit": pl.String,
    "expected_measured": pl.Float64,
    "measured_low": pl.Float64,
    "measured_high": pl.Float64,
}
"""expected_attainment, attainment_low and attainment_high are shares (null for objectives judged
on a statistic); ``expected_measured``, ``measured_low`` and ``measured_high`` the same figures in
the objective's ``unit`` as sla.windows.measured (ratio, seconds or points). ``method``:
'forecast' (traffic, this module), 'item_simulation' (items.py), 'insufficient_history' (too
little history for any model: p_breach, the figures and the model columns null),
'measured_so_far' (no model applies: the figure so far is taken as final),
'insufficient_data' (the window has too few items so far to be judged — its status says so — and
its breach risk is unknown: p_breach and predicted_exhaustion_at null; the forecast figures
stay), 'linear_extrapolation' (the backtest baseline).
The model columns name the models behind the prediction (for items: the item-count model and the
per-item outcome model)."""


def breach_risk(
    current: pl.DataFrame, forecasts: list[ObjectiveForecast], as_of: datetime
) -> pl.DataFrame:
    """Breach risk of every current window (module docstring).

    Inputs: ``current`` (forecast.current_windows at ``as_of``: contract_id, objective_id,
    window_label, window_end, good, total, target), ``forecasts`` (forecast_objectives at the
    same ``as_of``). Output: BREACH_RISK_SCHEMA, one row per objective: method 'forecast', or
    INSUFFICIENT_HISTORY (figures null) for a window without a forecast.
    """
    by_key = {(forecast.contract_id, forecast.objective_id): forecast for forecast in forecasts}
    rows = [
        outcome_row(forecast, good, total, target)
        for contract_id, objective_id, good, total, target in current.select(
            *KEYS, "good", "total", "target"
        ).iter_rows()
        if (forecast := by_key.get((contract_id, objective_id))) is not None
    ]
    return _risk_frame(current, rows, as_of)


MIN_OBJECTIVES_PER_WORKER = 32
"""Objectives a worker process must have to be worth its start (a second or two)."""


def traffic_breach_risk(
    hourly: pl.DataFrame,
    current: pl.DataFrame,
    as_of: datetime,
    past: pl.DataFrame | None = None,
    workers: int = 1,
    simulations: int = SIMULATIONS,
    seed: int = 0,
    min_objectives_per_worker: int = MIN_OBJECTIVES_PER_WORKER,
    kept: KeptPredictions | None = None,
    kept_models: KeptPredictions | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``breach_risk`` of ``forecast_objectives`` (with_past_deviations of ``past`` added, when
    given) and their ``forecasts_frame``, equal to those, for a portfolio: objectives with the
    same histories are fitted once (per process), each objective's paths are summed up as soon
    as they are drawn (never all held at once), and the objectives are split over up to
    ``workers`` processes, each with at least ``min_objectives_per_worker`` of them whose
    models are still to be chosen, and each process's over ``workers`` threads. With
    ``kept`` (TRAFFIC_KEPT), an objective whose inputs are those of a kept prediction takes its
    rows, and the others' are kept; with ``kept_models`` (MODELS_KEPT), the week's models chosen
    in a run before are taken (forecast.py), and those chosen now kept.

    Inputs as for forecast_objectives and breach_risk. Output: (BREACH_RISK_SCHEMA rows,
    FORECASTS_SCHEMA rows), both in ``current``'s order.
    """
    figures = {
        (contract_id, objective_id): (good, total, target)
        for contract_id, objective_id, good, total, target in current.select(
            *KEYS, "good", "total", "target"
        ).iter_rows()
    }
    histories = {} if past is None else past.partition_by(KEYS, as_dict=True)
    groups: dict[bytes, list[_Objective]] = {}
    digests: dict[int, str] = {}
    known: list[tuple[int, tuple, pl.DataFrame]] = []
    for index, series in enumerate(objective_series(hourly, current, as_of)):
        keys = (series.contract_id, series.objective_id)
        if kept is not None:
            digests[index] = _inputs_digest(
                series, figures[keys], histories.get(keys), as_of, simulations, seed
            )
            if (rows := kept.get(digests[index])) is not None:
                known.append((index, rows[0].row(0), rows[1]))
                continue
        groups.setdefault(series.history_key(), []).append(
            (index, series, figures[keys], histories.get(keys))
        )
    by_history = [objective for group in groups.values() for objective in group]
    needed = {key for _, series, _, _ in by_history for key in series.choice_keys() if key}
    choices = _kept_choices(kept_models, needed)
    unknown = needed - choices.keys()
    unchosen = sum(
        any(key not in choices for key in series.choice_keys()) for _, series, _, _ in by_history
    )
    chunks = _split(by_history, max(1, min(workers, unchosen // min_objectives_per_worker)))
    predict = partial(
        _predict,
        as_of=as_of,
        simulations=simulations,
        seed=seed,
        choices=choices,
        threads=workers,
    )
    predicted = shared_map(predict, chunks, len(chunks))
    new = [item for chunk, _ in predicted for item in chunk]
    if kept_models is not None:
        for _, chosen in predicted:
            for key in unknown & chosen.keys():
                kept_models.put(_choice_digest(key), _choice_frame(chosen[key]))
    if kept is not None:
        for index, row, frame in new:
            kept.put(
                digests[index], pl.DataFrame([row], schema=_OUTCOME_SCHEMA, orient="row"), frame
            )
    ordered = sorted(known + new, key=lambda item: item[0])
    frames = [frame for _, _, frame in ordered]
    return (
        _risk_frame(current, [row for _, row, _ in ordered], as_of),
        pl.concat(frames) if frames else pl.DataFrame(schema=FORECASTS_SCHEMA),
    )


def _inputs_digest(
    series: ObjectiveSeries,
    figures: tuple[float, float, float],
    past: pl.DataFrame | None,
    as_of: datetime,
    simulations: int,
    seed: int,
) -> str:
    """The kept.inputs_digest of one objective's traffic prediction."""
    return inputs_digest(
        "traffic",
        series.contract_id,
        series.objective_id,
        series.window_end,
        series.step_starts,
        series.weights,
        series.total,
        series.ratio,
        series.anchor_total,
        series.anchor_ratio,
        figures,
        past,
        as_of.astimezone(UTC),
        simulations,
        seed,
    )


_Objective = tuple[int, ObjectiveSeries, tuple[float, float, float], pl.DataFrame | None]
"""An objective to predict: its index in the input, its series, its good, total and target so
far, and its past hours (with_past_deviation)."""


def _split(objectives: list[_Objective], parts: int) -> list[list[_Objective]]:
    """``objectives`` in up to ``parts`` consecutive parts of equal size."""
    size = max(1, math.ceil(len(objectives) / parts))
    return [objectives[start : start + size] for start in range(0, len(objectives), size)]


def _predict(
    objectives: list[_Objective],
    as_of: datetime,
    simulations: int,
    seed: int,
    choices: ModelChoices,
    threads: int = 1,
) -> tuple[list[tuple[int, tuple, pl.DataFrame]], ModelChoices]:
    """(index, outcome_row, forecasts_frame) of every objective (those with the same histories
    next to each other) that gets a forecast (its risk with its past's deviations, the frame
    of the forecast itself, as with_past_deviations), and a copy of ``choices`` with the models
    chosen here added (the given one may be pickled for a worker meanwhile). The objectives are
    split over ``threads`` threads: drawing and summing the paths is NumPy work that releases
    the GIL (choosing a model, in statsmodels, mostly does not: worker processes share that)."""
    choices = dict(choices)
    parts = _split(objectives, threads)
    predict = partial(
        _predict_part, as_of=as_of, simulations=simulations, seed=seed, choices=choices
    )
    with fitting(), ThreadPoolExecutor(len(parts)) as pool:
        predicted = [item for part in pool.map(predict, parts) for item in part]
    return predicted, choices


def _predict_part(
    objectives: list[_Objective],
    as_of: datetime,
    simulations: int,
    seed: int,
    choices: ModelChoices,
) -> list[tuple[int, tuple, pl.DataFrame]]:
    """_predict's rows of ``objectives`` on one thread."""
    fits: SeriesFits = {}
    history = b""
    predicted = []
    for index, series, (good, total, target), past in objectives:
        if series.history_key() != history:
            fits.clear()  # the histories of those before differ from those to come
            history = series.history_key()
        forecast = forecast_objective(series, as_of, simulations, seed, fits, choices)
        if forecast is not None:
            with_past = with_past_deviation(forecast, past, seed)
            predicted.append(
                (index, outcome_row(with_past, good, total, target), forecasts_frame([forecast]))
            )
    return predicted


_CHOICE_SCHEMA = {
    "model": pl.String,
    "holdout_mae": pl.Float64,
    "smoothing_level": pl.Float64,
    "smoothing_seasonal": pl.Float64,
}
MODELS_KEPT = ("models", {"choice": _CHOICE_SCHEMA})
"""The kind and schema of KeptPredictions of the week's models (forecast.ModelChoice), one row
each."""


def _kept_choices(kept_models: KeptPredictions | None, keys: set[str]) -> ModelChoices:
    """The models kept for the choice ``keys`` (forecast.choice_key) that ``kept_models``
    holds."""
    if kept_models is None:
        return {}
    found = {key: kept_models.get(_choice_digest(key)) for key in sorted(keys)}
    return {
        key: ModelChoice(model, mae, None if alpha is None else (alpha, gamma))
        for key, rows in found.items()
        if rows is not None
        for model, mae, alpha, gamma in rows[0].iter_rows()
    }


def _choice_digest(key: str) -> str:
    return inputs_digest("model choice", key)


def _choice_frame(choice: ModelChoice | None) -> pl.DataFrame:
    assert choice is not None, "an anchor history is long enough for every model"
    alpha, gamma = choice.smoothing or (None, None)
    return pl.DataFrame(
        [(choice.model, choice.holdout_mae, alpha, gamma)], schema=_CHOICE_SCHEMA, orient="row"
    )


def outcome_row(forecast: ObjectiveForecast, good: float, total: float, target: float) -> tuple:
    """One window's _OUTCOME_SCHEMA row: keys, objective_outcome and the models behind it."""
    return (
        forecast.contract_id,
        forecast.objective_id,
        *objective_outcome(forecast, good, total, target),
        forecast.volume.model,
        forecast.volume.holdout_mae,
        forecast.bad_ratio.model,
        forecast.bad_ratio.holdout_mae,
    )


def _risk_frame(current: pl.DataFrame, rows: list[tuple], as_of: datetime) -> pl.DataFrame:
    """BREACH_RISK_SCHEMA rows of every window of ``current`` from the _OUTCOME_SCHEMA ``rows``
    of those with a forecast (the others INSUFFICIENT_HISTORY)."""
    outcomes = pl.DataFrame(rows, schema=_OUTCOME_SCHEMA, orient="row")
    return (
        current.select(*KEYS, "window_label", "target", "window_end")
        .join(outcomes, on=KEYS, how="left")
        .with_columns(
            as_of=pl.lit(as_of.astimezone(UTC), UTC_US),
            method=pl.when(pl.col("volume_model").is_null())
            .then(pl.lit(INSUFFICIENT_HISTORY))
            .otherwise(pl.lit("forecast")),
        )
        .with_columns(_ratio_measured())
        .select(list(BREACH_RISK_SCHEMA))
        .cast(BREACH_RISK_SCHEMA)  # type: ignore[arg-type]
    )


PAST_DAYS = 365
"""How far back ``with_past_deviations`` draws past stretches from (a year: every season and
enough incidents to have a rate)."""


def with_past_deviations(
    forecasts: list[ObjectiveForecast], past: pl.DataFrame, seed: int = 0
) -> list[ObjectiveForecast]:
    """``forecasts`` with past stretches' deviations added to their bad-ratio paths (module
    docstring: new incidents).

    Input: ``past`` (forecast.HOURLY_SCHEMA: contract_id, objective_id, hour, total, bad; the
    hours before the hour holding the forecasts' as_of, PAST_DAYS of them, from
    forecast.hourly_history). An objective without past hours keeps its forecast. Draws are
    reproducible from ``seed`` and the objective's keys, independent of the forecast's own.
    """
    histories = past.partition_by(KEYS, as_dict=True, maintain_order=True)
    return [
        with_past_deviation(
            forecast, histories.get((forecast.contract_id, forecast.objective_id)), seed
        )
        for forecast in forecasts
    ]


def with_past_deviation(
    forecast: ObjectiveForecast, history: pl.DataFrame | None, seed: int = 0
) -> ObjectiveForecast:
    """One forecast of ``with_past_deviations``, ``history`` its objective's past hours (none:
    the forecast unchanged)."""
    if history is None or history.is_empty():
        return forecast
    first_step = datetime.fromtimestamp(int(forecast.step_starts[0]), UTC)
    deviation = dense_history(history, first_step, PAST_DAYS)[1]
    deviation -= np.median(deviation)
    steps, simulations = forecast.bad_ratio.paths.shape
    rng = objective_rng(seed, forecast.contract_id, forecast.objective_id).spawn(1)[0]
    starts = rng.integers(0, len(deviation), simulations)
    hours = (starts[None, :] + np.arange(steps)[:, None]) % len(deviation)
    paths = forecast.bad_ratio.paths + deviation[hours]
    return replace(forecast, bad_ratio=replace(forecast.bad_ratio, paths=paths))


_OUTCOME_SCHEMA = {
    name: BREACH_RISK_SCHEMA[name]
    for name in [
        *KEYS,
        "p_breach",
        "expected_attainment",
        "attainment_low",
        "attainment_high",
        "predicted_exhaustion_at",
        "volume_model",
        "volume_holdout_mae",
        "bad_ratio_model",
        "bad_ratio_holdout_mae",
    ]
}
TRAFFIC_KEPT = ("traffic", {"risk": _OUTCOME_SCHEMA, "forecasts": FORECASTS_SCHEMA})
"""The kind and schemas of KeptPredictions of traffic objectives (traffic_breach_risk)."""


def objective_outcome(
    forecast: ObjectiveForecast, good: float, total: float, target: float
) -> tuple[float, float, float, float, datetime | None]:
    """One window's p_breach, expected attainment, its 10th and 90th percentiles and the
    predicted exhaustion time, from its good and total so far and its forecast."""
    weights = forecast.weights[:, None]
    volume = np.clip(forecast.volume.paths, 0.0, None) * weights
    cumulative_total = np.cumsum(volume, axis=0)
    cumulative_bad = np.clip(
        np.cumsum(volume * forecast.bad_ratio.paths, axis=0), 0.0, cumulative_total
    )
    bad_so_far = total - good
    final_total = total + cumulative_total[-1]
    final_bad = bad_so_far + cumulative_bad[-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        attainment = np.where(final_total > 0, 1.0 - final_bad / final_total, np.nan)
    budget = (1.0 - target) * final_total
    exhaustion = _exhaustion_seconds(forecast, bad_so_far, cumulative_bad, budget)
    low, high = np.quantile(attainment, INTERVAL)
    return (
        float(np.mean(attainment < target)),
        float(np.mean(attainment)),
        float(low),
        float(high),
        median_instant(exhaustion),
    )


def median_instant(seconds: np.ndarray) -> datetime | None:
    """The median over paths of an epoch second (inf where the path never reaches it); None
    when fewer than half the paths reach it."""
    median = float(np.median(seconds)) if len(seconds) else np.inf
    return datetime.fromtimestamp(median, UTC) if np.isfinite(median) else None


def _ratio_measured() -> list[pl.Expr]:
    """The measured columns of a share objective: the attainment figures, unit ratio."""
    return [
        pl.lit("ratio").alias("unit"),
        pl.col("expected_attainment").alias("expected_measured"),
        pl.col("attainment_low").alias("measured_low"),
        pl.col("attainment_high").alias("measured_high"),
    ]


def _exhaustion_seconds(
    forecast: ObjectiveForecast,
    bad_so_far: float,
    cumulative_bad: np.ndarray,
    budget: np.ndarray,
) -> np.ndarray:
    """Per path, the epoch second its cumulative bad first exceeds its budget (inf if never)."""
    as_of = forecast.as_of.timestamp()
    segment_starts = np.maximum(forecast.step_starts, as_of)
    segment_seconds = forecast.weights * 3_600
    bad_at = bad_so_far + np.vstack([np.zeros((1, cumulative_bad.shape[1])), cumulative_bad])
    over = bad_at > budget
    crossed = over.any(axis=0)
    first = np.argmax(over, axis=0)
    paths = np.arange(over.shape[1])
    step = np.maximum(first - 1, 0)
    before, after = bad_at[step, paths], bad_at[step + 1, paths]
    with np.errstate(divide="ignore", invalid="ignore"):
        fraction = np.where(after > before, (budget - before) / (after - before), 0.0)
    within = segment_starts[step] + np.clip(fraction, 0.0, 1.0) * segment_seconds[step]
    return np.where(~crossed, np.inf, np.where(first == 0, as_of, within))


def linear_extrapolation_risk(current: pl.DataFrame, as_of: datetime) -> pl.DataFrame:
    """The baseline: the burn so far extrapolated linearly to the window's end.

    Input: ``current`` (forecast.current_windows at ``as_of``: contract_id, objective_id,
    window_label, window_start, window_end, good, total, target). Output: BREACH_RISK_SCHEMA,
    method 'linear_extrapolation': p_breach 1.0 when the projected attainment (the attainment
    so far) is below target else 0.0, expected/low/high all the projected attainment,
    predicted_exhaustion_at the projected crossing when before window_end (null with no bad or
    no data), model columns null.
    """
    length = (pl.col("window_end") - pl.col("window_start")).dt.total_microseconds()
    bad = pl.col("total") - pl.col("good")
    projected = pl.when(pl.col("total") > 0).then(pl.col("good") / pl.col("total"))
    crossing = pl.col("window_start") + pl.duration(
        microseconds=((1 - pl.col("target")) * pl.col("total") * length / bad)
        .round()
        .cast(pl.Int64)
    )
    return (
        current.with_columns(
            as_of=pl.lit(as_of.astimezone(UTC), UTC_US),
            p_breach=(projected < pl.col("target")).cast(pl.Float64),
            expected_attainment=projected,
            attainment_low=projected,
            attainment_high=projected,
            predicted_exhaustion_at=pl.when(bad > 0).then(
                pl.when(crossing < pl.col("window_end")).then(crossing)
            ),
            method=pl.lit("linear_extrapolation"),
        )
        .with_columns(
            pl.lit(None, pl.String).alias(name) for name in ("volume_model", "bad_ratio_model")
        )
        .with_columns(
            pl.lit(None, pl.Float64).alias(name)
            for name in ("volume_holdout_mae", "bad_ratio_holdout_mae")
        )
        .with_columns(_ratio_measured())
        .select(list(BREACH_RISK_SCHEMA))
        .cast(BREACH_RISK_SCHEMA)  # type: ignore[arg-type]
    )


def measured_so_far_risk(windows: pl.DataFrame, as_of: datetime) -> pl.DataFrame:
    """Windows no model covers (no history to forecast from, or a window percentile of
    histogram buckets): the figure measured so far taken as the window's final one.

    Input: sla.windows rows holding ``as_of`` (contract_id, objective_id, window_label,
    window_end, target, attainment, measured, unit, status). Output: BREACH_RISK_SCHEMA, method
    'measured_so_far': p_breach 1.0 when the window is already ``breaching`` else 0.0 (a window
    without data ends ``no_data``, not breached), expected/low/high the attainment and measured
    so far, predicted_exhaustion_at and the model columns null.
    """
    return (
        windows.with_columns(
            as_of=pl.lit(as_of.astimezone(UTC), UTC_US),
            p_breach=(pl.col("status") == "breaching").cast(pl.Float64),
            expected_attainment="attainment",
            attainment_low="attainment",
            attainment_high="attainment",
            predicted_exhaustion_at=pl.lit(None, UTC_US),
            method=pl.lit("measured_so_far"),
            expected_measured="measured",
            measured_low="measured",
            measured_high="measured",
        )
        .with_columns(
            pl.lit(None, pl.String).alias(name) for name in ("volume_model", "bad_ratio_model")
        )
        .with_columns(
            pl.lit(None, pl.Float64).alias(name)
            for name in ("volume_holdout_mae", "bad_ratio_holdout_mae")
        )
        .select(list(BREACH_RISK_SCHEMA))
        .cast(BREACH_RISK_SCHEMA)  # type: ignore[arg-type]
    )


INSUFFICIENT_DATA = "insufficient_data"


def unknown_without_enough_data(risk: pl.DataFrame, windows: pl.DataFrame) -> pl.DataFrame:
    """``risk`` with the breach risk of every window whose status so far is insufficient_data
    made unknown: p_breach and predicted_exhaustion_at null, method INSUFFICIENT_DATA (one
    already unpredicted for too little history keeps INSUFFICIENT_HISTORY, the earlier reason).
    A window that cannot be judged yet gets no probability of breaching, so the risk and the
    status never disagree (a bare 100 % beside "insufficient data").

    Inputs: ``risk`` (BREACH_RISK_SCHEMA), ``windows`` (sla.windows rows holding as_of:
    contract_id, objective_id, window_label, status). Output: BREACH_RISK_SCHEMA, same rows.
    """
    insufficient = windows.filter(pl.col("status") == INSUFFICIENT_DATA).select(
        *KEYS, "window_label", unknown=pl.lit(True)
    )
    unknown = pl.col("unknown").fill_null(False) & (pl.col("method") != INSUFFICIENT_HISTORY)
    return (
        risk.join(insufficient, on=[*KEYS, "window_label"], how="left")
        .with_columns(
            p_breach=pl.when(~unknown).then("p_breach"),
            predicted_exhaustion_at=pl.when(~unknown).then("predicted_exhaustion_at"),
            method=pl.when(unknown).then(pl.lit(INSUFFICIENT_DATA)).otherwise("method"),
        )
        .select(list(BREACH_RISK_SCHEMA))
    )
