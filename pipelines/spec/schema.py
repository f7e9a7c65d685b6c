"""The contract model (v1): what a contract YAML file may say, as pydantic models.

Field-level rules live here (types, ranges, units). Rules that relate fields to each other across
the contract (an objective naming an unknown service, duplicate ids) live in ``checks.py`` so that
each problem can point at the exact line of the file.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    field_validator,
    model_validator,
)

from pipelines.spec.units import format_duration, parse_duration, parse_share


def _share(value: object) -> float:
    share = parse_share(value)  # type: ignore[arg-type]
    if not 0 <= share <= 1:
        raise ValueError(f"{value!r} is out of range: a share lies between 0% and 100%")
    return share


def _duration(value: object) -> timedelta:
    if isinstance(value, timedelta):
        return value
    duration = parse_duration(value)  # type: ignore[arg-type]
    if duration <= timedelta(0):
        raise ValueError(f"bad duration {value!r}: must be longer than zero")
    return duration


Share = Annotated[float, BeforeValidator(_share)]
Duration = Annotated[
    timedelta, BeforeValidator(_duration), PlainSerializer(format_duration, return_type=str)
]

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Contact(Model):
    name: str
    email: str | None = None
    role: str | None = None


class EscalationStep(Model):
    level: int = Field(ge=1)
    contact: str
    after: Duration | None = None


class Effective(Model):
    start: date = Field(alias="from")
    end: date | None = Field(default=None, alias="to")

    @model_validator(mode="after")
    def _ordered(self) -> Effective:
        if self.end is not None and self.end < self.start:
            raise ValueError("'to' lies before 'from'")
        return self


class Service(Model):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    title: str | None = None


class Window(Model):
    """A compliance window: a calendar period in the contract's zone, or the last N days."""

    kind: Literal["calendar", "rolling"]
    period: Literal["day", "week", "month", "quarter"] | None = None
    length: Duration | None = None

    @property
    def nominal_length(self) -> timedelta:
        """Length used to scale burn-rate alert look-backs (a month counts as 30 days)."""
        if self.kind == "rolling":
            assert self.length is not None
            return self.length
        days = {"day": 1, "week": 7, "month": 30, "quarter": 90}[self.period or "month"]
        return timedelta(days=days)

    def label(self) -> str:
        return self.period if self.kind == "calendar" else f"rolling {format_duration(self.length)}"


def _window(value: object) -> object:
    """``month`` / ``calendar month`` / ``rolling 28d`` / ``{rolling: 28d}`` → Window fields."""
    if isinstance(value, str):
        words = value.strip().lower().split()
        if words and words[0] == "calendar":
            words = words[1:]
        if len(words) == 1 and words[0] in ("day", "week", "month", "quarter"):
            return {"kind": "calendar", "period": words[0]}
        if len(words) == 2 and words[0] == "rolling":
            length = _duration(words[1])
            if length % timedelta(days=1):
                raise ValueError(f"rolling window {words[1]!r} must be whole days")
            return {"kind": "rolling", "length": length}
        raise ValueError(f"unknown window {value!r}: use day, week, month, quarter or 'rolling Nd'")
    if isinstance(value, dict) and set(value) == {"rolling"}:
        return _window(f"rolling {value['rolling']}")
    return value


WindowField = Annotated[Window, BeforeValidator(_window)]


class Sli(Model):
    """What is measured.

    availability from ``requests``: good = total − errors per minute (occurrences), or a slice is
    good when its success ratio reaches the slice target (timeslices). availability from
    ``probes``: a slice is good when the share of successful checks reaches the slice target.
    latency: good = requests at or under ``threshold`` (a histogram bucket bound); with
    ``percentile`` a slice is good when that percentile (interpolated from the buckets) is at or
    under the threshold.
    """

    kind: Literal["availability", "latency"]
    evidence: Literal["requests", "probes", "histogram"] | None = None
    threshold: Duration | None = None
    percentile: float | None = Field(default=None, gt=0, lt=100)

    @model_validator(mode="after")
    def _consistent(self) -> Sli:
        if self.kind == "availability":
            if self.evidence not in (None, "requests", "probes"):
                raise ValueError("availability is measured from 'requests' or 'probes'")
            if self.threshold is not None or self.percentile is not None:
                raise ValueError("threshold and percentile belong to latency SLIs")
        else:
            if self.evidence not in (None, "histogram"):
                raise ValueError("latency is measured from 'histogram' bucket counts")
            if self.threshold is None:
                raise ValueError("a latency SLI needs a threshold, e.g. threshold: 300ms")
        return self

    @property
    def source_kind(self) -> str:
        """The raw evidence this SLI reads: ``requests``, ``probes`` or ``histogram``."""
        if self.kind == "latency":
            return "histogram"
        return self.evidence or "requests"


class Timeslices(Model):
    method: Literal["timeslices"]
    slice: Duration = timedelta(minutes=5)
    slice_target: Share = 0.99

    @field_validator("slice")
    @classmethod
    def _divides_a_day(cls, length: timedelta) -> timedelta:
        if length % timedelta(minutes=1) or timedelta(days=1) % length:
            raise ValueError(
                f"slice {format_duration(length)} must be whole minutes that divide a day "
                "(e.g. 1m, 5m, 15m, 1h)"
            )
        return length


class Occurrences(Model):
    method: Literal["occurrences"]


def _budgeting(value: object) -> object:
    if isinstance(value, str):
        return {"method": value}
    return value


Budgeting = Annotated[
    Occurrences | Timeslices, BeforeValidator(_budgeting), Field(discriminator="method")
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
    """Burn-rate alert rules, stated for a 30-day window and scaled to the objective's window."""

    burn_rate_rules: list[BurnRateRule] = Field(default_factory=lambda: list(SRE_WORKBOOK_RULES))


class Objective(Model):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    title: str | None = None
    service: str
    sli: Sli
    target: Share
    window: WindowField = Window(kind="calendar", period="month")
    budgeting: Budgeting = Occurrences(method="occurrences")
    missing_data: Literal["good", "bad", "excluded"] = "excluded"
    credits: Credits | None = None
    alerting: Alerting = Alerting()

    @field_validator("target")
    @classmethod
    def _target_leaves_budget(cls, target: float) -> float:
        if not 0 < target < 1:
            raise ValueError(
                f"target {target:.4%} is out of range: it must lie strictly between 0% and 100%"
            )
        return target

    @model_validator(mode="after")
    def _credits_need_calendar_windows(self) -> Objective:
        if self.credits is not None and self.window.kind == "rolling":
            raise ValueError(
                "credits are owed per calendar window; a rolling window overlaps itself day by day "
                "(use window: month)"
            )
        return self

    @model_validator(mode="after")
    def _budgeting_fits_sli(self) -> Objective:
        needs_slices = self.sli.source_kind == "probes" or self.sli.percentile is not None
        if needs_slices and not isinstance(self.budgeting, Timeslices):
            raise ValueError(
                "probes and percentile SLIs are judged per slice: use budgeting: "
                "{method: timeslices, slice: 5m, slice_target: ...}"
            )
        return self

    @property
    def slice_length(self) -> timedelta:
        if isinstance(self.budgeting, Timeslices):
            return self.budgeting.slice
        return timedelta(minutes=5)

    @property
    def unit(self) -> str:
        return "minutes" if isinstance(self.budgeting, Timeslices) else "events"


def _local_time(value: object) -> object:
    return time.fromisoformat(value) if isinstance(value, str) else value


class Exclusion(Model):
    """Planned maintenance: a one-off period (``start``/``end``) or a weekly one (``every``,
    ``at``, ``duration``), in the contract's zone unless the timestamps carry an offset. Applies to
    the listed services, or to every service of the contract."""

    reason: str
    services: list[str] | None = None
    start: datetime | None = None
    end: datetime | None = None
    every: Literal[WEEKDAYS] | None = None  # type: ignore[valid-type]
    at: Annotated[time, BeforeValidator(_local_time)] | None = None
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
    services: list[Service] = Field(min_length=1)
    exclusions: list[Exclusion] = Field(default_factory=list)
    objectives: list[Objective] = Field(min_length=1)

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

    def objective(self, objective_id: str) -> Objective:
        return next(o for o in self.objectives if o.id == objective_id)
