"""The freshness timer: `table.seconds_since_last_commit` for every tracked table, every minute.

Event-driven processing can't see a pipeline that stopped committing: no commit, no event. This
timer publishes how long each tracked table has gone without a commit, so an alarm can.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import structlog

from service.engine.catalogue import datum, table_dimensions
from service.exporter import TableMetricsExporter
from service.models import MetricDatum, utc_from_ms
from service.periodic import every
from service.processor import Publisher
from service.state import StateStore

log = structlog.get_logger(__name__)
FRESHNESS = "table.seconds_since_last_commit"


class FreshnessTimer:
    """Publishes each tracked table's age since its last published commit, at most `max_tables`."""

    def __init__(
        self,
        store: StateStore,
        publisher: Publisher,
        exporter: TableMetricsExporter,
        interval_s: float,
        max_tables: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._publisher = publisher
        self._exporter = exporter
        self._interval_s = interval_s
        self._max_tables = max_tables
        self._clock = clock

    async def run(self) -> None:
        """Root task: one tick per interval."""
        await every(self._interval_s, self.tick, "freshness_tick")

    async def tick(self) -> list[MetricDatum]:
        records = [r for r in await self._store.tables() if r.watermark is not None]
        if len(records) > self._max_tables:
            # Most recently updated first: a table untouched for ages is the least likely to matter.
            log.warning("freshness_tables_capped", tracked=len(records), published=self._max_tables)
            records = sorted(records, key=lambda r: r.updated_at_s, reverse=True)[: self._max_tables]
        now = self._clock()
        at = utc_from_ms(int(now * 1000))
        datums = []
        for record in records:
            age = max(0.0, now - record.watermark.timestamp_ms / 1000)  # type: ignore[union-attr]
            d = datum(FRESHNESS, age, at, table_dimensions(record.table))
            self._exporter.update_snapshot(record.table, [d])
            datums.append(d)
        if datums:
            await self._publisher.publish(datums)
        return datums
