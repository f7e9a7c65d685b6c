"""One landing file of a source → typed rows and rejects (pure: Polars only, no warehouse).

A CSV file is split into records at the byte level (``records.split_csv``: the source's
``encoding``, CR/LF/CRLF line endings, RFC 4180 quoting) with every field as text, so nothing is
lost on the way in; Parquet keeps its types. A CSV line that cannot be decoded, holds a NUL, breaks
quoting or has a field count other than the header's is rejected on its own (a blank line is
skipped: no row); every other line goes on. Every canonical field is then parsed with
vectorised expressions and each row is checked against a fixed list of rules
(``rows.REASONS``, in order: a row is rejected for the first rule it breaks). Valid rows come
out typed, timestamps as instants in UTC; the others come out as rejects with their line number
and their values as JSON, so nothing is dropped silently.

Line numbers: a CSV record's line is the 1-based physical line it starts on, the header being
line 1 (a blank line counts, though it is no row). Parquet rows are numbered from 1.
A whole file is unreadable (``UnreadableFile``) only without a readable header, with a repeated or
missing header column, or as a corrupt Parquet file.

Histogram buckets are checked per (ts, service) group of otherwise valid rows: every bound
positive or +Inf, counts cumulative (non-decreasing with the bound) and a +Inf bucket (the total
the SLA stages read); a group breaking one is rejected whole. Values (service, location, ids,
ticket state and priority, numbers, timestamps) and header names are trimmed of surrounding
whitespace before they are checked or loaded, and a tickets source declaring its
``priorities`` rejects any other (non-empty) priority. A ticket's ``short_description`` is free
text typed by anyone who can open a ticket: bounded (control characters removed, cut to
``FREE_TEXT_LIMIT`` characters), never a reason to reject a row.

Fast path: a file of the large metric kinds (``rules.FAST_KINDS``) is first read with its timestamps
in the one form exporters write (``rules.UTC_SECONDS``) and without what only rejects need (the
whole record, the reasons); when every row loads that way, that is the result. Otherwise (a row to
reject, another timestamp form) the file is judged row by row as above, so the two never differ.

Small files of one layout are judged together (``parse_records``), each still on its own: the
query's fixed cost is paid once per batch rather than once per file.

Accounting: every data record (row) of a file is either loaded or rejected (``ParsedFile``'s
``rows_in = rows_loaded + rejects.height``); a ticket row loads as up to three events.

Empty fields, and the source's ``missing`` marker (e.g. "?"), are missing values: rejected in a
required field, null in an optional one (``OPTIONAL_FIELDS``). Ticket rows come out as events
(``ticket_events``: a snapshot row becomes New/Resolved/Closed events).

A file's rows keep their own timestamps even when these fall outside the day its name gives
(``landing.partition_day``; an exporter writing local days), so downstream stages select rows by
``ts``.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from pipelines.contracts.sources import Source
from pipelines.ingest.records import (
    FIELDS,
    LINE,
    RECORD_REJECT_SCHEMA,
    UnreadableFile,
    split_csv,
)
from pipelines.ingest.rows import (
    RECORD,
    ROW_NAMES,
    ROW_SCHEMAS,
    SNAPSHOT_EVENTS,
)
from pipelines.ingest.rules import (
    FILE,
    FIRST_OF_SERIES,
    GROUP_REASON,
    VALID,
    SourceRules,
    value_column,
)

BATCH_ROWS = 50_000
"""Rows of small files of one layout judged in one Polars query (a larger file is judged alone:
the per-query cost is paid once per batch, not once per file)."""


@dataclass(frozen=True)
class ParsedFile:
    """``rows`` follow ``ROW_SCHEMAS[kind]``; ``rejects`` follow ``REJECT_SCHEMA``.

    ``rows_in`` counts the file's data rows (CSV records after the header, Parquet rows) and
    ``rows_loaded`` those that loaded: ``rows`` itself for every kind but tickets, whose rows
    become events (a snapshot row up to three)."""

    rows: pl.DataFrame
    rejects: pl.DataFrame
    rows_in: int
    rows_loaded: int


@dataclass(frozen=True)
class LandingRecords:
    """One landing file read, not yet judged: ``records`` are ``__line`` then the file's columns
    (CSV: text; Parquet: its types), ``header`` the CSV header (None for Parquet) and
    ``line_rejects`` the CSV lines rejected while splitting (``records.RECORD_REJECT_SCHEMA``)."""

    label: str
    records: pl.DataFrame
    header: list[str] | None
    line_rejects: pl.DataFrame


def parse_landing_file(
    path: str | Path,
    source: Source,
    known_services: Collection[str],
    file_name: str | None = None,
    fast: bool = True,
) -> ParsedFile:
    """Parse one landing file of ``source`` into typed rows and rejects.

    ``known_services`` are the services declared by valid contracts (any other is rejected);
    ``file_name`` labels the rejects (default: the path as given). Raises ``UnreadableFile`` when
    the file cannot be parsed at all. Ticket rows come out as events (``ticket_events``).
    ``fast=False`` judges every row by the rules even where the fast path (``_every_row_loading``)
    would do: the same result, the reference the fast path is tested against.
    """
    read = read_landing_file(path, source, file_name)
    (parsed,) = parse_records([read], source, known_services, fast)
    if isinstance(parsed, UnreadableFile):
        raise parsed
    return parsed


def read_landing_file(
    path: str | Path, source: Source, file_name: str | None = None
) -> LandingRecords:
    """Read one landing file of ``source`` (``file_name`` labels it, default: the path as given);
    raises ``UnreadableFile`` when it cannot be read at all or lacks a required column."""
    path = Path(path)
    label = file_name or str(path)
    try:
        if source.format == "csv":
            split = split_csv(path.read_bytes(), source.encoding, label)
            read = LandingRecords(label, split.records, split.header, split.rejects)
        else:
            records = pl.read_parquet(path).with_row_index(LINE, offset=1)
            read = LandingRecords(label, records, None, pl.DataFrame(schema=RECORD_REJECT_SCHEMA))
    except (pl.exceptions.PolarsError, OSError) as error:
        raise _unreadable(label, source, error) from None
    columns = read.records.columns
    missing = [
        f"{source.column(field)!r} ({field})"
        for field in source.required_columns()
        if source.column(field) not in columns
    ]
    if missing:
        raise UnreadableFile(
            f"{label}: missing column(s) {', '.join(missing)}; "
            f"the file has {[name for name in columns if name != LINE]}"
        )
    return read


def parse_records(
    files: Sequence[LandingRecords],
    source: Source,
    known_services: Collection[str],
    fast: bool = True,
) -> list[ParsedFile | UnreadableFile]:
    """Judge files read by ``read_landing_file``: for each, its ``ParsedFile``, or the
    ``UnreadableFile`` saying why its values cannot be judged at all (the others still load).

    Small files of one layout (the same columns and types) are judged together, up to
    ``BATCH_ROWS`` rows per query, each file still on its own: a row repeats, a histogram group
    or a ticket's events are those of its file (``rules.FILE``). A batch whose query fails is
    judged file by file, so the failure names its file."""
    batches: list[list[int]] = []
    filling: dict[tuple, tuple[list[int] | None, int]] = {}  # layout → its batch being filled, rows
    for index, file in enumerate(files):
        layout = tuple(file.records.schema.items())
        batch, rows = filling.get(layout, (None, 0))
        if batch is None or rows + file.records.height > BATCH_ROWS:
            batch, rows = [], 0
            batches.append(batch)
        batch.append(index)
        filling[layout] = (batch, rows + file.records.height)
    results: dict[int, ParsedFile | UnreadableFile] = {}
    for batch in batches:
        try:
            judged = _judged([files[index] for index in batch], source, known_services, fast)
        except (pl.exceptions.PolarsError, OSError) as error:
            if len(batch) == 1:
                results[batch[0]] = _unreadable(files[batch[0]].label, source, error)
                continue
            judged = [
                parse_records([files[index]], source, known_services, fast)[0] for index in batch
            ]
        results.update(zip(batch, judged, strict=True))
    return [results[index] for index in range(len(files))]


def _unreadable(label: str, source: Source, error: Exception) -> UnreadableFile:
    reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return UnreadableFile(f"{label}: cannot read as {source.format}: {reason}")


def _judged(
    files: Sequence[LandingRecords],
    source: Source,
    known_services: Collection[str],
    fast: bool,
) -> list[ParsedFile]:
    """Files of one layout judged in one query (``FILE``: each row's index in ``files``)."""
    frame = pl.concat(
        [
            file.records.with_columns(pl.lit(index, pl.UInt32).alias(FILE))
            for index, file in enumerate(files)
        ]
    )
    parsed = SourceRules(source, frame.schema, known_services)
    typed = _every_row_loading(frame.lazy(), parsed) if fast else None
    if typed is None:
        typed = _typed(frame.lazy(), parsed, parsed.values).collect()
    label = pl.col(FILE).replace_strict(
        {index: file.label for index, file in enumerate(files)}, return_dtype=pl.String
    )
    line_rejects = pl.concat(
        [
            file.line_rejects.with_columns(pl.lit(index, pl.UInt32).alias(FILE))
            for index, file in enumerate(files)
        ]
    ).select(
        FILE,
        file=label,
        line=pl.col(LINE),
        reason=pl.col("reason"),
        record=pl.col("record"),
        item_id=parsed.item_id(files[0].header, pl.col(FIELDS))
        if files[0].header is not None
        else pl.lit(None, pl.String),
    )
    valid = typed.filter(pl.col(VALID)).select(
        FILE, LINE, *(pl.col(value_column(field)).alias(field) for field in parsed.values)
    )
    rows = (
        ticket_events(valid, source.ticket_layout)
        if source.kind == "tickets"
        else valid.rename(ROW_NAMES, strict=False)
    ).select(FILE, *ROW_SCHEMAS[source.kind])
    rule_rejects = (
        typed.filter(~pl.col(VALID)).select(
            FILE,
            file=label,
            line=pl.col(LINE).cast(pl.Int64),
            reason=parsed.first_reason(),
            record=pl.col(RECORD).struct.json_encode(),
            item_id=parsed.item_id(),
        )
        if RECORD in typed.columns
        else line_rejects.clear()
    )
    rejects = pl.concat([line_rejects, rule_rejects]).sort(FILE, "line")
    loaded = dict(valid.group_by(FILE).len().iter_rows())
    return [
        ParsedFile(
            rows=file_rows,
            rejects=file_rejects,
            rows_in=file.records.height + file.line_rejects.height,
            rows_loaded=loaded.get(index, 0),
        )
        for index, (file, file_rows, file_rejects) in enumerate(
            zip(files, _by_file(rows, len(files)), _by_file(rejects, len(files)), strict=True)
        )
    ]


def _by_file(frame: pl.DataFrame, files: int) -> list[pl.DataFrame]:
    """The rows of each of ``files`` files, in order, without ``FILE``."""
    if files == 1:
        return [frame.drop(FILE)]
    parts = frame.partition_by(FILE, as_dict=True, include_key=False)
    return [parts.get((index,), frame.clear().drop(FILE)) for index in range(files)]


def _typed(frame: pl.LazyFrame, parsed: SourceRules, values: dict[str, pl.Expr]) -> pl.LazyFrame:
    """The records with ``__record`` (the whole record, a Struct; ``__line`` and ``__file`` are
    not part of it), every field's typed value (``values``: ``__<field>``) and whether the row
    loads (``__valid``)."""
    typed = (
        frame.with_columns(
            pl.struct(pl.all().exclude(LINE, FILE)).alias(RECORD),
            **{value_column(field): value for field, value in values.items()},
        )
        .with_columns(parsed.first_of_series().alias(FIRST_OF_SERIES))
        .with_columns(parsed.is_valid().alias(VALID))
    )
    return parsed.with_group_reason(typed).with_columns(
        pl.col(VALID) & pl.col(GROUP_REASON).is_null()
    )


def _every_row_loading(frame: pl.LazyFrame, parsed: SourceRules) -> pl.DataFrame | None:
    """The typed records (``__file`` when there, ``__line`` and the ``__<field>`` values) when
    every one of them loads and their ``ts`` are all written ``YYYY-MM-DDTHH:MM:SSZ`` (or are
    zoned Parquet instants), the common case of the large metric kinds (``rules.FAST_KINDS``),
    read without the costlier general timestamp parser and the whole records; None otherwise
    (the rules then judge row by row: same rows, and the rejects' reasons)."""
    fast = parsed.fast_values()
    if fast is None:
        return None
    keys = [name for name in (FILE, LINE) if name in parsed.columns]
    typed = _typed(frame, parsed, fast).select(*keys, *map(value_column, fast), VALID).collect()
    return typed if typed[VALID].all() else None


def ticket_events(tickets: pl.DataFrame, layout: str) -> pl.DataFrame:
    """Valid ticket rows (the ``tickets`` fields typed, ``__file`` their file, ``__line`` its
    line) → events: ``__file``, ``__line`` then ``ROW_SCHEMAS["tickets"]``.

    A ``log`` row is one event. A ``snapshot`` row becomes up to three events (``SNAPSHOT_EVENTS``:
    New at opened_at, Resolved at resolved_at, Closed at closed_at, those present). ``seq``
    numbers the events of one ticket at one instant in one file from 0, in file order (a
    snapshot's in the New, Resolved, Closed order), so (ticket_id, ts, seq) identifies an event
    across re-exports.
    """
    if layout == "snapshot":
        tickets = pl.concat(
            tickets.filter(pl.col(instant).is_not_null()).with_columns(
                ts=pl.col(instant), state=pl.lit(state), __order=pl.lit(order)
            )
            for order, (instant, state) in enumerate(SNAPSHOT_EVENTS)
        ).sort(FILE, LINE, "__order")
    return tickets.with_columns(
        seq=pl.int_range(pl.len(), dtype=pl.Int64).over(FILE, "ticket_id", "ts")
    ).select(FILE, LINE, *list(ROW_SCHEMAS["tickets"]))
