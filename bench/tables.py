"""Benchmark tables: built once with a SQLite catalog and a local warehouse, cached on disk.

`open_table` returns a fork by default: a scratch catalog registers the cached metadata and sends new
files to a temp dir, so `append_one_commit` never changes the cache and every run sees the same shape.
"""

# ruff: noqa: E402 -- pyiceberg must not be imported before PYICEBERG_HOME is set.
from __future__ import annotations

import os
from pathlib import Path

CACHE_DIR = Path(os.environ.get("ICEWATCH_BENCH_CACHE") or Path(__file__).parent / ".cache").resolve()
_HOME = CACHE_DIR / "pyiceberg-home"
_HOME.mkdir(parents=True, exist_ok=True)
# pyiceberg falls through to ~/.pyiceberg.yaml when PYICEBERG_HOME has no file or an empty one.
(_HOME / ".pyiceberg.yaml").write_text("icewatch-bench: isolated\n")
os.environ["PYICEBERG_HOME"] = str(_HOME)

import atexit
import fcntl
import random
import shutil
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.parquet as pq
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.exceptions import NoSuchTableError
from pyiceberg.io.pyarrow import parquet_file_to_data_file
from pyiceberg.manifest import (
    DataFile,
    ManifestEntry,
    ManifestEntryStatus,
    ManifestFile,
    write_manifest,
    write_manifest_list,
)
from pyiceberg.partitioning import PartitionField, PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.table import Table, TableProperties
from pyiceberg.table.refs import MAIN_BRANCH, SnapshotRefType
from pyiceberg.table.snapshots import (
    Operation,
    Snapshot,
    SnapshotSummaryCollector,
    Summary,
    update_snapshot_summaries,
)
from pyiceberg.table.update import (
    AddSnapshotUpdate,
    AssertRefSnapshotId,
    AssertTableUUID,
    SetSnapshotRefUpdate,
)
from pyiceberg.transforms import DayTransform
from pyiceberg.types import DoubleType, LongType, NestedField, StringType, TimestamptzType

NAMESPACE = "bench"
# Bump when the generator changes, so stale cached tables are rebuilt rather than reused.
_VERSION = "1"
_VERSION_PROP = "icewatch.bench.version"
# Snapshots per catalog commit: one metadata.json per chunk keeps metadata-log near pyiceberg's default cap
# of 100 versions without paying a full metadata rewrite for every snapshot.
_CHUNK = 10
_EPOCH = datetime(2024, 1, 1, tzinfo=UTC)

SCHEMA = Schema(
    NestedField(1, "id", LongType(), required=False),
    NestedField(2, "ts", TimestamptzType(), required=False),
    NestedField(3, "category", StringType(), required=False),
    NestedField(4, "amount", DoubleType(), required=False),
)
SPEC = PartitionSpec(PartitionField(source_id=2, field_id=1000, transform=DayTransform(), name="ts_day"))


@dataclass(frozen=True)
class Shape:
    description: str
    commits: int
    files_per_commit: int
    days: int
    seed: int

    @property
    def files(self) -> int:
        return self.commits * self.files_per_commit


SHAPES: dict[str, Shape] = {
    "small": Shape("100 commits x 3 files (300 files), day(ts) over 30 days", 100, 3, 30, 1),
    "commits_1k": Shape(
        "1,000 commits x 1 file, 365 day partitions, files skewed toward recent days", 1000, 1, 365, 2
    ),
    "files_10k": Shape(
        "100 commits x 100 files (10,000 files), 365 day partitions, skewed to recent days", 100, 100, 365, 3
    ),
}


def catalog() -> SqlCatalog:
    """The cached catalog: sqlite file plus a local warehouse, both under CACHE_DIR."""
    cat = SqlCatalog(
        "icewatch-bench",
        uri=f"sqlite:///{CACHE_DIR / 'catalog.db'}",
        warehouse=(CACHE_DIR / "warehouse").as_uri(),
    )
    cat.create_namespace_if_not_exists(NAMESPACE)
    return cat


def open_table(shape: str, *, fork: bool = True) -> tuple[SqlCatalog, Table]:
    """Build the shape if the cache lacks it, then return (catalog, table); a fork unless fork=False."""
    cat = catalog()
    # Serialise load-or-build across processes: two builders of one shape would delete each other's files.
    with open(CACHE_DIR / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        table = _load_cached(cat, shape) or build(cat, shape)
    return _fork(table) if fork else (cat, table)


def append_one_commit(table: Table, rows: int = 10) -> int:
    """One small append through pyiceberg's normal write path; returns the new snapshot id."""
    shape = SHAPES.get(table.name()[-1])
    # Into the shape's latest day, like a streaming writer: adds a file, not a partition.
    day = _EPOCH + timedelta(days=shape.days - 1 if shape else 0)
    count = len(table.snapshots())
    table.append(_rows(random.Random(count), day, rows, start_id=count * 10**6))
    snapshot = table.current_snapshot()
    assert snapshot is not None
    return snapshot.snapshot_id


def build(cat: SqlCatalog, shape: str) -> Table:
    """Drop any partial copy and write the shape from scratch."""
    spec = SHAPES[shape]
    ident, location = (NAMESPACE, shape), CACHE_DIR / "warehouse" / NAMESPACE / shape
    if cat.table_exists(ident):
        cat.drop_table(ident)
    # Fixed location, so a stale or half-built copy is removed even when its metadata is unreadable.
    shutil.rmtree(location, ignore_errors=True)
    table = cat.create_table(
        ident, SCHEMA, location=location.as_uri(), partition_spec=SPEC, properties={_VERSION_PROP: _VERSION}
    )
    plan = _plan(spec)
    writer = _SnapshotWriter(table)
    for start in range(0, len(plan), _CHUNK):
        updates: list = []
        for commit, files in enumerate(plan[start : start + _CHUNK], start):
            data_files = [_write_file(table, commit, n, day, rows) for n, (day, rows) in enumerate(files)]
            updates += writer.add(data_files)
        writer.commit(cat, updates)
    return writer.table


def _load_cached(cat: SqlCatalog, shape: str) -> Table | None:
    try:
        table = cat.load_table((NAMESPACE, shape))
    except (NoSuchTableError, FileNotFoundError):
        return None
    fresh = table.properties.get(_VERSION_PROP) == _VERSION
    return table if fresh and len(table.snapshots()) == SHAPES[shape].commits else None


def _fork(table: Table) -> tuple[SqlCatalog, Table]:
    scratch = Path(tempfile.mkdtemp(prefix="icewatch-bench-"))
    atexit.register(shutil.rmtree, scratch, True)
    uri = f"sqlite:///{scratch / 'catalog.db'}"
    cat = SqlCatalog("icewatch-bench-fork", uri=uri, warehouse=scratch.as_uri())
    cat.create_namespace(NAMESPACE)
    forked = cat.register_table(table.name(), table.metadata_location)
    # Redirect new data, manifests and metadata.json into scratch; the cached files are only read.
    with forked.transaction() as tx:
        tx.set_properties(
            {
                TableProperties.WRITE_DATA_PATH: f"{scratch.as_uri()}/data",
                TableProperties.WRITE_METADATA_PATH: f"{scratch.as_uri()}/metadata",
            }
        )
    return cat, forked


def _plan(shape: Shape) -> list[list[tuple[int, int]]]:
    """Per commit, the (day, row count) of each file: every day once, the rest weighted toward recent days."""
    rng = random.Random(shape.seed)
    days = list(range(shape.days))
    weights = [1 + 20 * (d / shape.days) ** 4 for d in days]
    picks = days[: shape.files] + rng.choices(days, weights, k=max(0, shape.files - shape.days))
    rng.shuffle(picks)
    # Lognormal row counts give files (and partitions) a long right tail.
    files = [(day, 1 + int(rng.lognormvariate(2.5, 0.9))) for day in picks]
    n = shape.files_per_commit
    return [files[i : i + n] for i in range(0, len(files), n)]


def _rows(rng: random.Random, day: datetime, rows: int, start_id: int) -> pa.Table:
    seconds = [rng.randrange(86400) for _ in range(rows)]
    return pa.table(
        {
            "id": pa.array(range(start_id, start_id + rows), pa.int64()),
            "ts": pa.array([day + timedelta(seconds=s) for s in seconds], pa.timestamp("us", "UTC")),
            "category": pa.array([rng.choice("abcdefgh") for _ in range(rows)], pa.string()),
            "amount": pa.array([round(rng.uniform(0, 1000), 2) for _ in range(rows)], pa.float64()),
        },
        schema=SCHEMA.as_arrow(),
    )


def _write_file(table: Table, commit: int, n: int, day: int, rows: int) -> DataFile:
    date = _EPOCH + timedelta(days=day)
    path = f"{table.location()}/data/ts_day={date:%Y-%m-%d}/{commit:05d}-{n:05d}-{uuid.uuid4()}.parquet"
    with table.io.new_output(path).create() as out:
        pq.write_table(_rows(random.Random(commit * 100_003 + n), date, rows, start_id=commit * 10**6), out)
    # Stats and partition come from the footer, exactly as add_files would derive them.
    return parquet_file_to_data_file(table.io, table.metadata, path)


class _SnapshotWriter:
    """Fast-append snapshots written directly: the files a pyiceberg fast append writes, minus the per-commit
    deep copies of table metadata that make pyiceberg commits O(snapshots) each."""

    def __init__(self, table: Table) -> None:
        # Starts from a freshly created table: no parent, no existing manifests.
        self.table = table
        meta = table.metadata
        self.codec = meta.properties.get(
            TableProperties.WRITE_AVRO_COMPRESSION, TableProperties.WRITE_AVRO_COMPRESSION_DEFAULT
        )
        self.parent = meta.current_snapshot_id
        self.committed_head = self.parent
        self.seq = meta.last_sequence_number
        self.summary: Summary | None = None
        self.manifests: list[ManifestFile] = []
        self.last_ms = 0

    def add(self, data_files: list[DataFile]) -> list:
        meta, io = self.table.metadata, self.table.io
        snapshot_id, commit_uuid = meta.new_snapshot_id(), uuid.uuid4()
        self.seq += 1
        location = self.table.location_provider()
        out = io.new_output(location.new_metadata_location(f"{commit_uuid}-m0.avro"))
        with write_manifest(meta.format_version, SPEC, SCHEMA, out, snapshot_id, self.codec) as writer:
            for data_file in data_files:
                entry = ManifestEntry.from_args(
                    status=ManifestEntryStatus.ADDED, snapshot_id=snapshot_id, data_file=data_file
                )
                writer.add(entry)
        manifest_list = location.new_metadata_location(f"snap-{snapshot_id}-0-{commit_uuid}.avro")
        with write_manifest_list(
            meta.format_version, io.new_output(manifest_list), snapshot_id, self.parent, self.seq, self.codec
        ) as list_writer:
            # Newest manifest first, then every existing one: the order pyiceberg's fast append uses.
            self.manifests.insert(0, list_writer.prepare_manifest(writer.to_manifest_file()))
            list_writer.add_manifests(self.manifests)
        collector = SnapshotSummaryCollector()
        for data_file in data_files:
            collector.add_file(data_file, schema=SCHEMA, partition_spec=SPEC)
        self.summary = update_snapshot_summaries(Summary(Operation.APPEND, **collector.build()), self.summary)
        # Strictly increasing timestamps, so ordering snapshots by time is never ambiguous.
        self.last_ms = max(int(time.time() * 1000), self.last_ms + 1)
        snapshot = Snapshot(
            snapshot_id=snapshot_id,
            parent_snapshot_id=self.parent,
            sequence_number=self.seq,
            timestamp_ms=self.last_ms,
            manifest_list=manifest_list,
            summary=self.summary,
            schema_id=SCHEMA.schema_id,
        )
        self.parent = snapshot_id
        ref = SetSnapshotRefUpdate(ref_name=MAIN_BRANCH, type=SnapshotRefType.BRANCH, snapshot_id=snapshot_id)
        return [AddSnapshotUpdate(snapshot=snapshot), ref]

    def commit(self, cat: SqlCatalog, updates: list) -> None:
        requirements = (
            AssertTableUUID(uuid=self.table.metadata.table_uuid),
            AssertRefSnapshotId(ref=MAIN_BRANCH, snapshot_id=self.committed_head),
        )
        cat.commit_table(self.table, requirements, tuple(updates))
        self.committed_head = self.parent
        self.table = cat.load_table(self.table.name())
