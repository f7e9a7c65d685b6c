"""What every importer produces, and the conversions they share.

Each format's module turns the YAML documents it recognises into ``ImportedSlo`` records (one per
source SLO object, with one or more Pledge objectives) or ``Refusal`` lines; ``writer.py`` groups
the records into contracts and Prometheus sources.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import TypeAdapter, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from pipelines.contracts.loader import MAX_YAML_BYTES, plain_data, structure_problem
from pipelines.contracts.schema import Objective, Window, WindowField
from pipelines.contracts.units import format_duration

PLEDGE_ID = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
SHORTHAND = re.compile(r"^([1-9]\d*)(ms|[smhdwMQY])$")
FIXED_UNITS = {
    "s": timedelta(seconds=1),
    "m": timedelta(minutes=1),
    "h": timedelta(hours=1),
    "d": timedelta(days=1),
    "w": timedelta(weeks=1),
}
CALENDAR_PERIODS = {"1d": "day", "1w": "week", "7d": "week", "1M": "month", "1Q": "quarter"}
CALENDAR_PERIODS["3M"] = "quarter"
WINDOW: TypeAdapter[Window] = TypeAdapter(WindowField)


class Unsupported(ValueError):
    """A feature of one SLO Pledge cannot represent exactly: ``feature`` names it (a field path
    or a short phrase), the message says why."""

    def __init__(self, feature: str, why: str):
        self.feature = feature
        super().__init__(why)


@dataclass(frozen=True)
class Origin:
    """Where an object was read: file, 1-based line of its document, kind and name."""

    file: str
    line: int
    kind: str
    name: str

    def refusal(self, error: Unsupported) -> Refusal:
        return Refusal(self, error.feature, str(error))


@dataclass(frozen=True)
class Refusal:
    """``file:line: SLO <name>: <feature> is not supported (<why>)``."""

    origin: Origin
    feature: str
    why: str

    def __str__(self) -> str:
        o = self.origin
        return f"{o.file}:{o.line}: {o.kind} {o.name}: {self.feature} is not supported ({self.why})"


@dataclass(frozen=True)
class FileProblem:
    """A document its own project would reject (bad YAML, unknown apiVersion, missing field,
    duplicate): ``file:line: message``. ``note`` marks an object skipped on purpose."""

    file: str
    line: int
    message: str
    note: bool = False

    def __str__(self) -> str:
        return f"{'note: ' if self.note else ''}{self.file}:{self.line}: {self.message}"


@dataclass(frozen=True)
class Evidence:
    """Where an SLI's events come from: ``kind`` (requests, histogram or probes) and one PromQL
    query per field (``queries``), or — for a non-Prometheus source — the original query text
    (``foreign``), kept in the contract as a comment with no source declared."""

    kind: str
    queries: tuple[tuple[str, str], ...] = ()
    foreign: str | None = None


@dataclass(frozen=True)
class ImportedObjective:
    """One Pledge objective (without its ``service``, which the writer picks from the SLI it
    reads: ``sli_name`` and ``evidence``)."""

    objective: dict
    sli_name: str
    evidence: Evidence


@dataclass
class ImportedSlo:
    """One source SLO object converted: its contract group (``group``) and its objectives.
    ``time_zone`` is set by a calendar window; ``tags`` are the source's labels."""

    origin: Origin
    group: str
    objectives: list[ImportedObjective]
    time_zone: str | None = None
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Party:
    """A contract group's title and parties, when its source names them (an OpenSLO Service)."""

    title: str | None = None
    provider: str | None = None
    consumer: str | None = None
    origin: Origin | None = None


@dataclass(frozen=True)
class Document:
    """One YAML object of a file: the plain data and the line it starts on."""

    file: str
    line: int
    data: object
    node: object = None

    def line_of(self, *path: str | int) -> int:
        """The line of the item at ``path`` inside the object (the object's line if unknown)."""
        node = self.node
        for key in path:
            try:
                child = node[key]
            except (KeyError, IndexError, TypeError):
                return self.line
            if not isinstance(child, CommentedMap | CommentedSeq):
                return self.line
            node = child
        return node.lc.line + 1 if isinstance(node, CommentedMap | CommentedSeq) else self.line


def read_documents(path: Path) -> tuple[list[Document], list[FileProblem]]:
    """Every object of a YAML file (``---`` documents; a document that is a list gives one object
    per item), with the line each starts on; a file that is not YAML is one problem."""
    file = str(path)
    if not path.is_file():
        return [], [FileProblem(file, 1, "no such file")]
    if path.stat().st_size > MAX_YAML_BYTES:
        return [], [FileProblem(file, 1, f"a spec file is at most {MAX_YAML_BYTES:,} bytes")]
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        return [], [FileProblem(file, 1, f"not UTF-8 text (byte {error.start}: {error.reason})")]
    bound = structure_problem(text)  # nesting and aliases bounded before anything is built
    if bound is not None and not bound.syntax:
        return [], [FileProblem(file, bound.line, bound.message)]
    try:
        loaded = list(YAML(typ="rt").load_all(text))
    except MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        return [], [FileProblem(file, mark.line + 1 if mark else 1, str(error.problem or error))]
    except YAMLError as error:
        return [], [FileProblem(file, 1, str(error))]
    documents = []
    for node in loaded:
        items = node if isinstance(node, CommentedSeq) else [node]
        for item in items:
            if item is None:
                continue
            line = item.lc.line + 1 if isinstance(item, CommentedMap | CommentedSeq) else 1
            documents.append(Document(file, line, plain_data(item), item))
    return documents, []


def mapping(value: object, at: str) -> dict:
    """A mapping field (empty when absent); anything else is a problem at ``at``."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise Unsupported(at, "must be a mapping")
    return value


def is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def percent_text(percent: Decimal) -> str:
    return f"{percent.normalize():f}%"


def decimal(value: object, at: str) -> Decimal:
    """A number, or a numeric string (Pyrra writes ``target: "99.9"``)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise Unsupported(at, f"{value!r} is not a number")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise Unsupported(at, f"{value!r} is not a number") from None
    if not number.is_finite():
        raise Unsupported(at, f"{value!r} is not a number")
    return number


def shorthand(value: object, at: str) -> tuple[int, str]:
    """A duration shorthand (``28d``, ``1M``, ``500ms``) → (number, unit)."""
    match = SHORTHAND.match(value) if isinstance(value, str) else None
    if match is None:
        raise Unsupported(at, f"{value!r} is not a duration like 5m, 28d, 1M")
    return int(match.group(1)), match.group(2)


def fixed_length(value: object, at: str) -> timedelta:
    """A duration of fixed length (s, m, h, d, w, or a Prometheus ``2w1d``)."""
    number, unit = shorthand(value, at)
    if unit not in FIXED_UNITS:
        raise Unsupported(at, f"{value} has no fixed length: use e.g. 28d or 30d")
    return number * FIXED_UNITS[unit]


def rolling_window(length: timedelta, at: str) -> str:
    """A rolling window of whole days → ``rolling Nd``."""
    if length <= timedelta(0) or length % timedelta(days=1):
        raise Unsupported(at, f"a rolling window of {format_duration(length)} is not whole days")
    return f"rolling {length.days}d"


def calendar_window(
    duration: object, zone: object, start: object, at: str
) -> tuple[str | dict, str]:
    """A calendar window (``1M`` in ``zone``, optionally from ``start``, a wall-clock time in
    that zone) → (Pledge window, zone): ``month``, or ``{period: month, start: ...}`` when
    ``start`` does not begin a natural period (a month from 12:00 on the 1st, a week from a
    Wednesday)."""
    period = CALENDAR_PERIODS.get(duration) if isinstance(duration, str) else None
    if period is None:
        raise Unsupported(
            f"{at}.duration",
            f"a calendar window of {duration} has no Pledge period: use 1d, 1w, 1M or 1Q",
        )
    zone = "UTC" if zone is None else zone
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise Unsupported(f"{at}.timeZone", f"unknown time zone {zone!r}") from None
    if start is None:
        return period, zone
    try:
        moment = start if isinstance(start, datetime) else datetime.fromisoformat(str(start))
        window = WINDOW.validate_python({"period": period, "start": moment})
    except ValueError as error:
        reason = error.errors()[0]["msg"] if isinstance(error, ValidationError) else None
        reason = (reason or f"{start!r} is not a date and time").removeprefix("Value error, ")
        raise Unsupported(f"{at}.startTime", reason) from None
    if window.start is None:
        return period, zone
    return {"period": period, "start": moment.isoformat()}, zone


def target_share(value: object, at: str, *, percent: bool) -> str:
    """A target as a share (0.999) or a percentage (99.9) → ``99.9%``."""
    number = decimal(value, at) * (1 if percent else 100)
    if not 0 < number < 100:
        raise Unsupported(at, f"target {number}% is not strictly between 0% and 100%")
    return percent_text(number)


def latency_threshold(seconds: Decimal, at: str) -> str:
    """A latency bound in seconds → a Pledge duration (whole milliseconds)."""
    millis = seconds * 1000
    if millis <= 0 or millis != millis.to_integral_value():
        raise Unsupported(at, f"{seconds}s is not a positive whole number of milliseconds")
    return format_duration(timedelta(milliseconds=int(millis)))


def checked(objective: dict, fields: dict[str, str]) -> dict:
    """The objective, validated by the contract model; a problem names the source field
    (``fields``: Pledge field → source field)."""
    try:
        Objective.model_validate(objective | {"service": "x"})
    except ValidationError as error:
        problem = error.errors()[0]
        last = str(problem["loc"][-1]) if problem["loc"] else "objective"
        raise Unsupported(
            fields.get(last, last), problem["msg"].removeprefix("Value error, ")
        ) from None
    return objective


def slug(text: str) -> str:
    """A Pledge id from a name: lowercase, other characters → ``-``."""
    cleaned = re.sub(r"[^a-z0-9_.-]+", "-", text.lower()).strip("-._")
    return cleaned or "unnamed"
