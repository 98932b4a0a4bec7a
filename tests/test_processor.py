"""Which snapshots a table's processing publishes: since the watch began, then since the watermark.

The publisher is a recording double (CloudWatch delivery is covered by the publisher and daemon
tests); the tables are real Iceberg tables in a SQLite catalog.
"""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime

import pytest

from service.cadence import StateCadence
from service.exporter import TableMetricsExporter
from service.processor import TableProcessor
from service.state import open_state_store
from service.telemetry import ServiceMetrics
from tests.support.collect import new_collector
from tests.support.shapes import SCHEMA, rows


class RecordingPublisher:
    def __init__(self) -> None:
        self.datums: list = []

    async def publish(self, datums) -> None:
        self.datums.extend(datums)

    def snapshot_times(self) -> list[datetime]:
        return [d.timestamp for d in self.datums if d.name == "snapshot.added_records"]

    def added(self) -> list[float]:
        values = [d.value for d in self.datums if d.name == "snapshot.added_records"]
        self.datums.clear()
        return values


@pytest.fixture
async def store():
    async with open_state_store("sqlite:///:memory:") as opened:
        yield opened


def processor(
    catalog, publisher, store, watch_started: datetime | None = None, cadence: StateCadence | None = None
) -> TableProcessor:
    started = watch_started or datetime.now(UTC)
    return TableProcessor(
        catalog,
        new_collector(),
        publisher,
        TableMetricsExporter(),
        ServiceMetrics(),
        store,
        owner="test",
        watch_started_ms=int(started.timestamp() * 1000),
        threads=1,
        cadence=cadence,
    )


async def test_first_sight_publishes_what_was_committed_since_watching_began_then_only_new(
    sql_catalog, store
):
    table = sql_catalog.create_table("db.t", SCHEMA)
    rng = random.Random(1)
    table.append(rows(rng, 1))  # before icewatch started watching: not published
    await asyncio.sleep(0.01)
    started = datetime.now(UTC)
    table.append(rows(rng, 2))
    table.append(rows(rng, 3))
    publisher = RecordingPublisher()
    proc = processor(sql_catalog, publisher, store, started)
    assert (await proc.process("db.t")).ok
    assert publisher.added() == [2, 3]
    assert (await proc.process("db.t")).ok
    assert publisher.added() == []  # nothing new: state metrics only
    table.append(rows(rng, 4))
    table.append(rows(rng, 5))
    await proc.process("db.t")
    assert publisher.added() == [4, 5]


async def test_after_a_rollback_only_commits_after_the_watermark_are_published(sql_catalog, store):
    table = sql_catalog.create_table("db.t", SCHEMA)
    rng = random.Random(2)
    started = datetime.now(UTC)
    for n in (1, 2, 3):
        table.append(rows(rng, n))
    publisher = RecordingPublisher()
    proc = processor(sql_catalog, publisher, store, started)
    await proc.process("db.t")
    assert publisher.added() == [1, 2, 3]
    first = table.snapshots()[0].snapshot_id
    table.manage_snapshots().rollback_to_snapshot(first).commit()
    table.append(rows(rng, 7))
    await proc.process("db.t")
    assert publisher.added() == [7]


async def test_a_missing_table_is_forgotten_and_not_retried(sql_catalog, store):
    publisher = RecordingPublisher()
    outcome = await processor(sql_catalog, publisher, store).process("db.nope")
    assert (outcome.ok, outcome.reason, outcome.retry) == (False, "table_not_found", False)
    assert publisher.datums == []


async def test_watermarks_survive_a_restart_so_nothing_is_published_twice(sql_catalog, tmp_path):
    table = sql_catalog.create_table("db.t", SCHEMA)
    rng = random.Random(3)
    url = f"sqlite:///{tmp_path}/state.db"
    publisher = RecordingPublisher()
    async with open_state_store(url) as first_run:
        started = datetime.fromtimestamp(await first_run.watch_started_ms() / 1000, UTC)
        table.append(rows(rng, 1))
        await processor(sql_catalog, publisher, first_run, started).process("db.t")
    assert publisher.added() == [1]
    table.append(rows(rng, 2))  # committed while icewatch was down
    async with open_state_store(url) as second_run:
        assert datetime.fromtimestamp(await second_run.watch_started_ms() / 1000, UTC) == started
        await processor(sql_catalog, publisher, second_run, started).process("db.t")
    assert publisher.added() == [2]


async def test_a_table_leased_by_another_replica_is_left_for_redelivery(sql_catalog, store):
    sql_catalog.create_table("db.t", SCHEMA)
    assert await store.acquire("db.t", "other-replica", 60)
    outcome = await processor(sql_catalog, RecordingPublisher(), store).process("db.t")
    assert (outcome.ok, outcome.reason, outcome.retry) == (False, "leased_elsewhere", True)


async def test_a_busy_tables_state_is_held_between_intervals_but_every_snapshot_goes_at_once(
    sql_catalog, store
):
    table = sql_catalog.create_table("db.t", SCHEMA)
    rng = random.Random(4)
    clock = [0.0]
    publisher = RecordingPublisher()
    proc = processor(sql_catalog, publisher, store, cadence=StateCadence(60, lambda: clock[0]))

    def files() -> list[float]:
        return [d.value for d in publisher.datums if d.name == "files.max_record_count"]

    for n in (1, 2, 3):
        table.append(rows(rng, n))
        clock[0] += 5
        await proc.process("db.t")
    assert files() == [1.0]  # the state after the first commit; the next two were held
    assert publisher.added() == [1, 2, 3]  # snapshot metrics: every commit, right away
    assert await proc.publish_held_states() == 0  # not due yet
    clock[0] += 60
    assert await proc.publish_held_states() > 0
    assert files() == [3.0]  # the newest state, not the one in between
