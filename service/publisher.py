"""The CloudWatch publisher: one shared buffer, flushed in PutMetricData calls within CloudWatch's limits.

Callers (one per table) `publish()` datums and wait until CloudWatch acknowledged them; `run()` is
the root task that sends the buffer when a call's worth is ready (1,000 datums or ~1 MB) or when its
oldest datum has waited `flush_interval_s`. Throttling, 5xx and connection errors are retried with
backoff; any other error fails the datums of that call, so their callers can redeliver.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any
from urllib.parse import quote_plus

import structlog
from asyncio_throttle import Throttler
from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from service.errors import IcewatchError
from service.models import MetricDatum
from service.telemetry import ServiceMetrics

MAX_DATUMS_PER_CALL = 1_000  # PutMetricData's per-call maximum
# The request body limit is 1 MB; the estimate below is an upper bound, the rest is margin.
MAX_CALL_BYTES = 900_000
# CloudWatch accepts timestamps up to 14 days old; 10 minutes less, so a datum can't age past the limit
# while it is buffered or retried (one stale datum would get its whole call rejected).
MAX_AGE_S = 14 * 86_400 - 600
MAX_AHEAD_S = 2 * 3_600  # CloudWatch accepts timestamps up to 2 h in the future
THROTTLING_CODES = frozenset({"Throttling", "ThrottlingException", "TooManyRequestsException"})
BACKOFF_BASE_S = 0.25  # first retry waits up to this, doubling each time ("full jitter")
BACKOFF_CAP_S = 8.0

# What `&MetricData.member.1000.` adds to each key of a datum in the urlencoded body.
_MEMBER_PREFIX_BYTES = len("&MetricData.member.1000.")
_TIMESTAMP_BYTES = len(quote_plus("2000-01-01T00:00:00.000000Z"))


class PublishError(IcewatchError):
    """CloudWatch did not acknowledge some datums (or the publisher is closed); publish them again."""


@dataclass(eq=False)
class _PendingBatch:
    """The datums of one publish() call not yet settled, and the future its caller awaits."""

    done: asyncio.Future[None]
    total: int
    unsettled: int
    failed: int = 0
    errors: list[str] = field(default_factory=list)

    def settle(self, count: int, error: str | None) -> None:
        self.unsettled -= count
        if error is not None:
            self.failed += count
            self.errors.append(error)
        # A cancelled caller's future is already done: its datums are still sent, nobody is told.
        if self.unsettled == 0 and not self.done.done():
            if self.failed:
                self.done.set_exception(
                    PublishError(
                        f"{self.failed} of {self.total} datums were not published to CloudWatch "
                        f"({self.errors[0]}); publish them again"
                    )
                )
            else:
                self.done.set_result(None)


@dataclass(slots=True)
class _Buffered:
    """One datum as a PutMetricData MetricDatum, with its estimated body size and its batch."""

    entry: dict[str, Any]
    size_bytes: int
    batch: _PendingBatch
    queued_at: float  # loop time


class CloudWatchPublisher:
    """Publishes MetricDatums to one CloudWatch namespace; start `run()` as a root task.

    `client` is an aiobotocore CloudWatch client; give it `Config(retries={"total_max_attempts": 1})`
    so that the retries (and the call and error counters) are this publisher's alone.
    """

    def __init__(
        self,
        client: Any,
        namespace: str,
        metrics: ServiceMetrics,
        *,
        max_calls_per_s: int = 50,
        flush_interval_s: float = 1.0,
        max_retries: int = 5,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self._namespace = namespace
        self._metrics = metrics
        self._throttler = Throttler(rate_limit=max_calls_per_s, period=1.0)
        self._flush_interval_s = flush_interval_s
        self._max_retries = max_retries
        self._clock = clock
        # Bound per publisher, not at import: a logger cached earlier would escape tests' capture_logs().
        self._log = structlog.get_logger(__name__).bind(namespace=namespace)
        self._buffer: deque[_Buffered] = deque()
        self._buffered_bytes = 0
        self._wakeup = asyncio.Event()
        self._closing = False
        self._running = False
        self._stopped = asyncio.Event()

    async def publish(self, datums: Sequence[MetricDatum]) -> None:
        """Queue datums into the shared buffer and wait until CloudWatch acknowledged all of them.

        Raises PublishError if any of them could not be delivered (after retries). Datums CloudWatch
        would reject forever (too old, too far ahead, not finite) are dropped and counted instead.
        """
        if self._closing:
            raise PublishError(
                "the CloudWatch publisher is closed (the daemon is stopping); publish again later"
            )
        entries = self._sendable_entries(datums)
        if not entries:
            return
        loop = asyncio.get_running_loop()
        batch = _PendingBatch(loop.create_future(), total=len(entries), unsettled=len(entries))
        now = loop.time()
        for entry in entries:
            item = _Buffered(entry, _encoded_bytes(entry), batch, now)
            self._buffer.append(item)
            self._buffered_bytes += item.size_bytes
        self._wakeup.set()
        await batch.done

    async def run(self) -> None:
        """Flush the buffer on its triggers until close(); then return."""
        self._running = True
        try:
            while self._buffer or not self._closing:
                await self._wait_until_due()
                await self._flush_once()
        finally:
            self._running = False
            # Nobody sends these any more (run() was cancelled or crashed): tell their callers.
            self._fail_buffered("the publisher stopped before sending them")
            self._stopped.set()

    def hurry(self) -> None:
        """Stop holding datums for the flush interval (shutdown: in-flight work waits on them)."""
        self._flush_interval_s = 0.0
        self._wakeup.set()

    async def close(self, timeout_s: float) -> None:
        """Refuse new datums, flush what is buffered (within timeout_s), then let run() return."""
        self._closing = True
        self._wakeup.set()
        try:
            async with asyncio.timeout(timeout_s):
                if self._running:
                    await self._stopped.wait()
                # run() never started or already ended: flush here.
                while self._buffer:
                    await self._flush_once()
        except TimeoutError:
            left = self._fail_buffered(f"close() did not send them within {timeout_s} s")
            self._log.warning("publisher_close_timed_out", timeout_s=timeout_s, datums_not_sent=left)

    async def _flush_once(self) -> None:
        """Send the oldest buffered datums in one PutMetricData call (with retries); settle their waiters."""
        call = self._take_call()
        if not call:
            return
        error: str | None = "the publisher stopped while sending them"
        try:
            error = await self._put_metric_data([item.entry for item in call])
        finally:
            for batch, count in Counter(item.batch for item in call).items():
                batch.settle(count, error)

    async def _wait_until_due(self) -> None:
        """Return when the buffer holds a full call, its oldest datum is due, or close() was called."""
        loop = asyncio.get_running_loop()
        while not self._closing:
            delay = None
            if self._buffer:
                delay = self._buffer[0].queued_at + self._flush_interval_s - loop.time()
                full = len(self._buffer) >= MAX_DATUMS_PER_CALL or self._buffered_bytes >= MAX_CALL_BYTES
                if full or delay <= 0:
                    return
            self._wakeup.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), delay)

    def _take_call(self) -> list[_Buffered]:
        call: list[_Buffered] = []
        size = 0
        while self._buffer and len(call) < MAX_DATUMS_PER_CALL:
            item = self._buffer[0]
            if call and size + item.size_bytes > MAX_CALL_BYTES:
                break
            call.append(self._buffer.popleft())
            size += item.size_bytes
        self._buffered_bytes -= size
        return call

    async def _put_metric_data(self, metric_data: list[dict[str, Any]]) -> str | None:
        """One call's datums, retried on throttling, 5xx and connection errors; None once acknowledged."""
        attempt = 0
        while True:
            async with self._throttler:
                self._metrics.put_metric_data_calls.inc()
                try:
                    await self._client.put_metric_data(Namespace=self._namespace, MetricData=metric_data)
                except ClientError as exc:
                    code = exc.response.get("Error", {}).get("Code", "Unknown")
                    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
                    retryable = code in THROTTLING_CODES or status == 429 or status >= 500
                    error = f"{code}: {exc.response.get('Error', {}).get('Message', '')}"[:300]
                except (BotoConnectionError, HTTPClientError) as exc:
                    code, retryable, error = type(exc).__name__, True, str(exc)[:300]
                except BotoCoreError as exc:  # refused before sending, e.g. ParamValidationError
                    code, retryable, error = type(exc).__name__, False, str(exc)[:300]
                else:
                    self._metrics.put_metric_data_datums.inc(len(metric_data))
                    return None
            self._metrics.put_metric_data_errors.labels(code=code).inc()
            if not retryable or attempt >= self._max_retries:
                self._log.warning(
                    "put_metric_data_failed",
                    code=code,
                    attempts=attempt + 1,
                    datums=len(metric_data),
                    error=error,
                )
                return error
            await asyncio.sleep(random.uniform(0, min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2**attempt)))
            attempt += 1

    def _sendable_entries(self, datums: Sequence[MetricDatum]) -> list[dict[str, Any]]:
        """The datums as PutMetricData entries, without those CloudWatch would reject whatever we do."""
        now = self._clock()
        dropped: Counter[str] = Counter()
        entries = []
        for datum in datums:
            reason = _drop_reason(datum, now)
            if reason is None:
                entries.append(metric_datum_entry(datum))
            else:
                dropped[reason] += 1
        for reason, count in dropped.items():
            self._metrics.datums_dropped.labels(reason=reason).inc(count)
        if dropped:
            self._log.warning("datums_dropped", kept=len(entries), **dropped)
        return entries

    def _fail_buffered(self, error: str) -> int:
        failed = list(self._buffer)
        self._buffer.clear()
        self._buffered_bytes = 0
        for batch, count in Counter(item.batch for item in failed).items():
            batch.settle(count, error)
        return len(failed)


def _drop_reason(datum: MetricDatum, now: float) -> str | None:
    if not math.isfinite(datum.value):
        return "not_finite"
    # A naive timestamp is taken as UTC, as botocore serializes it.
    timestamp = datum.timestamp if datum.timestamp.tzinfo else datum.timestamp.replace(tzinfo=UTC)
    age_s = now - timestamp.timestamp()
    if age_s > MAX_AGE_S:
        return "too_old"
    if age_s < -MAX_AHEAD_S:
        return "too_far_in_future"
    return None


def metric_datum_entry(datum: MetricDatum) -> dict[str, Any]:
    """A datum as PutMetricData's MetricDatum structure."""
    entry: dict[str, Any] = {
        "MetricName": datum.name,
        "Timestamp": datum.timestamp,
        "Value": datum.value,
        "Unit": datum.unit.value,
    }
    if datum.dimensions:  # an empty list would be sent as an empty `Dimensions=` parameter
        entry["Dimensions"] = [{"Name": name, "Value": value} for name, value in datum.dimensions]
    return entry


def _encoded_bytes(entry: dict[str, Any]) -> int:
    """An upper bound of this datum's share of the urlencoded PutMetricData body (query protocol)."""
    fields = [
        ("MetricName", quote_plus(entry["MetricName"])),
        ("Value", quote_plus(str(entry["Value"]))),
        ("Unit", quote_plus(entry["Unit"])),
    ]
    for j, dimension in enumerate(entry.get("Dimensions", ()), start=1):
        fields.append((f"Dimensions.member.{j}.Name", quote_plus(dimension["Name"])))
        fields.append((f"Dimensions.member.{j}.Value", quote_plus(dimension["Value"])))
    size = _MEMBER_PREFIX_BYTES + len("Timestamp=") + _TIMESTAMP_BYTES
    return size + sum(_MEMBER_PREFIX_BYTES + len(key) + 1 + len(value) for key, value in fields)
