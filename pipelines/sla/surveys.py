"""Survey responses → outcomes, and the CSAT and NPS estimates with their intervals.

CSAT is the share of responses scoring 4 or 5 on a 1–5 scale; NPS is the share of promoters (9–10
on a 0–10 scale) minus the share of detractors (0–6), in points from −100 to 100. Their intervals
are in ``intervals``.
"""

from __future__ import annotations

import polars as pl

from pipelines.sla.objectives import KEYS
from pipelines.sla.outcomes import OUTCOMES_SCHEMA

SATISFIED_FROM = 4
PROMOTER_FROM, DETRACTOR_UP_TO = 9, 6


def survey_outcomes(objectives: pl.DataFrame, responses: pl.DataFrame) -> pl.DataFrame:
    """One outcome per survey response of each satisfaction objective's service.

    Inputs: ``objectives`` (objectives_frame), ``responses`` (raw.survey_responses:
    response_id, service, responded_at, survey ('csat' or 'nps', matched with the objective's
    measure), score). Output: OUTCOMES_SCHEMA; counted_at = responded_at; CSAT: value = the
    score, good = score ≥ 4; NPS: value = +1 promoter, 0 passive, −1 detractor, good null.
    """
    score = pl.col("score")
    nps = pl.col("measure") == "nps"
    return (
        objectives.lazy()
        .filter(pl.col("sli_method") == "survey_responses")
        .select(*KEYS, "service", "measure")
        .join(
            responses.lazy(),
            left_on=["service", "measure"],
            right_on=["service", "survey"],
            how="inner",
        )
        .select(
            *KEYS,
            item_id=pl.col("response_id").cast(pl.String),
            counted_at=pl.col("responded_at"),
            value=pl.when(nps)
            .then(
                pl.when(score >= PROMOTER_FROM)
                .then(1.0)
                .when(score <= DETRACTOR_UP_TO)
                .then(-1.0)
                .otherwise(0.0)
            )
            .otherwise(score.cast(pl.Float64)),
            good=pl.when(~nps).then(score >= SATISFIED_FROM),
            detail=pl.format("{} score {}", pl.col("measure"), score),
        )
        .collect()
        .cast(OUTCOMES_SCHEMA)  # type: ignore[arg-type]
    )
