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

from service.cadence import StateCadence
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
from service.state import StateStore, StateStoreError, Watermark
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
class _Computed:
    metrics: TableMetrics
    snapshot_ids: list[int]
    head: Watermark | None
    compute_s: float


class TableProcessor:
    """Publishes each new snapshot's metrics once, plus the current state, for one table at a time.

    A table seen for the first time gets every snapshot committed since icewatch began watching
    (recorded in the state store). Later, the snapshots after its watermark on the current
    ancestry; if the watermark left the ancestry (a rollback, or expired snapshots), those
    committed after the watermark's time. The table's lease keeps other replicas off it meanwhile,
    and only an acknowledged publication advances the watermark.
    """

    def __init__(
        self,
        catalog: Catalog,
        collector: TableCollector,
        publisher: Publisher,
        exporter: TableMetricsExporter,
        metrics: ServiceMetrics,
        store: StateStore,
        *,
        owner: str,
        watch_started_ms: int,
        threads: int,
        lease_ttl_s: float = 120.0,
        cadence: StateCadence | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._catalog = catalog
        self._collector = collector
        self._publisher = publisher
        self._exporter = exporter
        self._metrics = metrics
        self._store = store
        self._owner = owner
        self._lease_ttl_s = lease_ttl_s
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="iceberg")
        self._clock = clock
        self._cadence = cadence or StateCadence(0)  # default: the current state with every run
        self._started_ms = watch_started_ms
        self._tracked: set[str] = set()
        self._not_iceberg: set[str] = set()

    async def forget(self, table: str) -> None:
        """The table was dropped or re-created: start over with it."""
        self._tracked.discard(table)
        self._not_iceberg.discard(table)
        self._cadence.forget(table)
        self._exporter.forget(table)
        self._metrics.tables_tracked.set(len(self._tracked))
        await self._store.forget(table)

    async def process(self, table: str) -> Outcome:
        if table in self._not_iceberg:
            return Outcome(False, "not_iceberg")
        try:
            if not await self._store.acquire(table, self._owner, self._lease_ttl_s):
                # Another replica is on it now; redelivered later, this finds its work done.
                return Outcome(False, "leased_elsewhere", retry=True)
        except StateStoreError as exc:
            return self._failed(table, "state_store_unavailable", True, exc)
        try:
            return await self._process_leased(table)
        finally:
            try:
                await self._store.release(table, self._owner)
            except StateStoreError as exc:  # the lease expires on its own
                log.warning("lease_release_failed", table=table, error=str(exc)[:300])

    async def _process_leased(self, table: str) -> Outcome:
        started = time.perf_counter()
        try:
            record = await self._store.get(table)
            mark = record.watermark if record is not None else None
            computed = await asyncio.get_running_loop().run_in_executor(
                self._pool, self._compute, table, mark
            )
        except NotAnIcebergTableError as exc:
            self._not_iceberg.add(table)  # one lookup, then remembered until the table changes
            return self._failed(table, "not_iceberg", False, exc)
        except TableNotFoundError as exc:
            await self.forget(table)
            return self._failed(table, "table_not_found", False, exc)
        except StateStoreError as exc:
            return self._failed(table, "state_store_unavailable", True, exc)
        except MetadataError as exc:
            return self._failed(table, "metadata_error", True, exc)
        except CatalogUnavailableError as exc:
            return self._failed(table, "catalog_unavailable", True, exc)
        except Exception:
            log.exception("table_failed", table=table, reason="internal_error")
            return Outcome(False, "internal_error", True)

        publish_started = time.perf_counter()
        metrics = computed.metrics
        datums = [d for s in metrics.snapshots for d in s.datums]
        datums += self._cadence.admit(table, metrics.state_datums)
        try:
            await self._publisher.publish(datums)
        except Exception as exc:
            self._cadence.forget(table)  # the retry sends the current state at once
            return self._failed(table, "publish_failed", True, exc)
        # Only an acknowledged publication moves the watermark: a crash before it re-publishes.
        if computed.head is not None:
            try:
                advanced = await self._store.advance(table, self._owner, computed.head)
            except StateStoreError as exc:
                return self._failed(table, "state_store_unavailable", True, exc)
            if not advanced:
                # Our lease expired mid-run and another replica may have published these too.
                log.warning("lease_lost", table=table, snapshot_ids=computed.snapshot_ids)
        self._tracked.add(table)
        self._exporter.update(table, computed.metrics.state_datums, computed.metrics.health.findings)
        for snapshot in computed.metrics.snapshots:
            self._exporter.update_snapshot(table, snapshot.datums)
        self._metrics.tables_tracked.set(len(self._tracked))
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

    async def publish_held_states(self, everything: bool = False) -> int:
        """Publish the current states the cadence held back once they are due; returns datums sent."""
        datums = self._cadence.due(everything)
        if datums:
            await self._publisher.publish(datums)
        return len(datums)

    def _failed(self, table: str, reason: str, retry: bool, exc: Exception) -> Outcome:
        log.warning("table_failed", table=table, reason=reason, retry=retry, error=str(exc)[:500])
        return Outcome(False, reason, retry)

    def _compute(self, table: str, mark: Watermark | None) -> _Computed:
        """Runs in a worker thread: pyiceberg is synchronous."""
        started = time.perf_counter()
        name = TableName.parse(table)
        iceberg_table = load_table(self._catalog, name)
        new = self._new_snapshots(iceberg_table, mark)
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
        head = (
            Watermark(
                snapshot_id=current.snapshot_id,
                sequence_number=current.sequence_number or 0,  # v1 tables have none
                timestamp_ms=current.timestamp_ms,
                metadata_location=iceberg_table.metadata_location,
            )
            if current is not None
            else None
        )
        return _Computed(metrics, [s.snapshot_id for s in new], head, time.perf_counter() - started)

    def _new_snapshots(self, iceberg_table: Table, mark: Watermark | None) -> list[Snapshot]:
        metadata = iceberg_table.metadata
        if mark is None:
            return [s for s in snapshots_after(metadata, None) if s.timestamp_ms >= self._started_ms]
        newer = snapshots_after(metadata, mark.snapshot_id)
        # Off the ancestry, snapshots_after gives the whole history: keep what came after the mark.
        on_ancestry = not newer or newer[0].parent_snapshot_id == mark.snapshot_id
        return newer if on_ancestry else [s for s in newer if s.timestamp_ms > mark.timestamp_ms]

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
