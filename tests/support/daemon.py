"""Helpers for tests that run the real daemon as a process: readiness, waiting, CloudWatch counts."""

from __future__ import annotations

import time
import urllib.request
from datetime import UTC, datetime, timedelta


def ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def published_counts(emulator, namespace: str, tables: list[str]) -> dict[str, float]:
    cloudwatch = emulator.client("cloudwatch")
    now = datetime.now(UTC)
    counts = {}
    for table in tables:
        points = cloudwatch.get_metric_statistics(
            Namespace=namespace,
            MetricName="snapshot.added_records",
            Dimensions=[{"Name": "table_name", "Value": table}],
            StartTime=now - timedelta(hours=1),
            EndTime=now + timedelta(hours=1),
            Period=3600,
            Statistics=["SampleCount"],
        )["Datapoints"]
        counts[table] = sum(p["SampleCount"] for p in points)
    return counts


def wait_for(check, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")
