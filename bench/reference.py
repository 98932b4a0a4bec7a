"""The reference method: the AWS blog sample's metrics, from pyiceberg inspect tables and pandas."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from pyiceberg.table import Table

# Files under 75% of the 512 MiB default target size count as small.
SMALL_FILE_BYTES = 0.75 * 536870912


def reference_metrics(table: Table) -> dict[str, float]:
    """Snapshot, partition and file metrics for the table's current snapshot."""
    return {**_snapshot(table), **_partitions(table), **_files(table)}


def _snapshot(table: Table) -> dict[str, float]:
    snapshots = table.inspect.snapshots().to_pandas()
    # Current snapshot by id, as the sample did: commit timestamps can tie or run backwards after a rollback.
    row = snapshots[snapshots["snapshot_id"] == table.metadata.current_snapshot_id].iloc[0]
    summary = dict(row["summary"])
    return {
        "snapshot.added_records": float(summary.get("added-records", 0)),
        "snapshot.total_records": float(summary.get("total-records", 0)),
    }


def _partitions(table: Table) -> dict[str, float]:
    df = table.inspect.partitions().to_pandas()
    out = {"partitions.count": float(len(df))}
    for column in ("record_count", "file_count"):
        values = df[column].astype("int64")
        out |= {
            f"partitions.avg_{column}": values.mean(),
            f"partitions.max_{column}": values.max(),
            f"partitions.min_{column}": values.min(),
            f"partitions.deviation_{column}": values.std(),
            f"partitions.skew_{column}": values.skew(),
        }
    return _clean(out)


def _files(table: Table) -> dict[str, float]:
    df = table.inspect.files().to_pandas()
    # inspect.files lists delete files too; content 0 is data.
    data = df[df["content"] == 0]
    records, sizes = data["record_count"].astype("int64"), data["file_size_in_bytes"].astype("int64")
    return _clean(
        {
            "files.avg_record_count": records.mean(),
            "files.max_record_count": records.max(),
            "files.min_record_count": records.min(),
            "files.avg_file_size": sizes.mean(),
            "files.max_file_size": sizes.max(),
            "files.min_file_size": sizes.min(),
            "files.small_file_count": (sizes < SMALL_FILE_BYTES).sum(),
        }
    )


def _clean(values: dict[str, Any]) -> dict[str, float]:
    # NaN becomes 0: pandas gives NaN for skew of constant data or < 3 values, and std of one value.
    return {k: 0.0 if pd.isna(v) else float(v) for k, v in values.items()}
