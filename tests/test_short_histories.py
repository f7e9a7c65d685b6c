"""Little evidence never crashes: demos of 1, 7 and 21 days and a tickets-only import of an old
export run to exit 0 with reports; too little history is an ``insufficient_history`` prediction,
and ``as_of`` is the end of the latest evidence of any kind."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from pipelines import warehouse
from pipelines.cli import main
from pipelines.settings import REPO_ROOT
from tests.conftest import DEMO_END, PLEDGE_VARIABLES

CONTRACTS = (
    "acme-cloud",
    "paylane-payments",
    "platform-team",
    "security-and-backup",
    "service-desk",
)
TRAFFIC_OBJECTIVES = 11
ITEM_OBJECTIVES = {
    "csat",
    "first-contact-resolution",
    "first-response",
    "mttr",
    "nps",
    "orders-rpo",
    "orders-rto",
    "p1-p2-resolution",
    "time-to-contain",
    "time-to-detect",
}
"""The demo's objectives judged on traffic (how many: forecast) and on items (simulated)."""


def predictions(home: Path) -> pl.DataFrame:
    with warehouse.connect(home / "warehouse.duckdb", read_only=True) as con:
        return warehouse.query(con, "SELECT * FROM predict.breach_risk ORDER BY ALL")


@pytest.fixture(scope="module", params=[1, 7, 21])
def short_demo(request, tmp_path_factory: pytest.TempPathFactory) -> tuple[int, Path]:
    """`pledge demo --days N --end DEMO_END` in a temporary home: (N, home)."""
    days = request.param
    home = tmp_path_factory.mktemp(f"demo{days}") / "home"
    with pytest.MonkeyPatch.context() as env:
        for variable in PLEDGE_VARIABLES:
            env.delenv(variable, raising=False)
        argv = ["demo", "--home", str(home), "--days", str(days), "--end", DEMO_END.isoformat()]
        assert main(argv) == 0
    return days, home


@pytest.mark.slow
def test_a_short_demo_writes_every_report(short_demo):
    _, home = short_demo
    reports = home / "reports"
    assert (reports / "index.html").is_file()
    for contract in CONTRACTS:
        assert (reports / f"contract-{contract}.html").is_file()
        assert (reports / "monthly" / f"{contract}-2026-10.html").is_file()


@pytest.mark.slow
def test_every_current_window_has_one_prediction_and_too_little_history_says_so(short_demo):
    days, home = short_demo
    risk = predictions(home)
    assert not risk.select("contract_id", "objective_id", "window_label").is_duplicated().any()
    # Traffic: a forecast from the first full day of hours. Items: a simulation from a week of
    # days before as_of (2026-11-03 00:00), counted from an objective's first item's day: the
    # 7-day demo's first restore test is on 2026-10-28 and it has no security incident.
    assert risk.filter(pl.col("method") == "forecast").height == TRAFFIC_OBJECTIVES
    insufficient = risk.filter(pl.col("method") == "insufficient_history")
    assert (
        set(insufficient["objective_id"])
        == {
            1: ITEM_OBJECTIVES,
            7: {"orders-rto", "time-to-contain", "time-to-detect"},
            21: set(),
        }[days]
    )
    assert risk.height == TRAFFIC_OBJECTIVES + len(ITEM_OBJECTIVES)
    assert insufficient["p_breach"].null_count() == insufficient.height
    assert insufficient["expected_measured"].null_count() == insufficient.height
    # a window whose status is insufficient_data has its risk unknown, never a probability
    unknown = risk.filter(pl.col("method") == "insufficient_data")
    assert unknown["p_breach"].null_count() == unknown.height
    predicted = risk.filter(~pl.col("method").is_in(["insufficient_history", "insufficient_data"]))
    assert predicted["p_breach"].null_count() == 0
    page = (home / "reports" / "objective-service-desk~mttr.html").read_text()
    assert ("Breach risk not predicted: too little history" in page) == (days == 1)


TICKETS_SOURCE = (REPO_ROOT / "examples/sources/servicenow-incidents.yaml").read_text()
TICKETS_CONTRACT = """\
id: service-desk
title: IT service desk
provider: IT operations
consumer: All staff
time_zone: Europe/Berlin
services:
  - {id: service-desk, title: IT service desk}
objectives:
  - id: p1-resolution
    service: service-desk
    sli:
      kind: resolution_time
      priorities: ["1 - Critical"]
      targets: {"1 - Critical": 4h}
      timer: {stop: [Resolved, Closed]}
    target: 90%
  - id: mttr
    service: service-desk
    sli: {kind: resolution_time, statistic: mean, timer: {stop: [Resolved, Closed]}}
    target: 16h
"""
HEADER = (
    "number,incident_state,priority,opened_at,sys_updated_at,resolved_at,closed_at,"
    "reassignment_count,reopen_count,assignment_group,category"
)
FIRST_TICKET = datetime(2017, 1, 2, 9, 0, tzinfo=UTC)
TICKETS = 60
"""One ticket a day from FIRST_TICKET, resolved 2 hours after it opened: the last opens on
2017-03-02 09:00 and is resolved at 11:00, the latest evidence."""


def ticket_log() -> str:
    """A ServiceNow event log (New, then Resolved) of TICKETS one-a-day 1 - Critical tickets."""

    def stamp(moment: datetime) -> str:
        return moment.strftime("%d-%m-%Y %H:%M")

    lines = [HEADER]
    for number in range(TICKETS):
        opened = FIRST_TICKET + timedelta(days=number)
        resolved = opened + timedelta(hours=2)
        for state, at in (("New", opened), ("Resolved", resolved)):
            lines.append(
                f"INC{number:07d},{state},1 - Critical,{stamp(opened)},{stamp(at)},"
                f"{stamp(resolved) if state == 'Resolved' else '?'},?,0,0,Group 1,Network"
            )
    return "\n".join(lines) + "\n"


@pytest.fixture
def tickets_home(tmp_path: Path) -> Path:
    """A home with one service-desk contract and one ServiceNow export of 2017-03-03."""
    home = tmp_path / "home"
    (home / "contracts").mkdir(parents=True)
    (home / "contracts" / "service-desk.yaml").write_text(TICKETS_CONTRACT)
    (home / "sources.yaml").write_text(TICKETS_SOURCE)
    landing = home / "landing" / "servicenow"
    landing.mkdir(parents=True)
    (landing / "incidents-2017-03-03.csv").write_text(ticket_log())
    return home


def pledge_run(home: Path, **variables: str) -> subprocess.CompletedProcess[str]:
    """`pledge run --home home` in its own process (partitions are defined at import)."""
    env = {k: v for k, v in os.environ.items() if k not in PLEDGE_VARIABLES}
    env.pop("PLEDGE_PARTITION_START", None)
    pledge = shutil.which("pledge", path=str(Path(sys.executable).parent))
    assert pledge is not None
    return subprocess.run(
        [pledge, "run", "--home", str(home)],
        env=env | variables,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.slow
def test_an_old_tickets_only_export_runs_to_its_own_end(tickets_home: Path):
    run = pledge_run(tickets_home)
    assert run.returncode == 0, run.stderr
    assert "partitions start at 2017-03-03" in run.stdout
    with warehouse.connect(tickets_home / "warehouse.duckdb", read_only=True) as con:
        windows = warehouse.query(con, "SELECT * FROM sla.windows ORDER BY ALL")
    # The latest evidence: the last ticket's Resolved update, 2017-03-02 11:00 (minute ends 11:01).
    assert windows["as_of"].unique().to_list() == [datetime(2017, 3, 2, 11, 1, tzinfo=UTC)]
    assert sorted(windows["window_label"].unique()) == ["2017-01", "2017-02", "2017-03"]
    complete = windows.filter(pl.col("window_label") == "2017-02")
    assert complete["total"].to_list() == [28.0, 28.0]
    risk = predictions(tickets_home)
    assert risk["window_label"].to_list() == ["2017-03", "2017-03"]
    assert risk["method"].to_list() == ["item_simulation", "item_simulation"]
    reports = tickets_home / "reports"
    assert (reports / "index.html").is_file()
    assert (reports / "contract-service-desk.html").is_file()
    assert (reports / "monthly" / "service-desk-2017-02.html").is_file()
    assert "2017-02" in (reports / "monthly" / "service-desk-2017-02.csv").read_text()


def test_a_partition_start_after_the_landing_files_says_what_to_set(
    tickets_home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    monkeypatch.setenv("PLEDGE_PARTITION_START", "2020-01-01")
    assert main(["run", "--home", str(tickets_home)]) == 2
    assert (
        "error: 2017-03-03 lies before the first partition 2020-01-01; "
        "run as `PLEDGE_PARTITION_START=2017-03-03 pledge run`"
    ) in capsys.readouterr().err
    assert not (tickets_home / "warehouse.duckdb").exists()


def test_windows_follow_the_latest_evidence_of_any_kind(tmp_path: Path):
    """evidence_end over every raw table: a later ticket update, backup or containment moves it."""
    from pipelines.sla.assets import evidence_end

    with warehouse.connect(tmp_path / "warehouse.duckdb") as con:
        assert evidence_end(con) is None
        row = {"partition_date": date(2017, 3, 1), "ts": datetime(2017, 3, 1, 10, tzinfo=UTC)}
        row |= {"service": "s", "total": 10, "errors": 0, "source": "web", "file": "a.csv"}
        warehouse.insert_frame(con, "raw.requests", pl.DataFrame([row]))  # a lake table
        assert evidence_end(con) == datetime(2017, 3, 1, 10, 1, tzinfo=UTC)
        con.execute(
            "INSERT INTO raw.backup_runs (partition_date, service, run_id, started_at, "
            "finished_at, success, source, file) VALUES ('2017-03-01', 's', 'r1', "
            "'2017-03-01 11:00:00+00', '2017-03-01 11:30:20+00', true, 'backups', 'b.csv')"
        )
        assert evidence_end(con) == datetime(2017, 3, 1, 11, 31, tzinfo=UTC)
        con.execute(
            "INSERT INTO raw.security_incidents (partition_date, incident_id, service, "
            "occurred_at, detected_at, contained_at, source, file) VALUES ('2017-03-01', 'i1', "
            "'s', '2017-03-01 09:00:00+00', '2017-03-01 09:10:00+00', '2017-03-01 12:00:00+00', "
            "'security', 'c.csv')"
        )
        assert evidence_end(con) == datetime(2017, 3, 1, 12, 1, tzinfo=UTC)
