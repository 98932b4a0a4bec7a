"""CloudWatch dashboard and alarms for icewatch's metrics, as pure functions (no AWS calls).

`icewatch dashboard` and `icewatch alarms` print these for users who manage CloudWatch themselves;
deploy/icewatch.yaml defines the same alarms and the same dashboard (tests compare them), so the
names, dimensions and statistics here must match what the publisher sends (docs/metrics.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from service.engine.catalogue import TABLE_DIMENSION

INGESTION_METRIC = "snapshot.added_records"
FRESHNESS_METRIC = "table.seconds_since_last_commit"


@dataclass(frozen=True)
class AlarmPolicy:
    """How the alarms judge a table; the defaults follow the seed's advice (band 2, two periods)."""

    anomaly_band_width: float = 2.0  # standard deviations of ANOMALY_DETECTION_BAND(m1, N)
    anomaly_period_s: int = 300  # ingestion rate = records added per period (Sum)
    anomaly_evaluation_periods: int = 2  # outside the band this many consecutive periods
    freshness_threshold_s: int = 3600  # no commit for this long
    freshness_period_s: int = 300
    name_prefix: str = "icewatch"


def _band(width: float) -> str:
    return f"{width:g}"


def anomaly_alarm(
    namespace: str, table: str, actions: Sequence[str] = (), policy: AlarmPolicy = AlarmPolicy()
) -> dict[str, Any]:
    """PutMetricAlarm arguments: the table's ingestion rate left its anomaly band two periods running."""
    return {
        "AlarmName": f"{policy.name_prefix}-ingestion-anomaly-{table}",
        "AlarmDescription": (
            f"Records added to {table} per {policy.anomaly_period_s} s are outside the expected band "
            f"for {policy.anomaly_evaluation_periods} periods: a pipeline failure, a source outage or "
            "a traffic spike. Runbook: README.md#runbook"
        ),
        "ActionsEnabled": True,
        "AlarmActions": list(actions),
        "OKActions": list(actions),
        "Metrics": [
            {
                "Id": "m1",
                "MetricStat": {
                    "Metric": {
                        "Namespace": namespace,
                        "MetricName": INGESTION_METRIC,
                        "Dimensions": [{"Name": TABLE_DIMENSION, "Value": table}],
                    },
                    "Period": policy.anomaly_period_s,
                    "Stat": "Sum",
                },
                "ReturnData": True,
            },
            {
                "Id": "ad1",
                "Expression": f"ANOMALY_DETECTION_BAND(m1, {_band(policy.anomaly_band_width)})",
                "Label": f"{INGESTION_METRIC} (expected)",
                "ReturnData": True,
            },
        ],
        "ThresholdMetricId": "ad1",
        "ComparisonOperator": "LessThanLowerOrGreaterThanUpperThreshold",
        "EvaluationPeriods": policy.anomaly_evaluation_periods,
        "DatapointsToAlarm": policy.anomaly_evaluation_periods,
        # A quiet period is normal for tables that commit now and then; the freshness alarm
        # catches a pipeline that stopped.
        "TreatMissingData": "notBreaching",
    }


def freshness_alarm(
    namespace: str, table: str, actions: Sequence[str] = (), policy: AlarmPolicy = AlarmPolicy()
) -> dict[str, Any]:
    """PutMetricAlarm arguments: the table has not committed for longer than the threshold."""
    return {
        "AlarmName": f"{policy.name_prefix}-freshness-{table}",
        "AlarmDescription": (
            f"{table} has not committed for over {policy.freshness_threshold_s} s, or icewatch stopped "
            "publishing its freshness. Runbook: README.md#runbook"
        ),
        "ActionsEnabled": True,
        "AlarmActions": list(actions),
        "OKActions": list(actions),
        "Namespace": namespace,
        "MetricName": FRESHNESS_METRIC,
        "Dimensions": [{"Name": TABLE_DIMENSION, "Value": table}],
        "Statistic": "Maximum",
        "Period": policy.freshness_period_s,
        "EvaluationPeriods": 1,
        "Threshold": float(policy.freshness_threshold_s),
        "ComparisonOperator": "GreaterThanThreshold",
        # icewatch publishes it every minute for every tracked table: silence means icewatch is down.
        "TreatMissingData": "breaching",
    }


def dlq_alarm(queue_name: str, actions: Sequence[str] = (), name_prefix: str = "icewatch") -> dict[str, Any]:
    """PutMetricAlarm arguments: messages reached the dead-letter queue."""
    return {
        "AlarmName": f"{name_prefix}-dead-letter-queue",
        "AlarmDescription": (
            f"Messages icewatch could not process after repeated deliveries are in {queue_name}. "
            "Runbook: README.md#runbook"
        ),
        "ActionsEnabled": True,
        "AlarmActions": list(actions),
        "OKActions": list(actions),
        "Namespace": "AWS/SQS",
        "MetricName": "ApproximateNumberOfMessagesVisible",
        "Dimensions": [{"Name": "QueueName", "Value": queue_name}],
        "Statistic": "Maximum",
        "Period": 300,
        "EvaluationPeriods": 1,
        "Threshold": 0.0,
        "ComparisonOperator": "GreaterThanThreshold",
        "TreatMissingData": "notBreaching",
    }


def alarms(
    namespace: str,
    tables: Sequence[str],
    actions: Sequence[str] = (),
    dlq_name: str | None = None,
    policy: AlarmPolicy = AlarmPolicy(),
) -> list[dict[str, Any]]:
    """Every alarm for these tables (anomaly and freshness each), plus the DLQ alarm when named."""
    found = [
        alarm
        for table in tables
        for alarm in (
            anomaly_alarm(namespace, table, actions, policy),
            freshness_alarm(namespace, table, actions, policy),
        )
    ]
    if dlq_name:
        found.append(dlq_alarm(dlq_name, actions, policy.name_prefix))
    return found


@dataclass(frozen=True)
class Panel:
    """One dashboard graph: a catalogue metric and the statistic that makes sense for it."""

    title: str
    metric: str
    stat: str


# The seed's vital metrics first: ingestion, file sizes, skew, deletes; then freshness and health.
PANELS = (
    Panel("Records added (ingestion rate per period)", "snapshot.added_records", "Sum"),
    Panel("Data files added", "snapshot.added_data_files", "Sum"),
    Panel("Total records", "snapshot.total_records", "Maximum"),
    Panel("Total data size", "snapshot.total_files_size", "Maximum"),
    Panel("Average data file size", "files.avg_file_size", "Average"),
    Panel("Small data files", "files.small_file_count", "Maximum"),
    Panel("Partition skew (record counts)", "partitions.skew_record_count", "Maximum"),
    Panel("Position delete ratio", "deletes.position_delete_ratio", "Maximum"),
    Panel("Snapshots retained", "snapshots.count", "Maximum"),
    Panel("Seconds since last commit", FRESHNESS_METRIC, "Maximum"),
    Panel("Health score (100 = nothing to maintain)", "health.score", "Minimum"),
)
_WIDTH, _HEIGHT, _COLUMNS = 12, 6, 2


def _metric_lines(namespace: str, panel: Panel, tables: Sequence[str], period_s: int) -> list[Any]:
    if tables:
        return [[namespace, panel.metric, TABLE_DIMENSION, table, {"label": table}] for table in tables]
    # No tables named: one line per table icewatch publishes, found by SEARCH.
    query = f'{{{namespace},{TABLE_DIMENSION}}} MetricName="{panel.metric}"'
    return [[{"expression": f"SEARCH('{query}', '{panel.stat}', {period_s})", "id": "e1", "label": ""}]]


def dashboard_body(
    namespace: str,
    region: str,
    tables: Sequence[str] = (),
    queue_name: str | None = None,
    dlq_name: str | None = None,
    period_s: int = 300,
) -> dict[str, Any]:
    """A CloudWatch dashboard body (PutDashboard's DashboardBody, as a dict) of the table metrics.

    With `tables`, one line per named table; without, SEARCH expressions show every table. With
    queue names, a last row shows the event backlog and the dead-letter queue.
    """
    widgets: list[dict[str, Any]] = []
    for index, panel in enumerate(PANELS):
        widgets.append(
            {
                "type": "metric",
                "x": (index % _COLUMNS) * _WIDTH,
                "y": (index // _COLUMNS) * _HEIGHT,
                "width": _WIDTH,
                "height": _HEIGHT,
                "properties": {
                    "title": panel.title,
                    "view": "timeSeries",
                    "region": region,
                    "stat": panel.stat,
                    "period": period_s,
                    "metrics": _metric_lines(namespace, panel, tables, period_s),
                },
            }
        )
    queues = [
        (name, title) for name, title in ((queue_name, "Event backlog"), (dlq_name, "Dead letters")) if name
    ]
    y = ((len(PANELS) + _COLUMNS - 1) // _COLUMNS) * _HEIGHT
    for index, (name, title) in enumerate(queues):
        widgets.append(
            {
                "type": "metric",
                "x": index * _WIDTH,
                "y": y,
                "width": _WIDTH,
                "height": _HEIGHT,
                "properties": {
                    "title": f"{title} ({name})",
                    "view": "timeSeries",
                    "region": region,
                    "stat": "Maximum",
                    "period": period_s,
                    "metrics": [["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", name]],
                },
            }
        )
    return {"widgets": widgets}
