"""The landing sensor: new or changed landing files start an ingest of the days they belong to.

"New or changed" is judged against the warehouse's own record, ``ops.ingested_files``: a file is
pending while no ingest recorded it (loaded, duplicate or failed) at or after its modification
time. So a file copied in with an old mtime (``cp -p``, ``rsync -t``) is still found, and nothing
needs remembering about files already ingested. The cursor is compact JSON
``{"files": {path: [mtime_ns, size]}}`` of the pending files already requested, so the same files
are not requested again while their run waits or runs; it forgets each file once it is ingested.
A tick that finds the warehouse locked by a writer is skipped.
"""

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

import dagster as dg
import duckdb

from pipelines.ingest.landing import landing_file_days
from pipelines.ops.jobs import days_run_request, ingest_and_windows
from pipelines.partitions import daily
from pipelines.resources import PledgeHome
from pipelines.warehouse import query

FileState = tuple[int, int]
"""A landing file's (mtime_ns, size)."""

INGESTED_SQL = "SELECT file, max(ingested_at) AS ingested_at FROM ops.ingested_files GROUP BY file"


@dataclass(frozen=True)
class LandingCursor:
    files: Mapping[str, FileState] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str | None) -> "LandingCursor":
        if not text:
            return cls()
        document = json.loads(text)
        return cls({path: (mtime, size) for path, (mtime, size) in document["files"].items()})

    def dump(self) -> str:
        document = {"files": {k: list(v) for k, v in self.files.items()}}
        return json.dumps(document, separators=(",", ":"), sort_keys=True)


def pending_files(
    current: Mapping[str, FileState], ingested: Mapping[str, datetime]
) -> dict[str, FileState]:
    """The files of ``current`` (path → state) that no ingest recorded at or after their
    modification time (``ingested``: path → latest ingested_at)."""
    return {
        path: state
        for path, state in current.items()
        if path not in ingested or ingested[path].timestamp() * 1e9 < state[0]
    }


def day_ranges(days: set[date]) -> list[tuple[date, date]]:
    """Consecutive days grouped into (first, last) ranges, in order."""
    ranges: list[tuple[date, date]] = []
    for day in sorted(days):
        if ranges and ranges[-1][1] + timedelta(days=1) == day:
            ranges[-1] = (ranges[-1][0], day)
        else:
            ranges.append((day, day))
    return ranges


def changed_runs(
    cursor: LandingCursor, pending: Mapping[str, tuple[FileState, date]]
) -> list[dg.RunRequest]:
    """One ingest run per range of consecutive days with a pending file not requested yet in
    this state. ``pending``: path → ((mtime_ns, size), day). The run key names the files and
    states behind it, so the same files never start two runs."""
    changed = {
        path: (state, day)
        for path, (state, day) in pending.items()
        if cursor.files.get(path) != state
    }
    requests = []
    for first, last in day_ranges({day for _, day in changed.values()}):
        files = sorted(
            (path, *state) for path, (state, day) in changed.items() if first <= day <= last
        )
        digest = hashlib.sha256(json.dumps(files).encode()).hexdigest()[:16]
        requests.append(days_run_request(first, last, run_key=f"landing-{first}-{last}-{digest}"))
    return requests


@dg.sensor(
    job=ingest_and_windows,
    minimum_interval_seconds=60,
    description="New or changed files under the landing folder start an ingest of their days.",
)
def landing_sensor(
    context: dg.SensorEvaluationContext, pledge: PledgeHome
) -> dg.SensorResult | dg.SkipReason:
    settings = pledge.settings
    if not settings.sources_file.exists() or not settings.landing_dir.is_dir():
        return dg.SkipReason(
            f"no sources file at {settings.sources_file} or no landing folder at "
            f"{settings.landing_dir}"
        )
    try:
        ingested = _ingested_files(pledge)
    except duckdb.IOException as error:
        if "lock" not in str(error).lower():
            raise
        return dg.SkipReason("the warehouse is being written (locked); trying again next tick")
    current: dict[str, tuple[FileState, date]] = {}
    for path, day in landing_file_days(settings).items():
        if not daily.has_partition_key(day.isoformat()):
            context.log.warning(f"{path}: {day} is outside the daily partitions, not ingested")
            continue
        try:
            stat = path.stat()
        except OSError:  # removed since listed: the next tick sees the folder as it is
            continue
        current[_name(path, settings.landing_dir)] = ((stat.st_mtime_ns, stat.st_size), day)
    pending = pending_files({path: state for path, (state, _) in current.items()}, ingested)
    requests = changed_runs(LandingCursor.parse(context.cursor), {p: current[p] for p in pending})
    following = LandingCursor(pending).dump()
    if not requests:
        return dg.SensorResult(skip_reason="no new or changed landing files", cursor=following)
    return dg.SensorResult(run_requests=requests, cursor=following)


def _ingested_files(pledge: PledgeHome) -> dict[str, datetime]:
    """Landing file (relative path) → when an ingest last recorded it; empty without a
    warehouse or before the first ingest."""
    if not pledge.settings.warehouse_path.exists():
        return {}
    try:
        with pledge.connect(read_only=True) as con:
            rows = query(con, INGESTED_SQL)
    except duckdb.CatalogException:
        return {}
    return dict(zip(rows["file"], rows["ingested_at"], strict=True))


def _name(path: Path, landing_dir: Path) -> str:
    return path.relative_to(landing_dir).as_posix()
