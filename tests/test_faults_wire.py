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

import pytest
from prometheus_client.parser import text_string_to_metric_families

from service.sandbox import MAX_RECEIVE_COUNT, GlueEvents, Sandbox, create_sandbox
from tests.support.daemon import daemon_env, free_port, published_counts, ready, wait_for
from tests.support.glue import break_metadata
from tests.support.proxy import FORWARD, INTERNAL_ERROR, THROTTLING, WireFaultProxy, delay, fault_plan
from tests.support.shapes import SCHEMA, rows

# The full sizes run under the `slow` mark (.ci/run runs them); the small ones by default.
WIRE_SIZES = [(10, 5), pytest.param(50, 20, marks=pytest.mark.slow, id="50x20")]
FLOOD_SIZES = [2_000, pytest.param(10_000, marks=pytest.mark.slow, id="10000")]
# Shares of PutMetricData requests the proxy throttles, fails with a 500, and delays by DELAY_S.
THROTTLED, FAILED, DELAYED, DELAY_S = 0.20, 0.05, 0.10, 0.5
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


@pytest.mark.parametrize(("table_count", "commits_per_table"), WIRE_SIZES)
def test_throttling_and_5xx_on_the_wire_still_publish_every_snapshot_exactly_once(
    emulator, glue_catalog, glue_namespace, tmp_path, table_count, commits_per_table
):
    sandbox = create_sandbox(emulator, name=f"wire{table_count}")
    namespace = f"FaultsWire{table_count}"
    tables = [
        glue_catalog.create_table(f"{glue_namespace}.wire{table_count}_{i}", SCHEMA)
        for i in range(table_count)
    ]
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
            for _ in range(commits_per_table):  # a burst: every table commits, then a breath
                for table, full in zip(tables, names, strict=True):
                    table.append(rows(rng, rng.randint(1, 20)))
                    events.table_changed(*full.split("."))
                    commits[full] += 1
                time.sleep(rng.uniform(0, 0.5))
            wait_for(
                lambda: all(c >= commits[t] for t, c in published_counts(emulator, namespace, names).items()),
                60 + table_count * commits_per_table / 5,
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


POISON_EVENTS = 3  # events for a table whose metadata file is gone: retried until the DLQ takes them


@pytest.mark.parametrize("malformed", FLOOD_SIZES)
def test_a_flood_of_malformed_bodies_does_not_stop_good_messages_and_poison_ends_in_the_dlq(
    emulator, glue_catalog, glue_namespace, tmp_path, malformed
):
    sandbox = create_sandbox(emulator, name=f"flood{malformed}")
    namespace = f"FaultsFlood{malformed}"
    tables = [glue_catalog.create_table(f"{glue_namespace}.flood{malformed}_{i}", SCHEMA) for i in range(3)]
    names = [".".join(t.name()[-2:]) for t in tables]
    broken = glue_catalog.create_table(f"{glue_namespace}.poison{malformed}", SCHEMA)
    break_metadata(emulator.client("glue"), glue_namespace, f"poison{malformed}", broken.metadata_location)
    events = GlueEvents(emulator, sandbox)
    sqs = emulator.client("sqs")
    rng = random.Random("flood")
    bodies = list(malformed_bodies(rng, malformed))
    rounds = max(4, malformed // 500)  # moto's ReceiveMessage slows with depth: keep the queue short
    commits = dict.fromkeys(names, 0)
    # Redelivery after 2 s, so a poison message reaches the DLQ (after 3 receives) within the test.
    env = quiet_env(emulator, sandbox, tmp_path, namespace) | {"ICEWATCH_VISIBILITY_TIMEOUT_S": "2"}

    with DaemonProcess(env, tmp_path / "daemon.log") as daemon:
        chunk = len(bodies) // rounds
        for r in range(rounds):
            wait_for(lambda: queue_depth(emulator, sandbox.queue_url) < chunk, 120, "the daemon to catch up")
            send_bodies(sqs, sandbox.queue_url, bodies[r * chunk : (r + 1) * chunk])
            for table, full in zip(tables, names, strict=True):
                table.append(rows(rng, rng.randint(1, 20)))
                events.table_changed(*full.split("."))
                commits[full] += 1
            if r < POISON_EVENTS:
                events.table_changed(glue_namespace, f"poison{malformed}")
        wait_for(
            lambda: all(c >= commits[t] for t, c in published_counts(emulator, namespace, names).items()),
            60 + malformed / 100,
            "the good commits in CloudWatch",
        )
        wait_for(lambda: queue_depth(emulator, sandbox.queue_url) == 0, 60, "the queue to be empty")
        assert daemon.alive()
        failed = daemon.metric("icewatch_messages_failed_total", outcome="deleted")
        retried = daemon.metric(
            "icewatch_messages_failed_total", reason="metadata_error", outcome="redelivered"
        )

    assert daemon.exit_code == 0, daemon.log.read_text()[-3000:]
    assert published_counts(emulator, namespace, names) == commits
    assert failed == malformed  # each malformed body deleted once, as invalid: never sent to the DLQ
    assert queue_depth(emulator, sandbox.dlq_url) == POISON_EVENTS
    assert (
        retried >= POISON_EVENTS * MAX_RECEIVE_COUNT
    )  # each was tried as often as the redrive policy allows
