"""`icewatch run` end to end on the emulator: Glue events through EventBridge and SQS in, per-snapshot
datums in CloudWatch and values on /metrics out; bad messages don't stop good ones."""

from __future__ import annotations

import asyncio
import itertools
import random
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest

from service.app import Daemon, run_daemon
from service.emulator import DEMO_CREDENTIALS, DEMO_REGION
from service.models import utc_from_ms
from service.sandbox import GlueEvents, Sandbox, create_sandbox
from service.settings import CatalogSettings, DaemonSettings, MetricsSettings, Settings
from tests.support.glue import break_metadata
from tests.support.shapes import BY_DAY_AND_REGION, SCHEMA, rows

_names = itertools.count()


@pytest.fixture
def sandbox(emulator, monkeypatch) -> Sandbox:
    monkeypatch.setenv("AWS_ENDPOINT_URL", emulator.endpoint)
    monkeypatch.setenv("AWS_REGION", DEMO_REGION)
    for key, value in DEMO_CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    return create_sandbox(emulator, name=f"daemon{next(_names)}")


class RunningDaemon:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.stop = asyncio.Event()
        self.started = asyncio.Event()
        self.daemon: Daemon | None = None
        self.task: asyncio.Task[int] | None = None

    async def __aenter__(self) -> RunningDaemon:
        async def on_start(daemon: Daemon) -> None:
            self.daemon = daemon
            self.started.set()

        self.task = asyncio.create_task(run_daemon(self.settings, self.stop, on_start))
        await asyncio.wait_for(self.started.wait(), timeout=30)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.stop.set()
        assert await asyncio.wait_for(self.task, timeout=60) == 0

    def scrape(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.daemon.http.port}/metrics", timeout=10) as r:
            return r.read().decode()


def daemon_settings(sandbox: Sandbox, namespace: str) -> Settings:
    return Settings(
        catalog=CatalogSettings(catalog_properties={"type": "glue", "warehouse": sandbox.warehouse}),
        metrics=MetricsSettings(cloudwatch_namespace=namespace),
        daemon=DaemonSettings(
            queue_url=sandbox.queue_url,
            http_port=0,
            flush_interval_s=0.2,
            state_url="sqlite:///:memory:",
            sweep_interval_s=0,  # the session's emulator holds other tests' tables; see the sweep test
        ),
    )


async def eventually(check, timeout_s: float = 60.0, what: str = "condition"):
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        result = await asyncio.to_thread(check)
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.3)


def datapoints(emulator, namespace: str, metric: str, table: str) -> list[dict]:
    now = datetime.now(UTC).replace(microsecond=0)  # whole seconds: 1 s buckets start on the second
    response = emulator.client("cloudwatch").get_metric_statistics(
        Namespace=namespace,
        MetricName=metric,
        Dimensions=[{"Name": "table_name", "Value": table}],
        StartTime=now - timedelta(hours=1),
        EndTime=now + timedelta(hours=1),
        Period=1,
        Statistics=["Sum", "SampleCount"],
    )
    return sorted(response["Datapoints"], key=lambda p: p["Timestamp"])


async def test_every_commit_lands_in_cloudwatch_with_its_own_value_and_time(
    emulator, sandbox, glue_catalog, glue_namespace
):
    namespace = f"Test{next(_names)}"
    events = GlueEvents(emulator, sandbox)
    async with RunningDaemon(daemon_settings(sandbox, namespace)) as running:
        table = await asyncio.to_thread(
            glue_catalog.create_table, f"{glue_namespace}.orders", SCHEMA, partition_spec=BY_DAY_AND_REGION
        )
        rng = random.Random(1)
        for n in (30, 7, 120):
            await asyncio.to_thread(table.append, rows(rng, n))
            await asyncio.sleep(1.1)  # distinct seconds: CloudWatch's finest period here
        await asyncio.to_thread(events.table_changed, glue_namespace, "orders")
        name = f"{glue_namespace}.orders"

        points = await eventually(
            lambda: (
                (p := datapoints(emulator, namespace, "snapshot.added_records", name))
                and sum(x["SampleCount"] for x in p) == 3
                and p
            ),
            what="three snapshots in CloudWatch",
        )
        assert [p["Sum"] for p in points] == [30, 7, 120], points
        # Each datum carries its snapshot's commit time (moto reports it within the 1 s bucket);
        # the first commit was published over 2 s after it was made, so publish time would fail this.
        commit_times = [utc_from_ms(s.timestamp_ms) for s in table.snapshots()]
        for point, committed in zip(points, commit_times, strict=True):
            assert abs((point["Timestamp"].astimezone(UTC) - committed).total_seconds()) < 1

        text = await eventually(
            lambda: "icewatch_snapshot_added_records{" in running.scrape() and running.scrape()
        )
        assert f'icewatch_snapshot_added_records{{table="{name}"}} 120.0' in text
        assert "icewatch_put_metric_data_calls_total" in text
        registry = running.daemon.metrics.registry
        # Counted once its deletion is confirmed, which follows the acknowledgement by a batch window.
        await eventually(
            lambda: registry.get_sample_value("icewatch_messages_processed_total") == 1,
            what="the message deleted and counted",
        )
        assert registry.get_sample_value("icewatch_snapshots_published_total") == 3


async def test_bad_bodies_are_deleted_and_good_messages_keep_flowing(
    emulator, sandbox, glue_catalog, glue_namespace
):
    namespace = f"Test{next(_names)}"
    sqs = emulator.client("sqs")
    async with RunningDaemon(daemon_settings(sandbox, namespace)) as running:
        table = await asyncio.to_thread(glue_catalog.create_table, f"{glue_namespace}.clicks", SCHEMA)
        for body in ("not json", "[]", '{"detail-type": "Glue Data Catalog Table State Change"}', "{" * 5000):
            await asyncio.to_thread(sqs.send_message, QueueUrl=sandbox.queue_url, MessageBody=body)
        await asyncio.to_thread(table.append, rows(random.Random(2), 11))
        await asyncio.to_thread(GlueEvents(emulator, sandbox).table_changed, glue_namespace, "clicks")
        name = f"{glue_namespace}.clicks"
        await eventually(
            lambda: datapoints(emulator, namespace, "snapshot.added_records", name), what="the good message"
        )
        registry = running.daemon.metrics.registry
        await eventually(lambda: (registry.get_sample_value("icewatch_messages_received_total") or 0) >= 5)
        failed = sum(
            registry.get_sample_value("icewatch_messages_failed_total", {"reason": r, "outcome": "deleted"})
            or 0
            for r in ("invalid_json", "not_an_object", "missing_field")
        )
        assert failed == 4
    attributes = sqs.get_queue_attributes(
        QueueUrl=sandbox.queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    assert attributes["ApproximateNumberOfMessages"] == "0"
    assert attributes["ApproximateNumberOfMessagesNotVisible"] == "0"


async def test_a_non_iceberg_table_is_looked_up_once_and_its_events_deleted(
    emulator, sandbox, glue_client, glue_namespace
):
    glue_client.create_table(
        DatabaseName=glue_namespace,
        TableInput={
            "Name": "csv_logs",
            "TableType": "EXTERNAL_TABLE",
            "Parameters": {"classification": "csv"},
        },
    )
    events = GlueEvents(emulator, sandbox)
    async with RunningDaemon(daemon_settings(sandbox, f"Test{next(_names)}")) as running:
        for _ in range(3):
            await asyncio.to_thread(events.table_changed, glue_namespace, "csv_logs")
        registry = running.daemon.metrics.registry
        labels = {"reason": "not_iceberg", "outcome": "deleted"}
        await eventually(lambda: registry.get_sample_value("icewatch_messages_failed_total", labels) == 3)


async def test_datums_of_many_tables_share_calls_and_shutdown_flushes_them_at_once(
    emulator, sandbox, glue_catalog, glue_namespace
):
    """A long flush interval holds datums back; SIGTERM-style stop must still deliver them promptly."""
    namespace = f"Test{next(_names)}"
    settings = daemon_settings(sandbox, namespace)
    settings = settings.model_copy(
        update={"daemon": settings.daemon.model_copy(update={"flush_interval_s": 3600.0})}
    )
    events = GlueEvents(emulator, sandbox)
    tables = [f"t{i}" for i in range(12)]
    running = RunningDaemon(settings)
    async with running:
        rng = random.Random(3)
        for name in tables:
            table = await asyncio.to_thread(glue_catalog.create_table, f"{glue_namespace}.{name}", SCHEMA)
            await asyncio.to_thread(table.append, rows(rng, 5))
            await asyncio.to_thread(events.table_changed, glue_namespace, name)
        registry = running.daemon.metrics.registry
        # Every table computed and waiting on its acknowledgement, none sent yet (interval: 1 h).
        await eventually(
            lambda: (
                (registry.get_sample_value("icewatch_table_processing_seconds_count") or 0) == 0
                and running.daemon.consumer.in_flight == len(tables)
            ),
            what="all messages in flight",
        )
        assert (registry.get_sample_value("icewatch_put_metric_data_calls_total") or 0) == 0
        stopped_at = asyncio.get_running_loop().time()
    assert asyncio.get_running_loop().time() - stopped_at < 20
    datums = registry.get_sample_value("icewatch_put_metric_data_datums_total")
    calls = registry.get_sample_value("icewatch_put_metric_data_calls_total")
    assert datums >= 500
    assert calls <= -(-datums // 1000) + 1  # at most one call beyond the minimum
    assert registry.get_sample_value("icewatch_messages_processed_total") == len(tables)
    for name in tables:
        assert datapoints(emulator, namespace, "snapshot.added_records", f"{glue_namespace}.{name}")


async def test_the_sweep_publishes_commits_whose_events_were_lost(
    emulator, sandbox, glue_catalog, glue_namespace
):
    namespace = f"Test{next(_names)}"
    settings = daemon_settings(sandbox, namespace)
    settings = settings.model_copy(
        update={
            "daemon": settings.daemon.model_copy(update={"sweep_interval_s": 1.0}),
            "catalog": settings.catalog.model_copy(
                update={"catalog_properties": {"type": "glue", "warehouse": sandbox.warehouse}}
            ),
        }
    )
    async with RunningDaemon(settings):
        table = await asyncio.to_thread(glue_catalog.create_table, f"{glue_namespace}.quiet", SCHEMA)
        await asyncio.to_thread(table.append, rows(random.Random(4), 13))  # no event is ever sent
        points = await eventually(
            lambda: datapoints(emulator, namespace, "snapshot.added_records", f"{glue_namespace}.quiet"),
            what="the sweep to find the commit",
        )
    assert [p["Sum"] for p in points] == [13]


async def test_a_table_that_keeps_failing_sends_its_messages_to_the_dlq_while_others_flow(
    emulator, sandbox, glue_catalog, glue_client, glue_namespace
):
    """A poison message (metadata missing) is redelivered until the redrive policy moves it to the DLQ."""
    namespace = f"Test{next(_names)}"
    settings = daemon_settings(sandbox, namespace)
    settings = settings.model_copy(
        update={"daemon": settings.daemon.model_copy(update={"visibility_timeout_s": 1})}
    )
    broken = await asyncio.to_thread(glue_catalog.create_table, f"{glue_namespace}.broken", SCHEMA)
    break_metadata(glue_client, glue_namespace, "broken", broken.metadata_location)
    sqs = emulator.client("sqs")
    events = GlueEvents(emulator, sandbox)
    async with RunningDaemon(settings) as running:
        await asyncio.to_thread(events.table_changed, glue_namespace, "broken")
        healthy = await asyncio.to_thread(glue_catalog.create_table, f"{glue_namespace}.healthy", SCHEMA)
        await asyncio.to_thread(healthy.append, rows(random.Random(6), 9))
        await asyncio.to_thread(events.table_changed, glue_namespace, "healthy")
        await eventually(
            lambda: datapoints(emulator, namespace, "snapshot.added_records", f"{glue_namespace}.healthy"),
            what="the healthy table's commit",
        )
        dlq_count = lambda: int(  # noqa: E731
            sqs.get_queue_attributes(
                QueueUrl=sandbox.dlq_url, AttributeNames=["ApproximateNumberOfMessages"]
            )["Attributes"]["ApproximateNumberOfMessages"]
        )
        await eventually(lambda: dlq_count() == 1, what="the poison message in the DLQ")
        labels = {"reason": "metadata_error", "outcome": "redelivered"}
        assert running.daemon.metrics.registry.get_sample_value("icewatch_messages_failed_total", labels) >= 3


async def test_two_replicas_on_one_queue_publish_each_snapshot_once_and_one_carries_on_alone(
    emulator, sandbox, glue_catalog, glue_namespace
):
    namespace = f"Test{next(_names)}"
    base = daemon_settings(sandbox, namespace)
    shared = base.model_copy(
        update={
            "daemon": base.daemon.model_copy(
                update={"state_url": f"dynamodb://icewatch-state-{namespace}", "visibility_timeout_s": 2}
            )
        }
    )
    events = GlueEvents(emulator, sandbox)
    tables = [
        await asyncio.to_thread(glue_catalog.create_table, f"{glue_namespace}.r{i}", SCHEMA) for i in range(4)
    ]
    rng = random.Random(7)
    expected: dict[str, int] = {}

    async def commit_round() -> None:
        for table in tables:
            await asyncio.to_thread(table.append, rows(rng, 3))
            await asyncio.to_thread(events.table_changed, glue_namespace, table.name()[-1])
            expected[table.name()[-1]] = expected.get(table.name()[-1], 0) + 1

    def published_once() -> bool:
        counts = {
            name: sum(
                p["SampleCount"]
                for p in datapoints(emulator, namespace, "snapshot.added_records", f"{glue_namespace}.{name}")
            )
            for name in expected
        }
        assert all(counts[n] <= expected[n] for n in expected), f"published twice: {counts} vs {expected}"
        return counts == expected

    async with RunningDaemon(shared) as survivor:
        async with RunningDaemon(shared):
            for _ in range(3):
                await commit_round()
            await eventually(published_once, timeout_s=90, what="every snapshot once")
        # One replica stopped (its leases released): the other carries every table on alone.
        await commit_round()
        await eventually(published_once, timeout_s=90, what="the survivor to publish the rest")
        assert survivor.daemon.metrics.registry.get_sample_value("icewatch_snapshots_published_total") > 0
