"""Incident drills: synthetic SLI series with one injected incident of known start, and how soon
and how noisily a detector flags it.

A drill series is ``DAYS`` days of 5-minute latency (ms): a daily cycle ``BASE`` x (1 +
``DAILY_AMPLITUDE`` sin) plus Gaussian noise of ``NOISE`` ms, with one incident from
``INCIDENT_START`` on. The incident kinds, in units of the noise:

- ``step``: +4 sigma from the start on (a slower dependency);
- ``ramp``: +1 sigma more every hour (a leak);
- ``spike_burst``: a spike of +8 sigma every 10 minutes for an hour (retry storms);
- ``variance``: noise x4 for 2 hours (a flapping backend);
- ``flat_line``: the value frozen from the start on (a stuck exporter);
- ``seasonal_shift``: the daily cycle 3 hours late from the start on (a moved batch job).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl

DAYS = 14
STEP = timedelta(minutes=5)
INCIDENT_START = timedelta(days=10, hours=14)
WARM_UP = timedelta(days=2)
HORIZON = timedelta(hours=6)
BASE = 200.0
DAILY_AMPLITUDE = 0.3
NOISE = 10.0
START = datetime(2026, 1, 5, tzinfo=UTC)
KINDS = ("step", "ramp", "spike_burst", "variance", "flat_line", "seasonal_shift")

DRILL_SCHEMA = {
    "kind": pl.String,
    "series": pl.Int64,
    "detected": pl.Int64,
    "median_delay_minutes": pl.Float64,
    "max_delay_minutes": pl.Float64,
    "false_alarms_per_day": pl.Float64,
}


def drill_series(kind: str, seed: int) -> pl.DataFrame:
    """One drill series: ``timestamp`` (Datetime UTC, 5-minute rows) and ``value`` (Float64)."""
    if kind not in KINDS:
        raise ValueError(f"unknown incident kind {kind!r}; expected one of {', '.join(KINDS)}")
    rng = np.random.default_rng([seed, KINDS.index(kind)])
    rows = int(timedelta(days=DAYS) / STEP)
    start = int(INCIDENT_START / STEP)
    hours = np.arange(rows) * STEP.total_seconds() / 3600.0
    phase = hours - np.where((kind == "seasonal_shift") & (np.arange(rows) >= start), 3.0, 0.0)
    noise = rng.normal(0.0, NOISE, rows)
    after = np.arange(rows) - start
    incident = (after >= 0) & (after < 24)  # 2 hours of 5-minute rows
    if kind == "variance":
        noise[incident] *= 4.0
    values = BASE * (1.0 + DAILY_AMPLITUDE * np.sin(2.0 * np.pi * phase / 24.0)) + noise
    if kind == "step":
        values[start:] += 4.0 * NOISE
    elif kind == "ramp":
        values[start:] += NOISE * hours[: rows - start]
    elif kind == "spike_burst":
        values[start : start + 12 : 2] += 8.0 * NOISE
    elif kind == "flat_line":
        values[start:] = values[start - 1]
    timestamps = pl.datetime_range(START, START + (rows - 1) * STEP, STEP, eager=True)
    return pl.DataFrame({"timestamp": timestamps, "value": values})


def drill(
    score: Callable[[pl.DataFrame], np.ndarray], threshold: float, seeds: range
) -> pl.DataFrame:
    """Per incident kind over the ``seeds``: DRILL_SCHEMA.

    ``detected`` counts the series with an alarm (score >= ``threshold``) within ``HORIZON`` of the
    incident start; the delays are from the start to that first alarm; ``false_alarms_per_day``
    counts the alarms between ``WARM_UP`` and the start, per day.
    """
    start = int(INCIDENT_START / STEP)
    warm_up = int(WARM_UP / STEP)
    horizon = int(HORIZON / STEP)
    quiet_days = (INCIDENT_START - WARM_UP) / timedelta(days=1)
    rows = []
    for kind in KINDS:
        delays, false_alarms = [], 0
        for seed in seeds:
            alarms = np.flatnonzero(score(drill_series(kind, seed)) >= threshold)
            false_alarms += int(((alarms >= warm_up) & (alarms < start)).sum())
            caught = alarms[(alarms >= start) & (alarms < start + horizon)]
            if caught.size:
                delays.append((caught[0] - start) * STEP.total_seconds() / 60.0)
        rows.append(
            {
                "kind": kind,
                "series": len(seeds),
                "detected": len(delays),
                "median_delay_minutes": float(np.median(delays)) if delays else None,
                "max_delay_minutes": float(max(delays)) if delays else None,
                "false_alarms_per_day": false_alarms / (len(seeds) * quiet_days),
            }
        )
    return pl.DataFrame(rows, schema=DRILL_SCHEMA)
