"""Contracts → the frames the SLA math works on: objectives, alert rules, credit tiers and
exclusions. These walk the (small) contract model in Python; evidence rows never pass here."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl

from pipelines.contracts.fields import WEEKDAYS
from pipelines.contracts.schema import Contract, Exclusion, Timeslices
from pipelines.contracts.sli import FirstContactSli, SatisfactionSli, Sli
from pipelines.sla.clock import local_day, local_midnight, local_to_utc

UTC_US = pl.Datetime("us", "UTC")
KEYS = ["contract_id", "objective_id"]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def utc_literal(moment: datetime) -> pl.Expr:
    """The instant ``moment`` (time-zone aware, any zone) as a UTC_US literal, to compare with
    UTC columns: ``pl.lit`` of an aware datetime costs 0.2 ms every time, and a page compares
    with dozens of them."""
    return pl.lit((moment - _EPOCH) // timedelta(microseconds=1)).cast(UTC_US)


OBJECTIVES_SCHEMA = {
    "contract_id": pl.String,
    "objective_id": pl.String,
    "title": pl.String,
    "service": pl.String,
    "provider": pl.String,
    "sli_kind": pl.String,
    "sli_method": pl.String,
    "target": pl.Float64,
    "window": pl.String,
    "time_zone": pl.String,
    "budgeting": pl.String,
    "slice_seconds": pl.Int64,
    "missing_data": pl.String,
    "unit": pl.String,
    "slice_target": pl.Float64,
    "threshold_seconds": pl.Float64,
    "percentile": pl.Float64,
    "window_kind": pl.String,
    "window_period": pl.String,
    "window_days": pl.Int64,
    "window_anchor": pl.Datetime("us"),
    "effective_start": UTC_US,
    "effective_end": UTC_US,
    "monthly_fee": pl.Float64,
    "currency": pl.String,
    "judged_on": pl.String,
    "statistic": pl.String,
    "measure": pl.String,
    "severities": pl.List(pl.String),
    "judge": pl.String,
    "confidence": pl.Float64,
    "min_responses": pl.Int64,
    "risk_threshold": pl.Float64,
}


def objectives_frame(contracts: list[Contract]) -> pl.DataFrame:
    """One row per objective of every contract (the ``sla.objectives`` table, OBJECTIVES_SCHEMA).

    ``sli_method`` is the raw evidence read (SLI ``source_kind``: requests, probes, histogram,
    samples, tickets, ...); ``slice_seconds`` the
    slice length (5 min for occurrences); ``effective_start``/``effective_end`` the local
    midnights opening the contract's first day and closing its last (end null when open-ended);
    ``window_days`` the length of a rolling window; ``window_anchor`` the local wall-clock start
    of a calendar window's periods (null: the natural start). ``judged_on``: share, duration or
    points (the unit of ``target``); ``statistic``: share_within, mean, median, max or pNN (csat/nps
    for satisfaction; null for traffic ratios); ``measure``: detect/contain, rpo/rto,
    csat/nps; ``severities`` (security), ``judge``, ``confidence``, ``min_responses`` (surveys).
    """
    rows = []
    for contract in contracts:
        zone = contract.zone
        effective = contract.effective
        for objective in contract.objectives:
            sli, window, budgeting = objective.sli, objective.window, objective.budgeting
            timeslices = isinstance(budgeting, Timeslices)
            threshold = getattr(sli, "threshold", None)
            rows.append(
                {
                    "contract_id": contract.id,
                    "objective_id": objective.id,
                    "title": objective.title,
                    "service": objective.service,
                    "provider": contract.provider,
                    "sli_kind": sli.kind,
                    "sli_method": sli.source_kind,
                    "target": objective.target,
                    "window": window.label(),
                    "time_zone": contract.time_zone,
                    "budgeting": budgeting.method,
                    "slice_seconds": int(objective.slice_length.total_seconds()),
                    "missing_data": objective.missing_data,
                    "unit": objective.unit,
                    "slice_target": budgeting.slice_target if timeslices else None,
                    "threshold_seconds": threshold.total_seconds() if threshold else None,
                    "percentile": getattr(sli, "percentile", None),
                    "window_kind": window.kind,
                    "window_period": window.period,
                    "window_days": window.length.days if window.length else None,
                    "window_anchor": window.start,
                    "effective_start": local_midnight(effective.start, zone) if effective else None,
                    "effective_end": (
                        local_midnight(effective.end + timedelta(days=1), zone)
                        if effective and effective.end
                        else None
                    ),
                    "monthly_fee": contract.monthly_fee,
                    "currency": contract.currency,
                    "judged_on": sli.judged_on,
                    "statistic": _statistic(sli),
                    "measure": getattr(sli, "measure", None),
                    "severities": getattr(sli, "severities", None),
                    "judge": getattr(sli, "judge", None),
                    "confidence": getattr(sli, "confidence", None),
                    "min_responses": getattr(sli, "min_responses", None),
                    "risk_threshold": objective.alerting.risk_threshold,
                }
            )
    return pl.DataFrame(rows, schema=OBJECTIVES_SCHEMA)


def _statistic(sli: Sli) -> str | None:
    """The window statistic an objective is judged on (see objectives_frame)."""
    if isinstance(sli, SatisfactionSli):
        return sli.measure
    if isinstance(sli, FirstContactSli):
        return "share_within"
    return getattr(sli, "statistic", None)


def alert_rules_frame(contracts: list[Contract]) -> pl.DataFrame:
    """Burn-rate alert rules per objective, look-backs scaled to the objective's window.

    Rules are stated for a 30-day window; a window of nominal length L scales each look-back by
    L / 30 days (a 7-day window pages on 14 min and 70 s instead of 1 h and 5 min). Output:
    contract_id, objective_id, rule (position in the list), severity, long_seconds,
    short_seconds (Float64), burn_rate.
    """
    rows = [
        {
            "contract_id": contract.id,
            "objective_id": objective.id,
            "rule": position,
            "severity": rule.severity,
            "long_seconds": rule.long.total_seconds() * scale,
            "short_seconds": rule.short.total_seconds() * scale,
            "burn_rate": rule.burn_rate,
        }
        for contract in contracts
        for objective in contract.objectives
        for scale in [objective.window.nominal_length / timedelta(days=30)]
        for position, rule in enumerate(objective.alerting.burn_rate_rules)
    ]
    schema = {
        "contract_id": pl.String,
        "objective_id": pl.String,
        "rule": pl.Int64,
        "severity": pl.String,
        "long_seconds": pl.Float64,
        "short_seconds": pl.Float64,
        "burn_rate": pl.Float64,
    }
    return pl.DataFrame(rows, schema=schema)


def credit_tiers_frame(contracts: list[Contract]) -> pl.DataFrame:
    """Credit tiers of the objectives that have credits: contract_id, objective_id, below,
    credit, cap (shares), monthly_fee, currency, credit_cap (the contract's cap on all its
    objectives' credits in one month, a share; null without one), time_zone."""
    rows = [
        {
            "contract_id": contract.id,
            "objective_id": objective.id,
            "below": tier.below,
            "credit": tier.credit,
            "cap": objective.credits.cap,
            "monthly_fee": contract.monthly_fee,
            "currency": contract.currency,
            "credit_cap": contract.credit_cap,
            "time_zone": contract.time_zone,
        }
        for contract in contracts
        for objective in contract.objectives
        if objective.credits
        for tier in objective.credits.tiers
    ]
    schema = {
        "contract_id": pl.String,
        "objective_id": pl.String,
        "below": pl.Float64,
        "credit": pl.Float64,
        "cap": pl.Float64,
        "monthly_fee": pl.Float64,
        "currency": pl.String,
        "credit_cap": pl.Float64,
        "time_zone": pl.String,
    }
    return pl.DataFrame(rows, schema=schema)


def exclusion_intervals(contracts: list[Contract], start: datetime, end: datetime) -> pl.DataFrame:
    """Maintenance periods overlapping ``[start, end)`` (UTC), one row per service they cover.

    One-off periods are read in the contract's zone unless they carry an offset. A weekly period
    starts at its local ``at`` time on every ``every`` day (so at a different UTC hour in summer
    and winter) and lasts ``duration`` of elapsed time. An exclusion without ``services`` covers
    every service of the contract. Output: contract_id, service, excluded_from, excluded_until
    (UTC), reason.
    """
    rows = []
    for contract in contracts:
        for exclusion in contract.exclusions:
            services = exclusion.services or [service.id for service in contract.services]
            for begins, ends in _occurrences(exclusion, contract, start, end):
                if begins < end and ends > start:
                    rows.extend(
                        {
                            "contract_id": contract.id,
                            "service": service,
                            "excluded_from": begins,
                            "excluded_until": ends,
                            "reason": exclusion.reason,
                        }
                        for service in services
                    )
    schema = {
        "contract_id": pl.String,
        "service": pl.String,
        "excluded_from": UTC_US,
        "excluded_until": UTC_US,
        "reason": pl.String,
    }
    return pl.DataFrame(rows, schema=schema)


def _occurrences(
    exclusion: Exclusion, contract: Contract, start: datetime, end: datetime
) -> list[tuple[datetime, datetime]]:
    zone = contract.zone
    if exclusion.start is not None and exclusion.end is not None:
        return [(local_to_utc(exclusion.start, zone), local_to_utc(exclusion.end, zone))]
    assert exclusion.every and exclusion.at and exclusion.duration
    weekday = WEEKDAYS.index(exclusion.every)
    # Start a week early so that a period begun before ``start`` and still running is kept.
    first = local_day(start, zone) - timedelta(days=7)
    first += timedelta(days=(weekday - first.weekday()) % 7)
    last = local_day(end, zone)
    weeks = (last - first).days // 7 + 1
    begins = [
        local_to_utc(datetime.combine(first + timedelta(weeks=n), exclusion.at), zone)
        for n in range(weeks)
    ]
    return [(moment, moment + exclusion.duration) for moment in begins]


def excluded_minutes(intervals: pl.DataFrame, start: datetime, end: datetime) -> pl.DataFrame:
    """The evidence minutes an exclusion removes: every minute timestamp m in
    ``[excluded_from, excluded_until)`` and in ``[start, end)``. Output: contract_id, service,
    minute (UTC), unique."""
    return interval_minutes(
        intervals, ["contract_id", "service"], "excluded_from", "excluded_until", start, end
    )


def interval_minutes(
    intervals: pl.DataFrame,
    keys: list[str],
    begins: str,
    ends: str,
    start: datetime,
    end: datetime,
) -> pl.DataFrame:
    """Every minute timestamp m with ``begins`` <= m < ``ends`` of an interval row and
    start <= m < end, per ``keys``. Output: keys, minute (UTC), unique."""
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    first = pl.max_horizontal(pl.col(begins), pl.lit(start, UTC_US))
    first_minute = first.dt.truncate("1m")
    first_minute = (
        pl.when(first_minute < first).then(first_minute.dt.offset_by("1m")).otherwise(first_minute)
    )
    until = pl.min_horizontal(pl.col(ends), pl.lit(end, UTC_US))
    return (
        intervals.lazy()
        .filter(first_minute < until)
        .select(*keys, minute=pl.datetime_ranges(first_minute, until, "1m", closed="left"))
        .explode("minute")
        .unique()
        .collect()
    )
