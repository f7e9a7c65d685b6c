"""The one Definitions object: the stages wired together (DESIGN §1), with the routine's jobs,
schedules, sensors and asset checks (DESIGN §8)."""

import dagster as dg

from pipelines.ingest.assets import ingest_assets, pull_prometheus
from pipelines.notify.sensor import notification_sensor
from pipelines.ops.checks import asset_checks, blocked_sources
from pipelines.ops.jobs import ingest_and_windows, monthly_summary
from pipelines.ops.jobs import predict_and_report as predict_and_report_job
from pipelines.ops.schedules import (
    contract_zones,
    ingest_often,
    monthly_summary_schedules,
    predict_and_report,
)
from pipelines.ops.sensors import landing_sensor
from pipelines.predict.assets import predict_assets
from pipelines.report.assets import report_assets
from pipelines.resources import PledgeHome
from pipelines.sla.assets import sla_assets

all_assets = [
    pull_prometheus,
    *ingest_assets,
    blocked_sources,
    *sla_assets,
    *predict_assets,
    *report_assets,
]
all_checks = asset_checks

pledge_all = dg.define_asset_job(
    "pledge_all",
    selection=dg.AssetSelection.assets(*all_assets),
    description="Ingest the landing folder, recompute windows and credits, publish the reports.",
)

contract_time_zones = contract_zones(PledgeHome().contracts()[0])
"""The zones of the home's contracts when the code location loads (reload it after adding a
contract in a new zone): each gets its monthly summary schedule."""

defs = dg.Definitions(
    assets=all_assets,
    asset_checks=all_checks,
    jobs=[pledge_all, ingest_and_windows, predict_and_report_job, monthly_summary],
    schedules=[
        ingest_often,
        predict_and_report,
        *monthly_summary_schedules(contract_time_zones),
    ],
    sensors=[landing_sensor, notification_sensor],
    resources={"pledge": PledgeHome()},
    # One process per run, as `pledge run`: the warehouse takes one writer at a time anyway, and
    # a process per step would pay the imports ~30 times per run.
    executor=dg.in_process_executor,
)
