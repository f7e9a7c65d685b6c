"""Property: whatever random damage a landing file of any kind takes (byte flips, inserted fields,
cut lines, a stray quote, a cut last line, another encoding, any line endings), in files with
or without quoted fields, every row of the file is loaded or
rejected, and every undamaged line loads with exactly its values."""

from __future__ import annotations

from collections import Counter

from damage_corpus import LANDINGS
from hypothesis import given, settings
from hypothesis import strategies as st

ENCODINGS = {"utf-8": b"", "latin-1": b"", "cp1252": b"", "utf-16": b"\xff\xfe"}
"""Encodings a file is written in (and declared with), and the byte order mark written first;
utf-16 lines are written little-endian."""
LINE_ENDINGS = ("\n", "\r\n", "\r")
FIELD_TEXT = st.text(st.characters(codec="latin-1", exclude_characters='"\r\n\x00'), max_size=5)


QUOTING = ("none", "first", "all")


def _quoted(line: str, quoting: str) -> str:
    """The line with no field, its first field or every field in quotes (the same record)."""
    fields = line.split(",")
    count = {"none": 0, "first": 1, "all": len(fields)}[quoting]
    return ",".join(f'"{field}"' if index < count else field for index, field in enumerate(fields))


def _damage(draw, line: str, encoding: str, quote: bool) -> bytes:
    """One line, damaged one way (``quote``: a quote inserted), in ``encoding``. Flips never
    write a quote: two quotes on different lines may pair into one valid multi-line field."""
    codec = "utf-16-le" if encoding == "utf-16" else encoding
    if quote:
        at = draw(st.integers(0, len(line)))
        return (line[:at] + '"' + line[at:]).encode(codec)
    kind = draw(
        st.sampled_from(["insert field", "cut", *(["flip"] if codec != "utf-16-le" else [])])
    )
    if kind == "insert field":
        at = draw(st.integers(0, len(line)))
        return (line[:at] + "," + draw(FIELD_TEXT) + line[at:]).encode(codec, errors="replace")
    if kind == "cut":
        return line[: draw(st.integers(0, len(line) - 1))].encode(codec)
    data = bytearray(line.encode(codec))
    data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255).filter(lambda b: b != 34))
    return bytes(data)


@st.composite
def damaged_files(draw) -> tuple[str, str, bytes, list[int]]:
    """(kind, encoding, the damaged file, the data lines left undamaged)."""
    kind = draw(st.sampled_from(sorted(LANDINGS)))
    landing = LANDINGS[kind]
    encoding = draw(st.sampled_from(sorted(ENCODINGS)))
    codec = "utf-16-le" if encoding == "utf-16" else encoding
    damaged = draw(st.sets(st.integers(0, len(landing.lines) - 1), max_size=3))
    endings = draw(st.lists(st.sampled_from(LINE_ENDINGS), min_size=1, max_size=3))
    style = draw(st.sampled_from(["plain", "quoted fields", "a stray quote"]))
    quoted = (
        draw(st.sampled_from(sorted(damaged))) if damaged and style == "a stray quote" else None
    )
    texts = [
        _quoted(line, draw(st.sampled_from(QUOTING))) if style == "quoted fields" else line
        for line in landing.lines
    ]
    lines = [
        _damage(draw, line, encoding, index == quoted) if index in damaged else line.encode(codec)
        for index, line in enumerate(texts)
    ]
    data = ENCODINGS[encoding] + b"".join(
        line + endings[index % len(endings)].encode(codec)
        for index, line in enumerate([landing.header.encode(codec), *lines])
    )
    if draw(st.booleans()):  # the file cut short, in its last line or after it
        last = len(lines[-1]) + len(endings[len(lines) % len(endings)].encode(codec))
        data = data[: len(data) - draw(st.integers(0, last))]
        damaged.add(len(lines) - 1)
    spoiled = {index for line in damaged for index in landing.group_of(line)}
    return kind, encoding, data, [i for i in range(len(landing.lines)) if i not in spoiled]


@settings(max_examples=100, deadline=None)
@given(damaged_files())
def test_every_row_is_accounted_for_and_undamaged_lines_load_exactly(
    tmp_path_factory, damaged_file
) -> None:
    kind, encoding, data, undamaged = damaged_file
    landing = LANDINGS[kind]
    folder = tmp_path_factory.mktemp("property")

    parsed = landing.parse(data, folder, encoding)
    expected = landing.parse(landing.data(undamaged), folder)

    assert parsed.rows_in == parsed.rows_loaded + parsed.rejects.height
    assert expected.rows_loaded == len(undamaged)
    assert not Counter(expected.rows.rows()) - Counter(parsed.rows.rows())
