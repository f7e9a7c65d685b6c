"""The Definitions object loads, and its assets keep the warehouse rules of DESIGN §8."""

from __future__ import annotations

import dagster as dg

from pipelines.definitions import all_assets, defs
from pipelines.partitions import daily

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
WRITERS = RAW | {
    "sla/objectives",
    "sla/slices",
    "sla/outcomes",
    "sla/windows",
    "predict/breach_risk",
    "predict/anomalies",
    "predict/root_causes",
    "predict/capacity",
}
PARTITIONED = RAW | {"sla/slices"}


def keyed() -> dict[str, dg.AssetsDefinition]:
    return {asset.key.to_user_string(): asset for asset in all_assets}


def test_definitions_load():
    dg.Definitions.validate_loadable(defs)
    assert set(keyed()) == WRITERS | {"report/html"}
    assert defs.resolve_job_def("pledge_all") is not None


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
