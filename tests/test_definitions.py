"""The Definitions object loads, and its assets keep the warehouse rules of DESIGN §8."""

from __future__ import annotations

import os
import subprocess
import sys

import dagster as dg

from pipelines.definitions import all_assets, all_checks, defs
from pipelines.partitions import daily
from pipelines.resources import WAREHOUSE_POOL
from pipelines.settings import REPO_ROOT

RAW = {
    "raw/requests",
    "raw/latency_buckets",
    "raw/probes",
    "raw/ticket_events",
    "raw/security_incidents",
    "raw/backup_runs",
    "raw/restore_tests",
    "raw/survey_responses",
    "raw/latency_samples",
}
PULL = {"pull/prometheus"}
WRITERS = (
    RAW
    | PULL
    | {
        "ops/blocked_sources",
        "sla/objectives",
        "sla/slices",
        "sla/outcomes",
        "sla/windows",
        "predict/breach_risk",
        "predict/anomalies",
        "predict/root_causes",
        "predict/capacity",
    }
)
PARTITIONED = RAW | PULL | {"sla/slices"}


def keyed() -> dict[str, dg.AssetsDefinition]:
    return {asset.key.to_user_string(): asset for asset in all_assets}


def test_definitions_load():
    dg.Definitions.validate_loadable(defs)
    assert set(keyed()) == WRITERS | {"report/html", "report/monthly_summary"}
    assert defs.resolve_job_def("pledge_all") is not None


def test_the_routine_is_wired_jobs_schedules_sensors_checks():
    repository = defs.get_repository_def()
    for job in ("ingest_and_windows", "predict_and_report", "monthly_summary"):
        assert defs.resolve_job_def(job) is not None
    ingest = {
        key.to_user_string()
        for key in defs.resolve_job_def("ingest_and_windows").asset_layer.selected_asset_keys
    }
    assert ingest == RAW | PULL | {
        "ops/blocked_sources",
        "sla/objectives",
        "sla/slices",
        "sla/outcomes",
        "sla/windows",
    }
    assert {s.name for s in repository.schedule_defs} >= {
        "ingest_often",
        "predict_and_report_daily",
    }
    assert {s.name for s in repository.sensor_defs} == {"landing_sensor", "notification_sensor"}
    checks = {
        key.asset_key.to_user_string(): set() for key in defs.resolve_asset_graph().asset_check_keys
    }
    for key in defs.resolve_asset_graph().asset_check_keys:
        checks[key.asset_key.to_user_string()].add(key.name)
    assert checks == {
        **{raw: {"no_duplicate_rows", "reject_ratio", "fresh_sources"} for raw in RAW},
        "sla/windows": {"current_window_per_objective"},
    }


def test_checks_read_the_warehouse_in_its_pool_and_block_no_step():
    """A blocking check would stop every contract downstream of a raw asset: the SLA stage holds
    back only what reads a blocked source instead (tests/ops/test_blocked_sources.py)."""
    for checks in all_checks:
        (pool,) = checks.node_def.pools
        assert pool == WAREHOUSE_POOL
        for spec in checks.check_specs:
            assert not spec.blocking, spec.name


def test_the_evidence_is_judged_once_for_the_sla_stage_and_the_checks():
    """ops/blocked_sources finds the duplicates and reject-heavy days once a run, after every raw
    asset; the SLA assets that hold objectives back and the raw assets' duplicate and reject
    checks read what it stored."""
    blocked = dg.AssetKey(["ops", "blocked_sources"])
    graph = defs.resolve_asset_graph()
    assert {key.to_user_string() for key in graph.get(blocked).parent_keys} == RAW
    for key in ("sla/slices", "sla/outcomes", "sla/windows"):
        assert blocked in graph.get(dg.AssetKey.from_user_string(key)).parent_keys, key
    for checks in all_checks:
        for spec in checks.check_specs:
            reads_findings = spec.name in {"no_duplicate_rows", "reject_ratio"}
            assert (blocked in {dep.asset_key for dep in spec.additional_deps}) == reads_findings


def test_a_monthly_schedule_per_zone_of_the_homes_contracts(tmp_path):
    """The code location reads the contracts when it loads (here the examples: three zones)."""
    listing = subprocess.run(
        [
            sys.executable,
            "-c",
            "from pipelines.definitions import defs\n"
            "for s in defs.get_repository_def().schedule_defs:\n"
            "    print(s.name, s.execution_timezone)",
        ],
        env={
            **os.environ,
            "PLEDGE_HOME": str(tmp_path),
            "PLEDGE_CONTRACTS": str(REPO_ROOT / "examples" / "contracts"),
        },
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert sorted(line for line in listing if line.startswith("monthly_summary")) == [
        "monthly_summary_america_new_york America/New_York",
        "monthly_summary_europe_berlin Europe/Berlin",
        "monthly_summary_europe_london Europe/London",
    ]


def test_every_warehouse_writer_is_in_the_pool_of_limit_one():
    for key in WRITERS:
        (node,) = keyed()[key].node_def.pools
        assert node == "warehouse", key


def test_raw_and_slices_are_daily_with_single_run_backfills():
    for key, asset in keyed().items():
        if key in PARTITIONED:
            assert asset.partitions_def == daily, key
            assert asset.backfill_policy == dg.BackfillPolicy.single_run(), key
        else:
            assert asset.partitions_def is None, key


def test_the_instance_config_limits_the_pool(tmp_path):
    from pipelines.run import prepare_instance

    instance = dg.DagsterInstance.from_config(str(prepare_instance(tmp_path)))
    assert instance.get_concurrency_config().pool_config.default_pool_limit == 1
    assert (tmp_path / "dagster.yaml").read_text() == (
        REPO_ROOT / "pipelines" / "dagster.yaml"
    ).read_text()


def test_an_edited_instance_config_is_kept(tmp_path):
    from pipelines.run import prepare_instance

    (tmp_path / "dagster.yaml").write_text("concurrency:\n  pools:\n    default_limit: 2\n")
    instance = dg.DagsterInstance.from_config(str(prepare_instance(tmp_path)))
    assert instance.get_concurrency_config().pool_config.default_pool_limit == 2
