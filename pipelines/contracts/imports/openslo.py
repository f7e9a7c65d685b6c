"""OpenSLO ``openslo/v1alpha``, ``openslo/v1`` and ``openslo.com/v2alpha`` → imported SLOs.

SLOs find their SLI (``indicatorRef`` in v1, ``sliRef`` in v2alpha, inline ``indicator``/``sli``,
or v1alpha's per-objective ``ratioMetrics``), the SLI its data source (``metricSourceRef`` /
``dataSourceRef`` → a DataSource's type), and the SLO its alert policies and their conditions,
across every given file. The contract group is the SLO's ``spec.service``; a Service object
gives the contract its title and parties (annotations ``pledge/provider`` / ``pledge/consumer``
or labels ``provider`` / ``consumer``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from pipelines.contracts.imports import promql
from pipelines.contracts.imports.model import (
    WINDOW,
    Document,
    Evidence,
    FileProblem,
    ImportedObjective,
    ImportedSlo,
    Origin,
    Party,
    Refusal,
    Unsupported,
    calendar_window,
    checked,
    decimal,
    fixed_length,
    is_number,
    latency_threshold,
    mapping,
    percent_text,
    rolling_window,
    shorthand,
    slug,
    target_share,
)
from pipelines.contracts.units import format_duration

VERSIONS = ("openslo/v1alpha", "openslo/v1", "openslo.com/v2alpha")
KINDS = ("SLO", "SLI", "Service", "DataSource", "AlertPolicy", "AlertCondition")
NOTED_KINDS = {"AlertNotificationTarget": "contracts name their escalation contacts instead"}
PROMETHEUS_TYPES = {"prometheus", "thanos", "mimir", "cortex", "victoriametrics", "promql"}
V1ALPHA_UNITS = {"Second": "s", "Minute": "m", "Hour": "h", "Day": "d", "Week": "w"}
V1ALPHA_UNITS |= {"Month": "M", "Quarter": "Q", "Year": "Y"}
PAGE_SEVERITIES = {"page", "critical", "high", "p1", "sev1", "urgent"}
SOURCE_FIELDS = {"slice": "timeSliceWindow", "slice_target": "timeSliceTarget"}
SOURCE_FIELDS["threshold"] = "value"


@dataclass(frozen=True)
class OpenSloObject:
    origin: Origin
    version: str
    data: dict

    @property
    def spec(self) -> dict:
        return mapping(self.data.get("spec"), "spec")

    @property
    def metadata(self) -> dict:
        return mapping(self.data.get("metadata"), "metadata")


@dataclass(frozen=True)
class Context:
    """Every OpenSLO object of the import by kind and name, and the source step."""

    objects: dict[tuple[str, str], OpenSloObject]
    step: str

    def get(self, kind: str, name: object, at: str) -> OpenSloObject:
        found = self.objects.get((kind, name)) if isinstance(name, str) else None
        if found is None:
            raise Unsupported(at, f"no {kind} named {name!r} in the given files")
        return found


def convert(
    documents: list[Document], step: str
) -> tuple[list[ImportedSlo], dict[str, Party], list[Refusal | FileProblem]]:
    """The OpenSLO documents → imported SLOs, contract parties by group, and outcome lines."""
    outcomes: list[Refusal | FileProblem] = []
    objects: dict[tuple[str, str], OpenSloObject] = {}
    for document in documents:
        found = _object(document, outcomes)
        if found is None:
            continue
        key = (found.origin.kind, found.origin.name)
        if key in objects:
            first = objects[key].origin
            outcomes.append(
                Refusal(found.origin, "a second definition", f"first in {first.file}:{first.line}")
            )
            continue
        objects[key] = found
    context = Context(objects, step)
    imported = []
    for slo in (o for (kind, _), o in objects.items() if kind == "SLO"):
        try:
            imported.append(_slo(slo, context))
        except Unsupported as error:
            outcomes.append(slo.origin.refusal(error))
    parties = {}
    for service in (o for (kind, _), o in objects.items() if kind == "Service"):
        try:
            parties[slug(service.origin.name)] = _party(service)
        except Unsupported as error:
            outcomes.append(service.origin.refusal(error))
    return imported, parties, outcomes


def _object(document: Document, outcomes: list) -> OpenSloObject | None:
    data = document.data
    if not isinstance(data, dict):
        outcomes.append(FileProblem(document.file, document.line, "an object is a YAML mapping"))
        return None
    version, kind = data.get("apiVersion"), data.get("kind")
    metadata = data.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    where = (document.file, document.line)
    if not isinstance(kind, str):
        outcomes.append(FileProblem(*where, f"kind {kind!r} is not a name"))
        return None
    if kind in NOTED_KINDS:
        outcomes.append(FileProblem(*where, f"{kind} {name}: skipped: {NOTED_KINDS[kind]}", True))
        return None
    if kind not in KINDS:
        outcomes.append(
            FileProblem(*where, f"unknown kind {kind!r} for {version}: use {', '.join(KINDS)}")
        )
        return None
    if not isinstance(name, str) or not name:
        outcomes.append(FileProblem(*where, f"{kind}: metadata.name is missing"))
        return None
    if not isinstance(data.get("spec"), dict):
        outcomes.append(FileProblem(*where, f"{kind} {name}: spec is missing"))
        return None
    return OpenSloObject(Origin(document.file, document.line, kind, name), version, data)


def _slo(slo: OpenSloObject, context: Context) -> ImportedSlo:
    spec = slo.spec
    service = spec.get("service")
    if not isinstance(service, str) or not service:
        raise Unsupported("spec.service", "every SLO names its service")
    window, zone = _window(slo)
    method = spec.get("budgetingMethod")
    methods = ("Occurrences", "Timeslices", "RatioTimeslices")
    if slo.version == "openslo/v1alpha":
        methods = methods[:2]  # RatioTimeslices came with v1
    if method not in methods:
        raise Unsupported(
            "spec.budgetingMethod", f"{method!r} is not a budgeting method of {slo.version}"
        )
    entries = spec.get("objectives")
    if not isinstance(entries, list) or not entries:
        raise Unsupported("spec.objectives", "an SLO has at least one objective")
    shared = None if slo.version == "openslo/v1alpha" else _slo_indicator(slo, context)
    rules = _alert_rules(slo, context, window)
    title = slo.metadata.get("displayName")
    objectives = []
    for index, entry in enumerate(entries):
        at = f"spec.objectives[{index}]"
        entry = mapping(entry, at)
        indicator = shared or _v1alpha_indicator(slo, entry, index, context)
        sli, evidence = indicator.sli(entry, at, method, context.step)
        target_key = "targetPercent" if "targetPercent" in entry else "target"
        objective = {
            "id": slug(slo.origin.name) + (f"-{index + 1}" if len(entries) > 1 else ""),
            **({"title": t} if (t := entry.get("displayName") or title) else {}),
            "sli": sli,
            "target": target_share(
                entry.get(target_key), f"{at}.{target_key}", percent=target_key != "target"
            ),
            "window": window,
            "budgeting": _budgeting(method, entry, at),
            **({"alerting": {"burn_rate_rules": rules}} if rules is not None else {}),
            **({"tags": tags} if (tags := _tags(slo.metadata)) else {}),
        }
        fields = SOURCE_FIELDS | {"target": f"{at}.{target_key}"}
        objectives.append(ImportedObjective(checked(objective, fields), indicator.name, evidence))
    return ImportedSlo(slo.origin, slug(service), objectives, zone)


@dataclass(frozen=True)
class Indicator:
    """An SLI: its ``name``, and a ratio's ``evidence`` or a threshold metric's ``source`` (type,
    query) with the seconds per unit of its values."""

    name: str
    evidence: Evidence | None = None
    source: tuple[str, str] | None = None
    seconds_per_unit: Decimal = Decimal(1)

    def sli(self, entry: dict, at: str, method: str, step: str) -> tuple[dict, Evidence]:
        """The Pledge SLI of one objective entry, and its evidence."""
        if self.evidence is not None:
            return {"kind": "availability", "evidence": "requests"}, self.evidence
        assert self.source is not None
        return _threshold_sli(self.source, self.seconds_per_unit, entry, at, method, step)


def _slo_indicator(slo: OpenSloObject, context: Context) -> Indicator:
    """v1 / v2alpha: the SLO's one SLI, inline or referenced."""
    spec = slo.spec
    inline_key, ref_key = (
        ("sli", "sliRef")
        if "sli" in spec or "sliRef" in spec
        else (
            "indicator",
            "indicatorRef",
        )
    )
    if (inline_key in spec) == (ref_key in spec):
        raise Unsupported("spec", f"give exactly one of {inline_key} and {ref_key}")
    if inline_key in spec:
        sli = mapping(spec[inline_key], f"spec.{inline_key}")
        prefix = f"spec.{inline_key}."
    else:
        sli = context.get("SLI", spec[ref_key], f"spec.{ref_key}").data
        prefix = f"SLI {spec[ref_key]}: "
    name = mapping(sli.get("metadata"), f"{prefix}metadata").get("name") or slo.origin.name
    sli_spec = mapping(sli.get("spec"), f"{prefix}spec")
    ratio, threshold = sli_spec.get("ratioMetric"), sli_spec.get("thresholdMetric")
    if (ratio is None) == (threshold is None):
        raise Unsupported(f"{prefix}spec", "give exactly one of ratioMetric and thresholdMetric")
    if ratio is not None:
        ratio = mapping(ratio, f"{prefix}spec.ratioMetric")
        return Indicator(str(name), evidence=_ratio_evidence(ratio, prefix, context))
    unit = mapping(mapping(sli.get("metadata"), "metadata").get("annotations"), "annotations")
    per_unit = {"s": Decimal(1), "ms": Decimal("0.001")}.get(unit.get("pledge/unit", "s"))
    if per_unit is None:
        raise Unsupported(f"{prefix}metadata.annotations.pledge/unit", "use s or ms")
    source = _query(mapping(threshold, "thresholdMetric"), f"{prefix}spec.thresholdMetric", context)
    return Indicator(str(name), source=source, seconds_per_unit=per_unit)


def _v1alpha_indicator(slo: OpenSloObject, entry: dict, index: int, context: Context) -> Indicator:
    """v1alpha: each objective carries its ``ratioMetrics`` (or the SLO a ``thresholdMetric``)."""
    at = f"spec.objectives[{index}]"
    if "ratioMetrics" in entry:
        ratio = mapping(entry["ratioMetrics"], f"{at}.ratioMetrics")
        evidence = _ratio_evidence(ratio, f"{at}.", context)
        return Indicator(f"{slo.origin.name}-{index + 1}", evidence=evidence)
    threshold = mapping(slo.spec.get("indicator"), "spec.indicator").get("thresholdMetric")
    if threshold is None:
        raise Unsupported(at, "an objective needs ratioMetrics, or the SLO a thresholdMetric")
    source = _query(
        mapping(threshold, "thresholdMetric"), "spec.indicator.thresholdMetric", context
    )
    return Indicator(slo.origin.name, source=source)


def _ratio_evidence(ratio: dict, prefix: str, context: Context) -> Evidence:
    """good/total, bad/total or a raw ratio → requests evidence (total, errors)."""
    at = f"{prefix}ratioMetric"
    if "raw" in ratio:
        kind, text = _query(mapping(ratio["raw"], f"{at}.raw"), f"{at}.raw", context)
        if kind != "prometheus":
            return Evidence("requests", foreign=f"{kind}: raw ratio: {text}")
        complemented, numerator, denominator = promql.split_ratio(text, f"{at}.raw")
        is_good = (ratio.get("rawType") == "success") != complemented
        part = {"numerator": numerator, "denominator": denominator}
        return _counts(part, "numerator" if is_good else None, "denominator", context.step, at)
    if ("good" in ratio) == ("bad" in ratio) or "total" not in ratio:
        raise Unsupported(at, "give total and exactly one of good and bad")
    sides = {
        key: _query(mapping(ratio[key], f"{at}.{key}"), f"{at}.{key}", context)
        for key in ("good", "bad", "total")
        if key in ratio
    }
    kinds = {kind for kind, _ in sides.values()}
    if kinds != {"prometheus"}:
        text = "; ".join(f"{key}: {kind}: {query}" for key, (kind, query) in sides.items())
        return Evidence("requests", foreign=text)
    queries = {key: query for key, (_, query) in sides.items()}
    return _counts(queries, "good" if "good" in queries else None, "total", context.step, at)


def _counts(queries: dict, good: str | None, total: str, step: str, at: str) -> Evidence:
    """Requests evidence from a total query and a good (or else the remaining, bad) query."""
    total_q = promql.per_step(queries[total], step, f"{at}.{total}")
    other = next(key for key in queries if key != total)
    other_q = promql.per_step(queries[other], step, f"{at}.{other}")
    errors = f"{total_q} - {other_q}" if good else other_q
    return Evidence("requests", (("total", total_q), ("errors", errors)))


def _threshold_sli(
    source: tuple[str, str], per_unit: Decimal, entry: dict, at: str, method: str, step: str
) -> tuple[dict, Evidence]:
    """A threshold metric, each point good when ``value op threshold``. With a Prometheus
    ``histogram_quantile(q, …)`` query and ``lte``/``lt``: the slice's q-th percentile at or
    under ``value`` (Timeslices); with another Prometheus query or ``gte``/``gt``: availability
    from probes, one check per series and step (``query op bool value``, Timeslices); from
    another source and ``lte``/``lt``: the share of requests at or under ``value`` (its query
    kept as a comment)."""
    op, value = entry.get("op"), entry.get("value")
    if op not in promql.COMPARISONS:
        raise Unsupported(f"{at}.op", f"{op!r} is not one of lte, lt, gte, gt")
    if not is_number(value):
        raise Unsupported(f"{at}.value", f"{value!r} is not a number")
    kind, text = source
    below = op in ("lte", "lt")
    if kind == "prometheus" and not (below and promql.is_quantile(text)):
        if method != "RatioTimeslices":  # a slice's ratio: its good points over its points
            _one_point_per_slice(entry, method, step, "a threshold metric", at)
        checks = promql.threshold_checks(text, op, Decimal(str(value)), step)
        return {"kind": "availability", "evidence": "probes"}, Evidence("probes", (("up", checks),))
    if not below:
        raise Unsupported(
            f"{at}.op {op}",
            f"a point above the value is good: Pledge reads such a threshold as probes of a "
            f"Prometheus query, and this one is {kind}",
        )
    threshold = latency_threshold(Decimal(str(value)) * per_unit, f"{at}.value")
    sli = {"kind": "latency", "evidence": "histogram", "threshold": threshold}
    if kind != "prometheus":
        return sli, Evidence("histogram", foreign=f"{kind}: {text}")
    quantile, buckets = promql.histogram_quantile(text, step, f"{at} query")
    _one_point_per_slice(entry, method, step, "a percentile threshold", at)
    sli["percentile"] = float(quantile * 100)
    return sli, Evidence("histogram", (("count", buckets),))


def _one_point_per_slice(entry: dict, method: str, step: str, what: str, at: str) -> None:
    """Each step's point is judged on its own: the SLO must use Timeslices of one step."""
    length = entry.get("timeSliceWindow")
    length = f"{length}m" if is_number(length) else length
    if (
        method != "Timeslices"
        or length is None
        or fixed_length(length, at) != fixed_length(step, "step")
    ):
        raise Unsupported(
            f"{what} with " + (method if method != "Timeslices" else "slices"),
            f"each {step} point is judged on its own: use Timeslices with timeSliceWindow {step}",
        )


def _query(part: dict, at: str, context: Context) -> tuple[str, str]:
    """A metric source (v1 ``metricSource``, v2alpha ``dataSourceRef``/``spec``, v1alpha
    ``source``/``query``) → (its type in lower case, its query text)."""
    if "metricSource" in part:
        part = mapping(part["metricSource"], f"{at}.metricSource")
    if "source" in part and "query" in part:  # v1alpha
        return _source_type(str(part["source"])), str(part["query"])
    kind = part.get("type") or mapping(part.get("dataSource"), "dataSource").get("type")
    reference = part.get("metricSourceRef") or part.get("dataSourceRef")
    if kind is None and reference is not None:
        source = context.get("DataSource", reference, f"{at} data source").spec
        kind = source.get("type") or next(iter(source), None)
    spec = mapping(part.get("spec") or mapping(part.get("dataSource"), "").get("spec"), at)
    if kind is None:
        raise Unsupported(f"{at}", "the metric source has no type and no data source")
    query = spec.get("query", spec.get("promql"))
    if _source_type(str(kind)) == "prometheus" and isinstance(query, str):
        return "prometheus", query
    text = query if isinstance(query, str) else " ".join(f"{k}={v}" for k, v in spec.items())
    return str(kind), text


def _source_type(kind: str) -> str:
    flat = "".join(char for char in kind.lower() if char.isalnum())
    return "prometheus" if flat in PROMETHEUS_TYPES else kind


def _window(slo: OpenSloObject) -> tuple[str | dict, str | None]:
    """``timeWindow`` (v1, v2alpha) or ``timeWindows`` (v1alpha) → a Pledge window and, for a
    calendar window, its zone. v1alpha's windows without ``isRolling`` nor ``calendar`` (as Sloth
    writes them) are rolling."""
    key = "timeWindows" if slo.version == "openslo/v1alpha" else "timeWindow"
    windows = slo.spec.get(key)
    if not isinstance(windows, list) or len(windows) != 1:
        raise Unsupported(f"spec.{key}", "give exactly one time window")
    at = f"spec.{key}[0]"
    window = mapping(windows[0], at)
    duration = window.get("duration")
    if key == "timeWindows":
        unit = V1ALPHA_UNITS.get(str(window.get("unit")))
        if unit is None or not isinstance(window.get("count"), int):
            raise Unsupported(at, "give count and unit (Second ... Year)")
        duration = f"{window['count']}{unit}"
    rolling = window.get("isRolling")
    if rolling is None and key == "timeWindows":
        rolling = "calendar" not in window
    if rolling is True:
        return rolling_window(fixed_length(duration, f"{at}.duration"), f"{at}.duration"), None
    if "calendar" not in window:
        raise Unsupported(at, "a calendar window needs calendar (startTime, timeZone)")
    calendar = mapping(window["calendar"], f"{at}.calendar")
    shorthand(duration, f"{at}.duration")
    return calendar_window(
        duration, calendar.get("timeZone"), calendar.get("startTime"), f"{at}.calendar"
    )


def _budgeting(method: str, entry: dict, at: str) -> str | dict:
    if method == "Occurrences":
        return "occurrences"
    length, share = entry.get("timeSliceWindow"), entry.get("timeSliceTarget")
    if length is None:
        raise Unsupported(f"{at}.timeSliceWindow", f"{method} needs a time slice")
    if is_number(length):
        length = f"{length}m"
    slice_length = format_duration(fixed_length(length, f"{at}.timeSliceWindow"))
    if method == "RatioTimeslices":
        return {"method": "ratio_timeslices", "slice": slice_length}
    if not is_number(share) or not 0 < share <= 1:
        raise Unsupported(f"{at}.timeSliceTarget", f"{share!r} is not a share in (0, 1]")
    return {
        "method": "timeslices",
        "slice": slice_length,
        "slice_target": percent_text(decimal(share, at) * 100),
    }


def _alert_rules(slo: OpenSloObject, context: Context, window: str | dict) -> list[dict] | None:
    """The SLO's alert policies' burn-rate conditions → Pledge rules, restated for the 30-day
    window Pledge scales them from; None (Pledge's default rules) without alert policies."""
    policies = slo.spec.get("alertPolicies")
    if not policies:
        return None
    nominal = _nominal_days(window)
    rules = []
    for index, policy in enumerate(policies if isinstance(policies, list) else [policies]):
        at = f"spec.alertPolicies[{index}]"
        if isinstance(policy, str) or "alertPolicyRef" in mapping(policy, at):
            reference = policy if isinstance(policy, str) else policy["alertPolicyRef"]
            policy = context.get("AlertPolicy", reference, at).data
        for position, condition in enumerate(
            mapping(policy.get("spec"), at).get("conditions") or []
        ):
            where = f"{at}.conditions[{position}]"
            condition = mapping(condition, where)
            if "conditionRef" in condition:
                condition = context.get("AlertCondition", condition["conditionRef"], where).data
            rules.append(_burn_rule(mapping(condition.get("spec"), where), where, nominal))
    return rules


def _burn_rule(spec: dict, at: str, nominal_days: int) -> dict:
    condition = mapping(spec.get("condition"), f"{at}.condition")
    if condition.get("kind") != "burnrate" or condition.get("op") not in ("gte", "gt"):
        raise Unsupported(
            f"{at} alert condition", "only burn rate at or above a threshold maps to Pledge alerts"
        )
    lookback = fixed_length(condition.get("lookbackWindow"), f"{at}.lookbackWindow")
    restated = timedelta(seconds=round(lookback.total_seconds() * 30 / nominal_days))
    severity = str(spec.get("severity", "")).lower()
    return {
        "severity": "page" if severity in PAGE_SEVERITIES else "ticket",
        "long": format_duration(restated),
        "short": format_duration(restated),
        "burn_rate": float(decimal(condition.get("threshold"), f"{at}.threshold")),
    }


def _nominal_days(window: str | dict) -> int:
    return WINDOW.validate_python(window).nominal_length.days


def _tags(metadata: dict) -> dict[str, str]:
    labels = mapping(metadata.get("labels"), "metadata.labels")
    return {
        str(k): ",".join(map(str, v)) if isinstance(v, list) else str(v) for k, v in labels.items()
    }


def _party(service: OpenSloObject) -> Party:
    metadata = service.metadata
    annotations = mapping(metadata.get("annotations"), "metadata.annotations")
    labels = mapping(metadata.get("labels"), "metadata.labels")
    found = {}
    for role in ("provider", "consumer"):
        value = annotations.get(f"pledge/{role}", labels.get(role))
        if isinstance(value, list) and len(value) == 1:
            value = value[0]
        if value is not None and (not isinstance(value, str) or not value):
            raise Unsupported(f"metadata.labels.{role}", f"{value!r} is not one name")
        found[role] = value
    return Party(metadata.get("displayName"), found["provider"], found["consumer"], service.origin)
