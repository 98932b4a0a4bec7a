"""Read a snapshot's manifest list and manifests into a SnapshotState, caching per manifest.

Manifests are immutable, so each one's aggregate is cached by path (bounded, least recently used
first out); after one more commit only the new manifests are read. The manifest list is read every
time (it is small and new for every snapshot).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

from pyiceberg.io import FileIO
from pyiceberg.schema import Schema
from pyiceberg.table.snapshots import Snapshot
from pyiceberg.types import IntegerType, LongType, NestedField, StringType, StructType

from service.engine.aggregates import (
    CONTENT_DATA,
    ManifestAggregate,
    ManifestEntryRow,
    ManifestRef,
    SnapshotState,
    aggregate_manifest,
    merge_manifests,
)
from service.errors import MetadataError
from service.iceberg.avro import AvroProjectionReader

# Field ids from the Iceberg spec (manifest list and manifest entry schemas).
_MANIFEST_PATH, _MANIFEST_LENGTH, _SPEC_ID, _MANIFEST_CONTENT = 500, 501, 502, 517
_STATUS, _DATA_FILE = 0, 2
_CONTENT, _PARTITION, _RECORD_COUNT, _FILE_SIZE = 134, 102, 103, 104

_MANIFEST_LIST_PROJECTION = Schema(
    NestedField(_MANIFEST_PATH, "manifest_path", StringType(), required=True),
    NestedField(_MANIFEST_LENGTH, "manifest_length", LongType(), required=True),
    NestedField(_SPEC_ID, "partition_spec_id", IntegerType(), required=True),
    NestedField(_MANIFEST_CONTENT, "content", IntegerType(), required=False),  # absent in v1: data
)


def _manifest_entry_projection(file_schema: Schema) -> Schema:
    # The partition struct differs per spec, so it is taken from the file's own schema.
    data_file = file_schema.find_field(_DATA_FILE).field_type
    if not isinstance(data_file, StructType):
        raise ValueError("manifest entry has no data_file struct")
    partition = data_file.field(_PARTITION)
    if partition is None:
        raise ValueError("manifest data_file has no partition field")
    return Schema(
        NestedField(_STATUS, "status", IntegerType(), required=True),
        NestedField(
            _DATA_FILE,
            "data_file",
            StructType(
                NestedField(_CONTENT, "content", IntegerType(), required=False),  # absent in v1: data
                NestedField(_PARTITION, "partition", partition.field_type, required=True),
                NestedField(_RECORD_COUNT, "record_count", LongType(), required=True),
                NestedField(_FILE_SIZE, "file_size_in_bytes", LongType(), required=True),
            ),
            required=True,
        ),
    )


class ManifestAggregateCache:
    """LRU of manifest aggregates, bounded by total weight (cached partition entries)."""

    def __init__(self, max_weight: int) -> None:
        self.max_weight = max_weight
        self._items: OrderedDict[tuple[str, float], ManifestAggregate] = OrderedDict()
        self._weight = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: tuple[str, float]) -> ManifestAggregate | None:
        with self._lock:
            agg = self._items.get(key)
            if agg is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return agg

    def put(self, key: tuple[str, float], agg: ManifestAggregate) -> None:
        with self._lock:
            if key in self._items:
                return
            self._items[key] = agg
            self._weight += agg.weight
            while self._weight > self.max_weight and self._items:
                _, evicted = self._items.popitem(last=False)
                self._weight -= evicted.weight

    @property
    def weight(self) -> int:
        return self._weight

    def __len__(self) -> int:
        return len(self._items)


class ManifestReader:
    """Turns a snapshot into its SnapshotState, reading each manifest at most once while cached."""

    def __init__(self, cache: ManifestAggregateCache, read_concurrency: int = 4) -> None:
        self.cache = cache
        self._read_concurrency = read_concurrency
        self._list_reader = AvroProjectionReader(lambda _file_schema: _MANIFEST_LIST_PROJECTION)
        self._entry_reader = AvroProjectionReader(_manifest_entry_projection)

    def manifest_refs(self, io: FileIO, manifest_list: str) -> list[ManifestRef]:
        data = _read_file(io, manifest_list, "manifest list")
        try:
            return [
                ManifestRef(path=r[0], length=r[1], spec_id=r[2], content=r[3] or CONTENT_DATA)
                for r in self._list_reader.records(data)
            ]
        except Exception as exc:
            raise MetadataError(f"manifest list {manifest_list} is unreadable: {exc}") from exc

    def snapshot_state(
        self, io: FileIO, snapshot: Snapshot | None, small_file_bytes: float, small_manifest_bytes: float
    ) -> SnapshotState:
        """The state of `snapshot` (an empty state for a table without snapshots)."""
        if snapshot is None:
            return SnapshotState()
        refs = self.manifest_refs(io, snapshot.manifest_list)
        aggs: dict[str, ManifestAggregate] = {}
        missing: list[ManifestRef] = []
        for ref in refs:
            agg = self.cache.get((ref.path, small_file_bytes))
            if agg is None:
                missing.append(ref)
            else:
                aggs[ref.path] = agg
        for ref, agg in self._read_manifests(io, missing, small_file_bytes):
            self.cache.put((ref.path, small_file_bytes), agg)
            aggs[ref.path] = agg
        return merge_manifests(((ref, aggs[ref.path]) for ref in refs), small_manifest_bytes)

    def _read_manifests(
        self, io: FileIO, refs: list[ManifestRef], small_file_bytes: float
    ) -> Iterable[tuple[ManifestRef, ManifestAggregate]]:
        if len(refs) <= 1 or self._read_concurrency <= 1:
            for ref in refs:
                yield ref, self._aggregate(ref, _read_file(io, ref.path, "manifest"), small_file_bytes)
            return
        # Fetches overlap (S3 latency dominates); decoding stays on this thread, a chunk at a time.
        chunk = self._read_concurrency * 4
        with ThreadPoolExecutor(self._read_concurrency, thread_name_prefix="manifest-read") as pool:
            for start in range(0, len(refs), chunk):
                part = refs[start : start + chunk]
                blobs = pool.map(lambda r: _read_file(io, r.path, "manifest"), part)
                for ref, data in zip(part, blobs, strict=True):
                    yield ref, self._aggregate(ref, data, small_file_bytes)

    def _aggregate(self, ref: ManifestRef, data: bytes, small_file_bytes: float) -> ManifestAggregate:
        try:
            rows = (
                ManifestEntryRow(
                    status=r[0],
                    content=r[1][0] or CONTENT_DATA,
                    partition=tuple(r[1][1][i] for i in range(len(r[1][1]))),
                    record_count=r[1][2],
                    file_size_in_bytes=r[1][3],
                )
                for r in self._entry_reader.records(data)
            )
            return aggregate_manifest(ref.spec_id, rows, small_file_bytes)
        except Exception as exc:
            raise MetadataError(f"manifest {ref.path} is unreadable: {exc}") from exc


def _read_file(io: FileIO, path: str, what: str) -> bytes:
    try:
        with io.new_input(path).open() as stream:
            return stream.read()
    except FileNotFoundError as exc:
        raise MetadataError(f"{what} {path} is missing: {exc}") from exc
    except OSError as exc:
        raise MetadataError(f"{what} {path} could not be read: {exc}") from exc
