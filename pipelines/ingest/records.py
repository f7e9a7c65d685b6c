"""One CSV landing file's bytes → its header and records, damage quarantined per line (pure).

The file is decoded with the source's encoding (a leading byte order mark is dropped); a byte that
does not decode is kept, marked, so the line holding it can be rejected while every other line
loads. Records are split as RFC 4180 says: fields separated by commas, a field in double quotes
may hold commas, line breaks and ``""`` (one quote); records end at CR, LF or CRLF, and the last
one may lack its line break.

A blank line (empty, or spaces and tabs only) holds no record: it is skipped, and counts neither
as a record nor as a reject (line numbers still count it). A record is rejected (with its physical
line number, the header being line 1, and its text, bytes that do not decode written ``\\xNN``)
when a byte does not decode, it holds a NUL byte, its quoting is broken, or its field count
differs from the header's. Quoting is broken
when a quoted field never closes, text follows a closing quote or a quote sits inside an unquoted
field: then only the record's first physical line is rejected and splitting resumes on the next
line, so a stray quote never swallows the lines after it. Only a file without a readable header,
or whose header repeats a column name, is unreadable as a whole.

A file without quotes, CR or damage whose every line has the header's width (most exports) is
read by Polars' CSV reader. Any other file is split into physical lines: those that are a
well-quoted record on their own are split with vectorised string operations, the others (a field
spanning lines, broken quoting) record by record with one regular expression. Both give the same
records.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from itertools import accumulate

import polars as pl

LINE = "__line"
FIELDS = "__fields"
_TEXT = "__text"
_BROKEN = "__broken"

_MARKED = "pledge-mark-undecodable"
_UNDECODABLE = re.compile("[\udc00-\udcff]")
"""The marks of bytes that did not decode: U+DC00 + the byte (never produced by a decoder)."""
_DAMAGE = re.compile("[\udc00-\udcff\x00]")

_FIELD = r'(?:"(?:[^"]|"")*+"|[^",\r\n]*+)'
_RECORD = re.compile(rf"({_FIELD}(?:,{_FIELD})*+)(?:\r\n|\r|\n|\Z)|([^\r\n]*)(?:\r\n|\r|\n|\Z)")
"""A well-quoted record and its line break (group 1), else one physical line (group 2)."""
_PHYSICAL_LINE = re.compile(r"([^\r\n]*)(?:\r\n|\r|\n|\Z)")
_FIELD_ON_LINE = re.compile(_FIELD)
_FIELD_AFTER_COMMA = re.compile(rf"(?:^|,)({_FIELD})")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_LINE_BREAK_KEPT = re.compile(r"(\r\n|\r|\n)")

_LINE_FIELD = r'(?:"(?:[^"]|"")*"|[^",]*)'
_RECORD_ON_ITS_OWN = rf"^{_LINE_FIELD}(?:,{_LINE_FIELD})*$"
"""A physical line that is a well-quoted record by itself (Polars regular expression)."""
_COMMA_AND_FIELD = rf",{_LINE_FIELD}"

RECORD_REJECT_SCHEMA: dict[str, pl.DataType] = {
    LINE: pl.Int64(),
    "reason": pl.String(),
    "record": pl.String(),
    FIELDS: pl.List(pl.String()),
}
"""A rejected record: its line, reason, text, and its fields when it could be split (else null)."""


def _mark_undecodable(error: UnicodeError) -> tuple[str, int]:
    if not isinstance(error, UnicodeDecodeError):
        raise error
    marks = "".join(chr(0xDC00 + byte) for byte in error.object[error.start : error.end])
    return marks, error.end


codecs.register_error(_MARKED, _mark_undecodable)


class UnreadableFile(ValueError):
    """A file that cannot be parsed at all (no readable header, a repeated or missing column,
    a corrupt Parquet file)."""


@dataclass(frozen=True)
class CsvRecords:
    """``records``: ``__line`` (Int64) then one String column per header name, in header order,
    for every record that split cleanly; ``rejects``: ``RECORD_REJECT_SCHEMA``."""

    header: list[str]
    records: pl.DataFrame
    rejects: pl.DataFrame


def split_csv(data: bytes, encoding: str, label: str) -> CsvRecords:
    """Split a CSV file's bytes into its header, its clean records and its rejected records.

    Raises ``UnreadableFile`` (naming ``label``) when the file has no readable header or its
    header repeats a column name.
    """
    text, encoded = _decoded(data, encoding)
    if not text:
        raise UnreadableFile(f"{label}: no header line (the file is empty)")
    undecodable = f"not valid {encoding.lower()}"
    damaged = encoded is None or "\x00" in text
    first = _record_at(text, 0, None)
    problem = _damage(first.text, undecodable) or first.problem
    if problem == undecodable:
        problem += f" (is the file in another encoding than the source's {encoding}?)"
    if problem is not None:
        raise UnreadableFile(f"{label}: the header line is not readable: {problem}")
    header = _checked_header([name.strip() for name in first.fields], label)
    if encoded is not None and not ('"' in text or "\r" in text or damaged):
        records = _read_clean(encoded, text, header)
        if records is not None:
            return CsvRecords(header, records, pl.DataFrame(schema=RECORD_REJECT_SCHEMA))

    frame = _data_records(text, first.lines, len(header), undecodable if damaged else None).filter(
        pl.col(_BROKEN).is_not_null() | (pl.col(_TEXT).str.strip_chars(" \t") != "")
    )
    width = len(header)
    count = pl.col(FIELDS).list.len()
    frame = frame.with_columns(
        reason=pl.coalesce(
            pl.col(_BROKEN),
            pl.when(count != width).then(
                pl.format("{} fields where the header has {}", count, pl.lit(width))
            ),
        )
    )
    records = frame.filter(pl.col("reason").is_null()).select(
        LINE, *(pl.col(FIELDS).list.get(index).alias(name) for index, name in enumerate(header))
    )
    rejects = frame.filter(pl.col("reason").is_not_null()).select(
        LINE, "reason", pl.col(_TEXT).alias("record"), FIELDS
    )
    return CsvRecords(header=header, records=records, rejects=rejects)


@dataclass(frozen=True)
class _Record:
    """One record split by ``_record_at``: its text (its first physical line when broken), its
    fields (None when its quoting is broken), why it is broken, the physical lines it spans."""

    text: str
    fields: list[str] | None
    problem: str | None
    lines: int


def _record_at(text: str, position: int, width: int | None) -> _Record:
    """The record starting at ``position``. A record whose quoting is broken, or that spans lines
    with a field count other than ``width``, stands for its first physical line only."""
    match = _RECORD.match(text, position)
    record = match.group(1)
    if record is None:
        line = match.group(2)
        return _Record(line, None, _quoting_problem(line), 1)
    if '"' not in record:
        return _Record(record, record.split(","), None, 1)
    fields = _unquoted_fields(record)
    inner_breaks = len(_LINE_BREAK.findall(record))
    if inner_breaks and width is not None and len(fields) != width:
        line = _PHYSICAL_LINE.match(text, position).group(1)
        return _Record(line, fields, f"{len(fields)} fields where the header has {width}", 1)
    return _Record(record, fields, None, inner_breaks + 1)


def _data_records(
    text: str, header_lines: int, width: int, undecodable: str | None
) -> pl.DataFrame:
    """Every record after the header (which spans ``header_lines``): ``__line``, ``__text``
    (escaped), ``__fields`` (List of String, null when quoting is broken), ``__broken`` (why the
    record cannot load whatever its fields, else null). ``undecodable`` is the reason of a byte
    that did not decode; None when the text has no damage."""
    lines, breaks = _physical_lines(text)
    damage = [_damage(line, undecodable) for line in lines] if undecodable else None
    texts = (
        lines
        if damage is None
        else [_escaped(line) if hurt else line for line, hurt in zip(lines, damage, strict=True)]
    )
    frame = (
        pl.DataFrame(
            {
                LINE: pl.int_range(1, len(lines) + 1, dtype=pl.Int64, eager=True),
                _TEXT: pl.Series(texts, dtype=pl.String),
                _BROKEN: pl.Series(damage or [None] * len(lines), dtype=pl.String),
            }
        )
        .slice(header_lines)
        .with_columns(_SHAPE=_line_shape(pl.col(_TEXT)) if '"' in text else pl.lit(_NO_QUOTE))
    )
    spanning = frame.filter(pl.col("_SHAPE") == _SPANNING)[LINE].to_list()
    spans = _spanning_records(text, lines, breaks, spanning, width, undecodable)
    covered = [line for line, _, _, _, spanned in spans for line in range(line, line + spanned)]
    single = frame.filter(pl.col("_SHAPE") != _SPANNING, ~pl.col(LINE).is_in(covered))
    split = [
        single.filter(pl.col("_SHAPE") == shape).with_columns(splitter.alias(FIELDS))
        for shape, splitter in (
            (_NO_QUOTE, pl.col(_TEXT).str.split(",")),
            (
                _ALL_QUOTED,
                pl.col(_TEXT).str.slice(1, pl.col(_TEXT).str.len_chars() - 2).str.split('","'),
            ),
            (_QUOTED, _split_quoted(pl.col(_TEXT))),
        )
    ]
    spanned = pl.DataFrame(
        [span[:4] for span in spans],
        schema={LINE: pl.Int64, _TEXT: pl.String, FIELDS: pl.List(pl.String), _BROKEN: pl.String},
        orient="row",
    )
    return pl.concat([part.select(spanned.columns) for part in split] + [spanned]).sort(LINE)


_NO_QUOTE, _ALL_QUOTED, _QUOTED, _SPANNING = range(4)
"""Shapes of a physical line: no quote; every field quoted, no quote inside; a well-quoted record
otherwise; none of these (a field spanning lines, or broken quoting)."""


def _line_shape(text: pl.Expr) -> pl.Expr:
    """Each line's shape (``_NO_QUOTE`` ... ``_SPANNING``), the cheap tests first."""
    return (
        pl.when(~text.str.contains('"', literal=True))
        .then(_NO_QUOTE)
        .when(text.str.contains(r'^"[^"]*"(?:,"[^"]*")*$'))
        .then(_ALL_QUOTED)
        .when(text.str.contains(_RECORD_ON_ITS_OWN))
        .then(_QUOTED)
        .otherwise(_SPANNING)
    )


def _spanning_records(
    text: str,
    lines: list[str],
    breaks: list[str],
    spanning: list[int],
    width: int,
    undecodable: str | None,
) -> list[tuple[int, str, list[str] | None, str | None, int]]:
    """(line, escaped text, fields, problem, lines spanned) of the records starting on the
    ``spanning`` lines (1-based), skipping those inside a record that started earlier."""
    if not spanning:
        return []
    ends = [len(line) + len(end) for line, end in zip(lines, breaks, strict=True)]
    starts = list(accumulate(ends, initial=0))
    spans = []
    next_line = 0
    for line in spanning:
        if line < next_line:  # inside a record that started on an earlier line
            continue
        record = _record_at(text, starts[line - 1], width)
        hurt = _damage(record.text, undecodable) if undecodable else None
        fields = record.fields
        if hurt and fields is not None:
            fields = [_escaped(field) for field in fields]
        spans.append(
            (
                line,
                _escaped(record.text) if hurt else record.text,
                fields,
                hurt or record.problem,
                record.lines,
            )
        )
        next_line = line + record.lines
    return spans


def _split_quoted(text: pl.Expr) -> pl.Expr:
    """The fields of a line that is a well-quoted record (``_RECORD_ON_ITS_OWN``), quotes removed
    and ``""`` read as ``"``."""
    field = pl.element().str.slice(1)  # each match starts with the comma put before its field
    unquoted = field.str.slice(1, field.str.len_chars() - 2).str.replace_all(
        '""', '"', literal=True
    )
    return (
        pl.concat_str(pl.lit(","), text)
        .str.extract_all(_COMMA_AND_FIELD)
        .list.eval(pl.when(field.str.starts_with('"')).then(unquoted).otherwise(field))
    )


def _physical_lines(text: str) -> tuple[list[str], list[str]]:
    """The text's physical lines and the line break ending each ("" for a last line without)."""
    if "\r" in text:
        parts = _LINE_BREAK_KEPT.split(text)
        lines, breaks = parts[0::2], parts[1::2]
    else:
        lines = text.split("\n")
        breaks = ["\n"] * (len(lines) - 1)
    if lines[-1] == "" and breaks:  # the last line break ends the last line
        lines.pop()
    else:
        breaks.append("")
    return lines, breaks


def _checked_header(header: list[str], label: str) -> list[str]:
    """The header's (trimmed) column names; ``UnreadableFile`` when one is repeated."""
    repeated = next((name for index, name in enumerate(header) if name in header[:index]), None)
    if repeated is not None:
        raise UnreadableFile(f"{label}: duplicate column {repeated!r} in the header")
    return header


def _read_clean(encoded: bytes, text: str, header: list[str]) -> pl.DataFrame | None:
    """The records of a text without quotes, CR or damage (``encoded``: in UTF-8), read by Polars'
    CSV reader, when every physical line after the header is a record of the header's width
    (else None: some line needs rejecting, which the reader cannot say)."""
    lines = text.count("\n") + (not text.endswith("\n")) - 1
    # every line has the header's width exactly when none has more (the reader refuses those)
    # and the commas add up; a shorter or empty line would read as empty fields
    if len(header) < 2 or text.count(",") != (len(header) - 1) * (lines + 1):
        return None
    try:
        records = pl.read_csv(
            encoded, infer_schema=False, empty_string_is_null=False, truncate_ragged_lines=False
        )
    except pl.exceptions.ComputeError:
        return None
    if [name.strip() for name in records.columns] != header or records.height != lines:
        return None
    records.columns = header
    return records.select(pl.int_range(2, lines + 2, dtype=pl.Int64).alias(LINE), pl.all())


def _unquoted_fields(record: str) -> list[str]:
    """The fields of a well-quoted record, quotes removed and ``""`` read as ``"``."""
    return [
        field[1:-1].replace('""', '"') if field.startswith('"') else field
        for field in _FIELD_AFTER_COMMA.findall(record)
    ]


def _quoting_problem(line: str) -> str:
    """Why a physical line is no well-quoted record (it is not: ``_RECORD`` refused it)."""
    position = 0
    while True:
        start = position
        position = _FIELD_ON_LINE.match(line, position).end()
        if position == len(line):  # the line's last quote opens a field closed on a later line
            return "unbalanced quote"
        if line[position] == ",":
            position += 1
            continue
        if position == start:
            return "unbalanced quote"
        if line[start] == '"':
            return "text after a closing quote"
        return "quote inside an unquoted field"


def _damage(record: str, undecodable: str) -> str | None:
    """Why a record's text cannot load whatever its fields: a byte that did not decode, a NUL."""
    if _UNDECODABLE.search(record):
        return undecodable
    if "\x00" in record:
        return "NUL byte"
    return None


def _decoded(data: bytes, encoding: str) -> tuple[str, bytes | None]:
    """The file's text (a leading byte order mark dropped, bytes that do not decode marked) and
    that text in UTF-8, None when a byte did not decode. A UTF-8 file that decodes is its own
    UTF-8 text: not encoded again."""
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError:
        return data.decode(encoding, errors=_MARKED).removeprefix("\ufeff"), None
    if codecs.lookup(encoding).name != "utf-8":
        text = text.removeprefix("\ufeff")
        return text, text.encode()
    return text.removeprefix("\ufeff"), data.removeprefix(codecs.BOM_UTF8)


def _escaped(text: str) -> str:
    """The text with undecoded bytes and NUL written as ``\\xNN``."""
    return _DAMAGE.sub(lambda mark: f"\\x{ord(mark.group()) & 0xFF:02x}", text)
