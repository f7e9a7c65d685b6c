"""Pull a ``kind: prometheus`` source into landing files: one Parquet file per UTC day.

Time convention: the value a query returns at evaluation time ``t`` covers the step interval
``(t - step, t]`` and is stored with ``ts = t - step`` (the interval's start, UTC), so
``increase(x[1m])`` evaluated at 10:01 is the row of ``ts`` 10:00. Ranges below are ranges of
``ts``, both ends included and aligned to the step.

A pull asks ``/api/v1/query_range`` for each query of the source over the window the watermark
(``ops.pull_watermarks``) leaves open, in pieces of at most ``MAX_POINTS`` steps, turns each
matrix into rows (``matrix_rows``), merges them into the day files already there (the pulled
value wins per row key) and writes a day file only when its rows changed, atomically. The
watermark is written after the files: a pull killed at any moment pulls the same window again
and writes the same rows, and a pull with nothing new leaves every file (and its sha256) as it
was, so the ingest sees nothing new.

Requests evidence joins its two queries on (ts, service): a service and step with a ``total`` but
no ``errors`` value gets 0 errors (Prometheus has no error series until a first 5xx, and loses it
when the exporter restarts); an ``errors`` value without a ``total`` is kept with a null total and
rejected by the ingest, not dropped.
"""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import httpx
import polars as pl

from pipelines import http
from pipelines.contracts.loader import Problem, problem_at, read_yaml_mapping
from pipelines.contracts.sources import QUERY_FIELDS, PrometheusPull, Source
from pipelines.ingest.rows import DUPLICATE_KEYS
from pipelines.warehouse import query

MAX_POINTS = 11_000
"""Prometheus refuses a range query of more points per series than this."""

FIRST_PULL = timedelta(days=1)
"""How far back a source's first pull reaches when no first day is asked for."""

MAX_RESPONSE_BYTES = 200 * 1024 * 1024
"""A larger response is refused (a query returning far more series than meant)."""

ATTEMPTS = 3
RETRY_DELAYS = (0.5, 1.0)
"""Seconds to wait before the 2nd and 3rd attempt after a connection error, 429 or 5xx."""

INTEGRAL_TOLERANCE = 1e-9
TS = pl.Datetime("us", "UTC")


class PullError(RuntimeError):
    """A pull that could not be done; the message names the source and the server's error."""


@dataclass(frozen=True)
class Watermark:
    """Evidence of a source is pulled over ``[pulled_from, pulled_until)``."""

    pulled_from: datetime
    pulled_until: datetime


@dataclass(frozen=True)
class PullResult:
    """One pull of a source: the ``ts`` range asked (None: nothing new to ask), the UTC days it
    touched, the days whose file changed (written), the rows pulled, the HTTP queries made and
    the watermark after the pull."""

    source: str
    first_ts: datetime | None = None
    last_ts: datetime | None = None
    days_pulled: list[date] = field(default_factory=list)
    days_written: list[date] = field(default_factory=list)
    rows: int = 0
    queries: int = 0
    watermark: Watermark | None = None


# --- pure functions ----------------------------------------------------------------------------


def floor_time(instant: datetime, step: timedelta) -> datetime:
    """``instant`` rounded down to a multiple of ``step`` since the Unix epoch (UTC)."""
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    return epoch + (instant.astimezone(UTC) - epoch) // step * step


def day_start(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def pull_window(
    now: datetime,
    step: timedelta,
    settle: timedelta,
    watermark: Watermark | None,
    first_day: date | None = None,
    last_day: date | None = None,
) -> tuple[datetime, datetime] | None:
    """The first and last ``ts`` to pull, or None when there is nothing to pull.

    The last is that of the last complete step before ``now`` (capped at the end of
    ``last_day``). The first is the start of ``first_day`` when given; else ``settle`` before the
    watermark's ``pulled_until`` (the late samples of the last minutes); a first pull without a
    first day reaches ``FIRST_PULL`` back."""
    last = floor_time(now, step) - step
    if last_day is not None:
        next_day = day_start(last_day + timedelta(days=1))
        last = min(last, floor_time(next_day - timedelta(microseconds=1), step))
    if first_day is not None:
        first = floor_time(day_start(first_day) + step - timedelta(microseconds=1), step)
    elif watermark is not None:
        first = floor_time(watermark.pulled_until - settle, step)
    else:
        first = floor_time(now - FIRST_PULL, step)
    return (first, last) if first <= last else None


def advanced_watermark(
    watermark: Watermark | None, first_ts: datetime, last_ts: datetime, step: timedelta
) -> Watermark:
    """The watermark after pulling ``first_ts..last_ts``: widened when the pull starts inside (or
    right at the end of) the pulled span; unchanged after a pull that left a gap before it."""
    until = last_ts + step
    if watermark is None:
        return Watermark(first_ts, until)
    if first_ts > watermark.pulled_until:
        return watermark
    return Watermark(min(watermark.pulled_from, first_ts), max(watermark.pulled_until, until))


def range_chunks(
    first_ts: datetime, last_ts: datetime, step: timedelta, max_points: int = MAX_POINTS
) -> list[tuple[datetime, datetime]]:
    """``first_ts..last_ts`` cut into consecutive pieces of at most ``max_points`` steps each
    (both ends included)."""
    chunks = []
    start = first_ts
    while start <= last_ts:
        end = min(start + (max_points - 1) * step, last_ts)
        chunks.append((start, end))
        start = end + step
    return chunks


def integral_values(values: pl.Series) -> pl.Series:
    """Values within ``INTEGRAL_TOLERANCE`` of an integer as Int64 when all are, else Float64
    with those values rounded (the ingest rejects the fractional ones)."""
    rounded = values.round(0)
    close = ((values - rounded).abs() <= INTEGRAL_TOLERANCE).fill_null(True)
    exact = rounded.zip_with(close, values).alias(values.name)
    return exact.cast(pl.Int64) if close.all() else exact


def matrix_rows(
    result: list[dict], value_field: str, labels: dict[str, str], step: timedelta
) -> pl.DataFrame:
    """A ``query_range`` matrix (``data.result``) → rows ``ts`` (Datetime us UTC, the interval's
    start), one String column per label field (``labels``: field → series label; null when the
    series lacks it) and ``value_field`` (Float64, "NaN"/"+Inf" as such)."""
    columns: dict[str, list] = {"ts": [], **{name: [] for name in labels}, value_field: []}
    for series in result:
        metric = series.get("metric", {})
        points = series.get("values", [])
        columns["ts"] += [float(t) for t, _ in points]
        columns[value_field] += [float(v) for _, v in points]
        for name, label in labels.items():
            columns[name] += [metric.get(label)] * len(points)
    seconds = pl.Series("ts", columns.pop("ts"), pl.Float64)
    starts = ((seconds * 1e6).round(0).cast(pl.Int64) - step // timedelta(microseconds=1)).cast(TS)
    return pl.DataFrame(
        {"ts": starts, **{name: pl.Series(name, columns[name], pl.String) for name in labels}}
    ).with_columns(pl.Series(value_field, columns[value_field], pl.Float64))


def evidence_rows(kind: str, fields: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """The rows of each query field (``matrix_rows``) → the evidence rows of ``kind``, value
    columns stored as ``integral_values``. Requests join total and errors on (ts, service):
    errors missing where total is present are 0; a total missing stays null."""
    if kind == "requests":
        total, errors = fields["total"], fields["errors"]
        rows = total.join(errors, on=["ts", "service"], how="full", coalesce=True, nulls_equal=True)
        rows = rows.with_columns(
            pl.when(pl.col("total").is_not_null())
            .then(pl.col("errors").fill_null(0.0))
            .otherwise(pl.col("errors"))
        )
    else:
        (rows,) = fields.values()
    return rows.with_columns(integral_values(rows[name]) for name in QUERY_FIELDS[kind])


def merged_day(existing: pl.DataFrame | None, pulled: pl.DataFrame, kind: str) -> pl.DataFrame:
    """A day file's rows after a pull: the existing rows whose key (``DUPLICATE_KEYS``) was not
    pulled again, and the pulled rows; sorted by key. Value columns keep the pulled dtypes (a
    whole-number Float64 existing column becomes Int64 again when every value is integral)."""
    keys = list(DUPLICATE_KEYS[kind])
    if existing is not None:
        kept = existing.join(pulled.select(keys), on=keys, how="anti", nulls_equal=True)
        merged = pl.concat([kept, pulled], how="vertical_relaxed")
        pulled = merged.with_columns(integral_values(merged[name]) for name in QUERY_FIELDS[kind])
    return pulled.sort(keys, nulls_last=True, maintain_order=True)


def day_frames(rows: pl.DataFrame) -> dict[date, pl.DataFrame]:
    """Rows split by the UTC day of their ``ts``."""
    return {
        key[0]: frame.drop("__day")
        for key, frame in rows.with_columns(__day=pl.col("ts").dt.date()).group_by(
            "__day", maintain_order=True
        )
    }


def day_file(landing_dir: Path, name: str, day: date) -> Path:
    return landing_dir / name / f"{name}-{day.isoformat()}.parquet"


# --- files and watermark -----------------------------------------------------------------------


def write_day(path: Path, pulled: pl.DataFrame, kind: str) -> bool:
    """Merge ``pulled`` into the day file at ``path``; write it (temp file + rename) only when its
    rows change. True when written."""
    existing = pl.read_parquet(path) if path.exists() else None
    merged = merged_day(existing, pulled, kind)
    if existing is not None and merged.equals(existing):
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    merged.write_parquet(temporary)
    temporary.replace(path)
    return True


def read_watermark(con: duckdb.DuckDBPyConnection, name: str) -> Watermark | None:
    rows = query(
        con, "SELECT pulled_from, pulled_until FROM ops.pull_watermarks WHERE source = ?", [name]
    )
    return Watermark(*rows.row(0)) if rows.height else None


def write_watermark(
    con: duckdb.DuckDBPyConnection, name: str, watermark: Watermark, pulled_at: datetime
) -> None:
    con.execute(
        "INSERT OR REPLACE INTO ops.pull_watermarks VALUES (?, ?, ?, ?)",
        [name, watermark.pulled_from, watermark.pulled_until, pulled_at],
    )


# --- HTTP --------------------------------------------------------------------------------------


def _authorization(pull: PrometheusPull, name: str) -> str | None:
    """The Authorization header of the source's auth, read from its environment variables."""
    if pull.auth is None:
        return None
    names = (
        [pull.auth.bearer_token_env]
        if pull.auth.bearer_token_env
        else [
            pull.auth.username_env,
            pull.auth.password_env,
        ]
    )
    missing = [variable for variable in names if variable and variable not in os.environ]
    if missing:
        raise PullError(f"{name}: environment variable {', '.join(missing)} not set (auth)")
    if pull.auth.bearer_token_env:
        return f"Bearer {os.environ[pull.auth.bearer_token_env]}"
    user_password = f"{os.environ[names[0]]}:{os.environ[names[1]]}".encode()
    return f"Basic {base64.b64encode(user_password).decode()}"


def prometheus_client(
    pull: PrometheusPull, name: str, transport: httpx.BaseTransport | None = None
) -> httpx.Client:
    """An HTTP client for the source's server (``pipelines.http.client``: no redirects followed,
    the credentials sent to the server's origin only; ``transport``: httpx's, by default)."""
    return http.client(pull.url + "/", _authorization(pull, name), transport)


def _server_error(answer: http.Answer) -> str:
    """The server's own error text (Prometheus' JSON ``error``), else the body's start."""
    try:
        document = json.loads(answer.body)
        if isinstance(document, dict) and document.get("error"):
            return str(document["error"])
    except ValueError:
        pass
    return answer.body[:300].decode("utf-8", "replace").strip() or f"HTTP {answer.status}"


def get_json(
    client: httpx.Client,
    name: str,
    path: str,
    params: dict[str, str],
    deadline: float,
    max_bytes: int = MAX_RESPONSE_BYTES,
    retry_delays: tuple[float, ...] = RETRY_DELAYS,
    sleep: Callable[[float], None] = time.sleep,
) -> dict:
    """GET ``path`` of the source's server and return its JSON ``data``; attempts it up to
    ``len(retry_delays) + 1`` times (after a connection error or timeout, HTTP 429 or 5xx,
    waiting the delays in between). Raises PullError naming the source, the server and its
    error on a redirect, another HTTP error, a body over ``max_bytes`` or past ``deadline``
    seconds (``pipelines.http.fetch``), or bad JSON."""
    url = client.base_url.join(path)
    where = http.origin(url)
    for attempt in range(len(retry_delays) + 1):
        last = attempt == len(retry_delays)
        try:
            answer = http.fetch(client, "GET", url, deadline, max_bytes, params=params)
        except httpx.TransportError as error:
            if last:
                reason = str(error) or type(error).__name__
                raise PullError(f"{name}: cannot reach {where}: {reason}") from None
            sleep(retry_delays[attempt])
            continue
        status = answer.status
        if (status == 429 or status >= 500) and not last:
            sleep(retry_delays[attempt])
            continue
        if answer.redirect is not None:
            raise PullError(
                f"{name}: HTTP {status} from {where}: redirect to {answer.redirect} not followed "
                "(set url to the server's own address)"
            )
        if not answer.complete:
            raise PullError(
                f"{name}: response from {where} over {max_bytes} bytes refused "
                "(narrow the query, e.g. sum by the mapped labels)"
            )
        if status != 200:
            raise PullError(f"{name}: HTTP {status} from {where}: {_server_error(answer)}")
        try:
            document = json.loads(answer.body)
        except ValueError as error:
            raise PullError(f"{name}: bad JSON from {where}: {error}") from None
        if not isinstance(document, dict) or document.get("status") != "success":
            raise PullError(f"{name}: error from {where}: {document.get('error', document)}")
        return document["data"]
    raise AssertionError("unreachable")


def query_range(
    client: httpx.Client,
    name: str,
    pull: PrometheusPull,
    promql: str,
    first_ts: datetime,
    last_ts: datetime,
) -> list[dict]:
    """The matrix of ``promql`` over the ``ts`` range (evaluated at ``ts + step``)."""
    params = {
        "query": promql,
        "start": f"{(first_ts + pull.step).timestamp():.3f}",
        "end": f"{(last_ts + pull.step).timestamp():.3f}",
        "step": f"{pull.step // timedelta(seconds=1)}s",
    }
    data = get_json(client, name, "api/v1/query_range", params, pull.timeout.total_seconds())
    if data.get("resultType") != "matrix":
        raise PullError(f"{name}: {promql!r} gives a {data.get('resultType')}, not a range vector")
    return data["result"]


# --- the pull ----------------------------------------------------------------------------------


def pull_source(
    con: duckdb.DuckDBPyConnection,
    name: str,
    source: Source,
    landing_dir: str | Path,
    now: datetime,
    first_day: date | None = None,
    last_day: date | None = None,
    client: httpx.Client | None = None,
) -> PullResult:
    """Pull the source ``name`` (a ``kind: prometheus`` one) into its day files under
    ``landing_dir`` and advance its watermark (``pull_window``, ``advanced_watermark``);
    ``con`` is a read-write warehouse connection. Raises PullError."""
    pull = source.pull
    if pull is None:
        raise ValueError(f"{name} is not a prometheus source")
    watermark = read_watermark(con, name)
    window = pull_window(now, pull.step, pull.settle, watermark, first_day, last_day)
    if window is None:
        return PullResult(name, watermark=watermark)
    owned = client is None
    client = client or prometheus_client(pull, name)
    landing = Path(landing_dir)
    for leftover in (landing / name).glob(".*.tmp"):  # of a killed pull (pulls hold the warehouse)
        leftover.unlink()
    days_pulled: set[date] = set()
    days_written: set[date] = set()
    rows = queries = 0
    try:
        for first_ts, last_ts in range_chunks(*window, pull.step):
            fields = {}
            for value_field, promql in pull.queries.items():
                result = query_range(client, name, pull, promql, first_ts, last_ts)
                fields[value_field] = matrix_rows(result, value_field, pull.label_of, pull.step)
                queries += 1
            pulled = evidence_rows(pull.evidence, fields)
            rows += pulled.height
            for day, frame in day_frames(pulled).items():
                days_pulled.add(day)
                if write_day(day_file(landing, name, day), frame, pull.evidence):
                    days_written.add(day)
    finally:
        if owned:
            client.close()
    after = advanced_watermark(watermark, *window, pull.step)
    if after != watermark:
        write_watermark(con, name, after, now)
    return PullResult(
        name, *window, sorted(days_pulled), sorted(days_written), rows, queries, after
    )


def pull_days(
    con: duckdb.DuckDBPyConnection,
    name: str,
    source: Source,
    landing_dir: str | Path,
    now: datetime,
    first_day: date | None = None,
) -> PullResult:
    """Pull what is new, and also from ``first_day`` when that day lies before what the
    watermark covers (a backfill of older days): the pull of a run over days from ``first_day``."""
    watermark = read_watermark(con, name)
    older = first_day is not None and (
        watermark is None or day_start(first_day) < watermark.pulled_from
    )
    return pull_source(con, name, source, landing_dir, now, first_day if older else None)


def pull_each(
    con: duckdb.DuckDBPyConnection,
    sources: dict[str, Source],
    landing_dir: str | Path,
    first_day: date | None = None,
    last_day: date | None = None,
    exact: bool = False,
) -> Iterator[tuple[str, PullResult | PullError]]:
    """Pull each source in turn, yielding its result or the error that stopped it (the next
    source is still pulled). ``exact``: the days ``first_day..last_day`` (``pull_source``); else
    ``pull_days`` from ``first_day``."""
    for name, source in sources.items():
        now = datetime.now(UTC)
        outcome: PullResult | PullError
        try:
            if exact:
                outcome = pull_source(con, name, source, landing_dir, now, first_day, last_day)
            else:
                outcome = pull_days(con, name, source, landing_dir, now, first_day)
        except PullError as error:
            outcome = error
        yield name, outcome


def query_problems(path: str | Path, sources: dict[str, Source]) -> list[Problem]:
    """``pledge validate --online``: each query of the prometheus ``sources`` (read from the
    sources file ``path``) asked once of its server at time 0; a query the server refuses is a
    ``file:line`` problem at the query, a server that cannot be asked one at its url."""
    path = Path(path)
    document = read_yaml_mapping(path, "a sources file")
    problems = []
    for name, source in sources.items():
        if source.pull is None:
            continue
        with prometheus_client(source.pull, name) as client:
            for field_name, promql in source.pull.queries.items():
                loc: tuple = ("sources", name, "queries", field_name)
                try:
                    get_json(client, name, "api/v1/query", {"query": promql, "time": "0"}, 30)
                except PullError as error:
                    if "cannot reach" in str(error) or "redirect" in str(error):
                        loc = ("sources", name, "url")
                    problems.append(problem_at(path, document, loc, str(error)))
                    if loc[-1] == "url":
                        break
    return problems
