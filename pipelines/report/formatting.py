"""How numbers, times and statuses are shown in the reports (shared by the pages and the charts).

Colours come from the Okabe-Ito palette, which stays distinguishable with the common forms of
colour blindness; every status is also told by its label, a symbol and (in charts) a pattern.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pipelines.contracts.units import format_duration

NO_VALUE = "—"


@dataclass(frozen=True)
class StatusStyle:
    label: str
    symbol: str
    colour: str
    text_colour: str
    pattern: str


STATUS_STYLES = {
    "breaching": StatusStyle("Breaching", "✖", "#D55E00", "#000000", "x"),
    "at_risk": StatusStyle("At risk", "▲", "#E69F00", "#000000", "/"),
    "insufficient_data": StatusStyle("Insufficient data", "◐", "#56B4E9", "#000000", "-"),
    "no_data": StatusStyle("No data", "?", "#BBBBBB", "#000000", "."),
    "on_track": StatusStyle("On track", "●", "#0072B2", "#FFFFFF", ""),
    "breached": StatusStyle("Breached", "✖", "#D55E00", "#000000", "x"),
    "met": StatusStyle("Met", "✔", "#009E73", "#000000", ""),
}
UNKNOWN_STATUS = StatusStyle("Unknown", "?", "#BBBBBB", "#000000", ".")


RECOMMENDATION_LABELS = {
    "tighten": "Could be tightened",
    "renegotiate_or_invest": "Renegotiate or invest",
    "data_gaps": "Data gaps",
}


def recommendation_label(recommendation: str) -> str:
    """A review recommendation (``pipelines.report.review.RECOMMENDATIONS``) in words."""
    return RECOMMENDATION_LABELS.get(recommendation, recommendation.replace("_", " ").capitalize())


def status_style(status: str | None) -> StatusStyle:
    """The presentation of a window status; ``None`` (no window yet) reads as no data."""
    if status is None:
        return STATUS_STYLES["no_data"]
    return STATUS_STYLES.get(status, UNKNOWN_STATUS)


def format_share(value: float | None, decimals: int = 3) -> str:
    """A share as a percentage: 0.99953 → ``99.953%``; negative budgets keep their sign."""
    if value is None:
        return NO_VALUE
    return f"{value * 100:.{decimals}f}%"


def format_attainment(attainment: float | None, target: float | None) -> str:
    """Attainment with three decimals, or more (up to six) when three would round it onto the
    target and hide which side of the target it lies (0.9994996 against 99.95% → 99.94999%)."""
    decimals = 3
    while (
        attainment is not None
        and target is not None
        and attainment != target
        and decimals < 6
        and format_share(attainment, decimals) == format_share(target, decimals)
    ):
        decimals += 1
    return format_share(attainment, decimals)


def format_number(value: float | None) -> str:
    """A count (events, minutes) with thousands separators; fractions only when there are any."""
    if value is None:
        return NO_VALUE
    decimals = 0 if float(value).is_integer() else 2
    return f"{value:,.{decimals}f}"


def format_amount(value: float | None, currency: str) -> str:
    """A money amount: 4800 EUR → ``4,800.00 EUR``."""
    if value is None:
        return NO_VALUE
    return f"{value:,.2f} {currency}"


def format_burn_rate(value: float | None) -> str:
    """A burn rate as a multiple of the sustainable rate: 14.4 → ``14.40×``."""
    if value is None:
        return NO_VALUE
    return f"{value:,.2f}×"


def format_local_time(value: datetime | None, time_zone: str) -> str:
    """A UTC timestamp shown in ``time_zone``: ``2026-03-01 01:00 CET``."""
    if value is None:
        return NO_VALUE
    return value.astimezone(ZoneInfo(time_zone)).strftime("%Y-%m-%d %H:%M %Z")


def format_elapsed(value: timedelta | None) -> str:
    """A duration rounded to minutes: ``2d 3h 05m``, ``3h 05m``, ``30m``."""
    if value is None:
        return NO_VALUE
    minutes = round(value.total_seconds() / 60)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days:
        return f"{days}d {hours}h {minutes:02d}m"
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m"


def format_seconds(seconds: float | None) -> str:
    """A measured duration, two units at most: ``3d 0h``, ``4h 12m``, ``37m``, ``45s``; a failed
    restore (infinite) reads ``never``."""
    if seconds is None:
        return NO_VALUE
    if seconds == float("inf"):
        return "never"
    if seconds < 60:
        return f"{seconds:.0f}s"
    minutes = round(seconds / 60)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days:
        return f"{days}d {hours}h"
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m"


def format_measure(value: float | None, judged_on: str, target: float | None = None) -> str:
    """What a window measured, in the unit its objective is judged on: ``share`` as an
    attainment (see :func:`format_attainment`), ``duration`` (seconds) as :func:`format_seconds`,
    ``points`` as ``NPS 24.0``."""
    if value is None:
        return NO_VALUE
    if judged_on == "duration":
        return format_seconds(value)
    if judged_on == "points":
        return f"NPS {value:.1f}"
    return format_attainment(value, target)


def format_interval(
    low: float | None, high: float | None, judged_on: str, confidence: float | None
) -> str:
    """A confidence interval: ``95% CI 8.4 … 41.6`` (points), ``95% CI 80.1% … 89.2%``
    (shares); empty without one."""
    if low is None or high is None:
        return ""
    level = f"{(confidence or 0.95) * 100:g}% CI"
    if judged_on == "points":
        return f"{level} {low:.1f} … {high:.1f}"
    return f"{level} {format_share(low, 1)} … {format_share(high, 1)}"


def format_window_measure(
    window: Mapping[str, Any], judged_on: str, confidence: float | None = None
) -> str:
    """A window's result as the pages show it: the attainment of share objectives, else the
    ``measured`` statistic, followed by its confidence interval when there is one
    (``NPS 24.0 (95% CI 8.4 … 41.6)``). ``window``: a ``sla.windows`` row (attainment, measured,
    target, interval_low, interval_high; missing keys read as null)."""
    value = window.get("attainment") if judged_on == "share" else window.get("measured")
    if value is None:
        value = window.get("measured")
    text = format_measure(value, judged_on, window.get("target"))
    interval = format_interval(
        window.get("interval_low"), window.get("interval_high"), judged_on, confidence
    )
    return f"{text} ({interval})" if interval and value is not None else text


def format_target(target: float | None, judged_on: str) -> str:
    """A target with its direction: durations are upper bounds (``≤ 3d``), shares and NPS lower
    bounds (``≥ 80.000%``, ``≥ NPS 20``)."""
    if target is None:
        return NO_VALUE
    if judged_on == "duration":
        return f"≤ {format_duration(timedelta(seconds=target))}"
    if judged_on == "points":
        return f"≥ NPS {target:g}"
    return f"≥ {format_share(target)}"


def budget_sentence(
    window: Mapping[str, Any], time_zone: str, exhausted_since: datetime | None = None
) -> str:
    """The error-budget sentence of a current window, from its state (never "-358.7% left …
    expected to run out" for a budget already gone):

    - no error budget: ``no error budget for this objective kind`` (judged on a statistic, a
      duration or NPS; error_budget null) or ``no error budget (a 100% target allows no
      failure)`` (error_budget 0 with items or events counted);
    - exhausted (budget_remaining ≤ 0): ``error budget exhausted since <time>`` (or without a
      time, ``error budget exhausted``) and how much of it is used (``458.7% of it used``);
    - otherwise ``<share> of the error budget left``, then ``, expected to run out <time>`` when
      the prediction's predicted_exhaustion_at falls before the window's end.

    ``window``: a current-window summary row (error_budget, budget_remaining, window_end,
    predicted_exhaustion_at; missing keys read as null); ``exhausted_since``: when the budget ran
    out (the start of the current stretch below target), if known.
    """
    remaining = window.get("budget_remaining")
    if remaining is None:
        if window.get("error_budget") == 0 and window.get("total"):
            return "no error budget (a 100% target allows no failure)"
        return "no error budget for this objective kind"
    if remaining <= 0:
        used = format_share(1 - remaining, 1)
        since = f" since {format_local_time(exhausted_since, time_zone)}" if exhausted_since else ""
        return f"error budget exhausted{since} ({used} of it used)"
    sentence = f"{format_share(remaining, 1)} of the error budget left"
    runs_out, window_end = window.get("predicted_exhaustion_at"), window.get("window_end")
    if runs_out is not None and (window_end is None or runs_out < window_end):
        sentence += f", expected to run out {format_local_time(runs_out, time_zone)}"
    return sentence


def credit_forecast_sentence(forecast: Mapping[str, Any]) -> str:
    """A current window's projected credit, labelled as a forecast (not owed): ``Forecast, not
    owed: 10% tier expected (below 99.950%), 4,800.00 EUR; 62% chance of this tier or a worse
    one`` (an amount cut by a cap says so) or ``Forecast: no credit expected; 4% chance of
    one``. ``forecast``: a ``credits.credit_forecasts`` row."""
    chance = format_share(forecast["probability"], 0)
    if forecast["tier_below"] is None:
        return f"Forecast: no credit expected; {chance} chance of one"
    amount = format_amount(forecast["credit_amount"], forecast["currency"])
    if forecast["credit_pct"] < forecast["tier_credit"]:
        amount += f" (capped to {format_share(forecast['credit_pct'], 0)} of the fee)"
    return (
        f"Forecast, not owed: {format_share(forecast['tier_credit'], 0)} tier expected "
        f"(below {format_share(forecast['tier_below'])}), {amount}; "
        f"{chance} chance of this tier or a worse one"
    )


LOW_COVERAGE = 0.9
"""A window with evidence for less than this share of its time (after exclusions) is flagged."""


def coverage_warning(coverage: float | None) -> str | None:
    """The warning a window with low coverage gets (``Only 25.0% of this window's time has
    evidence``), None when coverage is at least :data:`LOW_COVERAGE` or unknown (item-judged
    objectives)."""
    if coverage is None or coverage >= LOW_COVERAGE:
        return None
    return f"Only {format_share(coverage, 1)} of this window's time has evidence"
