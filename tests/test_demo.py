"""The README's first command: `icewatch demo` runs on an embedded emulator with no AWS account."""

from __future__ import annotations

import os
import subprocess
import sys


def test_demo_writes_sample_tables_and_shows_their_metrics_without_aws(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ICEWATCH_"))}
    env["HOME"] = str(tmp_path)  # no ~/.aws either
    result = subprocess.run(
        [sys.executable, "-m", "service", "demo", "--commits", "2"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    for table in ("demo.orders", "demo.events", "demo.customers"):
        assert f"=== {table}" in result.stdout
        assert f"{table}: health score" in result.stdout
    assert result.stdout.count("snapshot.added_records") == 3
    assert "partitions.skew_record_count" in result.stdout
