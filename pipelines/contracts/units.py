"""Parsing of the short forms contracts use: durations ("5m", "2h30m", "300ms") and shares
("99.95%" or 0.9995)."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str | int | float) -> timedelta:
    """``"1h30m"`` → 90 minutes. Bare numbers are seconds. Raises ValueError on anything else."""
    if isinstance(text, bool):
        raise ValueError(f"bad duration {text!r}")
    if isinstance(text, int | float):
        if text < 0:
            raise ValueError(f"bad duration {text!r}: must not be negative")
        return timedelta(seconds=text)
    compact = str(text).strip().replace(" ", "")
    parts = _DURATION_PART.findall(compact)
    if not compact or "".join(n + u for n, u in parts) != compact:
        raise ValueError(f"bad duration {text!r}: use forms like 300ms, 5m, 1h30m, 28d")
    return timedelta(seconds=sum(float(n) * _UNIT_SECONDS[u] for n, u in parts))


def format_duration(value: timedelta) -> str:
    """The shortest exact form: 90 minutes → ``"1h30m"``, 0.3 s → ``"300ms"``."""
    millis = round(value.total_seconds() * 1000)
    if millis % 1000:
        return f"{millis}ms"
    seconds, out = millis // 1000, ""
    for unit in ("d", "h", "m", "s"):
        size = _UNIT_SECONDS[unit]
        if seconds >= size:
            out += f"{seconds // size}{unit}"
            seconds %= size
    return out or "0s"


def parse_share(value: str | int | float) -> float:
    """``"99.95%"`` → 0.9995; a bare number is already a share (0.9995). Raises ValueError."""
    if isinstance(value, bool):
        raise ValueError(f"bad share {value!r}")
    if isinstance(value, int | float):
        return float(value)
    text = str(value).strip()
    try:
        return float(Decimal(text[:-1]) / 100) if text.endswith("%") else float(text)
    except (ValueError, ArithmeticError):
        raise ValueError(
            f"bad share {value!r}: use a percentage like 99.9% or a number like 0.999"
        ) from None
