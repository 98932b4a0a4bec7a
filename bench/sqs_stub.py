"""A minimal in-memory SQS (JSON protocol) for the scale benchmark: the calls icewatch makes, nothing else.

moto's ReceiveMessage re-counts the whole queue for every message it returns, so with a backlog of a
thousand messages the emulator, not icewatch, limits a throughput benchmark. This stand-in keeps
SQS's semantics that matter here (long polling, visibility timeout, receive count, batch deletes) at
a few microseconds a call. Benchmarks only: tests use moto.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from multiprocessing.connection import Connection
from typing import Any


@dataclass
class _Message:
    id: str
    body: str
    receipt: str = ""
    visible_at: float = 0.0
    receives: int = 0


@dataclass
class _Queue:
    name: str
    visibility_s: float
    messages: dict[str, _Message] = field(default_factory=dict)  # insertion order = arrival order


class SqsStub:
    def __init__(self) -> None:
        self.queues: dict[str, _Queue] = {}
        self.receipts: dict[str, tuple[str, str]] = {}  # receipt -> (queue url, message id)
        self.lock = threading.Condition()
        self.endpoint = ""

    def call(self, action: str, body: dict[str, Any]) -> dict[str, Any]:
        return getattr(self, action)(body)

    def CreateQueue(self, body: dict[str, Any]) -> dict[str, Any]:
        url = f"{self.endpoint}/000000000000/{body['QueueName']}"
        visibility = float(body.get("Attributes", {}).get("VisibilityTimeout", 30))
        with self.lock:
            self.queues.setdefault(url, _Queue(body["QueueName"], visibility))
        return {"QueueUrl": url}

    def GetQueueAttributes(self, body: dict[str, Any]) -> dict[str, Any]:
        queue = self.queues[body["QueueUrl"]]
        with self.lock:
            now = time.monotonic()
            visible = sum(1 for m in queue.messages.values() if m.visible_at <= now)
        return {
            "Attributes": {
                "QueueArn": f"arn:aws:sqs:us-east-1:000000000000:{queue.name}",
                "ApproximateNumberOfMessages": str(visible),
                "ApproximateNumberOfMessagesNotVisible": str(len(queue.messages) - visible),
            }
        }

    def SendMessageBatch(self, body: dict[str, Any]) -> dict[str, Any]:
        queue = self.queues[body["QueueUrl"]]
        done = []
        with self.lock:
            for entry in body["Entries"]:
                message = _Message(str(uuid.uuid4()), entry["MessageBody"])
                queue.messages[message.id] = message
                done.append(
                    {"Id": entry["Id"], "MessageId": message.id, "MD5OfMessageBody": _md5(message.body)}
                )
            self.lock.notify_all()
        return {"Successful": done, "Failed": []}

    def ReceiveMessage(self, body: dict[str, Any]) -> dict[str, Any]:
        queue = self.queues[body["QueueUrl"]]
        most = int(body.get("MaxNumberOfMessages", 1))
        visibility = float(body.get("VisibilityTimeout", queue.visibility_s))
        deadline = time.monotonic() + float(body.get("WaitTimeSeconds", 0))
        with self.lock:
            while True:
                now = time.monotonic()
                ready = [m for m in queue.messages.values() if m.visible_at <= now][:most]
                if ready or now >= deadline:
                    break
                self.lock.wait(min(0.5, deadline - now))
            out = []
            for message in ready:
                message.receives += 1
                message.visible_at = now + visibility
                message.receipt = uuid.uuid4().hex
                self.receipts[message.receipt] = (body["QueueUrl"], message.id)
                out.append(
                    {
                        "MessageId": message.id,
                        "ReceiptHandle": message.receipt,
                        "MD5OfBody": _md5(message.body),
                        "Body": message.body,
                        "Attributes": {
                            "ApproximateReceiveCount": str(message.receives),
                            "SentTimestamp": str(int(time.time() * 1000)),
                        },
                    }
                )
        return {"Messages": out} if out else {}

    def DeleteMessageBatch(self, body: dict[str, Any]) -> dict[str, Any]:
        ok, failed = [], []
        with self.lock:
            for entry in body["Entries"]:
                target = self.receipts.pop(entry["ReceiptHandle"], None)
                if target is None:
                    failed.append({"Id": entry["Id"], "Code": "ReceiptHandleIsInvalid", "SenderFault": True})
                    continue
                self.queues[target[0]].messages.pop(target[1], None)
                ok.append({"Id": entry["Id"]})
        return {"Successful": ok, "Failed": failed}

    def DeleteMessage(self, body: dict[str, Any]) -> dict[str, Any]:
        self.DeleteMessageBatch({"Entries": [{"Id": "0", "ReceiptHandle": body["ReceiptHandle"]}]})
        return {}

    def ChangeMessageVisibility(self, body: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            target = self.receipts.get(body["ReceiptHandle"])
            if target is not None:
                message = self.queues[target[0]].messages.get(target[1])
                if message is not None:
                    message.visible_at = time.monotonic() + float(body["VisibilityTimeout"])
        return {}


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def _handler(stub: SqsStub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            action = self.headers.get("X-Amz-Target", "").rpartition(".")[2]
            reply = json.dumps(stub.call(action, json.loads(raw or b"{}"))).encode()
            try:
                self.send_response(200)
                self.send_header("Content-Type", "application/x-amz-json-1.0")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)
            except (BrokenPipeError, ConnectionResetError):
                pass  # a daemon stopped mid long poll: the messages stay on the queue

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


def stub_main(conn: Connection) -> None:
    """Process entry point: sends the endpoint, serves until told to stop."""
    stub = SqsStub()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(stub))
    server.daemon_threads = True
    stub.endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    conn.send(stub.endpoint)
    conn.recv()
    server.shutdown()
