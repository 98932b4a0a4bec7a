"""Read a snapshot's manifest list and manifests into a SnapshotState, caching per manifest.

Manifests are immutable, so each one's aggregate is cached by path (bounded, least recently used
first out); after one more commit only the new manifests are read. Each snapshot's manifest list is
new, but only its records ahead of the previous list's are decoded (see `manifest_refs`).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import urlparse

from pyiceberg.io import FileIO
from pyiceberg.schema import Schema
from pyiceberg.table.snapshots import Snapshot
from pyiceberg.typedef import Record
from pyiceberg.types import IntegerType, LongType, NestedField, StringType, StructType

from service.engine.aggregates import (
    CONTENT_DATA,
    ManifestAggregate,
    ManifestEntryRow,
    ManifestRef,
    SnapshotState,
    add_manifests,
    aggregate_manifest,
    merge_manifests,
)
from service.errors import MetadataError
from service.iceberg.avro import AvroPayload, AvroProjectionReader, read_payload

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


@dataclass(frozen=True, slots=True)
class _LastState:
    """A table's last manifest list and state, so the next snapshot costs only what it adds."""

    manifest_list: AvroPayload
    refs: list[ManifestRef]
    paths: frozenset[str]
    thresholds: tuple[float, float]
    state: SnapshotState

    @property
    def size_bytes(self) -> int:
        # Approximate, from measured object sizes: ~250 B per listed manifest, ~150 B per partition.
        return len(self.manifest_list.body) + 250 * len(self.refs) + 150 * len(self.state.partitions)


class ManifestReader:
    """Turns a snapshot into its SnapshotState, reading each manifest at most once while cached."""

    def __init__(
        self,
        cache: ManifestAggregateCache,
        read_concurrency: int = 8,
        remembered_tables: int = 4096,
        remembered_bytes: int = 64 << 20,
    ) -> None:
        self.cache = cache
        self._read_concurrency = read_concurrency
        self._list_reader = AvroProjectionReader(lambda _file_schema: _MANIFEST_LIST_PROJECTION)
        self._entry_reader = AvroProjectionReader(_manifest_entry_projection)
        self._last: OrderedDict[str, _LastState] = OrderedDict()
        self._last_bytes = 0
        self._remembered_tables = remembered_tables
        self._remembered_bytes = remembered_bytes
        self._lock = threading.Lock()
        self.list_records_decoded = 0  # how much manifest-list work the suffix reuse saved

    def manifest_refs(
        self, io: FileIO, manifest_list: str, last: _LastState | None = None
    ) -> tuple[list[ManifestRef], AvroPayload]:
        """The manifests listed, decoding only the records that precede the last list's bytes.

        Writers list a commit's new manifests first and then the parent's, re-encoded identically;
        when the new list ends with the last list's bytes, those records are the last list's.
        """
        data = _read_file(io, manifest_list, "manifest list")
        try:
            payload = read_payload(data)
            if last is not None and last.manifest_list.schema_key == payload.schema_key:
                previous = last.manifest_list
                cut = len(payload.body) - len(previous.body)
                if cut >= 0 and payload.body.endswith(previous.body):
                    head = self._list_reader.decode_prefix(payload, cut)
                    if head is not None and len(head) + previous.count == payload.count:
                        self.list_records_decoded += len(head)
                        return [_manifest_ref(r) for r in head] + last.refs, payload
            self.list_records_decoded += payload.count
            return [_manifest_ref(r) for r in self._list_reader.decode(payload)], payload
        except Exception as exc:
            raise MetadataError(f"manifest list {manifest_list} is unreadable: {exc}") from exc

    def snapshot_state(
        self,
        io: FileIO,
        snapshot: Snapshot | None,
        small_file_bytes: float,
        small_manifest_bytes: float,
        table_key: str | None = None,
    ) -> SnapshotState:
        """The state of `snapshot` (empty for a table without snapshots).

        With a `table_key` (the table's UUID), a snapshot that only adds manifests to the last one
        seen for that table costs only its new manifests.
        """
        if snapshot is None:
            return SnapshotState()
        with self._lock:
            last = self._last.get(table_key) if table_key else None
        refs, payload = self.manifest_refs(io, snapshot.manifest_list, last)
        paths = frozenset(ref.path for ref in refs)
        thresholds = (small_file_bytes, small_manifest_bytes)
        if last is not None and last.thresholds == thresholds and last.paths <= paths:
            added = [ref for ref in refs if ref.path not in last.paths]
            state = add_manifests(
                last.state, self._aggregates(io, added, small_file_bytes), small_manifest_bytes
            )
        else:
            state = merge_manifests(self._aggregates(io, refs, small_file_bytes), small_manifest_bytes)
        if table_key:
            self._remember(table_key, _LastState(payload, refs, paths, thresholds, state))
        return state

    def _remember(self, table_key: str, last: _LastState) -> None:
        with self._lock:
            replaced = self._last.pop(table_key, None)
            if replaced is not None:
                self._last_bytes -= replaced.size_bytes
            self._last[table_key] = last
            self._last_bytes += last.size_bytes
            while self._last and (
                len(self._last) > self._remembered_tables or self._last_bytes > self._remembered_bytes
            ):
                _, evicted = self._last.popitem(last=False)
                self._last_bytes -= evicted.size_bytes

    def _aggregates(
        self, io: FileIO, refs: list[ManifestRef], small_file_bytes: float
    ) -> list[tuple[ManifestRef, ManifestAggregate]]:
        """Each manifest's aggregate, from the cache or read now, in the order given."""
        found: dict[str, ManifestAggregate] = {}
        missing: list[ManifestRef] = []
        for ref in refs:
            agg = self.cache.get((ref.path, small_file_bytes))
            if agg is None:
                missing.append(ref)
            else:
                found[ref.path] = agg
        for ref, agg in self._read_manifests(io, missing, small_file_bytes):
            self.cache.put((ref.path, small_file_bytes), agg)
            found[ref.path] = agg
        return [(ref, found[ref.path]) for ref in refs]

    def _read_manifests(
        self, io: FileIO, refs: list[ManifestRef], small_file_bytes: float
    ) -> Iterable[tuple[ManifestRef, ManifestAggregate]]:
        if len(refs) <= 1 or self._read_concurrency <= 1 or _is_local(refs[0].path):
            # Local reads take microseconds: a thread pool would only add overhead (2x, measured).
            for ref in refs:
                yield ref, self._aggregate(ref, _read_file(io, ref.path, "manifest"), small_file_bytes)
            return
        # Fetches overlap (object-store latency dominates); decoding stays here, a chunk at a time.
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


def _manifest_ref(record: Record) -> ManifestRef:
    return ManifestRef(path=record[0], length=record[1], spec_id=record[2], content=record[3] or CONTENT_DATA)


def _is_local(path: str) -> bool:
    return urlparse(path).scheme in ("", "file")


def _read_file(io: FileIO, path: str, what: str) -> bytes:
    try:
        with io.new_input(path).open() as stream:
            return stream.read()
    except FileNotFoundError as exc:
        raise MetadataError(f"{what} {path} is missing: {exc}") from exc
    except OSError as exc:
        raise MetadataError(f"{what} {path} could not be read: {exc}") from exc
