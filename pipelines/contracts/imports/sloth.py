"""Sloth ``prometheus/v1`` specs and ``sloth.slok.dev/v1`` PrometheusServiceLevel → imported SLOs.

One contract group per Sloth ``service``. Each entry of ``slos``: ``objective`` (a percentage)
over Sloth's SLO period (30 days, or the ``sloPeriod`` of the one AlertWindows given); ``events``
(error and total queries) or ``raw`` (an error ratio query split into its two counts) become
requests evidence; page and ticket alerts become burn-rate rules (Sloth's default windows, or
the AlertWindows'); SLI plugins, whose query is code, are refused.
"""

from __future__ import annotations

from dataclasses import dataclass
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
    mapping,
    rolling_window,
    slug,
    target_share,
)
from pipelines.contracts.units import format_duration

SPEC_VERSION = "prometheus/v1"
CRD_VERSION = "sloth.slok.dev/v1"
DEFAULT_PERIOD = timedelta(days=30)
DEFAULT_WINDOWS = {
    "page": {
        "quick": {"errorBudgetPercent": 2, "shortWindow": "5m", "longWindow": "1h"},
        "slow": {"errorBudgetPercent": 5, "shortWindow": "30m", "longWindow": "6h"},
    },
    "ticket": {
        "quick": {"errorBudgetPercent": 10, "shortWindow": "2h", "longWindow": "1d"},
        "slow": {"errorBudgetPercent": 10, "shortWindow": "6h", "longWindow": "3d"},
    },
}
"""Sloth's built-in alert windows for its default 30-day SLO period (the SRE workbook's)."""
PASSIVE_PLUGINS = {
    "sloth.dev/contrib/info_labels/v1": "it only adds labels",
    "sloth.dev/core/debug/v1": "it only logs",
    "sloth.dev/contrib/rule_intervals/v1": "it only sets how often Prometheus evaluates rules",
    "sloth.dev/contrib/denominator_corrected_rules/v1": "it only corrects Sloth's recording "
    "rules; Pledge counts the events themselves",
    "sloth.dev/core/sli_rules/v1": "Sloth's own recording rules; Pledge counts the events",
    "sloth.dev/core/metadata_rules/v1": "Sloth's own metadata rules",
    "sloth.dev/core/alert_rules/v1": "Sloth's own alert rules; the alerts become burn-rate rules",
    "sloth.dev/contrib/validate_victoria_metrics/v1": "it only validates queries",
    "sloth.dev/core/validate_prometheus/v1": "it only validates queries",
}
"""SLO plugins that leave the SLO's meaning alone, each with why it can be ignored."""


@dataclass(frozen=True)
class AlertWindows:
    """A Sloth AlertWindows object: the SLO period and its page/ticket quick/slow windows."""

    period: timedelta
    windows: dict


def convert(
    documents: list[Document], step: str
) -> tuple[list[ImportedSlo], list[Refusal | FileProblem]]:
    """Sloth documents (specs, CRDs and AlertWindows) → imported SLOs and outcome lines."""
    outcomes: list[Refusal | FileProblem] = []
    windows = _alert_windows([d for d in documents if _kind(d) == "AlertWindows"], outcomes)
    imported = []
    for document in (d for d in documents if _kind(d) != "AlertWindows"):
        data = document.data
        crd = data.get("apiVersion") == CRD_VERSION
        if crd and data.get("kind") != "PrometheusServiceLevel":
            message = f"unknown kind {data.get('kind')!r}: use PrometheusServiceLevel"
            outcomes.append(FileProblem(document.file, document.line, message))
            continue
        spec = data.get("spec") if crd else data
        path = ("spec",) if crd else ()
        if not isinstance(spec, dict) or not isinstance(spec.get("service"), str):
            outcomes.append(FileProblem(document.file, document.line, "service is missing"))
            continue
        slos = spec.get("slos")
        if not isinstance(slos, list) or not slos:
            outcomes.append(FileProblem(document.file, document.line, "slos is missing"))
            continue
        names = [s.get("name") if isinstance(s, dict) else None for s in slos]
        for index, slo in enumerate(slos):
            line = document.line_of(*path, "slos", index)
            name = names[index]
            if not isinstance(name, str) or not name:
                outcomes.append(FileProblem(document.file, line, f"slos[{index}]: name is missing"))
                continue
            origin = Origin(document.file, line, "SLO", name)
            if names.index(name) != index:
                first = document.line_of(*path, "slos", names.index(name))
                why = f"first in {document.file}:{first}"
                outcomes.append(Refusal(origin, "a second definition", why))
                continue
            try:
                imported.append(_slo(origin, spec, slo, windows, step, crd, outcomes))
            except Unsupported as error:
                outcomes.append(origin.refusal(error))
    return imported, outcomes


def _kind(document: Document) -> str | None:
    data = document.data
    return data.get("kind") if isinstance(data, dict) else None


def _alert_windows(documents: list[Document], outcomes: list) -> AlertWindows:
    """The AlertWindows in use: the only one given, else the 30-day one, else Sloth's default."""
    found = []
    for document in documents:
        try:
            spec = mapping(document.data.get("spec"), "spec")
            period = fixed_length(spec.get("sloPeriod"), "sloPeriod")
            for severity in ("page", "ticket"):
                for speed in ("quick", "slow"):
                    window = mapping(mapping(spec.get(severity), severity).get(speed), speed)
                    fixed_length(window.get("longWindow"), f"{severity}.{speed}.longWindow")
                    fixed_length(window.get("shortWindow"), f"{severity}.{speed}.shortWindow")
                    decimal(window.get("errorBudgetPercent"), f"{severity}.{speed}")
        except Unsupported as error:
            outcomes.append(
                FileProblem(document.file, document.line, f"AlertWindows: {error.feature}: {error}")
            )
            continue
        found.append((document, AlertWindows(period, spec)))
    if len(found) > 1:
        found = [(d, w) for d, w in found if w.period == DEFAULT_PERIOD] or found[:1]
        for document, _ in found[1:]:
            outcomes.append(
                FileProblem(document.file, document.line, "AlertWindows: another one is used", True)
            )
    return found[0][1] if found else AlertWindows(DEFAULT_PERIOD, DEFAULT_WINDOWS)


def _slo(
    origin: Origin,
    service: dict,
    slo: dict,
    windows: AlertWindows,
    step: str,
    crd: bool,
    outcomes: list,
) -> ImportedSlo:
    for plugin_id in _plugin_ids(service, slo):
        if plugin_id not in PASSIVE_PLUGINS:
            raise Unsupported(
                f"SLO plugin {plugin_id}", "it may change the generated rules in code"
            )
        message = f"SLO {origin.name}: plugin {plugin_id} ignored ({PASSIVE_PLUGINS[plugin_id]})"
        outcomes.append(FileProblem(origin.file, origin.line, message, True))
    evidence = _evidence(mapping(slo.get("sli"), "sli"), step, crd)
    objective = {
        "id": slug(origin.name),
        **({"title": slo["description"]} if slo.get("description") else {}),
        "sli": {"kind": "availability", "evidence": "requests"},
        "target": target_share(slo.get("objective"), "objective", percent=True),
        "window": rolling_window(windows.period, "sloPeriod"),
        "budgeting": "occurrences",
        "alerting": {"burn_rate_rules": _rules(mapping(slo.get("alerting"), "alerting"), windows)},
    }
    tags = {**mapping(service.get("labels"), "labels"), **mapping(slo.get("labels"), "labels")}
    if tags:
        objective["tags"] = {str(k): str(v) for k, v in tags.items()}
    sli_name = f"{service['service']}-{origin.name}"
    imported = ImportedObjective(checked(objective, {}), sli_name, evidence)
    return ImportedSlo(origin, slug(service["service"]), [imported])


def _plugin_ids(service: dict, slo: dict) -> list[str]:
    """The SLO plugins of the service's chain and the SLO's own, each once."""
    ids = []
    for plugins in (service.get("slo_plugins", service.get("sloPlugins")), slo.get("plugins")):
        chain = mapping(plugins, "plugins").get("chain") or []
        if not isinstance(chain, list):
            raise Unsupported("plugins.chain", "must be a list")
        ids += [str(mapping(plugin, "plugins.chain[]").get("id")) for plugin in chain]
    return list(dict.fromkeys(ids))


def _evidence(sli: dict, step: str, crd: bool) -> Evidence:
    """``events`` or ``raw`` → requests evidence; a ``plugin`` SLI is refused."""
    keys = {
        "error": "errorQuery" if crd else "error_query",
        "total": "totalQuery" if crd else "total_query",
        "ratio": "errorRatioQuery" if crd else "error_ratio_query",
    }
    if "plugin" in sli:
        plugin_id = mapping(sli["plugin"], "sli.plugin").get("id")
        raise Unsupported(f"SLI plugin {plugin_id}", "its query is Go code that only Sloth can run")
    if "events" in sli:
        events = mapping(sli["events"], "sli.events")
        queries = {}
        for field, key in (("total", keys["total"]), ("errors", keys["error"])):
            if not isinstance(events.get(key), str):
                raise Unsupported(f"sli.events.{key}", "missing")
            queries[field] = promql.per_step(events[key], step, f"sli.events.{key}")
        return Evidence("requests", tuple(queries.items()))
    if "raw" in sli:
        query = mapping(sli["raw"], "sli.raw").get(keys["ratio"])
        at = f"sli.raw.{keys['ratio']}"
        if not isinstance(query, str):
            raise Unsupported(at, "missing")
        complemented, numerator, denominator = promql.split_ratio(query, at)
        total = promql.per_step(denominator, step, at)
        part = promql.per_step(numerator, step, at)
        errors = f"{total} - {part}" if complemented else part
        return Evidence("requests", (("total", total), ("errors", errors)))
    raise Unsupported("sli", "give events, raw or plugin")


def _rules(alerting: dict, windows: AlertWindows) -> list[dict]:
    """Page and ticket alerts (unless disabled) → burn-rate rules: burn rate = the budget share
    consumed × period / long window; windows restated for the 30 days Pledge scales from."""
    rules = []
    scale = Decimal(DEFAULT_PERIOD.total_seconds()) / Decimal(windows.period.total_seconds())
    for severity in ("page", "ticket"):
        alert = mapping(alerting.get(f"{severity}Alert", alerting.get(f"{severity}_alert")), "")
        if not alerting or alert.get("disable") is True:
            continue
        for speed in ("quick", "slow"):
            window = windows.windows[severity][speed]
            long = fixed_length(window["longWindow"], "longWindow")
            short = fixed_length(window["shortWindow"], "shortWindow")
            burn = (
                decimal(window["errorBudgetPercent"], "errorBudgetPercent")
                / 100
                * Decimal(windows.period.total_seconds())
                / Decimal(long.total_seconds())
            )
            rules.append(
                {
                    "severity": severity,
                    "long": _restated(long, scale),
                    "short": _restated(short, scale),
                    "burn_rate": float(round(burn, 6)),
                }
            )
    return rules


def _restated(length: timedelta, scale: Decimal) -> str:
    return format_duration(timedelta(seconds=round(Decimal(length.total_seconds()) * scale)))
