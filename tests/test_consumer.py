"""The SQS consumer against moto's SQS: visibility kept while a table is slow, outcomes per message.

The table work is a test double (a coroutine that sleeps or fails): these tests are about the
queue protocol, not the metrics; the daemon tests cover the real processor.
"""

from __future__ import annotations

import asyncio
import json

import aioboto3
import pytest

from service.consumer import ConsumerConfig, SqsConsumer
from service.deletes import DeleteBatcher, DeleteFailed
from service.emulator import DEMO_CREDENTIALS, DEMO_REGION
from service.filters import TableFilter
from service.processor import Outcome
from service.sandbox import TABLE_CHANGE
from service.scheduler import TableScheduler
from service.telemetry import ServiceMetrics


class Tables:
    """Stands in for the TableProcessor: records calls, answers with a chosen outcome after a delay."""

    def __init__(self, outcome: Outcome, delay_s: float = 0.0) -> None:
        self.outcome, self.delay_s = outcome, delay_s
        self.calls: list[str] = []
        self.forgotten: list[str] = []

    async def process(self, table: str) -> Outcome:
        self.calls.append(table)
        await asyncio.sleep(self.delay_s)
        return self.outcome

    async def forget(self, table: str) -> None:
        self.forgotten.append(table)


def body(table: str, type_of_change: str = "UpdateTable") -> str:
    return json.dumps(
        {
            "version": "0",
            "id": "1",
            "detail-type": TABLE_CHANGE,
            "source": "aws.glue",
            "time": "2026-11-23T10:00:00Z",
            "region": DEMO_REGION,
            "resources": [],
            "detail": {"databaseName": "db", "tableName": table, "typeOfChange": type_of_change},
        }
    )


@pytest.fixture
async def sqs(emulator):
    session = aioboto3.Session(
        region_name=DEMO_REGION,
        aws_access_key_id=DEMO_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=DEMO_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )
    async with session.client("sqs", endpoint_url=emulator.endpoint) as client:
        yield client


_queues = iter(range(10**6))


async def run_consumer(
    sqs, tables: Tables, bodies: list[str], visibility_s: int = 60, settle_s: float = 2.0, during=None
):
    url = (await sqs.create_queue(QueueName=f"consumer{next(_queues)}"))["QueueUrl"]
    for b in bodies:
        await sqs.send_message(QueueUrl=url, MessageBody=b)
    metrics = ServiceMetrics()
    consumer = SqsConsumer(
        sqs,
        ConsumerConfig(url, visibility_timeout_s=visibility_s, max_messages_in_flight=20),
        tables,  # type: ignore[arg-type]
        TableScheduler(tables.process, max_in_flight=4),
        TableFilter(exclude=["db.ignored*"]),
        metrics,
    )
    await consumer.poll_once()
    if during is not None:
        await during(url)
    await asyncio.wait_for(consumer.drain(timeout_s=120), timeout=130)
    await asyncio.sleep(settle_s)
    return metrics, await counts(sqs, url), url


async def counts(sqs, url: str) -> dict[str, str]:
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    return (await sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names))["Attributes"]


async def test_a_slow_table_keeps_its_message_invisible_and_it_is_delivered_once(sqs):
    tables = Tables(Outcome(True), delay_s=16)  # longer than the 10 s visibility timeout
    seen_while_working: list[dict[str, str]] = []

    async def after_the_timeout(url: str) -> None:
        await asyncio.sleep(12)
        seen_while_working.append(await counts(sqs, url))

    metrics, attributes, url = await run_consumer(
        sqs, tables, [body("slow")], visibility_s=10, during=after_the_timeout
    )
    # Past its first visibility timeout the message is still hidden: the consumer extended it.
    assert seen_while_working == [
        {"ApproximateNumberOfMessages": "0", "ApproximateNumberOfMessagesNotVisible": "1"}
    ]
    assert tables.calls == ["db.slow"]
    assert metrics.registry.get_sample_value("icewatch_messages_processed_total") == 1
    assert attributes["ApproximateNumberOfMessages"] == "0"
    assert attributes["ApproximateNumberOfMessagesNotVisible"] == "0"
    assert (await sqs.receive_message(QueueUrl=url, WaitTimeSeconds=0)).get("Messages") is None


async def test_events_for_one_table_in_one_receive_are_coalesced(sqs):
    tables = Tables(Outcome(True), delay_s=0.5)
    metrics, _, _ = await run_consumer(sqs, tables, [body("busy")] * 6)
    assert len(tables.calls) <= 2  # the first run, then at most one for all that arrived during it
    assert metrics.registry.get_sample_value("icewatch_messages_processed_total") == 6


async def test_a_transient_failure_leaves_the_message_for_redelivery(sqs):
    tables = Tables(Outcome(False, "catalog_unavailable", retry=True))
    metrics, attributes, _ = await run_consumer(sqs, tables, [body("flaky")], settle_s=0)
    labels = {"reason": "catalog_unavailable", "outcome": "redelivered"}
    assert metrics.registry.get_sample_value("icewatch_messages_failed_total", labels) == 1
    assert attributes["ApproximateNumberOfMessagesNotVisible"] == "1"


async def test_permanent_failures_filtered_and_dropped_tables_are_deleted(sqs):
    tables = Tables(Outcome(False, "not_iceberg"))
    bodies = [body("csv"), body("ignored_tmp"), body("gone", "DeleteTable")]
    metrics, attributes, _ = await run_consumer(sqs, tables, bodies, settle_s=0)
    get = metrics.registry.get_sample_value
    assert get("icewatch_messages_failed_total", {"reason": "not_iceberg", "outcome": "deleted"}) == 1
    assert get("icewatch_messages_ignored_total", {"reason": "filtered"}) == 1
    assert tables.calls == ["db.csv"]
    assert tables.forgotten == ["db.gone"]
    assert attributes["ApproximateNumberOfMessages"] == "0"
    assert attributes["ApproximateNumberOfMessagesNotVisible"] == "0"


async def test_messages_finished_together_are_deleted_in_one_batch_call(sqs):
    calls: list[str] = []
    sqs.meta.events.register("before-call.sqs.*", lambda model, **_: calls.append(model.name))
    tables = Tables(Outcome(True))
    metrics, attributes, _ = await run_consumer(sqs, tables, [body(f"t{i}") for i in range(10)], settle_s=0)
    assert metrics.registry.get_sample_value("icewatch_messages_processed_total") == 10
    assert attributes["ApproximateNumberOfMessages"] == "0"
    assert attributes["ApproximateNumberOfMessagesNotVisible"] == "0"
    assert calls.count("DeleteMessageBatch") == 1
    assert "DeleteMessage" not in calls


async def test_a_delete_sqs_refuses_fails_alone_and_the_others_in_its_batch_are_deleted(sqs):
    url = (await sqs.create_queue(QueueName=f"consumer{next(_queues)}"))["QueueUrl"]
    for i in range(3):
        await sqs.send_message(QueueUrl=url, MessageBody=str(i))
    received = await sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
    receipts = [m["ReceiptHandle"] for m in received["Messages"]]
    batcher = DeleteBatcher(sqs, url)
    results = await asyncio.gather(
        *(batcher.delete(r) for r in [*receipts, "not-a-receipt-handle"]), return_exceptions=True
    )
    assert results[:-1] == [None] * len(receipts)
    assert isinstance(results[-1], DeleteFailed)
    assert (await counts(sqs, url))["ApproximateNumberOfMessagesNotVisible"] == "0"
