"""Helpers for tests that run the real daemon as a process: environment, readiness, CloudWatch counts."""

from __future__ import annotations

import os
import socket
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

from service.emulator import DEMO_CREDENTIALS, DEMO_REGION
from service.sandbox import Sandbox


def daemon_env(emulator, sandbox: Sandbox, tmp_path: Path, namespace: str, **settings: str) -> dict[str, str]:
    """The environment of `icewatch run` against the emulator: only standard AWS and ICEWATCH_ variables.

    `settings` are extra ICEWATCH_ variables by their lower-case suffix, e.g. flush_interval_s="0.3".
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ICEWATCH_"))}
    return (
        env
        | DEMO_CREDENTIALS
        | {
            "HOME": str(tmp_path),  # no ~/.aws, no ~/.pyiceberg.yaml
            "AWS_ENDPOINT_URL": emulator.endpoint,
            "AWS_REGION": DEMO_REGION,
            "ICEWATCH_QUEUE_URL": sandbox.queue_url,
            "ICEWATCH_CLOUDWATCH_NAMESPACE": namespace,
            "ICEWATCH_STATE_URL": f"sqlite:///{tmp_path}/{namespace}.db",
            "ICEWATCH_SWEEP_INTERVAL_S": "0",  # the session's emulator holds other tests' tables
        }
        | {f"ICEWATCH_{key.upper()}": value for key, value in settings.items()}
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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


def wait_for(check, timeout_s: float, what: str, every_s: float = 0.5):
    """Poll `check` until it returns something truthy, and return that."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(every_s)
    raise AssertionError(f"timed out waiting for {what}")
