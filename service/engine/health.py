"""Table health: a 0–100 score and maintenance findings (insight, challenge, action).

Score = 100 − Σ weight × severity over five concerns, severity in [0, 1]. A concern's severity is
value / (2 × its threshold), capped at 1: it costs half its weight at the threshold, where its
finding appears, and all of it at twice the threshold (small files: times the small-file ratio).
Weights: small files 30, deletes 25, snapshots 15, manifests 15, partition skew 15.
100 means nothing to maintain.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from service.engine.table import TableFigures
from service.settings import HealthSettings

WEIGHTS = {
    "compact_small_files": 30.0,
    "compact_deletes": 25.0,
    "expire_snapshots": 15.0,
    "rewrite_manifests": 15.0,
    "revisit_partitioning": 15.0,
}


@dataclass(frozen=True, slots=True)
class Finding:
    """One maintenance recommendation, with the figures that triggered it."""

    code: str
    title: str
    insight: str
    challenge: str
    action: str
    figures: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class HealthReport:
    score: float
    severities: dict[str, float]
    findings: list[Finding]


def _severity(value: float, threshold: float) -> float:
    return min(1.0, max(0.0, value / (2 * threshold)))


def assess(fig: TableFigures, limits: HealthSettings) -> HealthReport:
    """Score the table and list what to do about it."""
    delete_ratio = fig.position_delete_ratio + fig.equality_delete_ratio
    skew = abs(fig.partition_records.skew)
    skew_counts = fig.partition_records.count >= limits.repartition_min_partitions
    severities = {
        "compact_small_files": _severity(fig.small_file_count, limits.compact_min_small_files)
        * fig.small_file_ratio,
        "compact_deletes": _severity(delete_ratio, limits.compact_max_delete_ratio),
        "expire_snapshots": max(
            _severity(fig.snapshot_count, limits.expire_max_snapshots),
            _severity(fig.oldest_snapshot_age_s, limits.expire_max_snapshot_age_s),
        ),
        "rewrite_manifests": _severity(fig.small_manifests, limits.rewrite_max_small_manifests),
        "revisit_partitioning": _severity(skew, limits.repartition_max_skew) if skew_counts else 0.0,
    }
    severities = {k: min(1.0, v) for k, v in severities.items()}
    score = 100.0 - sum(WEIGHTS[k] * v for k, v in severities.items())

    findings: list[Finding] = []
    if fig.small_file_count > limits.compact_min_small_files:
        findings.append(
            Finding(
                "compact_small_files",
                "Compact small files",
                f"{fig.small_file_count} of {fig.data_file_count} data files "
                f"({fig.small_file_ratio:.0%}) are under {limits.small_file_ratio_of_target:.0%} of the "
                f"target file size; the average file holds {fig.file_size_avg:,.0f} bytes.",
                "Many small files mean more requests and more metadata per query: reads slow down and "
                "S3 and planning costs grow.",
                "Run compaction (Glue Data Catalog automatic compaction, Athena OPTIMIZE … REWRITE DATA, "
                "or Spark rewrite_data_files) and review the writers' batch sizes.",
                {
                    "files.small_file_count": fig.small_file_count,
                    "files.small_file_ratio": fig.small_file_ratio,
                    "files.avg_file_size": fig.file_size_avg,
                    "threshold": limits.compact_min_small_files,
                },
            )
        )
    if delete_ratio > limits.compact_max_delete_ratio:
        findings.append(
            Finding(
                "compact_deletes",
                "Compact to apply delete files",
                f"Delete files mark {delete_ratio:.1%} of the table's rows as deleted "
                f"({fig.delete_file_count} live delete files).",
                "Every read must merge these deletes with the data files: queries slow down as "
                "updates and deletes accumulate.",
                "Run compaction so deleted rows are dropped from rewritten files (Athena OPTIMIZE, "
                "Spark rewrite_data_files with delete-file-threshold), then expire the old snapshots.",
                {
                    "deletes.position_delete_ratio": fig.position_delete_ratio,
                    "deletes.equality_delete_ratio": fig.equality_delete_ratio,
                    "delete_files.count": fig.delete_file_count,
                    "threshold": limits.compact_max_delete_ratio,
                },
            )
        )
    too_old = fig.oldest_snapshot_age_s > limits.expire_max_snapshot_age_s
    if fig.snapshot_count > limits.expire_max_snapshots or too_old:
        findings.append(
            Finding(
                "expire_snapshots",
                "Expire old snapshots",
                f"{fig.snapshot_count} snapshots are retained; the oldest is "
                f"{fig.oldest_snapshot_age_s / 86400:.1f} days old.",
                "Old snapshots keep their data and metadata files alive: storage grows and the "
                "metadata every commit rewrites gets larger and slower.",
                "Expire snapshots (Glue snapshot retention, Athena VACUUM, or Spark expire_snapshots) "
                "and keep only the time travel you need.",
                {
                    "snapshots.count": fig.snapshot_count,
                    "snapshots.oldest_age_s": fig.oldest_snapshot_age_s,
                    "threshold_count": limits.expire_max_snapshots,
                    "threshold_age_s": limits.expire_max_snapshot_age_s,
                },
            )
        )
    if fig.small_manifests > limits.rewrite_max_small_manifests:
        findings.append(
            Finding(
                "rewrite_manifests",
                "Rewrite manifests",
                f"{fig.small_manifests} of {fig.data_manifests + fig.delete_manifests} manifests are "
                "small (under 75% of the manifest target size).",
                "Query planning opens every manifest: many small ones make planning slow.",
                "Rewrite manifests (Spark rewrite_manifests) or enable manifest merging on the writers "
                "(commit.manifest-merge.enabled).",
                {
                    "manifests.small_count": fig.small_manifests,
                    "manifests.data_count": fig.data_manifests,
                    "threshold": limits.rewrite_max_small_manifests,
                },
            )
        )
    if skew_counts and skew > limits.repartition_max_skew:
        r = fig.partition_records
        findings.append(
            Finding(
                "revisit_partitioning",
                "Revisit partitioning",
                f"Records are unevenly spread over {r.count} partitions (skew {r.skew:.2f}; "
                f"largest {r.maximum:,}, average {r.mean:,.0f}).",
                "Skewed partitions make some tasks much longer than others and queries slower.",
                "Review the partition spec against query patterns; Iceberg can evolve the spec "
                "(e.g. add a bucket transform) without rewriting existing data.",
                {
                    "partitions.skew_record_count": r.skew,
                    "partitions.max_record_count": r.maximum,
                    "partitions.avg_record_count": r.mean,
                    "threshold": limits.repartition_max_skew,
                },
            )
        )
    return HealthReport(score=score, severities=severities, findings=findings)
