"""``generate_demo``: write the deterministic demo scenario into a Pledge home."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl

from pipelines.contracts.loader import load_contract
from pipelines.contracts.schema import Contract
from pipelines.demo import traffic
from pipelines.demo.events import (
    CalendarWindow,
    DemoRange,
    ScriptedEvent,
    clean_month,
    error_rates_with_events,
    medians_with_events,
    probe_failure_rates,
    scripted_events,
)
from pipelines.demo.incidents import RandomIncident, incident_error_rates, random_incidents
from pipelines.demo.items import (
    ItemEvidence,
    backup_runs,
    desk_tickets,
    restore_tests,
    security_incidents,
    survey_responses,
)
from pipelines.demo.profiles import (
    BUCKET_LABELS,
    LOCATIONS,
    PROBE_FAILURE_RATE,
    PROFILES,
)
from pipelines.demo.truth import ground_truth, incidents_truth, item_events_truth
from pipelines.demo.writers import (
    BACKUPS,
    LATENCY,
    PROBES,
    REQUESTS,
    RESTORES,
    SECURITY,
    SURVEYS,
    TICKETS,
    load_document,
    with_maintenance,
    write_contracts,
    write_daily,
    write_ground_truth,
    write_sources,
)
from pipelines.settings import REPO_ROOT, Settings

EXAMPLE_CONTRACTS = REPO_ROOT / "examples" / "contracts"

(
    VOLUMES,
    ERRORS,
    LATENCIES,
    CHECKS,
    TICKETS_STREAM,
    INCIDENTS,
    BACKUP_STREAM,
    SURVEYS_STREAM,
    DEPENDENCY_VOLUMES,
    DEPENDENCY_ERRORS,
    DEPENDENCY_LATENCIES,
    RANDOM_INCIDENTS,
) = range(12)
"""Independent random streams, so that changing one part leaves the others as they were."""


def _rng(seed: int, stream: int) -> np.random.Generator:
    return np.random.default_rng([seed, stream])


def measured_services(contracts: list[Contract], evidence: set[str]) -> list[str]:
    """Services (in contract and declaration order) with an objective read from ``evidence``
    (source kinds: ``requests``, ``histogram``, ``probes``)."""
    wanted = {
        objective.service
        for contract in contracts
        for objective in contract.objectives
        if objective.sli.source_kind in evidence
    }
    return [s.id for contract in contracts for s in contract.services if s.id in wanted]


def dependency_services(contracts: list[Contract]) -> list[str]:
    """Services declared without any objective that have a traffic profile (a database the
    measured services call): their requests and latency are generated for root-cause hints."""
    judged = {objective.service for contract in contracts for objective in contract.objectives}
    return [
        s.id
        for contract in contracts
        for s in contract.services
        if s.id in PROFILES and s.id not in judged
    ]


def request_evidence(
    minutes: pl.Series,
    services: list[str],
    zones: list[str],
    events: list[ScriptedEvent],
    seed: int,
    streams: tuple[int, int] = (VOLUMES, ERRORS),
    incidents: Sequence[RandomIncident] = (),
) -> tuple[np.ndarray, np.ndarray]:
    """Requests and failed requests per minute, int arrays (minutes, services), drawn from the
    random ``streams`` (volumes, errors), with the scripted ``events`` and random ``incidents``."""
    profiles = [PROFILES[service] for service in services]
    volumes = traffic.request_volumes(minutes, profiles, zones, _rng(seed, streams[0]))
    errors_rng = _rng(seed, streams[1])
    base_rates = traffic.baseline_error_rates(len(minutes), profiles, errors_rng)
    rates = error_rates_with_events(minutes, services, volumes, base_rates, events)
    rates += incident_error_rates(minutes, services, incidents)
    return volumes, traffic.failed_requests(volumes, rates, errors_rng)


def latency_evidence(
    minutes: pl.Series,
    services: list[str],
    volumes: np.ndarray,
    events: list[ScriptedEvent],
    seed: int,
    stream: int = LATENCIES,
) -> np.ndarray:
    """Cumulative latency bucket counts, int array (minutes, services, buckets), of ``volumes``
    (minutes, services) requests, drawn from the random ``stream``."""
    profiles = [PROFILES[service] for service in services]
    rng = _rng(seed, stream)
    medians = medians_with_events(
        minutes, services, traffic.latency_medians(volumes, profiles, rng), events
    )
    shares = traffic.bucket_shares(medians, np.array([p.latency_shape for p in profiles]))
    return traffic.latency_histogram(volumes, shares, rng)


def item_evidence(
    span: DemoRange, contracts: dict[str, Contract], clean: CalendarWindow | None, seed: int
) -> ItemEvidence:
    """The service desk's tickets and surveys and the security team's incidents, backups and
    restore tests, with their scripted events (those in the ``clean`` month left out)."""
    desk, security = contracts["service-desk"], contracts["security-and-backup"]
    office = desk.calendars["office"]
    tickets, desk_events = desk_tickets(
        span, desk.time_zone, office, desk.id, _rng(seed, TICKETS_STREAM)
    )
    incidents, incident_events = security_incidents(
        span, security.time_zone, security.id, _rng(seed, INCIDENTS)
    )
    backup_rng = _rng(seed, BACKUP_STREAM)
    backups, backup_events = backup_runs(span, security.time_zone, security.id, backup_rng)
    restores = restore_tests(span, security.time_zone, backup_rng)
    surveys, survey_events = survey_responses(
        span, desk.time_zone, office, desk.id, _rng(seed, SURVEYS_STREAM)
    )
    events = [
        event
        for event in desk_events + incident_events + backup_events + survey_events
        if clean is None or event.kind == "public_holiday" or event.window.label != clean.label
    ]
    return ItemEvidence(tickets, incidents, backups, restores, surveys, events)


def generate_demo(
    home: Path,
    end: date,
    days: int = 90,
    seed: int = 7,
    progress: Callable[[str], None] | None = None,
) -> dict:
    """Write the demo scenario of the ``days`` UTC days before ``end`` (``end`` itself excluded)
    into ``home``: ``contracts/`` (the examples, acme-cloud with the scripted maintenance
    excluded), ``sources.yaml``, daily landing files (requests CSV and latency Parquet of the
    measured services, then of the dependencies (``dependency_services``), probes CSV;
    ServiceNow ticket log, security incidents, backup runs, restore tests and survey responses
    CSV) and ``ground_truth.json``. Demos of more than RANDOM_INCIDENTS_AFTER_DAYS days also get
    random incidents on the request-counter services (``incidents.random_incidents``), listed in
    the ground truth as ``random_incident``. The same ``seed`` and ``end`` always give the same
    files.
    Returns the ground truth written."""
    report = progress or (lambda message: None)
    settings = Settings.from_env(home)
    span = DemoRange.ending(end, days)
    example_paths = sorted(EXAMPLE_CONTRACTS.glob("*.yaml"))
    contract_list = [load_contract(path) for path in example_paths]
    contracts = {contract.id: contract for contract in contract_list}
    clean = clean_month(span, sorted({contract.time_zone for contract in contract_list}))
    events = scripted_events(span, contracts, clean)
    request_services = measured_services(contract_list, {"requests", "histogram"})
    incidents = random_incidents(span, request_services, clean, _rng(seed, RANDOM_INCIDENTS))
    report(
        f"scenario {span.start:%Y-%m-%d} to {span.end:%Y-%m-%d} (seed {seed}): "
        f"{', '.join(event.kind for event in events) or 'no events'}"
        + (f", {len(incidents)} random incidents" if incidents else "")
    )

    documents = {path.name: load_document(path) for path in example_paths}
    file_names = {c.id: p.name for p, c in zip(example_paths, contract_list, strict=True)}
    for event in events:
        if event.kind == "maintenance":
            name = file_names[event.contract_id]
            zone = contracts[event.contract_id].time_zone
            documents[name] = with_maintenance(documents[name], event, zone)
    for path in write_contracts(settings.contracts_dir, documents):
        load_contract(path)
    write_sources(settings.sources_file)
    report(f"wrote {len(documents)} contracts and sources.yaml")

    zone_of = {s.id: c.time_zone for c in contract_list for s in c.services}
    minutes = traffic.minute_grid(span.start, span.end)
    dependencies = dependency_services(contract_list)
    volumes, failures = request_evidence(
        minutes,
        request_services,
        [zone_of[s] for s in request_services],
        events,
        seed,
        incidents=incidents,
    )
    dependency_volumes, dependency_failures = request_evidence(
        minutes,
        dependencies,
        [zone_of[s] for s in dependencies],
        events,
        seed,
        (DEPENDENCY_VOLUMES, DEPENDENCY_ERRORS),
    )
    requests = traffic.requests_frame(
        minutes,
        request_services + dependencies,
        np.column_stack([volumes, dependency_volumes]),
        np.column_stack([failures, dependency_failures]),
    )
    written = write_daily(requests, settings.landing_dir, REQUESTS)
    report(
        f"wrote requests: {requests.height:,} rows, {len(written)} days × "
        f"{len(request_services + dependencies)} services"
    )

    latency_services = measured_services(contract_list, {"histogram"})
    columns = [request_services.index(service) for service in latency_services]
    cumulative = np.concatenate(
        [
            latency_evidence(minutes, latency_services, volumes[:, columns], events, seed),
            latency_evidence(
                minutes, dependencies, dependency_volumes, events, seed, DEPENDENCY_LATENCIES
            ),
        ],
        axis=1,
    )
    latency = traffic.latency_frame(
        minutes, latency_services + dependencies, BUCKET_LABELS, cumulative
    )
    written = write_daily(latency, settings.landing_dir, LATENCY)
    report(
        f"wrote latency histograms: {latency.height:,} rows, {len(written)} days × "
        f"{len(latency_services + dependencies)} services"
    )

    probe_services = measured_services(contract_list, {"probes"})
    failure_rates = probe_failure_rates(
        minutes, probe_services, len(LOCATIONS), PROBE_FAILURE_RATE, events
    )
    success = traffic.probe_results(failure_rates, _rng(seed, CHECKS))
    probes = traffic.probes_frame(minutes, probe_services, LOCATIONS, success)
    written = write_daily(probes, settings.landing_dir, PROBES)
    report(
        f"wrote probes: {probes.height:,} rows, {len(written)} days × {len(probe_services)} "
        f"services × {len(LOCATIONS)} locations"
    )

    items = item_evidence(span, contracts, clean, seed)
    for frame, source in (
        (items.tickets, TICKETS),
        (items.incidents, SECURITY),
        (items.backups, BACKUPS),
        (items.restores, RESTORES),
        (items.surveys, SURVEYS),
    ):
        write_daily(frame, settings.landing_dir, source)
    item_kinds = ", ".join(event.kind for event in items.events) or "no events"
    report(
        f"wrote tickets ({items.tickets.height:,} updates), security incidents, backups, "
        f"restore tests and survey responses: {item_kinds}"
    )

    truth = ground_truth(seed, span, events, clean, contracts, requests, probes)
    truth["events"] = sorted(
        truth["events"]
        + item_events_truth(contracts, span, items)
        + incidents_truth(incidents, contract_list),
        key=lambda e: e["start"],
    )
    write_ground_truth(settings.home / "ground_truth.json", truth)
    report("wrote ground_truth.json")
    return truth
