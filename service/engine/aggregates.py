"""Per-manifest aggregates and their merge into the state of one snapshot.

A manifest is immutable, so its aggregate is computed once and cached by the adapter; a snapshot's
state is the merge of its manifests' aggregates, which makes one more commit cost only its new
manifests. Every data file is live in exactly one manifest of a snapshot, so sums simply add.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace

# Iceberg spec constants (manifest_entry.status, data_file.content).
STATUS_DELETED = 2
CONTENT_DATA = 0
CONTENT_POSITION_DELETES = 1
CONTENT_EQUALITY_DELETES = 2

# (partition spec id, partition tuple): two specs never share a partition.
PartitionKey = tuple[int, tuple[object, ...]]


@dataclass(frozen=True, slots=True)
class ManifestEntryRow:
    """The fields of a manifest entry the metrics need; everything else is never decoded."""

    status: int
    content: int
    partition: tuple[object, ...]
    record_count: int
    file_size_in_bytes: int


@dataclass(slots=True)
class FileTotals:
    """Count, sum, min and max of data files' record counts and sizes, plus small files."""

    count: int = 0
    records: int = 0
    records_min: int = 0
    records_max: int = 0
    size: int = 0
    size_min: int = 0
    size_max: int = 0
    small: int = 0

    def add_file(self, records: int, size: int, small: bool) -> None:
        if self.count == 0:
            self.records_min = self.records_max = records
            self.size_min = self.size_max = size
        else:
            self.records_min = min(self.records_min, records)
            self.records_max = max(self.records_max, records)
            self.size_min = min(self.size_min, size)
            self.size_max = max(self.size_max, size)
        self.count += 1
        self.records += records
        self.size += size
        self.small += small

    def merge(self, other: FileTotals) -> None:
        if other.count == 0:
            return
        if self.count == 0:
            self.records_min, self.records_max = other.records_min, other.records_max
            self.size_min, self.size_max = other.size_min, other.size_max
        else:
            self.records_min = min(self.records_min, other.records_min)
            self.records_max = max(self.records_max, other.records_max)
            self.size_min = min(self.size_min, other.size_min)
            self.size_max = max(self.size_max, other.size_max)
        self.count += other.count
        self.records += other.records
        self.size += other.size
        self.small += other.small


@dataclass(slots=True)
class DeleteTotals:
    """Live delete files: how many, how big, and how many rows they delete."""

    position_files: int = 0
    position_records: int = 0
    equality_files: int = 0
    equality_records: int = 0
    size: int = 0

    @property
    def files(self) -> int:
        return self.position_files + self.equality_files

    def merge(self, other: DeleteTotals) -> None:
        self.position_files += other.position_files
        self.position_records += other.position_records
        self.equality_files += other.equality_files
        self.equality_records += other.equality_records
        self.size += other.size


@dataclass(slots=True)
class ManifestAggregate:
    """What one manifest's live entries contribute to a snapshot's metrics."""

    partitions: dict[PartitionKey, list[int]] = field(default_factory=dict)  # key -> [records, files]
    data_files: FileTotals = field(default_factory=FileTotals)
    delete_files: DeleteTotals = field(default_factory=DeleteTotals)

    @property
    def weight(self) -> int:
        """Cache cost, in partition entries (the part that grows with the table)."""
        return 1 + len(self.partitions)


def aggregate_manifest(
    spec_id: int, entries: Iterable[ManifestEntryRow], small_file_bytes: float
) -> ManifestAggregate:
    """Aggregate one manifest's live entries; `small_file_bytes` is the small-file size bound."""
    agg = ManifestAggregate()
    partitions = agg.partitions
    for entry in entries:
        if entry.status == STATUS_DELETED:
            continue
        if entry.content == CONTENT_DATA:
            key = (spec_id, entry.partition)
            slot = partitions.get(key)
            if slot is None:
                partitions[key] = [entry.record_count, 1]
            else:
                slot[0] += entry.record_count
                slot[1] += 1
            agg.data_files.add_file(
                entry.record_count, entry.file_size_in_bytes, entry.file_size_in_bytes < small_file_bytes
            )
        elif entry.content == CONTENT_POSITION_DELETES:
            agg.delete_files.position_files += 1
            agg.delete_files.position_records += entry.record_count
            agg.delete_files.size += entry.file_size_in_bytes
        elif entry.content == CONTENT_EQUALITY_DELETES:
            agg.delete_files.equality_files += 1
            agg.delete_files.equality_records += entry.record_count
            agg.delete_files.size += entry.file_size_in_bytes
        else:
            raise ValueError(f"unknown data file content {entry.content}")
    return agg


@dataclass(frozen=True, slots=True)
class ManifestRef:
    """A manifest as listed in a snapshot's manifest list."""

    path: str
    length: int
    spec_id: int
    content: int  # 0 = data, 1 = deletes


@dataclass(slots=True)
class SnapshotState:
    """Everything the partition, file and health metrics need about one snapshot."""

    partitions: dict[PartitionKey, list[int]] = field(default_factory=dict)
    data_files: FileTotals = field(default_factory=FileTotals)
    delete_files: DeleteTotals = field(default_factory=DeleteTotals)
    data_manifests: int = 0
    delete_manifests: int = 0
    small_manifests: int = 0


def merge_manifests(
    manifests: Iterable[tuple[ManifestRef, ManifestAggregate]], small_manifest_bytes: float
) -> SnapshotState:
    """Merge the aggregates of a snapshot's manifests into its state."""
    return _accumulate(SnapshotState(), manifests, small_manifest_bytes)


def add_manifests(
    base: SnapshotState, added: Iterable[tuple[ManifestRef, ManifestAggregate]], small_manifest_bytes: float
) -> SnapshotState:
    """`base` plus more manifests, as a new state (`base` is left as it was).

    A snapshot that only adds manifests to its parent's (an append) costs O(new manifests)
    this way instead of O(all manifests).
    """
    start = SnapshotState(
        partitions={key: [records, files] for key, (records, files) in base.partitions.items()},
        data_files=replace(base.data_files),
        delete_files=replace(base.delete_files),
        data_manifests=base.data_manifests,
        delete_manifests=base.delete_manifests,
        small_manifests=base.small_manifests,
    )
    return _accumulate(start, added, small_manifest_bytes)


def _accumulate(
    state: SnapshotState,
    manifests: Iterable[tuple[ManifestRef, ManifestAggregate]],
    small_manifest_bytes: float,
) -> SnapshotState:
    partitions = state.partitions
    for ref, agg in manifests:
        if ref.content == CONTENT_DATA:
            state.data_manifests += 1
        else:
            state.delete_manifests += 1
        state.small_manifests += ref.length < small_manifest_bytes
        for key, (records, files) in agg.partitions.items():
            slot = partitions.get(key)
            if slot is None:
                partitions[key] = [records, files]
            else:
                slot[0] += records
                slot[1] += files
        state.data_files.merge(agg.data_files)
        state.delete_files.merge(agg.delete_files)
    return state
