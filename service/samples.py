"""Sample Iceberg tables and the commits that keep them busy, for `icewatch demo` and local stacks.

Three shapes a data platform meets: a day/region-partitioned fact table (format v2, uneven
regions so skew shows), an unpartitioned stream of small appends (small files pile up), and a
format v1 bucketed dimension table that is overwritten in place.
"""

from __future__ import annotations

import contextlib
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pyarrow as pa
from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import NamespaceAlreadyExistsError, NoSuchTableError
from pyiceberg.partitioning import PartitionField, PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.table import Table
from pyiceberg.transforms import BucketTransform, DayTransform, IdentityTransform
from pyiceberg.types import DoubleType, LongType, NestedField, StringType, TimestampType

DATABASE = "demo"
REGIONS = ("eu", "us", "ap")
REGION_WEIGHTS = (12, 3, 1)  # most orders come from one region: the partition skew shows


@dataclass(frozen=True)
class SampleTable:
    name: str
    schema: Schema
    spec: PartitionSpec
    format_version: str


SAMPLES = (
    SampleTable(
        "orders",
        Schema(
            NestedField(1, "order_id", LongType(), required=False),
            NestedField(2, "ts", TimestampType(), required=False),
            NestedField(3, "region", StringType(), required=False),
            NestedField(4, "amount", DoubleType(), required=False),
        ),
        PartitionSpec(
            PartitionField(2, 1000, DayTransform(), "ts_day"),
            PartitionField(3, 1001, IdentityTransform(), "region"),
        ),
        "2",
    ),
    SampleTable(
        "events",
        Schema(
            NestedField(1, "event_id", LongType(), required=False),
            NestedField(2, "kind", StringType(), required=False),
            NestedField(3, "ts", TimestampType(), required=False),
        ),
        PartitionSpec(),
        "2",
    ),
    SampleTable(
        "customers",
        Schema(
            NestedField(1, "customer_id", LongType(), required=False),
            NestedField(2, "name", StringType(), required=False),
        ),
        PartitionSpec(PartitionField(1, 1000, BucketTransform(4), "customer_id_bucket")),
        "1",
    ),
)


def create_sample_tables(catalog: Catalog, location: str | None = None) -> list[Table]:
    """Create (or load) the sample tables in database `demo`."""
    with contextlib.suppress(NamespaceAlreadyExistsError):
        catalog.create_namespace(DATABASE)
    tables = []
    for sample in SAMPLES:
        identifier = f"{DATABASE}.{sample.name}"
        try:
            tables.append(catalog.load_table(identifier))
        except NoSuchTableError:
            tables.append(
                catalog.create_table(
                    identifier,
                    sample.schema,
                    partition_spec=sample.spec,
                    location=f"{location.rstrip('/')}/{sample.name}" if location else None,
                    properties={"format-version": sample.format_version},
                )
            )
    return tables


def commit_batch(table: Table, rng: random.Random, now: datetime | None = None) -> None:
    """One realistic commit on a sample table (an append, or an overwrite for `customers`)."""
    now = now or datetime.now(UTC).replace(tzinfo=None)
    name = table.name()[-1]
    if name == "orders":
        n = rng.randint(50, 400)
        table.append(
            pa.table(
                {
                    "order_id": pa.array([rng.getrandbits(48) for _ in range(n)], pa.int64()),
                    "ts": pa.array(
                        # Mostly recent: today's partitions grow much faster than older ones.
                        [now - timedelta(hours=min(96.0, rng.expovariate(1 / 6))) for _ in range(n)],
                        pa.timestamp("us"),
                    ),
                    "region": rng.choices(REGIONS, REGION_WEIGHTS, k=n),
                    "amount": [round(rng.uniform(1, 500), 2) for _ in range(n)],
                }
            )
        )
    elif name == "events":
        n = rng.randint(1, 30)
        table.append(
            pa.table(
                {
                    "event_id": pa.array([rng.getrandbits(48) for _ in range(n)], pa.int64()),
                    "kind": rng.choices(("view", "click", "buy"), k=n),
                    "ts": pa.array([now] * n, pa.timestamp("us")),
                }
            )
        )
    else:
        n = rng.randint(20, 100)
        rows = pa.table(
            {
                "customer_id": pa.array(range(n), pa.int64()),
                "name": [f"customer-{i}" for i in range(n)],
            }
        )
        table.overwrite(rows)
