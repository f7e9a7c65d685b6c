"""Ticket timers with ServiceNow task-SLA semantics, and ticket outcomes (resolution and response
time, first-contact resolution).

Tickets arrive as an event log, one row per update (TICKET_EVENTS_SCHEMA): the ticket's state
and priority as of that update. A timer (``TicketTimer``) reads the states:

- it starts at the first update in a ``start`` state; with no start states, at ``opened_at``
  (the ticket's first update when that is missing or later), the time before the first update
  counting as running;
- it runs in any other state, pauses in a ``pause`` state, stops on entering a ``stop`` state,
  and is cancelled for good by a ``cancel`` state while running or paused (a cancel after a stop
  leaves the completed timer as it was: a ticket answered in 5 minutes and cancelled 13 hours
  later keeps its first response);
- a ``reset`` state restarts it from zero (a new run begins at that update);
- a reopen (a stop state followed by a non-stop state) ``resume``s the same timer, the time while
  stopped not counting, or ``restart``s it from zero at the reopen;
- a priority change while running or paused ``keep_start``s the timer (the priority at the end
  picks the target, retroactively) or ``restart``s it from zero at the change.

Only the last run counts. Business time is counted in the objective's calendar (working hours
in the contract's zone, see ``calendar.py``); actual time is wall-clock running time; both leave
out paused time, which is reported separately. The breach time is the instant the running
business time reaches the target: pauses push it later. Updates after ``as_of`` are ignored, and
a timer still running at ``as_of`` is measured up to it.

The whole log is processed in one vectorised pass: each update's timer status is a function of
its own state, runs are cumulative sums of restart flags, and every segment between two updates
is measured with one binary search into the calendar's working intervals.

Priorities are matched trimmed, on both sides (a ticket's ``"3 - Moderate "`` is the contract's
``"3 - Moderate"``). An objective with ``targets`` per priority or a ``priorities`` filter judges
tickets per priority; with its priority at the end of the timer, each ticket of its service is

- counted: in ``priorities`` (when given) and with a target (when ``targets`` are given);
- out of scope (left out): outside an explicit ``priorities`` filter, with a priority the contract
  names somewhere (in any objective's ``priorities`` or ``targets``) or the tickets source
  declares (its ``priorities`` vocabulary): the contract chose to judge it elsewhere, or not at
  all;
- ``unmatched`` otherwise: a priority the contract names nowhere (``P1`` where the contract says
  ``1 - Critical``, ``9 - Unknown``), a named one this objective has no target for, or no
  priority at all. Its timer is kept, flagged, with no target and no verdict, so such tickets are
  always visible (counted per window, listed in the report), never silently dropped.

Objectives without targets per priority and without a filter count every ticket. A ticket with a
rejected update (a line of its source that did not load) is flagged ``incomplete``: its timer is
computed from the updates that loaded, which may miss a stop (a rejected Resolved update lets
the timer run on to Closed), so its verdict is suspect.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta

import polars as pl

from pipelines.contracts.schema import Contract, Objective
from pipelines.contracts.sli import DEFAULT_TIMERS, FirstContactSli, TicketSli, TicketTimer
from pipelines.contracts.units import format_duration
from pipelines.sla.calendar import UTC_TIME, WorkingTime, objective_calendar
from pipelines.sla.outcomes import OUTCOMES_SCHEMA, TICKET_FLAGS_SCHEMA

TICKET_EVENTS_SCHEMA = pl.Schema(
    {
        "ticket_id": pl.String,
        "ts": UTC_TIME,
        "state": pl.String,
        "priority": pl.String,
        "opened_at": UTC_TIME,
        "reassignment_count": pl.Int64,
        "reopen_count": pl.Int64,
    }
)
"""One row per ticket update: ticket_id; ts, the update time; the ticket's state and priority
after the update; opened_at (nullable); reassignment_count and reopen_count so far (nullable)."""

TICKET_TIMERS_SCHEMA = pl.Schema(
    {
        "contract_id": pl.String,
        "objective_id": pl.String,
        "ticket_id": pl.String,
        "priority": pl.String,
        "timer_state": pl.String,
        "started_at": UTC_TIME,
        "stopped_at": UTC_TIME,
        "business_seconds": pl.Float64,
        "actual_seconds": pl.Float64,
        "paused_seconds": pl.Float64,
        "pauses": pl.Int64,
        "target_seconds": pl.Float64,
        "breach_at": UTC_TIME,
        "breached": pl.Boolean,
        "unmatched": pl.Boolean,
        "incomplete": pl.Boolean,
    }
)
"""One row per (objective, ticket) whose timer started by ``as_of``: priority, the one whose
target applies (at the stop, the cancel, or ``as_of``); timer_state completed / running /
cancelled; started_at (start of the last run); stopped_at (stop or cancel time, null while
running); business_seconds (in the objective's calendar), actual_seconds (wall clock) and
paused_seconds (wall clock) of the last run up to the stop or ``as_of``; pauses (times the timer
paused); target_seconds (null without a target); breach_at, the instant the business time
reached or, running, will reach the target (null when it did not, or the timer is paused at
``as_of``); breached: business_seconds above the target (null without a target); unmatched:
a priority the objective has no target for (see the module docstring; not counted); incomplete:
an update of the ticket was rejected at load."""

_MICROS = 1_000_000
_TICKET = "ticket_id"


def _within(states: list[str]) -> pl.Expr:
    return pl.col("state").is_in(states).fill_null(False)


def _ever(flag: pl.Expr) -> pl.Expr:
    """True from the first update of the ticket where ``flag`` holds on."""
    return flag.cast(pl.Int32).cum_sum().over(_TICKET) > 0


def _before(column: str) -> pl.Expr:
    """The column's value at the ticket's previous update."""
    return pl.col(column).shift(1).over(_TICKET)


def _log(events: pl.DataFrame, as_of: datetime) -> pl.LazyFrame:
    """The updates up to ``as_of``, priorities trimmed."""
    return (
        events.lazy()
        .filter(pl.col("ts") <= as_of)
        .with_columns(pl.col("priority").str.strip_chars())
    )


def named_priorities(contract: Contract, declared: Collection[str] = ()) -> set[str]:
    """Every priority the contract names, trimmed: in any ticket objective's ``priorities`` or
    ``targets``, and the ``declared`` vocabulary of the tickets sources (their ``priorities``)."""
    named: set[str] = {priority.strip() for priority in declared}
    for objective in contract.objectives:
        sli = objective.sli
        if isinstance(sli, TicketSli | FirstContactSli):
            named.update(priority.strip() for priority in sli.priorities or [])
        if isinstance(sli, TicketSli):
            named.update(priority.strip() for priority in sli.targets or {})
    return named


def _priority_scope(
    contract: Contract, sli: TicketSli | FirstContactSli, declared: Collection[str]
) -> tuple[pl.Expr, pl.Expr]:
    """Whether a ticket with the (trimmed) ``priority`` is counted by the objective, and whether
    it is unmatched (see the module docstring); neither: out of scope."""
    targets = sli.targets if isinstance(sli, TicketSli) else None
    if targets is None and sli.priorities is None:
        return pl.lit(True), pl.lit(False)
    priority = pl.col("priority")
    allowed = (
        priority.is_in([p.strip() for p in sli.priorities])
        if sli.priorities is not None
        else pl.lit(True)
    )
    targeted = priority.is_in([p.strip() for p in targets]) if targets is not None else pl.lit(True)
    counted = (allowed & targeted).fill_null(False)
    named = list(named_priorities(contract, declared))
    out_of_scope = (~allowed & priority.is_in(named)).fill_null(False)
    return counted, ~counted & ~out_of_scope


def _updates(events: pl.DataFrame, timer: TicketTimer, as_of: datetime) -> pl.LazyFrame:
    """The updates up to ``as_of`` in time order per ticket, priorities trimmed; with no start
    states, an opening update (state null: running) at ``opened_at`` when it precedes the first
    update."""
    updates = _log(events, as_of)
    if not timer.start:
        openings = (
            updates.group_by(_TICKET)
            .agg(
                pl.col("opened_at").min().alias("ts"),
                pl.col("priority").sort_by("ts").first(),
                pl.col("ts").min().alias("first_update"),
            )
            .filter(pl.col("ts") < pl.col("first_update"))
            .drop("first_update")
        )
        updates = pl.concat([updates, openings], how="diagonal_relaxed")
    return updates.sort(_TICKET, "ts", maintain_order=True)


def _last_run(updates: pl.LazyFrame, sli: TicketSli, as_of: datetime) -> pl.LazyFrame:
    """The updates of each ticket's last timer run, with the timer status after each update
    (``status``: running, paused, stopped, cancelled), whether it entered that status there
    (``entered``), and the segment until the next update (or ``as_of``): ``segment_start``,
    ``segment_end``."""
    timer = sli.effective_timer
    # A cancel stops only a live timer: after a stop (the latest update that is not a cancel
    # being in a stop state) the timer stays completed, as in ServiceNow.
    after_stop = (
        (pl.when(~_within(timer.cancel)).then(_within(timer.stop)).shift(1).forward_fill())
        .over(_TICKET)
        .fill_null(False)
    )
    cancels = _within(timer.cancel) & ~after_stop
    status = (
        pl.when(_within(timer.pause))
        .then(pl.lit("paused"))
        .when(_within(timer.stop) | _within(timer.cancel))
        .then(pl.when(cancels).then(pl.lit("cancelled")).otherwise(pl.lit("stopped")))
        .otherwise(pl.lit("running"))
    )
    started = _ever(_within(timer.start)) if timer.start else pl.lit(True)
    was_live = _before("status").is_in(["running", "paused"]).fill_null(False)
    live = pl.col("status").is_in(["running", "paused"])
    restart = _within(timer.reset)
    if timer.on_reopen == "restart":
        restart |= (_before("status") == "stopped").fill_null(False) & live
    if sli.priority_change == "restart":
        restart |= (pl.col("priority") != _before("priority")).fill_null(False) & was_live
    restart &= pl.col("started") & _before("started").fill_null(False)
    final_status = pl.when(_ever(cancels)).then(pl.lit("cancelled"))
    return (
        updates.with_columns(status=status, started=started)
        .with_columns(run=restart.cast(pl.Int32).cum_sum().over(_TICKET))
        .filter(pl.col("started") & (pl.col("run") == pl.col("run").max().over(_TICKET)))
        .with_columns(status=final_status.otherwise(pl.col("status")))
        .with_columns(
            entered=(pl.col("status") != _before("status")).fill_null(True),
            segment_start=pl.col("ts"),
            segment_end=pl.col("ts").shift(-1).over(_TICKET).fill_null(as_of),
        )
    )


def _targets(sli: TicketSli) -> pl.Expr:
    """Target seconds of a ticket from its (trimmed) ``priority``; null where none applies."""
    if sli.targets is not None:
        seconds = {priority.strip(): t.total_seconds() for priority, t in sli.targets.items()}
        return pl.col("priority").replace_strict(seconds, default=None, return_dtype=pl.Float64)
    if sli.threshold is not None:
        return pl.lit(sli.threshold.total_seconds(), pl.Float64)
    return pl.lit(None, pl.Float64)


def ticket_timers(
    events: pl.DataFrame,
    contract: Contract,
    objective: Objective,
    as_of: datetime,
    incomplete: pl.DataFrame | None = None,
    declared_priorities: Collection[str] = (),
) -> pl.DataFrame:
    """Run a ticket objective's timer over a ticket event log.

    In: ``events`` as TICKET_EVENTS_SCHEMA (any order; ties in ``ts`` keep their order);
    ``objective`` with a TicketSli; ``as_of``, a UTC instant (updates after it are ignored);
    ``incomplete``, a ``ticket_id`` column: the tickets with a rejected update (none when not
    given); ``declared_priorities``, the priority vocabulary the tickets sources declare (named,
    like the contract's own). Out: TICKET_TIMERS_SCHEMA, one row per ticket whose timer started,
    sorted by ticket_id: the counted tickets and the unmatched ones (no target); tickets out of
    scope (see the module docstring) are left out.
    """
    sli = objective.sli
    if not isinstance(sli, TicketSli):
        raise TypeError(f"objective {objective.id} is not a ticket timer objective")
    if events.is_empty():
        return pl.DataFrame(schema=TICKET_TIMERS_SCHEMA)
    first = events.select(pl.min_horizontal(pl.col("ts").min(), pl.col("opened_at").min())).item()
    targets = [*(sli.targets or {}).values(), *([sli.threshold] if sli.threshold else [])]
    working = WorkingTime.covering(
        objective_calendar(contract, objective),
        contract.zone,
        first,
        max(as_of, first),
        max(targets, default=timedelta(0)),
    )
    running, paused = pl.col("status") == "running", pl.col("status") == "paused"
    business = pl.when(running).then(
        working.worked(pl.col("segment_end")) - working.worked(pl.col("segment_start"))
    )
    actual = (pl.col("segment_end") - pl.col("segment_start")).dt.total_microseconds()
    # the business time still to go at the segment start, and whether the target falls inside
    # the segment (the last segment of a running timer runs on past as_of)
    to_go = (pl.col("target_seconds") * _MICROS).cast(pl.Int64) - (
        pl.col("business").cum_sum().over(_TICKET) - pl.col("business")
    )
    open_ended = running & pl.col("ts").shift(-1).over(_TICKET).is_null()
    breaches_here = running & (to_go > 0) & ((pl.col("business") > to_go) | open_ended)
    breach_at = working.reached(working.worked(pl.col("segment_start")) + to_go)
    end_priority = (
        pl.col("priority").filter(pl.col("status").is_in(["running", "paused"]) | pl.col("entered"))
    ).last()
    counted, unmatched = _priority_scope(contract, sli, declared_priorities)
    timers = (
        _last_run(_updates(events, sli.effective_timer, as_of), sli, as_of)
        .with_columns(
            business=business.fill_null(0),
            priority=end_priority.over(_TICKET),
        )
        .with_columns(counted=counted, unmatched=unmatched)
        .with_columns(target_seconds=pl.when(pl.col("counted")).then(_targets(sli)))
        .with_columns(breach_at=pl.when(breaches_here).then(breach_at))
        .group_by(_TICKET)
        .agg(
            pl.col("priority").last(),
            pl.col("status").last(),
            pl.col("ts").first().alias("started_at"),
            pl.col("ts").filter(pl.col("entered")).last().alias("stopped_at"),
            (pl.col("business").sum() / _MICROS).alias("business_seconds"),
            (actual.filter(running).sum() / _MICROS).alias("actual_seconds"),
            (actual.filter(paused).sum() / _MICROS).alias("paused_seconds"),
            (paused & pl.col("entered")).sum().cast(pl.Int64).alias("pauses"),
            pl.col("target_seconds").last(),
            pl.col("breach_at").drop_nulls().first(),
            pl.col("counted").last(),
            pl.col("unmatched").last(),
        )
        .filter(pl.col("counted") | pl.col("unmatched"))
    )
    rejected = incomplete["ticket_id"] if incomplete is not None else pl.Series([], dtype=pl.String)
    timer_state = pl.col("status").replace_strict(
        {"stopped": "completed", "cancelled": "cancelled"}, default="running"
    )
    return (
        timers.with_columns(
            pl.lit(contract.id).alias("contract_id"),
            pl.lit(objective.id).alias("objective_id"),
            timer_state.alias("timer_state"),
            pl.when(pl.col("status").is_in(["stopped", "cancelled"]))
            .then(pl.col("stopped_at"))
            .alias("stopped_at"),
            (pl.col("business_seconds") > pl.col("target_seconds")).alias("breached"),
            pl.col(_TICKET).is_in(rejected.implode()).alias("incomplete"),
        )
        .select(TICKET_TIMERS_SCHEMA.names())
        .sort(_TICKET)
        .collect()
        .cast(dict(TICKET_TIMERS_SCHEMA))
    )


def _duration_text(seconds: pl.Expr, known: pl.Series) -> pl.Expr:
    """``14400.0`` → ``"4h"`` for the few distinct durations in ``known``."""
    texts = {s: format_duration(timedelta(seconds=s)) for s in known.drop_nulls().unique()}
    return seconds.replace_strict(texts, default=None, return_dtype=pl.String)


_COMPLETED = pl.col("timer_state") == "completed"
_OVERDUE = (pl.col("timer_state") == "running") & pl.col("breached")
_COUNTED_AT = (
    pl.when(_COMPLETED).then(pl.col("stopped_at")).when(_OVERDUE).then(pl.col("breach_at"))
)
"""Where a timer counts: its stop when completed, its breach when running overdue; else null."""


def timer_outcomes(timers: pl.DataFrame) -> pl.DataFrame:
    """Outcomes of ticket timers: a completed ticket counts at its stop time; a ticket still
    running that already breached counts as a bad outcome at its breach time; a running ticket
    within its target, a cancelled one and an unmatched one are not counted (they stay in the
    timers frame).

    In: TICKET_TIMERS_SCHEMA. Out: OUTCOMES_SCHEMA, item_id = ticket_id, value = business
    seconds (up to the stop, or ``as_of`` for a running ticket), good = within the target (null
    without a target), detail like ``"1 - Critical, target 4h, 2 pauses"``.
    """
    target = _duration_text(pl.col("target_seconds"), timers.get_column("target_seconds"))
    detail = pl.concat_str(
        pl.col("priority").fill_null("no priority"),
        pl.when(target.is_not_null()).then(pl.format(", target {}", target)).otherwise(pl.lit("")),
        pl.format(", {} pauses", pl.col("pauses")),
        pl.when(_OVERDUE).then(pl.lit(", still open")).otherwise(pl.lit("")),
    )
    return (
        timers.filter((_COMPLETED | _OVERDUE) & ~pl.col("unmatched"))
        .select(
            "contract_id",
            "objective_id",
            pl.col("ticket_id").alias("item_id"),
            _COUNTED_AT.alias("counted_at"),
            pl.col("business_seconds").alias("value"),
            (pl.col("business_seconds") <= pl.col("target_seconds")).alias("good"),
            detail.alias("detail"),
        )
        .cast(dict(OUTCOMES_SCHEMA))
    )


def ticket_flags(timers: pl.DataFrame, as_of: datetime) -> pl.DataFrame:
    """The unmatched and incomplete timers placed for the windows: where they count (see
    ``timer_outcomes``), else, still running, at ``as_of``; cancelled ones are not placed.

    In: TICKET_TIMERS_SCHEMA. Out: TICKET_FLAGS_SCHEMA.
    """
    return (
        timers.filter(
            pl.col("unmatched") | pl.col("incomplete"), pl.col("timer_state") != "cancelled"
        )
        .select(
            "contract_id",
            "objective_id",
            _COUNTED_AT.fill_null(pl.lit(as_of, UTC_TIME)).alias("counted_at"),
            "unmatched",
            "incomplete",
        )
        .cast(dict(TICKET_FLAGS_SCHEMA))
    )


def first_contact_outcomes(
    events: pl.DataFrame,
    contract: Contract,
    objective: Objective,
    as_of: datetime,
    declared_priorities: Collection[str] = (),
) -> pl.DataFrame:
    """First-contact resolution: one outcome per ticket resolved at ``as_of`` (its last state
    up to then is a stop state of the resolution timer: Resolved, Closed), counted at its last
    resolution. Good when, at that resolution, its reassignment_count and reopen_count are 0
    (missing counts read as 0) and it never left a stop state for another state in the log.

    In: TICKET_EVENTS_SCHEMA. Out: OUTCOMES_SCHEMA, value = reassignments + reopens, detail like
    ``"3 - Moderate, 1 reassignments, 0 reopens"``. Only the tickets counted by priority (their
    trimmed priority at resolution; see the module docstring) are in: unlike timers, unmatched
    ones are not recorded yet. ``declared_priorities``: the tickets sources' priority vocabulary.
    """
    sli = objective.sli
    if not isinstance(sli, FirstContactSli):
        raise TypeError(f"objective {objective.id} is not a first-contact resolution objective")
    resolved = _within(DEFAULT_TIMERS["resolution_time"].stop)
    resolution = pl.col("resolved") & ~_before("resolved").fill_null(False)
    reopen = ~pl.col("resolved") & _before("resolved").fill_null(False)
    position = pl.int_range(pl.len()).over(_TICKET)
    resolved_at = pl.col("position").filter(pl.col("resolution")).last().over(_TICKET)
    at_resolution = pl.col("position") <= pl.col("resolved_at")
    tickets = (
        _log(events, as_of)
        .sort(_TICKET, "ts", maintain_order=True)
        .with_columns(resolved=resolved, position=position)
        .with_columns(resolution=resolution, reopen=reopen)
        .with_columns(resolved_at=resolved_at)
        .group_by(_TICKET)
        .agg(
            pl.col("resolved").last().alias("is_resolved"),
            pl.col("ts").filter(pl.col("resolution")).last().alias("counted_at"),
            pl.col("priority").filter(pl.col("resolution")).last(),
            pl.col("reassignment_count").filter(at_resolution).max().fill_null(0),
            pl.max_horizontal(
                pl.col("reopen_count").filter(at_resolution).max().fill_null(0),
                pl.col("reopen").sum(),
            ).alias("reopens"),
        )
        .filter(pl.col("is_resolved"))
    )
    counted, _ = _priority_scope(contract, sli, declared_priorities)
    return (
        tickets.filter(counted)
        .select(
            pl.lit(contract.id).alias("contract_id"),
            pl.lit(objective.id).alias("objective_id"),
            pl.col("ticket_id").alias("item_id"),
            "counted_at",
            (pl.col("reassignment_count") + pl.col("reopens")).alias("value"),
            ((pl.col("reassignment_count") == 0) & (pl.col("reopens") == 0)).alias("good"),
            pl.format(
                "{}, {} reassignments, {} reopens",
                pl.col("priority").fill_null("no priority"),
                pl.col("reassignment_count"),
                pl.col("reopens"),
            ).alias("detail"),
        )
        .sort("item_id")
        .collect()
        .cast(dict(OUTCOMES_SCHEMA))
    )
