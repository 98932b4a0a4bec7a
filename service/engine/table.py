"""Partition, file and health figures of the current snapshot, and their datums."""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from service.engine.aggregates import PartitionKey, SnapshotState
from service.engine.catalogue import PARTITION_DIMENSION, TABLE_DIMENSION, datum, table_dimensions
from service.engine.stats import Distribution, describe
from service.models import MetricDatum


@dataclass(frozen=True, slots=True)
class TableFacts:
    """What the table metadata (not the manifests) says about the table."""

    snapshot_count: int
    oldest_snapshot_ms: int | None
    current_snapshot_ms: int | None
    target_file_size_bytes: int


@dataclass(frozen=True, slots=True)
class TableFigures:
    """The current snapshot's figures, from which datums and health findings are made."""

    partition_records: Distribution
    partition_files: Distribution
    data_file_count: int
    file_records_avg: float
    file_records_max: int
    file_records_min: int
    file_size_avg: float
    file_size_max: int
    file_size_min: int
    small_file_count: int
    small_file_ratio: float
    delete_file_count: int
    delete_file_size: int
    position_delete_ratio: float
    equality_delete_ratio: float
    data_manifests: int
    delete_manifests: int
    small_manifests: int
    snapshot_count: int
    oldest_snapshot_age_s: float
    seconds_since_last_commit: float | None  # None: the table has no snapshot yet


def table_figures(state: SnapshotState, facts: TableFacts, now: datetime) -> TableFigures:
    files = state.data_files
    deletes = state.delete_files
    now_ms = now.timestamp() * 1000
    return TableFigures(
        partition_records=describe(slot[0] for slot in state.partitions.values()),
        partition_files=describe(slot[1] for slot in state.partitions.values()),
        data_file_count=files.count,
        file_records_avg=files.records / files.count if files.count else 0.0,
        file_records_max=files.records_max,
        file_records_min=files.records_min,
        file_size_avg=files.size / files.count if files.count else 0.0,
        file_size_max=files.size_max,
        file_size_min=files.size_min,
        small_file_count=files.small,
        small_file_ratio=files.small / files.count if files.count else 0.0,
        delete_file_count=deletes.files,
        delete_file_size=deletes.size,
        position_delete_ratio=deletes.position_records / files.records if files.records else 0.0,
        equality_delete_ratio=deletes.equality_records / files.records if files.records else 0.0,
        data_manifests=state.data_manifests,
        delete_manifests=state.delete_manifests,
        small_manifests=state.small_manifests,
        snapshot_count=facts.snapshot_count,
        oldest_snapshot_age_s=_age_s(now_ms, facts.oldest_snapshot_ms) or 0.0,
        seconds_since_last_commit=_age_s(now_ms, facts.current_snapshot_ms),
    )


def _age_s(now_ms: float, then_ms: int | None) -> float | None:
    # Clock skew between writer and watcher must not give a negative age.
    return None if then_ms is None else max(0.0, (now_ms - then_ms) / 1000)


def figure_datums(
    figures: TableFigures, health_score: float, table_name: str, at: datetime
) -> list[MetricDatum]:
    """The partition, file and health datums of the catalogue for one table, at time `at`."""
    dims = table_dimensions(table_name)
    values: dict[str, float] = {"partitions.count": figures.partition_records.count}
    for of, dist in (("record_count", figures.partition_records), ("file_count", figures.partition_files)):
        values[f"partitions.avg_{of}"] = dist.mean
        values[f"partitions.max_{of}"] = dist.maximum
        values[f"partitions.min_{of}"] = dist.minimum
        values[f"partitions.deviation_{of}"] = dist.std
        values[f"partitions.skew_{of}"] = dist.skew
    values |= {
        "files.avg_record_count": figures.file_records_avg,
        "files.max_record_count": figures.file_records_max,
        "files.min_record_count": figures.file_records_min,
        "files.avg_file_size": figures.file_size_avg,
        "files.max_file_size": figures.file_size_max,
        "files.min_file_size": figures.file_size_min,
        "files.small_file_count": figures.small_file_count,
        "files.small_file_ratio": figures.small_file_ratio,
        "delete_files.count": figures.delete_file_count,
        "delete_files.total_size": figures.delete_file_size,
        "manifests.data_count": figures.data_manifests,
        "manifests.delete_count": figures.delete_manifests,
        "snapshots.count": figures.snapshot_count,
        "snapshots.oldest_age_s": figures.oldest_snapshot_age_s,
        "deletes.position_delete_ratio": figures.position_delete_ratio,
        "deletes.equality_delete_ratio": figures.equality_delete_ratio,
        "health.score": health_score,
    }
    if figures.seconds_since_last_commit is not None:
        values["table.seconds_since_last_commit"] = figures.seconds_since_last_commit
    return [datum(name, value, at, dims) for name, value in values.items()]


def top_partition_datums(
    state: SnapshotState,
    k: int,
    partition_name: Callable[[PartitionKey], str],
    table_name: str,
    at: datetime,
) -> list[MetricDatum]:
    """Record and file counts of the k partitions holding most records."""
    if k <= 0 or not state.partitions:
        return []
    # Only the k chosen partitions are named: rendering every partition would cost O(partitions).
    top = heapq.nsmallest(k, state.partitions.items(), key=lambda kv: (-kv[1][0], repr(kv[0])))
    out: list[MetricDatum] = []
    for key, (records, files) in top:
        dims = ((TABLE_DIMENSION, table_name), (PARTITION_DIMENSION, partition_name(key)))
        out.append(datum("partitions.record_count", records, at, dims))
        out.append(datum("partitions.file_count", files, at, dims))
    return out
