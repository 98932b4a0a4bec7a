"""`icewatch run` as users start it: a subprocess, configured by environment, stopped by SIGTERM."""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
import urllib.request

from service.emulator import DEMO_CREDENTIALS, DEMO_REGION
from service.sandbox import GlueEvents, create_sandbox
from tests.support.shapes import SCHEMA, rows


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except OSError:
        return 0, ""


def _wait(check, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


def test_run_publishes_serves_probes_and_exits_0_on_sigterm(emulator, glue_catalog, glue_namespace, tmp_path):
    sandbox = create_sandbox(emulator, name="process")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ICEWATCH_"))}
    env |= DEMO_CREDENTIALS | {
        "HOME": str(tmp_path),
        "AWS_ENDPOINT_URL": emulator.endpoint,
        "AWS_REGION": DEMO_REGION,
        "ICEWATCH_QUEUE_URL": sandbox.queue_url,
        "ICEWATCH_HTTP_PORT": str(port),
        "ICEWATCH_CLOUDWATCH_NAMESPACE": "ProcessTest",
        "ICEWATCH_FLUSH_INTERVAL_S": "0.2",
        "ICEWATCH_STATE_URL": f"sqlite:///{tmp_path}/state.db",
        "ICEWATCH_SWEEP_INTERVAL_S": "0",  # the session's emulator holds other tests' tables
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "service", "run"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        base = f"http://127.0.0.1:{port}"
        _wait(lambda: _get(f"{base}/healthz")[0] == 200, 60, "/healthz")
        _wait(lambda: _get(f"{base}/readyz")[0] == 200, 60, "/readyz after the first receive")

        table = glue_catalog.create_table(f"{glue_namespace}.events", SCHEMA)
        table.append(rows(random.Random(5), 17))
        GlueEvents(emulator, sandbox).table_changed(glue_namespace, "events")
        name = f"{glue_namespace}.events"
        _wait(
            lambda: f'icewatch_snapshot_added_records{{table="{name}"}} 17.0' in _get(f"{base}/metrics")[1],
            60,
            "the commit on /metrics",
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
