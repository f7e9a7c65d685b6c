"""``pledge export-openslo``: Pledge contracts → OpenSLO v1 (a Service per contract, an SLO per
objective it can express), so that importing the export gives the same objectives.

- availability from requests → ``ratioMetric`` bad/total; latency under a threshold →
  ``thresholdMetric`` (op ``lte``, value in seconds), with a percentile as
  ``histogram_quantile``. A service whose evidence an imported Prometheus source pulls
  (``label_replace(<query>, "service", "<id>", "", "")``) exports that PromQL; other evidence is
  named by a ``Pledge`` metric source (imported back without a source).
- rolling and calendar windows (a window's start as ``calendar.startTime``), Occurrences,
  Timeslices and RatioTimeslices (ratio_timeslices), target, title and tags carry over; the
  contract's parties become the Service's ``pledge/provider`` / ``pledge/consumer``.
- Not expressible, each reported and left out: probes, ticket and item SLIs, window statistics,
  working-hours calendars, ``missing_data`` other than excluded. Credits, burn-rate rules,
  exclusions and corrections have no OpenSLO counterpart and are left out with a note.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from pathlib import Path

from ruamel.yaml import YAML

from pipelines.contracts.schema import ALWAYS, Contract, Objective, RatioTimeslices, Timeslices
from pipelines.contracts.sli import TrafficSli
from pipelines.contracts.sources import Source
from pipelines.contracts.units import format_duration

API_VERSION = "openslo/v1"
BUDGETING_METHODS = {
    "occurrences": "Occurrences",
    "timeslices": "Timeslices",
    "ratio_timeslices": "RatioTimeslices",
}
"""Pledge budgeting method → OpenSLO budgetingMethod."""
PERIODS = {"day": "1d", "week": "1w", "month": "1M", "quarter": "1Q"}
PERIOD_START = "2024-01-01 00:00:00"
"""A Monday, the 1st of January: it begins a day, week, month and quarter alike."""
IMPORTED_QUERY = re.compile(r'^label_replace\((.*), "service", "([^"]+)", "", ""\)$', re.S)


@dataclass
class Export:
    """The OpenSLO text per contract id, and one line per objective or feature left out."""

    files: dict[str, str] = field(default_factory=dict)
    left_out: list[str] = field(default_factory=list)


def export_openslo(contracts: list[Contract], sources: dict[str, Source]) -> Export:
    export = Export()
    queries = _imported_queries(sources)
    for contract in contracts:
        documents = [_service(contract)]
        for objective in contract.objectives:
            try:
                documents.append(_slo(contract, objective, queries))
            except ValueError as error:
                export.left_out.append(f"{contract.id}/{objective.id}: {error}")
                continue
            if objective.credits is not None:
                export.left_out.append(f"{contract.id}/{objective.id}: credits are not exported")
        for feature in ("exclusions", "corrections"):
            if getattr(contract, feature):
                export.left_out.append(f"{contract.id}: {feature} are not exported")
        if len(documents) > 1:
            export.files[contract.id] = _dump_all(documents)
    return export


def _imported_queries(sources: dict[str, Source]) -> dict[tuple[str, str], dict]:
    """(service, evidence kind) → the PromQL per field of a source that pulls only it, and its
    ``step``."""
    found = {}
    for source in sources.values():
        if source.pull is None:
            continue
        inner = {name: IMPORTED_QUERY.match(query) for name, query in source.pull.queries.items()}
        services = {match.group(2) for match in inner.values() if match}
        if len(services) == 1 and all(inner.values()):
            served = {k: m.group(1) for k, m in inner.items()}
            found[services.pop(), source.kind] = served | {"step": source.pull.step}
    return found


def _service(contract: Contract) -> dict:
    return {
        "apiVersion": API_VERSION,
        "kind": "Service",
        "metadata": {
            "name": contract.id,
            "displayName": contract.title,
            "annotations": {
                "pledge/provider": contract.provider,
                "pledge/consumer": contract.consumer,
            },
        },
        "spec": {"description": f"Pledge contract {contract.id}"},
    }


def _slo(contract: Contract, objective: Objective, queries: dict) -> dict:
    sli = objective.sli
    if not isinstance(sli, TrafficSli) or sli.source_kind not in ("requests", "histogram"):
        raise ValueError(
            f"a {sli.kind} SLI from {getattr(sli, 'source_kind', sli.kind)} has no OpenSLO metric"
        )
    if sli.judged_on != "share":
        raise ValueError("a window statistic has no OpenSLO objective")
    if objective.calendar != ALWAYS or objective.missing_data != "excluded":
        raise ValueError("working-hours calendars and missing_data have no OpenSLO counterpart")
    served = queries.get((objective.service, sli.source_kind))
    entry: dict = {"target": objective.target}
    budgeting = objective.budgeting
    if isinstance(budgeting, Timeslices):
        entry["timeSliceTarget"] = budgeting.slice_target
    if isinstance(budgeting, Timeslices | RatioTimeslices):
        entry["timeSliceWindow"] = format_duration(budgeting.slice)
    if sli.kind == "availability":
        parts = {"bad": "errors", "total": "total"}
        indicator = {
            "ratioMetric": {
                "counter": True,
                **{
                    key: {"metricSource": _source(objective, served, field)}
                    for key, field in parts.items()
                },
            }
        }
    else:
        assert sli.threshold is not None
        entry |= {"op": "lte", "value": sli.threshold.total_seconds()}
        source = _source(objective, served, "count")
        if sli.percentile is not None:
            slice_length = objective.slice_length
            if not served or served["step"] != slice_length:
                raise ValueError(
                    "a percentile is exported as histogram_quantile over a Prometheus source "
                    "whose step is the slice"
                )
            source["spec"]["query"] = (
                f"histogram_quantile({sli.percentile / 100:g}, {served['count']})"
            )
        elif served:  # a share under the threshold reads the buckets, not a percentile
            source = _source(objective, None, "count")
        indicator = {"thresholdMetric": {"metricSource": source}}
    metadata = {
        "name": objective.id,
        **({"displayName": objective.title} if objective.title else {}),
    }
    if objective.tags:
        metadata["labels"] = dict(objective.tags)
    return {
        "apiVersion": API_VERSION,
        "kind": "SLO",
        "metadata": metadata,
        "spec": {
            "service": contract.id,
            "indicator": {"metadata": {"name": f"{objective.id}-sli"}, "spec": indicator},
            "timeWindow": [_window(contract, objective)],
            "budgetingMethod": BUDGETING_METHODS[budgeting.method],
            "objectives": [entry],
        },
    }


def _source(objective: Objective, served: dict | None, field_name: str) -> dict:
    if served:
        return {"type": "Prometheus", "spec": {"query": served[field_name]}}
    kind = objective.sli.source_kind
    return {"type": "Pledge", "spec": {"query": f"{kind}.{field_name} of {objective.service}"}}


def _window(contract: Contract, objective: Objective) -> dict:
    window = objective.window
    if window.kind == "rolling":
        return {"duration": f"{window.length.days}d", "isRolling": True}
    start = window.start.isoformat(sep=" ") if window.start else PERIOD_START
    return {
        "duration": PERIODS[window.period],
        "isRolling": False,
        "calendar": {"startTime": start, "timeZone": contract.time_zone},
    }


def _dump_all(documents: list[dict]) -> str:
    writer = YAML(typ="safe", pure=True)
    writer.default_flow_style = False
    writer.sort_base_mapping_type_on_output = False
    writer.width = 4096
    text = io.StringIO()
    writer.dump_all(documents, text)
    return text.getvalue()


def write_export(export: Export, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for contract_id, text in export.files.items():
        path = out / f"{contract_id}.openslo.yaml"
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
