"""Settings from the environment (prefix ICEWATCH_), in small documented groups.

Every field names its unit and why its default was chosen; `icewatch` reads them once at start-up.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from service.errors import SettingsError

_ENV = SettingsConfigDict(env_prefix="ICEWATCH_", extra="ignore", frozen=True)


class CatalogSettings(BaseSettings):
    """Which Iceberg catalog to read."""

    model_config = _ENV

    catalog_name: str = Field(
        "default", description="Catalog name; SQL and REST catalogs use it, Glue ignores it."
    )
    catalog_properties: dict[str, str | int | float | bool] = Field(
        default_factory=lambda: {"type": "glue"},
        repr=False,  # may hold credentials; never print it whole
        description="JSON object of pyiceberg catalog properties (as for `load_catalog`); Glue by default.",
    )


class MetricsSettings(BaseSettings):
    """What the metrics engine computes and how much it keeps in memory."""

    model_config = _ENV

    cloudwatch_namespace: str = Field("IcebergMonitoring", description="CloudWatch namespace (the seed's).")
    top_partitions: int = Field(
        0,
        ge=0,
        le=100,
        description="Publish per-partition record/file counts for the K largest partitions; "
        "0 = off, because every partition is a billed custom metric.",
    )
    manifest_cache_entries: int = Field(
        500_000,
        ge=0,
        description="Bound of the per-manifest aggregate cache, in entries (one per cached manifest "
        "plus one per partition it touches; measured 0.25-0.55 KB each, so the default stays under "
        "~275 MB); least recently used manifests go first.",
    )


class HealthSettings(BaseSettings):
    """Thresholds behind health findings and the health score."""

    model_config = _ENV

    small_file_ratio_of_target: float = Field(
        0.75, gt=0, le=1, description="A data file is small below this fraction of the target file size."
    )
    compact_min_small_files: int = Field(
        100, ge=1, description="Recommend compaction above this many small files (Glue's own trigger)."
    )
    compact_max_delete_ratio: float = Field(
        0.10, gt=0, description="Recommend compaction when deletes / records exceeds this ratio."
    )
    expire_max_snapshots: int = Field(
        100, ge=1, description="Recommend expiring snapshots above this many retained snapshots."
    )
    expire_max_snapshot_age_s: int = Field(
        7 * 24 * 3600,
        ge=1,
        description="Recommend expiring snapshots older than this, seconds (7 days, Iceberg's "
        "default `history.expire.max-snapshot-age-ms` is 5 days; a little slack avoids flapping).",
    )
    rewrite_max_small_manifests: int = Field(
        100,
        ge=1,
        description="Recommend rewriting manifests above this many manifests smaller than 75% of "
        "`commit.manifest.target-size-bytes`.",
    )
    repartition_max_skew: float = Field(
        2.0, gt=0, description="Recommend revisiting partitioning when |skew of record counts| exceeds this."
    )
    repartition_min_partitions: int = Field(
        3, ge=3, description="Skew says little about fewer partitions than this (3 is its minimum)."
    )


class DaemonSettings(BaseSettings):
    """How `icewatch run` consumes events and publishes metrics."""

    model_config = _ENV

    queue_url: str = Field("", description="SQS queue fed by the EventBridge rule for Glue catalog events.")
    http_port: int = Field(
        9108, ge=0, le=65535, description="Port of /metrics, /healthz and /readyz; 0 picks a free one."
    )
    include_tables: list[str] = Field(
        default_factory=list,
        description='JSON list of DB.TABLE globs to watch, e.g. ["sales.*"]; empty = all.',
    )
    exclude_tables: list[str] = Field(
        default_factory=list, description='JSON list of DB.TABLE globs to ignore, e.g. ["*.tmp_*"].'
    )
    max_tables_in_flight: int = Field(
        64,
        ge=1,
        description="Tables worked on at once. A run holds its slot until CloudWatch acknowledges "
        "(~1 flush interval), so this bounds runs/s to about this many per second; computing is "
        "bounded separately by ICEWATCH_CATALOG_THREADS.",
    )
    catalog_threads: int = Field(
        4,
        ge=1,
        description="Worker threads for pyiceberg, which is synchronous; 4 keeps 2 vCPUs busy while "
        "others wait on S3.",
    )
    visibility_timeout_s: int = Field(
        60, ge=1, le=43200, description="SQS visibility per receive, seconds; extended while work goes on."
    )
    receive_batch_window_s: float = Field(
        0.5,
        ge=0,
        le=20,
        description="After a receive that returned fewer than 10 messages, seconds to wait before the "
        "next, so a busy queue is read 10 messages per call; adds at most this much latency.",
    )
    shutdown_timeout_s: float = Field(
        25.0, gt=0, description="Drain deadline on SIGTERM, seconds (under ECS's 30 s stopTimeout)."
    )
    cloudwatch_max_calls_per_s: int = Field(
        50, ge=1, le=500, description="PutMetricData calls per second, well under the 500 TPS quota."
    )
    flush_interval_s: float = Field(
        1.0, gt=0, description="Longest a datum waits in the publisher's buffer, seconds."
    )
    state_publish_interval_s: float = Field(
        60.0,
        ge=0,
        description="Shortest time between two CloudWatch publications of a table's current-state "
        "metrics (partition, file, health), seconds; a newer state waits at most this long. 60 matches "
        "CloudWatch's one-minute resolution; 0 = with every commit. Snapshot metrics go every commit.",
    )
    state_url: str = Field(
        "sqlite:///icewatch-state.db",
        description="Where watermarks and leases live: sqlite:///PATH (one task; relative with three "
        "slashes, absolute with four) or dynamodb://TABLE (several replicas).",
    )
    sweep_interval_s: float = Field(
        300.0,
        ge=0,
        description="Seconds between reconcile sweeps of the Glue catalog, which catch lost events and "
        "changes made while icewatch was down; 0 turns the sweep off.",
    )
    freshness_interval_s: float = Field(
        60.0, gt=0, description="Seconds between table.seconds_since_last_commit publications."
    )
    freshness_max_tables: int = Field(
        10_000,
        ge=1,
        description="Most tables the freshness timer publishes per tick (each is a billed metric); "
        "the most recently active first.",
    )
    lease_ttl_s: float = Field(
        120.0,
        gt=0,
        description="A table's lease, seconds: longer than its slowest processing run, short enough "
        "that a crashed replica's tables are taken over soon.",
    )


class ManagedJob(BaseModel):
    """One Glue job whose connection order the subnet poller keeps current (an item of ICEWATCH_GLUE_JOBS)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    job_name: str = Field(min_length=1, description="The Glue job's name.")
    connections: list[str] = Field(
        min_length=1,
        description="Candidate Glue connection names; those that can only go last (lookup failed, zone "
        "not available, under min_ips free) keep this order.",
    )
    strategy: Literal["capacity", "random"] = Field(
        "capacity", description="capacity: most free IPs first; random: shuffled within each tier."
    )
    full_ips: int | None = Field(
        None,
        ge=1,
        description="IP addresses the whole job needs (tier 1); default the job's NumberOfWorkers + 1 for "
        "the driver (DPU-sized jobs: ceil(MaxCapacity) + 1).",
    )
    min_ips: int = Field(
        2, ge=1, description="IP addresses a job needs to start (tier 2); Glue's minimum is 2."
    )

    @field_validator("connections")
    @classmethod
    def _distinct(cls, connections: list[str]) -> list[str]:
        if len(set(connections)) != len(connections):
            raise ValueError("a connection is listed twice")
        return connections


class PollerSettings(BaseSettings):
    """The subnet-capacity poller: which Glue jobs' connection order icewatch keeps current, and how."""

    model_config = _ENV

    glue_jobs: list[ManagedJob] = Field(
        default_factory=list,
        description='JSON list of managed jobs, e.g. [{"job_name": "etl", "connections": ["net-a", '
        '"net-b"], "strategy": "capacity"}]; empty = no poller.',
    )
    poll_interval_s: float = Field(
        60.0, gt=0, description="Seconds between polls; subnets fill over minutes, not seconds."
    )
    poller_dry_run: bool = Field(
        False, description="Log and count the reorders the poller would make, never call UpdateJob."
    )
    poller_hysteresis_ips: int = Field(
        5,
        ge=0,
        description="A connection moves ahead of another only with at least this many more free IPs "
        "(5: a small job's worth, so a job starting or stopping nearby doesn't rewrite the job).",
    )

    @field_validator("glue_jobs")
    @classmethod
    def _one_entry_per_job(cls, jobs: list[ManagedJob]) -> list[ManagedJob]:
        names = [job.job_name for job in jobs]
        if len(set(names)) != len(names):
            raise ValueError("a job is listed twice")
        return jobs


class Settings(BaseSettings):
    """All of icewatch's settings."""

    model_config = _ENV

    log_level: str = Field("INFO", description="Log level: DEBUG, INFO, WARNING or ERROR.")
    catalog: CatalogSettings = Field(default_factory=CatalogSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    health: HealthSettings = Field(default_factory=HealthSettings)
    daemon: DaemonSettings = Field(default_factory=DaemonSettings)
    poller: PollerSettings = Field(default_factory=PollerSettings)


def load_settings() -> Settings:
    """Read settings from the environment; a bad value raises SettingsError naming the variable."""
    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(f"{_variable(err['loc'])}: {err['msg']}" for err in exc.errors())
        raise SettingsError(f"invalid settings: {problems}") from exc
    except ValueError as exc:  # pydantic-settings' own error for a value that isn't valid JSON
        field = re.search(r'field "(\w+)"', str(exc))
        variable = f"ICEWATCH_{field.group(1).upper()}" if field else "an ICEWATCH_ variable"
        raise SettingsError(f"invalid settings: {variable} is not valid JSON") from exc


def _variable(loc: tuple[int | str, ...]) -> str:
    """The variable of a validation error, with the path inside its JSON: ICEWATCH_GLUE_JOBS[0].strategy."""
    inner = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc[1:])
    return f"ICEWATCH_{str(loc[0]).upper()}{inner}"
