"""Confidence intervals of the survey estimates (pure: Polars expressions).

CSAT gets a Wilson score interval (it stays inside [0, 1] and keeps its coverage for small samples
and shares near 1, where the normal-approximation interval does not). NPS: each response scores +1
(promoter), 0 (passive) or −1 (detractor), so NPS is 100 × the mean score and its standard error
is that of a sample mean: se = sqrt((p_pro + p_det − (p_pro − p_det)²) / n), the variance of the
+1/0/−1 score over n; the interval is NPS ± z × 100 × se (normal approximation, clipped to
[−100, 100]). z is the two-sided normal quantile of the objective's ``confidence``.
"""

from __future__ import annotations

from statistics import NormalDist

import polars as pl

INTERVAL_METHOD = (
    "CSAT: Wilson score interval; NPS: normal approximation with the standard error of the "
    "+1/0/−1 score, sqrt((p_pro + p_det − (p_pro − p_det)²)/n)"
)


def z_scores(confidence: pl.Series) -> pl.Series:
    """The two-sided standard normal quantile of each confidence level (0.95 → 1.95996…)."""
    normal = NormalDist()
    return confidence.map_elements(
        lambda level: normal.inv_cdf(0.5 + level / 2), return_dtype=pl.Float64
    )


def wilson_interval(good: pl.Expr, total: pl.Expr, z: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """Wilson score interval (low, high) of the share good/total at normal quantile z:
    (p + z²/2n ± z·sqrt(p(1−p)/n + z²/4n²)) / (1 + z²/n)."""
    share = good / total
    spread = z * (share * (1 - share) / total + z**2 / (4 * total**2)).sqrt()
    centre = share + z**2 / (2 * total)
    scale = 1 + z**2 / total
    return (centre - spread) / scale, (centre + spread) / scale


def nps_interval(
    promoters: pl.Expr, detractors: pl.Expr, total: pl.Expr, z: pl.Expr
) -> tuple[pl.Expr, pl.Expr, pl.Expr]:
    """NPS points and its interval (low, high) from promoter and detractor shares over ``total``
    responses (see the module docstring)."""
    difference = promoters - detractors
    score = 100 * difference
    margin = 100 * z * ((promoters + detractors - difference**2) / total).sqrt()
    return score, (score - margin).clip(-100, 100), (score + margin).clip(-100, 100)
