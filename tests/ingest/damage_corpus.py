"""Small valid CSV landing files of every source kind, for the damage tests (the torture corpus and
the property test): each loads whole, and any two of its lines differ in at least two characters
of their identity, so one damaged byte never turns a line into a copy of another."""

from __future__ import annotations

from dataclasses import dataclass

from pipelines.contracts.sources import Source
from pipelines.ingest.parse import ParsedFile, parse_landing_file


@dataclass(frozen=True)
class Landing:
    """A landing file: its source, header and data lines (text, no line breaks)."""

    source: Source
    header: str
    lines: tuple[str, ...]
    services: frozenset[str] = frozenset({"api", "db", "desk"})
    groups: tuple[tuple[int, ...], ...] = ()
    """Data lines (0-based) that load or are rejected together (a histogram's buckets of one
    minute); every other line stands alone."""

    def data(self, indices: list[int] | None = None, encoding: str = "utf-8") -> bytes:
        """The file with its data lines (those of ``indices``), LF line endings."""
        chosen = self.lines if indices is None else [self.lines[index] for index in indices]
        return "".join(f"{line}\n" for line in (self.header, *chosen)).encode(encoding)

    def group_of(self, index: int) -> tuple[int, ...]:
        return next((group for group in self.groups if index in group), (index,))

    def parse(self, data: bytes, tmp_path, encoding: str = "utf-8") -> ParsedFile:
        """Parse ``data`` as a landing file of this source (read with ``encoding``)."""
        path = tmp_path / "landing-2026-11-20.csv"
        path.write_bytes(data)
        source = self.source.model_copy(update={"encoding": encoding})
        return parse_landing_file(path, source, self.services)


def _source(kind: str, **options) -> Source:
    return Source(kind=kind, path="*.csv", format="csv", **options)


LANDINGS = {
    "requests": Landing(
        _source("requests", columns={"ts": "timestamp", "total": "requests"}),
        "timestamp,service,requests,errors",
        (
            "2026-11-20T00:01:00Z,api,100,1",
            "2026-11-20T03:12:00Z,api,90,0",
            "2026-11-20T07:23:00Z,db,80,2",
            "2026-11-20T11:34:00Z,db,70,0",
        ),
    ),
    "histogram": Landing(
        _source("histogram"),
        "ts,service,le,count",
        (
            "2026-11-20T00:01:00Z,api,0.1,5",
            "2026-11-20T00:01:00Z,api,0.5,8",
            "2026-11-20T00:01:00Z,api,+Inf,9",
            "2026-11-20T05:32:00Z,api,+Inf,4",
            "2026-11-20T05:32:00Z,api,0.1,3",
        ),
        groups=((0, 1, 2), (3, 4)),
    ),
    "probes": Landing(
        _source("probes", columns={"ts": "timestamp", "up": "success"}),
        "timestamp,service,location,success",
        (
            "2026-11-20T00:01:00Z,api,Frankfurt,true",
            "2026-11-20T03:12:00Z,api,Virginia,false",
            "2026-11-20T07:23:00Z,db,Frankfurt,true",
            "2026-11-20T11:34:00Z,db,Singapore,true",
        ),
    ),
    "tickets log": Landing(
        _source("tickets", layout="log", service="desk", columns={"ticket_id": "number"}),
        "number,ts,state,priority,assignment_group",
        (
            "INC101,2026-11-20T09:00:00Z,New,2 - High,Network",
            "INC101,2026-11-20T10:30:00Z,Active,2 - High,Network",
            "INC202,2026-11-20T11:45:00Z,New,3 - Moderate,Service Desk",
            "INC202,2026-11-20T14:15:00Z,Resolved,3 - Moderate,Service Desk",
        ),
    ),
    "tickets snapshot": Landing(
        _source("tickets", layout="snapshot", service="desk"),
        "ticket_id,opened_at,resolved_at,closed_at,priority",
        (
            "T101,2026-11-20T09:00:00Z,2026-11-20T10:00:00Z,2026-11-20T12:00:00Z,1 - Critical",
            "T202,2026-11-20T09:30:00Z,,,2 - High",
            "T303,2026-11-20T11:00:00Z,2026-11-20T15:00:00Z,,3 - Moderate",
            "T404,2026-11-20T13:00:00Z,2026-11-20T13:30:00Z,2026-11-20T16:00:00Z,4 - Low",
        ),
    ),
    "security_incidents": Landing(
        _source("security_incidents"),
        "incident_id,service,severity,occurred_at,detected_at,contained_at",
        (
            "SEC101,api,high,2026-11-20T01:00:00Z,2026-11-20T01:30:00Z,2026-11-20T03:00:00Z",
            "SEC202,api,low,2026-11-20T04:00:00Z,2026-11-20T06:00:00Z,",
            "SEC303,db,medium,2026-11-20T08:00:00Z,2026-11-20T08:10:00Z,2026-11-20T09:00:00Z",
            "SEC404,db,high,2026-11-20T12:00:00Z,2026-11-20T12:05:00Z,2026-11-20T12:45:00Z",
        ),
    ),
    "backup_runs": Landing(
        _source("backup_runs"),
        "service,run_id,started_at,finished_at,success",
        (
            "api,B101,2026-11-20T01:00:00Z,2026-11-20T01:20:00Z,true",
            "api,B202,2026-11-20T07:00:00Z,2026-11-20T07:45:00Z,false",
            "db,B303,2026-11-20T13:00:00Z,2026-11-20T13:10:00Z,true",
            "db,B404,2026-11-20T19:00:00Z,2026-11-20T19:30:00Z,true",
        ),
    ),
    "restore_tests": Landing(
        _source("restore_tests"),
        "service,test_id,started_at,finished_at,success",
        (
            "api,R101,2026-11-20T02:00:00Z,2026-11-20T02:40:00Z,true",
            "api,R202,2026-11-20T08:00:00Z,2026-11-20T09:15:00Z,true",
            "db,R303,2026-11-20T14:00:00Z,2026-11-20T14:20:00Z,false",
            "db,R404,2026-11-20T20:00:00Z,2026-11-20T20:50:00Z,true",
        ),
    ),
    "survey_responses": Landing(
        _source("survey_responses", columns={"ts": "responded_at"}),
        "service,response_id,responded_at,survey,score",
        (
            "api,S101,2026-11-20T09:00:00Z,csat,4",
            "api,S202,2026-11-20T10:30:00Z,nps,9",
            "db,S303,2026-11-20T12:15:00Z,csat,2",
            "db,S404,2026-11-20T16:45:00Z,nps,6",
        ),
    ),
    "latency_samples": Landing(
        _source("latency_samples"),
        "ts,service,latency_seconds",
        (
            "2026-11-20T00:01:00Z,api,0.25",
            "2026-11-20T03:12:00Z,api,1.5",
            "2026-11-20T07:23:00Z,db,0.125",
            "2026-11-20T11:34:00Z,db,3.75",
        ),
    ),
}
"""A valid landing file of every CSV source kind (tickets in both layouts)."""
