"""Event derivation on hand-built windows: each event once, recovery, escalation, the cursor."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from pipelines.contracts.schema import Contract
from pipelines.notify.events import Sent, new_events, window_states
from pipelines.sla.objectives import UTC_US

AS_OF = datetime(2026, 11, 20, tzinfo=UTC)
NOV = (datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))
OCT = (datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC))
REPORTS = Path("/srv/pledge/reports")

CONTRACT_DOCUMENT = {
    "id": "acme",
    "title": "Acme hosting",
    "provider": "Acme GmbH",
    "consumer": "Us",
    "owners": [{"name": "Vendor management", "email": "vendors@example.com"}],
    "escalation": [
        {"level": 2, "contact": "tam@acme.example", "after": "4h"},
        {"level": 1, "contact": "support@acme.example", "after": "30m"},
        {"level": 3, "contact": "ceo@acme.example"},
    ],
    "services": [{"id": "api"}],
    "objectives": [
        {"id": o, "service": "api", "sli": {"kind": "availability"}, "target": "99%"}
        for o in ("avail", "latency", "uptime")
    ],
}
CONTRACT = Contract.model_validate(CONTRACT_DOCUMENT)


def windows(*rows: tuple) -> pl.DataFrame:
    """(objective_id, (start, end), status, attainment, budget_remaining) → sla.windows rows."""
    return pl.DataFrame(
        [
            {
                "contract_id": "acme",
                "objective_id": objective,
                "window_label": f"{bounds[0]:%Y-%m}",
                "window_start": bounds[0],
                "window_end": bounds[1],
                "is_complete": bounds[1] <= AS_OF,
                "attainment": attainment,
                "measured": attainment,
                "unit": "ratio",
                "target": 0.99,
                "budget_remaining": budget,
                "status": status,
                "as_of": AS_OF,
            }
            for objective, bounds, status, attainment, budget in rows
        ],
        schema_overrides={"window_start": UTC_US, "window_end": UTC_US, "as_of": UTC_US},
    )


def risk(**p_breach: float) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "contract_id": ["acme"] * len(p_breach),
            "objective_id": list(p_breach),
            "window_label": ["2026-11"] * len(p_breach),
            "p_breach": list(p_breach.values()),
            "predicted_exhaustion_at": [None] * len(p_breach),
        },
        schema={
            "contract_id": pl.String,
            "objective_id": pl.String,
            "window_label": pl.String,
            "p_breach": pl.Float64,
            "predicted_exhaustion_at": UTC_US,
        },
    )


def events_of(frame, p_breach, sent, now=AS_OF, contract=CONTRACT):
    states = window_states(frame, p_breach, [contract], AS_OF)
    return new_events(states, [contract], sent, now, REPORTS)


def send(events, sent, at=AS_OF):
    for event in events:
        sent.record(event, at)
    return [event.key for event in events]


TROUBLED = windows(
    ("avail", NOV, "breaching", 0.985, -0.5),
    ("latency", NOV, "on_track", 0.995, 0.5),
    ("uptime", NOV, "on_track", 0.999, 0.9),
    ("uptime", OCT, "breached", 0.98, -1.0),  # ended 19 days before as_of: out of scope
)


def test_each_event_once_per_objective_and_window():
    sent = Sent()
    first = events_of(TROUBLED, risk(avail=1.0, latency=0.7, uptime=0.2), sent)
    assert send(first, sent) == [
        "breached|acme|avail|2026-11",
        "budget_exhausted|acme|avail|2026-11",
        "at_risk|acme|latency|2026-11",
    ]
    assert events_of(TROUBLED, risk(avail=1.0, latency=0.7, uptime=0.2), sent) == []
    # the same state after a cursor round trip: still nothing new
    again = Sent.from_cursor(sent.to_cursor())
    assert events_of(TROUBLED, risk(avail=1.0, latency=0.7, uptime=0.2), again) == []


def test_payload_says_what_where_and_to_whom():
    breached = events_of(TROUBLED, risk(avail=0.96), Sent())[0].payload
    assert breached == {
        "key": "breached|acme|avail|2026-11",
        "event": "breached",
        "escalation_level": 0,
        "troubles": ["breached", "budget_exhausted"],
        "contract_id": "acme",
        "contract": "Acme hosting",
        "provider": "Acme GmbH",
        "objective_id": "avail",
        "objective": "avail",
        "service": "api",
        "window_label": "2026-11",
        "window_start": "2026-11-01T00:00:00+00:00",
        "window_end": "2026-12-01T00:00:00+00:00",
        "is_complete": False,
        "status": "breaching",
        "attainment": 0.985,
        "measured": 0.985,
        "unit": "ratio",
        "target": 0.99,
        "budget_remaining": -0.5,
        "p_breach": 0.96,
        "predicted_exhaustion_at": None,
        "as_of": "2026-11-20T00:00:00+00:00",
        "recipients": ["vendors@example.com"],  # no notifications.recipients: the owners
        "report": "/srv/pledge/reports/objective-acme~avail.html",
    }


def test_at_risk_from_status_or_from_breach_probability_at_the_threshold():
    frame = windows(
        ("avail", NOV, "at_risk", 0.995, 0.5),  # a burn-rate alert firing
        ("latency", NOV, "on_track", 0.995, 0.5),
        ("uptime", NOV, "on_track", 0.995, 0.5),
    )
    keys = [e.key for e in events_of(frame, risk(avail=0.1, latency=0.5, uptime=0.49), Sent())]
    assert keys == ["at_risk|acme|avail|2026-11", "at_risk|acme|latency|2026-11"]


def test_recovered_once_when_the_window_is_back_on_track():
    sent = Sent()
    send(events_of(TROUBLED, risk(latency=0.7), sent), sent)
    calm = windows(("latency", NOV, "on_track", 0.995, 0.5))
    recovered = events_of(calm, risk(latency=0.1), sent)
    assert [e.key for e in recovered] == ["recovered|acme|latency|2026-11"]
    assert recovered[0].payload["troubles"] == []
    send(recovered, sent)
    assert events_of(calm, risk(latency=0.1), sent) == []
    # flapping back to at_risk: that was told already, and so was the recovery
    assert events_of(calm, risk(latency=0.9), sent) == []
    # a window never in trouble never "recovers"
    assert events_of(windows(("uptime", NOV, "on_track", 0.999, 0.9)), risk(), sent) == []


def test_a_window_that_ends_met_after_being_at_risk_recovers():
    sent = Sent()
    during, after = OCT[1] - timedelta(days=5), OCT[1] + timedelta(days=2)
    at_risk = window_states(
        windows(("latency", OCT, "at_risk", 0.995, 0.4)), risk(), [CONTRACT], during
    )
    send(new_events(at_risk, [CONTRACT], sent, during, REPORTS), sent, at=during)
    met = window_states(windows(("latency", OCT, "met", 0.995, 0.3)), risk(), [CONTRACT], after)
    assert [e.key for e in new_events(met, [CONTRACT], sent, after, REPORTS)] == [
        "recovered|acme|latency|2026-10"
    ]


def test_escalation_after_each_steps_delay_once_per_level_until_recovery():
    sent = Sent()
    first = events_of(TROUBLED, risk(), sent)
    send(first, sent, at=AS_OF)
    breached = windows(("avail", NOV, "breaching", 0.985, -0.5))
    assert events_of(breached, risk(), sent, now=AS_OF + timedelta(minutes=29)) == []
    level_1 = events_of(breached, risk(), sent, now=AS_OF + timedelta(minutes=30))
    assert [e.key for e in level_1] == ["escalated-1|acme|avail|2026-11"]
    assert level_1[0].payload["event"] == "escalated"
    assert level_1[0].payload["escalation_level"] == 1
    assert level_1[0].payload["recipients"] == ["vendors@example.com", "support@acme.example"]
    send(level_1, sent, at=AS_OF + timedelta(minutes=30))
    assert events_of(breached, risk(), sent, now=AS_OF + timedelta(hours=3)) == []
    # level 2 counts from the first trouble event; level 3 has no `after`: never automatic
    level_2 = events_of(breached, risk(), sent, now=AS_OF + timedelta(hours=4))
    assert [e.key for e in level_2] == ["escalated-2|acme|avail|2026-11"]
    send(level_2, sent)
    assert events_of(breached, risk(), sent, now=AS_OF + timedelta(days=3)) == []


def test_no_escalation_after_recovery():
    sent = Sent()
    send(events_of(windows(("latency", NOV, "at_risk", 0.995, 0.4)), risk(), sent), sent)
    send(events_of(windows(("latency", NOV, "on_track", 0.995, 0.4)), risk(), sent), sent)
    # at risk again a day later: the window recovered once, so no escalation either
    later = events_of(
        windows(("latency", NOV, "at_risk", 0.995, 0.4)), risk(), sent, now=AS_OF + timedelta(1)
    )
    assert later == []


def test_contract_recipients_override_the_owners():
    contract = Contract.model_validate(
        {**CONTRACT_DOCUMENT, "notifications": {"recipients": ["slack:#sla"]}}
    )
    (event, *_) = events_of(TROUBLED, risk(), Sent(), contract=contract)
    assert event.payload["recipients"] == ["slack:#sla"]


def test_cursor_is_compact_and_forgets_windows_out_of_scope():
    sent = Sent()
    send(events_of(TROUBLED, risk(latency=0.7), sent), sent)
    old = windows(("uptime", OCT, "breached", 0.98, -1.0))
    oct_states = window_states(old, risk(), [CONTRACT], OCT[1] + timedelta(days=1))
    send(new_events(oct_states, [CONTRACT], sent, AS_OF, REPORTS), sent)
    assert "acme|uptime|2026-10" in sent.windows
    sent.prune(AS_OF)  # October ended 19 days before as_of: it can send nothing more
    assert sorted(sent.windows) == ["acme|avail|2026-11", "acme|latency|2026-11"]
    cursor = sent.to_cursor()
    assert " " not in cursor and len(cursor) < 250
    assert Sent.from_cursor(cursor) == sent
    with pytest.raises(ValueError, match="clear it"):
        Sent.from_cursor('{"something": "else"}')


ROLLING = Contract.model_validate(
    {
        **CONTRACT_DOCUMENT,
        "objectives": [
            {
                "id": "avail",
                "service": "api",
                "sli": {"kind": "availability"},
                "target": "99%",
                "window": "rolling 7d",
            }
        ],
    }
)


def rolling_windows(as_of: datetime, *statuses: str) -> pl.DataFrame:
    """The 7-day windows of the days before ``as_of`` (complete), then the current one, with
    ``statuses`` in that order."""
    day = timedelta(days=1)
    ends = [as_of - (len(statuses) - 2 - index) * day for index in range(len(statuses))]
    frame = windows(
        *(
            ("avail", (end - 7 * day, end), status, 0.98 if status != "on_track" else 0.995, -1.0)
            for end, status in zip(ends, statuses, strict=True)
        )
    ).with_columns(
        window_label=pl.format("rolling 7d to {}", pl.col("window_end").dt.date()),
        is_complete=pl.col("window_end") <= as_of,
        as_of=pl.lit(as_of, UTC_US),
        budget_remaining=pl.when(pl.col("status") == "on_track").then(0.5).otherwise(-1.0),
    )
    return frame


def test_a_rolling_objective_is_told_once_per_trouble_episode():
    def tick(as_of: datetime, *statuses: str) -> list[str]:
        frame = rolling_windows(as_of, *statuses)
        states = window_states(frame, risk(), [ROLLING], as_of)
        told = send(new_events(states, [ROLLING], sent, as_of, REPORTS), sent, as_of)
        sent.prune(as_of)  # as the sensor does after each tick
        return told

    sent = Sent()
    day = timedelta(days=1)
    # two complete windows already breached: only the current one is told of, once
    assert tick(AS_OF, "breached", "breached", "breaching") == [
        "breached|acme|avail|since rolling 7d to 2026-11-21",
        "budget_exhausted|acme|avail|since rolling 7d to 2026-11-21",
    ]
    # the next days relabel the window: the same episode, escalated once per level (30 m, 4 h),
    # then nothing new, and kept in scope
    assert tick(AS_OF + day, "breaching") == [
        "escalated-1|acme|avail|since rolling 7d to 2026-11-21",
        "escalated-2|acme|avail|since rolling 7d to 2026-11-21",
    ]
    for later in range(2, 10):
        assert tick(AS_OF + later * day, "breaching") == []
    assert sent.windows["acme|avail|since rolling 7d to 2026-11-21"]["end"] == int(
        (AS_OF + 10 * day).timestamp()
    )
    assert tick(AS_OF + 10 * day, "on_track") == [
        "recovered|acme|avail|since rolling 7d to 2026-11-21"
    ]
    assert tick(AS_OF + 11 * day, "on_track") == []
    # a later breach is a new episode
    assert tick(AS_OF + 12 * day, "breaching") == [
        "breached|acme|avail|since rolling 7d to 2026-12-03",
        "budget_exhausted|acme|avail|since rolling 7d to 2026-12-03",
    ]
