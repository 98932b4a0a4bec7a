"""Real Iceberg tables of every shape the metrics must be right on, written with pyiceberg."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime, timedelta

import pyarrow as pa
from pyiceberg.catalog import Catalog
from pyiceberg.expressions import AlwaysTrue, EqualTo
from pyiceberg.manifest import DataFileContent
from pyiceberg.partitioning import PartitionField, PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.table import Table
from pyiceberg.transforms import DayTransform, IdentityTransform
from pyiceberg.types import LongType, NestedField, StringType, TimestampType

from tests.support.deletes import DeleteFileSpec, commit_delete_files

SCHEMA = Schema(
    NestedField(1, "id", LongType(), required=False),
    NestedField(2, "ts", TimestampType(), required=False),
    NestedField(3, "region", StringType(), required=False),
)
BY_DAY_AND_REGION = PartitionSpec(
    PartitionField(2, 1000, DayTransform(), "ts_day"), PartitionField(3, 1001, IdentityTransform(), "region")
)
BY_REGION = PartitionSpec(PartitionField(3, 1000, IdentityTransform(), "region"))
DAY0 = datetime(2026, 11, 1)


def rows(
    rng: random.Random, n: int, regions: tuple[str, ...] = ("eu", "us", "ap"), days: int = 5
) -> pa.Table:
    return pa.table(
        {
            "id": pa.array([rng.getrandbits(40) for _ in range(n)], pa.int64()),
            "ts": pa.array(
                [DAY0 + timedelta(days=rng.randrange(days), hours=rng.random()) for _ in range(n)]
            ),
            "region": pa.array([rng.choice(regions) for _ in range(n)], pa.string()),
        }
    )


def _create(
    catalog: Catalog, ns: str, name: str, spec: PartitionSpec = BY_DAY_AND_REGION, version: str = "2"
) -> Table:
    return catalog.create_table(
        f"{ns}.{name}", SCHEMA, partition_spec=spec, properties={"format-version": version}
    )


def unpartitioned(catalog: Catalog, ns: str = "db") -> Table:
    table = _create(catalog, ns, "unpartitioned", PartitionSpec())
    rng = random.Random(1)
    for n in (10, 250, 3):
        table.append(rows(rng, n))
    return table


def partitioned(catalog: Catalog, ns: str = "db") -> Table:
    table = _create(catalog, ns, "partitioned")
    rng = random.Random(2)
    for _ in range(6):
        table.append(rows(rng, rng.randint(1, 300)))
    return table


def spec_evolution(catalog: Catalog, ns: str = "db") -> Table:
    table = _create(catalog, ns, "spec_evolution", BY_REGION)
    rng = random.Random(3)
    for _ in range(3):
        table.append(rows(rng, rng.randint(20, 100)))
    with table.update_spec() as update:
        update.add_field("ts", DayTransform(), "ts_day")
    for _ in range(3):
        table.append(rows(rng, rng.randint(20, 100)))
    return table


def with_delete_files(catalog: Catalog, ns: str = "db") -> Table:
    """Position and equality delete files (merge-on-read), written through tests.support.deletes."""
    table = _create(catalog, ns, "with_delete_files", BY_REGION)
    rng = random.Random(4)
    for _ in range(3):
        table.append(rows(rng, rng.randint(50, 200)))
    commit_delete_files(
        table,
        [
            DeleteFileSpec(DataFileContent.POSITION_DELETES, ("eu",), record_count=7),
            DeleteFileSpec(DataFileContent.POSITION_DELETES, ("us",), record_count=3),
            DeleteFileSpec(DataFileContent.EQUALITY_DELETES, ("eu",), record_count=5, equality_ids=(1,)),
        ],
    )
    table.append(rows(rng, 40))
    return table


def overwrite_and_delete(catalog: Catalog, ns: str = "db") -> Table:
    """Copy-on-write deletes and an overwrite: snapshots with deleted files and records."""
    table = _create(catalog, ns, "overwrite_and_delete")
    rng = random.Random(5)
    for _ in range(3):
        table.append(rows(rng, rng.randint(100, 200)))
    table.delete(EqualTo("region", "us"))
    table.overwrite(rows(rng, 120, regions=("eu", "ap")), overwrite_filter=EqualTo("region", "ap"))
    return table


def no_snapshots(catalog: Catalog, ns: str = "db") -> Table:
    return _create(catalog, ns, "no_snapshots")


def empty_current_snapshot(catalog: Catalog, ns: str = "db") -> Table:
    table = _create(catalog, ns, "empty_current_snapshot")
    table.append(rows(random.Random(6), 50))
    table.delete(AlwaysTrue())
    return table


def format_v1(catalog: Catalog, ns: str = "db") -> Table:
    table = _create(catalog, ns, "format_v1", version="1")
    rng = random.Random(7)
    for _ in range(4):
        table.append(rows(rng, rng.randint(10, 90)))
    table.overwrite(rows(rng, 60, regions=("eu",)), overwrite_filter=EqualTo("region", "eu"))
    return table


def one_partition(catalog: Catalog, ns: str = "db") -> Table:
    table = _create(catalog, ns, "one_partition", BY_REGION)
    rng = random.Random(8)
    for _ in range(3):
        table.append(rows(rng, rng.randint(5, 50), regions=("eu",)))
    return table


def all_equal_partitions(catalog: Catalog, ns: str = "db") -> Table:
    """Every partition holds the same records and files: std 0 and skew 0, never NaN."""
    table = _create(catalog, ns, "all_equal_partitions", BY_REGION)
    for region in ("eu", "us", "ap", "sa"):
        for _ in range(2):
            table.append(
                pa.table(
                    {
                        "id": pa.array(range(25), pa.int64()),
                        "ts": pa.array([DAY0] * 25),
                        "region": pa.array([region] * 25, pa.string()),
                    }
                )
            )
    return table


SHAPES: dict[str, Callable[[Catalog, str], Table]] = {
    f.__name__: f
    for f in (
        unpartitioned,
        partitioned,
        spec_evolution,
        with_delete_files,
        overwrite_and_delete,
        no_snapshots,
        empty_current_snapshot,
        format_v1,
        one_partition,
        all_equal_partitions,
    )
}
