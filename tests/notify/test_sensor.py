"""The notification sensor on a copy of the demo warehouse, with a real webhook receiver."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
from notify_support import receiver, scripted

from pipelines.notify.events import Sent
from pipelines.notify.sensor import NotificationDeliveryError, notification_sensor
from pipelines.resources import PledgeHome
from pipelines.warehouse import connect, query

TOKEN = "T000-s3cr3t-B000"


@pytest.fixture
def home(demo_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The demo's contracts and warehouse, copied; no PLEDGE_* variable but quick retries."""
    copy = tmp_path / "home"
    copy.mkdir()
    shutil.copytree(demo_home / "contracts", copy / "contracts")
    shutil.copy(demo_home / "warehouse.duckdb", copy / "warehouse.duckdb")
    for variable in ("PLEDGE_HOME", "PLEDGE_WAREHOUSE", "PLEDGE_CONTRACTS", "PLEDGE_NOTIFICATIONS"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("PLEDGE_WEBHOOK_BACKOFF", "0.01")
    monkeypatch.setenv("PLEDGE_WEBHOOK_TIMEOUT", "2")
    return copy


def tick(home: Path, cursor: str | None):
    with dg.build_sensor_context(
        instance=dg.DagsterInstance.ephemeral(),
        cursor=cursor,
        resources={"pledge": PledgeHome(home=str(home))},
    ) as context:  # the resource is a context manager (its runs' working copy)
        return notification_sensor(context)


def journal(home: Path) -> list[dict]:
    path = home / "notifications.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def expected_troubles(home: Path) -> set[str]:
    """The trouble keys the demo warehouse holds, by a query written apart from events.py:
    windows ending within 7 days of as_of that are breached/breaching or out of budget, or
    current and at_risk (every demo objective keeps the default 50% risk threshold)."""
    with connect(home / "warehouse.duckdb", read_only=True) as con:
        rows = query(
            con,
            """
            SELECT w.contract_id, w.objective_id, w.window_label, w.status, w.budget_remaining,
                   r.p_breach
            FROM sla.windows w LEFT JOIN predict.breach_risk r
              USING (contract_id, objective_id, window_label)
            WHERE w.window_end > w.as_of - INTERVAL 7 DAY
            """,
        ).rows(named=True)
    keys = set()
    for row in rows:
        window = f"{row['contract_id']}|{row['objective_id']}|{row['window_label']}"
        if row["status"] in ("breached", "breaching"):
            keys.add(f"breached|{window}")
        if row["budget_remaining"] is not None and row["budget_remaining"] <= 0:
            keys.add(f"budget_exhausted|{window}")
        if row["status"] == "at_risk" or (
            row["status"] == "on_track" and (row["p_breach"] or 0) >= 0.5
        ):
            keys.add(f"at_risk|{window}")
    return keys


def test_each_event_reaches_the_webhook_once(home, monkeypatch):
    expected = expected_troubles(home)
    # the demo's scripted October troubles, complete 2 days before as_of (2026-11-03)
    assert {
        f"breached|{window}|2026-10"
        for window in (
            "acme-cloud|compute-availability",  # the outage
            "paylane-payments|payments-p99",  # the dependency failure
            "paylane-payments|refunds-availability",  # the degradation
            "security-and-backup|orders-rpo",  # the missed backup
            "security-and-backup|time-to-contain",  # the slow containment
            "service-desk|nps",  # the NPS dip
        )
    } <= expected
    with receiver() as server:
        monkeypatch.setenv("PLEDGE_WEBHOOK_URL", f"{server.url}/hooks/{TOKEN}")
        first = tick(home, None)
        second = tick(home, first.cursor)
    keys = [body["key"] for body in server.bodies]
    assert len(keys) == len(set(keys)) == len(expected) and set(keys) == expected
    assert len(server.requests) == len(expected)
    assert first.skip_reason.skip_message.startswith("sent ")
    assert second.cursor == first.cursor
    assert second.skip_reason.skip_message == "no new notifications"
    lines = journal(home)
    assert [line["key"] for line in lines] == keys
    assert all(line["webhook"] == server.url for line in lines)
    october = next(body for body in server.bodies if body["window_label"] == "2026-10")
    assert october["status"] == "breached" and october["is_complete"] is True
    assert october["recipients"] == ["vendors@example.com", "slack:#sla-acme"]
    assert october["report"] == str(
        home / "reports" / "objective-acme-cloud~compute-availability.html"
    )
    assert october["attainment"] < october["target"] == 0.9995
    assert set(Sent.from_cursor(first.cursor).windows) == {key.split("|", 1)[1] for key in keys}


def test_without_a_webhook_events_go_to_the_journal_only(home, monkeypatch):
    monkeypatch.delenv("PLEDGE_WEBHOOK_URL", raising=False)
    first = tick(home, None)
    assert {line["key"] for line in journal(home)} == expected_troubles(home)
    assert all(line["webhook"] is None for line in journal(home))
    assert tick(home, first.cursor).cursor == first.cursor


def test_a_failing_webhook_fails_the_tick_and_is_retried_without_repeats(home, monkeypatch):
    acme = home / "contracts" / "acme-cloud.yaml"
    acme.write_text(
        acme.read_text().replace("webhook_env: PLEDGE_WEBHOOK_URL", "webhook_env: ACME")
    )
    expected = expected_troubles(home)
    acme_keys = {key for key in expected if "|acme-cloud|" in key}
    assert acme_keys and acme_keys != expected
    with receiver() as others, receiver(always_fail=True) as broken:
        monkeypatch.setenv("PLEDGE_WEBHOOK_URL", f"{others.url}/hooks/{TOKEN}")
        monkeypatch.setenv("ACME", f"{broken.url}/hooks/{TOKEN}?sig={TOKEN}")
        with pytest.raises(NotificationDeliveryError) as failure:
            tick(home, None)
        message = str(failure.value)
        assert f"webhook {broken.url}: HTTP 500 on attempt 3 of 3" in message
        assert f"{len(acme_keys)} of {len(expected)} notifications not delivered" in message
        assert TOKEN not in message
        assert len(broken.requests) == 3  # one event tried; the others wait for the next tick
        assert {body["key"] for body in others.bodies} == expected - acme_keys
        # Dagster keeps the cursor of the last successful tick (here: none) after a failure;
        # the journal tells the next tick what did go out
        broken.always_fail = False
        retried = tick(home, None)
        assert {body["key"] for body in broken.bodies} == acme_keys
        assert len(others.requests) == len(expected - acme_keys)
        assert tick(home, retried.cursor).skip_reason.skip_message == "no new notifications"
    keys = [line["key"] for line in journal(home)]
    assert len(keys) == len(set(keys)) and set(keys) == expected


def test_a_redirecting_webhook_keeps_its_events_pending_until_its_url_is_fixed(home, monkeypatch):
    """Issue 16: a webhook answering 302 to another host got every event "delivered" as a GET
    to that host, with the URL's basic-auth credentials, and journaled as sent."""
    acme = home / "contracts" / "acme-cloud.yaml"
    acme.write_text(
        acme.read_text().replace("webhook_env: PLEDGE_WEBHOOK_URL", "webhook_env: ACME")
    )
    expected = expected_troubles(home)
    acme_keys = {key for key in expected if "|acme-cloud|" in key}
    with receiver() as other, receiver() as others:

        def redirect(handler) -> None:
            handler.send_response(302)
            handler.send_header("Location", f"{other.url}/hooks/{TOKEN}")
            handler.send_header("Content-Length", "0")
            handler.end_headers()

        with scripted(redirect) as redirecting:
            monkeypatch.setenv("PLEDGE_WEBHOOK_URL", f"{others.url}/hooks/{TOKEN}")
            monkeypatch.setenv("ACME", redirecting.url.replace("//", f"//hook:{TOKEN}@"))
            with pytest.raises(NotificationDeliveryError) as failure:
                tick(home, None)
        assert other.requests == []
        assert len(redirecting) == 1
        assert f"HTTP 302 redirect to {other.url} not followed" in str(failure.value)
        assert TOKEN not in str(failure.value)
        assert not {line["key"] for line in journal(home)} & acme_keys
        monkeypatch.setenv("ACME", f"{other.url}/hooks/{TOKEN}")  # the URL fixed
        retried = tick(home, None)
        assert tick(home, retried.cursor).skip_reason.skip_message == "no new notifications"
    assert sorted(body["key"] for body in other.bodies) == sorted(acme_keys)
    assert len(other.requests) == len(acme_keys)
    keys = [line["key"] for line in journal(home)]
    assert len(keys) == len(set(keys)) and set(keys) == expected


def test_a_locked_warehouse_skips_the_tick(home):
    writer = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; con = duckdb.connect(sys.argv[1]); print('locked', "
            "flush=True); time.sleep(60)",
            str(home / "warehouse.duckdb"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert writer.stdout.readline().strip() == "locked"
        skipped = tick(home, None)
    finally:
        writer.kill()
        writer.wait()
    assert "locked" in skipped.skip_message
    assert journal(home) == []


def test_no_warehouse_yet_skips_the_tick(tmp_path):
    assert "no warehouse" in tick(tmp_path, None).skip_message
