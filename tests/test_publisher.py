"""The CloudWatch publisher against moto over HTTP: batching, limits, drops, retries, failures, close.

Every value is read back from moto with GetMetricStatistics. Faults (throttling, 5xx, a dropped
connection, rejections) can't be asked of moto, so `tests.support.faults.WireFaults` answers chosen
PutMetricData requests in botocore's `before-send` hook, before they reach the wire; botocore parses
those answers as it would AWS's, and every other request goes to moto.
"""

from __future__ import annotations

import asyncio
import math
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import aioboto3
import pytest
from botocore.config import Config
from structlog.testing import capture_logs

from service.emulator import DEMO_CREDENTIALS, DEMO_REGION, Emulator
from service.models import MetricDatum, Unit
from service.publisher import CloudWatchPublisher, PublishError
from service.telemetry import ServiceMetrics
from tests.support.faults import (
    INTERNAL_ERROR,
    THROTTLING,
    TOO_MANY_REQUESTS,
    WireFaults,
    connection_closed,
    error_response,
)

TIMEOUT_S = 60  # generous: only a hang should hit it
TABLE = "db.orders"


def datum(value: float, timestamp: datetime, table: str = TABLE, name: str = "added_files") -> MetricDatum:
    return MetricDatum(name, value, Unit.COUNT, timestamp, (("table_name", table),))


def a_minute_ago() -> datetime:
    """A whole minute, so each datum below is alone in its 60 s GetMetricStatistics period."""
    return datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=1)


def count(metrics: ServiceMetrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


def calls(metrics: ServiceMetrics) -> float:
    return count(metrics, "icewatch_put_metric_data_calls_total")


def acknowledged(metrics: ServiceMetrics) -> float:
    return count(metrics, "icewatch_put_metric_data_datums_total")


def errors(metrics: ServiceMetrics, code: str) -> float:
    return count(metrics, "icewatch_put_metric_data_errors_total", code=code)


async def stored_values(
    cloudwatch: Any, namespace: str, datums: Iterable[MetricDatum], table: str = TABLE
) -> dict[datetime, float]:
    """What CloudWatch holds for these datums' metric and table, by timestamp (one datum per period)."""
    datums = list(datums)
    timestamps = [d.timestamp for d in datums]
    response = await cloudwatch.get_metric_statistics(
        Namespace=namespace,
        MetricName=datums[0].name,
        Dimensions=[{"Name": "table_name", "Value": table}],
        StartTime=min(timestamps),
        EndTime=max(timestamps) + timedelta(minutes=1),  # exclusive
        Period=60,
        Statistics=["Sum", "SampleCount"],
    )
    points = response["Datapoints"]
    assert all(p["SampleCount"] == 1 for p in points)
    return {p["Timestamp"]: p["Sum"] for p in points}


def expected(datums: Iterable[MetricDatum]) -> dict[datetime, float]:
    return {d.timestamp: d.value for d in datums}


async def eventually(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + TIMEOUT_S
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


@pytest.fixture
def namespace() -> str:
    return f"icewatch/test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def metrics() -> ServiceMetrics:
    return ServiceMetrics()


@pytest.fixture
async def cloudwatch(emulator: Emulator) -> AsyncIterator[Any]:
    session = aioboto3.Session(
        aws_access_key_id=DEMO_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=DEMO_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )
    # No botocore retries (its `max_attempts` counts retries, not attempts): the publisher's are under test.
    config = Config(retries={"mode": "standard", "total_max_attempts": 1})
    async with session.client(
        "cloudwatch", endpoint_url=emulator.endpoint, region_name=DEMO_REGION, config=config
    ) as client:
        yield client


@pytest.fixture
def wire(cloudwatch: Any) -> WireFaults:
    return WireFaults().attach(cloudwatch)


@pytest.fixture
async def start(
    cloudwatch: Any, namespace: str, metrics: ServiceMetrics
) -> AsyncIterator[Callable[..., CloudWatchPublisher]]:
    """Builds a publisher and runs it; at teardown closes it, and checks run() ended and no task leaked."""
    running: list[tuple[CloudWatchPublisher, asyncio.Task[None]]] = []

    def start(**options: Any) -> CloudWatchPublisher:
        publisher = CloudWatchPublisher(
            cloudwatch, namespace, metrics, **{"flush_interval_s": 0.2, **options}
        )
        running.append((publisher, asyncio.create_task(publisher.run(), name="publisher-under-test")))
        return publisher

    yield start
    for publisher, task in running:
        await publisher.close(timeout_s=TIMEOUT_S)
        await asyncio.wait_for(task, TIMEOUT_S)
    assert {t for t in asyncio.all_tasks() if t is not asyncio.current_task()} == set()


async def test_concurrent_publishes_share_the_buffer_in_three_full_calls(
    start, cloudwatch, namespace, metrics, wire
):
    publisher = start()
    base = a_minute_ago()
    tables = {
        f"db.table{t}": [datum(t * 1000 + k, base - timedelta(minutes=k), f"db.table{t}") for k in range(500)]
        for t in range(5)
    }

    await asyncio.wait_for(asyncio.gather(*(publisher.publish(d) for d in tables.values())), TIMEOUT_S)

    assert calls(metrics) == 3
    assert [r.datums for r in wire.requests] == [1000, 1000, 500]
    assert acknowledged(metrics) == 2500
    for table, datums in tables.items():
        assert await stored_values(cloudwatch, namespace, datums, table) == expected(datums)


async def test_a_lone_datum_is_sent_once_the_flush_interval_has_passed(start, cloudwatch, namespace, metrics):
    publisher = start(flush_interval_s=0.3)
    lone = datum(42, a_minute_ago())

    started = time.monotonic()
    await asyncio.wait_for(publisher.publish([lone]), TIMEOUT_S)

    assert time.monotonic() - started >= 0.29  # held for the interval, not sent at once
    assert calls(metrics) == 1
    assert await stored_values(cloudwatch, namespace, [lone]) == expected([lone])


async def test_datums_cloudwatch_would_reject_are_dropped_counted_and_logged_once(
    start, cloudwatch, namespace, metrics
):
    now = a_minute_ago()
    good = [datum(1, now), datum(2, now - timedelta(days=13))]
    unsendable = [
        datum(3, now - timedelta(days=15)),
        datum(4, now + timedelta(hours=3)),
        datum(math.nan, now),
        datum(math.inf, now),
        datum(-math.inf, now),
    ]
    with capture_logs() as logs:
        publisher = start(clock=now.timestamp)
        await asyncio.wait_for(publisher.publish([*unsendable, *good]), TIMEOUT_S)
        await asyncio.wait_for(publisher.publish(unsendable[:1]), TIMEOUT_S)  # nothing left: no call

    dropped = "icewatch_datums_dropped_total"
    assert count(metrics, dropped, reason="too_old") == 2
    assert count(metrics, dropped, reason="too_far_in_future") == 1
    assert count(metrics, dropped, reason="not_finite") == 3
    lines = [e for e in logs if e["event"] == "datums_dropped"]
    assert [(e["too_old"], e.get("not_finite"), e["kept"], e["log_level"]) for e in lines] == [
        (1, 3, 2, "warning"),
        (1, None, 0, "warning"),
    ]
    assert calls(metrics) == 1
    assert acknowledged(metrics) == 2
    assert await stored_values(cloudwatch, namespace, good) == expected(good)


async def test_throttling_server_errors_and_dropped_connections_are_retried_until_delivered(
    start, cloudwatch, namespace, metrics, wire
):
    publisher = start()
    # Four of the seven attempts fail: call 1 once, call 2 twice, call 3 once.
    wire.plan(THROTTLING, None, TOO_MANY_REQUESTS, INTERNAL_ERROR, None, connection_closed, None)
    base = a_minute_ago()
    datums = [datum(k, base - timedelta(minutes=k)) for k in range(3)]

    for one in datums:  # one call each, sent on the flush interval
        await asyncio.wait_for(publisher.publish([one]), TIMEOUT_S)

    assert [r.answered_by for r in wire.requests] == [
        "400 Throttling",
        "moto",
        "429 ThrottlingException",
        "500 InternalServiceFault",
        "moto",
        "connection_closed",
        "moto",
    ]
    assert calls(metrics) == 7
    for code in ("Throttling", "ThrottlingException", "InternalServiceFault", "ConnectionClosedError"):
        assert errors(metrics, code) == 1
    assert acknowledged(metrics) == 3
    assert await stored_values(cloudwatch, namespace, datums) == expected(datums)


async def test_a_call_still_throttled_after_max_retries_fails_its_publish(
    start, cloudwatch, namespace, metrics, wire
):
    publisher = start(max_retries=2)
    wire.plan(THROTTLING, THROTTLING, THROTTLING)

    with pytest.raises(PublishError, match="Throttling"):
        await asyncio.wait_for(publisher.publish([datum(1, a_minute_ago())]), TIMEOUT_S)

    assert calls(metrics) == 3
    assert errors(metrics, "Throttling") == 3
    assert acknowledged(metrics) == 0


@pytest.mark.parametrize(
    "rejection",
    [
        pytest.param(error_response(400, "InvalidParameterValue"), id="invalid-parameter"),
        pytest.param(error_response(403, "AccessDenied"), id="access-denied"),
    ],
)
async def test_a_rejected_call_fails_its_publish_at_once_and_later_publishes_go_through(
    start, cloudwatch, namespace, metrics, wire, rejection
):
    publisher = start()
    wire.plan(rejection)
    rejected, later = datum(1, a_minute_ago()), datum(2, a_minute_ago() - timedelta(minutes=1))

    with pytest.raises(PublishError, match=rejection.__name__.split()[1]):
        await asyncio.wait_for(publisher.publish([rejected]), TIMEOUT_S)
    await asyncio.wait_for(publisher.publish([later]), TIMEOUT_S)

    assert calls(metrics) == 2  # the rejection was not retried
    assert errors(metrics, rejection.__name__.split()[1]) == 1
    assert await stored_values(cloudwatch, namespace, [rejected, later]) == expected([later])


async def test_a_publish_spanning_calls_fails_if_any_of_its_calls_fails(start, metrics, wire):
    publisher = start()
    wire.plan(None, error_response(400, "InvalidParameterValue"))
    base = a_minute_ago()

    with pytest.raises(PublishError, match="500 of 1500 datums"):
        await asyncio.wait_for(
            publisher.publish([datum(k, base - timedelta(minutes=k)) for k in range(1500)]), TIMEOUT_S
        )

    assert [r.datums for r in wire.requests] == [1000, 500]
    assert acknowledged(metrics) == 1000


async def test_a_datum_botocore_refuses_fails_its_publish_without_a_retry(start, metrics):
    publisher = start()
    empty_dimension = MetricDatum("added_files", 1, Unit.COUNT, a_minute_ago(), (("table_name", ""),))

    with pytest.raises(PublishError, match="Invalid length"):
        await asyncio.wait_for(publisher.publish([empty_dimension]), TIMEOUT_S)
    await asyncio.wait_for(publisher.publish([datum(1, a_minute_ago())]), TIMEOUT_S)

    assert errors(metrics, "ParamValidationError") == 1
    assert calls(metrics) == 2


async def test_no_call_exceeds_the_request_size_limit(cloudwatch, namespace, metrics, wire):
    # run() is not started: the test drives each flush itself.
    publisher = CloudWatchPublisher(cloudwatch, namespace, metrics)
    base = a_minute_ago()
    # 30 dimensions of 1,000 characters (CloudWatch's maxima are 30 and 1,024): ~32 KB per datum.
    wide = [
        MetricDatum(
            "added_files",
            k,
            Unit.COUNT,
            base - timedelta(minutes=k),
            tuple((f"dimension{d}", f"{k}-{d}-".ljust(1000, "v")) for d in range(30)),
        )
        for k in range(60)
    ]
    publishing = asyncio.create_task(publisher.publish(wide))
    await asyncio.sleep(0)  # let publish() buffer its datums

    for _ in wide:
        if publishing.done():
            break
        await publisher._flush_once()
    await asyncio.wait_for(publishing, TIMEOUT_S)

    assert len(wire.requests) >= 3
    assert sum(r.datums for r in wire.requests) == 60
    assert all(500_000 < r.body_bytes <= 1_000_000 for r in wire.requests[:-1])
    assert wire.requests[-1].body_bytes <= 1_000_000
    assert acknowledged(metrics) == 60
    await publisher.close(timeout_s=TIMEOUT_S)


async def test_calls_are_rate_limited(start, metrics):
    publisher = start(max_calls_per_s=1, flush_interval_s=0.01)
    base = a_minute_ago()

    started = time.monotonic()
    for k in range(3):  # one call each
        await asyncio.wait_for(publisher.publish([datum(k, base - timedelta(minutes=k))]), TIMEOUT_S)

    assert calls(metrics) == 3
    assert time.monotonic() - started >= 1.9  # three calls at one per second span two seconds


async def test_a_cancelled_caller_s_datums_are_still_sent(start, cloudwatch, namespace, metrics):
    publisher = start(flush_interval_s=0.3)
    abandoned, later = datum(1, a_minute_ago()), datum(2, a_minute_ago() - timedelta(minutes=1))

    caller = asyncio.create_task(publisher.publish([abandoned]))
    await asyncio.sleep(0)  # buffered
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    await asyncio.wait_for(publisher.publish([later]), TIMEOUT_S)

    assert acknowledged(metrics) == 2
    assert await stored_values(cloudwatch, namespace, [abandoned, later]) == expected([abandoned, later])


async def test_close_flushes_what_is_buffered_then_refuses_new_datums(
    start, cloudwatch, namespace, metrics, wire
):
    publisher = start(flush_interval_s=3600)
    run = next(t for t in asyncio.all_tasks() if t.get_name() == "publisher-under-test")
    base = a_minute_ago()
    datums = [datum(k, base - timedelta(minutes=k)) for k in range(1500)]

    publishing = asyncio.create_task(publisher.publish(datums))
    await eventually(lambda: acknowledged(metrics) == 1000)  # one full call; 500 wait for the interval
    assert not publishing.done()
    await publisher.close(timeout_s=TIMEOUT_S)

    await asyncio.wait_for(publishing, TIMEOUT_S)
    assert run.done()
    assert [r.datums for r in wire.requests] == [1000, 500]
    assert await stored_values(cloudwatch, namespace, datums[1000:]) == expected(datums[1000:])
    with pytest.raises(PublishError, match="closed"):
        await publisher.publish([datum(1, base)])


async def test_close_flushes_even_if_run_is_not_running(cloudwatch, namespace, metrics):
    publisher = CloudWatchPublisher(cloudwatch, namespace, metrics)
    lone = datum(7, a_minute_ago())

    publishing = asyncio.create_task(publisher.publish([lone]))
    await asyncio.sleep(0)  # buffered
    await publisher.close(timeout_s=TIMEOUT_S)

    await asyncio.wait_for(publishing, TIMEOUT_S)
    assert await stored_values(cloudwatch, namespace, [lone]) == expected([lone])
