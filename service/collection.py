"""Collect one table's metrics: metadata in through the adapter, datums out of the engine."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from pyiceberg.table import Table
from pyiceberg.table.snapshots import Snapshot
from pyiceberg.typedef import Record

from service.engine.aggregates import PartitionKey, SnapshotState
from service.engine.health import HealthReport, assess
from service.engine.snapshots import SnapshotMetrics, snapshot_metrics
from service.engine.table import (
    TableFacts,
    TableFigures,
    figure_datums,
    table_figures,
    top_partition_datums,
)
from service.iceberg.manifests import ManifestReader
from service.models import MetricDatum, TableName
from service.settings import Settings

# Table properties and their defaults, from the Iceberg spec.
TARGET_FILE_SIZE = "write.target-file-size-bytes"
TARGET_FILE_SIZE_DEFAULT = 536_870_912
TARGET_MANIFEST_SIZE = "commit.manifest.target-size-bytes"
TARGET_MANIFEST_SIZE_DEFAULT = 8_388_608
UNPARTITIONED = "unpartitioned"


@dataclass(frozen=True, slots=True)
class TableMetrics:
    """One collection of a table: current-state datums, per-snapshot datums, figures and health."""

    table: str
    snapshot_id: int | None
    state_datums: list[MetricDatum]
    snapshots: list[SnapshotMetrics]
    figures: TableFigures
    health: HealthReport
    state: SnapshotState
    duration_s: float

    @property
    def datums(self) -> list[MetricDatum]:
        return [d for s in self.snapshots for d in s.datums] + self.state_datums


def _int_property(table: Table, key: str, default: int) -> int:
    try:
        value = int(table.metadata.properties.get(key, default))
    except (TypeError, ValueError):
        return default  # an unparsable property is what Iceberg writers also ignore
    return value if value > 0 else default


def table_facts(table: Table) -> TableFacts:
    metadata = table.metadata
    current = table.current_snapshot()
    return TableFacts(
        snapshot_count=len(metadata.snapshots),
        oldest_snapshot_ms=min((s.timestamp_ms for s in metadata.snapshots), default=None),
        current_snapshot_ms=current.timestamp_ms if current is not None else None,
        target_file_size_bytes=_int_property(table, TARGET_FILE_SIZE, TARGET_FILE_SIZE_DEFAULT),
    )


class TableCollector:
    """Computes a table's metrics from its metadata, reusing cached manifest aggregates."""

    def __init__(self, reader: ManifestReader, settings: Settings) -> None:
        self._reader = reader
        self._settings = settings

    def collect(
        self,
        table: Table,
        name: TableName,
        snapshots: Iterable[Snapshot] = (),
        now: datetime | None = None,
    ) -> TableMetrics:
        """Metrics of the current snapshot, plus snapshot metrics for each of `snapshots`."""
        started = time.perf_counter()
        now = now or datetime.now(UTC)
        table_name = str(name)
        facts = table_facts(table)
        small_file_bytes = facts.target_file_size_bytes * self._settings.health.small_file_ratio_of_target
        small_manifest_bytes = 0.75 * _int_property(table, TARGET_MANIFEST_SIZE, TARGET_MANIFEST_SIZE_DEFAULT)
        current = table.current_snapshot()
        state = self._reader.snapshot_state(
            table.io,
            current,
            small_file_bytes,
            small_manifest_bytes,
            table_key=str(table.metadata.table_uuid),
        )
        figures = table_figures(state, facts, now)
        health = assess(figures, self._settings.health)
        state_datums = figure_datums(figures, health.score, table_name, now)
        state_datums += top_partition_datums(
            state,
            self._settings.metrics.top_partitions,
            lambda key: partition_name(table, key),
            table_name,
            now,
        )
        return TableMetrics(
            table=table_name,
            snapshot_id=current.snapshot_id if current is not None else None,
            state_datums=state_datums,
            snapshots=[snapshot_metrics(s, table_name) for s in snapshots],
            figures=figures,
            health=health,
            state=state,
            duration_s=time.perf_counter() - started,
        )


def partition_name(table: Table, key: PartitionKey) -> str:
    """Hive-style partition path, e.g. `day=2026-11-23/region=eu`."""
    spec_id, values = key
    spec = table.metadata.specs().get(spec_id)
    if spec is None or spec.is_unpartitioned():
        return UNPARTITIONED if not values else f"spec={spec_id}/" + "/".join(map(str, values))
    try:
        return spec.partition_to_path(Record(*values), table.schema())
    except Exception:
        # An old spec whose source column was dropped can't be rendered by the current schema.
        pairs = zip(spec.fields, values, strict=False)
        return f"spec={spec_id}/" + "/".join(f"{f.name}={v}" for f, v in pairs)
