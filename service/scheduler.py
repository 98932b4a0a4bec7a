"""Per-table work: serialized per table, coalesced, concurrent across tables, bounded overall."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

Outcome = TypeVar("Outcome")


@dataclass
class _TableQueue(Generic[Outcome]):
    waiters: list[asyncio.Future[Outcome]] = field(default_factory=list)
    task: asyncio.Task[None] | None = None


class TableScheduler(Generic[Outcome]):
    """Runs `work(table)` so that each request is answered by a run that started after it.

    Requests for a table that arrive while it is being worked on share the next run: ten events
    for one busy table cost one more computation, not ten. One table never waits for another's
    slot longer than the bound on tables in flight.
    """

    def __init__(self, work: Callable[[str], Awaitable[Outcome]], max_in_flight: int) -> None:
        self._work = work
        self._slots = asyncio.Semaphore(max_in_flight)
        self._queues: dict[str, _TableQueue[Outcome]] = {}
        self.runs = 0

    async def request(self, table: str) -> Outcome:
        queue = self._queues.setdefault(table, _TableQueue())
        waiter: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        queue.waiters.append(waiter)
        if queue.task is None:
            queue.task = asyncio.create_task(self._drive(table, queue), name=f"table:{table}")
        # A cancelled requester must not cancel the run that other requesters share.
        return await asyncio.shield(waiter)

    async def _drive(self, table: str, queue: _TableQueue[Outcome]) -> None:
        try:
            while queue.waiters:
                async with self._slots:
                    # Taken once the slot is ours: requests that came during the wait share this run.
                    batch, queue.waiters = queue.waiters, []
                    self.runs += 1
                    try:
                        outcome = await self._work(table)
                    except BaseException as exc:
                        # Nobody may wait forever: fail this run's requesters and any queued since.
                        for waiter in batch + queue.waiters:
                            if not waiter.done():
                                waiter.set_exception(exc)
                        queue.waiters.clear()
                        raise
                for waiter in batch:
                    if not waiter.done():
                        waiter.set_result(outcome)
        finally:
            queue.task = None
            if not queue.waiters and self._queues.get(table) is queue:
                del self._queues[table]

    @property
    def busy_tables(self) -> int:
        return len(self._queues)

    async def cancel_all(self) -> None:
        tasks = [q.task for q in self._queues.values() if q.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
