"""Forecasts and breach risk of objectives judged on items: tickets (resolution, response, first
contact), security incidents, restore tests (RTO), backups (RPO) and survey responses.

Monte Carlo: every path simulates the items still to come in the current window, adds them to
the window's items so far, and computes the window's final figure with the SLA engine's own
aggregation (that of ``sla.outcomes.outcome_windows`` at the window's end, in ``item_paths``), so
the simulated value is exactly what the engine will compute: share within target, mean, median, pNN,
max, CSAT or NPS with its interval and ``judge``, and ``insufficient_data`` below
``min_responses``.

Items to come (every kind but RPO):

- how many: the daily count of items (by ``counted_at``, per UTC day) over the complete days of
  the last ITEM_HISTORY_DAYS days, forecast to the window's end with ``models.fit_series``
  and DAILY_MODELS (mean, weekly seasonal naive, Holt-Winters with a weekly season; the best by
  holdout MAE on the last ``min(7, n // 4)`` days; the mean alone while the days before the
  holdout are fewer than a week). A path's count is its weighted sum over the remaining days
  (weights: each day's share inside [as_of, window_end)), clipped at 0 and rounded
  stochastically to an integer.
- when: spread over the remaining days in proportion to the point forecast (uniform within a day).
- what: each item's (value, good) drawn with replacement from the objective's items of the last
  ITEM_HISTORY_DAYS days (all its items when none is that recent).

RPO: the window's figure is the largest exposure, which grows with the time since the last good
backup. The open exposure span (from the last good backup, ``as_of − last`` long so far) lasts,
per path, a gap drawn from the closed spans of the last ITEM_HISTORY_DAYS days that are longer than
it already is (the residual life), or, when none is, what it lasted so far plus a drawn gap; the
spans after it are drawn gaps until the window's end. Gaps between good backups already carry the
backup success rate (a failed run lengthens the gap). With no closed span the open one lasts to the
window's end.

Too little history: an objective whose items (RPO: good backups) span fewer than
MIN_HISTORY_DAYS complete days before the day holding ``as_of`` (counted from the later of
ITEM_HISTORY_DAYS days back and its first item's day), or that has none, is not simulated: its
prediction is INSUFFICIENT_HISTORY.

Per window, over the paths (``simulations``): p_breach = share of paths whose final status is
``breached`` (a path ending ``no_data`` or ``insufficient_data`` is not a breach);
expected_measured the mean of the final ``measured`` (NaN-free paths), measured_low/high its
INTERVAL quantiles; for share objectives (judged_on share: share_within, CSAT) the same figures
are the attainment columns, null otherwise. predicted_exhaustion_at (median over paths, null when
fewer than half get there, as in ``risk``): for share objectives the instant the bad items exceed
the path's error budget (1 − target) × final items; for RPO the instant an exposure span passes
the target; null for means, medians, percentiles and NPS, which have no budget that runs out.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import lru_cache, partial

import numpy as np
import polars as pl

from pipelines.predict.forecast import (
    DAY_SECONDS,
    FORECASTS_SCHEMA,
    INSUFFICIENT_HISTORY,
    INTERVAL,
    forecast_steps,
    objective_rng,
    series_frame,
)
from pipelines.predict.item_paths import (
    FINAL_WINDOWS_SCHEMA,
    SIMULATED_SCHEMA,
    ItemForecast,
    final_windows,
)
from pipelines.predict.kept import Kept, KeptPredictions, inputs_digest
from pipelines.predict.models import DAILY_MODELS, FittedSeries, SeriesForecast, fit_series
from pipelines.predict.risk import BREACH_RISK_SCHEMA, median_instant
from pipelines.sla.objectives import KEYS, UTC_US, utc_literal
from pipelines.sla.outcomes import OUTCOMES_SCHEMA
from pipelines.workers import shared_batches

ITEM_HISTORY_DAYS = 28
ITEM_SIMULATIONS = 200
"""Paths per window: fewer than the traffic forecast's, since every path re-aggregates all the
window's items (p_breach to within ±0.07 at 0.5, 95%)."""
ITEM_ROWS_PER_OBJECTIVE = 1_000_000
"""At most about this many simulated items (paths × items in the window) per objective: windows
of very many items (latency samples) get fewer paths, down to MIN_ITEM_SIMULATIONS; their final
figure varies little from path to path anyway."""
MIN_ITEM_SIMULATIONS = 20
MIN_HISTORY_DAYS = min(DAILY_MODELS.values())
"""Complete days of item history an objective needs to be simulated: what the simplest model of
its daily item count needs (RPO objectives, whose gaps are drawn instead, need as many)."""
_HOLDOUT_DAYS = 7
ITEMS_KEPT = ("items", {"risk": BREACH_RISK_SCHEMA, "forecasts": FORECASTS_SCHEMA})
"""The kind and schemas of KeptPredictions of item-judged objectives (item_predictions)."""


def forecast_items(
    objectives: pl.DataFrame,
    current: pl.DataFrame,
    outcomes: pl.DataFrame,
    as_of: datetime,
    simulations: int = ITEM_SIMULATIONS,
    seed: int = 0,
) -> list[ItemForecast]:
    """The items to come of each current window (module docstring).

    Inputs: ``objectives`` (sla.objectives rows, OBJECTIVES_SCHEMA, of the item-judged
    objectives), ``current`` (their sla.windows rows holding ``as_of``: contract_id,
    objective_id, window_label, window_end, total), ``outcomes`` (sla.outcomes,
    OUTCOMES_SCHEMA). ``simulations`` paths per window (fewer for very large windows: see
    ITEM_ROWS_PER_OBJECTIVE). Reproducible: each objective's generator is seeded from ``seed``
    and its keys.
    """
    as_of = as_of.astimezone(UTC)
    measures = {
        (contract_id, objective_id): measure
        for contract_id, objective_id, measure in objectives.select(
            *KEYS, pl.col("measure").fill_null("")
        ).iter_rows()
    }
    histories = outcomes.filter(pl.col("counted_at") <= utc_literal(as_of)).partition_by(
        KEYS, as_dict=True, maintain_order=True
    )
    empty = pl.DataFrame(schema=OUTCOMES_SCHEMA)
    forecasts = []
    day = as_of.replace(hour=0, minute=0, second=0, microsecond=0)
    for contract_id, objective_id, label, window_end, so_far in current.select(
        *KEYS, "window_label", "window_end", "total"
    ).iter_rows():
        measure = measures.get((contract_id, objective_id))
        if measure is None:
            continue
        history = histories.get((contract_id, objective_id), empty).sort("counted_at")
        first, days = _history_days(history, day)
        if days < MIN_HISTORY_DAYS:
            continue
        rng = objective_rng(seed, contract_id, objective_id)
        step_starts, weights = forecast_steps(day, as_of, window_end, DAY_SECONDS)
        recent = _recent(history, as_of)
        to_come = recent.height / ITEM_HISTORY_DAYS * weights.sum()
        paths = int(
            np.clip(
                ITEM_ROWS_PER_OBJECTIVE // max((so_far or 0.0) + to_come, 1.0),
                MIN_ITEM_SIMULATIONS,
                simulations,
            )
        )
        if measure == "rpo":
            arrivals, model = None, "backup_gap_bootstrap"
            items = _exposure_spans(history, as_of, window_end, paths, rng)
        else:
            arrivals = _arrivals(history, first, day, len(step_starts), paths, rng)
            model = "outcome_bootstrap"
            items = _items_to_come(recent, as_of, step_starts, weights, arrivals, rng)
        forecasts.append(
            ItemForecast(
                contract_id,
                objective_id,
                label,
                paths,
                step_starts,
                weights,
                arrivals,
                model,
                items.with_columns(
                    contract_id=pl.lit(contract_id), objective_id=pl.lit(objective_id)
                ).select(list(SIMULATED_SCHEMA)),
            )
        )
    return forecasts


def _history_days(history: pl.DataFrame, day: datetime) -> tuple[datetime, int]:
    """The first day of an objective's item history (``history`` sorted by counted_at): the
    later of ITEM_HISTORY_DAYS days before ``day`` and its first item's day; and the complete
    days from it to ``day`` (0 without items)."""
    if history.is_empty():
        return day, 0
    first_item: datetime = history["counted_at"][0]
    first = max(
        day - timedelta(days=ITEM_HISTORY_DAYS),
        first_item.replace(hour=0, minute=0, second=0, microsecond=0),
    )
    return first, max((day - first).days, 0)


def _arrivals(
    history: pl.DataFrame,
    first: datetime,
    day: datetime,
    steps: int,
    simulations: int,
    rng: np.random.Generator,
) -> SeriesForecast | None:
    """The daily item-count forecast from the complete days from ``first`` to ``day``."""
    counted = history.filter(
        pl.col("counted_at") >= utc_literal(first), pl.col("counted_at") < utc_literal(day)
    )
    offsets = (counted["counted_at"].dt.epoch("s").to_numpy() - first.timestamp()) // DAY_SECONDS
    counts = np.bincount(offsets.astype(np.int64), minlength=(day - first).days).astype(np.float64)
    fitted = _daily_count_model(counts.tobytes())
    return fitted.forecast(steps, simulations, rng) if fitted is not None else None


@lru_cache(maxsize=4096)
def _daily_count_model(counts: bytes) -> FittedSeries | None:
    """fit_series of the daily item counts ``counts`` (float64 bytes), once per process:
    objectives with the same counts (of the same tickets, say) share the fit."""
    return fit_series(np.frombuffer(counts), DAILY_MODELS, _HOLDOUT_DAYS)


def _recent(history: pl.DataFrame, as_of: datetime) -> pl.DataFrame:
    """The items of the last ITEM_HISTORY_DAYS days, or all of them when none is that recent."""
    since = utc_literal(as_of - timedelta(days=ITEM_HISTORY_DAYS))
    recent = history.filter(pl.col("counted_at") >= since)
    return recent if recent.height else history


def _items_to_come(
    pool: pl.DataFrame,
    as_of: datetime,
    step_starts: np.ndarray,
    weights: np.ndarray,
    arrivals: SeriesForecast | None,
    rng: np.random.Generator,
) -> pl.DataFrame:
    """Simulated items of every path (SIMULATED_SCHEMA, keys null), outcomes drawn from
    ``pool`` (the recent items)."""
    if arrivals is None or pool.is_empty():
        return _simulated(np.array([]), np.array([]), pl.Series([], dtype=pl.Boolean), [])
    expected = np.clip((arrivals.paths * weights[:, None]).sum(axis=0), 0.0, None)
    counts = np.floor(expected + rng.random(expected.shape)).astype(np.int64)
    simulation = np.repeat(np.arange(len(counts)), counts)
    share = np.clip(arrivals.point, 0.0, None) * weights
    share = share / share.sum() if share.sum() > 0 else weights / weights.sum()
    step = rng.choice(len(share), len(simulation), p=share)
    segment_start = np.maximum(step_starts, as_of.timestamp())
    segment_seconds = weights * DAY_SECONDS
    at = segment_start[step] + rng.random(len(simulation)) * segment_seconds[step]
    drawn = rng.integers(0, pool.height, len(simulation))
    return _simulated(at, pool["value"].to_numpy()[drawn], pool["good"].gather(drawn), simulation)


def _exposure_spans(
    history: pl.DataFrame,
    as_of: datetime,
    window_end: datetime,
    simulations: int,
    rng: np.random.Generator,
) -> pl.DataFrame:
    """Simulated exposure spans of an RPO objective from its open span on (module docstring)."""
    if history.is_empty():
        return _simulated(np.array([]), np.array([]), pl.Series([], dtype=pl.Boolean), [])
    last_good = history["counted_at"][-1].timestamp()
    closed = _recent(history.head(history.height - 1), as_of)["value"].to_numpy()
    elapsed, end = as_of.timestamp() - last_good, window_end.timestamp()
    longer = closed[closed > elapsed]
    starts, lengths, paths = [], [], []
    for path in range(simulations):
        if closed.size == 0:
            length = end - last_good
        elif longer.size:
            length = longer[rng.integers(longer.size)]  # rng.choice's draw, without its overhead
        else:
            length = elapsed + closed[rng.integers(closed.size)]
        start = last_good
        while True:
            starts.append(start)
            lengths.append(length)
            paths.append(path)
            start += length
            if start >= end:
                break
            length = max(closed[rng.integers(closed.size)], 1.0)
    return _simulated(
        np.array(starts), np.array(lengths), pl.Series([None] * len(paths), dtype=pl.Boolean), paths
    )


def _simulated(
    at: np.ndarray, value: np.ndarray, good: pl.Series, simulation: np.ndarray | list[int]
) -> pl.DataFrame:
    """Simulated items (SIMULATED_SCHEMA, keys and item_id null) counted at epoch seconds."""
    return (
        pl.DataFrame(
            {
                "counted_at": np.round(at * 1e6).astype(np.int64),
                "value": np.asarray(value, dtype=np.float64),
                "good": good.cast(pl.Boolean),
                "simulation": np.asarray(simulation, dtype=np.int64),
            }
        )
        .with_columns(pl.col("counted_at").cast(UTC_US))
        .with_columns(pl.lit(None, pl.String).alias(name) for name in (*KEYS, "item_id", "detail"))
        .select(list(SIMULATED_SCHEMA))
        .cast(SIMULATED_SCHEMA)  # type: ignore[arg-type]
    )


def item_breach_risk(
    objectives: pl.DataFrame,
    current: pl.DataFrame,
    forecasts: list[ItemForecast],
    finals: pl.DataFrame,
    as_of: datetime,
) -> pl.DataFrame:
    """Breach risk of every current window (module docstring).

    Inputs: ``objectives`` and ``current`` as for ``final_windows`` (``current`` also with
    target and unit), ``forecasts`` (forecast_items), ``finals`` (final_windows). Output:
    BREACH_RISK_SCHEMA, one row per window: method 'item_simulation', or INSUFFICIENT_HISTORY
    (figures null) for a window that was not simulated.
    """
    models = {
        (forecast.contract_id, forecast.objective_id): (
            forecast.arrivals.model if forecast.arrivals else None,
            forecast.arrivals.holdout_mae if forecast.arrivals else None,
            forecast.outcome_model,
        )
        for forecast in forecasts
    }
    rows = []
    for (contract_id, objective_id), paths in finals.partition_by(
        KEYS, as_dict=True, maintain_order=True
    ).items():
        measured = paths["measured"].drop_nulls().drop_nans().to_numpy()
        exhaustion = paths["exhaustion_at"].drop_nulls().to_numpy()
        model, mae, outcome_model = models[(contract_id, objective_id)]
        rows.append(
            {
                "contract_id": contract_id,
                "objective_id": objective_id,
                "p_breach": float((paths["status"] == "breached").mean() or 0.0),
                "expected_measured": float(np.mean(measured)) if measured.size else None,
                "measured_low": float(np.quantile(measured, INTERVAL[0]))
                if measured.size
                else None,
                "measured_high": float(np.quantile(measured, INTERVAL[1]))
                if measured.size
                else None,
                "predicted_exhaustion_at": median_instant(exhaustion) if exhaustion.size else None,
                "volume_model": model,
                "volume_holdout_mae": mae,
                "bad_ratio_model": outcome_model,
            }
        )
    risk = pl.DataFrame(
        rows,
        schema={
            name: BREACH_RISK_SCHEMA[name]
            for name in (
                *KEYS,
                "p_breach",
                "expected_measured",
                "measured_low",
                "measured_high",
                "predicted_exhaustion_at",
                "volume_model",
                "volume_holdout_mae",
                "bad_ratio_model",
            )
        },
    )
    is_share = pl.col("judged_on") == "share"
    return (
        current.lazy()
        .select(*KEYS, "window_label", "target", "window_end", "unit")
        .join(risk.lazy(), on=KEYS, how="left")
        .join(objectives.lazy().select(*KEYS, "judged_on"), on=KEYS)
        .with_columns(
            as_of=pl.lit(as_of.astimezone(UTC), UTC_US),
            method=pl.when(pl.col("p_breach").is_null())
            .then(pl.lit(INSUFFICIENT_HISTORY))
            .otherwise(pl.lit("item_simulation")),
            expected_attainment=pl.when(is_share).then("expected_measured"),
            attainment_low=pl.when(is_share).then("measured_low"),
            attainment_high=pl.when(is_share).then("measured_high"),
            bad_ratio_holdout_mae=pl.lit(None, pl.Float64),
        )
        .select(list(BREACH_RISK_SCHEMA))
        .cast(BREACH_RISK_SCHEMA)  # type: ignore[arg-type]
        .collect(engine="in-memory")  # the engine of eager steps: small frames
    )


def item_forecasts_frame(forecasts: list[ItemForecast], risk: pl.DataFrame) -> pl.DataFrame:
    """The item forecasts as FORECASTS_SCHEMA rows: series 'items' (the daily item count to
    come, one row per UTC day, ``hour`` its start) where one was fitted, and series 'measured'
    (the window's final figure in its unit: one row at window_end, weight 1, mean and interval
    from ``risk``, model the outcome model)."""
    frames = [
        series_frame(
            forecast.contract_id,
            forecast.objective_id,
            "items",
            forecast.arrivals,
            forecast.step_starts,
            forecast.weights,
            None,
        )
        for forecast in forecasts
        if forecast.arrivals is not None
    ]
    measured = risk.select(
        *KEYS,
        series=pl.lit("measured"),
        model="bad_ratio_model",
        holdout_mae=pl.lit(None, pl.Float64),
        hour="window_end",
        weight=pl.lit(1.0),
        mean="expected_measured",
        interval_low="measured_low",
        interval_high="measured_high",
    ).filter(pl.col("mean").is_not_null())
    return pl.concat([*frames, measured.cast(FORECASTS_SCHEMA)])  # type: ignore[arg-type]


def item_predictions(
    objectives: pl.DataFrame,
    current: pl.DataFrame,
    outcomes: pl.DataFrame,
    as_of: datetime,
    simulations: int = ITEM_SIMULATIONS,
    seed: int = 0,
    kept: KeptPredictions | None = None,
    workers: int = 1,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Breach risk (BREACH_RISK_SCHEMA) and forecasts (FORECASTS_SCHEMA) of the current windows
    of item-judged objectives: ``forecast_items``, ``final_windows``, ``item_breach_risk`` and
    ``item_forecasts_frame`` in turn, a few objectives at a time (_predictions_of: each
    objective's paths are seeded from its keys, so the result is the same as all at once, but
    only about ITEM_ROWS_PER_OBJECTIVE simulated items are held in memory at once: a portfolio
    of hundreds of item objectives would otherwise hold up to that many for each). Inputs as for
    ``final_windows`` (``current``: sla.windows rows holding ``as_of``). With ``kept`` (kind
    ITEMS_KEPT), an objective whose inputs are those of a kept prediction takes its rows, and
    the others' are kept. The objectives to predict are shared with up to ``workers`` − 1
    worker processes (workers.shared_batches)."""
    objectives_of = objectives.partition_by(KEYS, as_dict=True)
    outcomes_of = outcomes.partition_by(KEYS, as_dict=True)
    predicted: dict[int, Kept] = {}
    to_predict: list[tuple[int, str, _Inputs]] = []
    for index, (keys, windows) in enumerate(
        current.partition_by(KEYS, as_dict=True, maintain_order=True).items()
    ):
        inputs = (
            objectives_of.get(keys, objectives.clear()),
            windows,
            outcomes_of.get(keys, outcomes.clear()),
        )
        digest = (
            inputs_digest("items", *inputs, as_of, simulations, seed) if kept is not None else ""
        )
        rows = kept.get(digest) if kept is not None else None
        if rows is None:
            to_predict.append((index, digest, inputs))
        else:
            predicted[index] = rows
    predict = partial(_predictions_of, as_of=as_of, simulations=simulations, seed=seed)
    made = shared_batches(predict, [inputs for _, _, inputs in to_predict], workers)
    for (index, digest, _), rows in zip(to_predict, made, strict=True):
        predicted[index] = rows
        if kept is not None:
            kept.put(digest, *rows)
    if not predicted:
        return _objective_predictions(objectives, current, outcomes, as_of, simulations, seed)
    rows_in_order = [predicted[index] for index in sorted(predicted)]
    return (
        pl.concat([risk for risk, _ in rows_in_order]),
        pl.concat([frame for _, frame in rows_in_order]),
    )


_Inputs = tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]
"""One objective's sla.objectives row, current window and outcomes."""


def _predictions_of(
    objectives: list[_Inputs], as_of: datetime, simulations: int, seed: int
) -> list[Kept]:
    """_objective_predictions of each objective: the final windows of consecutive objectives
    are simulated together until they reach ITEM_ROWS_PER_OBJECTIVE simulated items (most
    windows hold few items, and every pass over the paths has a cost of its own; each
    objective's paths are seeded from its keys, so the result is the same as one at a time)."""
    made: list[Kept] = []
    together: list[tuple[_Inputs, list[ItemForecast]]] = []
    simulated = 0  # items to come of the objectives together
    for inputs in objectives:
        forecasts = forecast_items(*inputs, as_of, simulations, seed)
        items = sum(forecast.items.height for forecast in forecasts)
        if together and simulated + items > ITEM_ROWS_PER_OBJECTIVE:
            made += _final_predictions(together, as_of)
            together, simulated = [], 0
        together.append((inputs, forecasts))
        simulated += items
    return made + _final_predictions(together, as_of)


def _final_predictions(
    objectives: list[tuple[_Inputs, list[ItemForecast]]], as_of: datetime
) -> list[Kept]:
    """The (risk, forecasts) rows of each of ``objectives`` (inputs and forecast_items), their
    final windows simulated together."""
    if not objectives:
        return []
    each_objective = [inputs for inputs, _ in objectives]
    inputs = [pl.concat(frames) for frames in zip(*each_objective, strict=True)]
    forecasts = [forecast for _, each in objectives for forecast in each]
    risk, frame = _predictions(*inputs, forecasts, as_of)
    risk_of, frame_of = (rows.partition_by(KEYS, as_dict=True) for rows in (risk, frame))
    keys = [windows.select(KEYS).row(0) for _, windows, _ in each_objective]
    return [(risk_of.get(key, risk.clear()), frame_of.get(key, frame.clear())) for key in keys]


def _objective_predictions(
    objectives: pl.DataFrame,
    current: pl.DataFrame,
    outcomes: pl.DataFrame,
    as_of: datetime,
    simulations: int,
    seed: int,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """item_predictions of the objectives in ``objectives`` at once."""
    forecasts = forecast_items(objectives, current, outcomes, as_of, simulations, seed)
    return _predictions(objectives, current, outcomes, forecasts, as_of)


def _predictions(
    objectives: pl.DataFrame,
    current: pl.DataFrame,
    outcomes: pl.DataFrame,
    forecasts: list[ItemForecast],
    as_of: datetime,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Breach risk and forecasts rows of the windows of ``forecasts`` (forecast_items)."""
    finals = (
        final_windows(objectives, current, outcomes, forecasts, as_of)
        if forecasts
        else pl.DataFrame(schema=FINAL_WINDOWS_SCHEMA)
    )
    risk = item_breach_risk(objectives, current, forecasts, finals, as_of)
    return risk, item_forecasts_frame(forecasts, risk)
