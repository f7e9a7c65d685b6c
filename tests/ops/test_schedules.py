"""Schedule ticks: which days an ingest run covers, and one monthly schedule per contract zone."""

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import dagster as dg

from pipelines.contracts.loader import load_contracts
from pipelines.definitions import defs
from pipelines.ops.jobs import PARTITION_RANGE_END, PARTITION_RANGE_START
from pipelines.ops.schedules import (
    contract_zones,
    ingest_often,
    monthly_summary_schedules,
    predict_and_report,
    tick_days,
    zone_slug,
)
from pipelines.settings import REPO_ROOT


def test_a_tick_covers_today_and_yesterday_only_after_midnight():
    assert tick_days(datetime(2026, 11, 26, 10, 15, tzinfo=UTC)) == (
        date(2026, 11, 26),
        date(2026, 11, 26),
    )
    assert tick_days(datetime(2026, 11, 26, 2, 45, tzinfo=UTC)) == (
        date(2026, 11, 25),
        date(2026, 11, 26),
    )
    assert tick_days(datetime(2026, 11, 26, 3, 0, tzinfo=UTC))[0] == date(2026, 11, 26)
    # a tick given in another zone is placed in UTC days: 01:30 in Berlin is 00:30 UTC
    berlin = datetime(2026, 11, 26, 1, 30, tzinfo=ZoneInfo("Europe/Berlin"))
    assert tick_days(berlin) == (date(2026, 11, 25), date(2026, 11, 26))


def test_an_ingest_tick_requests_todays_partition():
    assert ingest_often.cron_schedule == "*/15 * * * *"
    context = dg.build_schedule_context(
        instance=dg.DagsterInstance.ephemeral(),
        repository_def=defs.get_repository_def(),
        scheduled_execution_time=datetime(2026, 11, 26, 10, 15, tzinfo=UTC),
    )
    [request] = ingest_often.evaluate_tick(context).run_requests
    assert request.partition_key == "2026-11-26"
    assert request.job_name in (None, "ingest_and_windows")


def test_an_ingest_tick_after_midnight_requests_yesterday_and_today_in_one_run():
    context = dg.build_schedule_context(
        instance=dg.DagsterInstance.ephemeral(),
        repository_def=defs.get_repository_def(),
        scheduled_execution_time=datetime(2026, 11, 26, 0, 15, tzinfo=UTC),
    )
    [request] = ingest_often.evaluate_tick(context).run_requests
    assert request.partition_key is None
    assert request.tags[PARTITION_RANGE_START] == "2026-11-25"
    assert request.tags[PARTITION_RANGE_END] == "2026-11-26"


def test_predictions_and_reports_run_daily():
    assert predict_and_report.cron_schedule == "30 5 * * *"
    assert predict_and_report.execution_timezone == "UTC"
    assert predict_and_report.job_name == "predict_and_report"


def test_one_monthly_schedule_per_contract_zone():
    contracts, problems = load_contracts(REPO_ROOT / "examples" / "contracts")
    assert not problems
    zones = contract_zones(contracts)
    assert zones == ["America/New_York", "Europe/Berlin", "Europe/London"]
    schedules = monthly_summary_schedules(zones)
    assert [schedule.execution_timezone for schedule in schedules] == zones
    for schedule in schedules:
        assert schedule.cron_schedule == "0 6 1 * *"
        assert schedule.name == f"monthly_summary_{zone_slug(schedule.execution_timezone)}"
        assert schedule.job_name == "monthly_summary"
    assert zone_slug("America/New_York") == "america_new_york"


def test_a_monthly_tick_at_six_local_time_tags_its_zone():
    [schedule] = monthly_summary_schedules(["America/New_York"])
    tick = datetime(2026, 12, 1, 6, 0, tzinfo=ZoneInfo("America/New_York"))
    context = dg.build_schedule_context(
        instance=dg.DagsterInstance.ephemeral(),
        repository_def=defs.get_repository_def(),
        scheduled_execution_time=tick,
    )
    [request] = schedule.evaluate_tick(context).run_requests
    assert request.tags["pledge/time_zone"] == "America/New_York"


def test_no_contracts_means_no_monthly_schedules(tmp_path):
    contracts, _ = load_contracts(tmp_path / "missing")
    assert monthly_summary_schedules(contract_zones(contracts)) == []
