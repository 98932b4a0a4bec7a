"""/metrics, /healthz and /readyz, served by aiohttp inside the daemon's event loop."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

STALL_LIMIT_S = 5.0  # a loop that hasn't ticked for this long can't be serving its work


class LoopWatchdog:
    """Notes when the event loop last ran a tick, so /readyz can tell a stalled loop."""

    def __init__(self, interval_s: float = 1.0) -> None:
        self.interval_s = interval_s
        self.last_tick = time.monotonic()

    async def run(self) -> None:
        while True:
            self.last_tick = time.monotonic()
            await asyncio.sleep(self.interval_s)

    def stalled_for(self) -> float:
        return max(0.0, time.monotonic() - self.last_tick - self.interval_s)


def build_app(
    registry: CollectorRegistry, ready: Callable[[], tuple[bool, str]], watchdog: LoopWatchdog
) -> web.Application:
    async def metrics(_: web.Request) -> web.Response:
        # Rendering reads in-memory values only, so it can run on the loop.
        body = generate_latest(registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def readyz(_: web.Request) -> web.Response:
        ok, why = ready()
        stalled = watchdog.stalled_for()
        if stalled > STALL_LIMIT_S:
            ok, why = False, f"event loop stalled for {stalled:.1f} s"
        return web.Response(status=200 if ok else 503, text=(why or "ready") + "\n")

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    return app


class HttpServer:
    """The aiohttp site, started and stopped by the app (never installs signal handlers)."""

    def __init__(self, app: web.Application, port: int, host: str = "0.0.0.0") -> None:
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        self._host, self._port = host, port
        self.port = port

    async def start(self) -> None:
        await self._runner.setup()
        await web.TCPSite(self._runner, self._host, self._port).start()
        self.port = self._runner.addresses[0][1]  # port 0: the one the OS picked

    async def stop(self) -> None:
        await self._runner.cleanup()
