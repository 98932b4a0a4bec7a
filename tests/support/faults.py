"""Wire faults for an aiobotocore client: chosen requests are answered here instead of by moto.

moto can't be told to throttle or fail, so a `before-send` hook stands in for the network: botocore
sends nothing and parses the response we return (or raises the error we raise) exactly as if it had
come from AWS. Everything else goes on to moto over HTTP.
"""

from __future__ import annotations

import gzip
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from aiobotocore.awsrequest import AioAWSResponse
from botocore.awsrequest import HTTPHeaders
from botocore.exceptions import ConnectionClosedError

from tests.support.proxy import error_document

# Answers a request with a response, or raises the error the HTTP layer would raise.
Fault = Callable[[Any], AioAWSResponse]


class _Body:
    """The `raw` of an AioAWSResponse: what aiobotocore reads the body from."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    async def read(self) -> bytes:
        return self._data


def error_response(status: int, code: str, message: str = "injected by the test") -> Fault:
    """An AWS query-protocol error document, as CloudWatch sends it."""
    body = error_document(code, message)

    def respond(request: Any) -> AioAWSResponse:
        headers = HTTPHeaders.from_dict({"Content-Type": "text/xml", "Content-Length": str(len(body))})
        return AioAWSResponse(request.url, status, headers, _Body(body))

    respond.__name__ = f"{status} {code}"
    return respond


def connection_closed(request: Any) -> AioAWSResponse:
    """What aiobotocore raises when the server drops the connection mid-request."""
    raise ConnectionClosedError(endpoint_url=request.url)


THROTTLING = error_response(400, "Throttling", "Rate exceeded")
TOO_MANY_REQUESTS = error_response(429, "ThrottlingException", "Rate exceeded")
INTERNAL_ERROR = error_response(500, "InternalServiceFault", "Internal failure")


@dataclass(frozen=True)
class SentRequest:
    body_bytes: int  # uncompressed, as the 1 MB limit counts it
    datums: int
    answered_by: str  # "moto", or the fault's name


@dataclass
class WireFaults:
    """Answers the next requests of one operation from a plan of faults; records every request."""

    operation: str = "PutMetricData"
    requests: list[SentRequest] = field(default_factory=list)
    _plan: deque[Fault | None] = field(default_factory=deque)

    def attach(self, client: Any) -> WireFaults:
        service_id = client.meta.service_model.service_id.hyphenize()
        client.meta.events.register(f"before-send.{service_id}.{self.operation}", self._before_send)
        return self

    def plan(self, *faults: Fault | None) -> None:
        """The next requests, in order: a fault answers one, None lets one through to moto."""
        self._plan.extend(faults)

    def _before_send(self, request: Any, **_: Any) -> AioAWSResponse | None:
        body = request.body if isinstance(request.body, bytes) else request.body.encode()
        if request.headers.get("Content-Encoding") in (b"gzip", "gzip"):  # botocore compresses > 10 KiB
            body = gzip.decompress(body)
        datums = sum(1 for key, _ in parse_qsl(body.decode()) if key.endswith(".MetricName"))
        fault = self._plan.popleft() if self._plan else None
        name = "moto" if fault is None else getattr(fault, "__name__", "fault")
        self.requests.append(SentRequest(len(body), datums, name))
        return None if fault is None else fault(request)
