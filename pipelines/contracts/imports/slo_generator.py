"""Google slo-generator ``sre.google.com/v2`` ServiceLevelObjective (Prometheus backend).

One contract group per ``service_name`` label. ``good_bad_ratio`` (``filter_good`` or
``filter_bad`` over ``filter_valid``) → requests; ``query_sli`` (a good/valid ratio expression
split into its two counts) → requests; ``distribution_cut`` (a ``_bucket`` expression cut at
``threshold_bucket``) → latency from the threshold and ``+Inf`` buckets. With another backend
(Cloud Monitoring, Datadog, …) a ratio SLO imports without a source, its filters kept as a
comment. ``goal`` → target. The
SLO itself has no window (slo-generator reports on its error budget policy's steps): the window
is its longest default step, rolling 28 days.
"""

from __future__ import annotations

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
    latency_threshold,
    mapping,
    slug,
    target_share,
)

VERSION = "sre.google.com/v2"
WINDOW = "rolling 28d"
METHODS = ("good_bad_ratio", "query_sli", "distribution_cut")


def convert(
    documents: list[Document], step: str
) -> tuple[list[ImportedSlo], list[Refusal | FileProblem]]:
    outcomes: list[Refusal | FileProblem] = []
    imported = []
    for document in documents:
        data = document.data
        metadata = data.get("metadata") if isinstance(data.get("metadata"), dict) else {}
        name = metadata.get("name")
        if data.get("kind") != "ServiceLevelObjective":
            message = f"unknown kind {data.get('kind')!r}: use ServiceLevelObjective"
            outcomes.append(FileProblem(document.file, document.line, message))
            continue
        if not isinstance(name, str) or not isinstance(data.get("spec"), dict):
            message = "ServiceLevelObjective: metadata.name and spec are required"
            outcomes.append(FileProblem(document.file, document.line, message))
            continue
        origin = Origin(document.file, document.line, "SLO", name)
        try:
            imported.append(_slo(origin, metadata, data["spec"], step))
        except Unsupported as error:
            outcomes.append(origin.refusal(error))
    return imported, outcomes


def _slo(origin: Origin, metadata: dict, spec: dict, step: str) -> ImportedSlo:
    labels = mapping(metadata.get("labels"), "metadata.labels")
    service = labels.get("service_name")
    if not isinstance(service, str) or not service:
        raise Unsupported("metadata.labels.service_name", "missing: it names the contract")
    backend = spec.get("backend")
    method = spec.get("method")
    if method not in METHODS:
        raise Unsupported(f"method {method}", f"use one of {', '.join(METHODS)}")
    indicator = mapping(spec.get("service_level_indicator"), "spec.service_level_indicator")
    if str(backend).lower() == "prometheus":
        sli, evidence = _indicator(method, indicator, step, "spec.service_level_indicator")
    elif method == "distribution_cut":
        raise Unsupported(
            f"distribution_cut on {backend}",
            "its threshold_bucket is a bucket number, not a latency Pledge can state",
        )
    else:
        text = "; ".join(f"{key}: {' '.join(str(v).split())}" for key, v in indicator.items())
        sli = {"kind": "availability", "evidence": "requests"}
        evidence = Evidence("requests", foreign=f"{backend} {method}: {text}")
    objective = {
        "id": slug(origin.name),
        **({"title": spec["description"]} if spec.get("description") else {}),
        "sli": sli,
        "target": target_share(spec.get("goal"), "spec.goal", percent=False),
        "window": WINDOW,
        "budgeting": "occurrences",
        "tags": {str(k): str(v) for k, v in labels.items()},
    }
    imported = ImportedObjective(checked(objective, {"target": "spec.goal"}), origin.name, evidence)
    return ImportedSlo(origin, slug(service), [imported])


def _indicator(method: str, sli: dict, step: str, at: str) -> tuple[dict, Evidence]:
    availability = {"kind": "availability", "evidence": "requests"}
    if method == "good_bad_ratio":
        valid = _text(sli, "filter_valid", at)
        total = promql.counter(valid, step)
        if "filter_bad" in sli:
            errors = promql.counter(_text(sli, "filter_bad", at), step)
        else:
            errors = f"{total} - {promql.counter(_text(sli, 'filter_good', at), step)}"
        return availability, Evidence("requests", (("total", total), ("errors", errors)))
    expression = _text(sli, "expression", at)
    if method == "query_sli":
        complemented, good, valid = promql.split_ratio(expression, f"{at}.expression")
        total = promql.per_step(valid, step, f"{at}.expression")
        part = promql.per_step(good, step, f"{at}.expression")
        errors = part if complemented else f"{total} - {part}"
        return availability, Evidence("requests", (("total", total), ("errors", errors)))
    if sli.get("good_below_threshold", True) is not True:
        raise Unsupported(
            f"{at}.good_below_threshold", "Pledge counts requests at or under the threshold"
        )
    seconds = decimal(sli.get("threshold_bucket"), f"{at}.threshold_bucket")
    bound = f"{seconds.normalize():f}"
    buckets = " or ".join(
        promql.labelled(promql.counter(_with_le(expression, le), step), "le", le)
        for le in (bound, "+Inf")
    )
    sli_latency = {
        "kind": "latency",
        "evidence": "histogram",
        "threshold": latency_threshold(seconds, f"{at}.threshold_bucket"),
    }
    return sli_latency, Evidence("histogram", (("count", buckets),))


def _with_le(selector: str, bound: str) -> str:
    """The bucket selector narrowed to one ``le``."""
    selector = selector.strip()
    matcher = f'le="{bound}"'
    if selector.endswith("}"):
        inner = selector[selector.index("{") + 1 : -1].strip()
        return f"{selector[: selector.index('{')]}{{{inner + ', ' if inner else ''}{matcher}}}"
    return f"{selector}{{{matcher}}}"


def _text(sli: dict, key: str, at: str) -> str:
    value = sli.get(key)
    if not isinstance(value, str) or not value.strip():
        raise Unsupported(f"{at}.{key}", "missing")
    return " ".join(value.split())
