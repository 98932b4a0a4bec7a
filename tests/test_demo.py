"""The README's first command: `icewatch demo` runs the whole pipeline on an embedded emulator."""

from __future__ import annotations

import os
import re
import subprocess
import sys


def test_demo_runs_writer_and_daemon_and_shows_every_table_without_aws(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ICEWATCH_"))}
    env |= {"HOME": str(tmp_path), "ICEWATCH_HTTP_PORT": "0"}  # no ~/.aws; any free port
    result = subprocess.run(
        [sys.executable, "-m", "service", "demo", "--duration", "15"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    last_view = out.rsplit("TABLE ", 1)[-1]
    for table in ("demo.orders", "demo.events", "demo.customers"):
        assert table in last_view
    # The subnet poller's view: the managed Glue job's three connections with their free IPs.
    connections = re.findall(
        r"^(?:demo-etl)?\s+\d\s+(demo-net-[abc])\s+subnet-\w+\s+us-east-1[abc]\s+\d+", last_view, re.M
    )
    assert sorted(connections) == ["demo-net-a", "demo-net-b", "demo-net-c"], last_view
    assert re.search(r"^subnet poller: demo-etl reordered \d+ times?$", out, re.M), out[-2000:]
    done = re.search(
        r"demo done: (\d+) commits written, (\d+) snapshots published, (\d+) datums in (\d+) Put", out
    )
    assert done, out[-2000:]
    commits, snapshots, datums, calls = map(int, done.groups())
    assert commits >= 10
    assert snapshots >= commits - 3  # the last commits may land after the stop
    assert datums > calls > 0
