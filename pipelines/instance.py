"""The Dagster instance class of a Pledge home (``instance_class`` in ``dagster.yaml``).

Dagster's default SQLite storage, with the same files under ``<DAGSTER_HOME>/history`` (so
``make dev`` and plain Dagster tools read them), made cheaper to write: a 90-day run of the graph
records about 2,000 per-partition asset events (one "planned" and one materialisation per asset
and day), and the stock storage opens a new engine and commits (with an fsync) once or twice per
event, which cost half of a demo run. Here

- Dagster's event batches (the planned events of a run, the materialisations of a step's
  partitions: ``DagsterEventBatchMetadata``) are on (``EVENT_BATCH_SIZE`` events a batch) and a
  batch is written in one transaction per database file;
- a batch is one ``executemany`` per file, and updates each asset's index row once per event type
  (the last event of each type sets the row as every event in turn would);
- one connection per database file stays open (the index and the latest runs' files, closed when
  the instance is disposed), where the stock storage opens and closes one per write and SQLite
  checkpoints the write-ahead log at each close;
- connections use SQLite's ``synchronous=NORMAL`` (the databases are in WAL mode: a commit survives
  a killed process; only a power loss may drop the last commits of the run log).

Every event is still stored, with the same asset index (partition status, last materialisation).
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import dagster as dg
import sqlalchemy
import yaml
from dagster._core.events import (
    ASSET_CHECK_EVENTS,
    ASSET_EVENTS,
    EVENT_TYPE_TO_PIPELINE_RUN_STATUS,
)
from dagster._core.instance.ref import InstanceRef
from dagster._core.storage.event_log import SqlEventLogStorageTable, SqliteEventLogStorage
from dagster._core.storage.sql import create_engine
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from dagster._core.storage.sqlite_storage import DagsterSqliteStorage, _event_logs_directory
from dagster._serdes import ConfigurableClassData
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import StaticPool

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
    """Dagster's run-sharded SQLite event log, keeping a connection open per database file (the
    index and the latest ``OPEN_SHARDS - 1`` run files) and writing a batch in one transaction per
    file: every event into the run's file, the asset events into the index file (with their tags
    and the asset's latest record), then each asset check or run status event as one event is."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None):
        self._engines: OrderedDict[str, Engine] = OrderedDict()
        self._engines_pid = os.getpid()
        super().__init__(base_dir, inst_data)

    def _engine(self, shard: str) -> Engine:
        """The open engine of ``shard`` (one connection, used under ``_db_lock`` by any thread)."""
        if self._engines_pid != os.getpid():  # a forked process: the connections are its parent's
            self._engines, self._engines_pid = OrderedDict(), os.getpid()
        if shard in self._engines:
            self._engines.move_to_end(shard)
            return self._engines[shard]
        engine = create_engine(
            self.conn_string_for_shard(shard),
            poolclass=StaticPool,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS, "check_same_thread": False},
        )
        sqlalchemy.event.listen(engine, "connect", _synchronous_normal)
        self._engines[shard] = engine
        if len(self._engines) > OPEN_SHARDS:
            self._engines.popitem(last=False)[1].dispose()
        return engine

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        with self._db_lock:
            engine = self._engine(shard)
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            with engine.connect() as connection, connection.begin():
                yield connection

    def dispose(self) -> None:
        super().dispose()
        with self._db_lock:
            while self._engines:
                self._engines.popitem()[1].dispose()

    def store_event_batch(self, events: Sequence[dg.EventLogEntry]) -> None:
        if len({event.run_id for event in events}) != 1:
            super().store_event_batch(events)
            return
        rows = [self._event_to_row(event) for event in events]
        with self.run_connection(events[0].run_id) as connection:
            connection.execute(SqlEventLogStorageTable.insert(), rows)
        assets = [i for i, event in enumerate(events) if _of_type(event, ASSET_EVENTS)]
        if assets:
            asset_events = [events[i] for i in assets]
            with self.index_transaction() as connection:
                event_ids = (
                    connection.execute(
                        SqlEventLogStorageTable.insert().returning(
                            SqlEventLogStorageTable.c.id, sort_by_parameter_order=True
                        ),
                        [rows[i] for i in assets],
                    )
                    .scalars()
                    .all()
                )
                self._store_asset_event_tags(connection, asset_events, event_ids)
                for event, event_id in _latest_of_each_kind(asset_events, event_ids):
                    self._store_asset_event(connection, event, event_id)
        for event, row in zip(events, rows, strict=True):
            if _of_type(event, ASSET_CHECK_EVENTS):
                with self.index_connection() as connection:
                    insert = SqlEventLogStorageTable.insert().values(**row)
                    event_id = connection.execute(insert).inserted_primary_key[0]
                self.store_asset_check_event(event, event_id)
            elif _of_type(event, EVENT_TYPE_TO_PIPELINE_RUN_STATUS):
                with self.index_connection() as connection:
                    connection.execute(SqlEventLogStorageTable.insert().values(**row))


OPEN_SHARDS = 3
"""Database files whose connection stays open (the index and the latest run files)."""


def _synchronous_normal(connection: Any, _record: object) -> None:
    connection.execute("PRAGMA synchronous=NORMAL")


def _latest_of_each_kind(
    events: Sequence[dg.EventLogEntry], event_ids: Sequence[int]
) -> list[tuple[dg.EventLogEntry, int]]:
    """The last event of each (asset, event type) of a batch, in the batch's order: each event of
    a type sets the same columns of the asset's row in the index, so storing these leaves the row
    as storing every event in turn does (with one write per asset and type, not per partition)."""
    last = {
        (event.get_dagster_event().asset_key, event.dagster_event_type): position
        for position, event in enumerate(events)
    }
    return [(events[position], event_ids[position]) for position in sorted(last.values())]
