"""Dagster assets of the ingest stage: landing files → ``raw.*`` tables, one asset per kind.

Each asset ingests every source of its kind for every day of the run (a single-run backfill covers
many days) in one transaction; each (day, source) is replaced whole, so a rerun never duplicates.
The pull asset runs first: it pulls every ``kind: prometheus`` source into landing files.
"""

import dagster as dg
import polars as pl

from pipelines import partitions
from pipelines.contracts.sources import PULLED_KINDS
from pipelines.ingest.load import INGESTED_FILE_SCHEMA, RAW_TABLES, ingest_partitions
from pipelines.ingest.prometheus import PullError, pull_each
from pipelines.resources import WAREHOUSE_POOL, PledgeHome, partition_days
from pipelines.warehouse import transaction

PULL_KEY = dg.AssetKey(["pull", "prometheus"])


@dg.asset(
    key=PULL_KEY,
    partitions_def=partitions.daily,
    backfill_policy=partitions.single_run,
    pool=WAREHOUSE_POOL,
    group_name="ingest",
    description="Every kind: prometheus source of sources.yaml pulled into its landing files "
    "(what is new since its watermark in ops.pull_watermarks, and the run's days before it). A "
    "source that cannot be pulled is logged as an error; the files already there still ingest.",
)
def pull_prometheus(context: dg.AssetExecutionContext, pledge: PledgeHome) -> dg.MaterializeResult:
    settings = pledge.settings
    sources = pledge.pulled_sources()
    if not sources:
        context.log.info(f"no prometheus source declared in {settings.sources_file}")
        return dg.MaterializeResult(metadata={"sources": ""})
    first_day = min(partition_days(context))
    rows = written = 0
    failed = []
    with pledge.connect() as con:
        for name, outcome in pull_each(con, sources, settings.landing_dir, first_day):
            if isinstance(outcome, PullError):  # the other sources, and the files, still ingest
                context.log.error(f"not pulled: {outcome}")
                failed.append(name)
                continue
            context.log.info(
                f"{name}: {outcome.rows} rows pulled, {len(outcome.days_written)} day file(s) "
                f"changed, watermark {outcome.watermark}"
            )
            rows += outcome.rows
            written += len(outcome.days_written)
    return dg.MaterializeResult(
        metadata={
            "rows_pulled": rows,
            "files_written": written,
            "sources": ", ".join(sources),
            "sources_failed": ", ".join(failed),
        }
    )


def _ingest_asset(kind: str) -> dg.AssetsDefinition:
    table = RAW_TABLES[kind]

    @dg.asset(
        key=table.split("."),
        partitions_def=partitions.daily,
        backfill_policy=partitions.single_run,
        pool=WAREHOUSE_POOL,
        group_name="ingest",
        deps=[PULL_KEY] if kind in PULLED_KINDS else [],
        description=f"Landing files of every {kind!r} source in sources.yaml, loaded into {table} "
        "(invalid rows in raw.rejects, every file in ops.ingested_files).",
    )
    def ingest(context: dg.AssetExecutionContext, pledge: PledgeHome) -> dg.MaterializeResult:
        settings = pledge.settings
        sources = pledge.sources_of_kind(kind)
        if not sources:
            context.log.info(f"no {kind!r} source declared in {settings.sources_file}")
        contracts, problems = pledge.contracts()
        for problem in problems:
            context.log.warning(f"contract skipped: {problem}")
        known_services = {service.id for contract in contracts for service in contract.services}
        days = partition_days(context)
        ingested = [pl.DataFrame(schema=INGESTED_FILE_SCHEMA)]
        with pledge.connect() as con, transaction(con):  # one commit for the whole run
            for name, source in sources.items():
                ingested.append(
                    ingest_partitions(con, name, source, settings.landing_dir, days, known_services)
                )
        files = pl.concat(ingested)
        failed = files.filter(pl.col("status") == "failed")
        for row in failed.iter_rows(named=True):
            context.log.warning(f"file not loaded: {row['error']}")
        return dg.MaterializeResult(
            metadata={
                "rows_loaded": int(files["rows_loaded"].sum()),
                "rows_rejected": int(files["rows_rejected"].sum()),
                "files_loaded": files.filter(pl.col("status") == "loaded").height,
                "files_duplicate": files.filter(pl.col("status") == "duplicate").height,
                "files_failed": failed.height,
                "sources": ", ".join(sorted(sources)),
            }
        )

    return ingest


raw_requests = _ingest_asset("requests")
raw_latency_buckets = _ingest_asset("histogram")
raw_probes = _ingest_asset("probes")
raw_ticket_events = _ingest_asset("tickets")
raw_security_incidents = _ingest_asset("security_incidents")
raw_backup_runs = _ingest_asset("backup_runs")
raw_restore_tests = _ingest_asset("restore_tests")
raw_survey_responses = _ingest_asset("survey_responses")
raw_latency_samples = _ingest_asset("latency_samples")

ingest_assets = [
    raw_requests,
    raw_latency_buckets,
    raw_probes,
    raw_ticket_events,
    raw_security_incidents,
    raw_backup_runs,
    raw_restore_tests,
    raw_survey_responses,
    raw_latency_samples,
]
