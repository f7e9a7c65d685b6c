"""Paths and environment, read once.

One home folder (``PLEDGE_HOME``, default ``.pledge/`` in the current folder) holds everything a
run needs and produces; each path can be overridden by its own variable.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    home: Path
    contracts_dir: Path
    sources_file: Path
    landing_dir: Path
    warehouse_path: Path
    reports_dir: Path
    dagster_home: Path
    notifications_file: Path

    @classmethod
    def from_env(cls, home: str | os.PathLike | None = None, base: Path | None = None) -> Settings:
        """Settings from the environment; ``home`` overrides ``PLEDGE_HOME``. Relative paths are
        read from ``base`` (default: the current folder; the notebooks pass the repository root,
        as Jupyter runs them in ``notebooks/``)."""
        env = os.environ
        base = base or Path.cwd()
        root = (base / Path(home or env.get("PLEDGE_HOME") or ".pledge")).resolve()

        def path(var: str, default: Path) -> Path:
            return (base / env[var]).resolve() if env.get(var) else default

        return cls(
            home=root,
            contracts_dir=path("PLEDGE_CONTRACTS", root / "contracts"),
            sources_file=path("PLEDGE_SOURCES", root / "sources.yaml"),
            landing_dir=path("PLEDGE_LANDING", root / "landing"),
            warehouse_path=path("PLEDGE_WAREHOUSE", root / "warehouse.duckdb"),
            reports_dir=path("PLEDGE_REPORTS", root / "reports"),
            dagster_home=path("DAGSTER_HOME", root / "dagster"),
            notifications_file=path("PLEDGE_NOTIFICATIONS", root / "notifications.jsonl"),
        )


REPO_ROOT = Path(__file__).resolve().parents[1]
SQL_DIR = REPO_ROOT / "sql"

PARTITION_START_VARIABLE = "PLEDGE_PARTITION_START"
DEFAULT_PARTITION_START = date(2025, 1, 1)
"""The first daily partition when PLEDGE_PARTITION_START is unset (``pledge run`` starts them at
its first day instead when that is earlier)."""
