"""`make bench` still runs end to end: a tiny size, the three methods' windows must agree."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def test_bench_runs_and_methods_agree(tmp_path: Path) -> None:
    env = os.environ | {"BENCH_SERVICES": "3", "BENCH_DAYS": "3", "BENCH_DIR": str(tmp_path)}
    finished = subprocess.run(
        [sys.executable, "-m", "bench.windows"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert finished.returncode == 0, finished.stderr
    assert "results agree: 6 windows (3 services × 2 months)" in finished.stdout
    report = json.loads((tmp_path / "results.json").read_text())
    rows = {step["step"]: step["rows"] for step in report["steps"]}
    assert rows["ingest (ingest_partitions, every day)"] == 3 * 3 * 1440
    assert rows["windows: slices → daily totals (DuckDB)"] == 3 * 3 * 288  # 5-minute slices
    # 3 UTC days touch 4 days in Berlin (UTC+1): one daily total per service and local day
    assert rows["windows: daily_windows (local days)"] == 3 * 4
    assert rows["DuckDB SQL query (raw rows)"] == 3 * 3 * 1440
