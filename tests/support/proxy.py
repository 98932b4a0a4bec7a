"""A tiny HTTP forward proxy in front of the emulator that injects faults on the wire, for a daemon process.

moto can't be told to throttle or fail, and a daemon in a subprocess can't take a botocore hook (see
tests/support/faults.py for the in-process way), so the faults are injected on the wire instead: point
one service at the proxy (`AWS_ENDPOINT_URL_CLOUDWATCH=http://127.0.0.1:<port>`, botocore's per-service
endpoint variable) and leave the rest on `AWS_ENDPOINT_URL`. Each request is answered by the next step
of a deterministic plan: forwarded to moto unchanged, answered here with a Throttling (400) or
InternalServiceFault (500) error document, or delayed and then forwarded. Once the plan is used up,
every request is forwarded.

The proxy runs an aiohttp server on its own event loop in a background thread, so a synchronous test
(and the daemon process it talks to) never shares a loop with it.
"""

from __future__ import annotations

import asyncio
import random
import threading
import uuid
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass
from types import TracebackType

import aiohttp
from aiohttp import web

# Per-hop headers: the proxy's own connections set these, so they are not copied across.
_HOP_BY_HOP = frozenset(
    {"host", "content-length", "transfer-encoding", "connection", "keep-alive", "proxy-connection", "upgrade"}
)
_CHUNK_BYTES = 64 * 1024
_MAX_REQUEST_BYTES = 4 * 1024 * 1024  # PutMetricData's limit is 1 MB; aiohttp's default would be 1 MiB


@dataclass(frozen=True)
class Step:
    """What the proxy does with one request: `kind` is its name in the proxy's counts."""

    kind: str  # "forwarded", "Throttling", "InternalServiceFault" or "delayed"
    status: int = 0  # the error's HTTP status, for the error kinds
    delay_s: float = 0.0  # for "delayed": how long to hold the request before forwarding it


FORWARD = Step("forwarded")
THROTTLING = Step("Throttling", status=400)
INTERNAL_ERROR = Step("InternalServiceFault", status=500)


def delay(seconds: float) -> Step:
    return Step("delayed", delay_s=seconds)


def fault_plan(
    seed: int | str,
    requests: int,
    *,
    throttled: float,
    failed: float,
    delayed: float,
    delay_s: float = 0.5,
    max_errors_in_a_row: int = 2,
    block: int = 20,
) -> list[Step]:
    """`requests` steps with the given shares of Throttling, 500 and delay, shuffled with `seed`.

    Every `block` requests hold the shares exactly (so even a short run meets every fault), and no more
    than `max_errors_in_a_row` errors follow each other, so a caller that retries that many times more
    always gets through: the test then checks exactly-once delivery, not the retry budget.
    """
    rng = random.Random(seed)
    counts = {THROTTLING: round(block * throttled), INTERNAL_ERROR: round(block * failed)}
    counts[delay(delay_s)] = round(block * delayed)
    template = [step for step, n in counts.items() for _ in range(n)]
    template += [FORWARD] * (block - len(template))
    if len(template) != block:
        raise ValueError(f"the shares add up to more than one block of {block} requests")
    plan: list[Step] = []
    while len(plan) < requests:
        steps = template[:]
        while True:
            rng.shuffle(steps)
            if _errors_in_a_row(plan + steps) <= max_errors_in_a_row:
                break
        plan += steps
    return plan[:requests]


def _errors_in_a_row(steps: list[Step]) -> int:
    longest = run = 0
    for step in steps:
        run = run + 1 if step.status else 0
        longest = max(longest, run)
    return longest


def error_document(code: str, message: str) -> bytes:
    """An AWS query-protocol error document, as CloudWatch sends it."""
    return (
        "<ErrorResponse><Error><Type>Sender</Type>"
        f"<Code>{code}</Code><Message>{message}</Message></Error>"
        f"<RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>"
    ).encode()


_MESSAGES = {"Throttling": "Rate exceeded", "InternalServiceFault": "Internal failure"}


class WireFaultProxy:
    """Forwards HTTP requests to `upstream` or answers them from a fault plan; a context manager.

    `port` is known once entered; `counts` says how many requests each kind of step handled.
    """

    def __init__(self, upstream: str, plan: Iterable[Step] = ()) -> None:
        self._upstream = upstream.rstrip("/")
        self._plan: deque[Step] = deque(plan)
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="wire-fault-proxy", daemon=True)
        self._session: aiohttp.ClientSession | None = None
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def counts(self) -> Counter[str]:
        with self._lock:
            return self._counts.copy()

    def __enter__(self) -> WireFaultProxy:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=10)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(timeout=10)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            self._loop.close()

    async def _start(self) -> None:
        # auto_decompress=False: a compressed response goes back as it came, with its Content-Encoding.
        self._session = aiohttp.ClientSession(auto_decompress=False)
        app = web.Application(client_max_size=_MAX_REQUEST_BYTES)
        app.router.add_route("*", "/{path:.*}", self._handle)
        # auto_decompress=False: a gzipped request body (botocore compresses > 10 KiB) goes on as it came.
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None, auto_decompress=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def _stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    def _next_step(self) -> Step:
        with self._lock:
            step = self._plan.popleft() if self._plan else FORWARD
            self._counts[step.kind] += 1
            return step

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        step = self._next_step()
        if step.status:
            body = error_document(step.kind, _MESSAGES[step.kind])
            return web.Response(status=step.status, body=body, content_type="text/xml")
        if step.delay_s:
            await asyncio.sleep(step.delay_s)
        return await self._forward(request)

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        assert self._session is not None
        headers = [(k, v) for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP]
        body = await request.read()
        async with self._session.request(
            request.method,
            self._upstream + request.path_qs,
            headers=headers,
            data=body or None,
            allow_redirects=False,
            skip_auto_headers=("Accept-Encoding", "User-Agent", "Content-Type"),
        ) as upstream:
            response = web.StreamResponse(status=upstream.status, reason=upstream.reason)
            for key, value in upstream.headers.items():
                if key.lower() not in _HOP_BY_HOP:
                    response.headers.add(key, value)
            if upstream.content_length is not None:
                response.content_length = upstream.content_length
            await response.prepare(request)
            async for chunk in upstream.content.iter_chunked(_CHUNK_BYTES):
                await response.write(chunk)
            await response.write_eof()
            return response
