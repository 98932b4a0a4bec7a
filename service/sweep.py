"""The reconcile sweep: find Iceberg tables whose metadata changed without an event reaching us.

Glue's events are best-effort and icewatch may have been down, so every `interval_s` the sweep
lists the Glue catalog's Iceberg tables, compares each table's `metadata_location` with the one
last published, and schedules the changed ones through the same per-table scheduler as events.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import structlog

from service.filters import TableFilter
from service.periodic import every
from service.state import StateStore, Watermark
from service.telemetry import ServiceMetrics

log = structlog.get_logger(__name__)

ICEBERG = "ICEBERG"


async def pages(
    call: Callable[..., Awaitable[dict[str, Any]]], key: str, **kwargs: Any
) -> AsyncIterator[Any]:
    """Every item of a paginated Glue listing (NextToken), page by page."""
    token: str | None = None
    while True:
        response = await call(**kwargs, **({"NextToken": token} if token else {}))
        for item in response.get(key, []):
            yield item
        token = response.get("NextToken")
        if not token:
            return


class ReconcileSweep:
    """Schedules work for Glue Iceberg tables whose metadata moved past what was last published."""

    def __init__(
        self,
        glue: Any,
        store: StateStore,
        schedule: Callable[[str], Awaitable[object]],
        table_filter: TableFilter,
        interval_s: float,
        metrics: ServiceMetrics | None = None,
    ) -> None:
        self._glue = glue
        self._store = store
        self._schedule = schedule
        self._filter = table_filter
        self._interval_s = interval_s
        self._metrics = metrics or ServiceMetrics()

    async def run(self) -> None:
        """Root task: one sweep per interval."""
        await every(self._interval_s, self.sweep_once, "sweep")

    async def sweep_once(self) -> list[str]:
        """Schedule and await the changed tables; returns their names."""
        published = {r.table: r.watermark for r in await self._store.tables()}
        changed: list[str] = []
        async for database in pages(self._glue.get_databases, "DatabaseList"):
            if not self._filter.may_allow_database(database["Name"]):
                continue  # a least-privilege role may not even be allowed to list it
            try:
                changed += await self._changed_in(database["Name"], published)
            except Exception as exc:
                # One database denied or failing must not hide the others' lost events.
                log.warning("sweep_database_failed", database=database["Name"], error=str(exc)[:300])
                self._metrics.sweep_database_errors.inc()
        if changed:
            log.info("sweep_found_changes", tables=len(changed))
            await asyncio.gather(*(self._schedule(name) for name in changed))
        return changed

    async def _changed_in(self, database: str, published: dict[str, Watermark | None]) -> list[str]:
        changed = []
        async for table in pages(self._glue.get_tables, "TableList", DatabaseName=database):
            parameters = table.get("Parameters") or {}
            if str(parameters.get("table_type", "")).upper() != ICEBERG:
                continue
            if not self._filter.allows(database, table["Name"]):
                continue
            name = f"{database}.{table['Name']}"
            mark = published.get(name)
            if mark is None or mark.metadata_location != parameters.get("metadata_location"):
                changed.append(name)
        return changed
