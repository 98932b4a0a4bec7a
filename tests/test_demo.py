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
    done = re.search(
        r"demo done: (\d+) commits written, (\d+) snapshots published, (\d+) datums in (\d+) Put", out
    )
    assert done, out[-2000:]
    commits, snapshots, datums, calls = map(int, done.groups())
    assert commits >= 10
    assert snapshots >= commits - 3  # the last commits may land after the stop
    assert datums > calls > 0
