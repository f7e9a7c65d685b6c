"""A backfill spread over processes or machines: the per-day stages of many days, cut into chunks
of consecutive days that run at once on an existing Dagster executor (``multiprocess`` on one
machine, ``celery`` across machines). The code is the same; only the executor, and the lake URL
(``PLEDGE_LAKE``, shared storage), are configured differently.

Every chunk runs on its own *shard*: a copy of the run's working warehouse. Its large tables land
in the shared lake (each partition file written by one chunk), its small per-day tables
(``raw.rejects``, ``ops.ingested_files``, item evidence) in the shard, so chunks never wait for one
another's DuckDB lock. When every chunk is done, the shards' rows of their days are merged into
the working warehouse. Two rounds: ingest (every raw table), then slices, which read every raw
day and the latest evidence of all of them, so they start once ingest is merged and the evidence
of all the days judged (``ops/blocked_sources``: the objectives the slices hold back). The rest
of the graph (windows, predictions, reports) then runs once, in-process (``pipelines.run``).

Differences from a serial run: a landing file identical to one of another chunk's days is loaded
in both (a serial run records the later one as a duplicate); the ingest checks run after the
whole backfill, so a failing blocking check stops the run's end rather than the slices.
"""

from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import duckdb
from dagster_celery import celery_executor

from pipelines import warehouse
from pipelines.ingest.assets import ingest_assets
from pipelines.ops.checks import judge_evidence
from pipelines.resources import PledgeHome
from pipelines.sla.assets import sla_slices

BACKFILLED = [*ingest_assets, sla_slices]
"""The daily-partitioned assets a backfill spreads over chunks (their checks run after it); it
also judges the evidence (``BLOCKED_SOURCES``) between them."""

EXECUTORS = ("in_process", "multiprocess", "celery")
"""How ``pledge run --executor`` runs the per-day stages: in the run's own process (one run),
in processes of this machine, or on Celery workers."""


def day_chunks(first: date, last: date, chunks: int) -> list[tuple[date, date]]:
    """``first..last`` cut into at most ``chunks`` runs of consecutive days, as even as can be
    (the longer ones first)."""
    days = (last - first).days + 1
    count = max(1, min(chunks, days))
    size, longer = divmod(days, count)
    cut, start = [], first
    for index in range(count):
        end = start + timedelta(days=size + (index < longer) - 1)
        cut.append((start, end))
        start = end + timedelta(days=1)
    return cut


def shard_path(working: Path, first: date, last: date) -> Path:
    """The shard of the chunk ``first..last`` beside the working warehouse."""
    return working.with_name(f"{working.stem}.shard-{first}-{last}{working.suffix}")


def remove_shards(working: Path) -> None:
    """Delete the shards a failed or killed backfill left beside the working warehouse."""
    for shard in working.parent.glob(f"{working.stem}.shard-*{working.suffix}"):
        warehouse.remove_database(shard)


def run_chunk(
    pledge: PledgeHome, assets: list[dg.AssetsDefinition], first: date, last: date
) -> Path:
    """Materialise ``assets``, in order, for the days ``first..last`` on a fresh shard (a copy of
    the working warehouse, over the same lake); returns the shard's path."""
    working = Path(pledge.working or pledge.settings.warehouse_path)
    shard = shard_path(working, first, last)
    warehouse.copy_database(working, shard)
    on_shard = PledgeHome(home=pledge.home, working=str(shard))
    days = dg.PartitionKeyRange(first.isoformat(), last.isoformat())
    for asset in assets:
        asset(dg.build_asset_context(partition_key_range=days), pledge=on_shard)
    return shard


def merge_shard(con: duckdb.DuckDBPyConnection, shard: Path, first: date, last: date) -> int:
    """Replace the rows of ``first..last`` of every DuckDB table with a ``partition_date`` (and
    its rows with none: undated landing files, listed alike by every chunk) by the shard's, then
    delete the shard. Returns the rows copied."""
    con.execute(f"ATTACH '{shard.as_posix()}' AS shard (READ_ONLY)")
    copied = 0
    try:
        tables = con.execute(
            """
            SELECT t.table_schema, t.table_name
            FROM information_schema.tables AS t
            JOIN information_schema.columns AS c USING (table_catalog, table_schema, table_name)
            WHERE t.table_catalog = 'shard' AND t.table_type = 'BASE TABLE'
              AND c.column_name = 'partition_date'
            ORDER BY ALL
            """
        ).fetchall()
        in_chunk = "partition_date BETWEEN ? AND ? OR partition_date IS NULL"
        with warehouse.transaction(con):
            for schema, name in tables:
                table = f"{schema}.{name}"
                con.execute(f"DELETE FROM {table} WHERE {in_chunk}", [first, last])
                (rows,) = con.execute(
                    f"INSERT INTO {table} BY NAME SELECT * FROM shard.{table} WHERE {in_chunk}",
                    [first, last],
                ).fetchone()
                copied += rows
    finally:
        con.execute("DETACH shard")
    warehouse.remove_database(shard)
    return copied


class BackfillConfig(dg.Config):
    """The days of the backfill (YYYY-MM-DD) and how many chunks to cut them into."""

    first_day: str
    last_day: str
    chunks: int = 2


def _chunk_outputs(config: BackfillConfig):
    for first, last in day_chunks(
        date.fromisoformat(config.first_day), date.fromisoformat(config.last_day), config.chunks
    ):
        yield dg.DynamicOutput(f"{first}/{last}", mapping_key=f"{first:%Y%m%d}_{last:%Y%m%d}")


def _days(chunk: str) -> tuple[date, date]:
    first, last = chunk.split("/")
    return date.fromisoformat(first), date.fromisoformat(last)


def _merge(context: dg.OpExecutionContext, pledge: PledgeHome, chunks: list[str]) -> None:
    working = Path(pledge.working or pledge.settings.warehouse_path)
    with pledge.connect() as con:
        for first, last in sorted(map(_days, chunks)):
            rows = merge_shard(con, shard_path(working, first, last), first, last)
            context.log.info(f"{first} .. {last}: {rows} rows of DuckDB tables merged")


@dg.op(out=dg.DynamicOut(str))
def plan_chunks(config: BackfillConfig):
    """The chunks of days, as ``first/last``."""
    yield from _chunk_outputs(config)


@dg.op
def ingest_chunk(context: dg.OpExecutionContext, pledge: PledgeHome, chunk: str) -> str:
    """Every raw table of the chunk's days, on its shard; returns the chunk."""
    first, last = _days(chunk)
    context.log.info(f"ingesting {first} .. {last}")
    run_chunk(pledge, ingest_assets, first, last)
    return chunk


@dg.op(out=dg.DynamicOut(str))
def merge_ingested(
    context: dg.OpExecutionContext, config: BackfillConfig, pledge: PledgeHome, chunks: list[str]
):
    """The ingest shards merged into the working warehouse and the evidence of every day judged
    (as ``ops/blocked_sources``); then the chunks again, for slices."""
    _merge(context, pledge, chunks)
    days = date.fromisoformat(config.first_day), date.fromisoformat(config.last_day)
    judge_evidence(pledge, days, context.log.error)
    yield from _chunk_outputs(config)


@dg.op
def slice_chunk(context: dg.OpExecutionContext, pledge: PledgeHome, chunk: str) -> str:
    """The slices of the chunk's days (into the lake), on its shard; returns the chunk."""
    first, last = _days(chunk)
    context.log.info(f"slicing {first} .. {last}")
    run_chunk(pledge, [sla_slices], first, last)
    return chunk


@dg.op
def merge_sliced(context: dg.OpExecutionContext, pledge: PledgeHome, chunks: list[str]) -> None:
    """The slice shards merged (and removed)."""
    _merge(context, pledge, chunks)


@dg.graph
def backfill() -> None:
    ingested = plan_chunks().map(ingest_chunk).collect()
    merge_sliced(merge_ingested(ingested).map(slice_chunk).collect())


def backfill_multiprocess() -> dg.JobDefinition:
    """The backfill on processes of this machine (a function: ``dg.reconstructable`` needs one)."""
    return backfill.to_job(
        "backfill_multiprocess",
        executor_def=dg.multiprocess_executor,
        resource_defs={"pledge": PledgeHome()},
        description="Ingest and slice many days in chunks on processes of this machine.",
    )


def backfill_celery() -> dg.JobDefinition:
    """The backfill on Celery workers (dagster-celery)."""
    return backfill.to_job(
        "backfill_celery",
        executor_def=celery_executor,
        resource_defs={"pledge": PledgeHome()},
        description="Ingest and slice many days in chunks on Celery workers (dagster-celery).",
    )


def backfill_run_config(
    pledge: PledgeHome, first: date, last: date, executor: str, workers: int, broker: str = ""
) -> dict:
    """The run config of a backfill of ``first..last`` in ``workers`` chunks (at most ``workers``
    at once on ``multiprocess``; on ``celery``, through the broker URL ``broker``). Removes the
    shards an earlier backfill left."""
    remove_shards(Path(pledge.working or pledge.settings.warehouse_path))
    days = {"first_day": first.isoformat(), "last_day": last.isoformat(), "chunks": workers}
    execution = (
        {"config": {"max_concurrent": workers}}
        if executor == "multiprocess"
        else {"config": {"broker": broker, "backend": broker, "include": [__name__]}}
    )
    return {
        "ops": {"plan_chunks": {"config": days}, "merge_ingested": {"config": days}},
        "resources": {"pledge": {"config": {"home": pledge.home, "working": pledge.working}}},
        "execution": execution,
    }


def backfill_job(executor: str):
    """The backfill job of ``executor`` (``multiprocess`` or ``celery``), reconstructable in the
    processes and on the workers that run its steps."""
    return dg.reconstructable(
        backfill_multiprocess if executor == "multiprocess" else backfill_celery
    )
