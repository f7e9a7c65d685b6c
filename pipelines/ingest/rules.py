"""The typed values and reject rules of one source's rows (``SourceRules``), as vectorised Polars
expressions over the file's text (or Parquet) columns: what ``parse.parse_landing_file`` applies
to every file. Each canonical field is parsed by its type (``rows.FIELD_TYPES``): text trimmed,
the source's ``missing`` marker null, integers, numbers, booleans (``BOOLEANS``), free text
bounded, timestamps by the source's format or ISO 8601 (naive ones in the source's zone); each
row is then judged by ``rows.REASONS`` in order, histogram groups as a whole."""

from __future__ import annotations

import re
from collections.abc import Collection

import polars as pl

from pipelines.contracts.sources import CANONICAL_FIELDS, Source
from pipelines.ingest.rows import (
    DTYPES,
    DUPLICATE_KEYS,
    FIELD_TYPES,
    FREE_TEXT_LIMIT,
    ITEM_ID_FIELDS,
    RECORD,
    SERIES_FIELDS,
    SURVEY_SCALES,
    UTC,
    timestamp_reasons,
)

VALID = "__valid"
FILE = "__file"
"""The index of a row's file when several files are judged together: a row repeats, a wall-clock
time falls back and a histogram group lies within its own file."""
FIRST_OF_SERIES = "__first_of_series"
GROUP_REASON = "__group_reason"

ISO_NAIVE_FORMATS = ("%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f")
BOOLEANS = {"true": True, "false": False, "1": True, "0": False}
FAST_KINDS = ("requests", "histogram", "probes")
"""The large metric kinds, whose files are tried first with ``UTC_SECONDS`` timestamps."""
UTC_SECONDS = "%Y-%m-%dT%H:%M:%SZ"


def value_column(field: str) -> str:
    return f"__{field}"


class SourceRules:
    """The parsing expressions of one source over one file's columns (or several files' of one
    layout, told apart by a ``FILE`` column).

    ``values`` turn the file's columns into the typed fields (null where a value is missing or
    does not parse); ``first_of_series`` flags repeated rows over the typed fields.
    ``is_valid`` is the cheap test run on every row; ``first_reason`` explains a failed row and
    runs on the rejects only.
    """

    def __init__(self, source: Source, columns: pl.Schema, known_services: Collection[str]):
        self.source = source
        self.columns = columns
        self.known_services = list(known_services)
        self.fields = source.read_fields()
        self.optional = source.optional_fields()
        self.markers = [""] if source.missing is None else ["", source.missing]
        self.per_file = [FILE] if FILE in columns else []
        parsers = {
            "timestamp": self._timestamp,
            "counter": self._integer,
            "bucket": self._number,  # "+Inf" (any case) is infinity
            "number": self._number,
            "boolean": self._boolean,
            "text": self._text,
            "free_text": self._free_text,
        }
        self.values: dict[str, pl.Expr] = {
            field: (
                pl.lit(None, DTYPES[self._type(field)])
                if self._absent(field)
                else parsers[self._type(field)](field)
            )
            for field in CANONICAL_FIELDS[source.kind]
            if field in self.fields
        }
        if source.service is not None:
            self.values["service"] = pl.lit(source.service, pl.String)

    def fast_values(self) -> dict[str, pl.Expr] | None:
        """``values`` with ``ts`` read in the one form ``UTC_SECONDS`` (null otherwise), for a
        text ``ts`` of a source in ``FAST_KINDS`` without declared timestamp formats; ``values``
        themselves for a ``ts`` that is already an instant (a zoned Parquet Datetime); else None.
        Where it reads a ``ts``, the general parser (``%+``) reads the same instant."""
        source = self.source
        if source.kind not in FAST_KINDS or self._absent("ts"):
            return None
        dtype = self._dtype("ts")
        if isinstance(dtype, pl.Datetime) and dtype.time_zone is not None:
            return self.values
        if source.timestamp_formats is not None or dtype != pl.String:
            return None
        ts = pl.col(source.column("ts")).str.to_datetime(
            UTC_SECONDS, time_unit="us", time_zone="UTC", strict=False
        )
        return self.values | {"ts": ts}

    def is_valid(self) -> pl.Expr:
        """True for a row that loads: every field parsed, no rule broken (never null)."""
        value = {field: pl.col(value_column(field)) for field in self.values}
        checks = [
            value[field].is_not_null() | self._missing(field)
            if field in self.optional
            else value[field].is_not_null()
            for field in self.values
            if self._type(field) != "free_text"  # never a reason to reject
        ]
        checks.append(value["service"].is_in(self.known_services))
        # null values (optional fields) are settled by the checks above
        checks += [(value[field] >= 0).fill_null(True) for field in self._of_type("counter")]
        checks += [value[field].is_not_nan().fill_null(True) for field in self._of_type("bucket")]
        checks += [value[field].is_finite().fill_null(True) for field in self._of_type("number")]
        checks += [~broken for _, broken in self._kind_rules()]
        checks.append(pl.col(FIRST_OF_SERIES))
        return pl.all_horizontal(checks).fill_null(False)

    def first_reason(self) -> pl.Expr:
        """The first of ``rows.REASONS`` a failed row breaks (String)."""
        value = {field: pl.col(value_column(field)) for field in self.values}
        rules: list[tuple[str, pl.Expr]] = []
        timestamps = self._of_type("timestamp")
        if "ts" in timestamps:
            rules += self._timestamp_rules("ts")
        rules += [
            ("missing service", self._missing("service")),
            ("unknown service", ~value["service"].is_in(self.known_services)),
        ]
        rules += [
            (f"missing {field.replace('_', ' ')}", self._missing(field))
            for field in self._of_type("text")
            if field != "service" and field not in self.optional
        ]
        for field in timestamps:
            if field != "ts":
                rules += self._timestamp_rules(field)
        for field in self._of_type("bucket"):
            rules += [
                ("missing bucket bound", self._missing(field)),
                ("unparseable bucket bound", value[field].is_null() | value[field].is_nan()),
            ]
        numbers = self._of_type("counter") + self._of_type("number")
        required = [field for field in numbers if field not in self.optional]
        if required:
            rules.append(
                ("missing number", pl.any_horizontal(self._missing(field) for field in required))
            )
        if numbers:
            rules.append(
                (
                    "unparseable number",
                    pl.any_horizontal(
                        (value[field].is_null() & ~self._missing(field))
                        | ~value[field].is_finite().fill_null(True)
                        for field in numbers
                    ),
                )
            )
        counters = self._of_type("counter")
        if counters:
            rules.append(
                ("negative counter", pl.any_horizontal(value[field] < 0 for field in counters))
            )
        for field in self._of_type("boolean"):
            rules += [
                ("missing boolean", self._missing(field)),
                ("bad boolean", value[field].is_null()),
            ]
        rules += self._kind_rules()
        rules.append(("duplicate row", ~pl.col(FIRST_OF_SERIES)))
        chain = pl.when(rules[0][1]).then(pl.lit(rules[0][0]))
        for reason, broken in rules[1:]:
            chain = chain.when(broken).then(pl.lit(reason))
        return chain.otherwise(pl.col(GROUP_REASON))

    def _kind_rules(self) -> list[tuple[str, pl.Expr]]:
        """Rules across fields of one kind: (reason, broken), never null."""
        value = {field: pl.col(value_column(field)) for field in self.values}

        def before(later: str, earlier: str) -> pl.Expr:
            return (value[later] < value[earlier]).fill_null(False)

        kind = self.source.kind
        if kind == "requests":
            return [
                ("errors greater than total", (value["errors"] > value["total"]).fill_null(False))
            ]
        if kind == "tickets":
            rules = [
                ("resolved before opened", before("resolved_at", "opened_at")),
                ("closed before opened", before("closed_at", "opened_at")),
            ]
            if self.source.priorities is not None:
                unknown = ~value["priority"].is_in(self.source.priorities)
                rules.append(("unknown priority", unknown.fill_null(False)))
            return rules
        if kind == "security_incidents":
            return [
                ("detected before occurred", before("detected_at", "occurred_at")),
                ("contained before detected", before("contained_at", "detected_at")),
            ]
        if kind in ("backup_runs", "restore_tests"):
            return [("finished before started", before("finished_at", "started_at"))]
        if kind == "survey_responses":
            low = value["survey"].replace_strict(
                {survey: low for survey, (low, _) in SURVEY_SCALES.items()},
                default=None,
                return_dtype=pl.Float64,
            )
            high = value["survey"].replace_strict(
                {survey: high for survey, (_, high) in SURVEY_SCALES.items()},
                default=None,
                return_dtype=pl.Float64,
            )
            score = value["score"]
            return [
                ("unknown survey", ~value["survey"].is_in(list(SURVEY_SCALES)).fill_null(False)),
                (
                    "score out of range",
                    ((score < low) | (score > high) | (score != score.floor())).fill_null(False),
                ),
            ]
        if kind == "latency_samples":
            return [("negative latency", (value["latency_seconds"] < 0).fill_null(False))]
        return []

    def first_of_series(self) -> pl.Expr:
        """False for a row repeating the key (``DUPLICATE_KEYS``) of an earlier row of the file."""
        key = [
            pl.col(RECORD) if field == RECORD else pl.col(value_column(field))
            for field in DUPLICATE_KEYS[self.source.kind]
            if field in self.values or field == RECORD
        ]
        if not key:
            return pl.lit(True)
        return pl.struct(*map(pl.col, self.per_file), *key).is_first_distinct()

    def with_group_reason(self, typed: pl.LazyFrame) -> pl.LazyFrame:
        """``typed`` (the typed values and ``VALID``) with ``GROUP_REASON``: why a histogram row's
        (ts, service) group is rejected (String, null when it loads), judged on the group's
        otherwise valid rows; null for other kinds. A group is not cumulative when a count is
        below the one before it in the order of the bounds: the valid rows are sorted once and
        compared with the row before, rather than sorted group by group."""
        if self.source.kind != "histogram":
            return typed.with_columns(pl.lit(None, pl.String).alias(GROUP_REASON))
        group = [*self.per_file, value_column("ts"), value_column("service")]
        bound, count = pl.col(value_column("le")), pl.col(value_column("count"))
        same_group = pl.all_horizontal(pl.col(key) == pl.col(key).shift(1) for key in group)
        groups = (
            typed.filter(pl.col(VALID))
            .select(*group, bound, count)
            .sort(*group, bound)
            .with_columns(step_down=same_group & (count < count.shift(1)))
            .group_by(group)
            .agg(
                not_positive=(bound <= 0).any(),
                not_cumulative=pl.col("step_down").any(),
                no_inf=~(bound == float("inf")).any(),
            )
        )
        reason = (
            pl.when(pl.col("not_positive"))
            .then(pl.lit("bucket bound not positive"))
            .when(pl.col("not_cumulative"))
            .then(pl.lit("histogram not cumulative"))
            .when(pl.col("no_inf"))
            .then(pl.lit("histogram without +Inf bucket"))
        )
        return (
            typed.join(groups, on=group, how="left", maintain_order="left")
            .with_columns(pl.when(pl.col(VALID)).then(reason).alias(GROUP_REASON))
            .drop("not_positive", "not_cumulative", "no_inf")
        )

    def item_id(self, header: list[str] | None = None, fields: pl.Expr | None = None) -> pl.Expr:
        """The id of the item a rejected row is about (``ITEM_ID_FIELDS``; String, trimmed, null
        when missing or the kind has none): from the row's column, or from ``fields`` (a
        List of the line's texts) at the column's place in ``header``."""
        field = ITEM_ID_FIELDS.get(self.source.kind)
        if field is None or self._absent(field):
            return pl.lit(None, pl.String)
        column = self.source.column(field)
        if fields is None:
            text = pl.col(column).cast(pl.String)
        else:
            text = fields.list.get(header.index(column), null_on_oob=True)
        text = text.str.strip_chars()
        return pl.when(~self._is_marker(text)).then(text)

    def _type(self, field: str) -> str:
        return FIELD_TYPES.get(field, "text")

    def _of_type(self, field_type: str) -> list[str]:
        """The parsed fields of a type, fixed values excluded."""
        return [
            field
            for field in self.values
            if self._type(field) == field_type and field in self.fields
        ]

    def _absent(self, field: str) -> bool:
        """An optional field whose column the file lacks: null on every row."""
        return self.source.column(field) not in self.columns

    def _dtype(self, field: str) -> pl.DataType:
        return self.columns[self.source.column(field)]

    def _missing(self, field: str) -> pl.Expr:
        """True where the field has no value (null, empty, the source's missing marker)."""
        if field not in self.fields:  # a fixed value
            return pl.lit(False)
        if self._absent(field):
            return pl.lit(True)
        if self._dtype(field) == pl.String:
            text = self._source_text(field)
            return text.is_null() | self._is_marker(text)
        return pl.col(self.source.column(field)).is_null()

    def _source_text(self, field: str) -> pl.Expr:
        """The field's column as text, trimmed of surrounding whitespace."""
        column = pl.col(self.source.column(field))
        text = column if self._dtype(field) == pl.String else column.cast(pl.String)
        return text.str.strip_chars()

    def _string(self, field: str) -> pl.Expr:
        """The field as text, null where missing."""
        text = self._source_text(field)
        return pl.when(~self._is_marker(text)).then(text)

    def _is_marker(self, text: pl.Expr) -> pl.Expr:
        """True where the text is empty or the source's missing marker."""
        return pl.any_horizontal(text == marker for marker in self.markers)

    def _text(self, field: str) -> pl.Expr:
        if field == "survey":
            return self._string(field).str.strip_chars().str.to_lowercase()
        return self._string(field)

    def _free_text(self, field: str) -> pl.Expr:
        """Text as typed (a ticket's short description), bounded: tabs and line breaks become a
        space, every other control character and every bidirectional override or isolate
        (which can make text display in another order than it is stored) is removed, the rest
        trimmed and cut to ``FREE_TEXT_LIMIT`` characters; null where missing or nothing is left."""
        text = (
            pl.col(self.source.column(field))
            .cast(pl.String)
            .str.replace_all(r"[\t\n\r]+", " ")
            .str.replace_all(r"[\p{Cc}\x{200E}\x{200F}\x{202A}-\x{202E}\x{2066}-\x{2069}]+", "")
            .str.strip_chars()
        )
        return pl.when(~self._is_marker(text)).then(text.str.slice(0, FREE_TEXT_LIMIT))

    def _integer(self, field: str) -> pl.Expr:
        """An Int64 counter; text that is not an integer, or a fractional float, becomes null."""
        column = pl.col(self.source.column(field))
        dtype = self._dtype(field)
        if dtype.is_float():
            return pl.when(column == column.floor()).then(column.cast(pl.Int64, strict=False))
        if dtype.is_integer():
            return column.cast(pl.Int64, strict=False)
        return column.cast(pl.String).str.strip_chars().str.to_integer(strict=False)

    def _number(self, field: str) -> pl.Expr:
        """A Float64 measurement (score, seconds); text that is not a number becomes null."""
        column = pl.col(self.source.column(field))
        if self._dtype(field) == pl.String:
            return column.str.strip_chars().cast(pl.Float64, strict=False)
        return column.cast(pl.Float64, strict=False)

    def _boolean(self, field: str) -> pl.Expr:
        """A Boolean from true/false/1/0 (any case), a Boolean or an integer 0/1; else null."""
        column = pl.col(self.source.column(field))
        if self._dtype(field) == pl.Boolean:
            return column
        return (
            column.cast(pl.String)
            .str.strip_chars()
            .str.to_lowercase()
            .replace_strict(BOOLEANS, default=None, return_dtype=pl.Boolean)
        )

    def _timestamp_rules(self, field: str) -> list[tuple[str, pl.Expr]]:
        """Why a timestamp field failed, in order (``timestamp_reasons``; optional fields may be
        missing)."""
        if self._absent(field):  # an optional field the file lacks: never fails
            return []
        value = pl.col(value_column(field))
        failed = value.is_null() & ~self._missing(field)
        broken = [
            self._missing(field),
            failed & self._wall_clock(field).is_null(),
            failed & pl.lit(self.source.time_zone is None),
            failed,
        ]
        if field in self.optional:
            broken[0] = pl.lit(False)
        return list(zip(timestamp_reasons(field), broken, strict=True))

    def _formats(self) -> tuple[list[str], list[str]]:
        """The (aware, naive) formats of text timestamps: those carrying an offset, the others."""
        formats = self.source.timestamp_formats
        if formats is None:
            return ["%+"], list(ISO_NAIVE_FORMATS)
        aware = [form for form in formats if re.search(r"%[:#]?z|%\+", form)]
        return aware, [form for form in formats if form not in aware]

    def _instant(self, field: str) -> pl.Expr:
        """Timestamps that carry a zone, as UTC instants (null for the others)."""
        dtype = self._dtype(field)
        if isinstance(dtype, pl.Datetime):
            if dtype.time_zone is None:
                return pl.lit(None, UTC)
            return pl.col(self.source.column(field)).dt.convert_time_zone("UTC").cast(UTC)
        aware, _ = self._formats()
        if not aware:
            return pl.lit(None, UTC)
        return pl.coalesce(
            self._string(field).str.to_datetime(form, time_unit="us", time_zone="UTC", strict=False)
            for form in aware
        )

    def _wall_clock(self, field: str) -> pl.Expr:
        """Timestamps without a zone, as naive wall-clock times (null for the others)."""
        dtype = self._dtype(field)
        if isinstance(dtype, pl.Datetime):
            if dtype.time_zone is None:
                return pl.col(self.source.column(field)).cast(pl.Datetime("us"))
            return pl.lit(None, pl.Datetime("us"))
        _, naive = self._formats()
        if not naive:
            return pl.lit(None, pl.Datetime("us"))
        text = self._string(field)
        return pl.coalesce(
            text.str.to_datetime(form, time_unit="us", strict=False) for form in naive
        )

    def _timestamp(self, field: str) -> pl.Expr:
        """A timestamp field as a UTC instant.

        Timestamps with an offset (``Z``, ``+01:00``, a zoned Parquet Datetime) are instants.
        Timestamps without one are wall-clock times in the source's ``time_zone``: converted to
        UTC when a zone is declared, null (rejected as naive) otherwise. A ``ts`` wall-clock time
        that occurs twice when clocks fall back is the earlier instant on its first appearance in
        the series (``SERIES_FIELDS``) and the later one on its repeat (other timestamp fields:
        always the earlier); a time skipped when clocks spring forward is null (rejected as a
        nonexistent local time).
        """
        zone = self.source.time_zone
        if zone is None:
            return self._instant(field)
        ambiguous: pl.Expr = pl.lit("earliest")
        if field == "ts":
            series = pl.struct(
                *map(pl.col, self.per_file),
                self._string(field),
                *(
                    pl.col(self.source.column(name))
                    for name in SERIES_FIELDS[self.source.kind]
                    if name in self.fields
                ),
            )
            ambiguous = (
                pl.when(series.is_first_distinct())
                .then(pl.lit("earliest"))
                .otherwise(pl.lit("latest"))
            )
        local = self._wall_clock(field).dt.replace_time_zone(
            zone, ambiguous=ambiguous, non_existent="null"
        )
        return pl.coalesce(self._instant(field), local.dt.convert_time_zone("UTC"))
