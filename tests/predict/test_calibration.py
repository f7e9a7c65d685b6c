"""Reliability, Brier score and the look-ahead-free isotonic recalibration on hand-made
predictions, every figure worked out by hand."""

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from pipelines.predict.backtest import PREDICTIONS_SCHEMA
from pipelines.predict.calibration import (
    BRIER_SCHEMA,
    PREDICTION_HISTORY_SCHEMA,
    RELIABILITY_SCHEMA,
    brier_scores,
    live_recalibrated,
    prediction_history,
    recalibrated,
    reliability_table,
)
from pipelines.sla.objectives import UTC_US

D0 = datetime(2026, 3, 1, tzinfo=UTC)
DAY = timedelta(days=1)


def predictions(rows: list[tuple[str, int, str, int, float | None]]) -> pl.DataFrame:
    """(method, window number w: [D0 + 10w days, D0 + 10(w + 1) days), status, as-of day
    (days after D0), p_breach) → PREDICTIONS_SCHEMA rows."""
    return pl.DataFrame(
        [
            {
                "contract_id": "c",
                "objective_id": "o",
                "window_label": f"w{window}",
                "window_start": D0 + 10 * window * DAY,
                "window_end": D0 + 10 * (window + 1) * DAY,
                "status": status,
                "breach_at": None,
                "method": method,
                "as_of": D0 + day * DAY,
                "p_breach": p_breach,
            }
            for method, window, status, day, p_breach in rows
        ],
        schema=PREDICTIONS_SCHEMA,
    )


SAMPLE = predictions(
    [
        ("forecast", 0, "met", 1, 0.05),
        ("forecast", 0, "met", 2, 0.15),
        ("forecast", 1, "breached", 11, 0.08),
        ("forecast", 1, "breached", 12, 0.95),
        ("forecast", 2, "breached", 21, 1.0),
        ("forecast", 2, "breached", 22, None),  # no forecast: left out
        ("alerts", 0, "met", 1, 1.0),
        ("alerts", 1, "breached", 11, 0.0),
    ]
)


def test_reliability_bins_predictions_by_tenths_and_counts_windows() -> None:
    table = reliability_table(SAMPLE)
    assert table.schema == pl.Schema(RELIABILITY_SCHEMA)
    # forecast: decile 0 holds 0.05 (met) and 0.08 (breached); decile 1 0.15 (met); decile 9
    # 0.95 and 1.0 (both breached, 1.0 in the last decile). alerts: 0.0 breached, 1.0 met.
    assert table.select("method", "bin", "predictions", "windows").rows() == [
        ("forecast", 0, 2, 2),
        ("forecast", 1, 1, 1),
        ("forecast", 9, 2, 2),
        ("alerts", 0, 1, 1),
        ("alerts", 9, 1, 1),
    ]
    assert table["mean_predicted"].to_list() == pytest.approx([0.065, 0.15, 0.975, 0.0, 1.0])
    assert table["observed"].to_list() == [0.5, 0.0, 1.0, 1.0, 0.0]
    assert table["bin_low"].to_list() == pytest.approx([0.0, 0.1, 0.9, 0.0, 0.9])


def test_brier_score_is_the_mean_squared_gap_to_the_outcome() -> None:
    brier = brier_scores(SAMPLE)
    assert brier.schema == pl.Schema(BRIER_SCHEMA)
    # forecast: (0.05² + 0.15² + 0.92² + 0.05² + 0²) / 5 = (0.0025 + 0.0225 + 0.8464 + 0.0025) / 5
    assert brier.rows() == [
        ("forecast", 5, pytest.approx(0.8739 / 5)),
        ("alerts", 2, 1.0),
    ]


def test_recalibration_fits_only_windows_closed_before_each_prediction() -> None:
    # Window 0 [day 0, 10) met at 0.2, window 1 [10, 20) breached at 0.6; window 2 is asked on
    # day 15 (only window 0 closed: too little history, passes through) and day 25 (both
    # closed: the isotonic map 0 up to 0.2, 1 from 0.6, linear between, sends 0.4 to 0.5).
    # Window 2's own outcome (met) and window 3's never enter a fit before they close.
    rows = predictions(
        [
            ("forecast", 0, "met", 5, 0.2),
            ("forecast", 1, "breached", 15, 0.6),
            ("forecast", 2, "met", 25, 0.4),
            ("forecast", 2, "met", 26, 0.7),
            ("forecast", 3, "met", 15, 0.4),
            ("alerts", 2, "met", 25, 1.0),
        ]
    )
    calibrated = recalibrated(rows, "forecast", min_windows=2, min_breached=1)
    assert calibrated.columns == rows.columns
    assert calibrated["method"].unique().to_list() == ["forecast_calibrated"]
    assert calibrated["p_breach"].to_list() == pytest.approx([0.2, 0.6, 0.5, 1.0, 0.4])
    # With the default history needed (20 windows, 3 breached) everything passes through.
    assert recalibrated(rows, "forecast")["p_breach"].to_list() == [0.2, 0.6, 0.4, 0.7, 0.4]


def live_case(
    kept: list[tuple[int, str, float]], current: list[float | None]
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Kept predictions (window number w as in ``predictions``, its final status, p_breach),
    the sla.windows rows of those windows (complete, with that status) and a breach-risk frame
    of current windows (method 'forecast', or 'measured_so_far' for a None p_breach)."""
    history = pl.DataFrame(
        [
            {
                "contract_id": "c",
                "objective_id": "o",
                "window_label": f"w{window}",
                "window_end": D0 + 10 * (window + 1) * DAY,
                "as_of": D0 + (10 * window + 1) * DAY,
                "p_breach": p_breach,
            }
            for window, _, p_breach in kept
        ],
        schema=PREDICTION_HISTORY_SCHEMA,
    )
    windows = pl.DataFrame(
        {
            "contract_id": "c",
            "objective_id": "o",
            "window_label": [f"w{window}" for window, _, _ in kept],
            "window_end": [D0 + 10 * (window + 1) * DAY for window, _, _ in kept],
            "is_complete": True,
            "status": [status for _, status, _ in kept],
        }
    ).cast({"window_end": UTC_US})
    risk = pl.DataFrame(
        {
            "contract_id": "c",
            "objective_id": [f"o{index}" for index in range(len(current))],
            "p_breach": current,
            "method": ["measured_so_far" if p is None else "forecast" for p in current],
        },
        schema={
            "contract_id": pl.String,
            "objective_id": pl.String,
            "p_breach": pl.Float64,
            "method": pl.String,
        },
    )
    return risk, history.unique(maintain_order=True), windows.unique(maintain_order=True)


def test_live_recalibration_maps_current_forecasts_through_the_closed_windows_map() -> None:
    # Closed windows: w0 met at 0.2, w1 breached at 0.6, w2 met at 0.1 and 0.3 (two as-of
    # times): isotonic on (0.1, 0), (0.2, 0), (0.3, 0), (0.6, 1) is 0 up to 0.3, 1 from 0.6 and
    # linear between (0.45 → 0.5); outside the seen range it is clipped (0.9 → 1). A window
    # still open (w3) is not in the fit; a measured_so_far row is left alone.
    risk, history, windows = live_case(
        [(0, "met", 0.2), (1, "breached", 0.6), (2, "met", 0.1), (2, "met", 0.3), (3, "met", 0.9)],
        [0.05, 0.45, 0.9, None],
    )
    windows = windows.with_columns(is_complete=pl.col("window_label") != "w3")
    mapped = live_recalibrated(risk, history, windows, min_windows=3, min_breached=1)
    assert mapped.columns == risk.columns
    assert mapped["p_breach"].to_list() == pytest.approx([0.0, 0.5, 1.0, None])
    assert mapped["method"].to_list() == risk["method"].to_list()


def test_live_recalibration_passes_through_below_the_minimum_history() -> None:
    risk, history, windows = live_case(
        [(0, "met", 0.2), (1, "breached", 0.6), (2, "met", 0.1)], [0.05, 0.45, None]
    )
    # Three closed windows, one breached: the default minimum (20 windows, 3 breached) and one
    # window more than there is both leave p_breach unchanged.
    assert live_recalibrated(risk, history, windows).equals(risk)
    assert live_recalibrated(risk, history, windows, min_windows=4, min_breached=1).equals(risk)
    assert live_recalibrated(risk, history.clear(), windows, 0, 0).equals(risk)


def test_live_recalibrated_probability_is_monotone_in_p_breach() -> None:
    # Outcomes out of order in p_breach (0.3 breached, 0.5 met): the map pools them and stays
    # non-decreasing over a fine grid of model probabilities.
    kept = [(0, "met", 0.1), (1, "breached", 0.3), (2, "met", 0.5), (3, "breached", 0.8)]
    grid = [step / 100 for step in range(101)]
    risk, history, windows = live_case(kept, grid)
    mapped = live_recalibrated(risk, history, windows, min_windows=4, min_breached=2)
    assert mapped["p_breach"].to_list()[30:51] == pytest.approx([0.5] * 21)
    assert (mapped["p_breach"].diff().drop_nulls() >= 0).all()


def test_prediction_history_keeps_the_forecast_rows_with_a_probability() -> None:
    risk = pl.DataFrame(
        {
            "contract_id": "c",
            "objective_id": ["a", "b", "c"],
            "window_label": "w",
            "window_end": D0,
            "as_of": D0 - DAY,
            "p_breach": [0.3, None, 1.0],
            "method": ["forecast", "forecast", "measured_so_far"],
        }
    )
    kept = prediction_history(risk)
    assert kept.schema == pl.Schema(PREDICTION_HISTORY_SCHEMA)
    assert kept["objective_id"].to_list() == ["a"]
