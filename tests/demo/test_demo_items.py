"""The demo's item evidence: the new example contracts, landing files that ingest loads without
a reject, and the scripted item events visible in them."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl
import pytest

from pipelines.contracts.loader import load_contracts
from pipelines.contracts.schema import Calendar
from pipelines.contracts.sources import load_sources
from pipelines.demo import generate_demo
from pipelines.demo.ticket_texts import SHORT_DESCRIPTIONS
from pipelines.demo.truth import walked_business_seconds
from pipelines.ingest.parse import parse_landing_file
from pipelines.settings import REPO_ROOT
from pipelines.sla.tickets import ticket_timers
from tests.sla.sla_support import business_seconds

END = date(2026, 12, 3)
ITEM_SOURCES = ("servicenow", "security", "backups", "restores", "surveys")
BERLIN = ZoneInfo("Europe/Berlin")


def _generate(home: Path, end: date, days: int) -> dict:
    with pytest.MonkeyPatch.context() as patch:
        for variable in ("PLEDGE_HOME", "PLEDGE_CONTRACTS", "PLEDGE_SOURCES", "PLEDGE_LANDING"):
            patch.delenv(variable, raising=False)
        return generate_demo(home, end=end, days=days)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, dict[str, pl.DataFrame]]:
    home = tmp_path_factory.mktemp("items")
    truth = _generate(home, END, 21)
    contracts, _ = load_contracts(home / "contracts")
    services = {s.id for c in contracts for s in c.services}
    sources = load_sources(home / "sources.yaml")
    rows = {}
    for name in ITEM_SOURCES:
        parsed = [
            parse_landing_file(path, sources[name], services)
            for path in sorted((home / "landing").glob(sources[name].path))
        ]
        assert parsed, name
        assert sum(p.rejects.height for p in parsed) == 0, name
        rows[name] = pl.concat([p.rows for p in parsed])
    return home, truth, rows


def _event(truth: dict, kind: str) -> dict:
    return next(e for e in truth["events"] if e["kind"] == kind)


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_the_new_example_contracts_validate() -> None:
    contracts, problems = load_contracts(REPO_ROOT / "examples/contracts")
    assert problems == []
    objectives = {c.id: [o.id for o in c.objectives] for c in contracts}
    assert objectives["service-desk"] == [
        "p1-p2-resolution",
        "first-response",
        "mttr",
        "first-contact-resolution",
        "csat",
        "nps",
    ]
    assert objectives["security-and-backup"] == [
        "time-to-detect",
        "time-to-contain",
        "orders-rpo",
        "orders-rto",
    ]


def test_item_files_load_with_realistic_volumes(demo) -> None:
    _, _, rows = demo
    tickets = rows["servicenow"]
    opened = tickets.filter(pl.col("state") == "New").with_columns(
        day=pl.col("ts").dt.convert_time_zone("Europe/Berlin").dt.date()
    )
    per_day = opened.group_by("day").len().sort("day")
    weekday = per_day.filter(pl.col("day").dt.weekday() <= 5)["len"]
    weekend = per_day.filter(pl.col("day").dt.weekday() > 5)["len"]
    assert weekday.min() >= 30 and weekday.max() <= 80
    assert weekend.max() <= 15
    assert set(tickets["state"]) == {"New", "Active", "Awaiting User Info", "Resolved", "Closed"}
    assert set(tickets["priority"]) == {"1 - Critical", "2 - High", "3 - Moderate", "4 - Low"}
    assert tickets["reassignment_count"].max() == 1 and tickets["reopen_count"].max() == 1
    backups = rows["backups"]
    assert backups.height == 21 and backups["success"].sum() == 20
    assert rows["restores"]["started_at"].dt.weekday().unique().to_list() == [3]
    surveys = rows["surveys"]
    assert surveys.filter(pl.col("survey") == "csat")["score"].is_between(1, 5).all()
    assert surveys.filter(pl.col("survey") == "nps")["score"].is_between(0, 10).all()


def test_the_p1_ticket_resolves_more_than_4_business_hours_after_it_opened(demo) -> None:
    home, truth, rows = demo
    event = _event(truth, "p1_breach")
    ticket = rows["servicenow"].filter(pl.col("ticket_id") == event["ticket_id"])
    assert ticket["priority"].unique().to_list() == ["1 - Critical"]
    span = ticket.select(
        start=pl.col("opened_at").first(),
        end=pl.col("ts").filter(pl.col("state") == "Resolved").first(),
    )
    office = Calendar(holidays={"country": "DE", "subdivision": "BE"})
    assert business_seconds(span, office, BERLIN).to_list() == [8 * 3600.0]
    assert (event["ticket_within_target"], event["window_label"]) == (False, "2026-11")


def test_every_ticket_has_one_short_description_of_its_category(demo) -> None:
    _, truth, rows = demo
    tickets = (
        rows["servicenow"]
        .group_by("ticket_id")
        .agg(
            pl.col("category").first(),
            pl.col("short_description").unique(),
        )
    )
    assert tickets["short_description"].list.len().unique().to_list() == [1]
    described = tickets.with_columns(pl.col("short_description").list.first())
    p1 = _event(truth, "p1_breach")["ticket_id"]
    assert described.filter(pl.col("ticket_id") == p1)["short_description"].to_list() == [
        "Tills in all stores cannot reach the order server"
    ]
    quiet = described.filter(pl.col("ticket_id") != p1)
    assert all(
        text in SHORT_DESCRIPTIONS[category]
        for category, text in quiet.select("category", "short_description").iter_rows()
    )
    # the three texts of each category in turn, so each is used
    assert quiet["short_description"].n_unique() == 15


def test_the_missed_night_has_no_successful_backup_and_a_gap_over_26_hours(demo) -> None:
    _, truth, rows = demo
    event = _event(truth, "missed_backup")
    night = date.fromisoformat(event["night"])
    backups = rows["backups"].with_columns(
        night=pl.col("started_at").dt.convert_time_zone("Europe/Berlin").dt.date()
    )
    assert backups.filter(pl.col("night") == night)["success"].to_list() == [False]
    gaps = backups.filter("success")["finished_at"].diff().dt.total_hours()
    assert (gaps > 26).sum() == 1 and 47 <= gaps.max() <= 48
    assert event["gap_hours"] > 26 and event["expected_status"] == "breached"


def test_the_slow_containment_lifts_its_month_mean_above_4_hours(demo) -> None:
    _, truth, rows = demo
    event = _event(truth, "slow_containment")
    start, end = _utc(event["window_start"]), _utc(event["window_end"])
    contain = rows["security"].filter(pl.col("contained_at").is_between(start, end, "left"))
    hours = (contain["contained_at"] - contain["detected_at"]).dt.total_seconds() / 3600
    assert hours.mean() > 4 and hours.mean() == pytest.approx(event["mean_contain_hours"])
    assert (hours > 4).sum() == 1


def test_the_nps_dip_puts_the_month_below_20(demo) -> None:
    _, truth, rows = demo
    event = _event(truth, "nps_dip")
    start, end = _utc(event["window_start"]), _utc(event["window_end"])
    nps = rows["surveys"].filter(
        pl.col("survey") == "nps", pl.col("ts").is_between(start, end, "left")
    )["score"]
    assert 100 * ((nps >= 9).mean() - (nps <= 6).mean()) == pytest.approx(event["nps"])
    assert event["nps"] < 20 and event["expected_status"] == "breached"


def test_a_weekday_holiday_is_off_in_the_office_calendar(tmp_path: Path) -> None:
    truth = _generate(tmp_path, date(2026, 12, 31), 14)
    event = _event(truth, "public_holiday")
    assert (event["holiday"], event["holiday_name"]) == ("2026-12-25", "Christmas Day")
    ticket = pl.DataFrame({"start": [_utc(event["start"])], "end": [_utc(event["end"])]})
    with_holidays = Calendar(holidays={"country": "DE", "subdivision": "BE"})
    assert business_seconds(ticket, with_holidays, BERLIN).to_list() == [5 * 3600.0]
    assert business_seconds(ticket, Calendar(), BERLIN).to_list() == [14 * 3600.0]
    assert event["ticket_within_target"] and event["expected_status"] == "on_track"
    assert _utc(event["start"]) == datetime(2026, 12, 24, 14, tzinfo=UTC)


def _pipeline_ticket_hours(home: Path, truth: dict, event: dict) -> tuple[float, int, int]:
    """The pipeline's business hours for the event's ticket, and its good and total P1/P2
    tickets resolved in the event's window (``sla.tickets`` on the demo's ticket events)."""
    contracts, _ = load_contracts(home / "contracts")
    contract = next(c for c in contracts if c.id == event["contract_id"])
    objective = contract.objective("p1-p2-resolution")
    sources = load_sources(home / "sources.yaml")
    files = sorted((home / "landing").glob(sources["servicenow"].path))
    services = {service.id for service in contract.services}
    events = pl.concat([parse_landing_file(p, sources["servicenow"], services).rows for p in files])
    timers = ticket_timers(events, contract, objective, _utc(truth["end"]))
    in_window = timers.filter(
        pl.col("timer_state") == "completed",
        pl.col("target_seconds").is_not_null(),
        pl.col("stopped_at").is_between(
            _utc(event["window_start"]), _utc(event["window_end"]), "left"
        ),
    )
    ticket = timers.filter(pl.col("ticket_id") == event["ticket_id"])
    good = in_window.filter(~pl.col("breached")).height
    return ticket["business_seconds"].item() / 3600, good, in_window.height


def test_the_truth_walks_business_minutes_itself() -> None:
    office = Calendar(holidays={"country": "DE", "subdivision": "BE"})
    christmas_eve = datetime(2026, 12, 24, 14, tzinfo=UTC)  # 15:00 in Berlin, a Thursday
    after_boxing_day = datetime(2026, 12, 28, 12, 30, 30, tzinfo=UTC)  # Monday 13:30:30
    # Thursday 15:00–17:00 (2 h), Friday 25th and Saturday 26th off, Monday 08:00–13:30:30
    assert walked_business_seconds(christmas_eve, after_boxing_day, office, BERLIN) == (
        2 * 3600 + 5 * 3600 + 30 * 60 + 30
    )
    # the night of the DST change (29 March 2026, a Sunday) is not working time
    spring = datetime(2026, 3, 27, 15, tzinfo=UTC), datetime(2026, 3, 30, 7, 0, tzinfo=UTC)
    assert walked_business_seconds(*spring, Calendar(), BERLIN) == 1 * 3600 + 1 * 3600


def test_the_truth_catches_a_business_hours_function_that_forgets_holidays(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    truth = _generate(tmp_path, date(2026, 12, 31), 14)
    event = _event(truth, "public_holiday")
    measured = (event["ticket_business_hours"], event["good"], event["total"])
    assert _pipeline_ticket_hours(tmp_path, truth, event) == measured

    def every_weekday(calendar: Calendar, first: date, last: date) -> list[date]:
        days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
        return [day for day in days if day.weekday() < 5]

    monkeypatch.setattr("pipelines.sla.calendar._working_days", every_weekday)
    wrong = _pipeline_ticket_hours(tmp_path, truth, event)
    assert wrong[0] == event["ticket_business_hours"] + 9 != event["ticket_business_hours"]
    regenerated = _generate(tmp_path / "again", date(2026, 12, 31), 14)
    assert _event(regenerated, "public_holiday") == event  # the truth does not move with it
