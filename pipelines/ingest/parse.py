"""One landing file of a source → typed rows and rejects (pure: Polars only, no warehouse).

A CSV file is read with every column as text, so nothing is lost on the way in; Parquet keeps its
types. Every canonical field is then parsed with vectorised expressions and each row is checked
against a fixed list of rules (``REASONS``, in order: a row is rejected for the first rule it
breaks). Valid rows come out typed, timestamps as instants in UTC; the others come out as rejects
with their line number and their values as JSON, so nothing is dropped silently.

Line numbers: CSV lines are 1-based with the header on line 1 (the first data row is line 2; a
blank line counts and is rejected as a missing timestamp; a quoted field spanning lines would shift
later numbers). Parquet rows are numbered from 1. A CSV line with more fields than the header makes
the whole file unreadable (the reader cannot tell which line), a shorter one has missing values.

Partition days come from file names: the first group of the source's ``date_pattern`` found in a
file's name is the UTC day it belongs to. Its rows keep their own timestamps even when these fall
outside that day (an exporter writing local days), so downstream stages select rows by ``ts``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import polars as pl

from pipelines.spec.sources import CANONICAL_FIELDS, Source

UTC = pl.Datetime("us", "UTC")

ROW_SCHEMAS: dict[str, dict[str, pl.DataType]] = {
    "requests": {"ts": UTC, "service": pl.String(), "total": pl.Int64(), "errors": pl.Int64()},
    "histogram": {
        "ts": UTC,
        "service": pl.String(),
        "le_seconds": pl.Float64(),
        "count": pl.Int64(),
    },
    "probes": {"ts": UTC, "service": pl.String(), "location": pl.String(), "up": pl.Boolean()},
}
"""The typed rows of each source kind."""

REJECT_SCHEMA: dict[str, pl.DataType] = {
    "file": pl.String(),
    "line": pl.Int64(),
    "reason": pl.String(),
    "record": pl.String(),
}

IDENTITY_FIELDS = {
    "requests": ("service",),
    "histogram": ("service", "le"),
    "probes": ("service", "location"),
}
"""Fields that, with the timestamp, identify one measurement: a second row with them repeats it."""

REASONS = (
    "missing timestamp",
    "unparseable timestamp",
    "naive timestamp",
    "nonexistent local time",
    "missing service",
    "unknown service",
    "missing location",
    "missing bucket bound",
    "unparseable bucket bound",
    "missing number",
    "unparseable number",
    "negative counter",
    "errors greater than total",
    "missing boolean",
    "bad boolean",
    "duplicate row",
)
"""Every reason a row can be rejected for, in the order the rules are applied."""

ISO_NAIVE_FORMATS = ("%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f")
BOOLEANS = {"true": True, "false": False, "1": True, "0": False}

_LINE = "__line"
_RECORD = "__record"
_VALID = "__valid"
_FIRST = "__first_of_series"


class UnreadableFile(ValueError):
    """A file that cannot be parsed at all (corrupt, not UTF-8, required columns missing)."""


@dataclass(frozen=True)
class ParsedFile:
    """``rows`` follow ``ROW_SCHEMAS[kind]``; ``rejects`` follow ``REJECT_SCHEMA``."""

    rows: pl.DataFrame
    rejects: pl.DataFrame


def parse_landing_file(
    path: str | Path, source: Source, known_services: Collection[str], file_name: str | None = None
) -> ParsedFile:
    """Parse one landing file of ``source`` into typed rows and rejects.

    ``known_services`` are the services declared by valid contracts (any other is rejected);
    ``file_name`` labels the rejects (default: the path as given). Raises ``UnreadableFile`` when
    the file cannot be parsed at all.
    """
    path = Path(path)
    label = file_name or str(path)
    try:
        frame = _scan(path, source.format)
        columns = frame.collect_schema()
        missing = [
            f"{source.column(field)!r} ({field})"
            for field in CANONICAL_FIELDS[source.kind]
            if source.column(field) not in columns
        ]
        if missing:
            raise UnreadableFile(
                f"{label}: missing column(s) {', '.join(missing)}; "
                f"the file has {[name for name in columns if name != _LINE]}"
            )
        parsed = _Parsed(source, columns, known_services)
        typed = (
            frame.with_columns(
                pl.struct(pl.all().exclude(_LINE)).alias(_RECORD),
                **{_value(field): value for field, value in parsed.values.items()},
            )
            .with_columns(parsed.first_of_series().alias(_FIRST))
            .with_columns(parsed.is_valid().alias(_VALID))
            .collect()
        )
    except (pl.exceptions.PolarsError, OSError) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise UnreadableFile(f"{label}: cannot read as {source.format}: {reason}") from None
    rows = typed.filter(pl.col(_VALID)).select(
        pl.col(_value(field)).alias(field) for field in ROW_SCHEMAS[source.kind]
    )
    rejects = typed.filter(~pl.col(_VALID)).select(
        file=pl.lit(label, pl.String),
        line=pl.col(_LINE).cast(pl.Int64),
        reason=parsed.first_reason(),
        record=pl.col(_RECORD).struct.json_encode(),
    )
    return ParsedFile(rows=rows, rejects=rejects)


def file_sha256(path: str | Path) -> str:
    """Hex sha256 of a file's bytes (what makes two landing files the same file)."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def landing_files(landing_dir: str | Path, source: Source) -> list[Path]:
    """The files under ``landing_dir`` matching the source's glob, sorted by path."""
    return sorted(path for path in Path(landing_dir).glob(source.path) if path.is_file())


def partition_day(file_name: str, date_pattern: str) -> date | None:
    """The day named in a file name: the first group of ``date_pattern`` (the whole match when
    the pattern has no group) read as an ISO date (``2026-11-20`` or ``20261120``); None when the
    name holds no such date."""
    match = re.search(date_pattern, file_name)
    if match is None:
        return None
    try:
        return date.fromisoformat(match.group(1) if match.re.groups else match.group(0))
    except ValueError:
        return None


def files_of_day(files: Iterable[Path], date_pattern: str, day: date) -> list[Path]:
    """The files whose name dates them to ``day``."""
    return [path for path in files if partition_day(path.name, date_pattern) == day]


def undated_files(files: Iterable[Path], date_pattern: str) -> list[Path]:
    """The files whose name holds no date: they belong to no partition and are never loaded."""
    return [path for path in files if partition_day(path.name, date_pattern) is None]


def _value(field: str) -> str:
    return f"__{field}"


def _scan(path: Path, file_format: str) -> pl.LazyFrame:
    if file_format == "csv":
        frame = pl.scan_csv(path, infer_schema=False, encoding="utf8", truncate_ragged_lines=False)
        return frame.with_row_index(_LINE, offset=2)
    return pl.scan_parquet(path).with_row_index(_LINE, offset=1)


class _Parsed:
    """The parsing expressions of one source over one file's columns.

    ``values`` turn the file's columns into the typed fields (null where a value is missing or
    does not parse); ``first_of_series`` flags repeated measurements over the typed fields.
    ``is_valid`` is the cheap test run on every row; ``first_reason`` explains a failed row and
    runs on the rejects only.
    """

    def __init__(self, source: Source, columns: pl.Schema, known_services: Collection[str]):
        self.source = source
        self.columns = columns
        self.known_services = list(known_services)
        kind = source.kind
        self.values: dict[str, pl.Expr] = {
            "ts": self._timestamp(),
            "service": self._text("service"),
        }
        if kind == "requests":
            self.values |= {"total": self._integer("total"), "errors": self._integer("errors")}
        elif kind == "histogram":
            self.values |= {"le_seconds": self._bucket_bound(), "count": self._integer("count")}
        else:
            self.values |= {"location": self._text("location"), "up": self._boolean()}

    def is_valid(self) -> pl.Expr:
        """True for a row that loads: every field parsed, no rule broken (never null)."""
        value = {field: pl.col(_value(field)) for field in self.values}
        checks = [column.is_not_null() for column in value.values()]
        checks.append(value["service"].is_in(self.known_services))
        checks += [value[field] >= 0 for field in self._counters()]
        if self.source.kind == "requests":
            checks.append(value["errors"] <= value["total"])
        if self.source.kind == "histogram":
            checks.append(value["le_seconds"].is_not_nan())
        checks.append(pl.col(_FIRST))
        return pl.all_horizontal(checks).fill_null(False)

    def first_reason(self) -> pl.Expr:
        """The first of ``REASONS`` a failed row breaks (String)."""
        value = {field: pl.col(_value(field)) for field in self.values}
        kind = self.source.kind
        rules: dict[str, pl.Expr] = {
            "missing timestamp": self._missing("ts"),
            "unparseable timestamp": value["ts"].is_null() & self._wall_clock().is_null(),
            "naive timestamp": value["ts"].is_null() & pl.lit(self.source.time_zone is None),
            "nonexistent local time": value["ts"].is_null(),
            "missing service": self._missing("service"),
            "unknown service": ~value["service"].is_in(self.known_services),
        }
        if kind == "probes":
            rules["missing location"] = self._missing("location")
        if kind == "histogram":
            rules["missing bucket bound"] = self._missing("le")
            rules["unparseable bucket bound"] = (
                value["le_seconds"].is_null() | value["le_seconds"].is_nan()
            )
        counters = self._counters()
        if counters:
            rules["missing number"] = pl.any_horizontal(self._missing(field) for field in counters)
            rules["unparseable number"] = pl.any_horizontal(
                value[field].is_null() for field in counters
            )
            rules["negative counter"] = pl.any_horizontal(value[field] < 0 for field in counters)
        if kind == "requests":
            rules["errors greater than total"] = value["errors"] > value["total"]
        if kind == "probes":
            rules["missing boolean"] = self._missing("up")
            rules["bad boolean"] = value["up"].is_null()
        rules["duplicate row"] = ~pl.col(_FIRST)
        ordered = [(reason, rules[reason]) for reason in REASONS if reason in rules]
        chain = pl.when(ordered[0][1]).then(pl.lit(ordered[0][0]))
        for reason, broken in ordered[1:]:
            chain = chain.when(broken).then(pl.lit(reason))
        return chain.otherwise(pl.lit(None, pl.String))

    def _counters(self) -> list[str]:
        return {"requests": ["total", "errors"], "histogram": ["count"], "probes": []}[
            self.source.kind
        ]

    def first_of_series(self) -> pl.Expr:
        """False for a row repeating the timestamp and identity of an earlier row of the file."""
        identity = [
            "le_seconds" if field == "le" else field for field in IDENTITY_FIELDS[self.source.kind]
        ]
        return pl.struct(_value("ts"), *map(_value, identity)).is_first_distinct()

    def _dtype(self, field: str) -> pl.DataType:
        return self.columns[self.source.column(field)]

    def _missing(self, field: str) -> pl.Expr:
        column = pl.col(self.source.column(field))
        if self._dtype(field) == pl.String:
            return column.is_null() | (column == "")
        return column.is_null()

    def _text(self, field: str) -> pl.Expr:
        column = pl.col(self.source.column(field))
        text = column if self._dtype(field) == pl.String else column.cast(pl.String)
        return pl.when(text != "").then(text)

    def _integer(self, field: str) -> pl.Expr:
        """An Int64 counter; text that is not an integer, or a fractional float, becomes null."""
        column = pl.col(self.source.column(field))
        dtype = self._dtype(field)
        if dtype.is_float():
            return pl.when(column == column.floor()).then(column.cast(pl.Int64, strict=False))
        if dtype.is_integer():
            return column.cast(pl.Int64, strict=False)
        return column.cast(pl.String).str.to_integer(strict=False)

    def _bucket_bound(self) -> pl.Expr:
        """``le`` in seconds as Float64; "+Inf" (any case) is infinity."""
        column = pl.col(self.source.column("le"))
        if self._dtype("le") == pl.String:
            return column.str.strip_chars().cast(pl.Float64, strict=False)
        return column.cast(pl.Float64, strict=False)

    def _boolean(self) -> pl.Expr:
        """``up`` from true/false/1/0 (any case), a Boolean or an integer 0/1; else null."""
        column = pl.col(self.source.column("up"))
        if self._dtype("up") == pl.Boolean:
            return column
        return (
            column.cast(pl.String)
            .str.strip_chars()
            .str.to_lowercase()
            .replace_strict(BOOLEANS, default=None, return_dtype=pl.Boolean)
        )

    def _timestamp_text(self) -> pl.Expr:
        column = pl.col(self.source.column("ts"))
        return column if self._dtype("ts") == pl.String else column.cast(pl.String)

    def _aware_format(self) -> str | None:
        """The format parsing text timestamps that carry an offset; None when they never do."""
        form = self.source.timestamp_format
        if form is None:
            return "%+"
        return form if re.search(r"%[:#]?z|%\+", form) else None

    def _instant(self) -> pl.Expr:
        """Timestamps that carry a zone, as UTC instants (null for the others)."""
        dtype = self._dtype("ts")
        if isinstance(dtype, pl.Datetime):
            if dtype.time_zone is None:
                return pl.lit(None, UTC)
            return pl.col(self.source.column("ts")).dt.convert_time_zone("UTC").cast(UTC)
        form = self._aware_format()
        if form is None:
            return pl.lit(None, UTC)
        return self._timestamp_text().str.to_datetime(
            form, time_unit="us", time_zone="UTC", strict=False
        )

    def _wall_clock(self) -> pl.Expr:
        """Timestamps without a zone, as naive wall-clock times (null for the others)."""
        dtype = self._dtype("ts")
        if isinstance(dtype, pl.Datetime):
            if dtype.time_zone is None:
                return pl.col(self.source.column("ts")).cast(pl.Datetime("us"))
            return pl.lit(None, pl.Datetime("us"))
        text = self._timestamp_text()
        form = self.source.timestamp_format
        if form is None:
            return pl.coalesce(
                text.str.to_datetime(naive, time_unit="us", strict=False)
                for naive in ISO_NAIVE_FORMATS
            )
        if self._aware_format() is not None:
            return pl.lit(None, pl.Datetime("us"))
        return text.str.to_datetime(form, time_unit="us", strict=False)

    def _timestamp(self) -> pl.Expr:
        """``ts`` as a UTC instant.

        Timestamps with an offset (``Z``, ``+01:00``, a zoned Parquet Datetime) are instants.
        Timestamps without one are wall-clock times in the source's ``time_zone``: converted to
        UTC when a zone is declared, null (rejected as naive) otherwise. A wall-clock time that
        occurs twice when clocks fall back is the earlier instant on its first appearance in the
        series (same identity fields) and the later one on its repeat; a time skipped when clocks
        spring forward is null (rejected as a nonexistent local time).
        """
        zone = self.source.time_zone
        if zone is None:
            return self._instant()
        series = pl.struct(
            self._timestamp_text(),
            *(pl.col(self.source.column(field)) for field in IDENTITY_FIELDS[self.source.kind]),
        )
        local = self._wall_clock().dt.replace_time_zone(
            zone,
            ambiguous=pl.when(series.is_first_distinct())
            .then(pl.lit("earliest"))
            .otherwise(pl.lit("latest")),
            non_existent="null",
        )
        return pl.coalesce(self._instant(), local.dt.convert_time_zone("UTC"))
