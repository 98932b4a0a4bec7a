"""Run a coroutine on a fixed cadence as a root task: a failed round is logged, never fatal."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import structlog

log = structlog.get_logger(__name__)


async def every(interval_s: float, round_: Callable[[], Awaitable[object]], name: str) -> None:
    """Call `round_` now and then every `interval_s`, until cancelled."""
    while True:
        try:
            await round_()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the next round retries; one bad round must not end the process
            log.warning(f"{name}_failed", error=str(exc)[:300])
        await asyncio.sleep(interval_s)
