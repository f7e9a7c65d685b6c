"""The demo written into a home: determinism, contracts, sources, landing files, scripted events."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl
import pytest

from pipelines.contracts.loader import load_contracts
from pipelines.contracts.sources import load_sources
from pipelines.demo import generate_demo
from pipelines.settings import REPO_ROOT

END = date(2026, 12, 3)
"""14 days before it hold all five traffic events; 90 days before it hold the clean month 2026-10."""

REQUEST_SERVICES = [
    "compute-api",
    "payments-api",
    "refunds-api",
    "webhooks",
    "k8s-api",
    "artifact-registry",
    "payments-db",
]
LATENCY_SERVICES = ["compute-api", "payments-api", "webhooks", "artifact-registry", "payments-db"]
PROBE_SERVICES = ["object-storage", "dns", "ci-runners"]
BUCKETS = ["0.05", "0.1", "0.25", "0.5", "0.8", "1", "2", "5", "+Inf"]
MINUTES_PER_DAY = 1440


def _generate(home: Path, **options: object) -> dict:
    with pytest.MonkeyPatch.context() as patch:
        for variable in ("PLEDGE_HOME", "PLEDGE_CONTRACTS", "PLEDGE_SOURCES", "PLEDGE_LANDING"):
            patch.delenv(variable, raising=False)
        return generate_demo(home, **options)  # type: ignore[arg-type]


def _hashes(home: Path) -> dict[str, str]:
    return {
        str(path.relative_to(home)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(home.rglob("*"))
        if path.is_file()
    }


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _event(truth: dict, kind: str) -> dict:
    return next(event for event in truth["events"] if event["kind"] == kind)


def _requests(home: Path) -> pl.LazyFrame:
    return pl.scan_csv(home / "landing/requests/*.csv", schema_overrides={"timestamp": pl.String})


def _timestamps(frame: pl.LazyFrame) -> pl.LazyFrame:
    return frame.with_columns(
        pl.col("timestamp").str.to_datetime("%Y-%m-%dT%H:%M:%SZ", time_unit="us", time_zone="UTC")
    )


@pytest.fixture(scope="module")
def demo14(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    home = tmp_path_factory.mktemp("demo14")
    return home, _generate(home, end=END, days=14)


@pytest.fixture(scope="module")
def demo90(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    home = tmp_path_factory.mktemp("demo90")
    return home, _generate(home, end=END)


def test_same_seed_and_end_write_identical_files_and_another_seed_differs(
    demo14: tuple[Path, dict], tmp_path: Path
) -> None:
    home, _ = demo14
    _generate(tmp_path / "again", end=END, days=14)
    _generate(tmp_path / "other", end=END, days=14, seed=8)
    first, again, other = _hashes(home), _hashes(tmp_path / "again"), _hashes(tmp_path / "other")
    traffic = {
        name for name in first if name.split("/")[1:2] in (["requests"], ["latency"], ["probes"])
    }
    assert len(traffic) == 3 * 14
    assert len([name for name in first if name.startswith("landing/servicenow/")]) == 14
    assert len([name for name in first if name.startswith("contracts/")]) == 5
    assert again == first
    differing = {name for name in first if other.get(name) != first[name]}
    landing = {name for name in first if name.startswith("landing/")}
    # A day holding only the scripted security incident may come out the same.
    unchanged = {name for name in landing - differing if not name.startswith("landing/security/")}
    assert differing - landing == {"ground_truth.json"}
    assert unchanged == set()


def test_progress_reports_each_step(tmp_path: Path) -> None:
    messages: list[str] = []
    _generate(tmp_path, end=END, days=1, progress=messages.append)
    assert len(messages) == 7
    assert messages[0].startswith("scenario 2026-12-02 to 2026-12-03 (seed 7): no events")


def test_a_demo_without_a_restore_test_day_writes_no_restore_file(tmp_path: Path) -> None:
    _generate(tmp_path, end=date(2026, 11, 3), days=2)  # Sunday and Monday: no Wednesday
    assert not list((tmp_path / "landing" / "restores").glob("*"))
    assert len(list((tmp_path / "landing" / "backups").glob("*.csv"))) == 2


def test_written_contracts_validate_and_only_acme_gains_the_maintenance(
    demo14: tuple[Path, dict],
) -> None:
    home, truth = demo14
    contracts, problems = load_contracts(home / "contracts")
    assert problems == []
    assert sorted(c.id for c in contracts) == [
        "acme-cloud",
        "paylane-payments",
        "platform-team",
        "security-and-backup",
        "service-desk",
    ]
    assert sum(len(c.services) for c in contracts) == 13
    examples = REPO_ROOT / "examples/contracts"
    for name in ("paylane-payments.yaml", "platform-team.yaml"):
        assert (home / "contracts" / name).read_text() == (examples / name).read_text()
    acme = next(c for c in contracts if c.id == "acme-cloud")
    assert len(acme.exclusions) == 2
    maintenance = acme.exclusions[-1]
    assert maintenance.services == ["object-storage"]
    # Local times without an offset, in the contract's zone: 01:00-04:00 CET = 00:00-03:00 UTC.
    assert maintenance.start == datetime(2026, 11, 24, 1, 0)
    assert maintenance.end == datetime(2026, 11, 24, 4, 0)
    berlin = ZoneInfo(acme.time_zone)
    event = _event(truth, "maintenance")
    assert maintenance.start.replace(tzinfo=berlin) == _utc(event["start"])
    assert maintenance.end.replace(tzinfo=berlin) == _utc(event["end"])


def test_sources_yaml_declares_the_traffic_and_item_sources(demo14: tuple[Path, dict]) -> None:
    home, _ = demo14
    sources = load_sources(home / "sources.yaml")
    assert {name: (s.kind, s.path, s.format, s.columns) for name, s in sources.items()} == {
        "requests": ("requests", "requests/*.csv", "csv", {"ts": "timestamp", "total": "requests"}),
        "latency": ("histogram", "latency/*.parquet", "parquet", {"ts": "timestamp"}),
        "probes": ("probes", "probes/*.csv", "csv", {"ts": "timestamp", "up": "success"}),
        "servicenow": (
            "tickets",
            "servicenow/*.csv",
            "csv",
            {"ticket_id": "number", "ts": "sys_updated_at", "state": "incident_state"},
        ),
        "security": ("security_incidents", "security/*.csv", "csv", {}),
        "backups": ("backup_runs", "backups/*.csv", "csv", {}),
        "restores": ("restore_tests", "restores/*.csv", "csv", {}),
        "surveys": ("survey_responses", "surveys/*.csv", "csv", {"ts": "responded_at"}),
    }
    assert (sources["servicenow"].layout, sources["servicenow"].service) == ("log", "service-desk")


def test_requests_files_hold_a_row_per_minute_and_service(demo14: tuple[Path, dict]) -> None:
    home, _ = demo14
    files = sorted((home / "landing/requests").glob("*.csv"))
    assert [f.name for f in files][:2] == ["requests-2026-11-19.csv", "requests-2026-11-20.csv"]
    assert len(files) == 14
    lines = files[1].read_text().splitlines()
    assert lines[0] == "timestamp,service,requests,errors"
    assert lines[1].startswith("2026-11-20T00:00:00Z,compute-api,")
    assert lines[8].startswith("2026-11-20T00:01:00Z,compute-api,")
    day = _timestamps(pl.scan_csv(files[1], schema_overrides={"timestamp": pl.String})).collect()
    assert day.height == MINUTES_PER_DAY * len(REQUEST_SERVICES)
    assert day["service"].unique(maintain_order=True).to_list() == REQUEST_SERVICES
    assert day.group_by("timestamp", "service").len()["len"].max() == 1
    assert day["requests"].min() >= 50 and day["requests"].max() <= 3000
    assert (day["errors"] <= day["requests"]).all()


def test_latency_files_hold_cumulative_buckets_matching_the_requests(
    demo14: tuple[Path, dict],
) -> None:
    home, _ = demo14
    files = sorted((home / "landing/latency").glob("*.parquet"))
    assert len(files) == 14
    latency = pl.read_parquet(files[3])
    assert latency.schema == pl.Schema(
        {
            "timestamp": pl.Datetime("us", "UTC"),
            "service": pl.String,
            "le": pl.String,
            "count": pl.Int64,
        }
    )
    assert latency.height == MINUTES_PER_DAY * len(LATENCY_SERVICES) * len(BUCKETS)
    assert latency["le"].head(9).to_list() == BUCKETS
    assert latency["service"].unique(maintain_order=True).to_list() == LATENCY_SERVICES
    assert (
        latency.group_by("timestamp", "service")
        .agg(increasing=pl.col("count").diff().drop_nulls().min() >= 0)["increasing"]
        .all()
    )
    requests = _timestamps(
        pl.scan_csv(str(files[3]).replace("latency", "requests").replace(".parquet", ".csv"))
    ).collect()
    every = latency.filter(pl.col("le") == "+Inf").join(
        requests, on=["timestamp", "service"], how="left"
    )
    assert every.height == MINUTES_PER_DAY * len(LATENCY_SERVICES)
    assert (every["count"] == every["requests"]).all()


def test_probe_files_hold_a_check_per_minute_service_and_location(
    demo14: tuple[Path, dict],
) -> None:
    home, _ = demo14
    files = sorted((home / "landing/probes").glob("*.csv"))
    assert len(files) == 14
    lines = files[0].read_text().splitlines()
    assert lines[0] == "timestamp,service,location,success"
    assert re.fullmatch(r"2026-11-19T00:00:00Z,object-storage,eu-west,(true|false)", lines[1])
    probes = pl.read_csv(files[0])
    assert probes.height == MINUTES_PER_DAY * len(PROBE_SERVICES) * 3
    assert probes["success"].dtype == pl.Boolean
    assert probes.group_by("service", "location").len()["len"].to_list() == [MINUTES_PER_DAY] * 9


def test_outage_minutes_fail_about_99_percent_of_compute_requests(
    demo14: tuple[Path, dict],
) -> None:
    home, truth = demo14
    outage = _event(truth, "hard_outage")
    assert (outage["start"], outage["end"]) == ("2026-11-29T12:30:00Z", "2026-11-29T13:15:00Z")
    minutes = (
        _timestamps(_requests(home))
        .filter(
            pl.col("service") == "compute-api",
            pl.col("timestamp").is_between(_utc(outage["start"]), _utc(outage["end"]), "left"),
        )
        .collect()
    )
    assert minutes.height == 45
    error_ratio = minutes["errors"].sum() / minutes["requests"].sum()
    assert 0.985 < error_ratio < 0.995
    assert (minutes["errors"] / minutes["requests"]).min() > 0.95
    others = (
        _timestamps(_requests(home))
        .filter(
            pl.col("service") != "compute-api",
            pl.col("timestamp").is_between(_utc(outage["start"]), _utc(outage["end"]), "left"),
        )
        .select(pl.col("errors").sum() / pl.col("requests").sum())
        .collect()
        .item()
    )
    assert others < 0.001


def test_maintenance_minutes_fail_every_object_storage_probe(demo14: tuple[Path, dict]) -> None:
    home, truth = demo14
    event = _event(truth, "maintenance")
    during = (
        _timestamps(
            pl.scan_csv(home / "landing/probes/*.csv", schema_overrides={"timestamp": pl.String})
        )
        .filter(pl.col("timestamp").is_between(_utc(event["start"]), _utc(event["end"]), "left"))
        .group_by("service")
        .agg(checks=pl.len(), succeeded=pl.col("success").sum())
        .collect()
    )
    assert dict(during.select("service", "checks").iter_rows()) == dict.fromkeys(
        PROBE_SERVICES, 180 * 3
    )
    succeeded = dict(during.select("service", "succeeded").iter_rows())
    assert succeeded["object-storage"] == 0
    assert succeeded["dns"] >= 535 and succeeded["ci-runners"] >= 535
    assert event["without_exclusion"]["bad_slices"] == 36
    assert event["without_exclusion"]["attainment"] < event["target"]
    assert event["with_exclusion"]["attainment"] >= event["target"]
    assert (event["expected_status"], event["status_without_exclusion"]) == ("met", "breached")


def test_degradation_breaches_refunds_only_in_the_last_days_of_its_month(
    demo14: tuple[Path, dict],
) -> None:
    home, truth = demo14
    event = _event(truth, "slow_degradation")
    assert (event["window_label"], event["expected_status"]) == ("2026-11", "breached")
    refunds = (
        _timestamps(_requests(home))
        .filter(pl.col("service") == "refunds-api")
        .sort("timestamp")
        .select(
            "timestamp",
            attainment=1 - pl.col("errors").cum_sum() / pl.col("requests").cum_sum(),
        )
        .collect()
    )

    def attainment_before(moment: datetime) -> float:
        return refunds.filter(pl.col("timestamp") < moment)["attainment"][-1]

    # The data begin 2026-11-19, inside the New York month ending 2026-12-01T05:00Z.
    assert attainment_before(datetime(2026, 11, 28, 5, tzinfo=UTC)) >= 0.999
    assert attainment_before(datetime(2026, 12, 1, 5, tzinfo=UTC)) < 0.999


def test_every_scripted_event_lands_in_the_ground_truth(demo90: tuple[Path, dict]) -> None:
    _, truth = demo90
    assert (truth["start"], truth["end"], truth["days"], truth["seed"]) == (
        "2026-09-04T00:00:00Z",
        "2026-12-03T00:00:00Z",
        90,
        7,
    )
    expected = {
        (e["kind"], e["contract_id"], e["objective_id"], e["service"], e["window_label"])
        for e in truth["events"]
        if e["contract_id"] not in ("service-desk", "security-and-backup")
    }
    assert expected == {
        ("hard_outage", "acme-cloud", "compute-availability", "compute-api", "2026-11"),
        ("latency_regression", "paylane-payments", "payments-p99", "payments-api", "2026-11"),
        (
            "dependency_failure",
            "paylane-payments",
            "payments-availability",
            "payments-db",
            "2026-11",
        ),
        ("maintenance", "acme-cloud", "storage-uptime", "object-storage", "2026-11"),
        ("slow_degradation", "paylane-payments", "refunds-availability", "refunds-api", "2026-11"),
    }
    traffic_kinds = {"hard_outage", "latency_regression", "slow_degradation"}
    assert {e["expected_status"] for e in truth["events"] if e["kind"] in traffic_kinds} == {
        "breached"
    }
    assert truth["clean_month"] == "2026-10"


def _month(label: str, zone: str) -> tuple[datetime, datetime]:
    year, month = map(int, label.split("-"))
    tz = ZoneInfo(zone)
    following = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=tz)
    return datetime(year, month, 1, tzinfo=tz).astimezone(UTC), following.astimezone(UTC)


def test_clean_month_meets_every_request_and_latency_objective(
    demo90: tuple[Path, dict],
) -> None:
    home, truth = demo90
    label = truth["clean_month"]
    contracts, _ = load_contracts(home / "contracts")
    requests = _timestamps(_requests(home))
    latency = pl.scan_parquet(home / "landing/latency/*.parquet")
    checked = []
    for contract in contracts:
        start, end = _month(label, contract.time_zone)
        for event in truth["events"]:
            if event["kind"] == "public_holiday":
                continue
            assert _utc(event["end"]) <= start or _utc(event["start"]) >= end
        for objective in contract.objectives:
            in_month = pl.col("timestamp").is_between(start, end, "left")
            of_service = pl.col("service") == objective.service
            if objective.sli.source_kind == "requests":
                good_total = requests.filter(in_month, of_service).select(
                    good=(pl.col("requests") - pl.col("errors")).sum(),
                    total=pl.col("requests").sum(),
                )
            elif (
                objective.sli.source_kind == "histogram"
                and objective.sli.percentile is None
                and objective.sli.threshold is not None
            ):
                bound = f"{objective.sli.threshold.total_seconds():g}"
                good_total = latency.filter(in_month, of_service).select(
                    good=pl.col("count").filter(pl.col("le") == bound).sum(),
                    total=pl.col("count").filter(pl.col("le") == "+Inf").sum(),
                )
            else:
                continue
            good, total = good_total.collect().row(0)
            assert total > 1_000_000
            assert good / total > objective.target, (contract.id, objective.id, good / total)
            checked.append(objective.id)
    assert sorted(checked) == [
        "compute-availability",
        "compute-latency",
        "k8s-availability",
        "payments-availability",
        "refunds-availability",
        "registry-latency",
        "webhooks-latency",
    ]


def test_dependency_failure_slows_payments_db_and_fails_payments_requests(
    demo14: tuple[Path, dict],
) -> None:
    home, truth = demo14
    event = _event(truth, "dependency_failure")
    assert (event["start"], event["end"], event["dependent_service"]) == (
        "2026-11-26T16:00:00Z",
        "2026-11-26T17:00:00Z",
        "payments-api",
    )
    assert 0.018 < event["dependent_error_ratio"] < 0.022
    assert event["expected_status"] == "met"
    start, end = _utc(event["start"]), _utc(event["end"])
    slow_share = (
        pl.scan_parquet(home / "landing/latency/*.parquet")
        .filter(pl.col("le").is_in(["0.05", "+Inf"]))
        .group_by(
            "service",
            during=pl.col("timestamp").is_between(start, end, "left"),
        )
        .agg(
            slow=1
            - pl.col("count").filter(pl.col("le") == "0.05").sum()
            / pl.col("count").filter(pl.col("le") == "+Inf").sum()
        )
        .collect()
    )
    share = {(s, d): v for s, d, v in slow_share.iter_rows()}
    assert share[("payments-db", False)] < 0.05 and share[("payments-db", True)] > 0.9
    lagged = pl.col("timestamp").is_between(
        start + timedelta(minutes=3), end + timedelta(minutes=3), "left"
    )
    hour_errors = (
        _timestamps(_requests(home))
        .filter(lagged)
        .group_by("service")
        .agg(ratio=pl.col("errors").sum() / pl.col("requests").sum())
        .collect()
    )
    ratios = dict(hour_errors.iter_rows())
    assert ratios.pop("payments-api") == pytest.approx(event["dependent_error_ratio"])
    assert max(ratios.values()) < 0.005
