"""Notification events from the state of the warehouse: what to tell whom, once.

An event is about one objective window, derived from ``sla.windows`` and ``predict.breach_risk``:

- ``breached``: the window's status is ``breached`` (complete, below target) or ``breaching``
  (current, attainment already below target).
- ``budget_exhausted``: the window's ``budget_remaining`` is at or below 0 (objectives judged on
  a statistic have no budget and never send it).
- ``at_risk``: the current window's status is ``at_risk`` (a burn-rate alert firing, or the
  breach probability at or above ``alerting.risk_threshold``), or it is ``on_track`` while its
  ``p_breach`` already reaches the threshold (the windows were recomputed after the prediction).
- ``recovered``: the window is ``on_track`` (not at risk) or ``met`` again, after a ``breached``,
  ``budget_exhausted`` or ``at_risk`` event of the same window was sent.
- ``escalated``: for each step of the contract's ``escalation`` path that has an ``after``: the
  window is still in trouble (one of the first three holds), nothing recovered, and its first
  trouble event was sent at least ``after`` before now. Its recipients add the step's contact;
  ``escalation_level`` is the step's level (0 for the other events).

Each event goes out once per objective and window: its key is (event, contract, objective, window
label), with ``escalated-<level>`` as the event of an escalation. A window that flips back and
forth is told its first trouble of each kind and its first recovery only. Windows in scope are
the current ones and those that ended less than LOOKBACK before ``as_of``: older windows can no
longer produce events, so the cursor forgets them and stays bounded. Of a rolling objective only
the current window is in scope (its complete windows are the same window seen on earlier days),
and since it is relabelled every day its events are about a trouble episode (``_window_id``):
a lasting breach is told once, its recovery once, and a later breach starts a new episode.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl

from pipelines.contracts.schema import Contract
from pipelines.report.paths import objective_page_name
from pipelines.sla.objectives import KEYS

TROUBLES = ("breached", "budget_exhausted", "at_risk")
"""Events that say a window is in trouble, most severe first."""

LOOKBACK = timedelta(days=7)
"""How long after its end a complete window still sends events (its final breach, or recovery
of a window that ends met)."""

CURSOR_VERSION = 1


@dataclass(frozen=True)
class Event:
    """One notification: ``name`` (``breached`` ... ``escalated-2``) about ``window``
    (``contract|objective|window label``); ``payload`` is the JSON sent."""

    name: str
    window: str
    window_end: datetime
    payload: dict

    @property
    def key(self) -> str:
        return f"{self.name}|{self.window}"


@dataclass
class Sent:
    """What was sent, per window (``contract|objective|window label``): its end and when each
    event went out (epoch seconds). ``journal_offset``: the size of the notifications file when
    the cursor was saved. Serialised as the sensor's cursor."""

    windows: dict[str, dict] = field(default_factory=dict)
    journal_offset: int = 0

    @classmethod
    def from_cursor(cls, cursor: str | None) -> Sent:
        """The cursor's content; an empty cursor means nothing was sent yet."""
        if not cursor:
            return cls()
        try:
            state = json.loads(cursor)
            if state.get("version") != CURSOR_VERSION:
                raise ValueError(f"version {state.get('version')!r}")
            return cls(state["windows"], int(state["journal_offset"]))
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise ValueError(
                f"the sensor cursor is not a Pledge notification cursor ({error}): clear it to "
                "start afresh from the notifications journal"
            ) from None

    def to_cursor(self) -> str:
        return json.dumps(
            {
                "version": CURSOR_VERSION,
                "journal_offset": self.journal_offset,
                "windows": self.windows,
            },
            separators=(",", ":"),
            sort_keys=True,
        )

    def events_of(self, window: str) -> dict[str, int]:
        """Event name → epoch second sent, for one window."""
        return self.windows.get(window, {}).get("sent", {})

    def record(self, event: Event, sent_at: datetime) -> None:
        """Remember that ``event`` went out at ``sent_at`` (the first time counts)."""
        entry = self.windows.setdefault(
            event.window, {"end": int(event.window_end.timestamp()), "sent": {}}
        )
        entry["sent"].setdefault(event.name, int(sent_at.timestamp()))

    def open_episode(self, prefix: str) -> str | None:
        """The window (id starting with ``prefix``) told of trouble and not yet of recovery."""
        return next(
            (
                window
                for window, entry in self.windows.items()
                if window.startswith(prefix) and "recovered" not in entry["sent"]
            ),
            None,
        )

    def extend(self, window: str, window_end: datetime) -> None:
        """Keep a window that is sent events in scope until ``window_end`` at least."""
        if window in self.windows:
            entry = self.windows[window]
            entry["end"] = max(entry["end"], int(window_end.timestamp()))

    def record_journal(self, entries: list[dict]) -> None:
        """Remember the events of journal lines (payloads with ``sent_at``)."""
        for entry in entries:
            name, window = entry["key"].split("|", 1)
            window_end = datetime.fromisoformat(entry["window_end"])
            self.record(
                Event(name, window, window_end, entry), datetime.fromisoformat(entry["sent_at"])
            )

    def prune(self, as_of: datetime) -> None:
        """Forget windows that ended LOOKBACK or more before ``as_of`` (out of scope for good)."""
        oldest = (as_of - LOOKBACK).timestamp()
        self.windows = {
            window: entry for window, entry in self.windows.items() if entry["end"] >= oldest
        }


def window_states(
    windows: pl.DataFrame, risk: pl.DataFrame, contracts: list[Contract], as_of: datetime
) -> pl.DataFrame:
    """The windows in scope at ``as_of`` with the trouble they are in.

    Inputs: ``windows`` (sla.windows: contract_id, objective_id, window_label, window_start,
    window_end, is_complete, attainment, measured, unit, target, budget_remaining, status, as_of),
    ``risk`` (predict.breach_risk: contract_id, objective_id, window_label, p_breach,
    predicted_exhaustion_at). Objectives of contracts not in ``contracts`` are left out.
    Output: the windows columns, p_breach, predicted_exhaustion_at, risk_threshold (Float64) and
    the Boolean flags rolling (the objective's window), breached, budget_exhausted, at_risk,
    healthy; sorted by objective and window_start.
    """
    thresholds = pl.DataFrame(
        [
            (
                contract.id,
                objective.id,
                objective.alerting.risk_threshold,
                objective.window.kind == "rolling",
            )
            for contract in contracts
            for objective in contract.objectives
        ],
        schema={
            "contract_id": pl.String,
            "objective_id": pl.String,
            "risk_threshold": pl.Float64,
            "rolling": pl.Boolean,
        },
        orient="row",
    )
    status = pl.col("status")
    return (
        windows.filter(pl.col("window_end") > as_of - LOOKBACK)
        .join(thresholds, on=KEYS)
        # a rolling objective's complete windows are yesterday's views of the current one
        .filter(~pl.col("rolling") | ~pl.col("is_complete"))
        .join(
            risk.select(*KEYS, "window_label", "p_breach", "predicted_exhaustion_at"),
            on=[*KEYS, "window_label"],
            how="left",
        )
        .with_columns(
            breached=status.is_in(["breached", "breaching"]),
            budget_exhausted=(pl.col("budget_remaining") <= 0).fill_null(False),
            at_risk=(status == "at_risk")
            | ((status == "on_track") & (pl.col("p_breach") >= pl.col("risk_threshold"))).fill_null(
                False
            ),
        )
        .with_columns(
            healthy=status.is_in(["on_track", "met"])
            & ~pl.col("at_risk")
            & ~pl.col("budget_exhausted")
        )
        .sort([*KEYS, "window_start"])
    )


def new_events(
    states: pl.DataFrame,
    contracts: list[Contract],
    sent: Sent,
    now: datetime,
    reports_dir: Path,
) -> list[Event]:
    """The events of ``states`` (window_states) not sent yet, in window order, each window's
    troubles most severe first, then recovery, then escalations by level.
    ``now`` times escalations against the sent times held in ``sent``; an open trouble episode of
    a rolling objective is kept in scope in ``sent`` while it lasts (``Sent.extend``)."""
    by_id = {contract.id: contract for contract in contracts}
    return [
        event
        for row in states.iter_rows(named=True)
        for event in _window_events(row, by_id[row["contract_id"]], sent, now, reports_dir)
    ]


def _window_events(
    row: dict, contract: Contract, sent: Sent, now: datetime, reports_dir: Path
) -> list[Event]:
    """The unsent events of one window_states row."""
    window = _window_id(row, sent)
    if row["rolling"]:
        sent.extend(window, row["window_end"])
    done = sent.events_of(window)
    troubles = [name for name in TROUBLES if row[name]]
    fields = _window_fields(row, contract, reports_dir)

    def event(name: str, level: int = 0, extra: tuple[str, ...] = ()) -> Event:
        told_as = f"{name}-{level}" if level else name
        payload = {
            "key": f"{told_as}|{window}",
            "event": name,
            "escalation_level": level,
            "troubles": troubles,
            **fields,
            "recipients": [*contract.recipients, *extra],
        }
        return Event(told_as, window, row["window_end"], payload)

    events = [event(name) for name in troubles if name not in done]
    told = [done[name] for name in TROUBLES if name in done]
    if not told or "recovered" in done:
        return events
    if row["healthy"]:
        return [*events, event("recovered")]
    if troubles:
        first_told = datetime.fromtimestamp(min(told), UTC)
        events += [
            event("escalated", step.level, (step.contact,))
            for step in sorted(contract.escalation, key=lambda step: step.level)
            if step.after is not None
            and f"escalated-{step.level}" not in done
            and now - first_told >= step.after
        ]
    return events


def _window_id(row: dict, sent: Sent) -> str:
    """``contract|objective|window label``. A rolling objective's window is relabelled every day,
    so its events are about its trouble episode instead: ``contract|objective|since <label>``, the
    label of the day the episode was first told, until its recovery is told."""
    objective = f"{row['contract_id']}|{row['objective_id']}|"
    if not row["rolling"]:
        return objective + row["window_label"]
    return sent.open_episode(objective + "since ") or f"{objective}since {row['window_label']}"


def _window_fields(row: dict, contract: Contract, reports_dir: Path) -> dict:
    """What an event says about its window (timestamps ISO 8601 in UTC, shares in [0, 1])."""
    objective = contract.objective(row["objective_id"])
    return {
        "contract_id": contract.id,
        "contract": contract.title,
        "provider": contract.provider,
        "objective_id": objective.id,
        "objective": objective.title or objective.id,
        "service": objective.service,
        "window_label": row["window_label"],
        "window_start": _iso(row["window_start"]),
        "window_end": _iso(row["window_end"]),
        "is_complete": row["is_complete"],
        "status": row["status"],
        "attainment": _finite(row["attainment"]),
        "measured": _finite(row["measured"]),
        "unit": row["unit"],
        "target": _finite(row["target"]),
        "budget_remaining": _finite(row["budget_remaining"]),
        "p_breach": _finite(row["p_breach"]),
        "predicted_exhaustion_at": _iso(row["predicted_exhaustion_at"]),
        "as_of": _iso(row["as_of"]),
        "report": str(reports_dir / objective_page_name(contract.id, objective.id)),
    }


def _finite(number: float | None) -> float | None:
    """JSON has no NaN: a NaN figure is sent as null."""
    return None if number is None or math.isnan(number) else number


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat() if moment is not None else None
