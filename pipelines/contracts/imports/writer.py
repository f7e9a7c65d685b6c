"""Imported SLOs → contract YAML texts and ``kind: prometheus`` source declarations.

One contract per group (OpenSLO service, Sloth service, Pyrra namespace, slo-generator
``service_name``). Within a contract, the SLIs that read the same evidence kind with the same
queries share one Pledge service; when the contract has several of one kind, each is its own
service ``<contract>.<sli>``, so their events never mix. Each Pledge service and evidence kind
with Prometheus queries gets one source ``<service>-<kind>`` whose queries label their one series
with the service; an SLI from another data source gets no source, its query kept as a comment.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

from ruamel.yaml import YAML

from pipelines.contracts.imports import promql
from pipelines.contracts.imports.model import (
    Evidence,
    FileProblem,
    ImportedSlo,
    Party,
    Refusal,
    slug,
)

HEADER = "# Imported by pledge import from:\n"
MAX_ID = 63
"""The longest contract id (a Kubernetes name's limit, as OpenSLO, Sloth and Pyrra names)."""


@dataclass
class Written:
    """The contracts (id → YAML text), sources (name → declaration), the objectives left without
    an evidence source (``contract/objective: original query``) and refusals found here."""

    contracts: dict[str, str] = field(default_factory=dict)
    sources: dict[str, dict] = field(default_factory=dict)
    unresolved: list[str] = field(default_factory=list)
    refusals: list[Refusal] = field(default_factory=list)
    imported: int = 0


def write(
    slos: list[ImportedSlo],
    parties: dict[str, Party],
    defaults: Party,
    url: str,
    step: str,
) -> Written:
    written = Written()
    groups: dict[str, list[ImportedSlo]] = {}
    for slo in slos:
        groups.setdefault(slo.group, []).append(slo)
    for group in sorted(groups):
        kept = _compatible(groups[group], written.refusals)
        if not kept:
            continue
        written.imported += len(kept)
        services = _services(group, kept)
        for (service, evidence_kind), evidence in sorted(services.items()):
            if evidence.queries:
                written.sources[f"{service}-{evidence_kind}"] = {
                    "kind": "prometheus",
                    "evidence": evidence_kind,
                    "url": url,
                    "step": step,
                    "queries": {
                        name: promql.labelled(query, "service", service)
                        for name, query in evidence.queries
                    },
                }
        party = parties.get(group, Party())
        written.contracts[group] = _contract(group, kept, services, party, defaults, written)
    return written


def _compatible(members: list[ImportedSlo], refusals: list[Refusal]) -> list[ImportedSlo]:
    """The SLOs of one group that fit one contract: an id short enough for a file name, one time
    zone, distinct objective ids."""
    kept: list[ImportedSlo] = []
    for member in members:
        zones = {(k.time_zone, k.origin.name) for k in kept if k.time_zone}
        ids = {o.objective["id"]: k.origin for k in kept for o in k.objectives}
        clash = next(((z, n) for z, n in zones if member.time_zone not in (None, z)), None)
        taken = [o.objective["id"] for o in member.objectives if o.objective["id"] in ids]
        if len(member.group) > MAX_ID:
            refusals.append(
                Refusal(
                    member.origin,
                    f"service {member.group[:20]}...",
                    f"a contract id, and its file name, is at most {MAX_ID} characters",
                )
            )
        elif clash:
            refusals.append(
                Refusal(
                    member.origin,
                    f"time zone {member.time_zone}",
                    f"contract {member.group} has one time zone, {clash[0]} from SLO {clash[1]}",
                )
            )
        elif taken:
            first = ids[taken[0]]
            refusals.append(
                Refusal(
                    member.origin,
                    f"a second objective {taken[0]}",
                    f"contract {member.group} has it from {first.file}:{first.line}",
                )
            )
        else:
            kept.append(member)
    return kept


def _services(group: str, members: list[ImportedSlo]) -> dict[tuple[str, str], Evidence]:
    """(Pledge service id, evidence kind) → the evidence it reads."""
    by_kind: dict[str, dict[Evidence, str]] = {}
    for member in members:
        for objective in member.objectives:
            names = by_kind.setdefault(objective.evidence.kind, {})
            names.setdefault(objective.evidence, objective.sli_name)
    services = {}
    for kind, names in by_kind.items():
        for evidence, sli_name in names.items():
            service = group if len(names) == 1 else f"{group}.{slug(sli_name)}"
            services[service, kind] = evidence
    return services


def _contract(
    group: str,
    members: list[ImportedSlo],
    services: dict[tuple[str, str], Evidence],
    party: Party,
    defaults: Party,
    written: Written,
) -> str:
    service_of = {evidence: service for (service, _), evidence in services.items()}
    zone = next((m.time_zone for m in members if m.time_zone), "UTC")
    title = party.title or group
    document = {
        "id": group,
        "title": title,
        "provider": party.provider or defaults.provider,
        "consumer": party.consumer or defaults.consumer,
        "time_zone": zone,
        "services": [{"id": service} for service in sorted(set(service_of.values()))],
    }
    origins = [party.origin] if party.origin else []
    origins += [member.origin for member in members]
    header = "".join(f"#   {o.kind} {o.name} ({o.file}:{o.line})\n" for o in origins)
    lines = [HEADER + header + _dump(document), "objectives:\n"]
    for member in members:
        for imported in member.objectives:
            objective = {
                "id": imported.objective["id"],
                "service": service_of[imported.evidence],
                **{k: v for k, v in imported.objective.items() if k != "id"},
            }
            if imported.evidence.foreign is not None:
                written.unresolved.append(f"{group}/{objective['id']}: {imported.evidence.foreign}")
                comment = " ".join(imported.evidence.foreign.split())
                lines.append(
                    f"  # no evidence source: the SLI reads {comment}\n"
                    f"  # declare a {imported.evidence.kind} source for service "
                    f"{objective['service']} in sources.yaml\n"
                )
            lines.append(_dump([objective]).replace("\n", "\n  ").rstrip(" ").join(("  ", "")))
    return "".join(lines)


def _dump(data: object) -> str:
    writer = YAML(typ="safe", pure=True)
    writer.default_flow_style = False
    writer.sort_base_mapping_type_on_output = False
    writer.width = 4096
    text = io.StringIO()
    writer.dump(data, text)
    return text.getvalue()


def outcome_lines(outcomes: list[Refusal | FileProblem]) -> list[str]:
    """The outcome lines in file and line order."""

    def key(outcome: Refusal | FileProblem) -> tuple[str, int]:
        if isinstance(outcome, Refusal):
            return outcome.origin.file, outcome.origin.line
        return outcome.file, outcome.line

    return [str(outcome) for outcome in sorted(outcomes, key=key)]
