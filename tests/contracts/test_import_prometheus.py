"""A Sloth and a Pyrra spec imported beside a real Prometheus server (Debian's package, started on
a free loopback port, serving the known evidence of the pull tests): the imported sources pull,
and the run computes windows and writes reports whose numbers are the served counters."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest

from pipelines import warehouse
from pipelines.cli import main
from pipelines.demo.prometheus import RunningServer, backfill, serve, write_openmetrics
from tests.conftest import PLEDGE_VARIABLES
from tests.ingest.test_prometheus_server import DAYS, START, known_evidence

SLOTH = """\
version: "prometheus/v1"
service: "checkout"
slos:
  - name: "requests-availability"
    objective: 99.9
    sli:
      events:
        error_query: sum(rate(http_requests_total{service="checkout",code=~"5.."}[{{.window}}]))
        total_query: sum(rate(http_requests_total{service="checkout"}[{{.window}}]))
    alerting:
      page_alert: {labels: {severity: critical}}
      ticket_alert: {labels: {severity: warning}}
"""
PYRRA = """\
apiVersion: pyrra.dev/v1alpha1
kind: ServiceLevelObjective
metadata: {name: checkout-latency, namespace: shop}
spec:
  target: "99"
  window: 1d
  indicator:
    latency:
      success:
        metric: http_request_duration_seconds_bucket{service="checkout",le="0.5"}
      total:
        metric: http_request_duration_seconds_bucket{service="checkout",le="+Inf"}
"""


@pytest.fixture(scope="module")
def evidence() -> dict[str, pl.DataFrame]:
    return known_evidence()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, evidence) -> Iterator[RunningServer]:
    folder = tmp_path_factory.mktemp("prometheus")
    backfill(write_openmetrics(folder / "openmetrics", **evidence), folder / "data")
    with serve(folder / "data") as running:
        yield running


@pytest.mark.slow
def test_imported_sloth_and_pyrra_slos_run_to_windows_and_reports(
    tmp_path: Path, server: RunningServer, evidence, monkeypatch: pytest.MonkeyPatch
) -> None:
    for variable in PLEDGE_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    (tmp_path / "sloth.yml").write_text(SLOTH)
    (tmp_path / "pyrra.yaml").write_text(PYRRA)
    home = tmp_path / "home"
    specs = [str(tmp_path / "sloth.yml"), str(tmp_path / "pyrra.yaml")]
    assert main(["import", *specs, "--home", str(home), "--url", server.url]) == 0
    days = ["--from", START.date().isoformat()]
    days += ["--to", (START + timedelta(days=DAYS - 1)).date().isoformat()]
    assert main(["pull", "--home", str(home), *days]) == 0
    assert main(["run", "--home", str(home), *days]) == 0

    with warehouse.connect(home / "warehouse.duckdb", read_only=True) as con:
        windows = warehouse.query(
            con, "SELECT * FROM sla.windows ORDER BY contract_id, objective_id, window_start"
        )
    requests = evidence["requests"].filter(service="checkout")
    latency = evidence["latency"].pivot("le", index="timestamp", values="count")

    # Sloth: rolling 30 days of checkout requests; good = total − 5xx (the 20-minute burst)
    sloth = windows.filter(contract_id="checkout").tail(1)
    assert sloth["total"].item() == requests["requests"].sum()
    assert sloth["good"].item() == requests["requests"].sum() - requests["errors"].sum()
    # Pyrra: rolling 1 day per day; good = requests within 0.5 s (the 0.5 bucket)
    pyrra = windows.filter(contract_id="shop").head(DAYS)
    daily = latency.group_by(pl.col("timestamp").dt.date(), maintain_order=True).agg(
        pl.col("+Inf").sum(), pl.col("0.5").sum()
    )
    assert pyrra["total"].to_list() == daily["+Inf"].cast(pl.Float64).to_list()
    assert pyrra["good"].to_list() == daily["0.5"].cast(pl.Float64).to_list()

    reports = home / "reports"
    assert (reports / "contract-checkout.html").is_file()
    assert (reports / "contract-shop.html").is_file()
