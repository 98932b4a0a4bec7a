"""The SQS consumer: Glue change events in, per-table work out, messages deleted once published."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog

from service.deletes import DeleteBatcher, DeleteFailed
from service.events import InvalidEvent, IrrelevantEvent, TableChange, parse_message
from service.filters import TableFilter
from service.processor import Outcome, TableProcessor
from service.scheduler import TableScheduler
from service.telemetry import ServiceMetrics

log = structlog.get_logger(__name__)

MAX_MESSAGES_PER_RECEIVE = 10  # SQS's maximum
LONG_POLL_S = 20  # SQS's maximum: fewer empty receives, lower cost


@dataclass(frozen=True, slots=True)
class ConsumerConfig:
    queue_url: str
    visibility_timeout_s: int
    max_messages_in_flight: int
    receive_batch_window_s: float = 0.0


class SqsConsumer:
    """Long-polls the queue; each message's tables are scheduled and the message deleted when done.

    Outcome per message: invalid or irrelevant -> deleted (redelivery can't help); every table
    published, or failed for good (dropped, not Iceberg) -> deleted; any table failed for a
    reason that may pass (catalog, metadata, CloudWatch) -> left for redelivery, and the queue's
    redrive policy moves a message that keeps failing to the DLQ.
    """

    def __init__(
        self,
        sqs: Any,
        config: ConsumerConfig,
        processor: TableProcessor,
        scheduler: TableScheduler[Outcome],
        table_filter: TableFilter,
        metrics: ServiceMetrics,
    ) -> None:
        self._sqs = sqs
        self._config = config
        self._processor = processor
        self._scheduler = scheduler
        self._filter = table_filter
        self._metrics = metrics
        self._stopping = asyncio.Event()
        self._messages: set[asyncio.Task[None]] = set()
        self._deletes = DeleteBatcher(sqs, config.queue_url)
        self.connected = False

    async def run(self) -> None:
        """Root task: poll until stop() is called."""
        failures = 0
        while not self._stopping.is_set():
            await self._wait_for_room()
            try:
                if not self.connected:
                    # A cheap call first: ready as soon as the queue answers, not after a long poll.
                    await self._sqs.get_queue_attributes(
                        QueueUrl=self._config.queue_url, AttributeNames=["QueueArn"]
                    )
                    self.connected = True
                received = await self.poll_once()
                failures = 0
                if 0 < received < MAX_MESSAGES_PER_RECEIVE:
                    # Let a few more arrive: ten messages per receive cost what one does.
                    await _sleep_unless(self._stopping, self._config.receive_batch_window_s)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # SQS throttling, a network blip, missing permissions: back off, never crash.
                failures += 1
                self.connected = False
                delay = min(30.0, 0.5 * 2**failures)
                log.warning("sqs_receive_failed", error=str(exc)[:300], retry_in_s=delay)
                await _sleep_unless(self._stopping, delay)

    async def poll_once(self) -> int:
        """One long-poll receive; starts a task per message and returns how many arrived."""
        receive = asyncio.ensure_future(
            self._sqs.receive_message(
                QueueUrl=self._config.queue_url,
                MaxNumberOfMessages=min(MAX_MESSAGES_PER_RECEIVE, self._room()),
                WaitTimeSeconds=LONG_POLL_S,
                VisibilityTimeout=self._config.visibility_timeout_s,
                MessageSystemAttributeNames=["ApproximateReceiveCount", "SentTimestamp"],
            )
        )
        stop = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait({receive, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
        if not receive.done():
            # Stopping: abandon the poll; anything it would have returned becomes visible again.
            receive.cancel()
            await asyncio.gather(receive, return_exceptions=True)
            return 0
        response = receive.result()
        self.connected = True
        messages = response.get("Messages", [])
        for message in messages:
            self._metrics.messages_received.inc()
            task = asyncio.create_task(self._handle(message), name=f"message:{message.get('MessageId')}")
            self._messages.add(task)
            task.add_done_callback(self._messages.discard)
        return len(messages)

    def stop(self) -> None:
        """Stop receiving; messages already received keep going until drain()."""
        self._stopping.set()

    async def drain(self, timeout_s: float) -> int:
        """Wait for in-flight messages up to the deadline; cancel the rest (they stay on the queue)."""
        pending = set(self._messages)
        if pending:
            _, pending = await asyncio.wait(pending, timeout=timeout_s)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        await self._deletes.close()
        if pending:
            log.warning("shutdown_left_messages", messages=len(pending))
        return len(pending)

    @property
    def in_flight(self) -> int:
        return len(self._messages)

    def _room(self) -> int:
        return max(0, self._config.max_messages_in_flight - len(self._messages))

    async def _wait_for_room(self) -> None:
        while self._room() == 0 and not self._stopping.is_set():
            await asyncio.wait(set(self._messages), return_when=asyncio.FIRST_COMPLETED)

    async def _handle(self, message: dict[str, Any]) -> None:
        try:
            await self._handle_message(message)
        except asyncio.CancelledError:
            raise
        except Exception:
            # A bug must cost one message a redelivery, never the consumer.
            log.exception("message_failed", message_id=message.get("MessageId"), reason="internal_error")
            self._metrics.messages_failed.labels(reason="internal_error", outcome="redelivered").inc()

    async def _handle_message(self, message: dict[str, Any]) -> None:
        message_id = message.get("MessageId", "?")
        receipt = message["ReceiptHandle"]
        try:
            changes = parse_message(message.get("Body", ""))
        except InvalidEvent as exc:
            log.warning("message_invalid", message_id=message_id, reason=exc.reason, error=str(exc))
            self._metrics.messages_failed.labels(reason=exc.reason, outcome="deleted").inc()
            await self._delete(receipt)
            return
        except IrrelevantEvent as exc:
            log.debug("message_ignored", message_id=message_id, reason=exc.reason)
            self._metrics.messages_ignored.labels(reason=exc.reason).inc()
            await self._delete(receipt)
            return

        wanted = [c for c in changes if self._filter.allows(c.database, c.table)]
        if not wanted:
            self._metrics.messages_ignored.labels(reason="filtered").inc()
            await self._delete(receipt)
            return
        keeper = asyncio.create_task(self._keep_invisible(receipt), name=f"visibility:{message_id}")
        try:
            outcomes = await asyncio.gather(*(self._apply(change) for change in wanted))
        finally:
            keeper.cancel()
            await asyncio.gather(keeper, return_exceptions=True)

        retry = [o for o in outcomes if not o.ok and o.retry]
        if retry:
            # Left undeleted: SQS redelivers after the visibility timeout, or moves it to the DLQ.
            self._metrics.messages_failed.labels(reason=retry[0].reason, outcome="redelivered").inc()
            return
        await self._delete(receipt)
        failed = [o for o in outcomes if not o.ok]
        if failed:
            self._metrics.messages_failed.labels(reason=failed[0].reason, outcome="deleted").inc()
        else:
            self._metrics.messages_processed.inc()
        self._observe_lag(wanted)

    async def _apply(self, change: TableChange) -> Outcome:
        table = f"{change.database}.{change.table}"
        if change.dropped:
            await self._processor.forget(table)
            return Outcome(True, "dropped")
        if change.type_of_change == "CreateTable":
            await self._processor.forget(table)  # a re-created table is a new table
        return await self._scheduler.request(table)

    def _observe_lag(self, changes: list[TableChange]) -> None:
        now = datetime.now(UTC)
        for change in changes:
            if change.event_time is not None:
                self._metrics.event_lag_seconds.observe(max(0.0, (now - change.event_time).total_seconds()))

    async def _keep_invisible(self, receipt: str) -> None:
        """Extend the message's invisibility while its tables are still being worked on."""
        period = self._config.visibility_timeout_s / 2
        while True:
            await asyncio.sleep(period)
            try:
                await self._sqs.change_message_visibility(
                    QueueUrl=self._config.queue_url,
                    ReceiptHandle=receipt,
                    VisibilityTimeout=self._config.visibility_timeout_s,
                )
            except Exception as exc:
                log.warning("visibility_extension_failed", error=str(exc)[:300])

    async def _delete(self, receipt: str) -> None:
        # Shielded: a shutdown must not leave a published message half-acknowledged.
        try:
            await asyncio.shield(self._deletes.delete(receipt))
        except asyncio.CancelledError:
            raise
        except DeleteFailed as exc:
            # The message comes back and is published again: at least once, never lost.
            log.warning("sqs_delete_failed", error=str(exc)[:300])


async def _sleep_unless(event: asyncio.Event, delay_s: float) -> None:
    """Sleep, but wake at once when the event is set."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), timeout=delay_s)
