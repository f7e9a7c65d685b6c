"""Random incidents of a long demo: seeded outages, slow degradations and error bursts on the
request-counter services over the whole range, so that a year of history holds many breached
and many met windows (material for ``pledge backtest``).

Only demos longer than RANDOM_INCIDENTS_AFTER_DAYS get them; the default 90-day demo keeps
only its scripted events. The clean month stays clear of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

import numpy as np
import polars as pl

from pipelines.demo.events import CalendarWindow, DemoRange

RANDOM_INCIDENTS_AFTER_DAYS = 120
"""Demos of more days than this get random incidents."""
INCIDENTS_PER_DAY = 2 / 30
"""Mean number of random incidents per service and day (about 2 a month)."""

IncidentShape = Literal["outage", "degradation", "burst"]
SHAPES: tuple[IncidentShape, ...] = ("outage", "degradation", "burst")
SHAPE_SHARES = (0.4, 0.2, 0.4)
"""How often each shape is drawn."""
OUTAGE_MINUTES = (10, 120)
"""Hard outage length bounds; the error rate is between OUTAGE_RATE and 0.99 throughout."""
OUTAGE_RATE = 0.6
DEGRADATION_DAYS = (2, 10)
"""Slow degradation length bounds: the error rate ramps linearly from zero to its peak (between
DEGRADATION_RATE bounds) over the whole length, then recovers at once."""
DEGRADATION_RATE = (0.0005, 0.006)
BURST_MINUTES = (15, 360)
"""Error burst length bounds, at a steady error rate between BURST_RATE bounds."""
BURST_RATE = (0.01, 0.15)


@dataclass(frozen=True)
class RandomIncident:
    """Extra failing requests of one service over ``[start, end)`` (UTC): at ``peak_error_rate``
    throughout (outage, burst) or ramping up to it (degradation)."""

    shape: IncidentShape
    service: str
    start: datetime
    end: datetime
    peak_error_rate: float


def random_incidents(
    span: DemoRange,
    services: Sequence[str],
    clean: CalendarWindow | None,
    rng: np.random.Generator,
) -> list[RandomIncident]:
    """The random incidents of ``services`` in ``span`` (none when the span is at most
    RANDOM_INCIDENTS_AFTER_DAYS days), in time order: per service a Poisson number of
    incidents (INCIDENTS_PER_DAY), uniform start minutes, a shape drawn by SHAPE_SHARES and a
    length and peak error rate uniform within that shape's bounds; those that do not fit in the
    span or overlap the ``clean`` month are dropped (after drawing, so the draws do not depend
    on which are kept)."""
    days = (span.end - span.start).days
    if days <= RANDOM_INCIDENTS_AFTER_DAYS:
        return []
    span_minutes = days * 1440
    incidents = []
    for service in services:
        count = rng.poisson(INCIDENTS_PER_DAY * days)
        starts = np.sort(rng.integers(0, span_minutes, count))
        shapes = rng.choice(len(SHAPES), count, p=SHAPE_SHARES)
        unit = rng.random((count, 2))
        bounds = {
            "outage": (OUTAGE_MINUTES, (OUTAGE_RATE, 0.99)),
            "degradation": (tuple(d * 1440 for d in DEGRADATION_DAYS), DEGRADATION_RATE),
            "burst": (BURST_MINUTES, BURST_RATE),
        }
        for start, shape_index, (u_length, u_rate) in zip(starts, shapes, unit, strict=True):
            shape = SHAPES[shape_index]
            (low, high), (rate_low, rate_high) = bounds[shape]
            begin = span.start + timedelta(minutes=int(start))
            end = begin + timedelta(minutes=int(low + u_length * (high - low)))
            incident = RandomIncident(
                shape,
                service,
                begin,
                end,
                round(float(rate_low + u_rate * (rate_high - rate_low)), 6),
            )
            if span.holds(begin, end) and (
                clean is None or end <= clean.start or begin >= clean.end
            ):
                incidents.append(incident)
    return sorted(incidents, key=lambda incident: (incident.start, incident.service))


def incident_error_rates(
    minutes: pl.Series, services: Sequence[str], incidents: Sequence[RandomIncident]
) -> np.ndarray:
    """Extra error rate per minute and service, float array (minutes, services): each
    incident's ``peak_error_rate`` over its period (ramping linearly from zero for a
    degradation), summed where incidents overlap."""
    extra = np.zeros((len(minutes), len(services)))
    first = minutes[0]
    for incident in incidents:
        if incident.service not in services:
            continue
        begin = int((incident.start - first) / timedelta(minutes=1))
        end = int((incident.end - first) / timedelta(minutes=1))
        profile = np.full(end - begin, incident.peak_error_rate)
        if incident.shape == "degradation":
            profile *= np.arange(1, end - begin + 1) / (end - begin)
        extra[begin:end, services.index(incident.service)] += profile
    return extra
