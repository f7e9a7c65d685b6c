"""Reliability, Brier score and the look-ahead-free isotonic recalibration on hand-made
predictions, every figure worked out by hand."""

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from pipelines.predict.backtest import PREDICTIONS_SCHEMA
from pipelines.predict.calibration import (
    BRIER_SCHEMA,
    RELIABILITY_SCHEMA,
    brier_scores,
    recalibrated,
    reliability_table,
)

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
