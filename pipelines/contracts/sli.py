"""SLI kinds (DESIGN §3): what an objective measures and from which evidence.

Each kind is a model with its own ``kind`` literal; ``Sli`` is their union, told apart by
``kind``. ``judged_on`` says what the objective's target is: a ``share`` (99.9%), a ``duration``
(a window statistic such as mean resolution time ≤ 4h, stored in seconds) or ``points`` (NPS).
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from pipelines.contracts.fields import Duration, Model, Share, parse_positive_duration, share_value

STATISTIC = re.compile(r"^(share_within|mean|median|max|p(\d{1,2}(\.\d+)?))$")
"""share_within (share of items within a threshold), or a window statistic: mean, median, max or
a percentile pNN (p90, p99.9)."""


def _statistic(value: str) -> str:
    if not STATISTIC.match(value):
        raise ValueError(
            f"unknown statistic {value!r}: use share_within, mean, median, max or a "
            "percentile like p90"
        )
    return value


Statistic = Annotated[str, AfterValidator(_statistic)]


def statistic_percentile(statistic: str) -> float | None:
    """``"p90"`` → 90.0; None for the other statistics."""
    match = STATISTIC.match(statistic)
    return float(match.group(2)) if match and match.group(2) else None


class TrafficSli(Model):
    """Availability and latency of a service's requests.

    availability from ``requests``: good = total − errors per minute (occurrences), or a slice is
    good when its success ratio reaches the slice target (timeslices). availability from
    ``probes``: a slice is good when the share of successful checks reaches the slice target.
    latency from ``histogram`` buckets or from ``samples`` (one row per measured request or page
    load): good = requests at or under ``threshold``; with ``percentile`` a slice is good when that
    percentile is at or under the threshold (timeslices); with ``statistic: p90`` the window's p90
    itself is compared with the target (exact from samples, interpolated inside the buckets from a
    histogram).
    """

    kind: Literal["availability", "latency"]
    evidence: Literal["requests", "probes", "histogram", "samples"] | None = None
    threshold: Duration | None = None
    percentile: float | None = Field(default=None, gt=0, lt=100)
    statistic: Statistic | None = None

    @model_validator(mode="after")
    def _consistent(self) -> TrafficSli:
        if self.kind == "availability":
            if self.evidence not in (None, "requests", "probes"):
                raise ValueError("availability is measured from 'requests' or 'probes'")
            if self.threshold is not None or self.percentile is not None or self.statistic:
                raise ValueError("threshold, percentile and statistic belong to latency SLIs")
            return self
        if self.evidence not in (None, "histogram", "samples"):
            raise ValueError("latency is measured from 'histogram' bucket counts or 'samples'")
        if self.statistic not in (None, "share_within"):
            if statistic_percentile(self.statistic) is None:
                raise ValueError("a latency statistic is a window percentile such as p90")
            if self.threshold is not None or self.percentile is not None:
                raise ValueError("a window percentile is compared with the target: drop threshold")
        elif self.threshold is None:
            raise ValueError("a latency SLI needs a threshold, e.g. threshold: 300ms")
        return self

    @property
    def source_kind(self) -> str:
        """The evidence (source kind) it reads: requests, probes, histogram, latency_samples."""
        if self.kind == "latency":
            return "latency_samples" if self.evidence == "samples" else "histogram"
        return self.evidence or "requests"

    @property
    def judged_on(self) -> str:
        return "duration" if self.statistic not in (None, "share_within") else "share"


class TicketTimer(Model):
    """A ServiceNow-style task SLA timer driven by the ticket's state changes.

    The timer starts when the ticket enters a ``start`` state (no start states: when it is
    opened), pauses while it is in a ``pause`` state, stops on a ``stop`` state, is dropped on a
    ``cancel`` state, and restarts from zero on a ``reset`` state. A ticket reopened after it
    stopped (a stop state followed by a non-stop one) does as ``on_reopen`` says: ``resume`` the
    same timer (the elapsed time keeps adding up) or ``restart`` it from zero.
    """

    start: list[str] = Field(default_factory=list)
    pause: list[str] = Field(default_factory=list)
    stop: list[str] = Field(min_length=1)
    cancel: list[str] = Field(default_factory=list)
    reset: list[str] = Field(default_factory=list)
    on_reopen: Literal["resume", "restart"] = "resume"

    @model_validator(mode="after")
    def _disjoint(self) -> TicketTimer:
        seen: dict[str, str] = {}
        for role in ("start", "pause", "stop", "cancel", "reset"):
            for state in getattr(self, role):
                if state in seen:
                    raise ValueError(f"state {state!r} is both a {seen[state]} and a {role} state")
                seen[state] = role
        return self


DEFAULT_TIMERS = {
    "resolution_time": TicketTimer(stop=["Resolved", "Closed"], cancel=["Cancelled"]),
    "response_time": TicketTimer(
        stop=[
            "Active",
            "Awaiting User Info",
            "Awaiting Problem",
            "Awaiting Vendor",
            "Awaiting Evidence",
            "Resolved",
            "Closed",
        ],
        cancel=["Cancelled"],
    ),  # fmt: skip
}
"""ServiceNow incident states: a resolution timer runs until Resolved; a response timer until
the first state past New."""


class TicketSli(Model):
    """Elapsed time of tickets (resolution or first response), measured in the objective's
    calendar with pauses honoured. Targets per priority (``targets``) or one ``threshold``;
    ``statistic``: share_within (share of tickets within their target) or a window statistic of
    the elapsed times (mean = MTTR, median, pNN). A priority change mid-ticket ``keep_start``s the
    timer with the new priority's target (ServiceNow's retroactive start) or ``restart``s it.
    """

    kind: Literal["resolution_time", "response_time"]
    source: str | None = None
    timer: TicketTimer | None = None
    targets: dict[str, Duration] | None = None
    threshold: Duration | None = None
    priorities: list[str] | None = None
    priority_change: Literal["keep_start", "restart"] = "keep_start"
    statistic: Statistic = "share_within"

    @model_validator(mode="after")
    def _one_target_form(self) -> TicketSli:
        if self.statistic == "share_within" and (self.targets is None) == (self.threshold is None):
            raise ValueError("share_within needs either targets per priority or one threshold")
        if self.statistic != "share_within" and (self.targets or self.threshold):
            raise ValueError(
                "a window statistic is compared with the target: drop targets/threshold"
            )
        return self

    @property
    def effective_timer(self) -> TicketTimer:
        return self.timer or DEFAULT_TIMERS[self.kind]

    @property
    def source_kind(self) -> str:
        return "tickets"

    @property
    def judged_on(self) -> str:
        return "share" if self.statistic == "share_within" else "duration"


class SecuritySli(Model):
    """Security incident response: time to ``detect`` (occurred → detected) or to ``contain``
    (detected → contained); share within ``threshold``, or a window statistic (mean, median,
    max, pNN)."""

    kind: Literal["security_response"]
    measure: Literal["detect", "contain"]
    source: str | None = None
    severities: list[str] | None = None
    threshold: Duration | None = None
    statistic: Statistic = "share_within"

    @model_validator(mode="after")
    def _threshold_for_shares(self) -> SecuritySli:
        if (self.statistic == "share_within") != (self.threshold is not None):
            raise ValueError("share_within needs a threshold; a window statistic takes none")
        return self

    @property
    def source_kind(self) -> str:
        return "security_incidents"

    @property
    def judged_on(self) -> str:
        return "share" if self.statistic == "share_within" else "duration"


class BackupSli(Model):
    """Backup and recovery. ``rpo``: the largest gap between successful backups in the window
    (a window statistic, always ``max``; the current exposure, time since the last good backup,
    is reported beside it). ``rto``: restore-test durations, share within ``threshold`` or a
    window statistic (max, mean, ...)."""

    kind: Literal["backup"]
    measure: Literal["rpo", "rto"]
    source: str | None = None
    threshold: Duration | None = None
    statistic: Statistic = "max"

    @model_validator(mode="after")
    def _forms(self) -> BackupSli:
        if self.measure == "rpo" and (self.statistic != "max" or self.threshold is not None):
            raise ValueError(
                "RPO is the largest gap between good backups: statistic max, no threshold"
            )
        if self.measure == "rto" and (self.statistic == "share_within") != (
            self.threshold is not None
        ):
            raise ValueError("share_within needs a threshold; a window statistic takes none")
        return self

    @property
    def source_kind(self) -> str:
        return "backup_runs" if self.measure == "rpo" else "restore_tests"

    @property
    def judged_on(self) -> str:
        return "share" if self.statistic == "share_within" else "duration"


class SatisfactionSli(Model):
    """Survey responses. ``csat``: share of responses scoring ≥ 4 of 5 (Wilson interval); ``nps``:
    promoters (9–10 of 10) minus detractors (0–6) in points from −100 to 100, with a confidence
    interval. ``judge`` on the ``point`` estimate or the interval's ``lower_bound``; windows with
    fewer than ``min_responses`` are ``insufficient_data``."""

    kind: Literal["satisfaction"]
    measure: Literal["csat", "nps"]
    source: str | None = None
    judge: Literal["point", "lower_bound"] = "point"
    confidence: Share = 0.95
    min_responses: int = Field(default=30, ge=1)

    @property
    def source_kind(self) -> str:
        return "survey_responses"

    @property
    def judged_on(self) -> str:
        return "points" if self.measure == "nps" else "share"


class FirstContactSli(Model):
    """First-contact resolution: share of resolved tickets with no reassignment and no reopen."""

    kind: Literal["first_contact_resolution"]
    source: str | None = None
    priorities: list[str] | None = None

    @property
    def source_kind(self) -> str:
        return "tickets"

    @property
    def judged_on(self) -> str:
        return "share"


Sli = Annotated[
    TrafficSli | TicketSli | SecuritySli | BackupSli | SatisfactionSli | FirstContactSli,
    Field(discriminator="kind"),
]
SLI_KINDS = (
    "availability",
    "latency",
    "resolution_time",
    "response_time",
    "security_response",
    "backup",
    "satisfaction",
    "first_contact_resolution",
)
EVENT_SLIS = (TicketSli, SecuritySli, BackupSli, SatisfactionSli, FirstContactSli)
"""SLIs judged on discrete items (tickets, incidents, backups, responses), not on request
traffic: they are counted per window, without slices, exclusions-by-minute or burn rates."""


def parse_target(value: object, judged_on: str) -> float:
    """An objective's target in its unit: a share, seconds, or NPS points."""
    if judged_on == "duration":
        return parse_positive_duration(value).total_seconds()
    if judged_on == "points":
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not -100 <= value <= 100
        ):
            raise ValueError(f"an NPS target is a number of points from -100 to 100, not {value!r}")
        return float(value)
    share = share_value(value)
    if not 0 < share < 1:
        raise ValueError(
            f"target {share:.4%} is out of range: it must lie strictly between 0% and 100%"
        )
    return share
