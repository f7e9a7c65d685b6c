"""Writing the demo into a Pledge home: contracts, ``sources.yaml``, landing files, ground truth."""

from __future__ import annotations

import json
from dataclasses import dataclass
from io import StringIO
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

import polars as pl
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from pipelines.demo.events import ScriptedEvent
from pipelines.demo.items import PRIORITIES

CSV_TIMESTAMP = "%Y-%m-%dT%H:%M:%SZ"


@dataclass(frozen=True)
class LandingSource:
    """One demo source: its ``sources.yaml`` declaration and its daily landing files
    (``<name>/<name>-YYYY-MM-DD.<format>`` under the landing folder)."""

    name: str
    kind: str
    file_format: Literal["csv", "parquet"]
    columns: dict[str, str]
    day_column: str = "timestamp"
    """The UTC timestamp column whose day places a row in a daily file."""
    options: tuple[tuple[str, str | tuple[str, ...]], ...] = ()
    """Further source options (``service``, ``layout``, ``priorities``), in declaration order."""

    @property
    def pattern(self) -> str:
        return f"{self.name}/*.{self.file_format}"

    def declaration(self) -> CommentedMap:
        declaration = CommentedMap(kind=self.kind, path=self.pattern, format=self.file_format)
        for option, value in self.options:
            if isinstance(value, tuple):
                value = CommentedSeq(value)
                value.fa.set_flow_style()
            declaration[option] = value
        if self.columns:
            columns = CommentedMap(self.columns)
            columns.fa.set_flow_style()
            declaration["columns"] = columns
        return declaration


REQUESTS = LandingSource("requests", "requests", "csv", {"ts": "timestamp", "total": "requests"})
LATENCY = LandingSource("latency", "histogram", "parquet", {"ts": "timestamp"})
PROBES = LandingSource("probes", "probes", "csv", {"ts": "timestamp", "up": "success"})
TICKETS = LandingSource(
    "servicenow",
    "tickets",
    "csv",
    {"ticket_id": "number", "ts": "sys_updated_at", "state": "incident_state"},
    day_column="sys_updated_at",
    options=(("layout", "log"), ("service", "service-desk"), ("priorities", PRIORITIES)),
)
SECURITY = LandingSource("security", "security_incidents", "csv", {}, day_column="detected_at")
BACKUPS = LandingSource("backups", "backup_runs", "csv", {}, day_column="started_at")
RESTORES = LandingSource("restores", "restore_tests", "csv", {}, day_column="started_at")
SURVEYS = LandingSource(
    "surveys", "survey_responses", "csv", {"ts": "responded_at"}, day_column="responded_at"
)
SOURCES = (REQUESTS, LATENCY, PROBES, TICKETS, SECURITY, BACKUPS, RESTORES, SURVEYS)


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def load_document(path: Path) -> CommentedMap:
    """A YAML file as ruamel's round-trip document (comments and layout kept)."""
    return _yaml().load(path.read_text())


def with_maintenance(acme: CommentedMap, event: ScriptedEvent, zone: str) -> CommentedMap:
    """A copy of the acme-cloud contract document whose ``exclusions`` end with a one-off
    exclusion of ``event`` (its service, local start and end in ``zone``)."""
    document = _yaml().load(_dump(acme))
    exclusions = document.setdefault("exclusions", CommentedSeq())
    services = CommentedSeq([event.service])
    services.fa.set_flow_style()
    local = ZoneInfo(zone)
    exclusion = CommentedMap(
        reason="object storage maintenance, announced a week ahead",
        services=services,
        start=event.start.astimezone(local).strftime("%Y-%m-%dT%H:%M"),
        end=event.end.astimezone(local).strftime("%Y-%m-%dT%H:%M"),
    )
    exclusion.yaml_set_start_comment("Planned maintenance scripted by the demo.", indent=2)
    if exclusions:
        # The blank line after the last exclusion belongs after the new one.
        previous = exclusions[-1]
        spacing = previous.ca.items.pop(list(previous)[-1], None)
        if spacing is not None:
            exclusion.ca.items["end"] = spacing
    exclusions.append(exclusion)
    return document


def _dump(document: CommentedMap) -> str:
    text = StringIO()
    _yaml().dump(document, text)
    return text.getvalue()


def write_contracts(folder: Path, documents: dict[str, CommentedMap]) -> list[Path]:
    """Write each document to ``folder/<file name>``; returns the paths written."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, document in documents.items():
        path = folder / name
        path.write_text(_dump(document))
        paths.append(path)
    return paths


def write_sources(path: Path, replaced: dict[str, dict[str, object]] | None = None) -> None:
    """Write ``sources.yaml`` declaring the demo's sources, those named in ``replaced`` by the
    declaration given there (``pledge demo --prometheus``)."""
    replaced = replaced or {}
    document = CommentedMap(
        sources=CommentedMap(
            (source.name, replaced.get(source.name) or source.declaration()) for source in SOURCES
        )
    )
    document.yaml_set_start_comment("Where the demo's evidence lands (written by `pledge demo`).")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(_dump(document))


def write_daily(frame: pl.DataFrame, landing: Path, source: LandingSource) -> list[Path]:
    """Split ``frame`` by the UTC day of its ``source.day_column`` and write one file per day
    under ``landing/<source>/``, replacing earlier demo files of that source; CSV timestamps are
    ISO 8601 with a ``Z``. Returns the paths written, in day order."""
    folder = landing / source.name
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob(f"{source.name}-*.{source.file_format}"):
        stale.unlink()
    if frame.is_empty():  # e.g. no restore test day in a two-day demo: nothing lands
        return []
    days = frame.with_columns(day=pl.col(source.day_column).dt.date()).partition_by(
        "day", as_dict=True, include_key=False, maintain_order=True
    )
    paths = []
    for (day,), rows in days.items():
        path = folder / f"{source.name}-{day.isoformat()}.{source.file_format}"
        if source.file_format == "csv":
            rows.write_csv(path, datetime_format=CSV_TIMESTAMP)
        else:
            rows.write_parquet(path)
        paths.append(path)
    return paths


def write_ground_truth(path: Path, truth: dict[str, object]) -> None:
    """Write the ground truth as indented JSON."""
    path.write_text(json.dumps(truth, indent=2) + "\n")
