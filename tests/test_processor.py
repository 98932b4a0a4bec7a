"""Which snapshots a table's processing publishes: since the watch began, then since the watermark.

The publisher is a recording double (CloudWatch delivery is covered by the publisher and daemon
tests); the tables are real Iceberg tables in a SQLite catalog.
"""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime

from service.exporter import TableMetricsExporter
from service.processor import TableProcessor
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


def processor(catalog, publisher, watch_started=None) -> TableProcessor:
    return TableProcessor(
        catalog, new_collector(), publisher, TableMetricsExporter(), ServiceMetrics(), 1, watch_started
    )


async def test_first_sight_publishes_what_was_committed_since_watching_began_then_only_new(sql_catalog):
    table = sql_catalog.create_table("db.t", SCHEMA)
    rng = random.Random(1)
    table.append(rows(rng, 1))  # before icewatch started watching: not published
    await asyncio.sleep(0.01)
    started = datetime.now(UTC)
    table.append(rows(rng, 2))
    table.append(rows(rng, 3))
    publisher = RecordingPublisher()
    proc = processor(sql_catalog, publisher, started)
    assert (await proc.process("db.t")).ok
    assert publisher.added() == [2, 3]
    assert (await proc.process("db.t")).ok
    assert publisher.added() == []  # nothing new: state metrics only
    table.append(rows(rng, 4))
    table.append(rows(rng, 5))
    await proc.process("db.t")
    assert publisher.added() == [4, 5]


async def test_after_a_rollback_only_commits_after_the_watermark_are_published(sql_catalog):
    table = sql_catalog.create_table("db.t", SCHEMA)
    rng = random.Random(2)
    started = datetime.now(UTC)
    for n in (1, 2, 3):
        table.append(rows(rng, n))
    publisher = RecordingPublisher()
    proc = processor(sql_catalog, publisher, started)
    await proc.process("db.t")
    assert publisher.added() == [1, 2, 3]
    first = table.snapshots()[0].snapshot_id
    table.manage_snapshots().rollback_to_snapshot(first).commit()
    table.append(rows(rng, 7))
    await proc.process("db.t")
    assert publisher.added() == [7]


async def test_a_missing_table_is_forgotten_and_not_retried(sql_catalog):
    publisher = RecordingPublisher()
    outcome = await processor(sql_catalog, publisher).process("db.nope")
    assert (outcome.ok, outcome.reason, outcome.retry) == (False, "table_not_found", False)
    assert publisher.datums == []
