"""The metric catalogue (../shared/METRICS.md): every name icewatch publishes, with its unit.

Names and dimensions are a public contract that dashboards and alarms depend on; the seed's names
are kept. Change them only with a documented migration.
"""

from __future__ import annotations

import math
from datetime import datetime

from service.models import MetricDatum, Unit

TABLE_DIMENSION = "table_name"
PARTITION_DIMENSION = "partition_name"

# Snapshot metrics: one per summary key, `snapshot.` + key with '-' replaced by '_'.
SNAPSHOT_SUMMARY_KEYS: tuple[str, ...] = (
    "added-data-files",
    "deleted-data-files",
    "total-data-files",
    "added-delete-files",
    "removed-delete-files",
    "total-delete-files",
    "added-records",
    "deleted-records",
    "total-records",
    "added-files-size",
    "removed-files-size",
    "total-files-size",
    "added-position-deletes",
    "removed-position-deletes",
    "total-position-deletes",
    "added-equality-deletes",
    "removed-equality-deletes",
    "total-equality-deletes",
    "changed-partition-count",
)


def snapshot_metric_name(summary_key: str) -> str:
    return "snapshot." + summary_key.replace("-", "_")


_BYTES_SUMMARY_KEYS = {"added-files-size", "removed-files-size", "total-files-size"}

UNITS: dict[str, Unit] = {
    **{
        snapshot_metric_name(k): Unit.BYTES if k in _BYTES_SUMMARY_KEYS else Unit.COUNT
        for k in SNAPSHOT_SUMMARY_KEYS
    },
    "partitions.count": Unit.COUNT,
    **{
        f"partitions.{stat}_{of}": Unit.NONE if stat == "skew" else Unit.COUNT
        for stat in ("avg", "max", "min", "deviation", "skew")
        for of in ("record_count", "file_count")
    },
    "partitions.record_count": Unit.COUNT,
    "partitions.file_count": Unit.COUNT,
    "files.avg_record_count": Unit.COUNT,
    "files.max_record_count": Unit.COUNT,
    "files.min_record_count": Unit.COUNT,
    "files.avg_file_size": Unit.BYTES,
    "files.max_file_size": Unit.BYTES,
    "files.min_file_size": Unit.BYTES,
    "files.small_file_count": Unit.COUNT,
    "files.small_file_ratio": Unit.NONE,
    "delete_files.count": Unit.COUNT,
    "delete_files.total_size": Unit.BYTES,
    "manifests.data_count": Unit.COUNT,
    "manifests.delete_count": Unit.COUNT,
    "snapshots.count": Unit.COUNT,
    "snapshots.oldest_age_s": Unit.SECONDS,
    "deletes.position_delete_ratio": Unit.NONE,
    "deletes.equality_delete_ratio": Unit.NONE,
    "table.seconds_since_last_commit": Unit.SECONDS,
    "health.score": Unit.NONE,
}


def datum(name: str, value: float, at: datetime, dimensions: tuple[tuple[str, str], ...]) -> MetricDatum:
    """A datum of a catalogue metric; refuses names outside the catalogue and non-finite values."""
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} is {value}; CloudWatch rejects NaN and infinities")
    return MetricDatum(name=name, value=value, unit=UNITS[name], timestamp=at, dimensions=dimensions)


def table_dimensions(table_name: str) -> tuple[tuple[str, str], ...]:
    return ((TABLE_DIMENSION, table_name),)
