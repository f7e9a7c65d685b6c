"""The Dagster-facing handles on Pledge's home: settings, the warehouse and the contract catalog.

Assets take ``pledge: PledgeHome`` and call its methods; everything below it is plain Python.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date

import dagster as dg
import duckdb

from pipelines import warehouse
from pipelines.contracts.loader import Problem, load_contracts
from pipelines.contracts.schema import Contract
from pipelines.contracts.sources import Source, read_sources
from pipelines.settings import Settings

WAREHOUSE_POOL = "warehouse"
"""Every asset that writes the warehouse sits in this pool; the instance limits it to 1."""


class PledgeHome(dg.ConfigurableResource):
    """Pledge's home folder; empty ``home`` means ``PLEDGE_HOME`` or ``.pledge/``. ``working``:
    the database the run writes and reads (``pledge run``'s working copy, published as the
    warehouse when the run ends); empty means the warehouse itself."""

    home: str = ""
    working: str = ""

    @property
    def settings(self) -> Settings:
        return Settings.from_env(self.home or None)

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        path = self.working or self.settings.warehouse_path
        with warehouse.connect(path, read_only=read_only) as con:
            yield con

    def contracts(self) -> tuple[list[Contract], list[Problem]]:
        """The valid contracts of the home, and the problems of the invalid ones."""
        return load_contracts(self.settings.contracts_dir)

    def sources(self) -> dict[str, Source]:
        """The valid sources of the home (``source_problems`` tells of the others)."""
        return read_sources(self.settings.sources_file)[0]

    def source_problems(self) -> list[Problem]:
        """The ``file:line: field: problem`` of each invalid source; none without a sources file."""
        if not self.settings.sources_file.exists():
            return []
        return read_sources(self.settings.sources_file)[1]

    def sources_of_kind(self, kind: str) -> dict[str, Source]:
        """The declared sources of one kind by name; none without a sources file."""
        if not self.settings.sources_file.exists():
            return {}
        return {name: source for name, source in self.sources().items() if source.kind == kind}

    def pulled_sources(self) -> dict[str, Source]:
        """The declared ``kind: prometheus`` sources by name; none without a sources file."""
        if not self.settings.sources_file.exists():
            return {}
        return {name: source for name, source in self.sources().items() if source.pull}


def partition_days(context: dg.AssetExecutionContext) -> list[date]:
    """The days a (possibly multi-partition, single-run backfill) materialisation covers."""
    return [date.fromisoformat(key) for key in context.partition_keys]
