"""Per-table scheduling: serialized per table, coalesced while busy, concurrent across tables."""

from __future__ import annotations

import asyncio

import pytest

from service.scheduler import TableScheduler


class Recorder:
    def __init__(self) -> None:
        self.running: set[str] = set()
        self.overlaps = 0
        self.max_concurrent = 0
        self.runs: list[str] = []
        self.release = asyncio.Event()

    async def work(self, table: str) -> str:
        if table in self.running:
            self.overlaps += 1
        self.running.add(table)
        self.max_concurrent = max(self.max_concurrent, len(self.running))
        self.runs.append(table)
        await self.release.wait()
        self.running.discard(table)
        return f"done:{table}"


async def test_requests_for_a_busy_table_share_one_more_run():
    rec = Recorder()
    scheduler = TableScheduler(rec.work, max_in_flight=4)
    first = asyncio.create_task(scheduler.request("db.t"))
    await asyncio.sleep(0)
    later = [asyncio.create_task(scheduler.request("db.t")) for _ in range(10)]
    await asyncio.sleep(0)
    rec.release.set()
    assert await asyncio.gather(first, *later) == ["done:db.t"] * 11
    assert rec.runs == ["db.t", "db.t"]  # the first run, then one for all ten that came during it
    assert rec.overlaps == 0


async def test_different_tables_run_concurrently_up_to_the_bound():
    rec = Recorder()
    scheduler = TableScheduler(rec.work, max_in_flight=3)
    tasks = [asyncio.create_task(scheduler.request(f"db.t{i}")) for i in range(8)]
    for _ in range(5):
        await asyncio.sleep(0)
    assert rec.max_concurrent == 3
    rec.release.set()
    await asyncio.gather(*tasks)
    assert sorted(rec.runs) == sorted(f"db.t{i}" for i in range(8))
    assert scheduler.busy_tables == 0


async def test_a_cancelled_requester_does_not_cancel_the_shared_run():
    rec = Recorder()
    scheduler = TableScheduler(rec.work, max_in_flight=2)
    impatient = asyncio.create_task(scheduler.request("db.t"))
    await asyncio.sleep(0)
    patient = asyncio.create_task(scheduler.request("db.t"))
    await asyncio.sleep(0)
    impatient.cancel()
    rec.release.set()
    assert await patient == "done:db.t"
    with pytest.raises(asyncio.CancelledError):
        await impatient


async def test_a_failing_run_fails_its_requesters_instead_of_hanging_them():
    async def broken(table: str) -> str:
        raise RuntimeError("boom")

    scheduler = TableScheduler(broken, max_in_flight=2)
    with pytest.raises(RuntimeError):
        await asyncio.wait_for(scheduler.request("db.t"), timeout=5)
    assert scheduler.busy_tables == 0
