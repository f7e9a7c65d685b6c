"""split_csv: records split at the byte level (line endings, RFC 4180 quoting, encodings), each
damaged line rejected on its own with its physical line number, the others kept."""

from __future__ import annotations

from pathlib import Path

import pydantic
import pytest

from pipelines.contracts.sources import Source
from pipelines.ingest.parse import parse_landing_file
from pipelines.ingest.records import split_csv


def test_quoted_fields_may_hold_commas_quotes_and_line_breaks() -> None:
    data = (
        b"id,note,n\r\n"
        b'1,"a, b",10\r\n'
        b'2,"say ""hi""",20\r\n'
        b'3,"two\r\nlines",30\r\n'
        b"4,plain,40"  # the last record needs no line break
    )
    split = split_csv(data, "utf-8", "f.csv")

    assert split.header == ["id", "note", "n"]
    assert split.records.rows() == [
        (2, "1", "a, b", "10"),
        (3, "2", 'say "hi"', "20"),
        (4, "3", "two\r\nlines", "30"),
        (6, "4", "plain", "40"),  # line 5 is the second line of record 3
    ]
    assert split.rejects.is_empty()


def test_each_damaged_line_is_rejected_with_its_line_and_text() -> None:
    data = (
        b"id,note,n\n"
        b"1,ok,10\r"  # CR-only ending
        b"2,caf\xe9,20\n"  # Latin-1
        b"3,a,b,30\n"
        b"4,short\n"
        b"\n"  # blank: skipped, no record and no reject (its line still counts)
        b'5,"open,50\n'  # the quote never closes: only this line goes
        b'6,x"y,60\n'
        b'7,"q"z,70\n'
        b"8,nul\x00,80\n"
        b"9,ok,90\n"
    )
    split = split_csv(data, "utf-8", "f.csv")

    assert split.records.rows() == [(2, "1", "ok", "10"), (11, "9", "ok", "90")]
    assert split.rejects.select("__line", "reason", "record").rows() == [
        (3, "not valid utf-8", "2,caf\\xe9,20"),
        (4, "4 fields where the header has 3", "3,a,b,30"),
        (5, "2 fields where the header has 3", "4,short"),
        (7, "unbalanced quote", '5,"open,50'),
        (8, "quote inside an unquoted field", '6,x"y,60'),
        (9, "text after a closing quote", '7,"q"z,70'),
        (10, "NUL byte", "8,nul\\x00,80"),
    ]
    # the fields of a line that could be split (an item's id is read from them)
    assert split.rejects["__fields"].to_list()[:3] == [
        ["2", "caf\\xe9", "20"],
        ["3", "a", "b", "30"],
        ["4", "short"],
    ]


def test_a_multi_line_record_of_the_wrong_width_gives_up_only_its_first_line() -> None:
    data = b'id,note,n\n1,"unclosed,10\n2,ok",x,y\n3,fine,30\n'
    split = split_csv(data, "utf-8", "f.csv")

    assert split.records.rows() == [(4, "3", "fine", "30")]
    assert split.rejects.select("__line", "reason").rows() == [
        (2, "4 fields where the header has 3"),
        (3, "quote inside an unquoted field"),
    ]


def test_clean_quoted_and_damaged_files_split_alike() -> None:
    """A clean file (read by Polars) gives the same records as with a blank line added (split
    line by line), with a field quoted, and with every field of a line quoted (split by regular
    expressions)."""
    clean = b"id,note,n\n1,a,10\n2,,20\n3,c,\n"
    variants = [
        clean + b"\n",
        clean.replace(b"1,a,10", b'1,"a",10'),
        clean.replace(b"2,,20", b'"2","","20"'),
        b'id,note,n\n"1","a","10"\n2,,20\n3,c,\n',
    ]

    records = split_csv(clean, "utf-8", "f.csv").records
    assert records.rows() == [(2, "1", "a", "10"), (3, "2", "", "20"), (4, "3", "c", "")]
    for data in variants:
        assert split_csv(data, "utf-8", "f.csv").records.equals(records)


@pytest.mark.parametrize(
    ("encoding", "data"),
    [
        ("latin-1", "ts,service,location,up\n{row}\n".encode("latin-1")),
        ("cp1252", "ts,service,location,up\n{row}\n".encode("cp1252")),
        ("utf-16", "ts,service,location,up\r\n{row}\r\n".encode("utf-16")),
        ("utf-8", "\ufeffts,service,location,up\n{row}\n".encode()),
    ],
)
def test_declared_encodings_load_exact_values(tmp_path: Path, encoding: str, data: bytes) -> None:
    location = "Zürich € Œ" if encoding != "latin-1" else "Zürich ½"
    row = f"2026-11-20T00:00:00Z,api,{location},true"
    path = tmp_path / "probes-2026-11-20.csv"
    path.write_bytes(data.decode(encoding).replace("{row}", row).encode(encoding))
    source = Source(kind="probes", path="*.csv", format="csv", encoding=encoding)

    parsed = parse_landing_file(path, source, {"api"})

    assert parsed.rejects.is_empty()
    assert parsed.rows["location"].to_list() == [location]


def test_a_byte_cp1252_leaves_undefined_is_rejected() -> None:
    split = split_csv(b"a,b\n1,\x81\n2,\x80\n", "cp1252", "f.csv")

    assert split.records.rows() == [(3, "2", "€")]
    assert split.rejects.select("__line", "reason", "record").rows() == [
        (2, "not valid cp1252", "1,\\x81")
    ]


def test_an_unknown_encoding_is_a_validation_error() -> None:
    with pytest.raises(pydantic.ValidationError, match="unknown encoding 'utf-9'"):
        Source(kind="probes", path="*.csv", format="csv", encoding="utf-9")
