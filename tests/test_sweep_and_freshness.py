"""The reconcile sweep's listing and comparison, and the freshness timer's values.

moto's Glue ignores MaxResults (never paginates), so pagination is exercised with a stand-in
Glue client that answers in pages with NextToken, as AWS does.
"""

from __future__ import annotations

import pytest

from service.exporter import TableMetricsExporter
from service.filters import TableFilter
from service.freshness import FreshnessTimer
from service.state import Watermark, open_state_store
from service.sweep import ReconcileSweep
from service.telemetry import ServiceMetrics


class PagedGlue:
    """Answers GetDatabases/GetTables two items per page, like AWS with a small MaxResults."""

    def __init__(self, tables: dict[str, list[dict]]) -> None:
        self._tables = tables
        self.calls = 0

    def _page(self, items: list, token: str | None, key: str) -> dict:
        self.calls += 1
        start = int(token or 0)
        page = {key: items[start : start + 2]}
        if start + 2 < len(items):
            page["NextToken"] = str(start + 2)
        return page

    async def get_databases(self, NextToken: str | None = None) -> dict:
        return self._page([{"Name": db} for db in self._tables], NextToken, "DatabaseList")

    async def get_tables(self, DatabaseName: str, NextToken: str | None = None) -> dict:
        return self._page(self._tables[DatabaseName], NextToken, "TableList")


def iceberg(name: str, location: str) -> dict:
    return {"Name": name, "Parameters": {"table_type": "ICEBERG", "metadata_location": location}}


@pytest.fixture
async def store():
    async with open_state_store("sqlite:///:memory:") as opened:
        yield opened


async def test_the_sweep_reads_every_page_and_schedules_only_changed_iceberg_tables(store):
    glue = PagedGlue(
        {
            "a": [iceberg(f"t{i}", f"s3://m/a{i}.json") for i in range(5)]
            + [{"Name": "csv", "Parameters": {}}],
            "b": [iceberg("same", "s3://m/same.json"), iceberg("tmp_x", "s3://m/tmp.json")],
            "c": [],
        }
    )
    assert await store.acquire("b.same", "me", 60)
    assert await store.advance("b.same", "me", Watermark(1, 1, 1, "s3://m/same.json"))
    assert await store.acquire("a.t0", "me", 60)
    assert await store.advance("a.t0", "me", Watermark(1, 1, 1, "s3://m/old.json"))
    scheduled: list[str] = []

    async def schedule(table: str) -> None:
        scheduled.append(table)

    sweep = ReconcileSweep(glue, store, schedule, TableFilter(exclude=["*.tmp_*"]), interval_s=300)
    assert sorted(await sweep.sweep_once()) == [f"a.t{i}" for i in range(5)]
    assert sorted(scheduled) == [f"a.t{i}" for i in range(5)]
    assert glue.calls >= 6  # 2 database pages + 3 + 1 + 1 table pages


class Recording:
    def __init__(self) -> None:
        self.datums: list = []

    async def publish(self, datums) -> None:
        self.datums.extend(datums)


async def test_freshness_is_seconds_since_the_last_published_commit_for_every_tracked_table(store):
    for table, committed_ms in (("db.a", 1_000_000), ("db.b", 1_030_000)):
        assert await store.acquire(table, "me", 60)
        assert await store.advance(table, "me", Watermark(1, 1, committed_ms, None))
    publisher, exporter = Recording(), TableMetricsExporter()
    timer = FreshnessTimer(store, publisher, exporter, 60, 10_000, clock=lambda: 1_100.0)
    await timer.tick()
    got = {dict(d.dimensions)["table_name"]: d.value for d in publisher.datums}
    assert got == {"db.a": 100.0, "db.b": 70.0}
    assert {d.name for d in publisher.datums} == {"table.seconds_since_last_commit"}
    assert exporter.view()["db.a"][0]["table.seconds_since_last_commit"] == 100.0


async def test_freshness_publishes_at_most_the_configured_number_of_tables(store):
    for i in range(5):
        assert await store.acquire(f"db.t{i}", "me", 60)
        assert await store.advance(f"db.t{i}", "me", Watermark(1, 1, 0, None))
    publisher = Recording()
    await FreshnessTimer(store, publisher, TableMetricsExporter(), 60, 3, clock=lambda: 10.0).tick()
    assert len(publisher.datums) == 3


class DeniedDatabaseGlue(PagedGlue):
    """AccessDenied on one database's GetTables, as a role scoped to other databases gets."""

    async def get_tables(self, DatabaseName: str, NextToken: str | None = None) -> dict:
        if DatabaseName == "secret":
            raise PermissionError("AccessDeniedException: not authorized to perform glue:GetTables")
        return await super().get_tables(DatabaseName, NextToken)


async def test_a_database_the_role_may_not_list_does_not_hide_lost_events_in_the_others(store):
    glue = DeniedDatabaseGlue({"secret": [], "a": [iceberg("t", "s3://m/a.json")], "b": [iceberg("u", "x")]})
    metrics = ServiceMetrics()
    sweep = ReconcileSweep(glue, store, _ignore, TableFilter(), interval_s=300, metrics=metrics)
    assert sorted(await sweep.sweep_once()) == ["a.t", "b.u"]
    assert metrics.registry.get_sample_value("icewatch_sweep_database_errors_total") == 1


async def test_databases_no_include_pattern_can_match_are_not_listed_at_all(store):
    listed: list[str] = []

    class Recording(PagedGlue):
        async def get_tables(self, DatabaseName: str, NextToken: str | None = None) -> dict:
            listed.append(DatabaseName)
            return await super().get_tables(DatabaseName, NextToken)

    glue = Recording({"sales": [iceberg("o", "s")], "hr": [iceberg("p", "s")], "tmp": [iceberg("q", "s")]})
    table_filter = TableFilter(include=["sales.*", "t*.q"], exclude=["tmp.*"])
    sweep = ReconcileSweep(glue, store, _ignore, table_filter, interval_s=300)
    assert await sweep.sweep_once() == ["sales.o"]
    assert listed == ["sales"]


async def _ignore(table: str) -> None:
    pass
