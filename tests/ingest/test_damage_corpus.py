"""The torture corpus: every kind of damage to a landing file of every source kind. Line damage
rejects exactly the damaged lines (with their line and reason) and every other line loads with
exactly its values; every row of the file is loaded or rejected; only a header naming a column
twice, or missing one, fails the whole file."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from damage_corpus import LANDINGS, Landing

from pipelines.ingest.parse import UnreadableFile

DAMAGED = 1
"""The data line damaged (0-based): physical line 3 of the file."""


@dataclass(frozen=True)
class Damaged:
    """A damaged file: its bytes, the encoding to read it with, the rejects expected (physical
    line → reason pattern) and the data lines that must load; or the file error expected."""

    data: bytes
    rejects: dict[int, str] = field(default_factory=dict)
    loads: tuple[int, ...] = ()
    encoding: str = "utf-8"
    file_error: str | None = None


def _lines(landing: Landing) -> list[bytes]:
    return [line.encode() for line in (landing.header, *landing.lines)]


def _with_line(landing: Landing, line: bytes, reason: str, index: int = DAMAGED) -> Damaged:
    """The file with data line ``index`` replaced by ``line``, expected rejected for ``reason``."""
    lines = _lines(landing)
    lines[index + 1] = line
    others = tuple(i for i in range(len(landing.lines)) if i != index)
    return Damaged(b"".join(ln + b"\n" for ln in lines), {index + 2: reason}, others)


def _inserted(landing: Landing, insert: bytes, reason: str, offset: int = 1) -> Damaged:
    """``insert`` put into the damaged line's second field, ``offset`` characters in."""
    line = _lines(landing)[DAMAGED + 1]
    at = line.index(b",") + 1 + offset
    return _with_line(landing, line[:at] + insert + line[at:], reason)


def _fields(landing: Landing, count: int) -> str:
    return f"{count} fields where the header has {landing.header.count(',') + 1}"


def _line_endings(landing: Landing, endings: list[bytes]) -> Damaged:
    lines = _lines(landing)
    data = b"".join(line + endings[i % len(endings)] for i, line in enumerate(lines))
    return Damaged(data, {}, tuple(range(len(landing.lines))))


def _truncated(landing: Landing) -> Damaged:
    lines = _lines(landing)
    last = lines[-1]
    cut = last[: last.index(b",") + 2]  # one byte into the second field
    data = b"".join(line + b"\n" for line in lines[:-1]) + cut
    loads = tuple(range(len(landing.lines) - 1))
    return Damaged(data, {len(lines): _fields(landing, 2)}, loads)


def _blank_line(landing: Landing) -> Damaged:
    """A blank line is skipped: not a row, not a reject; every row loads."""
    lines = _lines(landing)
    lines.insert(DAMAGED + 1, b"")
    return Damaged(b"".join(line + b"\n" for line in lines), {}, tuple(range(len(landing.lines))))


def _renamed_header(landing: Landing, rename: Callable[[list[str]], tuple[list[str], str]]):
    names, error = rename(landing.header.split(","))
    body = landing.data()[len(landing.header) :]
    return Damaged(",".join(names).encode() + body, file_error=error)


def _duplicate(names: list[str]) -> tuple[list[str], str]:
    return [names[0], names[0], *names[2:]], f"duplicate column '{names[0]}' in the header"


def _missing(names: list[str]) -> tuple[list[str], str]:
    return [f"{names[0]}_renamed", *names[1:]], rf"missing column\(s\) '{names[0]}'"


DAMAGES: dict[str, Callable[[Landing], Damaged]] = {
    "non-utf-8 byte": lambda landing: _inserted(landing, b"\xff", "not valid utf-8"),
    "latin-1 line": lambda landing: _inserted(landing, "é".encode("latin-1"), "not valid utf-8"),
    "a field too many": lambda landing: _with_line(
        landing,
        _lines(landing)[DAMAGED + 1] + b",extra",
        _fields(landing, landing.header.count(",") + 2),
    ),
    "a field too few": lambda landing: _with_line(
        landing,
        _lines(landing)[DAMAGED + 1].rpartition(b",")[0],
        _fields(landing, landing.header.count(",")),
    ),
    "unbalanced quote": lambda landing: _inserted(landing, b'"', "unbalanced quote", offset=0),
    "quote inside a field": lambda landing: _inserted(
        landing, b'"', "quote inside an unquoted field"
    ),
    "text after a closing quote": lambda landing: _inserted(
        landing, b'"x"', "text after a closing quote", offset=0
    ),
    "CR line endings": lambda landing: _line_endings(landing, [b"\r"]),
    "CRLF line endings": lambda landing: _line_endings(landing, [b"\r\n"]),
    "mixed line endings": lambda landing: _line_endings(landing, [b"\n", b"\r\n", b"\r"]),
    "truncated last line": _truncated,
    "inserted blank line": _blank_line,
    "NUL byte": lambda landing: _inserted(landing, b"\x00", "NUL byte"),
    "byte order mark": lambda landing: Damaged(
        b"\xef\xbb\xbf" + landing.data(), {}, tuple(range(len(landing.lines)))
    ),
    "utf-16 declared": lambda landing: Damaged(
        landing.data(encoding="utf-16"), {}, tuple(range(len(landing.lines))), "utf-16"
    ),
    "duplicated header name": lambda landing: _renamed_header(landing, _duplicate),
    "missing header column": lambda landing: _renamed_header(landing, _missing),
}


@pytest.mark.parametrize("damage", DAMAGES)
@pytest.mark.parametrize("kind", LANDINGS)
def test_damage_is_quarantined_to_its_lines(tmp_path, kind: str, damage: str) -> None:
    landing = LANDINGS[kind]
    damaged = DAMAGES[damage](landing)
    if damaged.file_error is not None:
        with pytest.raises(UnreadableFile, match=damaged.file_error):
            landing.parse(damaged.data, tmp_path)
        return

    parsed = landing.parse(damaged.data, tmp_path, damaged.encoding)
    # what the undamaged lines alone load, each line once (the clean file loads whole)
    undamaged = landing.parse(landing.data(list(damaged.loads)), tmp_path)
    assert undamaged.rejects.is_empty()
    assert undamaged.rows_loaded == len(damaged.loads)

    assert parsed.rows_in == parsed.rows_loaded + parsed.rejects.height
    assert parsed.rows_in == len(damaged.loads) + len(damaged.rejects)
    assert parsed.rows.equals(undamaged.rows)
    assert parsed.rejects["line"].to_list() == list(damaged.rejects)
    for reason, expected in zip(parsed.rejects["reason"], damaged.rejects.values(), strict=True):
        assert re.fullmatch(expected, reason)
