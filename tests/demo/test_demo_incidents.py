from datetime import UTC, date, datetime, timedelta

import numpy as np

from pipelines.demo.events import DemoRange, month_window
from pipelines.demo.incidents import RandomIncident, incident_error_rates, random_incidents
from pipelines.demo.traffic import minute_grid

SERVICES = ["compute-api", "refunds-api"]


def test_no_random_incidents_up_to_120_days():
    span = DemoRange.ending(date(2026, 11, 1), 120)
    assert random_incidents(span, SERVICES, None, np.random.default_rng(1)) == []


def test_random_incidents_are_seeded_inside_the_range_and_clear_of_the_clean_month():
    span = DemoRange.ending(date(2026, 11, 1), 365)
    clean = month_window(2026, 1, "UTC")
    incidents = random_incidents(span, SERVICES, clean, np.random.default_rng(3))
    assert incidents == random_incidents(span, SERVICES, clean, np.random.default_rng(3))
    # about 2 per service and month: 48.7 expected, less those dropped
    assert 30 <= len(incidents) <= 60
    assert {incident.shape for incident in incidents} == {"outage", "degradation", "burst"}
    assert all(span.holds(i.start, i.end) for i in incidents)
    assert all(i.end <= clean.start or i.start >= clean.end for i in incidents)
    outages = [i for i in incidents if i.shape == "outage"]
    assert all(timedelta(minutes=10) <= i.end - i.start <= timedelta(minutes=120) for i in outages)
    assert all(0.6 <= i.peak_error_rate <= 0.99 for i in outages)


def test_error_rates_of_a_ramp_and_an_overlapping_burst():
    start = datetime(2026, 1, 1, tzinfo=UTC)
    minutes = minute_grid(start, start + timedelta(minutes=6))
    incidents = [
        RandomIncident("degradation", "refunds-api", start, start + timedelta(minutes=4), 0.4),
        RandomIncident(
            "burst", "refunds-api", start + timedelta(minutes=3), start + timedelta(minutes=5), 0.5
        ),
        RandomIncident("outage", "webhooks", start, start + timedelta(minutes=6), 0.9),
    ]
    extra = incident_error_rates(minutes, SERVICES, incidents)
    assert extra[:, 0].tolist() == [0.0] * 6
    assert np.allclose(extra[:, 1], [0.1, 0.2, 0.3, 0.9, 0.5, 0.0])
