"""The embedded AWS emulator (moto server over real HTTP) behind `icewatch demo` and the tests."""

from __future__ import annotations

import contextlib
import logging
import urllib.request
from types import TracebackType
from typing import Any

DEMO_REGION = "us-east-1"
DEMO_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


class Emulator:
    """A moto server on a free loopback port; use as a context manager."""

    def __init__(self) -> None:
        try:
            from moto.server import ThreadedMotoServer
        except ImportError as exc:  # moto is in the `demo` extra, not a runtime dependency
            raise RuntimeError("the embedded emulator needs moto: pip install 'icewatch[demo]'") from exc
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one access-log line per request
        self.endpoint = ""

    def __enter__(self) -> Emulator:
        from service import emulator_glue

        emulator_glue.install()  # Glue UpdateJob, scripted job runs, zone states: see that module
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.stop()

    def environ(self) -> dict[str, str]:
        """The standard AWS variables that point botocore (and icewatch) at this emulator."""
        return {"AWS_ENDPOINT_URL": self.endpoint, "AWS_REGION": DEMO_REGION, **DEMO_CREDENTIALS}

    def client(self, service: str) -> Any:
        """A boto3 client of this emulator (synchronous: for seeding and tests)."""
        import boto3

        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=DEMO_REGION,
            aws_access_key_id=DEMO_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=DEMO_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        )

    def reset(self) -> None:
        """Forget every resource (between tests)."""
        request = urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=10):
            pass
        from service import emulator_glue

        emulator_glue.forget()

    def script_job_runs(self, job_name: str, outcomes: list[tuple[str, str]]) -> None:
        """The next runs of Glue job `job_name` end in these (JobRunState, ErrorMessage); then SUCCEEDED."""
        from service import emulator_glue

        emulator_glue.script_job_runs(job_name, outcomes)

    def started_runs(self, job_name: str) -> list[Any]:
        """Each StartJobRun of `job_name` so far, with the job's connections at that moment."""
        from service import emulator_glue

        return emulator_glue.started_runs(job_name)

    def zone_state(self, zone_name: str, state: str) -> contextlib.AbstractContextManager[None]:
        """A context in which availability zone `zone_name` reports `state` (moto's are always available)."""
        from service import emulator_glue

        return emulator_glue.zone_state(zone_name, state)

    def glue_catalog_properties(self, warehouse: str) -> dict[str, str]:
        """pyiceberg Glue catalog + S3 FileIO properties for this emulator; `warehouse` is s3://bucket/…"""
        return {
            "type": "glue",
            "warehouse": warehouse,
            "glue.endpoint": self.endpoint,
            "glue.region": DEMO_REGION,
            "glue.access-key-id": DEMO_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            "glue.secret-access-key": DEMO_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            "s3.endpoint": self.endpoint,
            "s3.region": DEMO_REGION,
            "s3.access-key-id": DEMO_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            "s3.secret-access-key": DEMO_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        }
