"""OpenSLO v1 → Pledge contract YAML (``pledge import-openslo``).

Every given file may hold several objects (``---`` separated documents, or a list). ``SLI``
objects are resolved by ``spec.indicatorRef`` and ``Service`` objects by an SLO's
``spec.service`` across all given files. One contract is produced per service that at least one
SLO refers to: contract id and service id are the service name; its objectives are the SLOs of
that service, one objective per entry of ``spec.objectives`` (id: the SLO name, or
``<slo>-<n>`` when the SLO has several objectives).

Mapping:

- ``ratioMetric`` with ``good``/``total`` (or ``bad``/``total``: good = total − bad) →
  ``sli: {kind: availability, evidence: requests}``. A precomputed ``raw`` ratio cannot be counted.
- ``thresholdMetric`` is read as request latency, compared with ``op: lte`` (or ``lt``, read as
  lte: Pledge counts requests at or under the threshold) → ``sli: {kind: latency, threshold}``.
  The objective's ``value`` is in seconds, or in milliseconds when the SLI carries the annotation
  ``pledge/unit: ms``; it must come to whole milliseconds.
- ``target`` / ``targetPercent`` → ``target``. ``Occurrences`` → ``occurrences``;
  ``Timeslices`` → ``{method: timeslices, slice: timeSliceWindow, slice_target:
  timeSliceTarget}`` (a bare number of ``timeSliceWindow`` is minutes). ``RatioTimeslices`` has
  no Pledge counterpart.
- ``timeWindow`` with ``isRolling: true`` → ``rolling Nd`` (whole days only); a calendar window
  of 1d, 1w, 1M or 1Q (also 7d, 3M) → day, week, month, quarter, its ``calendar.timeZone`` (UTC
  when absent) becoming the contract's ``time_zone``, and its ``calendar.startTime`` (if given)
  must begin such a period: 00:00 of a day, a Monday, the 1st, the 1st of Jan/Apr/Jul/Oct.
- ``provider`` and ``consumer``, which OpenSLO lacks, come from the Service object's annotations
  ``pledge/provider`` / ``pledge/consumer`` or its labels ``provider`` / ``consumer``, else from
  the defaults the caller passes.

``AlertPolicy``, ``AlertCondition``, ``AlertNotificationTarget`` and ``DataSource`` objects are
skipped with a note. Whatever else Pledge cannot express is a problem naming the file, object
and field; the SLO it concerns is left out of its contract.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError

from pipelines.contracts.loader import structure_problem
from pipelines.contracts.schema import Objective
from pipelines.contracts.units import format_duration

API_VERSION = "openslo/v1"
IMPORTED_KINDS = ("Service", "SLI", "SLO")
SKIPPED_KINDS = {
    "AlertPolicy": "alert policies are not imported: Pledge alerts on burn rates with the "
    "objective's alerting rules",
    "AlertCondition": "alert conditions are not imported: Pledge alerts on burn rates with the "
    "objective's alerting rules",
    "AlertNotificationTarget": "notification targets are not imported: contracts name "
    "escalation contacts instead",
    "DataSource": "data sources are not imported: evidence is declared in sources.yaml",
}
PLEDGE_ID = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
SHORTHAND = re.compile(r"^([1-9]\d*)([mhdwMQY])$")
FIXED_UNITS = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1)}
FIXED_UNITS["w"] = timedelta(weeks=1)
CALENDAR_PERIODS = {
    "1d": "day",
    "1w": "week",
    "7d": "week",
    "1M": "month",
    "1Q": "quarter",
    "3M": "quarter",
}
PERIOD_STARTS = {
    "day": "00:00",
    "week": "00:00 on a Monday",
    "month": "00:00 on the 1st",
    "quarter": "00:00 on the 1st of January, April, July or October",
}
THRESHOLD_UNITS = {"s": 1.0, "ms": 0.001}
OPENSLO_FIELDS = {
    "slice": "timeSliceWindow",
    "slice_target": "timeSliceTarget",
    "threshold": "value",
}
"""Pledge objective fields → the OpenSLO objective fields they come from."""


@dataclass(frozen=True)
class ImportProblem:
    """One line of ``pledge import-openslo`` output: ``FILE: kind name: field: message``."""

    file: str
    subject: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.subject}: {self.field}: {self.message}"


@dataclass(frozen=True)
class OpenSloImport:
    """The contracts written (contract id → YAML text), the problems (objects left out), and
    notes (objects skipped on purpose)."""

    contracts: dict[str, str]
    problems: list[ImportProblem] = field(default_factory=list)
    notes: list[ImportProblem] = field(default_factory=list)


class Unsupported(ValueError):
    """An OpenSLO field Pledge cannot express; ``field`` is its path inside the object."""

    def __init__(self, field: str, message: str):
        self.field = field
        super().__init__(message)


@dataclass(frozen=True)
class OpenSloObject:
    file: str
    kind: str
    name: str
    document: dict

    @property
    def subject(self) -> str:
        return f"{self.kind} {self.name}"

    @property
    def spec(self) -> dict:
        return _mapping(self.document.get("spec"), "spec")

    @property
    def metadata(self) -> dict:
        return _mapping(self.document.get("metadata"), "metadata")

    def problem(self, error: Unsupported) -> ImportProblem:
        return ImportProblem(self.file, self.subject, error.field, str(error))


@dataclass(frozen=True)
class Indicator:
    """What an SLI measures: availability (a ratio of counters) or latency (a threshold metric,
    ``seconds_per_unit`` converting its values to seconds)."""

    kind: str
    seconds_per_unit: float = 1.0


@dataclass(frozen=True)
class ConvertedSlo:
    slo: OpenSloObject
    service: str
    time_zone: str | None
    objectives: list[dict]


def import_openslo(paths: Sequence[Path], provider: str, consumer: str) -> OpenSloImport:
    """Read OpenSLO v1 files and return one Pledge contract YAML text per service that an SLO
    refers to, plus the problems (each SLO with one is left out) and notes. ``provider`` and
    ``consumer`` are used when the Service object does not name them."""
    objects, problems, notes = _read_objects(paths)
    services = {o.name: o for o in objects if o.kind == "Service"}
    indicators: dict[str, Indicator | None] = {}
    for sli in (o for o in objects if o.kind == "SLI"):
        try:
            indicators[sli.name] = _indicator(sli.document)
        except Unsupported as error:
            problems.append(sli.problem(error))
            indicators[sli.name] = None
    converted: list[ConvertedSlo] = []
    for slo in (o for o in objects if o.kind == "SLO"):
        try:
            converted.append(_convert_slo(slo, indicators))
        except Unsupported as error:
            problems.append(slo.problem(error))
            continue
        if slo.spec.get("alertPolicies"):
            notes.append(
                ImportProblem(
                    slo.file,
                    slo.subject,
                    "spec.alertPolicies",
                    "skipped: Pledge alerts on burn rates with the objective's alerting rules",
                )
            )
    contracts: dict[str, str] = {}
    for name in sorted({c.service for c in converted} | set(services)):
        members = [c for c in converted if c.service == name]
        service = services.get(name)
        kept = _compatible(members, problems)
        if not kept:
            if service is not None:
                notes.append(
                    ImportProblem(
                        service.file,
                        service.subject,
                        "(service)",
                        "no SLO of this service was converted: no contract written",
                    )
                )
            continue
        try:
            contracts[name] = _contract_yaml(name, service, kept, provider, consumer)
        except Unsupported as error:
            assert service is not None  # only a Service object's labels can be unusable
            problems.append(service.problem(error))
    return OpenSloImport(contracts, problems, notes)


def _read_objects(
    paths: Sequence[Path],
) -> tuple[list[OpenSloObject], list[ImportProblem], list[ImportProblem]]:
    """Every Service, SLI and SLO object of the files; problems for unreadable or unknown ones,
    notes for the kinds skipped on purpose."""
    objects: list[OpenSloObject] = []
    problems: list[ImportProblem] = []
    notes: list[ImportProblem] = []
    seen: dict[tuple[str, str], OpenSloObject] = {}
    for path in paths:
        file = str(path)
        if not path.is_file():
            problems.append(ImportProblem(file, "(file)", "path", "no such file"))
            continue
        text = path.read_text()
        bound = structure_problem(text)  # nesting and aliases bounded before anything is built
        if bound is not None and not bound.syntax:
            problems.append(ImportProblem(file, "(yaml)", f"line {bound.line}", bound.message))
            continue
        try:
            documents = list(YAML(typ="safe").load_all(text))
        except MarkedYAMLError as error:
            mark = error.problem_mark or error.context_mark
            line = f"line {mark.line + 1}" if mark else "(yaml)"
            problems.append(ImportProblem(file, "(yaml)", line, str(error.problem or error)))
            continue
        items = [
            item
            for document in documents
            for item in (document if isinstance(document, list) else [document])
            if item is not None
        ]
        for position, item in enumerate(items, start=1):
            try:
                found = _object(file, item, position)
            except Unsupported as error:
                problems.append(
                    ImportProblem(file, f"(object {position})", error.field, str(error))
                )
                continue
            if found.kind in SKIPPED_KINDS:
                notes.append(
                    ImportProblem(file, found.subject, "skipped", SKIPPED_KINDS[found.kind])
                )
            elif found.kind not in IMPORTED_KINDS:
                problems.append(
                    ImportProblem(
                        file,
                        found.subject,
                        "kind",
                        f"unknown kind {found.kind!r}: OpenSLO v1 kinds are "
                        f"{', '.join((*IMPORTED_KINDS, *SKIPPED_KINDS))}",
                    )
                )
            elif (found.kind, found.name) in seen:
                problems.append(
                    ImportProblem(
                        file,
                        found.subject,
                        "metadata.name",
                        f"also defined in {seen[found.kind, found.name].file}",
                    )
                )
            else:
                seen[found.kind, found.name] = found
                objects.append(found)
    return objects, problems, notes


def _object(file: str, item: object, position: int) -> OpenSloObject:
    if not isinstance(item, dict):
        raise Unsupported("(document)", "an OpenSLO object is a YAML mapping")
    if item.get("apiVersion") != API_VERSION:
        raise Unsupported(
            "apiVersion", f"{item.get('apiVersion')!r} is not supported: use {API_VERSION}"
        )
    metadata = _mapping(item.get("metadata"), "metadata")
    name, kind = metadata.get("name"), item.get("kind")
    if not isinstance(kind, str):
        raise Unsupported("kind", "missing")
    if not isinstance(name, str) or not name:
        raise Unsupported("metadata.name", f"missing on this {kind}")
    return OpenSloObject(file, kind, name, item)


def _indicator(sli: dict) -> Indicator:
    """An SLI object (or an SLO's inline ``indicator``) → what Pledge measures."""
    spec = _mapping(sli.get("spec"), "spec")
    metadata = _mapping(sli.get("metadata"), "metadata")
    ratio, threshold = spec.get("ratioMetric"), spec.get("thresholdMetric")
    if (ratio is None) == (threshold is None):
        raise Unsupported("spec", "give exactly one of ratioMetric and thresholdMetric")
    if ratio is not None:
        ratio = _mapping(ratio, "spec.ratioMetric")
        if "raw" in ratio:
            raise Unsupported(
                "spec.ratioMetric.raw",
                "a precomputed ratio is not supported: Pledge counts good (or bad) and total "
                "events",
            )
        if ("good" in ratio) == ("bad" in ratio) or "total" not in ratio:
            raise Unsupported("spec.ratioMetric", "give total and exactly one of good and bad")
        return Indicator("availability")
    unit = _mapping(metadata.get("annotations"), "metadata.annotations").get("pledge/unit", "s")
    if unit not in THRESHOLD_UNITS:
        raise Unsupported(
            "metadata.annotations.pledge/unit",
            f"unknown unit {unit!r}: use {' or '.join(THRESHOLD_UNITS)}",
        )
    return Indicator("latency", THRESHOLD_UNITS[unit])


def _convert_slo(slo: OpenSloObject, indicators: dict[str, Indicator | None]) -> ConvertedSlo:
    spec = slo.spec
    service = spec.get("service")
    if not isinstance(service, str) or not PLEDGE_ID.match(service):
        raise Unsupported(
            "spec.service",
            f"{service!r} is not a Pledge service id (lowercase letters, digits, '.', '_', '-')",
        )
    if not PLEDGE_ID.match(slo.name):
        raise Unsupported(
            "metadata.name",
            f"{slo.name!r} is not a Pledge objective id (lowercase letters, digits, '.', '_', '-')",
        )
    indicator = _slo_indicator(spec, indicators)
    window, time_zone = _window(spec.get("timeWindow"))
    method = spec.get("budgetingMethod")
    if method == "RatioTimeslices":
        raise Unsupported(
            "spec.budgetingMethod",
            "RatioTimeslices is not supported (Pledge budgets by Occurrences or Timeslices)",
        )
    if method not in ("Occurrences", "Timeslices"):
        raise Unsupported(
            "spec.budgetingMethod",
            f"{method!r} is not a budgeting method: use Occurrences or Timeslices",
        )
    entries = spec.get("objectives")
    if not isinstance(entries, list) or not entries:
        raise Unsupported("spec.objectives", "give at least one objective")
    slo_title = slo.metadata.get("displayName")
    objectives = []
    for index, entry in enumerate(entries):
        at = f"spec.objectives[{index}]"
        entry = _mapping(entry, at)
        target_key = _one_of(entry, ("target", "targetPercent"), at)
        title = entry.get("displayName") or slo_title
        objective = {
            "id": slo.name if len(entries) == 1 else f"{slo.name}-{index + 1}",
            **({"title": title} if title else {}),
            "service": service,
            "sli": _sli(indicator, entry, at),
            "target": _target(entry, target_key, at),
            "window": window,
            "budgeting": _budgeting(method, entry, at),
        }
        try:
            Objective.model_validate(objective)
        except ValidationError as error:
            problem = error.errors()[0]
            last = problem["loc"][-1] if problem["loc"] else ""
            name = target_key if last == "target" else OPENSLO_FIELDS.get(str(last), str(last))
            raise Unsupported(
                f"{at}.{name}", problem["msg"].removeprefix("Value error, ")
            ) from None
        objectives.append(objective)
    return ConvertedSlo(slo, service, time_zone, objectives)


def _slo_indicator(spec: dict, indicators: dict[str, Indicator | None]) -> Indicator:
    if ("indicator" in spec) == ("indicatorRef" in spec):
        raise Unsupported("spec", "give exactly one of indicator and indicatorRef")
    if "indicator" in spec:
        inline = _mapping(spec["indicator"], "spec.indicator")
        try:
            return _indicator(inline)
        except Unsupported as error:
            raise Unsupported(f"spec.indicator.{error.field}", str(error)) from None
    reference = spec["indicatorRef"]
    if reference not in indicators:
        raise Unsupported("spec.indicatorRef", f"no SLI named {reference!r} in the given files")
    indicator = indicators[reference]
    if indicator is None:
        raise Unsupported("spec.indicatorRef", f"SLI {reference} could not be imported")
    return indicator


def _sli(indicator: Indicator, entry: dict, at: str) -> dict:
    if indicator.kind == "availability":
        return {"kind": "availability", "evidence": "requests"}
    op, value = entry.get("op"), entry.get("value")
    if op not in ("lte", "lt"):
        raise Unsupported(
            f"{at}.op",
            f"{op!r} is not supported: Pledge counts requests at or under a latency threshold "
            "(lte or lt)",
        )
    if not _is_number(value) or value <= 0:
        raise Unsupported(f"{at}.value", f"{value!r} is not a positive number of seconds")
    millis = Decimal(str(value)) * Decimal(str(indicator.seconds_per_unit)) * 1000
    if millis != millis.to_integral_value():
        raise Unsupported(f"{at}.value", f"{value} is not a whole number of milliseconds")
    return {"kind": "latency", "threshold": format_duration(timedelta(milliseconds=int(millis)))}


def _target(entry: dict, key: str, at: str) -> str:
    value = entry[key]
    if not _is_number(value):
        raise Unsupported(f"{at}.{key}", f"{value!r} is not a number")
    percent = Decimal(str(value)) * (100 if key == "target" else 1)
    return _percent(percent)


def _budgeting(method: str, entry: dict, at: str) -> str | dict:
    if method == "Occurrences":
        return "occurrences"
    length, share = entry.get("timeSliceWindow"), entry.get("timeSliceTarget")
    if length is None:
        raise Unsupported(f"{at}.timeSliceWindow", "required with budgetingMethod Timeslices")
    if not _is_number(share) or not 0 < share <= 1:
        raise Unsupported(
            f"{at}.timeSliceTarget",
            f"{share!r} is not a share in (0, 1]: required with budgetingMethod Timeslices",
        )
    if _is_number(length):
        length = f"{length}m"
    number, unit = _shorthand(length, f"{at}.timeSliceWindow")
    if unit not in FIXED_UNITS:
        raise Unsupported(f"{at}.timeSliceWindow", f"{length} is too long for a time slice")
    return {
        "method": "timeslices",
        "slice": format_duration(number * FIXED_UNITS[unit]),
        "slice_target": _percent(Decimal(str(share)) * 100),
    }


def _window(value: object) -> tuple[str, str | None]:
    """``spec.timeWindow`` → a Pledge window and, for a calendar window, its time zone."""
    if not isinstance(value, list) or len(value) != 1:
        raise Unsupported("spec.timeWindow", "give exactly one time window")
    at = "spec.timeWindow[0]"
    window = _mapping(value[0], at)
    duration = window.get("duration")
    number, unit = _shorthand(duration, f"{at}.duration")
    if window.get("isRolling") is True:
        if unit not in FIXED_UNITS:
            raise Unsupported(
                f"{at}.duration", f"{duration} has no fixed number of days: use e.g. 28d or 30d"
            )
        length = number * FIXED_UNITS[unit]
        if length % timedelta(days=1):
            raise Unsupported(f"{at}.duration", f"{duration} is not whole days")
        return f"rolling {length.days}d", None
    if "calendar" not in window:
        raise Unsupported(
            at,
            "a calendar-aligned window needs calendar (startTime, timeZone); "
            "set isRolling: true for a rolling window",
        )
    period = CALENDAR_PERIODS.get(duration)
    if period is None:
        raise Unsupported(
            f"{at}.duration",
            f"calendar window {duration} is not supported: use 1d, 1w, 1M or 1Q",
        )
    calendar = _mapping(window["calendar"], f"{at}.calendar")
    zone = calendar.get("timeZone", "UTC")
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise Unsupported(
            f"{at}.calendar.timeZone", f"unknown time zone {zone!r}: use an IANA name"
        ) from None
    if "startTime" in calendar:
        _check_period_start(calendar["startTime"], period, f"{at}.calendar.startTime")
    return period, zone


def _check_period_start(value: object, period: str, at: str) -> None:
    """Pledge calendar windows begin at the natural start of their period."""
    try:
        start = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    except ValueError:
        raise Unsupported(at, f"{value!r} is not a date and time") from None
    begins = (
        start.time() == datetime.min.time()
        and {
            "day": True,
            "week": start.weekday() == 0,
            "month": start.day == 1,
            "quarter": start.day == 1 and start.month in (1, 4, 7, 10),
        }[period]
    )
    if not begins:
        raise Unsupported(
            at,
            f"{value} does not begin a {period}: Pledge {period}s begin at {PERIOD_STARTS[period]}",
        )


def _compatible(members: list[ConvertedSlo], problems: list[ImportProblem]) -> list[ConvertedSlo]:
    """The SLOs of one service that fit into one contract: one time zone, distinct ids; each
    one that does not is a problem."""
    kept: list[ConvertedSlo] = []
    for member in members:
        zones = {(k.time_zone, k.slo.name) for k in kept if k.time_zone is not None}
        ids = {objective["id"] for k in kept for objective in k.objectives}
        clash = next(
            ((zone, name) for zone, name in zones if member.time_zone not in (None, zone)), None
        )
        if clash is not None:
            problems.append(
                member.slo.problem(
                    Unsupported(
                        "spec.timeWindow[0].calendar.timeZone",
                        f"{member.time_zone} differs from {clash[0]} of SLO {clash[1]}: "
                        f"contract {member.service} has one time zone",
                    )
                )
            )
        elif taken := ids & {objective["id"] for objective in member.objectives}:
            problems.append(
                member.slo.problem(
                    Unsupported(
                        "metadata.name",
                        f"objective id {sorted(taken)[0]!r} is already used in contract "
                        f"{member.service}",
                    )
                )
            )
        else:
            kept.append(member)
    return kept


def _contract_yaml(
    name: str,
    service: OpenSloObject | None,
    members: list[ConvertedSlo],
    provider: str,
    consumer: str,
) -> str:
    """The contract of one service as YAML text, headed by a comment naming its sources."""
    metadata = service.metadata if service is not None else {}
    title = metadata.get("displayName")
    zone = next((m.time_zone for m in members if m.time_zone is not None), "UTC")
    document = {
        "id": name,
        "title": title or name,
        "provider": _party(metadata, "provider", provider),
        "consumer": _party(metadata, "consumer", consumer),
        "time_zone": zone,
        "services": [{"id": name, **({"title": title} if title else {})}],
        "objectives": [objective for member in members for objective in member.objectives],
    }
    sources = [service, *(m.slo for m in members)] if service else [m.slo for m in members]
    header = "".join(f"#   {o.subject} ({o.file})\n" for o in sources)
    writer = YAML(typ="safe", pure=True)
    writer.default_flow_style = None
    writer.sort_base_mapping_type_on_output = False
    text = io.StringIO()
    writer.dump(document, text)
    return f"# Imported from OpenSLO by pledge import-openslo:\n{header}{text.getvalue()}"


def _party(metadata: dict, role: str, default: str) -> str:
    """``provider``/``consumer`` from annotation ``pledge/<role>``, label ``<role>``, or default."""
    annotations = _mapping(metadata.get("annotations"), "metadata.annotations")
    labels = _mapping(metadata.get("labels"), "metadata.labels")
    value = annotations.get(f"pledge/{role}", labels.get(role, default))
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if not isinstance(value, str) or not value:
        raise Unsupported(f"metadata.labels.{role}", f"{value!r} is not one name")
    return value


def _shorthand(value: object, at: str) -> tuple[int, str]:
    """An OpenSLO duration shorthand (``28d``, ``1M``) → (number, unit)."""
    match = SHORTHAND.match(value) if isinstance(value, str) else None
    if match is None:
        raise Unsupported(at, f"{value!r} is not a duration like 5m, 28d, 1M")
    return int(match.group(1)), match.group(2)


def _one_of(entry: dict, keys: tuple[str, str], at: str) -> str:
    given = [key for key in keys if key in entry]
    if len(given) != 1:
        raise Unsupported(at, f"give exactly one of {keys[0]} and {keys[1]}")
    return given[0]


def _percent(percent: Decimal) -> str:
    return f"{percent.normalize():f}%"


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _mapping(value: object, at: str) -> dict:
    """A mapping field (empty when absent); anything else is a problem at ``at``."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise Unsupported(at, "must be a mapping")
    return value
