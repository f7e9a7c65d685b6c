"""The Pledge instance records a run exactly as Dagster's stock SQLite instance does, batching the
per-partition asset events of a multi-day run."""

from collections import Counter
from pathlib import Path

import dagster as dg
import pytest

from pipelines.instance import BatchedSqliteEventLogStorage, PledgeInstance
from pipelines.run import prepare_instance

DAYS = dg.DailyPartitionsDefinition(start_date="2026-01-01", end_date="2026-02-01")
RANGE = {
    "dagster/asset_partition_range_start": "2026-01-01",
    "dagster/asset_partition_range_end": "2026-01-31",
}


@dg.asset(partitions_def=DAYS, backfill_policy=dg.BackfillPolicy.single_run())
def daily_rows(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"days": len(context.partition_keys)})


@dg.asset(deps=[daily_rows])
def summary() -> None:
    return None


@dg.asset_check(asset=daily_rows)
def rows_unique() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=True)


def _recorded(instance: dg.DagsterInstance) -> dict[str, object]:
    """What a 31-day run leaves in ``instance``: event counts by type, partitions, the latest
    materialisation's partition (and whether the asset's record points at that event), the
    check's last status."""
    result = dg.materialize([daily_rows, summary, rows_unique], instance=instance, tags=RANGE)
    events = instance.all_logs(result.run_id)
    latest = instance.get_latest_materialization_event(daily_rows.key)
    check = instance.event_log_storage.get_latest_asset_check_execution_by_key(
        [rows_unique.check_key]
    )[rows_unique.check_key]
    entry = instance.get_asset_records([daily_rows.key])[0].asset_entry
    newest = instance.fetch_materializations(daily_rows.key, limit=1).records[0]
    return {
        "record_is_newest": entry.last_materialization_record.storage_id == newest.storage_id,
        "events": Counter(e.dagster_event_type.value for e in events if e.is_dagster_event),
        "partitions": len(instance.get_materialized_partitions(daily_rows.key)),
        "latest_partition": latest.dagster_event.partition if latest else None,
        "summary": instance.get_latest_materialization_event(summary.key) is not None,
        "check": check.status.value,
    }


@pytest.fixture
def stock_home(tmp_path: Path) -> Path:
    """An instance folder with the stock instance class (Pledge's settings without its lines)."""
    config = (Path(prepare_instance(tmp_path / "pledge")) / "dagster.yaml").read_text()
    stock = "".join(
        line
        for line in config.splitlines(keepends=True)
        if "instance" not in line.split("#")[0].lower()
    )
    (tmp_path / "stock").mkdir()
    (tmp_path / "stock" / "dagster.yaml").write_text(stock)
    return tmp_path / "stock"


def test_a_home_gets_the_batched_storage(tmp_path: Path) -> None:
    instance = dg.DagsterInstance.from_config(str(prepare_instance(tmp_path)))
    assert isinstance(instance, PledgeInstance)
    assert isinstance(instance.event_log_storage, BatchedSqliteEventLogStorage)
    assert (tmp_path / "history" / "runs" / "index.db").exists()  # Dagster's own layout


def test_the_batched_instance_records_what_the_stock_one_does(
    tmp_path: Path, stock_home: Path
) -> None:
    pledge = _recorded(dg.DagsterInstance.from_config(str(tmp_path / "pledge")))
    stock = dg.DagsterInstance.from_config(str(stock_home))
    assert type(stock) is dg.DagsterInstance
    assert pledge == _recorded(stock)
    assert pledge["partitions"] == 31
    assert pledge["events"]["ASSET_MATERIALIZATION"] == 32  # 31 days and the summary
    assert pledge["events"]["ASSET_MATERIALIZATION_PLANNED"] == 32
    assert pledge["latest_partition"] == "2026-01-31"
    assert pledge["check"] == "SUCCEEDED"
    assert pledge["record_is_newest"]


def test_the_history_files_are_whole_once_the_instance_is_disposed(tmp_path: Path) -> None:
    """Connections stay open between events (not one per event) and are closed on dispose,
    which folds each write-ahead log into its database file."""
    with dg.DagsterInstance.from_config(str(prepare_instance(tmp_path))) as instance:
        for _ in range(3):  # more run files than connections kept open
            _recorded(instance)
        assert list((tmp_path / "history" / "runs").glob("*.db-wal"))
    assert not list((tmp_path / "history" / "runs").glob("*.db-wal"))
    assert len(list((tmp_path / "history" / "runs").glob("*.db"))) == 4  # the index and 3 runs
