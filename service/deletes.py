"""SQS deletes gathered into DeleteMessageBatch calls: one call per ten messages instead of ten."""

from __future__ import annotations

import asyncio
from typing import Any

MAX_ENTRIES = 10  # DeleteMessageBatch's maximum


class DeleteFailed(Exception):
    """SQS did not delete the message; it will be redelivered (and published again: at least once)."""


class DeleteBatcher:
    """`await delete(receipt)` returns once SQS confirmed that message's deletion.

    Deletes wait at most `window_s` for others to share their call, so a quiet queue pays a few
    milliseconds and a busy one a tenth of the calls.
    """

    def __init__(self, sqs: Any, queue_url: str, window_s: float = 0.02) -> None:
        self._sqs = sqs
        self._queue_url = queue_url
        self._window_s = window_s
        self._pending: list[tuple[str, asyncio.Future[None]]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._sending: set[asyncio.Task[None]] = set()

    async def delete(self, receipt: str) -> None:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        # A caller cancelled at shutdown no longer reads the outcome; don't warn about it.
        future.add_done_callback(lambda f: f.cancelled() or f.exception())
        self._pending.append((receipt, future))
        if len(self._pending) >= MAX_ENTRIES:
            self._flush()
        elif self._timer is None:
            self._timer = loop.call_later(self._window_s, self._flush)
        await future

    async def close(self) -> None:
        """Send whatever is pending and wait for every call in flight."""
        while self._pending:
            self._flush()
        if self._sending:
            await asyncio.gather(*self._sending, return_exceptions=True)

    def _flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        batch, self._pending = self._pending[:MAX_ENTRIES], self._pending[MAX_ENTRIES:]
        if batch:
            task = asyncio.create_task(self._send(batch), name="sqs-delete-batch")
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)
        if self._pending and self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self._window_s, self._flush)

    async def _send(self, batch: list[tuple[str, asyncio.Future[None]]]) -> None:
        entries = [{"Id": str(i), "ReceiptHandle": receipt} for i, (receipt, _) in enumerate(batch)]
        try:
            response = await self._sqs.delete_message_batch(QueueUrl=self._queue_url, Entries=entries)
        except Exception as exc:
            for _, future in batch:
                if not future.done():
                    future.set_exception(DeleteFailed(str(exc)[:300]))
            return
        failed = {entry.get("Id"): entry for entry in response.get("Failed", [])}
        for i, (_, future) in enumerate(batch):
            if future.done():
                continue
            entry = failed.get(str(i))
            if entry is None:
                future.set_result(None)
            else:
                reason = f"{entry.get('Code', '?')}: {entry.get('Message', '')}".strip()
                future.set_exception(DeleteFailed(reason[:300]))
