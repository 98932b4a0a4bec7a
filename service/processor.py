"""Process one table: load it, compute what changed since it was last published, publish, advance."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

import structlog
from pyiceberg.catalog import Catalog
from pyiceberg.table import Table
from pyiceberg.table.snapshots import Snapshot

from service.collection import TableCollector, TableMetrics
from service.engine.snapshots import snapshots_after
from service.errors import (
    CatalogUnavailableError,
    MetadataError,
    NotAnIcebergTableError,
    TableNotFoundError,
)
from service.exporter import TableMetricsExporter
from service.iceberg.catalog import load_table
from service.models import MetricDatum, TableName
from service.telemetry import ServiceMetrics

log = structlog.get_logger(__name__)


class Publisher(Protocol):
    async def publish(self, datums: list[MetricDatum]) -> None: ...


@dataclass(frozen=True, slots=True)
class Outcome:
    """How processing a table ended; `retry` says whether redelivering its events could help."""

    ok: bool
    reason: str = "ok"
    retry: bool = False


OK = Outcome(True)


@dataclass(frozen=True, slots=True)
class Watermark:
    """The last snapshot whose metrics were published for a table."""

    snapshot_id: int
    timestamp_ms: int


@dataclass(frozen=True, slots=True)
class _Computed:
    metrics: TableMetrics
    snapshot_ids: list[int]
    head: Watermark | None
    compute_s: float


class TableProcessor:
    """Publishes each new snapshot's metrics once, plus the current state, for one table at a time.

    A table seen for the first time gets every snapshot committed since `watch_started`. Later,
    the snapshots after its watermark on the current ancestry; if the watermark left the ancestry
    (a rollback, or expired snapshots), those committed after the watermark's time.
    Watermarks live in memory here; persistent ones are the state store's job.
    """

    def __init__(
        self,
        catalog: Catalog,
        collector: TableCollector,
        publisher: Publisher,
        exporter: TableMetricsExporter,
        metrics: ServiceMetrics,
        threads: int,
        watch_started: datetime | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._catalog = catalog
        self._collector = collector
        self._publisher = publisher
        self._exporter = exporter
        self._metrics = metrics
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="iceberg")
        self._clock = clock
        self._started_ms = int((watch_started or clock()).timestamp() * 1000)
        self._watermarks: dict[str, Watermark] = {}
        self._not_iceberg: set[str] = set()

    def forget(self, table: str) -> None:
        """The table was dropped or re-created: start over with it."""
        self._watermarks.pop(table, None)
        self._not_iceberg.discard(table)
        self._exporter.forget(table)
        self._metrics.tables_tracked.set(len(self._watermarks))

    async def process(self, table: str) -> Outcome:
        if table in self._not_iceberg:
            return Outcome(False, "not_iceberg")
        started = time.perf_counter()
        try:
            computed = await asyncio.get_running_loop().run_in_executor(self._pool, self._compute, table)
        except NotAnIcebergTableError as exc:
            self._not_iceberg.add(table)  # one lookup, then remembered until the table changes
            return self._failed(table, "not_iceberg", False, exc)
        except TableNotFoundError as exc:
            self.forget(table)
            return self._failed(table, "table_not_found", False, exc)
        except MetadataError as exc:
            return self._failed(table, "metadata_error", True, exc)
        except CatalogUnavailableError as exc:
            return self._failed(table, "catalog_unavailable", True, exc)
        except Exception:
            log.exception("table_failed", table=table, reason="internal_error")
            return Outcome(False, "internal_error", True)

        publish_started = time.perf_counter()
        datums = computed.metrics.datums
        try:
            await self._publisher.publish(datums)
        except Exception as exc:
            return self._failed(table, "publish_failed", True, exc)
        # Only an acknowledged publication moves the watermark: a crash before it re-publishes.
        if computed.head is not None:
            self._watermarks[table] = computed.head
        self._exporter.update(table, computed.metrics.state_datums, computed.metrics.health.findings)
        for snapshot in computed.metrics.snapshots:
            self._exporter.update_snapshot(table, snapshot.datums)
        self._metrics.tables_tracked.set(len(self._watermarks))
        self._metrics.snapshots_published.inc(len(computed.snapshot_ids))
        elapsed = time.perf_counter() - started
        self._metrics.processing_seconds.observe(elapsed)
        log.info(
            "table_processed",
            table=table,
            snapshot_ids=computed.snapshot_ids,
            current_snapshot_id=computed.metrics.snapshot_id,
            datums=len(datums),
            compute_ms=round(computed.compute_s * 1000, 2),
            publish_ms=round((time.perf_counter() - publish_started) * 1000, 2),
            findings=[f.code for f in computed.metrics.health.findings],
        )
        return OK

    def _failed(self, table: str, reason: str, retry: bool, exc: Exception) -> Outcome:
        log.warning("table_failed", table=table, reason=reason, retry=retry, error=str(exc)[:500])
        return Outcome(False, reason, retry)

    def _compute(self, table: str) -> _Computed:
        """Runs in a worker thread: pyiceberg is synchronous."""
        started = time.perf_counter()
        name = TableName.parse(table)
        iceberg_table = load_table(self._catalog, name)
        new = self._new_snapshots(table, iceberg_table)
        metrics = self._collector.collect(iceberg_table, name, new, now=self._clock())
        for snapshot_metrics in metrics.snapshots:
            if snapshot_metrics.invalid_keys:
                log.warning(
                    "snapshot_summary_invalid",
                    table=table,
                    snapshot_id=snapshot_metrics.snapshot_id,
                    keys=snapshot_metrics.invalid_keys,
                )
        current = iceberg_table.current_snapshot()
        head = Watermark(current.snapshot_id, current.timestamp_ms) if current is not None else None
        return _Computed(metrics, [s.snapshot_id for s in new], head, time.perf_counter() - started)

    def _new_snapshots(self, table: str, iceberg_table: Table) -> list[Snapshot]:
        metadata = iceberg_table.metadata
        mark = self._watermarks.get(table)
        if mark is None:
            return [s for s in snapshots_after(metadata, None) if s.timestamp_ms >= self._started_ms]
        newer = snapshots_after(metadata, mark.snapshot_id)
        # Off the ancestry, snapshots_after gives the whole history: keep what came after the mark.
        on_ancestry = not newer or newer[0].parent_snapshot_id == mark.snapshot_id
        return newer if on_ancestry else [s for s in newer if s.timestamp_ms > mark.timestamp_ms]

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
