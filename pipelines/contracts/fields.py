"""Field types shared by the contract and source models: shares, durations, weekdays."""

from __future__ import annotations

from datetime import time, timedelta
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, PlainSerializer

from pipelines.contracts.units import format_duration, parse_duration, parse_share


def share_value(value: object) -> float:
    """A share in [0, 1] from ``99.9%`` or ``0.999``."""
    share = parse_share(value)  # type: ignore[arg-type]
    if not 0 <= share <= 1:
        raise ValueError(f"{value!r} is out of range: a share lies between 0% and 100%")
    return share


def parse_positive_duration(value: object) -> timedelta:
    """A duration longer than zero from ``5m`` (or a timedelta)."""
    if isinstance(value, timedelta):
        return value
    duration = parse_duration(value)  # type: ignore[arg-type]
    if duration <= timedelta(0):
        raise ValueError(f"bad duration {value!r}: must be longer than zero")
    return duration


Share = Annotated[float, BeforeValidator(share_value)]
Duration = Annotated[
    timedelta,
    BeforeValidator(parse_positive_duration),
    PlainSerializer(format_duration, return_type=str),
]

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
Weekday = Literal[WEEKDAYS]  # type: ignore[valid-type]


def _local_time(value: object) -> object:
    return time.fromisoformat(value) if isinstance(value, str) else value


LocalTime = Annotated[time, BeforeValidator(_local_time)]
"""A wall-clock time of day such as "08:00", in the contract's zone."""


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
