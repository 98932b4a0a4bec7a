"""The independent reference: pyiceberg's metadata tables + pandas, per ../shared/METRICS.md.

Nothing here uses icewatch's code. Where pandas and the catalogue differ by definition the
catalogue wins and the mapping is explicit: NaN (too few values, constant data) becomes 0, and
rows of `inspect.partitions()` that hold only delete files are not partitions.
"""

from __future__ import annotations

import math

import pandas as pd
from pyiceberg.table import Table

TARGET_FILE_SIZE_DEFAULT = 536_870_912


def _zero_nan(value: float) -> float:
    return 0.0 if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


def expected_state_metrics(table: Table) -> dict[str, float]:
    """Partition, file, delete-file and manifest metrics of the current snapshot."""
    target = int(table.metadata.properties.get("write.target-file-size-bytes", TARGET_FILE_SIZE_DEFAULT))
    out: dict[str, float] = {"snapshots.count": float(len(table.metadata.snapshots))}
    if table.current_snapshot() is None:
        parts = pd.DataFrame({"record_count": [], "file_count": []})
        files = pd.DataFrame({"record_count": [], "file_size_in_bytes": []})
        deletes = pd.DataFrame({"content": [], "record_count": [], "file_size_in_bytes": []})
        manifests = pd.DataFrame({"content": []})
    else:
        parts = table.inspect.partitions().to_pandas()
        parts = parts[parts["file_count"] > 0]  # delete-only rows are not partitions
        files = table.inspect.data_files().to_pandas()
        deletes = table.inspect.delete_files().to_pandas()
        manifests = table.inspect.manifests().to_pandas()
    out["partitions.count"] = float(len(parts))
    for column in ("record_count", "file_count"):
        series = parts[column].astype("float64")
        out[f"partitions.avg_{column}"] = _zero_nan(series.mean())
        out[f"partitions.max_{column}"] = _zero_nan(series.max())
        out[f"partitions.min_{column}"] = _zero_nan(series.min())
        out[f"partitions.deviation_{column}"] = _zero_nan(series.std())
        out[f"partitions.skew_{column}"] = _zero_nan(series.skew())
    records = files["record_count"].astype("float64")
    sizes = files["file_size_in_bytes"].astype("float64")
    out |= {
        "files.avg_record_count": _zero_nan(records.mean()),
        "files.max_record_count": _zero_nan(records.max()),
        "files.min_record_count": _zero_nan(records.min()),
        "files.avg_file_size": _zero_nan(sizes.mean()),
        "files.max_file_size": _zero_nan(sizes.max()),
        "files.min_file_size": _zero_nan(sizes.min()),
        "files.small_file_count": float((sizes < 0.75 * target).sum()),
        "files.small_file_ratio": _zero_nan((sizes < 0.75 * target).mean()),
        "delete_files.count": float(len(deletes)),
        "delete_files.total_size": float(deletes["file_size_in_bytes"].sum()),
        "manifests.data_count": float((manifests["content"] == 0).sum()),
        "manifests.delete_count": float((manifests["content"] == 1).sum()),
    }
    total_records = records.sum()
    for content, name in ((1, "position"), (2, "equality")):
        deleted = deletes.loc[deletes["content"] == content, "record_count"].sum()
        out[f"deletes.{name}_delete_ratio"] = float(deleted / total_records) if total_records else 0.0
    return out


def expected_snapshot_metrics(table: Table) -> dict[int, dict[str, float]]:
    """Snapshot id -> `snapshot.*` metric values, from `inspect.snapshots()` summaries."""
    keys = (
        "added-data-files",
        "deleted-data-files",
        "total-data-files",
        "added-delete-files",
        "removed-delete-files",
        "total-delete-files",
        "added-records",
        "deleted-records",
        "total-records",
        "added-files-size",
        "removed-files-size",
        "total-files-size",
        "added-position-deletes",
        "removed-position-deletes",
        "total-position-deletes",
        "added-equality-deletes",
        "removed-equality-deletes",
        "total-equality-deletes",
        "changed-partition-count",
    )
    if table.current_snapshot() is None:
        return {}
    snaps = table.inspect.snapshots().to_pandas()
    out: dict[int, dict[str, float]] = {}
    for _, row in snaps.iterrows():
        summary = dict(row["summary"])
        out[int(row["snapshot_id"])] = {
            "snapshot." + k.replace("-", "_"): float(int(summary.get(k, "0"))) for k in keys
        }
    return out
