"""Snapshot metrics from snapshot summaries, and walking a table's history."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from pyiceberg.table.metadata import TableMetadata
from pyiceberg.table.snapshots import Snapshot

from service.engine.catalogue import SNAPSHOT_SUMMARY_KEYS, datum, snapshot_metric_name, table_dimensions
from service.models import MetricDatum, utc_from_ms


@dataclass(frozen=True, slots=True)
class SnapshotMetrics:
    """One snapshot's datums, and the summary values that could not be read."""

    snapshot_id: int
    datums: list[MetricDatum]
    invalid_keys: dict[str, str]


def summary_properties(snapshot: Snapshot) -> Mapping[str, str]:
    # pyiceberg's Summary.get() returns None for missing keys and dict(summary) raises.
    return snapshot.summary.additional_properties if snapshot.summary is not None else {}


def snapshot_metrics(snapshot: Snapshot, table_name: str) -> SnapshotMetrics:
    """Datums for one snapshot at its commit time; a key missing from the summary means 0."""
    props = summary_properties(snapshot)
    at = utc_from_ms(snapshot.timestamp_ms)
    dims = table_dimensions(table_name)
    datums: list[MetricDatum] = []
    invalid: dict[str, str] = {}
    for key in SNAPSHOT_SUMMARY_KEYS:
        raw = props.get(key, "0")
        try:
            value = int(raw)
        except (TypeError, ValueError):
            invalid[key] = str(raw)[:64]  # summaries come from any engine; skip, never guess
            continue
        datums.append(datum(snapshot_metric_name(key), value, at, dims))
    return SnapshotMetrics(snapshot.snapshot_id, datums, invalid)


def snapshots_by_id(metadata: TableMetadata) -> dict[int, Snapshot]:
    return {s.snapshot_id: s for s in metadata.snapshots}


def ancestry(head: Snapshot | None, by_id: Mapping[int, Snapshot]) -> Iterable[Snapshot]:
    """The snapshot and its retained ancestors, newest first (stops at an expired parent)."""
    seen: set[int] = set()
    snapshot = head
    while snapshot is not None and snapshot.snapshot_id not in seen:
        seen.add(snapshot.snapshot_id)  # guards against a corrupt parent cycle
        yield snapshot
        parent = snapshot.parent_snapshot_id
        snapshot = by_id.get(parent) if parent is not None else None


def snapshots_after(metadata: TableMetadata, after_id: int | None) -> list[Snapshot]:
    """Snapshots on the current snapshot's ancestry committed after `after_id`, oldest first.

    With `after_id` None, or not on the ancestry (expired, or a rollback moved the table elsewhere),
    the whole retained ancestry is returned; callers that keep watermarks decide what that means.
    """
    by_id = snapshots_by_id(metadata)
    head = by_id.get(metadata.current_snapshot_id) if metadata.current_snapshot_id is not None else None
    newer: list[Snapshot] = []
    for snapshot in ancestry(head, by_id):
        if snapshot.snapshot_id == after_id:
            break
        newer.append(snapshot)
    newer.reverse()
    return newer


def retained_snapshots(metadata: TableMetadata) -> list[Snapshot]:
    """Every snapshot in the metadata (all branches), in commit order."""
    return sorted(metadata.snapshots, key=lambda s: (s.timestamp_ms, s.sequence_number or 0))
