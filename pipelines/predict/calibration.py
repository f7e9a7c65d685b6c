"""Calibration of breach probabilities: reliability per decile, Brier score, and an isotonic
recalibration fitted only on windows that had closed before each prediction.

Input throughout: the backtest's predictions (``backtest.PREDICTIONS_SCHEMA``: a method's
p_breach for a window at one as-of time, the window's final status); a prediction's outcome is 1
when its window breached, 0 when it was met. Predictions with a null p_breach are left out.

- Reliability (``reliability_table``): per method, the predictions in ten bins of p_breach,
  bin k holding [k/10, (k+1)/10) (the last also 1.0); per bin the number of predictions, of
  distinct windows, the mean p_breach and the observed breach frequency (the share of its
  predictions whose window breached). A calibrated method has observed ≈ mean predicted.
- Brier score (``brier_scores``): per method the mean of (p_breach − outcome)² over its
  predictions: 0 is perfect, 0.25 what a constant 0.5 scores.
- Recalibration (``recalibrated``): a prediction made at ``as_of`` is mapped through the
  isotonic regression (non-decreasing, within [0, 1], clipped outside the seen range) of outcome
  on p_breach fitted on the method's predictions of the windows that ended at or before
  ``as_of`` — windows whose outcome was known then, so no look-ahead — and refitted whenever
  that history grows. Until it holds MIN_WINDOWS windows, MIN_BREACHED of them breached, p_breach
  passes through unchanged.
- Live recalibration (``live_recalibrated``): the pipeline keeps every traffic forecast it
  makes (``predict.breach_risk_history``: the model's own p_breach per window and as-of time);
  each run fits the same isotonic map on the kept predictions of the home's windows that have
  closed met or breached (``sla.windows``), pooled over objectives, and maps the current
  windows' p_breach through it. Below MIN_WINDOWS closed windows with MIN_BREACHED breached,
  p_breach passes through unchanged. Isotonic maps are non-decreasing: a higher model p_breach
  never gets a lower calibrated one.
"""

from __future__ import annotations

import numpy as np
import polars as pl
from sklearn.isotonic import IsotonicRegression

from pipelines.sla.objectives import KEYS, UTC_US

BINS = 10
MIN_WINDOWS = 20
MIN_BREACHED = 3
CALIBRATED_SUFFIX = "_calibrated"

RELIABILITY_SCHEMA = {
    "method": pl.String,
    "bin": pl.Int32,
    "bin_low": pl.Float64,
    "bin_high": pl.Float64,
    "predictions": pl.UInt32,
    "windows": pl.UInt32,
    "mean_predicted": pl.Float64,
    "observed": pl.Float64,
}
PREDICTION_HISTORY_SCHEMA = {
    "contract_id": pl.String,
    "objective_id": pl.String,
    "window_label": pl.String,
    "window_end": UTC_US,
    "as_of": UTC_US,
    "p_breach": pl.Float64,
}
"""``predict.breach_risk_history``: the model's p_breach (before recalibration) of a traffic
window at one as-of time."""
LIVE_METHOD = "forecast"
"""The breach-risk method (risk.BREACH_RISK_SCHEMA) whose predictions are kept and
recalibrated live."""
BRIER_SCHEMA = {"method": pl.String, "predictions": pl.UInt32, "brier": pl.Float64}


def _outcome() -> pl.Expr:
    return (pl.col("status") == "breached").cast(pl.Float64)


def reliability_table(predictions: pl.DataFrame, bins: int = BINS) -> pl.DataFrame:
    """Predicted p_breach per bin against the observed breach frequency (module docstring).

    Input: PREDICTIONS_SCHEMA rows (method, contract_id, objective_id, window_start, status,
    p_breach). Output: RELIABILITY_SCHEMA, one row per method and non-empty bin, methods in
    order of first appearance, bins ascending.
    """
    bin_index = (pl.col("p_breach") * bins).floor().clip(0, bins - 1).cast(pl.Int32)
    return (
        predictions.filter(pl.col("p_breach").is_not_null())
        .with_columns(bin=bin_index, outcome=_outcome())
        .group_by("method", "bin", maintain_order=True)
        .agg(
            predictions=pl.len(),
            windows=pl.struct(*KEYS, "window_start").n_unique(),
            mean_predicted=pl.col("p_breach").mean(),
            observed=pl.col("outcome").mean(),
        )
        .with_columns(
            bin_low=pl.col("bin") / bins,
            bin_high=(pl.col("bin") + 1) / bins,
        )
        .join(_method_order(predictions), on="method")
        .sort("order", "bin")
        .select(list(RELIABILITY_SCHEMA))
        .cast(RELIABILITY_SCHEMA)  # type: ignore[arg-type]
    )


def brier_scores(predictions: pl.DataFrame) -> pl.DataFrame:
    """Brier score per method (module docstring). Input: PREDICTIONS_SCHEMA rows. Output:
    BRIER_SCHEMA, methods in order of first appearance."""
    return (
        predictions.filter(pl.col("p_breach").is_not_null())
        .group_by("method", maintain_order=True)
        .agg(predictions=pl.len(), brier=((pl.col("p_breach") - _outcome()) ** 2).mean())
        .cast(BRIER_SCHEMA)  # type: ignore[arg-type]
    )


def _method_order(predictions: pl.DataFrame) -> pl.DataFrame:
    return predictions.select(pl.col("method").unique(maintain_order=True)).with_row_index("order")


def recalibrated(
    predictions: pl.DataFrame,
    method: str,
    min_windows: int = MIN_WINDOWS,
    min_breached: int = MIN_BREACHED,
) -> pl.DataFrame:
    """``method``'s predictions recalibrated without look-ahead (module docstring), as method
    ``method`` + CALIBRATED_SUFFIX.

    Input: PREDICTIONS_SCHEMA rows (method, window_end, status, as_of, p_breach; other methods
    ignored); ``min_windows`` and ``min_breached`` the history needed (MIN_WINDOWS,
    MIN_BREACHED). Output: the same columns, one row per prediction of ``method`` with a
    p_breach, in the input's order.
    """
    own = predictions.filter(pl.col("method") == method, pl.col("p_breach").is_not_null())
    p_breach = own["p_breach"].to_numpy()
    outcome = (own["status"] == "breached").to_numpy().astype(float)
    window_end = own["window_end"].dt.epoch("us").to_numpy()
    as_of = own["as_of"].dt.epoch("us").to_numpy()
    window_id = own.select(pl.struct(*KEYS, "window_start").rank("dense")).to_series().to_numpy()
    ends = np.sort(window_end)
    calibrated = p_breach.copy()
    fitted: dict[int, IsotonicRegression | None] = {}
    for moment in np.unique(as_of):
        known = int(np.searchsorted(ends, moment, "right"))  # predictions of closed windows
        if known not in fitted:
            closed = window_end <= moment
            fitted[known] = _isotonic(
                closed, p_breach, outcome, window_id, min_windows, min_breached
            )
        model = fitted[known]
        if model is not None:
            now = as_of == moment
            calibrated[now] = model.predict(p_breach[now])
    return own.with_columns(
        method=pl.lit(method + CALIBRATED_SUFFIX), p_breach=pl.Series(calibrated)
    )


def _isotonic(
    closed: np.ndarray,
    p_breach: np.ndarray,
    outcome: np.ndarray,
    window_id: np.ndarray,
    min_windows: int,
    min_breached: int,
) -> IsotonicRegression | None:
    """The isotonic map fitted on the ``closed`` predictions, or None while they cover fewer
    than ``min_windows`` windows (one at least) or ``min_breached`` breached ones."""
    windows = np.unique(window_id[closed])
    breached = np.unique(window_id[closed & (outcome == 1.0)])
    if len(windows) < max(min_windows, 1) or len(breached) < min_breached:
        return None
    model = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
    return model.fit(p_breach[closed], outcome[closed])


def prediction_history(risk: pl.DataFrame) -> pl.DataFrame:
    """The rows of a run's breach risk (risk.BREACH_RISK_SCHEMA, before ``live_recalibrated``)
    to keep: PREDICTION_HISTORY_SCHEMA, the LIVE_METHOD rows with a p_breach."""
    return (
        risk.filter(pl.col("method") == LIVE_METHOD, pl.col("p_breach").is_not_null())
        .select(list(PREDICTION_HISTORY_SCHEMA))
        .cast(PREDICTION_HISTORY_SCHEMA)  # type: ignore[arg-type]
    )


def live_recalibrated(
    risk: pl.DataFrame,
    history: pl.DataFrame,
    windows: pl.DataFrame,
    min_windows: int = MIN_WINDOWS,
    min_breached: int = MIN_BREACHED,
) -> pl.DataFrame:
    """``risk`` with the p_breach of its LIVE_METHOD rows mapped through the isotonic map fitted
    on ``history``'s predictions of closed windows (module docstring); the other rows, and all
    rows while the history is too short, unchanged.

    Inputs: ``risk`` (risk.BREACH_RISK_SCHEMA), ``history`` (PREDICTION_HISTORY_SCHEMA),
    ``windows`` (sla.windows: contract_id, objective_id, window_label, window_end,
    is_complete, status). Output: ``risk``'s columns and rows.
    """
    closed = history.join(
        windows.filter(pl.col("is_complete"), pl.col("status").is_in(["met", "breached"])).select(
            *KEYS, "window_label", "window_end", "status"
        ),
        on=[*KEYS, "window_label", "window_end"],
    )
    window_id = closed.select(pl.struct(*KEYS, "window_end").rank("dense")).to_series().to_numpy()
    model = _isotonic(
        np.ones(closed.height, dtype=bool),
        closed["p_breach"].to_numpy(),
        (closed["status"] == "breached").to_numpy().astype(float),
        window_id,
        min_windows,
        min_breached,
    )
    if model is None:
        return risk
    live = (pl.col("method") == LIVE_METHOD) & pl.col("p_breach").is_not_null()
    mapped = model.predict(risk["p_breach"].fill_null(0.0).to_numpy())
    return risk.with_columns(p_breach=pl.when(live).then(pl.Series(mapped)).otherwise("p_breach"))


def reliability_text(reliability: pl.DataFrame) -> str:
    """The reliability table (RELIABILITY_SCHEMA) as fixed-width text, one line per method and
    bin."""
    lines = [
        f"{'method':<30} {'p_breach':>9} {'predictions':>11} {'windows':>7} "
        f"{'mean p':>6} {'observed':>8}"
    ]
    lines.extend(
        f"{row['method']:<30} {row['bin_low']:>4.1f}-{row['bin_high']:<4.1f} "
        f"{row['predictions']:>11} {row['windows']:>7} {row['mean_predicted']:>6.3f} "
        f"{row['observed']:>8.3f}"
        for row in reliability.iter_rows(named=True)
    )
    return "\n".join(lines)


def brier_text(brier: pl.DataFrame) -> str:
    """The Brier scores (BRIER_SCHEMA) as fixed-width text, one line per method."""
    lines = [f"{'method':<30} {'predictions':>11} {'Brier':>7}"]
    lines.extend(
        f"{row['method']:<30} {row['predictions']:>11} {row['brier']:>7.4f}"
        for row in brier.iter_rows(named=True)
    )
    return "\n".join(lines)
