"""The Dagster instance class of a Pledge home (``instance_class`` in ``dagster.yaml``).

Dagster's default SQLite storage, with the same files under ``<DAGSTER_HOME>/history`` (so
``make dev`` and plain Dagster tools read them), made cheaper to write: a 90-day run of the graph
records about 2,000 per-partition asset events (one "planned" and one materialisation per asset
and day), and the stock storage opens a new engine and commits (with an fsync) once or twice per
event, which cost half of a demo run. Here

- Dagster's event batches (the planned events of a run, the materialisations of a step's
  partitions: ``DagsterEventBatchMetadata``) are on (``EVENT_BATCH_SIZE`` events a batch) and a
  batch is written in one transaction per database file;
- connections use SQLite's ``synchronous=NORMAL`` (the databases are in WAL mode: a commit survives
  a killed process; only a power loss may drop the last commits of the run log).

Every event is still stored, with the same asset index (partition status, last materialisation).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import dagster as dg
import yaml
from dagster._core.events import (
    ASSET_CHECK_EVENTS,
    ASSET_EVENTS,
    EVENT_TYPE_TO_PIPELINE_RUN_STATUS,
)
from dagster._core.instance.ref import InstanceRef
from dagster._core.storage.event_log import SqliteEventLogStorage
from dagster._core.storage.sqlalchemy_compat import db_result
from dagster._core.storage.sqlite_storage import DagsterSqliteStorage, _event_logs_directory
from dagster._serdes import ConfigurableClassData

EVENT_BATCH_SIZE = 1000
"""Events of one Dagster batch written together (``DAGSTER_EVENT_BATCH_SIZE`` overrides it)."""


class PledgeInstance(dg.DagsterInstance):
    """A Dagster instance whose storage is :class:`PledgeSqliteStorage` and whose event batches
    are on."""

    @classmethod
    def config_schema(cls) -> dict:
        return {}

    @staticmethod
    def config_defaults(base_dir: str) -> Mapping[str, ConfigurableClassData | None]:
        """Dagster's defaults for an instance folder, with Pledge's storage."""
        storage = ConfigurableClassData(
            __name__, PledgeSqliteStorage.__name__, yaml.dump({"base_dir": base_dir})
        )
        return {**InstanceRef.config_defaults(base_dir), "storage": storage}

    def _get_event_batch_size(self) -> int:
        return int(os.getenv("DAGSTER_EVENT_BATCH_SIZE", str(EVENT_BATCH_SIZE)))


class PledgeSqliteStorage(DagsterSqliteStorage):
    """Dagster's SQLite storage with :class:`BatchedSqliteEventLogStorage` as its event log."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None):
        super().__init__(base_dir, inst_data)
        self._event_log_storage = BatchedSqliteEventLogStorage(_event_logs_directory(base_dir))

    @classmethod
    def from_config_value(  # type: ignore[override]
        cls, inst_data: ConfigurableClassData, config_value: Mapping[str, Any]
    ) -> PledgeSqliteStorage:
        return cls.from_local(inst_data=inst_data, **config_value)


def _of_type(event: dg.EventLogEntry, types: object) -> bool:
    return event.is_dagster_event and event.dagster_event_type in types  # type: ignore[operator]


class BatchedSqliteEventLogStorage(SqliteEventLogStorage):
    """Dagster's run-sharded SQLite event log, writing a batch in one transaction per file:
    every event into the run's file, the asset events into the index file (with their tags and
    the asset's latest record), then each asset check or run status event as one event is."""

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Any]:
        with super()._connect(shard) as connection:
            connection.exec_driver_sql("PRAGMA synchronous=NORMAL")
            yield connection

    def store_event_batch(self, events: Sequence[dg.EventLogEntry]) -> None:
        if len({event.run_id for event in events}) != 1:
            super().store_event_batch(events)
            return
        inserts = [self.prepare_insert_event(event) for event in events]
        with self.run_connection(events[0].run_id) as connection:
            for insert in inserts:
                connection.execute(insert)
        assets = [
            (event, insert)
            for event, insert in zip(events, inserts, strict=True)
            if _of_type(event, ASSET_EVENTS)
        ]
        if assets:
            with self.index_transaction() as connection:
                event_ids = []
                for _, insert in assets:
                    with db_result(connection, insert) as result:
                        event_ids.append(result.inserted_primary_key[0])
                self._store_asset_event_tags(connection, [e for e, _ in assets], event_ids)
                for (event, _), event_id in zip(assets, event_ids, strict=True):
                    self._store_asset_event(connection, event, event_id)
        for event, insert in zip(events, inserts, strict=True):
            if _of_type(event, ASSET_CHECK_EVENTS):
                with self.index_connection() as connection, db_result(connection, insert) as row:
                    event_id = row.inserted_primary_key[0]
                self.store_asset_check_event(event, event_id)
            elif _of_type(event, EVENT_TYPE_TO_PIPELINE_RUN_STATUS):
                with self.index_connection() as connection:
                    connection.execute(insert)
