"""``sources.yaml``: where each source's landing files are, their format, column mapping and zone.

Like dbt's source declarations: the contract says what is promised, a source says where the
evidence comes from. Each source has a kind that fixes its canonical fields:

- ``requests``: ts, service, total, errors (per-interval request counters)
- ``histogram``: ts, service, le, count (cumulative latency buckets, ``le`` in seconds or "+Inf")
- ``probes``: ts, service, location, up (one check result)
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationError, field_validator, model_validator
from ruamel.yaml import YAML

from pipelines.spec.fields import Model

CANONICAL_FIELDS = {
    "requests": ("ts", "service", "total", "errors"),
    "histogram": ("ts", "service", "le", "count"),
    "probes": ("ts", "service", "location", "up"),
}


class Source(Model):
    kind: Literal["requests", "histogram", "probes"]
    path: str = Field(description="glob under the landing folder, e.g. requests/*.csv")
    format: Literal["csv", "parquet"]
    time_zone: str | None = Field(
        default=None,
        description="zone of timestamps that carry no offset; without it they are rejected",
    )
    timestamp_format: str | None = Field(
        default=None, description="strftime format of text timestamps; default ISO 8601"
    )
    date_pattern: str = Field(
        default=r"(\d{4}-\d{2}-\d{2})",
        description="regex whose first group finds the partition date in a file name",
    )
    columns: dict[str, str] = Field(
        default_factory=dict, description="canonical field → file column"
    )

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, zone: str | None) -> str | None:
        if zone is not None:
            try:
                ZoneInfo(zone)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"unknown time zone {zone!r}") from None
        return zone

    @model_validator(mode="after")
    def _known_fields(self) -> Source:
        unknown = set(self.columns) - set(CANONICAL_FIELDS[self.kind])
        if unknown:
            raise ValueError(
                f"unknown field(s) {sorted(unknown)} for a {self.kind} source; "
                f"fields are {list(CANONICAL_FIELDS[self.kind])}"
            )
        return self

    def column(self, field: str) -> str:
        """The file column holding a canonical field (the field's own name unless mapped)."""
        return self.columns.get(field, field)


class Sources(Model):
    sources: dict[str, Source]


def load_sources(path: str | Path) -> dict[str, Source]:
    """Read ``sources.yaml``; raises ValueError naming the file and field on a bad declaration."""
    document = YAML(typ="safe").load(Path(path).read_text())
    try:
        return Sources.model_validate(document).sources
    except ValidationError as error:
        details = "; ".join(
            f"{'.'.join(map(str, item['loc']))}: {item['msg']}" for item in error.errors()
        )
        raise ValueError(f"{path}: {details}") from None
