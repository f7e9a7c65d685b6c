"""Pyrra ``pyrra.dev/v1alpha1`` ServiceLevelObjective → imported SLOs (one group per namespace).

``ratio`` → requests (errors, total); ``latency`` (a ``_bucket`` with ``le`` over a total) and
``latencyNative`` (a native histogram cut at ``latency``) → latency from a two-bucket histogram
(the threshold bucket and ``+Inf``), exactly the two counts Pyrra divides; ``bool_gauge`` →
requests counting the gauge's samples (total) and its zero samples (errors). ``window`` → a
rolling window; ``target`` (a percentage) → target. Pyrra's multi-window burn-rate alerts
become burn-rate rules. ``grouping`` (one SLO per label value) is refused.
"""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

from pipelines.contracts.imports import promql
from pipelines.contracts.imports.model import (
    Document,
    Evidence,
    FileProblem,
    ImportedObjective,
    ImportedSlo,
    Origin,
    Refusal,
    Unsupported,
    checked,
    decimal,
    fixed_length,
    latency_threshold,
    mapping,
    rolling_window,
    slug,
    target_share,
)
from pipelines.contracts.units import format_duration

VERSION = "pyrra.dev/v1alpha1"
INDICATORS = ("ratio", "latency", "latencyNative", "bool_gauge")
LE_MATCHER = re.compile(r"""\ble\s*=\s*"([^"]+)"\s*,?""")
PYRRA_WINDOWS = (("page", 14, "1h", "5m"), ("page", 7, "6h", "30m"))
PYRRA_WINDOWS += (("ticket", 2, "1d", "2h"), ("ticket", 1, "4d", "6h"))
"""Pyrra's multi-window alerts for a 28-day window (severity, burn rate, long, short), which it
scales with the window like Pledge does."""


def convert(
    documents: list[Document], step: str
) -> tuple[list[ImportedSlo], list[Refusal | FileProblem]]:
    outcomes: list[Refusal | FileProblem] = []
    imported = []
    seen: dict[tuple[str, str], Origin] = {}
    for document in documents:
        data = document.data
        metadata = data.get("metadata") if isinstance(data.get("metadata"), dict) else {}
        name = metadata.get("name")
        if data.get("kind") != "ServiceLevelObjective":
            message = f"unknown kind {data.get('kind')!r}: use ServiceLevelObjective"
            outcomes.append(FileProblem(document.file, document.line, message))
            continue
        if not isinstance(name, str) or not name or not isinstance(data.get("spec"), dict):
            message = "ServiceLevelObjective: metadata.name and spec are required"
            outcomes.append(FileProblem(document.file, document.line, message))
            continue
        namespace = str(metadata.get("namespace") or "default")
        origin = Origin(document.file, document.line, "SLO", name)
        if (namespace, name) in seen:
            first = seen[namespace, name]
            why = f"first in {first.file}:{first.line}"
            outcomes.append(Refusal(origin, "a second definition", why))
            continue
        seen[namespace, name] = origin
        try:
            imported.append(_slo(origin, namespace, metadata, data["spec"], step))
        except Unsupported as error:
            outcomes.append(origin.refusal(error))
    return imported, outcomes


def _slo(origin: Origin, namespace: str, metadata: dict, spec: dict, step: str) -> ImportedSlo:
    indicator = mapping(spec.get("indicator"), "spec.indicator")
    given = [key for key in INDICATORS if key in indicator]
    if len(given) != 1:
        raise Unsupported("spec.indicator", f"give exactly one of {', '.join(INDICATORS)}")
    kind = given[0]
    body = mapping(indicator[kind], f"spec.indicator.{kind}")
    if body.get("grouping"):
        labels = body["grouping"] if isinstance(body["grouping"], list) else [body["grouping"]]
        raise Unsupported(
            f"spec.indicator.{kind}.grouping",
            f"one SLO per value of {', '.join(map(str, labels))}: Pledge services are declared "
            "in the contract and these values are known only to the server",
        )
    sli, evidence = _indicator(kind, body, step, f"spec.indicator.{kind}")
    length = fixed_length(spec.get("window"), "spec.window")
    alerting = mapping(spec.get("alerting"), "spec.alerting")
    objective = {
        "id": slug(origin.name),
        **({"title": spec["description"]} if spec.get("description") else {}),
        "sli": sli,
        "target": target_share(spec.get("target"), "spec.target", percent=True),
        "window": rolling_window(length, "spec.window"),
        "budgeting": "occurrences",
        "alerting": {"burn_rate_rules": [] if alerting.get("disabled") is True else _rules()},
    }
    labels = mapping(metadata.get("labels"), "metadata.labels")
    if labels:
        objective["tags"] = {str(k): str(v) for k, v in labels.items()}
    imported = ImportedObjective(
        checked(objective, {"target": "spec.target"}), origin.name, evidence
    )
    return ImportedSlo(origin, slug(namespace), [imported])


def _indicator(kind: str, body: dict, step: str, at: str) -> tuple[dict, Evidence]:
    if kind == "ratio":
        errors, total = (_metric(body, key, at) for key in ("errors", "total"))
        queries = (("total", promql.counter(total, step)), ("errors", promql.counter(errors, step)))
        return {"kind": "availability", "evidence": "requests"}, Evidence("requests", queries)
    if kind == "bool_gauge":
        metric = body.get("metric")
        if not isinstance(metric, str):
            raise Unsupported(f"{at}.metric", "missing")
        samples = f"round(sum(count_over_time({metric}[{step}])))"
        ones = f"round(sum(sum_over_time({metric}[{step}])))"
        queries = (("total", samples), ("errors", f"{samples} - {ones}"))
        return {"kind": "availability", "evidence": "requests"}, Evidence("requests", queries)
    total = _metric(body, "total", at)
    if kind == "latency":
        success = _metric(body, "success", at)
        bound = LE_MATCHER.search(success)
        if bound is None:
            raise Unsupported(f"{at}.success.metric", 'the bucket has no le="..." bound')
        seconds = decimal(bound.group(1), f"{at}.success.metric le")
        good = promql.counter(success, step)
    else:
        seconds = Decimal(fixed_length(body.get("latency"), f"{at}.latency") / timedelta(seconds=1))
        increase = f"sum(increase({total}[{step}]))"
        good = f"round(histogram_fraction(0, {seconds}, {increase}) * histogram_count({increase}))"
        total = None
    threshold = latency_threshold(seconds, f"{at} threshold")
    all_requests = (
        promql.counter(total, step)
        if total is not None
        else f"round(histogram_count(sum(increase({_metric(body, 'total', at)}[{step}]))))"
    )
    buckets = (
        f"{promql.labelled(good, 'le', _bound(seconds))} or "
        f"{promql.labelled(all_requests, 'le', '+Inf')}"
    )
    sli = {"kind": "latency", "evidence": "histogram", "threshold": threshold}
    return sli, Evidence("histogram", (("count", buckets),))


def _metric(body: dict, key: str, at: str) -> str:
    metric = mapping(body.get(key), f"{at}.{key}").get("metric")
    if not isinstance(metric, str) or not metric.strip():
        raise Unsupported(f"{at}.{key}.metric", "missing")
    return metric


def _bound(seconds: Decimal) -> str:
    return f"{seconds.normalize():f}"


def _rules() -> list[dict]:
    """Pyrra's alerts restated for the 30 days Pledge scales rule windows from."""
    scale = 30 / 28
    return [
        {
            "severity": severity,
            "long": format_duration(_scaled(long, scale)),
            "short": format_duration(_scaled(short, scale)),
            "burn_rate": float(burn),
        }
        for severity, burn, long, short in PYRRA_WINDOWS
    ]


def _scaled(length: str, scale: float) -> timedelta:
    return timedelta(seconds=round(fixed_length(length, "window").total_seconds() * scale))
