"""PromQL of imported SLIs → the per-step counting queries of a ``kind: prometheus`` source.

A spec's query reads a range (``[{{.window}}]``, ``[window]``, ``[5m]``) that the SLO tool fills
with its alert windows; a Pledge source asks for the events of each step. So every range selector
is set to the step, ``rate()`` (events per second) becomes ``increase()`` (events in the range),
and the result is summed to one series and rounded to whole events. The writer then labels the
series with the Pledge service (``label_replace``) and, for a histogram, the bucket bound.
"""

from __future__ import annotations

import re
from decimal import Decimal

from pipelines.contracts.imports.model import Unsupported

PLACEHOLDER = re.compile(
    r"\[\s*(\{\{\s*\.window\s*\}\}|\$?window|\$__range|\$__rate_interval)\s*\]"
)
RANGE = re.compile(r"\[\s*\d+(ms|[smhdwy])(\d+(ms|[smhdwy]))*\s*\]")
SUBQUERY = re.compile(r"\[[^\]]*:[^\]]*\]")
PLACEHOLDER_SUBQUERY = re.compile(r"\[\s*(\{\{\s*\.window\s*\}\}|\$?window)\s*:\s*\]")
RATE = re.compile(r"\brate\s*\(")
INSTANT_RATE = re.compile(r"\birate\s*\(")
GAUGE_RANGE = re.compile(r"\b(sum|avg|min|max|quantile|stddev|stdvar|last)_over_time\s*\(")
VECTOR_MATCHING = re.compile(
    r"^\s*(ignoring|on)\s*\([^)]*\)\s*((group_left|group_right)\s*(\([^)]*\))?)?"
)
QUANTILE = re.compile(r"^histogram_quantile\s*\(\s*([0-9.]+)\s*,(.*)\)$", re.S)
EXPRESSION_RANGE = re.compile(r"\)\s*\[[^\]:]*\]")
SELECTOR = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^{}]*\})?")
SUMMED_SELECTOR = re.compile(r"sum\s*\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*(\{[^{}]*\})?)\s*\)")
COMPLEMENT = re.compile(r"^\s*1\s*-\s*")
OPERATORS = set("+-*/%^<>=!")
OPENING, CLOSING = "([{", ")]}"
COMPARISONS = {"lte": "<=", "lt": "<", "gte": ">=", "gt": ">"}


def step_text(seconds: int) -> str:
    """A step in PromQL's duration syntax (``60`` → ``1m``)."""
    for unit, size in (("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def per_step(query: str, step: str, at: str) -> str:
    """A counter or event query read per step: ranges set to ``step``, ``rate`` → ``increase``,
    summed to one series and rounded to whole events; a bare (or summed) selector is read as a
    counter."""
    if SELECTOR.fullmatch(query.strip()):
        return counter(query, step)
    summed = SUMMED_SELECTOR.fullmatch(query.strip())
    if summed:  # a sum of a counter, as OpenSLO's counter: true metrics are written
        return counter(summed.group(1), step)
    return f"round(sum({_counted(query, step, at)}))"


def is_quantile(query: str) -> bool:
    return QUANTILE.match(_strip_parens(query)) is not None


def threshold_checks(query: str, op: str, value: Decimal, step: str) -> str:
    """A threshold metric's points as probe checks: 1 where ``query op value`` holds, else 0,
    per series (the ``instance`` label is the location; ``all`` for a series without one);
    range placeholders set to ``step``, other ranges kept as the spec wrote them."""
    query = " ".join(PLACEHOLDER.sub(f"[{step}]", query).split())
    checks = f"({query}) {COMPARISONS[op]} bool {value}"
    return f'label_replace({checks}, "instance", "all", "instance", "")'


def histogram_quantile(query: str, step: str, at: str) -> tuple[Decimal, str]:
    """``histogram_quantile(q, <buckets>)`` → (q, the buckets per step summed by ``le``)."""
    match = QUANTILE.match(_strip_parens(query))
    if match is None:
        raise Unsupported(
            at,
            "a threshold on this metric is not a latency Pledge can count: give "
            "histogram_quantile(q, sum by (le) (rate(..._bucket[5m])))",
        )
    quantile = Decimal(match.group(1))
    if not 0 < quantile < 1:
        raise Unsupported(at, f"quantile {quantile} is not between 0 and 1")
    return quantile, f"round(sum by (le) ({_counted(match.group(2), step, at)}))"


def _counted(query: str, step: str, at: str) -> str:
    """The query with every range set to ``step`` and ``rate`` read as ``increase``."""
    query = PLACEHOLDER_SUBQUERY.sub(f"[{step}:]", query)
    subquery = SUBQUERY.search(query)
    if subquery and subquery.group(0) != f"[{step}:]":
        raise Unsupported(at, f"the subquery {subquery.group(0)} has no per-step count of events")
    if INSTANT_RATE.search(query):
        raise Unsupported(at, "irate() is an instantaneous rate, not a count of events")
    if GAUGE_RANGE.search(query) and not subquery:
        raise Unsupported(
            at,
            f"{GAUGE_RANGE.search(query).group(0).rstrip('( ')}() of a gauge is not a count of "
            "events: Pledge counts whole events (use counters with increase or rate)",
        )
    if EXPRESSION_RANGE.search(query):
        raise Unsupported(
            at, "a range over an expression (vector(1)[...]) is MetricsQL, not PromQL"
        )
    if "[" not in query:
        raise Unsupported(at, "the query reads no range of a counter (no [window] or [5m])")
    ranged = RANGE.sub(f"[{step}]", PLACEHOLDER.sub(f"[{step}]", query))
    return " ".join(RATE.sub("increase(", ranged).split())


def counter(selector: str, step: str) -> str:
    """A counter selector (Pyrra's ``metric``, slo-generator's ``filter_good``) per step."""
    return f"round(sum(increase({' '.join(selector.split())}[{step}])))"


def split_ratio(query: str, at: str) -> tuple[bool, str, str]:
    """A ratio query → (complemented, numerator, denominator): ``A / B`` or ``1 - (A / B)``,
    with one ``/`` at the top level and vector matching (``ignoring (le)``) dropped, since both
    sides are summed to one series. Anything else cannot be counted."""
    text = _strip_parens(query)
    complemented = COMPLEMENT.match(text) is not None
    if complemented:
        text = _strip_parens(COMPLEMENT.sub("", text, count=1))
    slashes = [i for i, char in _top_level(text) if char == "/"]
    why = "a precomputed ratio: Pledge counts events; give the errors and total queries apart"
    if len(slashes) != 1:
        raise Unsupported(at, why)
    numerator, denominator = text[: slashes[0]], text[slashes[0] + 1 :]
    denominator = VECTOR_MATCHING.sub("", denominator, count=1)
    numerator, denominator = _strip_parens(numerator), _strip_parens(denominator)
    for part in (numerator, denominator):
        if any(char in OPERATORS for _, char in _top_level(part)) or not part:
            raise Unsupported(at, why)
    return complemented, numerator, denominator


def _top_level(text: str):
    """(position, character) of the characters outside brackets, braces and strings."""
    depth, quote = 0, None
    for position, char in enumerate(text):
        if quote:
            quote = None if char == quote and text[position - 1] != "\\" else quote
        elif char in "\"'`":
            quote = char
        elif char in OPENING:
            depth += 1
        elif char in CLOSING:
            depth -= 1
        elif depth == 0:
            yield position, char


def _strip_parens(text: str) -> str:
    """The text without whitespace and enclosing parentheses that wrap all of it."""
    text = text.strip()
    while text.startswith("(") and text.endswith(")"):
        depth = 0
        for position, char in enumerate(text):
            depth += char == "("
            depth -= char == ")"
            if depth == 0 and position < len(text) - 1:
                return text
        text = text[1:-1].strip()
    return text


def labelled(query: str, label: str, value: str) -> str:
    """The query's series with ``label`` set to ``value``."""
    return f'label_replace({query}, "{label}", "{value}", "", "")'
