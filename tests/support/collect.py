"""Run icewatch's collector on a table, the way the CLI and daemon do."""

from __future__ import annotations

from datetime import datetime

from pyiceberg.table import Table

from service.collection import TableCollector, TableMetrics
from service.engine.snapshots import retained_snapshots
from service.iceberg.manifests import ManifestAggregateCache, ManifestReader
from service.models import TableName
from service.settings import Settings


def new_collector(cache_entries: int = 1_000_000, settings: Settings | None = None) -> TableCollector:
    return TableCollector(ManifestReader(ManifestAggregateCache(cache_entries)), settings or Settings())


def collect(
    table: Table, collector: TableCollector | None = None, now: datetime | None = None
) -> TableMetrics:
    namespace, name = table.name()[-2:]
    return (collector or new_collector()).collect(
        table, TableName(namespace, name), retained_snapshots(table.metadata), now=now
    )


def values(metrics: TableMetrics) -> dict[str, float]:
    """State datums by name (table-level ones only)."""
    return {d.name: d.value for d in metrics.state_datums if len(d.dimensions) == 1}
