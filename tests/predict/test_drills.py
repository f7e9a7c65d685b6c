"""Incident drills: the injected incidents and the delay / false-alarm bookkeeping."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from pipelines.predict.anomaly import score_series
from pipelines.predict.assets import ANOMALY_THRESHOLD
from pipelines.predict.drills import KINDS, drill, drill_series

START_ROW = 3048  # 10 days 14 hours of 5-minute rows


def test_incidents_start_at_the_known_row() -> None:
    quiet = drill_series("ramp", 0)
    assert quiet.height == 4032
    assert str(quiet["timestamp"][START_ROW]) == "2026-01-15 14:00:00+00:00"
    step = drill_series("step", 0)["value"].to_numpy()
    flat = drill_series("flat_line", 0)["value"].to_numpy()
    # the flat line repeats the last value before the start to the end; before it no value repeats
    assert (flat[START_ROW:] == flat[START_ROW - 1]).all()
    assert len(np.unique(flat[:START_ROW])) == START_ROW
    # a step of 4 noise sigmas: the mean of the day after is about 40 ms above the day before
    # (the daily cycle averages out over whole days)
    jump = step[START_ROW : START_ROW + 288].mean() - step[START_ROW - 288 : START_ROW].mean()
    assert jump == pytest.approx(40.0, abs=2.0)


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown incident kind 'outage'"):
        drill_series("outage", 0)


def test_delay_and_false_alarms_are_counted_from_the_alarms() -> None:
    def two_alarms(frame: pl.DataFrame) -> np.ndarray:
        # one false alarm on the first row after the 2-day warm-up, one alarm 10 minutes in
        scores = np.zeros(frame.height)
        scores[[575, 576, START_ROW + 2]] = [0.9, 0.9, 0.9]
        return scores

    table = drill(two_alarms, 0.5, range(2))
    assert table["kind"].to_list() == list(KINDS)
    row = table.row(0, named=True)
    # row 575 is inside the warm-up; 576 is 2 days in; quiet span 8 days 14 hours per series
    assert row["detected"] == 2
    assert (row["median_delay_minutes"], row["max_delay_minutes"]) == (10.0, 10.0)
    assert row["false_alarms_per_day"] == pytest.approx(2 / (2 * (8 + 14 / 24)))


def test_the_detector_catches_every_drill_incident_within_its_horizon() -> None:
    table = drill(
        lambda frame: score_series(frame)["anomaly_score"].to_numpy(), ANOMALY_THRESHOLD, range(2)
    )
    assert table["detected"].to_list() == [2] * len(KINDS)
    delays = dict(zip(table["kind"], table["max_delay_minutes"], strict=True))
    # a spike burst is flagged on its first spike; a step within half an hour
    assert delays["spike_burst"] == 0.0
    assert delays["step"] <= 30.0
    # measured: 5 false alarms in the 12 series' 103 quiet days (0.05 a day)
    quiet_days = 2 * (8 + 14 / 24)
    false_alarms = (table["false_alarms_per_day"] * quiet_days).round().sum()
    assert false_alarms <= 5
