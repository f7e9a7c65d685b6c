"""The one Definitions object: the stages wired together (DESIGN §1)."""

from __future__ import annotations

import dagster as dg

from pipelines.ingest.assets import ingest_assets
from pipelines.predict.assets import predict_assets
from pipelines.report.assets import report_assets
from pipelines.resources import PledgeHome
from pipelines.sla.assets import sla_assets

all_assets = [*ingest_assets, *sla_assets, *predict_assets, *report_assets]

pledge_all = dg.define_asset_job(
    "pledge_all",
    selection=dg.AssetSelection.assets(*all_assets),
    description="Ingest the landing folder, recompute windows and credits, publish the reports.",
)

defs = dg.Definitions(
    assets=all_assets,
    jobs=[pledge_all],
    resources={"pledge": PledgeHome()},
)
