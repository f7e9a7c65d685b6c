"""Working-time arithmetic in contract calendars, hand-computed (Europe/Berlin unless stated)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sla_support import business_deadline, business_seconds

from pipelines.contracts.schema import Calendar, Contract
from pipelines.sla.calendar import objective_calendar

BERLIN = ZoneInfo("Europe/Berlin")
OFFICE = Calendar()  # Monday to Friday, 08:00-17:00
UTC_US = pl.Datetime("us", "UTC")
HOUR = 3600.0


def berlin(text: str) -> datetime:
    """A wall-clock time in Berlin as a UTC instant."""
    return datetime.fromisoformat(text).replace(tzinfo=BERLIN).astimezone(UTC)


def between(calendar: Calendar | None, *spans: tuple[str, str]) -> list[float]:
    frame = pl.DataFrame(
        {"start": [berlin(a) for a, _ in spans], "end": [berlin(b) for _, b in spans]},
        schema={"start": UTC_US, "end": UTC_US},
    )
    return business_seconds(frame, calendar, BERLIN).to_list()


def deadlines(calendar: Calendar | None, *starts: tuple[str, float]) -> list[datetime]:
    frame = pl.DataFrame(
        {"start": [berlin(a) for a, _ in starts], "seconds": [s for _, s in starts]},
        schema={"start": UTC_US, "seconds": pl.Float64},
    )
    return business_deadline(frame, calendar, BERLIN).to_list()


def test_friday_night_to_monday_morning_is_ninety_business_minutes():
    # the case: Fri 2026-03-06 21:00 to Mon 09:30 = 1h30m business, 60h30m actual
    span = ("2026-03-06 21:00", "2026-03-09 09:30")
    assert between(OFFICE, span) == [1.5 * HOUR]
    assert between(None, span) == [60.5 * HOUR]


def test_several_intervals_in_one_pass_and_nulls_stay_null():
    frame = pl.DataFrame(
        {
            "start": [berlin("2026-03-09 07:00"), berlin("2026-03-09 12:00"), None],
            # inside one day; across a week (5 days: Mon 12:00 .. Mon 12:00 = 45h); missing start
            "end": [berlin("2026-03-09 10:15"), berlin("2026-03-16 12:00"), berlin("2026-03-09")],
        },
        schema={"start": UTC_US, "end": UTC_US},
    )
    assert business_seconds(frame, OFFICE, BERLIN).to_list() == [2.25 * HOUR, 45 * HOUR, None]


def test_public_holidays_of_the_country_and_subdivision_do_not_count():
    # Thu 2026-12-24 16:00 to Mon 28 10:00: Fri 25 (Christmas) is a public holiday in Germany
    christmas = ("2026-12-24 16:00", "2026-12-28 10:00")
    assert between(OFFICE, christmas) == [(1 + 9 + 2) * HOUR]
    assert between(Calendar(holidays={"country": "DE"}), christmas) == [(1 + 2) * HOUR]
    # Tue 2026-01-06 (Epiphany) is a holiday in Bavaria, not in Berlin
    epiphany = ("2026-01-05 16:00", "2026-01-07 09:00")
    bavaria = Calendar(holidays={"country": "DE", "subdivision": "BY"})
    berlin_state = Calendar(holidays={"country": "DE", "subdivision": "BE"})
    assert between(bavaria, epiphany) == [(1 + 1) * HOUR]
    assert between(berlin_state, epiphany) == [(1 + 9 + 1) * HOUR]


def test_explicit_dates_and_other_days_and_hours():
    shop = Calendar(days=["saturday"], hours=("10:00", "12:30"), dates=[date(2026, 3, 14)])
    # Sat 7 (2.5h), Sat 14 closed by date, Sat 21 until 11:00 (1h)
    assert between(shop, ("2026-03-06 00:00", "2026-03-21 11:00")) == [3.5 * HOUR]


@pytest.mark.parametrize(
    ("start", "end", "business", "actual"),
    [
        # spring forward (Sun 2026-03-29): Fri 16:00 +01:00 to Mon 09:00 +02:00 = 64h wall clock
        ("2026-03-27 16:00", "2026-03-30 09:00", 2, 64),
        # fall back (Sun 2026-10-25): Fri 16:00 +02:00 to Mon 09:00 +01:00 = 66h wall clock
        ("2026-10-23 16:00", "2026-10-26 09:00", 2, 66),
    ],
)
def test_office_hours_stay_local_across_dst_weekends(start, end, business, actual):
    assert between(OFFICE, (start, end)) == [business * HOUR]
    assert between(None, (start, end)) == [actual * HOUR]
    # the Monday opening moved by an hour in UTC
    assert deadlines(OFFICE, (start, 2 * HOUR)) == [berlin(end)]


def test_deadline_lands_where_the_business_time_runs_out():
    assert deadlines(
        OFFICE,
        ("2026-03-06 21:00", 1.5 * HOUR),  # Mon 09:30
        ("2026-03-09 16:00", 3 * HOUR),  # 1h Monday, 2h Tuesday: Tue 10:00
        ("2026-03-09 16:00", 1 * HOUR),  # exactly at closing: Mon 17:00
        ("2026-03-07 12:00", 0),  # no time to run: the start itself
        ("2026-03-06 21:00", 40 * 9 * HOUR),  # 40 working days: 8 weeks on, Fri 1 May 17:00
    ) == [
        berlin("2026-03-09 09:30"),
        berlin("2026-03-10 10:00"),
        berlin("2026-03-09 17:00"),
        berlin("2026-03-07 12:00"),
        berlin("2026-05-01 17:00"),
    ]
    with_holidays = Calendar(holidays={"country": "DE"})
    # Good Friday (Apr 3), Easter Monday (Apr 6) and May 1 drop out: 3 more days, Wed 6 May
    assert deadlines(with_holidays, ("2026-03-06 21:00", 40 * 9 * HOUR)) == [
        berlin("2026-05-06 17:00")
    ]
    assert deadlines(None, ("2026-03-06 21:00", 1.5 * HOUR)) == [berlin("2026-03-06 22:30")]


@settings(max_examples=40, deadline=None)
@given(
    start=st.datetimes(datetime(2026, 1, 1), datetime(2027, 12, 31)),
    seconds=st.integers(1, 200 * 3600),
)
def test_business_time_to_the_deadline_is_the_time_asked_for(start, seconds):
    calendar = Calendar(holidays={"country": "DE"})
    begin = start.replace(tzinfo=UTC)
    deadline = business_deadline(
        pl.DataFrame({"start": [begin], "seconds": [seconds]}, schema_overrides={"start": UTC_US}),
        calendar,
        BERLIN,
    ).item()
    span = pl.DataFrame({"start": [begin], "end": [deadline]}, schema_overrides={"start": UTC_US})
    assert business_seconds(span, calendar, BERLIN).item() == seconds
    assert deadline - begin >= timedelta(seconds=seconds)


def test_objective_calendar_resolves_the_name():
    contract = Contract.model_validate(
        {
            "id": "desk",
            "title": "Desk",
            "provider": "IT",
            "consumer": "Staff",
            "services": [{"id": "desk"}],
            "calendars": {"office": {"hours": ["09:00", "18:00"]}},
            "objectives": [
                {"id": "a", "service": "desk", "sli": {"kind": "availability"}, "target": 0.9},
                {
                    "id": "b",
                    "service": "desk",
                    "sli": {"kind": "availability"},
                    "target": 0.9,
                    "calendar": "office",
                },
            ],
        }
    )
    always, office = (objective_calendar(contract, o) for o in contract.objectives)
    assert always is None
    assert office is not None and office.hours[0].hour == 9
