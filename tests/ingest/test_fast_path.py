"""The fast path of the metric kinds (``parse._every_row_loading``: every row loads, timestamps
``YYYY-MM-DDTHH:MM:SSZ``) gives exactly what judging every row by the rules gives: same rows,
same rejects with their lines and reasons, same counts, on well-formed files, on every file of the
damage corpus and on randomly damaged ones; and it is taken for the common well-formed file."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from damage_corpus import LANDINGS, Landing
from hypothesis import given, settings
from hypothesis import strategies as st
from test_damage_corpus import DAMAGES
from test_damage_property import damaged_files

from pipelines.contracts.sources import Source
from pipelines.ingest.parse import (
    ParsedFile,
    UnreadableFile,
    _every_row_loading,
    parse_landing_file,
)
from pipelines.ingest.records import split_csv
from pipelines.ingest.rules import FAST_KINDS, UTC_SECONDS, SourceRules

RULE_DAMAGE: dict[str, dict[str, tuple[str, ...]]] = {
    "requests": {
        "unknown service": ("2026-11-20T03:12:00Z,web,90,0",),
        "missing service": ("2026-11-20T03:12:00Z,,90,0",),
        "padded values": ("2026-11-20T03:12:00Z , api ,  90 ,0 ",),
        "negative counter": ("2026-11-20T03:12:00Z,api,-90,0",),
        "errors above total": ("2026-11-20T03:12:00Z,api,90,91",),
        "fractional counter": ("2026-11-20T03:12:00Z,api,90.5,0",),
        "signed counter": ("2026-11-20T03:12:00Z,api,+90,0",),
        "duplicate row": ("2026-11-20T00:01:00Z,api,90,0",),
        "offset timestamp": ("2026-11-20T04:12:00+01:00,api,90,0",),
        "offset timestamp repeating a row": ("2026-11-20T01:01:00+01:00,api,90,0",),
        "fractional seconds": ("2026-11-20T03:12:00.5Z,api,90,0",),
        "lower-case z": ("2026-11-20T03:12:00z,api,90,0",),
        "naive timestamp": ("2026-11-20T03:12:00,api,90,0",),
        "unparseable timestamp": ("2026-11-31T03:12:00Z,api,90,0",),
        "missing timestamp": (",api,90,0",),
    },
    "histogram": {
        "lower-case inf": ("2026-11-20T00:01:00Z,api,+inf,8",),
        "inf without sign": ("2026-11-20T00:01:00Z,api,inf,8",),
        "not cumulative": ("2026-11-20T00:01:00Z,api,0.5,4",),
        "bound not positive": ("2026-11-20T00:01:00Z,api,0,8",),
        "nan bound": ("2026-11-20T00:01:00Z,api,NaN,8",),
        "without +Inf": ("2026-11-20T00:01:00Z,api,2.5,9",),
        "duplicate bucket": ("2026-11-20T00:01:00Z,api,0.1,5",),
        "exponent bound": ("2026-11-20T00:01:00Z,api,5e-1,8",),
    },
    "probes": {
        "upper-case boolean": ("2026-11-20T03:12:00Z,api,Virginia,FALSE",),
        "numeric boolean": ("2026-11-20T03:12:00Z,api,Virginia,0",),
        "bad boolean": ("2026-11-20T03:12:00Z,api,Virginia,down",),
        "missing location": ("2026-11-20T03:12:00Z,api,,false",),
        "padded location": ("2026-11-20T03:12:00Z,api, Virginia ,false",),
        "missing marker": ("2026-11-20T03:12:00Z,api,?,false",),
    },
}
"""Lines replacing the second data line of a metric kind's corpus file: values some rule
rejects, values only the general parsers read, values on the edge of what loads."""


def _source(landing: Landing, encoding: str = "utf-8") -> Source:
    """The landing's source, read with ``encoding``, "?" marking a missing value."""
    return landing.source.model_copy(update={"encoding": encoding, "missing": "?"})


def _both(landing: Landing, data: bytes, tmp_path: Path, encoding: str = "utf-8") -> ParsedFile:
    """The file parsed with and without the fast path; asserts they agree, returns the first."""
    path = tmp_path / "landing-2026-11-20.csv"
    path.write_bytes(data)
    source = _source(landing, encoding)
    fast = parse_landing_file(path, source, landing.services)
    rules = parse_landing_file(path, source, landing.services, fast=False)
    assert fast.rows.equals(rules.rows)
    assert fast.rows.schema == rules.rows.schema
    assert fast.rejects.equals(rules.rejects)
    assert (fast.rows_in, fast.rows_loaded) == (rules.rows_in, rules.rows_loaded)
    return fast


def _takes_fast_path(landing: Landing, data: bytes) -> bool:
    split = split_csv(data, "utf-8", "landing.csv")
    parsed = SourceRules(_source(landing), split.records.collect_schema(), landing.services)
    return _every_row_loading(split.records.lazy(), parsed) is not None


@pytest.mark.parametrize("kind", FAST_KINDS)
def test_a_well_formed_file_takes_the_fast_path_and_loads_whole(kind: str, tmp_path) -> None:
    landing = LANDINGS[kind]
    assert _takes_fast_path(landing, landing.data())
    parsed = _both(landing, landing.data(), tmp_path)
    assert parsed.rows_loaded == parsed.rows_in == len(landing.lines)
    assert parsed.rejects.is_empty()


@pytest.mark.parametrize(
    ("kind", "damage"),
    [(kind, damage) for kind, damages in RULE_DAMAGE.items() for damage in damages],
)
def test_rule_damage_gives_the_same_rows_and_rejects(kind: str, damage: str, tmp_path) -> None:
    landing = LANDINGS[kind]
    lines = list(landing.lines)
    lines[1:2] = RULE_DAMAGE[kind][damage]
    data = Landing(landing.source, landing.header, tuple(lines)).data()
    parsed = _both(landing, data, tmp_path)
    assert parsed.rows_in == len(lines)
    if not parsed.rejects.is_empty():
        assert not _takes_fast_path(landing, data)


def test_rule_damage_is_rejected_with_its_line_and_reason(tmp_path) -> None:
    """Hand-checked: what the rules say of a few damaged lines (the agreement above holds them)."""
    landing = LANDINGS["requests"]
    lines = list(landing.lines)
    lines[1] = "2026-11-20T03:12:00Z,api,90,91"
    lines[3] = "2026-11-20T00:01:00Z,api,70,0"
    data = Landing(landing.source, landing.header, tuple(lines)).data()
    parsed = _both(landing, data, tmp_path)
    assert parsed.rejects.select("line", "reason").rows() == [
        (3, "errors greater than total"),
        (5, "duplicate row"),
    ]
    assert parsed.rows["total"].to_list() == [100, 80]


@pytest.mark.parametrize("damage", DAMAGES)
@pytest.mark.parametrize("kind", FAST_KINDS)
def test_line_damage_gives_the_same_rows_and_rejects(kind: str, damage: str, tmp_path) -> None:
    landing = LANDINGS[kind]
    damaged = DAMAGES[damage](landing)
    if damaged.file_error is not None:
        with pytest.raises(UnreadableFile, match=damaged.file_error):
            _both(landing, damaged.data, tmp_path, damaged.encoding)
        return
    parsed = _both(landing, damaged.data, tmp_path, damaged.encoding)
    assert parsed.rows_loaded == len(damaged.loads)


@settings(max_examples=100, deadline=None)
@given(damaged_files())
def test_random_damage_gives_the_same_rows_and_rejects(tmp_path_factory, damaged_file) -> None:
    kind, encoding, data, _ = damaged_file
    _both(LANDINGS[kind], data, tmp_path_factory.mktemp("fast"), encoding)


TIMESTAMP_TEXT = st.builds(
    lambda text, at, char: text[:at] + char + text[at + 1 :],
    st.sampled_from(["2026-11-20T03:12:00Z", "2024-02-29T23:59:59Z", "1999-12-31T00:00:60Z"]),
    st.integers(0, 19),
    st.sampled_from([*"0123456789+-:TZ zt.", "", "00", "1"]),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(TIMESTAMP_TEXT, min_size=1, max_size=20))
def test_a_timestamp_read_in_the_fast_form_is_the_instant_the_general_parser_reads(
    texts: list[str],
) -> None:
    text = pl.Series(texts, dtype=pl.String)
    fast = text.str.to_datetime(UTC_SECONDS, time_unit="us", time_zone="UTC", strict=False)
    general = text.str.strip_chars().str.to_datetime(
        "%+", time_unit="us", time_zone="UTC", strict=False
    )
    read = fast.is_not_null()
    assert fast.filter(read).equals(general.filter(read))


def test_sources_the_fast_path_leaves_to_the_rules() -> None:
    """Declared timestamp formats and the other kinds are always judged row by row."""
    columns = pl.Schema({"ts": pl.String, "service": pl.String, "total": pl.String})
    formats = Source(
        kind="requests", path="*.csv", format="csv", time_zone="UTC", timestamp_format="%s"
    )
    assert SourceRules(formats, columns, {"api"}).fast_values() is None
    samples = Source(kind="latency_samples", path="*.csv", format="csv")
    assert SourceRules(samples, columns, {"api"}).fast_values() is None


@pytest.mark.parametrize(
    ("second_line", "fast"),
    [("2026-10-25T01:30:00Z,api,90,0", True), ("2026-10-25T02:30:00,db,90,0", False)],
)
def test_a_declared_zone_gives_the_same_rows(second_line: str, fast: bool, tmp_path) -> None:
    """A zoned ``Z`` timestamp is the same instant whatever the declared zone; a naive one
    (here in the hour Berlin repeats) is left to the rules."""
    landing = LANDINGS["requests"]
    zoned = Landing(
        landing.source.model_copy(update={"time_zone": "Europe/Berlin"}),
        landing.header,
        ("2026-10-25T00:30:00Z,api,100,1", second_line, "2026-10-25T02:30:00Z,db,80,2"),
    )
    assert _takes_fast_path(zoned, zoned.data()) is fast
    parsed = _both(zoned, zoned.data(), tmp_path)
    assert parsed.rows_loaded == 3
    assert parsed.rows["ts"][1] == datetime(2026, 10, 25, 1 if fast else 0, 30, tzinfo=UTC)
