"""Burn rates and multi-window burn-rate alerts (SRE workbook) from slices.

Burn rate at time t over look-back w = (bad / total over the slices ending in (t − w, t]) /
(1 − target), evaluated at the end of every slice. A look-back shorter than the slice length
covers the one slice ending at t. The rule is SQL over the burn ledger (``sql/sla/burn_ledger.sql``)
run by DuckDB over the stored slices: the look-back sums of ``sql/sla/burn_sums.sql`` (running
totals where they are exact, else a RANGE window per look-back; the same doubles either way), the
burn rate of each (``trailing_burn_sql``; ``sql/sla/burn_rates.sql``, ``sql/sla/alert_firing.sql``),
so look-backs may differ per objective (each alert rule reads the sums of its own look-back).

Stored burn rates and alert firing are lake tables partitioned like the slices (by the UTC day of
the slice's start). ``refresh_burn`` recomputes only the partitions a run's slices move: the run's
days and the longest look-back after them, reading the slices of the look-back before them too;
the episodes come from every stored firing row (``stored_episodes``).

An alert rule fires at t when both its long and short look-back burn rates exceed its
``burn_rate`` (strictly). Rules of one severity fire together; an episode is a run of consecutive
slice ends at which it fires: ``started_at`` is the first of them, ``ended_at`` the next slice end
at which it no longer fires (null while still firing at the objective's last slice), and
``peak_burn_rate`` the highest long look-back burn rate of a firing rule during the episode.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, timedelta

import duckdb
import polars as pl

from pipelines import warehouse
from pipelines.lake import PARTITION, partition_files
from pipelines.sla.objectives import KEYS, UTC_US
from pipelines.warehouse import sql_text

LOOKBACKS = {
    "burn_5m": 300,
    "burn_30m": 1_800,
    "burn_1h": 3_600,
    "burn_6h": 21_600,
    "burn_1d": 86_400,
    "burn_3d": 259_200,
}
"""The burn-rate columns of ``sla.burn_rates``: look-back in seconds (not scaled)."""
DAYS_PER_STATEMENT = 31
"""The most partitions of burn rates one SQL statement computes: a month of 100 services' slices
(and the look-back before it) keeps the statement's ledger, running totals and partition writers
near 750 MB (a quarter: 1.4 GB, and no faster)."""

BURN_RATES_SCHEMA = {
    "contract_id": pl.String,
    "objective_id": pl.String,
    "ts": UTC_US,
    **dict.fromkeys(LOOKBACKS, pl.Float64),
}
ALERTS_SCHEMA = {
    "contract_id": pl.String,
    "objective_id": pl.String,
    "severity": pl.String,
    "started_at": UTC_US,
    "ended_at": UTC_US,
    "peak_burn_rate": pl.Float64,
}
FIRING_SCHEMA = {
    "contract_id": pl.String,
    "objective_id": pl.String,
    "severity": pl.String,
    "ts": UTC_US,
    "slice_seconds": pl.Int64,
    "burn": pl.Float64,
    "last_ts": UTC_US,
}


def burn_objectives(objectives: pl.DataFrame) -> pl.DataFrame:
    """``burn_objectives`` of the ledger SQL: contract_id, objective_id, objective_index, target,
    slice_seconds, from objectives_frame (or any frame with those columns)."""
    return objectives.select(*KEYS, "target", "slice_seconds").with_row_index("objective_index")


def ledger_sql(slices: str) -> str:
    """The burn ledger (``sql/sla/burn_ledger.sql``) of the slices in relation ``slices``."""
    return sql_text("sla/burn_ledger").format(slices=slices)


def burn_rates_sql(slice_lengths: Iterable[int], partitions: str = "TRUE") -> str:
    """sla.burn_rates' rows (with partition_date) from the relation ``burn_ledger``: the burn
    rates over LOOKBACKS at the end of every slice of the partitions the SQL condition
    ``partitions`` (on partition_date) selects. ``slice_lengths``: the ledger's slice lengths
    (seconds; ``trailing_sums_sql``)."""
    lookbacks = [math.ceil(seconds) for seconds in LOOKBACKS.values()]
    return sql_text("sla/burn_rates").format(
        burn_columns=", ".join(
            f"{trailing_burn_sql(n)} AS {name}" for n, name in enumerate(LOOKBACKS, 1)
        ),
        sums=trailing_sums_sql("burn_ledger", lookbacks, slice_lengths),
        partitions=partitions,
    )


def trailing_burn_sql(position: int) -> str:
    """The burn rate over the ``position``-th look-back of ``trailing_sums_sql``, as a SQL
    expression over its columns (and the ledger's target): null where the look-back holds no
    events, minutes or slices (or no bad ones and no budget)."""
    bad, total = f"bad_{position}", f"total_{position}"
    return (
        f"CASE WHEN {total} > 0 AND ({bad} > 0 OR target < 1) "
        f"THEN {bad} / {total} / (1 - target) END"
    )


def trailing_sums_sql(ledger: str, lookbacks: Sequence[int], slice_lengths: Iterable[int]) -> str:
    """``sql/sla/burn_sums.sql`` over the burn ledger relation ``ledger``: bad and total summed
    over each of ``lookbacks`` (whole seconds) at every slice end (bad_1, total_1, ...).
    Objectives whose slices are ``slice_lengths`` long (seconds) may take them from running
    totals; any other objective from a RANGE window per look-back, with the same sums."""
    lengths = sorted(set(slice_lengths))
    spans = sorted({_spanned(seconds, length) for seconds in lookbacks for length in lengths})

    def before(column: str, seconds: int) -> str:
        """The running total of ``column`` before the look-back of ``seconds``, per slice length:
        k rows back, or the opening total when that is before the objective's first slice."""
        cases = " ".join(
            f"WHEN {length} THEN CASE "
            f"WHEN second - {_spanned(seconds, length) * length} >= first_second "
            f"THEN run_{column}_{_spanned(seconds, length)} ELSE opening_{column} END"
            for length in lengths
        )
        return f"CASE slice_seconds {cases} END" if cases else "NULL"

    return sql_text("sla/burn_sums").format(
        ledger=ledger,
        slice_lengths=", ".join(map(str, lengths)) or "NULL",
        lags=", ".join(
            f"lag({column}, {span}) OVER () AS {column}_{span}"
            for span in spans
            for column in ("run_bad", "run_total")
        )
        or "NULL AS no_lag",
        differences=", ".join(
            f"run_{column} - {before(column, seconds)} AS {column}_{n}"
            for n, seconds in enumerate(lookbacks, 1)
            for column in ("bad", "total")
        ),
        window_sums=", ".join(
            f"sum({column}) OVER {_window_name(seconds)} AS {column}_{n}"
            for n, seconds in enumerate(lookbacks, 1)
            for column in ("bad", "total")
        ),
        windows=_windows(lookbacks),
    )


def _spanned(lookback_seconds: int, slice_seconds: int) -> int:
    """The slices ending within a look-back of whole seconds: ceil(look-back / slice length)."""
    return -(-lookback_seconds // slice_seconds)


def _window_name(lookback_seconds: float) -> str:
    return f"lookback_{math.ceil(lookback_seconds)}"


def _windows(lookbacks: Iterable[float]) -> str:
    """The ledger's named windows of ``lookbacks``: per objective, the rows whose end (epoch
    second) lies within the look-back's whole seconds before the row's, the row included."""
    return ", ".join(
        f"{_window_name(seconds)} AS (PARTITION BY objective_index ORDER BY second "
        f"RANGE BETWEEN {math.ceil(seconds) - 1} PRECEDING AND CURRENT ROW)"
        for seconds in sorted({math.ceil(seconds) for seconds in lookbacks})
    )


@contextmanager
def alert_firing_sql(
    con: duckdb.DuckDBPyConnection,
    rules: pl.DataFrame,
    partitions: str = "TRUE",
    stored: str | None = None,
) -> Iterator[str]:
    """While inside, the SQL of the slice ends of the partitions ``partitions`` (a SQL condition
    on partition_date) at which each alert rule fires: FIRING_SCHEMA's columns but last_ts, with
    partition_date, from the relations ``burn_ledger`` and ``burn_objectives`` on ``con``.
    ``rules``: alert_rules_frame. ``stored``: a relation holding burn_rates_sql's rows of those
    partitions; when every rule's look-backs are among LOOKBACKS, the burn rates are read from
    it instead of computed again."""
    objectives = con.sql(
        "SELECT contract_id, objective_id, objective_index, slice_seconds FROM burn_objectives"
    ).pl()
    indexed = rules.join(objectives.drop("slice_seconds"), on=KEYS, how="inner")
    if indexed.is_empty():
        yield (
            "SELECT NULL::DATE AS partition_date, NULL AS contract_id, NULL AS objective_id, "
            "NULL AS severity, NULL::TIMESTAMPTZ AS ts, NULL::BIGINT AS slice_seconds, "
            "NULL::DOUBLE AS burn WHERE false"
        )
        return
    ceiled = indexed.with_columns(pl.col("long_seconds", "short_seconds").ceil().cast(pl.Int64))
    lookbacks = sorted(set(ceiled["long_seconds"]) | set(ceiled["short_seconds"]))
    position = {seconds: n + 1 for n, seconds in enumerate(lookbacks)}
    alert_rules = ceiled.select(
        "objective_index",
        "severity",
        "burn_rate",
        long_at=pl.col("long_seconds").replace_strict(position, return_dtype=pl.Int64),
        short_at=pl.col("short_seconds").replace_strict(position, return_dtype=pl.Int64),
    )

    def burn_at(column: str) -> str:
        cases = " ".join(f"WHEN {n} THEN b.burn_{n}" for n in position.values())
        return f"CASE r.{column} {cases} END"

    stored_columns = {math.ceil(seconds): name for name, seconds in LOOKBACKS.items()}
    if stored is not None and set(lookbacks) <= set(stored_columns):
        columns = ", ".join(
            f"b.{stored_columns[seconds]} AS burn_{position[seconds]}" for seconds in lookbacks
        )
        burns = (
            "SELECT b.partition_date, b.contract_id, b.objective_id, o.objective_index, b.ts, "
            f"o.slice_seconds, {columns} FROM {stored} AS b "
            f"JOIN burn_objectives AS o USING (contract_id, objective_id) WHERE {partitions}"
        )
    else:
        columns = ", ".join(f"{trailing_burn_sql(n)} AS burn_{n}" for n in position.values())
        ruled = "(FROM burn_ledger SEMI JOIN alert_rules USING (objective_index))"
        sums = trailing_sums_sql(ruled, lookbacks, objectives["slice_seconds"])
        burns = (
            "SELECT partition_date, contract_id, objective_id, objective_index, ts, "
            f"slice_seconds, {columns} FROM ({sums})"
        )
    con.register("alert_rules", alert_rules)
    try:
        yield sql_text("sla/alert_firing").format(
            burns=burns,
            partitions=partitions,
            long_burn=burn_at("long_at"),
            short_burn=burn_at("short_at"),
        )
    finally:
        con.unregister("alert_rules")


def longest_lookback_days(rules: pl.DataFrame) -> int:
    """Whole days covering the longest look-back of LOOKBACKS and of ``rules``
    (alert_rules_frame): how far a changed slice moves the burn rates after it."""
    seconds = max([*LOOKBACKS.values(), *rules["long_seconds"], *rules["short_seconds"]])
    return math.ceil(seconds / 86_400)


def partitions_to_burn(
    slice_days: set[date], burn_days: set[date], changed: tuple[date, date] | None, lookback: int
) -> tuple[date, date] | None:
    """The first and last partition of sla.burn_rates (and sla.alert_firing) to recompute, or
    None: the days of slices in ``changed`` (first, last; None: every day) and the ``lookback``
    days after it (whose look-backs reach into it), every day of slices without burn rates and
    every day of burn rates without slices."""
    days = (slice_days ^ burn_days) | {
        day
        for day in slice_days
        if changed is None or changed[0] <= day <= changed[1] + timedelta(days=lookback)
    }
    return (min(days), max(days)) if days else None


def refresh_burn(
    con: duckdb.DuckDBPyConnection,
    objectives: pl.DataFrame,
    rules: pl.DataFrame,
    changed: tuple[date, date] | None,
    days_per_statement: int = DAYS_PER_STATEMENT,
) -> tuple[date, date] | None:
    """Recompute the partitions of sla.burn_rates and sla.alert_firing that the slices of the
    days ``changed`` (first, last; None: every day) move (``partitions_to_burn``), in SQL over
    the slices they need, each partition written whole, at most ``days_per_statement`` days per
    statement. ``objectives``: objectives_frame of the sliced objectives; ``rules``:
    alert_rules_frame. Returns the first and last partition recomputed."""
    lake = warehouse.lake_of(con)
    lookback = longest_lookback_days(rules)
    stored = {
        table: set(partition_files(lake, table)[PARTITION])
        for table in ("sla.slices", "sla.burn_rates")
    }
    span = partitions_to_burn(stored["sla.slices"], stored["sla.burn_rates"], changed, lookback)
    if span is None:
        return None
    where = "partition_date BETWEEN ? AND ?"
    for first in _days(span[0], span[1], days_per_statement):
        last = min(first + timedelta(days=days_per_statement - 1), span[1])
        partitions = f"partition_date BETWEEN DATE '{first}' AND DATE '{last}'"
        needed = (
            f"(SELECT * FROM sla.slices WHERE partition_date "
            f"BETWEEN DATE '{first - timedelta(days=lookback)}' AND DATE '{last}')"
        )
        with stored_ledger(con, objectives, needed):
            warehouse.replace_with_query(
                con,
                "sla.burn_rates",
                where,
                [first, last],
                burn_rates_sql(objectives["slice_seconds"], partitions),
            )
            with alert_firing_sql(con, rules, partitions, "sla.burn_rates") as firing:
                warehouse.replace_with_query(con, "sla.alert_firing", where, [first, last], firing)
    return span


def _days(first: date, last: date, step: int) -> list[date]:
    """Every ``step``-th day from ``first`` to ``last``."""
    return [first + timedelta(days=n) for n in range(0, (last - first).days + 1, step)]


def stored_episodes(con: duckdb.DuckDBPyConnection, objectives: pl.DataFrame) -> pl.DataFrame:
    """Alert episodes (ALERTS_SCHEMA) of ``objectives`` (objectives_frame) from sla.alert_firing,
    each objective's last slice end read from sla.slices."""
    firing = warehouse.query(
        con,
        "SELECT contract_id, objective_id, severity, ts, slice_seconds, burn FROM sla.alert_firing",
    )
    last_starts = warehouse.query(
        con,
        "SELECT contract_id, objective_id, max(slice_start) AS last_start FROM sla.slices "
        "GROUP BY ALL",
    )
    return episodes(firing.join(last_ends(objectives, last_starts), on=KEYS))


def last_ends(objectives: pl.DataFrame, last_starts: pl.DataFrame) -> pl.DataFrame:
    """contract_id, objective_id, last_ts: the end of each objective's last slice, from
    ``last_starts`` (contract_id, objective_id, last_start) and objectives_frame."""
    return last_starts.join(objectives.select(*KEYS, "slice_seconds"), on=KEYS).select(
        *KEYS,
        last_ts=(pl.col("last_start") + pl.duration(seconds=pl.col("slice_seconds"))).cast(UTC_US),
    )


def burn_ledger(objectives: pl.DataFrame, slices: pl.DataFrame) -> pl.DataFrame:
    """The burn ledger of slices given as a frame, the input of burn_rates and alert_episodes.

    Inputs: ``objectives`` (objectives_frame, or contract_id, objective_id, target,
    slice_seconds), ``slices`` (contract_id, objective_id, slice_start, good, total). Output:
    contract_id, objective_id, objective_index, target, slice_seconds, ts (slice end), second
    (epoch second of ts), bad, total.
    """
    with duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")
        con.register("burn_objectives", burn_objectives(objectives))
        con.register("frame_slices", slices.select(*KEYS, "slice_start", "good", "total"))
        return con.sql(ledger_sql("frame_slices")).pl()


@contextmanager
def stored_ledger(
    con: duckdb.DuckDBPyConnection, objectives: pl.DataFrame, slices: str = "sla.slices"
) -> Iterator[None]:
    """While inside, ``burn_ledger`` on ``con`` is the ledger of the stored slices (the table or
    view ``slices``) of ``objectives`` (objectives_frame), for burn_rates_sql and alert_firing."""
    con.register("burn_objectives", burn_objectives(objectives))
    con.execute(f"CREATE OR REPLACE TEMP VIEW burn_ledger AS {ledger_sql(slices)}")
    try:
        yield
    finally:
        con.execute("DROP VIEW IF EXISTS burn_ledger")
        con.unregister("burn_objectives")


@contextmanager
def _ledger_warehouse(ledger: pl.DataFrame) -> Iterator[duckdb.DuckDBPyConnection]:
    """An in-memory DuckDB with ``burn_ledger`` and ``burn_objectives`` read from ``ledger``."""
    with duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")
        con.register("burn_ledger", ledger)
        con.register(
            "burn_objectives", ledger.select(*KEYS, "objective_index", "slice_seconds").unique()
        )
        yield con


def burn_rates(ledger: pl.DataFrame) -> pl.DataFrame:
    """Burn rates at the end of every slice over 5m, 30m, 1h, 6h, 1d and 3d look-backs.

    Input: burn_ledger. Output: BURN_RATES_SCHEMA (ts = slice end; a burn rate is null when
    its look-back holds no events or minutes), sorted by objective and ts.
    """
    with _ledger_warehouse(ledger) as con:
        rates = con.sql(burn_rates_sql(ledger["slice_seconds"])).pl().drop("partition_date")
    return rates.cast(BURN_RATES_SCHEMA).sort([*KEYS, "ts"])  # type: ignore[arg-type]


def alert_episodes(ledger: pl.DataFrame, rules: pl.DataFrame) -> pl.DataFrame:
    """Alert episodes per objective and severity.

    Inputs: burn_ledger, ``rules`` (alert_rules_frame: look-backs already scaled to the
    window). Output: ALERTS_SCHEMA.
    """
    ends = ledger.group_by(KEYS).agg(last_ts=pl.col("ts").max())
    with _ledger_warehouse(ledger) as con, alert_firing_sql(con, rules) as sql:
        firing = con.sql(sql).pl().drop("partition_date")
    fired = firing.cast({name: FIRING_SCHEMA[name] for name in firing.columns})  # type: ignore[arg-type]
    return episodes(fired.join(ends, on=KEYS))


def episodes(firing: pl.DataFrame) -> pl.DataFrame:
    """Alert episodes (ALERTS_SCHEMA) from the slice ends at which rules fire (FIRING_SCHEMA:
    alert_firing_sql's rows and each objective's last slice end)."""
    if firing.is_empty():
        return pl.DataFrame(schema=ALERTS_SCHEMA)
    series = [*KEYS, "severity"]
    step = pl.duration(seconds=pl.col("slice_seconds"))
    return (
        firing.group_by([*series, "ts"])
        .agg(pl.col("burn").max(), pl.col("slice_seconds", "last_ts").first())
        .sort([*series, "ts"])
        .with_columns(
            episode=(pl.col("ts").diff().over(series) != step)
            .fill_null(True)
            .cum_sum()
            .over(series)
        )
        .group_by([*series, "episode"])
        .agg(
            started_at=pl.col("ts").min(),
            last_firing=pl.col("ts").max(),
            peak_burn_rate=pl.col("burn").max(),
            slice_seconds=pl.col("slice_seconds").first(),
            last_ts=pl.col("last_ts").first(),
        )
        .with_columns(
            ended_at=pl.when(pl.col("last_firing") < pl.col("last_ts")).then(
                pl.col("last_firing") + step
            )
        )
        .select(list(ALERTS_SCHEMA))
        .sort([*series, "started_at"])
        .cast(ALERTS_SCHEMA)  # type: ignore[arg-type]
    )


def firing_at_end(alerts: pl.DataFrame) -> pl.DataFrame:
    """Objectives with an alert episode still firing (ended_at null): contract_id, objective_id."""
    return alerts.filter(pl.col("ended_at").is_null()).select(KEYS).unique()
