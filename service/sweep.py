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
from service.state import StateStore

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
    ) -> None:
        self._glue = glue
        self._store = store
        self._schedule = schedule
        self._filter = table_filter
        self._interval_s = interval_s

    async def run(self) -> None:
        """Root task: one sweep per interval."""
        await every(self._interval_s, self.sweep_once, "sweep")

    async def sweep_once(self) -> list[str]:
        """Schedule and await the changed tables; returns their names."""
        published = {r.table: r.watermark for r in await self._store.tables()}
        changed: list[str] = []
        async for database in pages(self._glue.get_databases, "DatabaseList"):
            async for table in pages(self._glue.get_tables, "TableList", DatabaseName=database["Name"]):
                parameters = table.get("Parameters") or {}
                if str(parameters.get("table_type", "")).upper() != ICEBERG:
                    continue
                name = f"{database['Name']}.{table['Name']}"
                if not self._filter.allows(database["Name"], table["Name"]):
                    continue
                mark = published.get(name)
                if mark is None or mark.metadata_location != parameters.get("metadata_location"):
                    changed.append(name)
        if changed:
            log.info("sweep_found_changes", tables=len(changed))
            await asyncio.gather(*(self._schedule(name) for name in changed))
        return changed
