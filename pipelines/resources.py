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
from pipelines.progress import step
from pipelines.settings import Settings
from pipelines.writing import WAREHOUSE_POOL as WAREHOUSE_POOL  # where the assets import it
from pipelines.writing import failed_steps, pool_wait_from_env, writing_warehouse


class PledgeHome(dg.ConfigurableResource):
    """Pledge's home folder; empty ``home`` means ``PLEDGE_HOME`` or ``.pledge/``. ``working``:
    the database the run writes and reads (the run's working copy, published as the warehouse
    when the run ends); empty in a run means one of its own (:meth:`yield_for_execution`)."""

    home: str = ""
    working: str = ""

    @property
    def settings(self) -> Settings:
        return Settings.from_env(self.home or None)

    @contextmanager
    def yield_for_execution(self, context: dg.InitResourceContext) -> Iterator[PledgeHome]:
        """In a run given no ``working`` copy (schedules, sensors, the UI): take the home's run
        lock and a working copy as ``pledge run`` does (:func:`writing_warehouse`, waiting up to
        ``PLEDGE_POOL_WAIT_SECONDS``) and publish it when the run ends with no failed step. Runs
        given one (``pledge run``, its backfill steps) and sensor evaluations use ``self``."""
        if self.working or context.run is None or context.instance is None:
            yield self
            return
        instance, run_id = context.instance, context.run.run_id
        with writing_warehouse(
            instance,
            self.settings,
            pool_wait_from_env(),
            say=context.log.info if context.log else step,
            publishable=lambda: not failed_steps(instance, run_id),
        ) as working:
            yield PledgeHome(home=self.home, working=str(working))

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        path = self.working or self.settings.warehouse_path
        with warehouse.connect(path, read_only=read_only) as con:
            yield con

    def contracts(self) -> tuple[list[Contract], list[Problem]]:
        """The valid contracts of the home, and the problems of the invalid ones."""
        return load_contracts(self.settings.contracts_dir)

    def sources(self) -> dict[str, Source]:
        """The valid sources of the home (``source_problems`` tells of the others); none without
        a sources file."""
        if not self.settings.sources_file.exists():
            return {}
        return read_sources(self.settings.sources_file)[0]

    def source_problems(self) -> list[Problem]:
        """The ``file:line: field: problem`` of each invalid source; none without a sources file."""
        if not self.settings.sources_file.exists():
            return []
        return read_sources(self.settings.sources_file)[1]

    def sources_of_kind(self, kind: str) -> dict[str, Source]:
        """The declared sources of one kind by name; none without a sources file."""
        return {name: source for name, source in self.sources().items() if source.kind == kind}

    def pulled_sources(self) -> dict[str, Source]:
        """The declared ``kind: prometheus`` sources by name; none without a sources file."""
        return {name: source for name, source in self.sources().items() if source.pull}


def partition_days(context: dg.AssetExecutionContext) -> list[date]:
    """The days a (possibly multi-partition, single-run backfill) materialisation covers."""
    return [date.fromisoformat(key) for key in context.partition_keys]
