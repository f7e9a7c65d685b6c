"""How each demo service behaves on a quiet day: volume, seasonality, errors, latency, probes.

Every baseline sits well inside the example contracts' targets, so that only the scripted events
breach anything.
"""

from __future__ import annotations

from dataclasses import dataclass

LOCATIONS = ("eu-west", "us-east", "ap-south")
"""Where the synthetic probes run from: one check per minute from each."""

BUCKET_BOUNDS = (0.05, 0.1, 0.25, 0.5, 0.8, 1.0, 2.0, 5.0)
"""Finite latency histogram bucket bounds, seconds; the last bucket is +Inf."""

BUCKET_LABELS = ("0.05", "0.1", "0.25", "0.5", "0.8", "1", "2", "5", "+Inf")
"""The ``le`` label of each bucket as written to the landing files."""

PROBE_FAILURE_RATE = 0.001
"""Share of probe checks that fail by chance (a slice needs half its checks to fail)."""

MIN_REQUESTS, MAX_REQUESTS = 50, 3000
"""Bounds of any minute's request count."""

GROWTH_PER_DAY = 0.001
"""Organic traffic growth (about +9% over 90 days), for the capacity forecasts."""


@dataclass(frozen=True)
class ServiceProfile:
    """A service's quiet-day behaviour.

    Volume peaks at 14:00 local time on weekdays and bottoms out at 02:00; latency follows a
    log-logistic distribution whose median grows a little with load.
    """

    peak_requests: float
    """Requests per minute at a weekday's business-hours peak."""
    night_share: float
    """Volume at the nightly low, as a share of the peak."""
    weekend_share: float
    """Saturday and Sunday volume as a share of the weekday volume at the same hour."""
    error_rate: float
    """Baseline share of failed requests."""
    latency_median: float = 0.1
    """Median latency in seconds at zero load."""
    latency_shape: float = 4.0
    """Log-logistic shape: the larger, the thinner the tail."""


PROFILES: dict[str, ServiceProfile] = {
    # acme-cloud (Europe/Berlin)
    "compute-api": ServiceProfile(2400, 0.3, 0.6, 5e-5, latency_median=0.08, latency_shape=4.0),
    # paylane-payments (America/New_York)
    "payments-api": ServiceProfile(1400, 0.2, 0.7, 5e-5, latency_median=0.12, latency_shape=4.5),
    "refunds-api": ServiceProfile(240, 0.35, 0.7, 1e-4),
    "payments-db": ServiceProfile(2000, 0.2, 0.7, 2e-5, latency_median=0.012, latency_shape=3.0),
    "webhooks": ServiceProfile(700, 0.25, 0.7, 2e-4, latency_median=0.3, latency_shape=4.0),
    # platform-team (Europe/London)
    "k8s-api": ServiceProfile(900, 0.15, 0.35, 1e-4),
    "artifact-registry": ServiceProfile(
        1100, 0.1, 0.3, 2e-4, latency_median=0.06, latency_shape=3.5
    ),
}
"""Profiles of the services measured by request counters (and latency histograms), and of the
dependencies declared without objectives (payments-db: queries and their latency); the services
measured by probes only fail at ``PROBE_FAILURE_RATE``."""
