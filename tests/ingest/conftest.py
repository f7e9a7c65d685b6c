"""Shared fixtures for the ingest tests: sources as the demo declares them, landing files. The
damage tests share ``damage_corpus.py``; pytest runs with --import-mode=importlib, which puts no
test folder on sys.path, so this folder is added here."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from pipelines.contracts.sources import Source

sys.path.insert(0, str(Path(__file__).parent))

WriteFile = Callable[[Path, str | bytes], Path]


@pytest.fixture
def known_services() -> set[str]:
    return {"api", "db"}


@pytest.fixture
def requests_source() -> Source:
    return Source(
        kind="requests",
        path="requests/*.csv",
        format="csv",
        columns={"ts": "timestamp", "total": "requests"},
    )


def _write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text("".join(line.strip() + "\n" for line in text.strip().splitlines()))
    return path


@pytest.fixture
def write() -> WriteFile:
    """Write a landing file (text lines are stripped of indentation), creating its folder."""
    return _write
