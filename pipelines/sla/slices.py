"""Raw evidence → slices: good and total per objective per slice, after exclusions.

A slice is ``slice_seconds`` long and starts at a UTC epoch multiple of its length (5 min for
occurrences, the timeslice length otherwise). Slice lengths are whole minutes dividing a day, so a
slice never straddles a UTC day (the partition) and, for zones whose offset is a multiple of the
slice length (every zone for 1 and 5 minute slices), never straddles a local day either.

Evidence is read per minute: a raw row's minute is its timestamp truncated to the minute. An
objective measures from its *measurement start* (the first evidence of its service in its
evidence table, not before the contract's effective start) to its *measurement end* (``as_of``,
not after the contract's effective end); evidence outside is ignored and no slice exists there.

Per slice:

- ``excluded_minutes``: minutes of the slice removed by exclusions (their evidence counts nowhere).
- ``corrected_minutes``: minutes of the slice removed by corrections of the objective (see
  ``corrections.py``), exactly like exclusions but counted apart; a minute both excluded and
  corrected counts as excluded only.
- ``missing_minutes``: minutes of the slice within the measurement period, not excluded, with no
  evidence rows.
- occurrences (unit events): good and total are summed over the evidence minutes kept. Missing
  minutes have no events and do not change attainment; they are only reported.
- timeslices (unit minutes): a slice loses only its excluded and corrected minutes. Its *kept
  minutes* are its minutes within the measurement period, neither excluded nor corrected; the
  slice's SLI is computed over the evidence of those minutes, and a good slice adds their number
  to good and total, a bad one to total only (with maintenance 09:02–09:13 the 5-minute slice
  09:10 is judged on 09:13 and 09:14 and counts 2 minutes; a slice wholly removed counts
  nothing). A slice with kept minutes but no kept evidence, or whose evidence holds no
  requests/checks, counts per ``missing_data``: good (kept minutes to good and total), bad (to
  total) or excluded (nothing).

SLIs: requests good = total − errors; probes good = successful checks, total = checks; latency
good = requests at or under the threshold from cumulative histogram buckets (see
``histogram_share_at``) and a percentile per slice as Prometheus ``histogram_quantile`` computes it
(see ``histogram_quantile``).
"""

from __future__ import annotations

from datetime import datetime

import polars as pl

from pipelines.sla.objectives import KEYS, UTC_US

MINUTE_US = 60_000_000
INDEX_KEYS = ["scope_index", "slice_start"]
_INDEX_SHIFT = 1 << 32

SLICES_SCHEMA = {
    "partition_date": pl.Date,
    "contract_id": pl.String,
    "objective_id": pl.String,
    "slice_start": UTC_US,
    "good": pl.Float64,
    "total": pl.Float64,
    "excluded_minutes": pl.Float64,
    "corrected_minutes": pl.Float64,
    "missing_minutes": pl.Float64,
}


def objective_slices(
    objectives: pl.DataFrame,
    requests: pl.LazyFrame,
    probes: pl.LazyFrame,
    latency_buckets: pl.LazyFrame,
    excluded: pl.DataFrame,
    first_evidence: pl.DataFrame,
    start: datetime,
    end: datetime,
    as_of: datetime,
    corrected: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Every objective's slices starting in ``[start, end)`` (UTC), evidence up to ``as_of``.

    Inputs: ``objectives`` (objectives_frame); raw frames ``requests`` (ts, service, total,
    errors; one row per service and minute), ``probes`` (ts, service, up; one row per check) and
    ``latency_buckets`` (ts, service, le_seconds, count), which may hold more rows than the
    period; ``excluded`` (excluded_minutes: contract_id, service, minute); ``first_evidence``
    (service, sli_method, first_ts: the earliest raw timestamp of each service per evidence
    table); ``corrected`` (corrected_minutes: contract_id, objective_id, minute; none when
    omitted). Output: SLICES_SCHEMA, one row per slice of the measurement period (gaps included),
    partition_date = the UTC date of slice_start, sorted by contract_id, objective_id and
    slice_start (the grid is generated in that order).
    """
    scope = _measurement_scope(objectives, first_evidence, start, end, as_of)
    removed_keys = _removed_keys(scope, excluded, corrected)
    probe_minutes = probes.group_by("service", minute=_minute(pl.col("ts"))).agg(
        good=pl.col("up").cast(pl.Int64).sum(), total=pl.len()
    )
    evidence = pl.concat(
        [
            _ratio_evidence(
                _kept_minutes(
                    requests.with_columns(minute=_minute(pl.col("ts"))), scope, "requests"
                ).with_columns(good=pl.col("total") - pl.col("errors")),
                removed_keys,
            ),
            _ratio_evidence(_kept_minutes(probe_minutes, scope, "probes"), removed_keys),
            _histogram_evidence(
                _kept_minutes(
                    latency_buckets.with_columns(minute=_minute(pl.col("ts"))), scope, "histogram"
                ),
                removed_keys,
            ),
        ],
        how="diagonal_relaxed",
    )
    grid = (
        scope.lazy()
        .select(
            "scope_index",
            *KEYS,
            "slice_us",
            "slice_seconds",
            "scope_start",
            "scope_end",
            "budgeting",
            "missing_data",
            "slice_target",
            "threshold_seconds",
            "percentile",
            slice_start=pl.int_ranges(
                pl.col("scope_start") - pl.col("scope_start") % pl.col("slice_us"),
                pl.col("scope_end"),
                pl.col("slice_us"),
            ),
        )
        .explode("slice_start")
    )
    judged = (
        grid.join(evidence, on=INDEX_KEYS, how="left", maintain_order="left")
        .join(_removed_per_slice(removed_keys), on=INDEX_KEYS, how="left", maintain_order="left")
        .with_columns(
            pl.col(
                "good", "total", "evidence_minutes", "excluded_count", "corrected_count"
            ).fill_null(0),
            in_scope_minutes=(
                pl.min_horizontal(pl.col("slice_start") + pl.col("slice_us"), "scope_end")
                - pl.max_horizontal("slice_start", "scope_start")
            )
            / MINUTE_US,
        )
        .with_columns(_judge())
        .with_columns(pl.from_epoch("slice_start", time_unit="us").dt.replace_time_zone("UTC"))
    )
    return (
        judged.select(
            pl.col("slice_start").dt.date().alias("partition_date"),
            *KEYS,
            "slice_start",
            pl.col("slice_good").alias("good"),
            pl.col("slice_total").alias("total"),
            pl.col("slice_excluded").alias("excluded_minutes"),
            pl.col("slice_corrected").alias("corrected_minutes"),
            pl.col("slice_missing").alias("missing_minutes"),
        )
        .collect()
        .cast(SLICES_SCHEMA)  # type: ignore[arg-type]
    )


def _measurement_scope(
    objectives: pl.DataFrame,
    first_evidence: pl.DataFrame,
    start: datetime,
    end: datetime,
    as_of: datetime,
) -> pl.DataFrame:
    """Objectives with their measurement period clipped to [start, end), as epoch microseconds:
    scope_start, scope_end; slice_us; scope_index (an integer key per objective)."""
    epoch = {name: pl.lit(moment, UTC_US).dt.epoch("us") for name, moment in
             [("start", start), ("end", end), ("as_of", as_of)]}  # fmt: skip
    return (
        objectives.lazy()
        .join(first_evidence.lazy(), on=["service", "sli_method"], how="inner")
        .with_columns(
            slice_us=pl.col("slice_seconds") * 1_000_000,
            scope_start=pl.max_horizontal(
                _minute(pl.col("first_ts")),
                pl.col("effective_start").dt.epoch("us"),
                epoch["start"],
            ),
            scope_end=pl.min_horizontal(
                pl.col("effective_end").dt.epoch("us"), epoch["as_of"], epoch["end"]
            ),
        )
        .filter(pl.col("scope_start") < pl.col("scope_end"))
        .sort(KEYS)
        .with_row_index("scope_index")
        .with_columns(pl.col("scope_index").cast(pl.Int64))
        .collect()
    )


def _minute(moment: pl.Expr) -> pl.Expr:
    """Epoch microseconds of the minute holding ``moment``."""
    epoch = moment.dt.epoch("us")
    return epoch - epoch % MINUTE_US


def _minute_keys(minutes: pl.LazyFrame) -> pl.LazyFrame:
    """One Int64 per (objective, minute): scope_index × 2**32 + epoch minute, plus the
    slice_start and minute of the row."""
    return minutes.with_columns(
        minute_key=pl.col("scope_index") * _INDEX_SHIFT + pl.col("minute") // MINUTE_US,
        slice_start=pl.col("minute") - pl.col("minute") % pl.col("slice_us"),
    )


def _kept_minutes(raw: pl.LazyFrame, scope: pl.DataFrame, sli_method: str) -> pl.LazyFrame:
    """Raw rows (with ``minute``) of the objectives reading ``sli_method``, within their scope,
    with scope_index, slice_start and minute_key."""
    readers = scope.lazy().filter(pl.col("sli_method") == sli_method)
    return _minute_keys(
        raw.join(
            readers.select(
                "service", "scope_index", "slice_us", "scope_start", "scope_end",
                "threshold_seconds", "percentile",
            ),
            on="service",
            how="inner",
        ).filter(pl.col("minute") >= pl.col("scope_start"), pl.col("minute") < pl.col("scope_end"))
    )  # fmt: skip


def _removed_keys(
    scope: pl.DataFrame, excluded: pl.DataFrame, corrected: pl.DataFrame | None
) -> pl.DataFrame:
    """The minutes removed from each objective's evidence, with their minute_key and
    ``corrected`` (true for a correction's minute that no exclusion removes)."""
    scope_columns = ["scope_index", "slice_us", "scope_start", "scope_end"]
    removed = [
        excluded.lazy()
        .join(scope.lazy(), on=["contract_id", "service"], how="inner")
        .select("minute", *scope_columns, corrected=pl.lit(False))
    ]
    if corrected is not None:
        removed.append(
            corrected.lazy()
            .join(scope.lazy(), on=KEYS, how="inner")
            .select("minute", *scope_columns, corrected=pl.lit(True))
        )
    return (
        _minute_keys(pl.concat(removed).with_columns(minute=_minute(pl.col("minute"))))
        .group_by("minute_key")
        .agg(pl.all().exclude("corrected").first(), pl.col("corrected").all())
        .collect()
    )


def _not_removed(removed_keys: pl.DataFrame) -> pl.Expr:
    return ~pl.col("minute_key").is_in(removed_keys["minute_key"].implode())


def _ratio_evidence(minutes: pl.LazyFrame, removed_keys: pl.DataFrame) -> pl.LazyFrame:
    """Per slice: good, total and evidence minutes (rows hold one minute each)."""
    return (
        minutes.filter(_not_removed(removed_keys))
        .group_by(INDEX_KEYS)
        .agg(pl.col("good").sum(), pl.col("total").sum(), evidence_minutes=pl.len())
    )


def _histogram_evidence(minutes: pl.LazyFrame, removed_keys: pl.DataFrame) -> pl.LazyFrame:
    """Per slice: good/total at the threshold, the percentile (when asked) and evidence minutes."""
    kept = minutes.filter(_not_removed(removed_keys))
    buckets = (
        kept.group_by([*INDEX_KEYS, "le_seconds"])
        .agg(pl.col("count").sum(), pl.col("threshold_seconds", "percentile").first())
        .sort([*INDEX_KEYS, "le_seconds"])
        .with_columns(pl.col("count").cum_max().over(INDEX_KEYS))
    )
    evidence_minutes = kept.group_by(INDEX_KEYS).agg(evidence_minutes=pl.col("minute").n_unique())
    return (
        histogram_share_at(buckets, INDEX_KEYS)
        .join(
            histogram_quantile(
                buckets.filter(pl.col("percentile").is_not_null()).with_columns(
                    quantile=pl.col("percentile") / 100
                ),
                INDEX_KEYS,
            ),
            on=INDEX_KEYS,
            how="left",
        )
        .join(evidence_minutes, on=INDEX_KEYS, how="left")
    )


def histogram_share_at(buckets: pl.LazyFrame, keys: list[str]) -> pl.LazyFrame:
    """Requests at or under ``threshold_seconds`` from cumulative buckets, per ``keys``.

    Input: keys, le_seconds, count (cumulative, monotone in le), threshold_seconds. Output: keys,
    good, total. total is the +inf bucket's count (the largest). When the threshold is a bucket
    bound, good is that bucket's count. Otherwise good is interpolated linearly between the
    enclosing bounds (lower bound 0 with count 0 below the first bucket), as histogram_quantile
    interpolates; a threshold above the largest finite bound gets that bound's count (the +inf
    bucket cannot be interpolated into).
    """
    le, count, threshold = pl.col("le_seconds"), pl.col("count"), pl.col("threshold_seconds")
    at_or_under = le <= threshold
    lower, lower_count = pl.col("lower"), pl.col("lower_count")
    upper, upper_count = pl.col("upper"), pl.col("upper_count")
    return (
        buckets.group_by(keys)
        .agg(
            lower=le.filter(at_or_under).max().fill_null(0.0),
            lower_count=count.filter(at_or_under).max().fill_null(0),
            upper=le.filter(~at_or_under).min(),
            upper_count=count.filter(~at_or_under).min(),
            total=count.max(),
            threshold=threshold.first(),
        )
        .select(
            *keys,
            "total",
            good=pl.when(upper.is_null() | upper.is_infinite())
            .then(lower_count)
            .otherwise(
                lower_count
                + (upper_count - lower_count) * (pl.col("threshold") - lower) / (upper - lower)
            ),
        )
    )


def histogram_quantile(buckets: pl.LazyFrame, keys: list[str]) -> pl.LazyFrame:
    """The ``quantile`` (0–1) per ``keys`` from cumulative buckets, as Prometheus'
    histogram_quantile: rank = quantile × total; the first bucket whose count reaches the rank
    holds it, linearly interpolated between that bucket's lower bound (the previous bound, or 0)
    and its upper bound; in the +inf bucket the result is the largest finite bound.

    Input: keys, le_seconds, count (cumulative, monotone), quantile; sorted by keys then
    le_seconds. Output: keys, latency_quantile (seconds); keys with no requests are absent.
    """
    le, count = pl.col("le_seconds"), pl.col("count")
    previous_le = le.shift(1).over(keys).fill_null(0.0)
    previous_count = count.shift(1).over(keys).fill_null(0)
    rank = pl.col("quantile") * count.max().over(keys)
    return (
        buckets.with_columns(rank=rank, previous_le=previous_le, previous_count=previous_count)
        .filter(pl.col("rank") > 0, count >= pl.col("rank"))
        .group_by(keys)
        .first()
        .select(
            *keys,
            latency_quantile=pl.when(le.is_infinite())
            .then(pl.col("previous_le"))
            .when((pl.col("previous_count") == 0) & (pl.col("previous_le") == 0) & (le <= 0))
            .then(le)
            .otherwise(
                pl.col("previous_le")
                + (le - pl.col("previous_le"))
                * (pl.col("rank") - pl.col("previous_count"))
                / (count - pl.col("previous_count"))
            ),
        )
    )


def _removed_per_slice(removed_keys: pl.DataFrame) -> pl.LazyFrame:
    """Per slice: excluded and corrected minutes within scope."""
    in_scope = (pl.col("minute") >= pl.col("scope_start")) & (
        pl.col("minute") < pl.col("scope_end")
    )
    corrected = pl.col("corrected")
    return (
        removed_keys.lazy()
        .group_by(INDEX_KEYS)
        .agg(
            excluded_count=(in_scope & ~corrected).sum(),
            corrected_count=(in_scope & corrected).sum(),
        )
    )


def _judge() -> list[pl.Expr]:
    """slice_good, slice_total, slice_excluded, slice_corrected, slice_missing from a slice's
    evidence. A timeslice counts its kept minutes (module docstring), not its full length."""
    timeslices = pl.col("budgeting") == "timeslices"
    in_scope, excluded = pl.col("in_scope_minutes"), pl.col("excluded_count")
    kept = in_scope - excluded - pl.col("corrected_count")
    missing = kept - pl.col("evidence_minutes")
    has_requests = pl.col("total") > 0
    passes = (
        pl.when(pl.col("percentile").is_not_null())
        .then(pl.col("latency_quantile") <= pl.col("threshold_seconds"))
        .otherwise(pl.col("good") / pl.col("total") >= pl.col("slice_target"))
    )
    missing_data = pl.col("missing_data")
    slice_good = (
        pl.when(~timeslices)
        .then(pl.col("good"))
        .when(~has_requests)
        .then(pl.when(missing_data == "good").then(kept).otherwise(0))
        .otherwise(pl.when(passes).then(kept).otherwise(0))
    )
    slice_total = (
        pl.when(~timeslices)
        .then(pl.col("total"))
        .when(~has_requests)
        .then(pl.when(missing_data == "excluded").then(0).otherwise(kept))
        .otherwise(kept)
    )
    return [
        slice_good.alias("slice_good"),
        slice_total.alias("slice_total"),
        excluded.alias("slice_excluded"),
        pl.col("corrected_count").alias("slice_corrected"),
        missing.alias("slice_missing"),
    ]
