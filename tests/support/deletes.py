"""Commit merge-on-read delete files (position and equality) to an Iceberg v2 table, for tests.

pyiceberg 0.12 writes no delete files (``Table.delete`` is copy-on-write), so this module builds the
snapshot by hand from pyiceberg's lower-level pieces: parquet files written through ``table.io``, a
delete manifest, a manifest list that carries the current manifests forward, and a catalog commit.
The delete files' rows are synthetic: position deletes point at a file that does not exist, so scans
of the table are unaffected by them. Note that pyiceberg cannot scan a table with equality deletes.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.parquet as pq
from pyiceberg.avro.codecs import AvroCompressionCodec
from pyiceberg.io.pyarrow import (
    compute_statistics_plan,
    data_file_statistics_from_parquet_metadata,
    parquet_path_to_id_mapping,
    schema_to_pyarrow,
)
from pyiceberg.manifest import (
    DataFile,
    DataFileContent,
    FileFormat,
    ManifestContent,
    ManifestEntry,
    ManifestEntryStatus,
    ManifestFile,
    ManifestWriterV2,
    write_manifest_list,
)
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
from pyiceberg.table.update import AddSnapshotUpdate, AssertRefSnapshotId, SetSnapshotRefUpdate
from pyiceberg.typedef import Record
from pyiceberg.types import LongType, NestedField, StringType

# Reserved field ids of the position-delete file schema (Iceberg spec, "Position Delete Files").
_POS_DELETE_SCHEMA = Schema(
    NestedField(2147483546, "file_path", StringType(), required=True),
    NestedField(2147483545, "pos", LongType(), required=True),
)


@dataclass(frozen=True)
class DeleteFileSpec:
    """One delete file to add.

    ``partition`` holds the partition values in Iceberg's internal form, in spec field order (identity:
    the value; day: days since epoch as int); use ``()`` for an unpartitioned spec.
    """

    content: DataFileContent  # POSITION_DELETES or EQUALITY_DELETES
    partition: Record | tuple = ()
    record_count: int = 1  # rows in the file, i.e. deleted positions or equality keys
    equality_ids: tuple[int, ...] | None = None  # schema field ids; required for equality deletes
    spec_id: int | None = None  # default: the table's current spec


class _DeleteManifestWriter(ManifestWriterV2):
    """pyiceberg's v2 manifest writer hard-codes content=data; delete manifests need content=deletes."""

    def content(self) -> ManifestContent:
        return ManifestContent.DELETES

    @property
    def _meta(self) -> dict[str, str]:
        return {**super()._meta, "content": "deletes"}


def commit_delete_files(table: Table, files: list[DeleteFileSpec]) -> Snapshot:
    """Write ``files`` and commit them on ``main`` as one ``delete`` snapshot; return that snapshot.

    The snapshot keeps every manifest of the current snapshot and adds one delete manifest per spec.
    ``table`` is refreshed afterwards.
    """
    _require_v2(table)
    if not files:
        raise ValueError("no delete files given")
    snapshot_id = table.metadata.new_snapshot_id()
    collector = _collector(table)
    by_spec: dict[int, list[DataFile]] = defaultdict(list)
    for spec in files:
        data_file = _write_delete_file(table, spec)
        by_spec[data_file.spec_id].append(data_file)
        collector.add_file(data_file, table.schema(), table.specs()[data_file.spec_id])

    new_manifests = []
    for spec_id, data_files in by_spec.items():
        with _manifest_writer(table, spec_id, snapshot_id) as writer:
            for data_file in data_files:
                # Null sequence numbers are inherited from the manifest list entry, i.e. this commit's.
                writer.add(ManifestEntry.from_args(status=ManifestEntryStatus.ADDED, data_file=data_file))
        new_manifests.append(writer.to_manifest_file())
    current = table.current_snapshot()
    carried = current.manifests(table.io) if current else []
    # "delete" is the spec's operation for "delete files were added to delete rows".
    return _commit(table, snapshot_id, new_manifests + carried, collector, Operation.DELETE)


def remove_delete_files(table: Table, file_paths: Iterable[str] | None = None) -> Snapshot:
    """Commit a snapshot that removes the given delete files (all live ones when None) from ``main``.

    Delete manifests holding a removed file are rewritten with that entry marked DELETED; all other
    manifests are carried forward unchanged. ``table`` is refreshed afterwards.
    """
    _require_v2(table)
    current = table.current_snapshot()
    if current is None:
        raise ValueError("table has no snapshot")
    wanted = None if file_paths is None else set(file_paths)
    snapshot_id = table.metadata.new_snapshot_id()
    collector = _collector(table)
    manifests: list[ManifestFile] = []
    for manifest in current.manifests(table.io):
        entries = (
            manifest.fetch_manifest_entry(table.io) if manifest.content == ManifestContent.DELETES else []
        )
        hits = {e.data_file.file_path for e in entries if wanted is None or e.data_file.file_path in wanted}
        if not hits:
            manifests.append(manifest)
            continue
        with _manifest_writer(table, manifest.partition_spec_id, snapshot_id) as writer:
            for entry in entries:
                if entry.data_file.file_path in hits:
                    writer.delete(entry)  # DELETED entries carry this snapshot's id, as the spec requires
                    collector.remove_file(
                        entry.data_file, table.schema(), table.specs()[manifest.partition_spec_id]
                    )
                else:
                    writer.existing(entry)  # keeps the original snapshot id and sequence numbers
        manifests.append(writer.to_manifest_file())
    if not collector.metrics.removed_delete_files:
        raise ValueError("none of the given delete files is live in the current snapshot")
    # "overwrite", not "delete": dropping delete files brings deleted rows back.
    return _commit(table, snapshot_id, manifests, collector, Operation.OVERWRITE)


def _require_v2(table: Table) -> None:
    # pyiceberg 0.12 writes v1 and v2 manifests only, and v1 has no delete files.
    if table.format_version != 2:
        raise ValueError(f"delete files need a format v2 table, got v{table.format_version}")


def _collector(table: Table) -> SnapshotSummaryCollector:
    # Same partition-summary limit pyiceberg's own snapshot producers honour.
    limit = table.properties.get(
        TableProperties.WRITE_PARTITION_SUMMARY_LIMIT, TableProperties.WRITE_PARTITION_SUMMARY_LIMIT_DEFAULT
    )
    return SnapshotSummaryCollector(partition_summary_limit=int(limit))


def _avro_codec(table: Table) -> AvroCompressionCodec:
    return table.properties.get(  # type: ignore[return-value]
        TableProperties.WRITE_AVRO_COMPRESSION, TableProperties.WRITE_AVRO_COMPRESSION_DEFAULT
    )


def _manifest_writer(table: Table, spec_id: int, snapshot_id: int) -> _DeleteManifestWriter:
    path = table.location_provider().new_metadata_location(f"{uuid.uuid4()}-m0.avro")
    return _DeleteManifestWriter(
        spec=table.specs()[spec_id],
        schema=table.schema(),
        output_file=table.io.new_output(path),
        snapshot_id=snapshot_id,
        avro_compression=_avro_codec(table),
    )


def _write_delete_file(table: Table, spec: DeleteFileSpec) -> DataFile:
    spec_id = table.spec().spec_id if spec.spec_id is None else spec.spec_id
    partition = spec.partition if isinstance(spec.partition, Record) else Record(*spec.partition)
    if len(partition) != len(table.specs()[spec_id].fields):
        raise ValueError(f"partition {partition} does not match spec {spec_id}")
    n = spec.record_count
    if spec.content == DataFileContent.POSITION_DELETES:
        if spec.equality_ids:
            raise ValueError("position deletes take no equality_ids")
        file_schema = _POS_DELETE_SCHEMA
        missing = table.location_provider().new_data_location("no-such-file.parquet")
        columns = [pa.array([missing] * n), pa.array(range(n), pa.int64())]
    elif spec.content == DataFileContent.EQUALITY_DELETES:
        if not spec.equality_ids:
            raise ValueError("equality deletes need equality_ids")
        file_schema = Schema(*[table.schema().find_field(i) for i in spec.equality_ids])
        columns = [_synthetic(f.type, n) for f in schema_to_pyarrow(file_schema)]
    else:
        raise ValueError(f"not a delete content: {spec.content}")

    # schema_to_pyarrow stamps the parquet field ids that readers match delete columns by.
    rows = pa.table(columns, schema=schema_to_pyarrow(file_schema))
    path = table.location_provider().new_data_location(f"delete-{uuid.uuid4()}.parquet")
    parquet_meta: list[pq.FileMetaData] = []
    with table.io.new_output(path).create(overwrite=True) as stream:
        pq.write_table(rows, stream, metadata_collector=parquet_meta)
    # Real column metrics, as pyiceberg computes for data files (inspect.entries() fails without them).
    stats = data_file_statistics_from_parquet_metadata(
        parquet_meta[0],
        compute_statistics_plan(file_schema, table.properties),
        parquet_path_to_id_mapping(file_schema),
    )
    data_file = DataFile.from_args(
        content=spec.content,
        file_path=path,
        file_format=FileFormat.PARQUET,
        partition=partition,
        file_size_in_bytes=len(table.io.new_input(path)),
        equality_ids=list(spec.equality_ids) if spec.equality_ids else None,
        **stats.to_serialized_dict(),
    )
    # from_args drops spec_id (not a manifest field), yet readers and the collector need it.
    data_file.spec_id = spec_id
    return data_file


def _synthetic(arrow_type: pa.DataType, n: int) -> pa.Array:
    # Distinct values where a cast from 0..n-1 exists; nulls otherwise (only metadata matters here).
    try:
        return pa.array(range(n), pa.int64()).cast(arrow_type)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return pa.nulls(n, arrow_type)


def _commit(
    table: Table,
    snapshot_id: int,
    manifests: list[ManifestFile],
    collector: SnapshotSummaryCollector,
    operation: Operation,
) -> Snapshot:
    parent = table.current_snapshot()
    parent_id = parent.snapshot_id if parent else None
    sequence_number = table.metadata.next_sequence_number()
    # update_snapshot_summaries carries the parent's totals forward and applies this commit's deltas.
    summary = update_snapshot_summaries(
        Summary(operation=operation, **collector.build()), parent.summary if parent else None
    )
    list_path = table.location_provider().new_metadata_location(f"snap-{snapshot_id}-0-{uuid.uuid4()}.avro")
    with write_manifest_list(
        format_version=2,
        output_file=table.io.new_output(list_path),
        snapshot_id=snapshot_id,
        parent_snapshot_id=parent_id,
        sequence_number=sequence_number,
        avro_compression=_avro_codec(table),
    ) as writer:
        # The writer assigns this sequence number to the manifests added by this commit.
        writer.add_manifests(manifests)
    snapshot = Snapshot(
        snapshot_id=snapshot_id,
        parent_snapshot_id=parent_id,
        sequence_number=sequence_number,
        manifest_list=list_path,
        summary=summary,
        schema_id=table.metadata.current_schema_id,
    )
    updates = (
        AddSnapshotUpdate(snapshot=snapshot),
        SetSnapshotRefUpdate(
            ref_name=MAIN_BRANCH,
            type=SnapshotRefType.BRANCH,
            snapshot_id=snapshot_id,
            parent_snapshot_id=parent_id,
        ),
    )
    # Optimistic concurrency: fail rather than drop a snapshot committed since ``table`` was loaded.
    requirements = (AssertRefSnapshotId(ref=MAIN_BRANCH, snapshot_id=parent_id),)
    table.catalog.commit_table(table, requirements, updates)
    table.refresh()
    return snapshot
