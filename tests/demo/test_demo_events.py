"""Placing the scripted events and the clean month, and what the events do to the evidence."""

from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np
import pytest

from pipelines.contracts.loader import load_contract
from pipelines.demo.events import (
    DEGRADATION_BREACH_LEAD,
    DemoRange,
    calendar_month,
    clean_month,
    degradation_ramp,
    error_rates_with_events,
    medians_with_events,
    probe_failure_rates,
    scripted_events,
)
from pipelines.demo.traffic import minute_grid
from pipelines.demo.truth import expected_status
from pipelines.settings import REPO_ROOT

ZONES = ["America/New_York", "Europe/Berlin", "Europe/London"]


@pytest.fixture(scope="module")
def contracts() -> dict:
    examples = REPO_ROOT / "examples/contracts"
    return {c.id: c for c in map(load_contract, sorted(examples.glob("*.yaml")))}


def _utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def test_range_is_the_whole_utc_days_before_end() -> None:
    span = DemoRange.ending(date(2026, 12, 3), 14)
    assert (span.start, span.end) == (_utc(2026, 11, 19), _utc(2026, 12, 3))


def test_calendar_month_is_bounded_in_the_contract_zone() -> None:
    late = calendar_month(_utc(2026, 11, 30, 23, 30), "Europe/Berlin")
    assert late.label == "2026-12"  # already December in Berlin
    berlin = calendar_month(_utc(2026, 11, 15), "Europe/Berlin")
    assert (berlin.label, berlin.start, berlin.end) == (
        "2026-11",
        _utc(2026, 10, 31, 23),
        _utc(2026, 11, 30, 23),
    )
    new_york = calendar_month(_utc(2026, 11, 15), "America/New_York")
    assert (new_york.start, new_york.end) == (_utc(2026, 11, 1, 4), _utc(2026, 12, 1, 5))


def test_clean_month_is_the_first_month_complete_in_every_zone() -> None:
    assert clean_month(DemoRange.ending(date(2026, 11, 21), 90), ZONES).label == "2026-09"
    # Starting at midnight UTC on 1 September misses Berlin's first two hours of September.
    assert clean_month(DemoRange(_utc(2026, 9, 1), _utc(2026, 11, 30)), ZONES).label == "2026-10"
    # October ends in New York at 04:00 UTC on 1 November.
    assert clean_month(DemoRange(_utc(2026, 9, 30, 21), _utc(2026, 11, 1, 4)), ZONES) is not None
    assert clean_month(DemoRange(_utc(2026, 9, 30, 21), _utc(2026, 11, 1, 3)), ZONES) is None
    assert clean_month(DemoRange.ending(date(2026, 12, 3), 14), ZONES) is None


def test_events_of_a_14_day_range_fall_at_their_scripted_local_times(contracts: dict) -> None:
    events = scripted_events(DemoRange.ending(date(2026, 12, 3), 14), contracts, clean=None)
    assert [(e.kind, e.service, e.start, e.end, e.window.label) for e in events] == [
        # the last 10 days of November in New York
        ("slow_degradation", "refunds-api", _utc(2026, 11, 21, 5), _utc(2026, 12, 1, 5), "2026-11"),
        # 08:00-18:00 EST, 10 days before the end
        (
            "latency_regression",
            "payments-api",
            _utc(2026, 11, 23, 13),
            _utc(2026, 11, 23, 23),
            "2026-11",
        ),
        # 01:00-04:00 CET on Tuesday 24 November, the last Tuesday at least 6 days before the end
        ("maintenance", "object-storage", _utc(2026, 11, 24, 0), _utc(2026, 11, 24, 3), "2026-11"),
        # 11:00-12:00 EST, 7 days before the end: the database behind payments-api slows down
        (
            "dependency_failure",
            "payments-db",
            _utc(2026, 11, 26, 16),
            _utc(2026, 11, 26, 17),
            "2026-11",
        ),
        # 13:30-14:15 CET, 4 days before the end
        (
            "hard_outage",
            "compute-api",
            _utc(2026, 11, 29, 12, 30),
            _utc(2026, 11, 29, 13, 15),
            "2026-11",
        ),
    ]
    assert [e.objective_id for e in events] == [
        "refunds-availability",
        "payments-p99",
        "storage-uptime",
        "payments-availability",
        "compute-availability",
    ]
    assert [e.target for e in events] == [0.999, 0.99, 0.999, 0.9995, 0.9995]
    assert [e.dependent for e in events] == [None, None, None, "payments-api", None]


def test_only_events_that_fit_in_the_range_are_kept(contracts: dict) -> None:
    events = scripted_events(DemoRange.ending(date(2026, 12, 3), 5), contracts, clean=None)
    assert [e.kind for e in events] == ["hard_outage"]
    assert scripted_events(DemoRange.ending(date(2026, 12, 3), 3), contracts, clean=None) == []


def test_degradation_skips_the_clean_month(contracts: dict) -> None:
    # 2 August to 31 October: September is the only complete month, so it stays clean and the
    # ramp goes to the end of August (in range from its second day).
    span = DemoRange(_utc(2026, 8, 2), _utc(2026, 10, 31))
    clean = clean_month(span, ZONES)
    assert clean is not None and clean.label == "2026-09"
    events = scripted_events(span, contracts, clean)
    degradation = next(e for e in events if e.kind == "slow_degradation")
    assert (degradation.window.label, degradation.start) == ("2026-08", _utc(2026, 8, 22, 4))
    # In New York, September begins when the ramp ends (Berlin's began six hours earlier).
    assert degradation.end == _utc(2026, 9, 1, 4) == calendar_month(degradation.end, ZONES[0]).start
    assert [(e.kind, e.window.label) for e in events] == [
        ("slow_degradation", "2026-08"),
        ("maintenance", "2026-10"),
        ("latency_regression", "2026-10"),
        ("dependency_failure", "2026-10"),
        ("hard_outage", "2026-10"),
    ]


def test_degradation_ramp_crosses_the_target_at_its_designed_time(contracts: dict) -> None:
    span = DemoRange(_utc(2026, 10, 1), _utc(2026, 11, 3))
    event = next(e for e in scripted_events(span, contracts, None) if e.kind == "slow_degradation")
    minutes = minute_grid(span.start, span.end)
    volumes = np.full(len(minutes), 100)
    base_rates = np.full(len(minutes), 0.0002)
    extra = degradation_ramp(minutes, volumes, base_rates, event)
    ramp = ((minutes >= event.start) & (minutes < event.end)).to_numpy()
    assert (extra[~ramp] == 0).all()
    assert np.all(np.diff(extra[ramp]) > 0)
    # Expected attainment from the window's first minute (1 October 04:00 UTC) to the design
    # point is exactly the target: flat volume, so the mean error rate there is 0.1%.
    window = (minutes >= event.window.start) & (minutes < event.end - DEGRADATION_BREACH_LEAD)
    mean_rate = (base_rates + extra)[window.to_numpy()].mean()
    assert mean_rate == pytest.approx(0.001, rel=1e-9)
    # By hand: 29 days from the window's start to the design point, the last 8 of them ramping
    # with a mean weight of 0.4, so peak × 0.4 × 8 days = (0.001 − 0.0002) × 29 days.
    assert extra.max() == pytest.approx(0.0008 * 29 / 3.2, rel=1e-3)


def test_outage_sets_the_error_rate_and_maintenance_fails_every_probe(contracts: dict) -> None:
    span = DemoRange.ending(date(2026, 12, 3), 14)
    events = scripted_events(span, contracts, None)
    minutes = minute_grid(span.start, span.end)
    services = ["compute-api", "refunds-api"]
    base = np.full((len(minutes), 2), 0.0001)
    rates = error_rates_with_events(
        minutes, services, np.full((len(minutes), 2), 500), base, events
    )
    outage = (minutes >= _utc(2026, 11, 29, 12, 30)) & (minutes < _utc(2026, 11, 29, 13, 15))
    outage = outage.to_numpy()
    assert (rates[outage, 0] == 0.99).all() and outage.sum() == 45
    assert (rates[~outage, 0] == 0.0001).all()
    assert (rates[:, 1] > 0.0001).sum() == 10 * 1440 - 1  # the ramp's first minute adds 0
    failures = probe_failure_rates(minutes, ["object-storage", "dns"], 3, 0.001, events)
    maintenance = ((minutes >= _utc(2026, 11, 24)) & (minutes < _utc(2026, 11, 24, 3))).to_numpy()
    assert (failures[maintenance, 0, :] == 1).all()
    assert (failures[~maintenance, 0, :] == 0.001).all() and (failures[:, 1, :] == 0.001).all()


def test_dependency_failure_slows_the_database_and_fails_payments_3_minutes_later(
    contracts: dict,
) -> None:
    span = DemoRange.ending(date(2026, 12, 3), 14)
    events = scripted_events(span, contracts, None)
    minutes = minute_grid(span.start, span.end)
    services = ["payments-api", "payments-db"]
    rates = error_rates_with_events(
        minutes, services, np.full((len(minutes), 2), 500), np.full((len(minutes), 2), 1e-4), events
    )
    failing = (minutes >= _utc(2026, 11, 26, 16, 3)) & (minutes < _utc(2026, 11, 26, 17, 3))
    failing = failing.to_numpy()
    assert failing.sum() == 60
    assert rates[failing, 0] == pytest.approx(0.0201)
    assert (rates[~failing, 0] == 1e-4).all() and (rates[:, 1] == 1e-4).all()
    medians = medians_with_events(minutes, services, np.full((len(minutes), 2), 0.01), events)
    slow = ((minutes >= _utc(2026, 11, 26, 16)) & (minutes < _utc(2026, 11, 26, 17))).to_numpy()
    assert medians[slow, 1] == pytest.approx(0.25)
    assert (medians[~slow, 1] == 0.01).all()
    # The latency regression of payments-api (23 November) is the only other slowdown.
    assert (medians[:, 0] > 0.01).sum() == 600


def test_expected_status_depends_on_whether_the_window_ended_in_range() -> None:
    span = DemoRange.ending(date(2026, 12, 3), 14)
    ended = calendar_month(_utc(2026, 11, 15), "Europe/Berlin")
    running = calendar_month(_utc(2026, 12, 1), "Europe/Berlin")
    assert [expected_status(ended, span, met) for met in (True, False)] == ["met", "breached"]
    assert [expected_status(running, span, m) for m in (True, False)] == ["on_track", "breaching"]
    assert ended.end == _utc(2026, 11, 30, 23) and running.end > span.end
