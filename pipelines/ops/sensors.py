"""The landing sensor: new or changed landing files start an ingest of the days they belong to.

The cursor is compact JSON ``{"horizon": ns, "files": {path: [mtime_ns, size]}}``: the files
modified within ``RECENT_NS`` of the newest one, and the horizon below which every file counts as
seen. It stays small however long the landing folder grows; a file copied in with an mtime older
than the horizon (``cp -p``, ``rsync -t``) is not noticed: touch it, or run ``pledge run``.
"""

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import dagster as dg

from pipelines.ops.jobs import days_run_request, ingest_and_windows
from pipelines.partitions import daily
from pipelines.resources import PledgeHome
from pipelines.run import landing_file_days

RECENT_NS = 2 * 86_400 * 10**9
"""Files modified within two days of the newest landing file are remembered one by one."""

FileState = tuple[int, int]
"""A landing file's (mtime_ns, size)."""


@dataclass(frozen=True)
class LandingCursor:
    horizon: int = -1
    files: Mapping[str, FileState] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str | None) -> "LandingCursor":
        if not text:
            return cls()
        document = json.loads(text)
        return cls(
            document["horizon"],
            {path: (mtime, size) for path, (mtime, size) in document["files"].items()},
        )

    def dump(self) -> str:
        document = {"horizon": self.horizon, "files": {k: list(v) for k, v in self.files.items()}}
        return json.dumps(document, separators=(",", ":"), sort_keys=True)

    def is_seen(self, path: str, state: FileState) -> bool:
        return self.files.get(path) == state or (
            path not in self.files and state[0] <= self.horizon
        )


def advance(cursor: LandingCursor, current: Mapping[str, FileState]) -> "LandingCursor":
    """The cursor after seeing ``current`` (path → state): recent files kept one by one."""
    if not current:
        return cursor
    horizon = max(cursor.horizon, max(mtime for mtime, _ in current.values()) - RECENT_NS)
    return LandingCursor(
        horizon, {path: state for path, state in current.items() if state[0] > horizon}
    )


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
    cursor: LandingCursor, current: Mapping[str, tuple[FileState, date]]
) -> list[dg.RunRequest]:
    """One ingest run per range of consecutive days with a new or changed file. ``current``:
    path → ((mtime_ns, size), day). The run key names the files and states behind it, so the same
    files never start two runs."""
    changed = {
        path: (state, day)
        for path, (state, day) in current.items()
        if not cursor.is_seen(path, state)
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
    current = {}
    for path, day in landing_file_days(settings).items():
        if not daily.has_partition_key(day.isoformat()):
            context.log.warning(f"{path}: {day} is outside the daily partitions, not ingested")
            continue
        try:
            stat = path.stat()
        except OSError:  # removed since listed: the next tick sees the folder as it is
            continue
        current[_name(path, settings.landing_dir)] = ((stat.st_mtime_ns, stat.st_size), day)
    cursor = LandingCursor.parse(context.cursor)
    requests = changed_runs(cursor, current)
    following = advance(cursor, {path: state for path, (state, _) in current.items()})
    if not requests:
        return dg.SensorResult(
            skip_reason="no new or changed landing files", cursor=following.dump()
        )
    return dg.SensorResult(run_requests=requests, cursor=following.dump())


def _name(path: Path, landing_dir: Path) -> str:
    return path.relative_to(landing_dir).as_posix()
