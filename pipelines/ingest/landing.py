"""Landing files: which files belong to a source, the UTC day each name gives, and their digest.

Partition days come from file names: the first group of the source's ``date_pattern`` found in a
file's name is the UTC day it belongs to; a file whose name holds no date belongs to no partition.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from datetime import date
from pathlib import Path

from pipelines.contracts.sources import Source, read_sources
from pipelines.settings import Settings


def file_sha256(path: str | Path) -> str:
    """Hex sha256 of a file's bytes (what makes two landing files the same file)."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def landing_files(landing_dir: str | Path, source: Source) -> list[Path]:
    """The files under ``landing_dir`` matching the source's glob, sorted by path."""
    return sorted(path for path in Path(landing_dir).glob(source.path) if path.is_file())


def partition_day(file_name: str, date_pattern: str) -> date | None:
    """The day named in a file name: the first group of ``date_pattern`` (the whole match when
    the pattern has no group) read as an ISO date (``2026-11-20`` or ``20261120``); None when the
    name holds no such date."""
    match = re.search(date_pattern, file_name)
    if match is None:
        return None
    try:
        return date.fromisoformat(match.group(1) if match.re.groups else match.group(0))
    except ValueError:
        return None


def files_by_day(files: Iterable[Path], date_pattern: str) -> dict[date | None, list[Path]]:
    """The files by the day their name dates them to (``None``: no date, belonging to no
    partition and never loaded), each day's in the order given."""
    days: dict[date | None, list[Path]] = {}
    for path in files:
        days.setdefault(partition_day(path.name, date_pattern), []).append(path)
    return days


def landing_file_days(settings: Settings) -> dict[Path, date]:
    """Every landing file of a valid declared source whose name holds a date, and that UTC day."""
    days: dict[Path, date] = {}
    for source in read_sources(settings.sources_file)[0].values():
        for path in landing_files(settings.landing_dir, source):
            day = partition_day(path.name, source.date_pattern)
            if day is not None:
                days[path] = day
    return days


def landing_days(settings: Settings) -> list[date]:
    """Every UTC day named by a landing file of a declared source (sorted)."""
    return sorted(set(landing_file_days(settings).values()))
