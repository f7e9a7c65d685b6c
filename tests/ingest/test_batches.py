"""Small files of one layout are judged together (``parse.parse_records``), each still on its
own: the same rows, rejects and counts as parsing them one by one."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from pipelines.contracts.sources import Source
from pipelines.ingest import parse
from pipelines.ingest.parse import (
    UnreadableFile,
    parse_landing_file,
    parse_records,
    read_landing_file,
)

HISTOGRAM = Source(kind="histogram", path="*.csv", format="csv", columns={"ts": "timestamp"})
TICKETS = Source(kind="tickets", path="*.csv", format="csv", layout="log", service="api")

FILES = {
    "histogram": [
        # the same buckets in two files: no duplicate across files; a group is its file's
        "timestamp,service,le,count\n2026-11-20T00:00:00Z,api,0.5,8\n"
        "2026-11-20T00:00:00Z,api,+Inf,10",
        "timestamp,service,le,count\n2026-11-20T00:00:00Z,api,0.5,8\n"
        "2026-11-20T00:00:00Z,api,+Inf,10\n2026-11-20T00:00:00Z,api,0.5,8",
        "timestamp,service,le,count\n2026-11-20T00:00:00Z,api,0.5,8",
        "timestamp,service,le,count\n2026-11-20 00:00:00,api,0.5,8\n",
    ],
    "tickets": [
        # events of one ticket at one instant are numbered within their file
        "ticket_id,ts,state,priority\nT1,2026-11-20T09:00:00Z,New,1\nT1,2026-11-20T09:00:00Z,Open,1",
        'ticket_id,ts,state,priority\nT1,2026-11-20T09:00:00Z,New,1\n"T2,2026-11-20T09:00:00Z,New,1',
        "ticket_id,ts,state,priority\nT1,2026-11-20T09:00:00Z,Open,1\n,2026-11-20T09:00:00Z,New,1",
    ],
}


def _written(tmp_path: Path, texts: list[str]) -> list[Path]:
    paths = []
    for index, text in enumerate(texts):
        path = tmp_path / f"landing-{index}.csv"
        path.write_text(text)
        paths.append(path)
    return paths


def test_files_judged_together_give_what_each_gives_alone(tmp_path) -> None:
    for source in (HISTOGRAM, TICKETS):
        texts = FILES[source.kind]
        paths = _written(tmp_path, texts)
        reads = [read_landing_file(path, source) for path in paths]
        for fast in (True, False):
            together = parse_records(reads, source, {"api"}, fast)
            for path, parsed in zip(paths, together, strict=True):
                alone = parse_landing_file(path, source, {"api"}, fast=fast)
                assert parsed.rows.equals(alone.rows)
                assert parsed.rejects.equals(alone.rejects)
                assert (parsed.rows_in, parsed.rows_loaded) == (alone.rows_in, alone.rows_loaded)
    histograms = parse_records(
        [read_landing_file(path, HISTOGRAM) for path in _written(tmp_path, FILES["histogram"])],
        HISTOGRAM,
        {"api"},
    )
    assert [parsed.rows_loaded for parsed in histograms] == [2, 2, 0, 0]
    assert histograms[1].rejects["reason"].to_list() == ["duplicate row"]
    assert histograms[2].rejects["reason"].to_list() == ["histogram without +Inf bucket"]
    tickets = parse_records(
        [read_landing_file(path, TICKETS) for path in _written(tmp_path, FILES["tickets"])],
        TICKETS,
        {"api"},
    )
    assert [parsed.rows["seq"].to_list() for parsed in tickets] == [[0, 1], [0], [0]]


def test_a_batch_that_fails_is_judged_file_by_file(tmp_path, monkeypatch) -> None:
    """A failure in a batch's query names its file; the other files of the batch still load."""
    paths = _written(tmp_path, FILES["tickets"])
    judged = parse._judged

    def failing_on_the_second(files, *args):
        if any(file.label.endswith("landing-1.csv") for file in files):
            raise pl.exceptions.ComputeError("a broken value\nmore")
        return judged(files, *args)

    monkeypatch.setattr(parse, "_judged", failing_on_the_second)
    results = parse_records([read_landing_file(path, TICKETS) for path in paths], TICKETS, {"api"})

    assert [type(result).__name__ for result in results] == [
        "ParsedFile",
        "UnreadableFile",
        "ParsedFile",
    ]
    assert isinstance(results[1], UnreadableFile)
    assert str(results[1]) == f"{paths[1]}: cannot read as csv: a broken value"
