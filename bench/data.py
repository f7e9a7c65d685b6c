"""Benchmark data: a year of per-minute request counters for many services, as daily CSV files.

The files have the demo's landing shape (``timestamp,service,requests,errors``) so that Pledge's
real ingest reads them. Generation is vectorised and cached: files already written for the same
size are kept.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from pipelines.progress import Progress

BENCH_CONTRACT_ID = "bench"
TIME_ZONE = "Europe/Berlin"


def write_home(home: Path, services: int, days: int, end: date, seed: int = 1) -> int:
    """Write contract, sources.yaml and daily CSVs for ``days`` days up to ``end``; returns rows."""
    names = service_names(services)
    (home / "contracts").mkdir(parents=True, exist_ok=True)
    (home / "contracts" / "bench.yaml").write_text(_contract(names))
    (home / "sources.yaml").write_text(
        "sources:\n  requests:\n    kind: requests\n    path: requests/*.csv\n    format: csv\n"
        "    columns: {ts: timestamp, total: requests}\n"
    )
    landing = home / "landing" / "requests"
    landing.mkdir(parents=True, exist_ok=True)
    marker = home / "bench-size.json"
    size = {"services": services, "days": days, "end": end.isoformat(), "seed": seed}
    if not (marker.exists() and json.loads(marker.read_text()) == size):
        for path in landing.glob("*.csv"):
            path.unlink()
        rng = np.random.default_rng(seed)
        with Progress("writing landing files", days, "days") as written:
            for offset in range(days):
                day = end - timedelta(days=days - 1 - offset)
                day_frame(day, names, rng).write_csv(landing / f"requests-{day.isoformat()}.csv")
                written.advance()
        marker.write_text(json.dumps(size))
    return services * days * 1440


def service_names(services: int) -> list[str]:
    """The bench's service ids: svc-000, svc-001, ..."""
    return [f"svc-{index:03d}" for index in range(services)]


def day_frame(day: date, names: list[str], rng: np.random.Generator) -> pl.DataFrame:
    """One UTC day: 1440 minutes × services, daily seasonality and Poisson noise."""
    minutes = np.arange(1440)
    start = datetime(day.year, day.month, day.day)
    shape = 1.0 + 0.6 * np.sin((minutes / 1440 - 0.3) * 2 * np.pi)
    base = rng.uniform(200, 1500, size=len(names))
    total = rng.poisson(np.outer(base, shape)).ravel()
    errors = rng.binomial(total, 0.0004)
    timestamps = [
        (start + timedelta(minutes=int(m))).strftime("%Y-%m-%dT%H:%M:00Z") for m in minutes
    ]
    return pl.DataFrame(
        {
            "timestamp": np.tile(np.array(timestamps), len(names)),
            "service": np.repeat(np.array(names), 1440),
            "requests": total,
            "errors": errors,
        }
    )


def _contract(names: list[str]) -> str:
    services = "\n".join(f"  - {{id: {name}}}" for name in names)
    objectives = "\n".join(
        f"  - {{id: {name}-availability, service: {name}, sli: {{kind: availability}}, "
        "target: 99.9%, window: month}"
        for name in names
    )
    return (
        f"id: {BENCH_CONTRACT_ID}\ntitle: Benchmark\nprovider: Bench\nconsumer: Bench\n"
        f"time_zone: {TIME_ZONE}\nservices:\n{services}\nobjectives:\n{objectives}\n"
    )
