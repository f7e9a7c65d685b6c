"""``sources.yaml``: where each source's landing files are, their format, column mapping and zone.

Like dbt's source declarations: the contract says what is promised, a source says where the
evidence comes from. Each source has a kind that fixes its canonical fields:

- ``requests``: ts, service, total, errors (per-interval request counters)
- ``histogram``: ts, service, le, count (cumulative latency buckets, ``le`` in seconds or "+Inf")
- ``probes``: ts, service, location, up (one check result)
- ``tickets``: ticket_id, ts, state, priority, opened_at, resolved_at, closed_at,
  reassignment_count, reopen_count, assignment_group, category, service. ``layout: log`` is one row
  per update (a ServiceNow incident event log: ts is the update time, state the state after it);
  ``layout: snapshot`` is one row per ticket, turned into events New at opened_at, Resolved at
  resolved_at, Closed at closed_at (ts and state are not read).
- ``security_incidents``: incident_id, service, severity, occurred_at, detected_at, contained_at
- ``backup_runs``: service, run_id, started_at, finished_at, success
- ``restore_tests``: service, test_id, started_at, finished_at, success
- ``survey_responses``: service, response_id, ts, survey (csat or nps), score
- ``latency_samples``: ts, service, latency_seconds (one measured request or page load)

``OPTIONAL_FIELDS`` may be absent from a file (unless mapped) or empty in a row: they load as null.
``service`` may instead be fixed for the whole source (``service: service-desk``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationError, field_validator, model_validator

from pipelines.spec.fields import Model
from pipelines.spec.loader import Problem, YamlFileError, plain_data, problem_at, read_yaml_mapping

CANONICAL_FIELDS = {
    "requests": ("ts", "service", "total", "errors"),
    "histogram": ("ts", "service", "le", "count"),
    "probes": ("ts", "service", "location", "up"),
    "tickets": (
        "ticket_id",
        "ts",
        "state",
        "priority",
        "opened_at",
        "resolved_at",
        "closed_at",
        "reassignment_count",
        "reopen_count",
        "assignment_group",
        "category",
        "service",
    ),
    "security_incidents": (
        "incident_id",
        "service",
        "severity",
        "occurred_at",
        "detected_at",
        "contained_at",
    ),
    "backup_runs": ("service", "run_id", "started_at", "finished_at", "success"),
    "restore_tests": ("service", "test_id", "started_at", "finished_at", "success"),
    "survey_responses": ("service", "response_id", "ts", "survey", "score"),
    "latency_samples": ("ts", "service", "latency_seconds"),
}
"""The fields of each source kind, in the order of its raw table."""

OPTIONAL_FIELDS = {
    "tickets": set(CANONICAL_FIELDS["tickets"]) - {"ticket_id", "ts", "state", "service"},
    "security_incidents": {"severity", "contained_at"},
}
"""Fields a row may leave empty (and a file may lack unless the source maps them)."""

SNAPSHOT_FIELDS = {"ts", "state"}
"""Ticket fields a ``snapshot`` source does not read: its events are derived from the row."""

SourceKind = Literal[
    "requests",
    "histogram",
    "probes",
    "tickets",
    "security_incidents",
    "backup_runs",
    "restore_tests",
    "survey_responses",
    "latency_samples",
]


class Source(Model):
    kind: SourceKind
    path: str = Field(description="glob under the landing folder, e.g. requests/*.csv")
    format: Literal["csv", "parquet"]
    time_zone: str | None = Field(
        default=None,
        description="zone of timestamps that carry no offset; without it they are rejected",
    )
    timestamp_format: str | list[str] | None = Field(
        default=None,
        description="strftime format(s) of text timestamps, the first that parses wins; "
        "default ISO 8601",
    )
    missing: str | None = Field(
        default=None, description='marker of a missing value besides the empty field, e.g. "?"'
    )
    service: str | None = Field(
        default=None, description="the service of every row, when the file has no such column"
    )
    layout: Literal["log", "snapshot"] | None = Field(
        default=None,
        description="tickets only: one row per update (log, the default) or per ticket",
    )
    date_pattern: str = Field(
        default=r"(\d{4}-\d{2}-\d{2})",
        description="regex whose first group finds the partition date in a file name",
    )
    columns: dict[str, str] = Field(
        default_factory=dict, description="canonical field → file column"
    )
    encoding: str = Field(
        default="utf-8",
        description="text encoding of CSV files (utf-8, latin-1, cp1252, utf-16, ...); "
        "a byte order mark is dropped",
    )
    priorities: list[str] | None = Field(
        default=None,
        description="tickets only: the priorities the exporter writes; any other is rejected",
    )

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, encoding: str) -> str:
        try:  # LookupError for an unknown codec or one that is not a text encoding (base64)
            b"\n".decode(encoding, errors="replace")
        except LookupError:
            raise ValueError(f"unknown encoding {encoding!r}") from None
        return encoding

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, zone: str | None) -> str | None:
        if zone is not None:
            try:
                ZoneInfo(zone)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"unknown time zone {zone!r}") from None
        return zone

    @model_validator(mode="after")
    def _known_fields(self) -> Source:
        unknown = set(self.columns) - set(CANONICAL_FIELDS[self.kind])
        if unknown:
            raise ValueError(
                f"unknown field(s) {sorted(unknown)} for a {self.kind} source; "
                f"fields are {list(CANONICAL_FIELDS[self.kind])}"
            )
        if self.service is not None and "service" in self.columns:
            raise ValueError("service is either fixed (service: ...) or mapped (columns), not both")
        if self.layout is not None and self.kind != "tickets":
            raise ValueError("layout applies to tickets sources only")
        if self.priorities is not None and self.kind != "tickets":
            raise ValueError("priorities applies to tickets sources only")
        return self

    @property
    def ticket_layout(self) -> str:
        """``log`` or ``snapshot`` (tickets sources)."""
        return self.layout or "log"

    @property
    def timestamp_formats(self) -> tuple[str, ...] | None:
        """The declared timestamp formats, in order; None for ISO 8601."""
        if self.timestamp_format is None:
            return None
        if isinstance(self.timestamp_format, str):
            return (self.timestamp_format,)
        return tuple(self.timestamp_format)

    def read_fields(self) -> tuple[str, ...]:
        """The canonical fields read from the file (a fixed service and a snapshot's derived
        ts/state are not)."""
        skipped = {"service"} if self.service is not None else set()
        if self.kind == "tickets" and self.ticket_layout == "snapshot":
            skipped |= SNAPSHOT_FIELDS
        return tuple(field for field in CANONICAL_FIELDS[self.kind] if field not in skipped)

    def required_columns(self) -> tuple[str, ...]:
        """The fields whose column must be in every file: the read fields that are not optional,
        and optional ones the source maps explicitly."""
        return tuple(
            field
            for field in self.read_fields()
            if field not in self.optional_fields() or field in self.columns
        )

    def optional_fields(self) -> set[str]:
        """The read fields a row may leave empty (a snapshot ticket needs its opened_at)."""
        optional = OPTIONAL_FIELDS.get(self.kind, set())
        if self.kind == "tickets" and self.ticket_layout == "snapshot":
            return optional - {"opened_at"}
        return optional

    def column(self, field: str) -> str:
        """The file column holding a canonical field (the field's own name unless mapped)."""
        return self.columns.get(field, field)


class Sources(Model):
    sources: dict[str, Source]


class SourcesError(ValueError):
    """A ``sources.yaml`` that does not validate; ``problems`` lists every problem found."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(map(str, problems)))


def read_sources(path: str | Path) -> tuple[dict[str, Source], list[Problem]]:
    """The valid sources of a ``sources.yaml`` and a ``file:line: field: problem`` for each
    problem of the rest: a bad source does not stop the others. A file that is not YAML, not a
    mapping or without a ``sources`` mapping yields no source."""
    path = Path(path)
    try:
        document = read_yaml_mapping(path, "a sources file")
    except YamlFileError as error:
        return {}, [error.problem]
    plain = plain_data(document)
    assert isinstance(plain, dict)
    declared = plain.get("sources")
    entries: dict[str, object] = declared if isinstance(declared, dict) else {}
    problems = []
    try:  # the file's own fields (each source is validated on its own below)
        Sources.model_validate(plain | {"sources": {}} if entries else plain)
    except ValidationError as error:
        problems += [
            problem_at(path, document, item["loc"], item["msg"]) for item in error.errors()
        ]
    sources = {}
    for name, declaration in entries.items():
        try:
            sources[name] = Source.model_validate(declaration)
        except ValidationError as error:
            problems += [
                problem_at(path, document, ("sources", name, *item["loc"]), item["msg"])
                for item in error.errors()
            ]
    return sources, sorted(problems, key=lambda problem: problem.line)


def load_sources(path: str | Path) -> dict[str, Source]:
    """Read ``sources.yaml``; raises SourcesError listing every problem (``read_sources``)."""
    sources, problems = read_sources(path)
    if problems:
        raise SourcesError(problems)
    return sources
