"""Backtest: replay the stored history as of many past times and score breach predictions.

Scored windows: the complete calendar windows (day, week, month, quarter; rolling windows, listed
once per day and overlapping, are left out) of the traffic objectives (availability, latency)
whose status is ``met`` or ``breached``.

Replay. As-of times lie on a UTC grid (multiples of ``every`` since the epoch: every hour, or
every UTC midnight) strictly inside each window. At an as-of time a method sees only the
objective's slices that have *ended* by then (``slice_start + slice_seconds ≤ as_of``, so no
slice starting at or after ``as_of`` and none still running), going back ``history`` before the
as-of time or to the window's start, whichever is earlier. A method is a :data:`Predictor`: from
that alone it gives the probability that the window breaches (a yes/no method 1 or 0). Every
method is asked at every as-of time before the window's breach time (its end when met): these
are the backtest's *predictions*, scored for calibration in ``calibration.py``. Its firing time
on a window is the first as-of time at which its probability reaches the objective's
``risk_threshold`` (RISK_THRESHOLD without one).

Actual breach time of a breached window: the end of the first slice after which the window's
cumulative bad exceeds its error budget, (1 − target) × the window's final total, i.e. the first
moment at which the window can no longer reach its target whatever comes after (in hindsight of
the final volume); the window's end when that crossing cannot be placed (slices disagreeing with
the stored window). A method *predicted* a breached window when it fired strictly before the
breach time; lead time = breach time − firing time. Windows are evaluated up to the breach time
only: a firing at or after it is no prediction (the window counts as missed). A firing on a met
window is a false alarm.

Metrics per method: precision = predicted / (predicted + false alarms), recall = predicted /
breached windows, F1 their harmonic mean (null when undefined), the median lead time in hours
over predicted windows, false alarms per scored window.

The three methods (:func:`forecast_predictor`, :func:`burn_rate_predictor`,
:func:`linear_extrapolation_predictor`) adapt ``risk.breach_risk``, the burn-rate alerts of
``sla.burn`` and ``risk.linear_extrapolation_risk`` to the predictor interface. The burn-rate
alerts fire on a window when a page or ticket alert is firing at the as-of time or has fired
earlier in the window: alerts are evaluated at every slice end, so an alert that fired and
cleared between two as-of times still counts (from the next as-of time on); their look-backs
read the slices before the window too, as the on-call engineer's alerts did.

Cost: each method runs once per window and as-of time (not past the breach time), so
``every=1h`` costs about 24 times ``every=1d``. The forecast and burn-rate predictors prepare
what does not depend on the as-of time once per objective (hourly sums; alert episodes, which
made half the replay's time when recomputed per call); the forecast's Holt-Winters fits, one set
per as-of time, dominate what remains.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import polars as pl

from pipelines.predict.forecast import (
    HISTORY_DAYS,
    LOOK_BACK_DAYS,
    ModelChoices,
    forecast_objectives,
    hourly_history,
)
from pipelines.predict.risk import (
    PAST_DAYS,
    breach_risk,
    linear_extrapolation_risk,
    with_past_deviations,
)
from pipelines.progress import Progress
from pipelines.sla.burn import alert_episodes, burn_ledger
from pipelines.sla.objectives import KEYS, UTC_US

Predictor = Callable[[dict[str, Any], pl.DataFrame, datetime, datetime, datetime], float]
"""``predictor(objective, slices, window_start, window_end, as_of)`` → the probability it gives
that the window breaches (a bool counts as 1 or 0; NaN: no prediction). ``objective``: a row of
``sla.objectives`` (a dict, OBJECTIVES_SCHEMA);
``slices``: that objective's ``sla.slices`` rows (contract_id, objective_id, slice_start, good,
total) ended by ``as_of``, sorted by slice_start."""

TRAFFIC_KINDS = ("availability", "latency")
RISK_THRESHOLD = 0.5
"""p_breach at or above which a breach-risk method fires, for an objective without its own
``risk_threshold``."""
HISTORY = timedelta(days=HISTORY_DAYS)
"""How far before an as-of time predictors see slices: the forecast's history (28 days), which
holds the alerts' longest look-back (3 days for a 30-day window) too."""

SCORED_WINDOW_SCHEMA = {
    "contract_id": pl.String,
    "objective_id": pl.String,
    "window_label": pl.String,
    "window_start": UTC_US,
    "window_end": UTC_US,
    "status": pl.String,
    "breach_at": UTC_US,
}
"""A scored window: ``status`` its final one ('met' | 'breached'), ``breach_at`` its breach
time (null when met)."""
PREDICTIONS_SCHEMA = {
    **SCORED_WINDOW_SCHEMA,
    "method": pl.String,
    "as_of": UTC_US,
    "p_breach": pl.Float64,
}
"""One prediction: a method's p_breach for a scored window at one as-of time."""
OUTCOMES_SCHEMA = {
    **SCORED_WINDOW_SCHEMA,
    "method": pl.String,
    "fired_at": UTC_US,
    "predicted": pl.Boolean,
    "lead_hours": pl.Float64,
    "false_alarm": pl.Boolean,
}
METRICS_SCHEMA = {
    "method": pl.String,
    "windows": pl.UInt32,
    "breached": pl.UInt32,
    "predicted": pl.UInt32,
    "false_alarms": pl.UInt32,
    "precision": pl.Float64,
    "recall": pl.Float64,
    "f1": pl.Float64,
    "median_lead_hours": pl.Float64,
    "false_alarms_per_window": pl.Float64,
}


def scored_windows(objectives: pl.DataFrame, windows: pl.DataFrame) -> pl.DataFrame:
    """The windows a backtest scores (module docstring).

    Inputs: ``sla.objectives`` (contract_id, objective_id, sli_kind, window_kind) and
    ``sla.windows`` (contract_id, objective_id, window_label, window_start, window_end,
    is_complete, total, attainment, status). Output: contract_id, objective_id, window_label,
    window_start, window_end, total (the final total), status ('met' | 'breached'), sorted.
    """
    traffic = objectives.filter(
        pl.col("sli_kind").is_in(TRAFFIC_KINDS), pl.col("window_kind") != "rolling"
    ).select(KEYS)
    return (
        windows.filter(
            pl.col("is_complete"),
            pl.col("status").is_in(["met", "breached"]),
            pl.col("attainment").is_not_null(),
        )
        .join(traffic, on=KEYS, how="semi")
        .select(*KEYS, "window_label", "window_start", "window_end", "total", "status")
        .sort([*KEYS, "window_start"])
    )


def breach_times(
    windows: pl.DataFrame, objectives: pl.DataFrame, slices: pl.DataFrame
) -> pl.DataFrame:
    """``windows`` (scored_windows) with ``breach_at``: the actual breach time of a breached
    window (module docstring), null for a met one.

    Inputs: ``objectives`` (contract_id, objective_id, target, slice_seconds), ``slices``
    (contract_id, objective_id, slice_start, good, total). Output: the columns of ``windows``
    and breach_at (UTC).
    """
    breached = windows.filter(pl.col("status") == "breached").select(
        *KEYS, "window_start", "window_end", final_total="total"
    )
    crossings = (
        slices.lazy()
        .select(*KEYS, "slice_start", bad=pl.col("total") - pl.col("good"))
        .sort("slice_start")
        .join_asof(
            breached.lazy().sort("window_start"),
            left_on="slice_start",
            right_on="window_start",
            by=KEYS,
            check_sortedness=False,  # sorted by slice_start overall, hence within each objective
        )
        .filter(pl.col("slice_start") < pl.col("window_end"))
        .join(objectives.lazy().select(*KEYS, "target", "slice_seconds"), on=KEYS)
        .sort([*KEYS, "window_start", "slice_start"])  # a join keeps no order: sum in time order
        .with_columns(spent=pl.col("bad").cum_sum().over([*KEYS, "window_start"]))
        .filter(pl.col("spent") > (1 - pl.col("target")) * pl.col("final_total"))
        .group_by([*KEYS, "window_start"])
        .agg(breach_at=(pl.col("slice_start") + pl.duration(seconds=pl.col("slice_seconds"))).min())
    )
    return (
        windows.lazy()
        .join(crossings, on=[*KEYS, "window_start"], how="left")
        .with_columns(
            breach_at=pl.when(pl.col("status") == "breached").then(
                pl.min_horizontal("breach_at", "window_end")
            )
        )
        .sort([*KEYS, "window_start"])
        .collect()
        .cast({"breach_at": UTC_US})
    )


def windows_to_score(
    objectives: pl.DataFrame, windows: pl.DataFrame, slices: pl.DataFrame
) -> pl.DataFrame:
    """``scored_windows`` with their ``breach_times`` (inputs as for those)."""
    return breach_times(scored_windows(objectives, windows), objectives, slices)


def as_of_times(window_start: datetime, window_end: datetime, every: timedelta) -> list[datetime]:
    """The grid times (multiples of ``every`` since the UTC epoch) strictly inside
    ``(window_start, window_end)``."""
    step = int(every.total_seconds())
    first = (int(window_start.timestamp()) // step + 1) * step
    return [
        datetime.fromtimestamp(moment, UTC)
        for moment in range(first, int(np.ceil(window_end.timestamp())), step)
    ]


def replay(
    objectives: pl.DataFrame,
    scored: pl.DataFrame,
    slices: pl.DataFrame,
    predictors: Mapping[str, Predictor],
    every: timedelta = timedelta(days=1),
    history: timedelta = HISTORY,
    progress: Progress | None = None,
) -> pl.DataFrame:
    """Ask every predictor about every scored window at every as-of time before its breach time.

    Inputs: ``objectives`` (sla.objectives), ``scored`` (the windows to replay, with their
    breach times: ``windows_to_score``), ``slices`` (sla.slices: contract_id, objective_id,
    slice_start, good, total), ``predictors`` (method name → Predictor). ``progress`` (its total
    set here) counts the as-of times replayed, with one note per objective. Output:
    PREDICTIONS_SCHEMA, one row per scored window, as-of time and method, sorted by objective,
    window, as-of time, method (in ``predictors``' order); p_breach null where the method had
    nothing to say (NaN: a forecast without enough history).
    """
    by_objective = (
        slices.select(*KEYS, "slice_start", "good", "total")
        .join(objectives.select(*KEYS, "slice_seconds"), on=KEYS)
        .with_columns(
            slice_end=pl.col("slice_start") + pl.duration(seconds=pl.col("slice_seconds"))
        )
        .drop("slice_seconds")
        .sort([*KEYS, "slice_start"])
        .partition_by(KEYS, as_dict=True, maintain_order=True)
    )

    def asked(window: dict[str, Any]) -> list[datetime]:
        return as_of_times(
            window["window_start"], window["breach_at"] or window["window_end"], every
        )

    if progress is not None:
        progress.total = sum(len(asked(window)) for window in scored.iter_rows(named=True))
    rows = []
    for objective in objectives.join(scored, on=KEYS, how="semi").sort(KEYS).iter_rows(named=True):
        started = time.perf_counter()
        key = (objective["contract_id"], objective["objective_id"])
        objective_slices = by_objective[key]
        ends = objective_slices["slice_end"].dt.epoch("us").to_numpy()
        objective_windows = scored.filter(
            pl.col("contract_id") == key[0], pl.col("objective_id") == key[1]
        )
        for window in objective_windows.iter_rows(named=True):
            start, end = window["window_start"], window["window_end"]
            for as_of in asked(window):
                since = min(start, as_of - history)
                first, last = np.searchsorted(ends, [_epoch_us(since), _epoch_us(as_of)], "right")
                visible = objective_slices.slice(first, last - first).drop("slice_end")
                rows.extend(
                    {
                        **window,
                        "method": method,
                        "as_of": as_of,
                        "p_breach": float(predict(objective, visible, start, end, as_of)),
                    }
                    for method, predict in predictors.items()
                )
            if progress is not None:
                progress.advance(len(asked(window)))
        breached = objective_windows.filter(pl.col("status") == "breached").height
        if progress is not None:
            progress.note(
                f"{key[0]}/{key[1]}: {objective_windows.height} windows ({breached} breached) "
                f"in {time.perf_counter() - started:.1f} s"
            )
    return pl.DataFrame(
        [{name: row[name] for name in PREDICTIONS_SCHEMA} for row in rows],
        schema=PREDICTIONS_SCHEMA,
    ).with_columns(pl.col("p_breach").fill_nan(None))


def first_firings(
    predictions: pl.DataFrame, objectives: pl.DataFrame, scored: pl.DataFrame
) -> pl.DataFrame:
    """Each method's first firing on each window, judged against the window's outcome.

    Inputs: ``predictions`` (PREDICTIONS_SCHEMA, from ``replay``; every method on every window),
    ``objectives`` (sla.objectives: contract_id, objective_id, risk_threshold when present),
    ``scored`` (``windows_to_score``; windows no method was asked about, e.g. a day window
    under a daily grid, count as never fired). Output: OUTCOMES_SCHEMA, one row per window
    and method (methods in order of first appearance): ``fired_at`` the first as-of time whose
    p_breach reaches the objective's threshold (null: never), ``predicted`` (breached and fired;
    predictions stop before the breach time), ``lead_hours`` (breach_at − fired_at, predicted
    windows only), ``false_alarm`` (met and fired).
    """
    threshold = (
        objectives.select(*KEYS, "risk_threshold")
        if "risk_threshold" in objectives.columns
        else objectives.select(*KEYS, risk_threshold=pl.lit(None, pl.Float64))
    )
    methods = predictions.select(pl.col("method").unique(maintain_order=True)).with_row_index(
        "method_order"
    )
    fired = (
        predictions.join(threshold, on=KEYS, how="left")
        .filter(pl.col("p_breach") >= pl.col("risk_threshold").fill_null(RISK_THRESHOLD))
        .group_by(*KEYS, "window_start", "method")
        .agg(fired_at=pl.col("as_of").min())
    )
    judged = (
        scored.select(list(SCORED_WINDOW_SCHEMA))
        .join(methods, how="cross")
        .join(fired, on=[*KEYS, "window_start", "method"], how="left")
        .with_columns(
            predicted=pl.col("breach_at").is_not_null() & pl.col("fired_at").is_not_null(),
            lead_hours=(pl.col("breach_at") - pl.col("fired_at")).dt.total_seconds() / 3_600,
            false_alarm=pl.col("breach_at").is_null() & pl.col("fired_at").is_not_null(),
        )
        .sort(*KEYS, "window_start", "method_order")
    )
    return judged.select(list(OUTCOMES_SCHEMA)).cast(OUTCOMES_SCHEMA)  # type: ignore[arg-type]


def _epoch_us(moment: datetime) -> int:
    return round(moment.timestamp() * 1_000_000)


def backtest_metrics(outcomes: pl.DataFrame) -> pl.DataFrame:
    """Precision, recall, F1, median lead time and false alarms per window per method.

    Input: OUTCOMES_SCHEMA (replay). Output: METRICS_SCHEMA, one row per method in the order
    first seen; precision null without any firing, recall null without breached windows, F1 null
    when either is null or both are 0, median_lead_hours null without a predicted window.
    """
    predicted, false_alarms = pl.col("predicted").sum(), pl.col("false_alarm").sum()
    breached = pl.col("breach_at").is_not_null().sum()
    metrics = outcomes.group_by("method", maintain_order=True).agg(
        windows=pl.len(),
        breached=breached,
        predicted=predicted,
        false_alarms=false_alarms,
        precision=pl.when(predicted + false_alarms > 0).then(
            predicted / (predicted + false_alarms)
        ),
        recall=pl.when(breached > 0).then(predicted / breached),
        median_lead_hours=pl.col("lead_hours").filter(pl.col("predicted")).median(),
        false_alarms_per_window=false_alarms / pl.len(),
    )
    precision, recall = pl.col("precision"), pl.col("recall")
    scored = metrics.with_columns(
        f1=pl.when(precision + recall > 0).then(2 * precision * recall / (precision + recall))
    )
    return scored.select(list(METRICS_SCHEMA)).cast(METRICS_SCHEMA)  # type: ignore[arg-type]


def window_so_far(
    objective: dict[str, Any],
    slices: pl.DataFrame,
    window_start: datetime,
    window_end: datetime,
) -> pl.DataFrame:
    """The objective's current window as risk.py reads it (forecast.current_windows): one row of
    contract_id, objective_id, window_label (''), window_start, window_end, good, total (the
    ``slices`` inside the window), target."""
    inside = slices.filter(pl.col("slice_start") >= window_start)
    return pl.DataFrame(
        {
            "contract_id": [objective["contract_id"]],
            "objective_id": [objective["objective_id"]],
            "window_label": [""],
            "window_start": [window_start],
            "window_end": [window_end],
            "good": [float(inside["good"].sum())],
            "total": [float(inside["total"].sum())],
            "target": [objective["target"]],
        }
    ).cast({"window_start": UTC_US, "window_end": UTC_US})


def forecast_predictor(slices: pl.DataFrame, simulations: int = 200, seed: int = 0) -> Predictor:
    """Pledge's breach risk: risk.breach_risk on forecast.forecast_objectives of the hourly
    history before as_of (``simulations`` paths) with risk.with_past_deviations of the PAST_DAYS
    before it; its p_breach.

    ``slices`` (sla.slices: contract_id, objective_id, slice_start, good, total) are summed per
    hour once per objective (forecast.hourly_history over all of them); at an as-of time the
    predictor reads only the hours before the one holding it, the hours hourly_history of the
    slices seen then gives (as-of times lie on the hourly grid), so it looks no further ahead
    than a predictor given only those slices.
    """
    hourly = _HourlyHistory(slices)
    choices: ModelChoices = {}

    def predict(
        objective: dict[str, Any],
        seen: pl.DataFrame,
        window_start: datetime,
        window_end: datetime,
        as_of: datetime,
    ) -> float:
        current = window_so_far(objective, seen, window_start, window_end)
        key = (objective["contract_id"], objective["objective_id"])
        recent, past = (hourly.before(key, as_of, days) for days in (LOOK_BACK_DAYS, PAST_DAYS))
        forecasts = forecast_objectives(recent, current, as_of, simulations, seed, choices)
        return _p_breach(breach_risk(current, with_past_deviations(forecasts, past, seed), as_of))

    return predict


class _HourlyHistory:
    """Each objective's slices summed per hour (forecast.hourly_history), computed on first use;
    ``before`` cuts the hours of the ``days`` before the hour holding ``as_of``."""

    def __init__(self, slices: pl.DataFrame) -> None:
        self._by_objective = slices.partition_by(KEYS, as_dict=True)
        self._hourly: dict[tuple[str, str], tuple[pl.DataFrame, np.ndarray]] = {}

    def before(self, key: tuple[str, str], as_of: datetime, days: int) -> pl.DataFrame:
        if key not in self._hourly:
            objective = self._by_objective[key]
            after_last = objective["slice_start"].max() + timedelta(hours=2)  # type: ignore[operator]
            everything = hourly_history(objective, after_last, history_days=_ALL_DAYS)
            self._hourly[key] = everything, everything["hour"].dt.epoch("us").to_numpy()
        hourly, hours = self._hourly[key]
        first_step = as_of.replace(minute=0, second=0, microsecond=0)
        first, last = np.searchsorted(
            hours, [_epoch_us(first_step - timedelta(days=days)), _epoch_us(first_step)]
        )
        return hourly.slice(first, last - first)


_ALL_DAYS = 100 * 365
"""hourly_history's look-back to sum every stored slice."""


def linear_extrapolation_predictor() -> Predictor:
    """The burn so far extrapolated linearly to the window's end
    (risk.linear_extrapolation_risk): its p_breach, 1 when the attainment so far is below
    target, else 0."""

    def predict(
        objective: dict[str, Any],
        slices: pl.DataFrame,
        window_start: datetime,
        window_end: datetime,
        as_of: datetime,
    ) -> float:
        current = window_so_far(objective, slices, window_start, window_end)
        return _p_breach(linear_extrapolation_risk(current, as_of))

    return predict


def burn_rate_predictor(
    rules: pl.DataFrame, slices: pl.DataFrame, severities: tuple[str, ...] = ("page", "ticket")
) -> Predictor:
    """The SRE multi-window burn-rate alerts (sla.burn, ``rules`` from
    objectives.alert_rules_frame): 1 when an alert of one of ``severities`` is firing at
    as_of or has fired earlier in the window (an episode that started by as_of and had not
    ended by window_start), else 0, as an on-call engineer paged during the window would know.

    The episodes are computed once per objective over all of ``slices`` (sla.slices). Alerts
    are evaluated at slice ends from the slices ended by then, so an episode that started by
    as_of is one a predictor given only the slices seen then finds too (its end may lie after
    as_of: it was still firing then, which counts the same).
    """
    episodes: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}
    by_objective = slices.partition_by(KEYS, as_dict=True)

    def predict(
        objective: dict[str, Any],
        seen: pl.DataFrame,
        window_start: datetime,
        window_end: datetime,
        as_of: datetime,
    ) -> float:
        key = (objective["contract_id"], objective["objective_id"])
        if key not in episodes:
            objective_frame = pl.DataFrame(
                {name: [objective[name]] for name in [*KEYS, "target", "slice_seconds"]}
            )
            alerts = alert_episodes(burn_ledger(objective_frame, by_objective[key]), rules).filter(
                pl.col("severity").is_in(severities)
            )
            episodes[key] = (
                alerts["started_at"].dt.epoch("us").to_numpy(),
                alerts["ended_at"].dt.epoch("us").fill_null(np.iinfo(np.int64).max).to_numpy(),
            )
        started, ended = episodes[key]
        return float(np.any((started <= _epoch_us(as_of)) & (ended > _epoch_us(window_start))))

    return predict


def _p_breach(risk: pl.DataFrame) -> float:
    """The p_breach of a one-window breach-risk frame (BREACH_RISK_SCHEMA); NaN when it has none
    (no forecast: too little history)."""
    p_breach = risk["p_breach"].max()
    return float("nan") if p_breach is None else float(p_breach)  # type: ignore[arg-type]


def metrics_table(metrics: pl.DataFrame) -> str:
    """The metrics (METRICS_SCHEMA) as a fixed-width text table, one line per method; shares
    with 2 decimals, lead time in hours with 1, undefined figures as '–'."""

    def figure(value: float | None, width: int, digits: int = 2) -> str:
        return f"{value:>{width}.{digits}f}" if value is not None else f"{'–':>{width}}"

    lines = [
        f"{'method':<22} {'windows':>7} {'breached':>8} {'predicted':>9} {'false alarms':>12} "
        f"{'precision':>9} {'recall':>6} {'F1':>5} {'lead h':>7} {'FA/window':>9}"
    ]
    lines.extend(
        f"{row['method']:<22} {row['windows']:>7} {row['breached']:>8} {row['predicted']:>9} "
        f"{row['false_alarms']:>12} {figure(row['precision'], 9)} {figure(row['recall'], 6)} "
        f"{figure(row['f1'], 5)} {figure(row['median_lead_hours'], 7, 1)} "
        f"{figure(row['false_alarms_per_window'], 9, 3)}"
        for row in metrics.iter_rows(named=True)
    )
    return "\n".join(lines)
