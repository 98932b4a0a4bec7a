"""Faults on the wire for the real daemon process: CloudWatch throttles, fails and stalls; SQS floods.

The daemon runs as `icewatch run` in a subprocess against the session's moto server, with CloudWatch
behind tests/support/proxy.py (moto can't be told to throttle, so the proxy answers for it).
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from service.sandbox import GlueEvents, Sandbox, create_sandbox
from tests.support.daemon import daemon_env, free_port, published_counts, ready, wait_for
from tests.support.proxy import FORWARD, INTERNAL_ERROR, THROTTLING, WireFaultProxy, delay, fault_plan
from tests.support.shapes import SCHEMA, rows

# The full size is 50 tables x 20 commits; this size keeps the test under a minute.
TABLES = 10
COMMITS_PER_TABLE = 5
# Shares of PutMetricData requests the proxy throttles, fails with a 500, and delays by DELAY_S.
THROTTLED, FAILED, DELAYED, DELAY_S = 0.20, 0.05, 0.10, 0.5
MALFORMED_BODIES = 2_000
SQS_MAX_BATCH_BYTES = 256 * 1024  # SendMessageBatch's limit for all of a batch's bodies together


class DaemonProcess:
    """`icewatch run` in a subprocess, its log in a file; ready once entered, SIGTERM and exit 0 on exit."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self._env = env | {"ICEWATCH_HTTP_PORT": str(self.port)}
        self.log = log
        self.exit_code: int | None = None

    def __enter__(self) -> DaemonProcess:
        with self.log.open("wb") as log:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "service", "run"], env=self._env, stdout=log, stderr=log
            )
        try:
            wait_for(lambda: ready(self.port), 60, "the daemon to be ready")
        except BaseException:
            self._process.kill()
            self._process.wait(timeout=10)
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._process.send_signal(signal.SIGTERM)
        try:
            self.exit_code = self._process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            self._process.kill()  # don't leak it; exit_code stays None, so the test fails
            self._process.wait(timeout=10)

    def alive(self) -> bool:
        return self._process.poll() is None

    def metric(self, name: str, **labels: str) -> float:
        """The sum of a /metrics sample over the series matching `labels`."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=10) as response:
            text = response.read().decode()
        return sum(
            sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if sample.name == name and labels.items() <= sample.labels.items()
        )


def quiet_env(emulator, sandbox: Sandbox, tmp_path: Path, namespace: str) -> dict[str, str]:
    return daemon_env(emulator, sandbox, tmp_path, namespace, flush_interval_s="0.3", log_level="WARNING")


def queue_depth(emulator, queue_url: str) -> int:
    attributes = emulator.client("sqs").get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return sum(int(v) for v in attributes.values())


def test_throttling_and_5xx_on_the_wire_still_publish_every_snapshot_exactly_once(
    emulator, glue_catalog, glue_namespace, tmp_path
):
    sandbox = create_sandbox(emulator, name="wire")
    namespace = "FaultsWire"
    tables = [glue_catalog.create_table(f"{glue_namespace}.wire{i}", SCHEMA) for i in range(TABLES)]
    names = [".".join(t.name()[-2:]) for t in tables]
    events = GlueEvents(emulator, sandbox)
    rng = random.Random("wire")
    commits = dict.fromkeys(names, 0)
    # The publisher retries 5 times; the plan never fails one call more than twice in a row (calls are
    # sequential), so every datum gets through and a duplicate could only come from the daemon itself.
    # The run makes only ~20 calls: the first few meet every fault for sure, then the shares apply.
    plan = [THROTTLING, INTERNAL_ERROR, FORWARD, delay(DELAY_S)]
    plan += fault_plan("wire", 1_000, throttled=THROTTLED, failed=FAILED, delayed=DELAYED, delay_s=DELAY_S)
    env = quiet_env(emulator, sandbox, tmp_path, namespace)

    with WireFaultProxy(emulator.endpoint, plan) as proxy:
        env["AWS_ENDPOINT_URL_CLOUDWATCH"] = proxy.endpoint
        with DaemonProcess(env, tmp_path / "daemon.log") as daemon:
            for _ in range(COMMITS_PER_TABLE):  # a burst: every table commits, then a breath
                for table, full in zip(tables, names, strict=True):
                    table.append(rows(rng, rng.randint(1, 20)))
                    events.table_changed(*full.split("."))
                    commits[full] += 1
                time.sleep(rng.uniform(0, 0.5))
            wait_for(
                lambda: all(c >= commits[t] for t, c in published_counts(emulator, namespace, names).items()),
                120,
                "every snapshot in CloudWatch",
            )
            counted = {
                code: daemon.metric("icewatch_put_metric_data_errors_total", code=code)
                for code in ("Throttling", "InternalServiceFault")
            }
        answered = proxy.counts

    log = daemon.log.read_text()
    assert daemon.exit_code == 0, log[-3000:]
    assert published_counts(emulator, namespace, names) == commits, (answered, log[-3000:])
    # Not vacuous: the daemon met (and counted) every kind of fault.
    assert min(answered[kind] for kind in ("Throttling", "InternalServiceFault", "delayed")) > 0, answered
    assert min(counted.values()) > 0, counted
    assert "put_metric_data_failed" not in log, log[-3000:]


def malformed_bodies(rng: random.Random, count: int) -> Iterator[str]:
    """Bodies that can never be a Glue event: each kind in turn, with random content."""

    def garbage(n: int) -> str:
        # Random bytes read as latin-1, minus the control characters SQS refuses.
        return "".join(c for c in rng.randbytes(n).decode("latin-1") if c >= " " or c in "\t\n\r") or "\x7f"

    def huge_chars() -> int:
        return 200_000 if rng.random() < 0.1 else rng.randint(1_000, 20_000)  # all under 256 KiB

    def glue_event(detail: object) -> dict:
        return {
            "version": "0",
            "id": f"id-{rng.getrandbits(32)}",
            "detail-type": "Glue Data Catalog Table State Change",
            "source": "aws.glue",
            "account": "123456789012",
            "time": "2026-11-01T00:00:00Z",
            "region": "us-east-1",
            "resources": [],
            "detail": detail,
        }

    kinds = [
        lambda: '{"source": "aws.glue", "detail": {' + garbage(40),  # invalid JSON
        lambda: json.dumps(glue_event({"databaseName": 7, "tableName": ["t"], "typeOfChange": "Update"})),
        lambda: json.dumps(glue_event({"databaseName": "db", "typeOfChange": "UpdateTable"})),  # no table
        lambda: json.dumps({"version": "0", "source": "aws.glue"}),  # no detail-type, no detail
        lambda: json.dumps(glue_event({"databaseName": "db", "tableName": "x" * huge_chars()})),
        lambda: garbage(rng.randint(1, 2_000)),
        lambda: json.dumps(rng.choice([[1, 2, 3], "a string", 42, None, True, [{"source": "aws.glue"}]])),
    ]
    for i in range(count):
        yield kinds[i % len(kinds)]()


def send_bodies(sqs, queue_url: str, bodies: list[str]) -> None:
    """SendMessageBatch 10 at a time, within the batch's byte limit."""
    batch: list[str] = []
    for body in [*bodies, None]:
        full = body is None or len(batch) == 10
        full = full or sum(len(b.encode()) for b in batch) + len(body.encode()) > SQS_MAX_BATCH_BYTES
        if full and batch:
            entries = [{"Id": str(i), "MessageBody": b} for i, b in enumerate(batch)]
            response = sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)
            assert not response.get("Failed"), response["Failed"]
            batch = []
        if body is not None:
            batch.append(body)


def test_a_flood_of_malformed_bodies_does_not_stop_good_messages(
    emulator, glue_catalog, glue_namespace, tmp_path
):
    sandbox = create_sandbox(emulator, name="flood")
    namespace = "FaultsFlood"
    tables = [glue_catalog.create_table(f"{glue_namespace}.flood{i}", SCHEMA) for i in range(3)]
    names = [".".join(t.name()[-2:]) for t in tables]
    events = GlueEvents(emulator, sandbox)
    sqs = emulator.client("sqs")
    rng = random.Random("flood")
    bodies = list(malformed_bodies(rng, MALFORMED_BODIES))
    rounds = 4
    commits = dict.fromkeys(names, 0)

    with DaemonProcess(
        quiet_env(emulator, sandbox, tmp_path, namespace),
        tmp_path / "daemon.log",
    ) as daemon:
        chunk = len(bodies) // rounds
        for r in range(rounds):
            send_bodies(sqs, sandbox.queue_url, bodies[r * chunk : (r + 1) * chunk])
            for table, full in zip(tables, names, strict=True):
                table.append(rows(rng, rng.randint(1, 20)))
                events.table_changed(*full.split("."))
                commits[full] += 1
        wait_for(
            lambda: all(c >= commits[t] for t, c in published_counts(emulator, namespace, names).items()),
            60,
            "the good commits in CloudWatch",
        )
        wait_for(lambda: queue_depth(emulator, sandbox.queue_url) == 0, 30, "the queue to be empty")
        assert daemon.alive()
        failed = daemon.metric("icewatch_messages_failed_total", outcome="deleted")

    assert daemon.exit_code == 0, daemon.log.read_text()[-3000:]
    assert published_counts(emulator, namespace, names) == commits
    assert failed == MALFORMED_BODIES
    assert queue_depth(emulator, sandbox.dlq_url) == 0  # deleted as invalid, not left to the redrive
