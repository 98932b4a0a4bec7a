"""`icewatch run` as users start it: a subprocess, configured by environment, stopped by SIGTERM."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import urllib.request

from service.sandbox import GlueEvents, create_sandbox
from tests.support.daemon import daemon_env, free_port, wait_for
from tests.support.shapes import SCHEMA, rows


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except OSError:
        return 0, ""


def test_run_publishes_serves_probes_and_exits_0_on_sigterm(emulator, glue_catalog, glue_namespace, tmp_path):
    sandbox = create_sandbox(emulator, name="process")
    port = free_port()
    env = daemon_env(emulator, sandbox, tmp_path, "ProcessTest", http_port=str(port), flush_interval_s="0.2")
    process = subprocess.Popen(
        [sys.executable, "-m", "service", "run"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for(lambda: _get(f"{base}/healthz")[0] == 200, 60, "/healthz", every_s=0.25)
        wait_for(
            lambda: _get(f"{base}/readyz")[0] == 200, 60, "/readyz after the first receive", every_s=0.25
        )

        table = glue_catalog.create_table(f"{glue_namespace}.events", SCHEMA)
        table.append(rows(random.Random(5), 17))
        GlueEvents(emulator, sandbox).table_changed(glue_namespace, "events")
        name = f"{glue_namespace}.events"
        wait_for(
            lambda: f'icewatch_snapshot_added_records{{table="{name}"}} 17.0' in _get(f"{base}/metrics")[1],
            60,
            "the commit on /metrics",
            every_s=0.25,
        )
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=40)
    assert process.returncode == 0, err.decode()[-3000:]
    lines = [json.loads(line) for line in err.decode().splitlines() if line.startswith("{")]
    processed = [line for line in lines if line["event"] == "table_processed"]
    assert processed
    assert processed[0]["table"] == name
    assert processed[0]["snapshot_ids"] == [table.current_snapshot().snapshot_id]
    assert {"datums", "compute_ms", "publish_ms"} <= processed[0].keys()
    assert lines[-1]["event"] == "daemon_stopped"
