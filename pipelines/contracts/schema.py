"""The contract model (v1): what a contract YAML file may say, as pydantic models.

Field-level rules live here (types, ranges, units). Rules that relate fields to each other across
the contract (an objective naming an unknown service, duplicate ids) live in ``checks.py`` so that
each problem can point at the exact line of the file.
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime, time, timedelta
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays
from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from pipelines.contracts.fields import (
    Duration,
    LocalTime,
    Model,
    Share,
    Weekday,
    parse_positive_duration,
)
from pipelines.contracts.sli import Sli, TrafficSli, parse_target
from pipelines.contracts.units import format_duration


class Contact(Model):
    name: str
    email: str | None = None
    role: str | None = None


class EscalationStep(Model):
    """One level of the escalation path. A step with ``after`` also escalates notifications: once
    a window's first at_risk, breached or budget_exhausted notification has gone ``after``
    without the window recovering, ``contact`` is notified (once per level)."""

    level: int = Field(ge=1)
    contact: str
    after: Duration | None = None


class Notifications(Model):
    """Who hears about the contract's breaches and risks, and through which webhook. The webhook
    is named by the environment variable that holds its URL, so no secret sits in the contract.
    Escalation follows the contract's ``escalation`` steps that have an ``after``."""

    recipients: list[str] = Field(
        default_factory=list,
        description="addresses or channels notified; default: the owners' emails",
    )
    webhook_env: str = Field(
        default="PLEDGE_WEBHOOK_URL",
        description="name of the environment variable holding the webhook URL",
    )

    @field_validator("webhook_env")
    @classmethod
    def _variable_name(cls, name: str) -> str:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise ValueError(  # the value is not echoed: it may be the secret URL itself
                "not an environment variable name: give the name of the variable holding the "
                "webhook URL (e.g. PLEDGE_WEBHOOK_URL), never the URL itself"
            )
        return name


class Effective(Model):
    start: date = Field(alias="from")
    end: date | None = Field(default=None, alias="to")

    @model_validator(mode="after")
    def _ordered(self) -> Effective:
        if self.end is not None and self.end < self.start:
            raise ValueError("'to' lies before 'from'")
        return self


class Capacity(Model):
    """What a service can take: the sustained request rate it is sized for."""

    requests_per_second: float = Field(gt=0)


class Service(Model):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    title: str | None = None
    capacity: Capacity | None = None


class Window(Model):
    """A compliance window: a calendar period in the contract's zone, or the last N days.

    A calendar window may have a ``start``: a local wall-clock time in the contract's zone at
    which one of its periods begins; every period then begins at the same offset (a month on
    the start's day of the month and time, a week on its weekday and time, a day at its time, a
    quarter on its month within the quarter, day and time). Without one, or with one that begins
    a natural period (stored as none), periods begin at local midnight on Monday, the 1st, or the
    1st of January, April, July and October.
    """

    kind: Literal["calendar", "rolling"]
    period: Literal["day", "week", "month", "quarter"] | None = None
    length: Duration | None = None
    start: datetime | None = None

    @model_validator(mode="after")
    def _start_fits(self) -> Window:
        start = self.start
        if start is None:
            return self
        if self.kind != "calendar":
            raise ValueError("only a calendar window has a start")
        if start.tzinfo is not None:
            raise ValueError(
                f"window start {start.isoformat()} is a wall-clock time in the contract's "
                "zone: drop its UTC offset"
            )
        if start.second or start.microsecond or start.minute % 15:
            raise ValueError(
                f"window start {start.isoformat()} must be on a quarter hour (:00, :15, :30, :45)"
            )
        if self.period in ("month", "quarter") and start.day > 28:
            raise ValueError(
                f"window start {start.isoformat()}: a {self.period} cannot start on day "
                f"{start.day}, which some months lack (use a day from 1 to 28)"
            )
        natural = (
            start.time() == time()
            and {
                "day": True,
                "week": start.weekday() == 0,
                "month": start.day == 1,
                "quarter": start.day == 1 and start.month % 3 == 1,
            }[self.period or "month"]
        )
        return self.model_copy(update={"start": None}) if natural else self

    @property
    def nominal_length(self) -> timedelta:
        """Length used to scale burn-rate alert look-backs (a month counts as 30 days)."""
        if self.kind == "rolling":
            assert self.length is not None
            return self.length
        days = {"day": 1, "week": 7, "month": 30, "quarter": 90}[self.period or "month"]
        return timedelta(days=days)

    def label(self) -> str:
        if self.kind == "rolling":
            return f"rolling {format_duration(self.length)}"
        if self.start is None:
            return self.period or "month"
        start = self.start
        offset = {
            "day": f"{start:%H:%M}",
            "week": f"{start:%A %H:%M}",
            "month": f"day {start.day} {start:%H:%M}",
            "quarter": f"{start.day} {start:%b %H:%M}",
        }[self.period or "month"]
        return f"{self.period} from {offset}"


def _window(value: object) -> object:
    """``month`` / ``calendar month`` / ``rolling 28d`` / ``{rolling: 28d}`` /
    ``{period: month, start: ...}`` → Window fields."""
    if isinstance(value, str):
        words = value.strip().lower().split()
        if words and words[0] == "calendar":
            words = words[1:]
        if len(words) == 1 and words[0] in ("day", "week", "month", "quarter"):
            return {"kind": "calendar", "period": words[0]}
        if len(words) == 2 and words[0] == "rolling":
            length = parse_positive_duration(words[1])
            if length % timedelta(days=1):
                raise ValueError(f"rolling window {words[1]!r} must be whole days")
            return {"kind": "rolling", "length": length}
        raise ValueError(f"unknown window {value!r}: use day, week, month, quarter or 'rolling Nd'")
    if isinstance(value, dict) and set(value) == {"rolling"}:
        return _window(f"rolling {value['rolling']}")
    if isinstance(value, dict) and "period" in value and "kind" not in value:
        return {"kind": "calendar", **value}
    return value


WindowField = Annotated[Window, BeforeValidator(_window)]


def _divides_a_day(length: timedelta) -> timedelta:
    if length % timedelta(minutes=1) or timedelta(days=1) % length:
        raise ValueError(
            f"slice {format_duration(length)} must be whole minutes that divide a day "
            "(e.g. 1m, 5m, 15m, 1h)"
        )
    return length


SliceLength = Annotated[Duration, AfterValidator(_divides_a_day)]


class Timeslices(Model):
    """A slice is good when its SLI reaches ``slice_target``; good/total count minutes."""

    method: Literal["timeslices"]
    slice: SliceLength = timedelta(minutes=5)
    slice_target: Share = 0.99


class RatioTimeslices(Model):
    """The window's SLI is the mean of its slices' good/total ratios; good/total count slices."""

    method: Literal["ratio_timeslices"]
    slice: SliceLength = timedelta(minutes=5)


class Occurrences(Model):
    method: Literal["occurrences"]


def _budgeting(value: object) -> object:
    if isinstance(value, str):
        return {"method": value}
    return value


Budgeting = Annotated[
    Occurrences | Timeslices | RatioTimeslices,
    BeforeValidator(_budgeting),
    Field(discriminator="method"),
]


class CreditTier(Model):
    below: Share
    credit: Share


class Credits(Model):
    """Attainment below a tier's ``below`` earns its ``credit`` (share of the monthly fee); the
    lowest tier reached wins; ``cap`` limits the credit of one window."""

    tiers: list[CreditTier] = Field(min_length=1)
    cap: Share = 1.0


class BurnRateRule(Model):
    severity: Literal["page", "ticket"]
    long: Duration
    short: Duration
    burn_rate: float = Field(gt=0)


SRE_WORKBOOK_RULES = (
    BurnRateRule(severity="page", long="1h", short="5m", burn_rate=14.4),
    BurnRateRule(severity="page", long="6h", short="30m", burn_rate=6),
    BurnRateRule(severity="ticket", long="3d", short="6h", burn_rate=1),
)


class Alerting(Model):
    """Burn-rate alert rules, stated for a 30-day window and scaled to the objective's window, and
    the breach probability at which a current window turns at_risk."""

    burn_rate_rules: list[BurnRateRule] = Field(default_factory=lambda: list(SRE_WORKBOOK_RULES))
    risk_threshold: Share = Field(
        default=0.5, description="breach probability above which the current window is at_risk"
    )


ALWAYS = "24x7"
"""The calendar every contract has: all the time counts."""


class Objective(Model):
    """One promise about one service. ``target`` is in the unit the SLI is judged on: a share
    (99.9% → 0.999), seconds for a window statistic ("4h" → 14400), or NPS points."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    title: str | None = None
    service: str
    sli: Sli
    target: float
    window: WindowField = Window(kind="calendar", period="month")
    budgeting: Budgeting = Occurrences(method="occurrences")
    calendar: str = Field(
        default=ALWAYS, description="name of a contract calendar; 24x7 by default"
    )
    missing_data: Literal["good", "bad", "excluded"] = "excluded"
    credits: Credits | None = None
    alerting: Alerting = Alerting()
    tags: dict[str, str] = Field(
        default_factory=dict, description="free labels, e.g. those of an imported SLO"
    )

    @field_validator("target", mode="before")
    @classmethod
    def _target_in_its_unit(cls, value: object, info: ValidationInfo) -> float:
        """Parse ``target`` as the (already validated) SLI says: share, duration or points."""
        sli = info.data.get("sli")
        if sli is None:  # the SLI's own problem is reported; its target is checked once it is valid
            return math.nan
        return parse_target(value, sli.judged_on)

    @model_validator(mode="after")
    def _credits_fit(self) -> Objective:
        if self.credits is not None and self.window.kind == "rolling":
            raise ValueError(
                "credits are owed per calendar window; a rolling window overlaps itself day by day "
                "(use window: month)"
            )
        if self.credits is not None and self.sli.judged_on != "share":
            raise ValueError("credit tiers compare an attainment share: this objective has none")
        return self

    @model_validator(mode="after")
    def _budgeting_fits_sli(self) -> Objective:
        if not isinstance(self.sli, TrafficSli):
            if not isinstance(self.budgeting, Occurrences):
                raise ValueError(
                    f"{self.sli.kind} objectives count items: budgeting is occurrences"
                )
            return self
        if self.sli.percentile is not None and not isinstance(self.budgeting, Timeslices):
            raise ValueError(
                "percentile SLIs are judged per slice against a threshold: use budgeting: "
                "{method: timeslices, slice: 5m, slice_target: ...}"
            )
        if self.sli.source_kind == "probes" and isinstance(self.budgeting, Occurrences):
            raise ValueError(
                "probes SLIs are judged per slice: use budgeting: "
                "{method: timeslices, slice: 5m, slice_target: ...} or "
                "{method: ratio_timeslices, slice: 5m}"
            )
        return self

    @property
    def slice_length(self) -> timedelta:
        if isinstance(self.budgeting, Timeslices | RatioTimeslices):
            return self.budgeting.slice
        return timedelta(minutes=5)

    @property
    def unit(self) -> str:
        """What good/total count: ``minutes`` (timeslices), ``slices`` (ratio_timeslices: each
        slice adds its good/total ratio to good and 1 to total) or ``events`` (requests,
        tickets...)."""
        if isinstance(self.budgeting, RatioTimeslices):
            return "slices"
        return "minutes" if isinstance(self.budgeting, Timeslices) else "events"


class Holidays(Model):
    """Public holidays from the ``holidays`` package: ISO country code and optional subdivision."""

    country: str = Field(pattern=r"^[A-Z]{2}$")
    subdivision: str | None = None

    @model_validator(mode="after")
    def _known(self) -> Holidays:
        try:
            holidays.country_holidays(self.country, subdiv=self.subdivision)
        except NotImplementedError as error:
            raise ValueError(f"unknown holiday calendar: {error}") from None
        return self


class Calendar(Model):
    """Working time in the contract's zone: weekdays, from ``hours[0]`` to ``hours[1]``, minus
    public holidays and explicit dates."""

    days: list[Weekday] = Field(
        default_factory=lambda: ["monday", "tuesday", "wednesday", "thursday", "friday"],
        min_length=1,
    )
    hours: tuple[LocalTime, LocalTime] = (time(8), time(17))
    holidays: Holidays | None = None
    dates: list[date] = Field(default_factory=list, description="extra non-working dates")

    @model_validator(mode="after")
    def _ordered_hours(self) -> Calendar:
        if self.hours[1] <= self.hours[0]:
            raise ValueError("hours must be [opening, closing] with closing after opening")
        return self


class Correction(Model):
    """An after-the-fact period excluded from objectives (a mis-measurement, an agreed waiver),
    audited in the report: who, why, when recorded. Applies to the listed objectives, or to every
    objective of the listed services, or to every objective."""

    reason: str = Field(min_length=3)
    author: str
    recorded: date
    start: datetime
    end: datetime
    objectives: list[str] | None = None
    services: list[str] | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Correction:
        if (self.start.tzinfo is None) != (self.end.tzinfo is None):
            raise ValueError("start and end must both carry an offset, or neither")
        if self.end <= self.start:
            raise ValueError("end must lie after start")
        return self


class Exclusion(Model):
    """Planned maintenance: a one-off period (``start``/``end``) or a weekly one (``every``,
    ``at``, ``duration``), in the contract's zone unless the timestamps carry an offset. Applies to
    the listed services, or to every service of the contract."""

    reason: str
    services: list[str] | None = None
    start: datetime | None = None
    end: datetime | None = None
    every: Weekday | None = None
    at: LocalTime | None = None
    duration: Duration | None = None

    @model_validator(mode="after")
    def _one_form(self) -> Exclusion:
        one_off = self.start is not None or self.end is not None
        weekly = self.every is not None or self.at is not None or self.duration is not None
        if one_off == weekly:
            raise ValueError("give either start and end, or every, at and duration")
        if one_off:
            if self.start is None or self.end is None:
                raise ValueError("a one-off exclusion needs both start and end")
            if (self.start.tzinfo is None) != (self.end.tzinfo is None):
                raise ValueError("start and end must both carry an offset, or neither")
            if self.end <= self.start:
                raise ValueError("end must lie after start")
        elif self.every is None or self.at is None or self.duration is None:
            raise ValueError("a weekly exclusion needs every, at and duration")
        return self


class Contract(Model):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    title: str
    provider: str
    consumer: str
    time_zone: str = "UTC"
    currency: str = Field(default="EUR", pattern=r"^[A-Z]{3}$")
    monthly_fee: float = Field(default=0, ge=0)
    effective: Effective | None = None
    review: Literal["monthly", "quarterly", "yearly"] | None = None
    owners: list[Contact] = Field(default_factory=list)
    escalation: list[EscalationStep] = Field(default_factory=list)
    notifications: Notifications = Notifications()
    services: list[Service] = Field(min_length=1)
    calendars: dict[str, Calendar] = Field(default_factory=dict)
    exclusions: list[Exclusion] = Field(default_factory=list)
    corrections: list[Correction] = Field(default_factory=list)
    objectives: list[Objective] = Field(min_length=1)
    credit_cap: Share | None = Field(
        default=None, description="cap on the credits of all objectives in one window"
    )

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, zone: str) -> str:
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {zone!r}: use an IANA name like Europe/Berlin"
            ) from None
        return zone

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    @property
    def recipients(self) -> list[str]:
        """Who is notified: ``notifications.recipients``, else the owners' emails."""
        return self.notifications.recipients or [
            owner.email for owner in self.owners if owner.email
        ]

    def objective(self, objective_id: str) -> Objective:
        return next(o for o in self.objectives if o.id == objective_id)
