"""``sources.yaml``: where each source's landing files are, their format, column mapping and zone.

Like dbt's source declarations: the contract says what is promised, a source says where the
evidence comes from. Each source has a kind that fixes its canonical fields:

- ``requests``: ts, service, total, errors (per-interval request counters)
- ``histogram``: ts, service, le, count (cumulative latency buckets, ``le`` in seconds or "+Inf")
- ``probes``: ts, service, location, up (one check result)
- ``tickets``: ticket_id, ts, state, priority, opened_at, resolved_at, closed_at,
  reassignment_count, reopen_count, assignment_group, category, short_description (free text, as
  ServiceNow names it), service. ``layout: log`` is one row
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

A ``kind: prometheus`` declaration (``PrometheusPull``) is pulled from a Prometheus server into
``<name>/<name>-YYYY-MM-DD.parquet`` landing files (``pipelines.ingest.prometheus``): the loader
turns it into an ordinary Parquet ``Source`` of its ``evidence`` kind carrying the pull settings,
so the pulled files go through the same ingest as dropped ones.
"""

from __future__ import annotations

import functools
import re
from datetime import timedelta
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationError, ValidationInfo, field_validator, model_validator

from pipelines.contracts.fields import Duration, Model
from pipelines.contracts.loader import (
    Problem,
    YamlFileError,
    plain_data,
    problem_at,
    read_yaml_mapping,
)

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
        "short_description",
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


PULLED_KINDS = ("requests", "histogram", "probes")
"""The evidence kinds a Prometheus source can feed."""

QUERY_FIELDS = {"requests": ("total", "errors"), "histogram": ("count",), "probes": ("up",)}
"""The fields of each pulled kind that come from a PromQL query (one query each)."""

LABEL_FIELDS = {
    "requests": {"service": "service"},
    "histogram": {"service": "service", "le": "le"},
    "probes": {"service": "service", "location": "instance"},
}
"""The fields of each pulled kind read from a series label, with their default label name."""

ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]*")
LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
SOURCE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


class Auth(Model):
    """Credentials read from environment variables: a bearer token, or a user and password."""

    bearer_token_env: str | None = None
    username_env: str | None = None
    password_env: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _no_literal_secret(cls, data: object) -> object:
        if isinstance(data, dict) and SECRET_KEYS & set(data):
            raise ValueError(
                "a secret is never written in sources.yaml: name the environment variable "
                "holding it (bearer_token_env: PROM_TOKEN, or username_env and password_env)"
            )
        return data

    @field_validator("bearer_token_env", "username_env", "password_env")
    @classmethod
    def _variable(cls, value: str | None) -> str | None:
        if value is not None and not ENV_NAME.fullmatch(value):
            raise ValueError(
                f"{value!r} is not an environment variable name (upper-case letters, digits, "
                "_): name the variable holding the secret, never the secret itself"
            )
        return value

    @model_validator(mode="after")
    def _one_scheme(self) -> Auth:
        basic = (self.username_env, self.password_env)
        if (self.bearer_token_env is None) == (None in basic) or basic.count(None) == 1:
            raise ValueError("auth is bearer_token_env, or username_env and password_env")
        return self


SECRET_KEYS = {"bearer_token", "token", "username", "password", "user"}


class PrometheusPull(Model):
    """A ``kind: prometheus`` source: what to ask a Prometheus-compatible server and how."""

    kind: Literal["prometheus"]
    evidence: Literal["requests", "histogram", "probes"] = Field(
        description="the evidence kind the pulled rows feed"
    )
    url: str = Field(description="the server's base URL, e.g. http://prometheus:9090")
    step: Duration = Field(default=timedelta(minutes=1), description="resolution of the rows")
    settle: Duration = Field(
        default=timedelta(minutes=5), description="the last minutes pulled again every time"
    )
    timeout: Duration = Field(
        default=timedelta(seconds=30), description="deadline of one HTTP attempt"
    )
    auth: Auth | None = None
    queries: dict[str, str] = Field(description="canonical field → PromQL query")
    labels: dict[str, str] = Field(
        default_factory=dict, description="canonical field → series label (defaults per kind)"
    )

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"bad url {url!r}: want http(s)://host[:port][/path]")
        if parts.username or parts.password:
            raise ValueError("credentials in the url: declare them under auth (*_env)")
        if parts.query or parts.fragment:
            raise ValueError(f"bad url {url!r}: no query or fragment")
        try:
            parts.port  # noqa: B018 - raises on a bad port
        except ValueError as error:
            raise ValueError(f"bad url {url!r}: {error}") from None
        return url.rstrip("/")

    @field_validator("step")
    @classmethod
    def _whole_seconds(cls, step: timedelta) -> timedelta:
        if step % timedelta(seconds=1):
            raise ValueError("step is a whole number of seconds")
        return step

    @field_validator("queries")
    @classmethod
    def _query_per_field(cls, queries: dict[str, str], info: ValidationInfo) -> dict[str, str]:
        evidence = info.data.get("evidence")
        if evidence is None:
            return queries
        wanted, labelled = QUERY_FIELDS[evidence], LABEL_FIELDS[evidence]
        problems = [
            f"{field} comes from a series label (labels), not a query"
            if field in labelled
            else f"no field {field!r} in {evidence} evidence (queries: {', '.join(wanted)})"
            for field in queries
            if field not in wanted
        ]
        missing = [field for field in wanted if field not in queries]
        if missing:
            problems.append(f"missing query for {', '.join(missing)}")
        problems += [f"empty query for {field}" for field, q in queries.items() if not q.strip()]
        if problems:
            raise ValueError("; ".join(problems))
        return queries

    @field_validator("labels")
    @classmethod
    def _label_per_field(cls, labels: dict[str, str], info: ValidationInfo) -> dict[str, str]:
        evidence = info.data.get("evidence")
        if evidence is None:
            return labels
        problems = [
            f"no label field {field!r} in {evidence} evidence (label fields: "
            f"{', '.join(LABEL_FIELDS[evidence])})"
            for field in labels
            if field not in LABEL_FIELDS[evidence]
        ]
        problems += [
            f"bad label name {label!r}"
            for label in labels.values()
            if not LABEL_NAME.fullmatch(label)
        ]
        if problems:
            raise ValueError("; ".join(problems))
        return labels

    @property
    def label_of(self) -> dict[str, str]:
        """Each label field → the series label holding it (declared or default)."""
        return LABEL_FIELDS[self.evidence] | self.labels

    def source(self, name: str) -> Source:
        """The Parquet source of the files this pull writes under ``<name>/``."""
        return Source(
            kind=self.evidence,
            format="parquet",
            path=f"{name}/*.parquet",
            date_pattern=r"(\d{4}-\d{2}-\d{2})\.parquet$",
            pull=self,
        )


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
    max_reject_ratio: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="reject_ratio check: the share of a day's rows that may be rejected "
        "(default PLEDGE_MAX_REJECT_RATIO, 0.01)",
    )
    max_rejected_rows: int | None = Field(
        default=None,
        ge=0,
        description="reject_ratio check: the rejected rows of a day tolerated whatever their "
        "share (default PLEDGE_MAX_REJECTED_ROWS, 10)",
    )
    pull: PrometheusPull | None = Field(
        default=None,
        description="set by the loader for a kind: prometheus declaration (never in the file)",
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
    mapping or without a ``sources`` mapping yields no source.

    A file unchanged since its last read (same size and modification time) is not parsed again:
    every asset of a run reads the sources, and the models are frozen."""
    path = Path(path)
    try:
        stat = path.stat()
    except OSError:
        return _read_sources(path)
    sources, problems = _read_sources_version(path, stat.st_mtime_ns, stat.st_size)
    return dict(sources), list(problems)


@functools.lru_cache(maxsize=16)
def _read_sources_version(
    path: Path, mtime_ns: int, size: int
) -> tuple[dict[str, Source], list[Problem]]:
    """``read_sources`` of the file's version with this modification time and size."""
    return _read_sources(path)


def _read_sources(path: Path) -> tuple[dict[str, Source], list[Problem]]:
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
            sources[name] = _source(name, declaration)
        except ValidationError as error:
            problems += [
                problem_at(path, document, ("sources", name, *item["loc"]), item["msg"])
                for item in error.errors()
            ]
        except DeclarationError as error:
            problems.append(problem_at(path, document, ("sources", name, *error.loc), str(error)))
    return sources, sorted(problems, key=lambda problem: problem.line)


class DeclarationError(ValueError):
    """A source declaration's problem outside its model, at ``loc`` within the declaration."""

    def __init__(self, loc: tuple[str, ...], message: str):
        self.loc = loc
        super().__init__(message)


def _source(name: str, declaration: object) -> Source:
    """One declaration → its Source (a ``kind: prometheus`` one → the source of its files)."""
    if not isinstance(declaration, dict) or declaration.get("kind") != "prometheus":
        if isinstance(declaration, dict) and "pull" in declaration:
            raise DeclarationError(("pull",), "unknown field (declare kind: prometheus instead)")
        return Source.model_validate(declaration)
    if not SOURCE_NAME.fullmatch(name):
        raise DeclarationError(
            (),
            f"a prometheus source names its landing folder: {name!r} is letters, digits, "
            "'.', '_' and '-' only",
        )
    return PrometheusPull.model_validate(declaration).source(name)


def load_sources(path: str | Path) -> dict[str, Source]:
    """Read ``sources.yaml``; raises SourcesError listing every problem (``read_sources``)."""
    sources, problems = read_sources(path)
    if problems:
        raise SourcesError(problems)
    return sources
