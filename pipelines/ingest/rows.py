"""What a row of each source kind is: its typed fields (``ROW_SCHEMAS``), what identifies it,
what a reject looks like (``REJECT_SCHEMA``) and every reason a row can be rejected for
(``REASONS``). Shared by the parser (``parse``) and the pullers (``prometheus``)."""

from __future__ import annotations

import polars as pl

from pipelines.contracts.sources import CANONICAL_FIELDS

UTC = pl.Datetime("us", "UTC")

RECORD = "__record"
"""The column holding a whole CSV record while it is parsed (a ticket row's identity)."""

FIELD_TYPES = {
    "ts": "timestamp",
    "opened_at": "timestamp",
    "resolved_at": "timestamp",
    "closed_at": "timestamp",
    "occurred_at": "timestamp",
    "detected_at": "timestamp",
    "contained_at": "timestamp",
    "started_at": "timestamp",
    "finished_at": "timestamp",
    "total": "counter",
    "errors": "counter",
    "count": "counter",
    "reassignment_count": "counter",
    "reopen_count": "counter",
    "le": "bucket",
    "score": "number",
    "latency_seconds": "number",
    "up": "boolean",
    "success": "boolean",
    "short_description": "free_text",
}
"""How each canonical field is parsed; every other field is text."""

FREE_TEXT_LIMIT = 500
"""Characters kept of a free-text field (a ticket's short description), after its control
characters are removed: text typed by anyone who can open a ticket is bounded, and never a reason
to reject a row."""

DTYPES: dict[str, pl.DataType] = {
    "timestamp": UTC,
    "counter": pl.Int64(),
    "bucket": pl.Float64(),
    "number": pl.Float64(),
    "boolean": pl.Boolean(),
    "text": pl.String(),
    "free_text": pl.String(),
}
ROW_NAMES = {"le": "le_seconds"}
"""Raw table columns named differently from their canonical field."""


def _row_schema(kind: str) -> dict[str, pl.DataType]:
    schema = {
        ROW_NAMES.get(field, field): DTYPES[FIELD_TYPES.get(field, "text")]
        for field in CANONICAL_FIELDS[kind]
    }
    if kind == "tickets":  # seq, after ts, orders the events of one ticket at one instant
        columns = list(schema.items())
        after_ts = [name for name, _ in columns].index("ts") + 1
        return dict(columns[:after_ts] + [("seq", pl.Int64())] + columns[after_ts:])
    return schema


ROW_SCHEMAS: dict[str, dict[str, pl.DataType]] = {
    kind: _row_schema(kind) for kind in CANONICAL_FIELDS
}
"""The typed rows of each source kind (the raw table's columns, less partition/source/file)."""

REJECT_SCHEMA: dict[str, pl.DataType] = {
    "file": pl.String(),
    "line": pl.Int64(),
    "reason": pl.String(),
    "record": pl.String(),
    "item_id": pl.String(),
}
"""A rejected row: ``record`` is a CSV line's text when it could not be split into the header's
fields (undecodable bytes written ``\\xNN``), else the row's values as JSON; ``item_id`` the
item's id (``ITEM_ID_FIELDS``, trimmed) when the row's fields could be split, else null."""

ITEM_ID_FIELDS = {
    "tickets": "ticket_id",
    "security_incidents": "incident_id",
    "backup_runs": "run_id",
    "restore_tests": "test_id",
    "survey_responses": "response_id",
}
"""The field naming the item a row is about, for the kinds whose rows are about items."""

DUPLICATE_KEYS: dict[str, tuple[str, ...]] = {
    "requests": ("ts", "service"),
    "histogram": ("ts", "service", "le"),
    "probes": ("ts", "service", "location"),
    "tickets": (RECORD,),
    "security_incidents": ("incident_id",),
    "backup_runs": ("service", "run_id"),
    "restore_tests": ("service", "test_id"),
    "survey_responses": ("service", "response_id"),
    "latency_samples": (),
}
"""Fields whose values identify one row of a file: a later row with the same values repeats it
(rejected as a duplicate). A ticket row repeats only when its whole line is equal (several
updates of a ticket can share a minute); latency samples have no identity (two requests can)."""

SERIES_FIELDS: dict[str, tuple[str, ...]] = {
    "requests": ("service",),
    "histogram": ("service", "le"),
    "probes": ("service", "location"),
    "tickets": ("ticket_id",),
    "survey_responses": ("service", "response_id"),
    "latency_samples": ("service",),
}
"""The series a ``ts`` belongs to: a repeated wall-clock time when clocks fall back is the later
instant on its repeat within a series."""

SNAPSHOT_EVENTS = (("opened_at", "New"), ("resolved_at", "Resolved"), ("closed_at", "Closed"))
"""The state-change events a ticket snapshot row stands for: the state entered at each instant."""

SURVEY_SCALES = {"csat": (1.0, 5.0), "nps": (0.0, 10.0)}
"""Valid scores of each survey (whole numbers within the bounds)."""


def timestamp_reasons(field: str) -> tuple[str, str, str, str]:
    """The reasons a timestamp field fails for, in order: missing, unparseable, naive (no zone
    declared), nonexistent local time (skipped when clocks spring forward)."""
    if field == "ts":
        return (
            "missing timestamp",
            "unparseable timestamp",
            "naive timestamp",
            "nonexistent local time",
        )
    return (
        f"missing {field}",
        f"unparseable {field}",
        f"naive {field}",
        f"nonexistent local {field}",
    )


REASONS = (
    "not valid <encoding>: a byte of the line does not decode",
    "NUL byte",
    "unbalanced quote",
    "text after a closing quote",
    "quote inside an unquoted field",
    "<n> fields where the header has <m>",
    *timestamp_reasons("ts"),
    "missing service",
    "unknown service",
    "missing <field>: a text or id field (location, ticket id, state, incident id, ...)",
    "missing/unparseable/naive/nonexistent local <field>: another timestamp (opened_at, ...)",
    "missing bucket bound",
    "unparseable bucket bound",
    "missing number",
    "unparseable number",
    "negative counter",
    "missing boolean",
    "bad boolean",
    "errors greater than total",
    "resolved before opened",
    "closed before opened",
    "unknown priority",
    "detected before occurred",
    "contained before detected",
    "finished before started",
    "unknown survey",
    "score out of range",
    "negative latency",
    "duplicate row",
    "bucket bound not positive",
    "histogram not cumulative",
    "histogram without +Inf bucket",
)
"""Every reason a row can be rejected for, in the order the rules are applied (a row gets the
first it breaks; ``<field>`` stands for the field's name, underscores as spaces for text). The
first seven are CSV line damage (``records.split_csv``), the last three histogram groups."""
