"""`icewatch demo --seed-only`: the demo's AWS side and writer against emulators you already run.

For docker compose (LocalStack plus a moto server for Glue) and tests that run the same topology as
processes: instead of starting the embedded emulator, it finds the endpoints in the standard AWS
variables (AWS_ENDPOINT_URL, and AWS_ENDPOINT_URL_GLUE where Glue lives elsewhere), creates the
sandbox there — queue and DLQ, the EventBridge rule, the warehouse bucket, the Glue database and
sample Iceberg tables, a VPC with subnets, Glue connections on them and a managed Glue job — and
keeps committing to the tables, emitting Glue's events, while other workloads take and give back
addresses in the job's first subnet, until SIGTERM/SIGINT or `--duration`. The daemon runs
separately (`icewatch run`).
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Mapping
from typing import Any

import structlog

from service.connections.sandbox import AddressConsumer, NetworkSandbox, create_network_sandbox
from service.demo import DemoWriter
from service.errors import SettingsError
from service.iceberg.catalog import open_catalog
from service.sandbox import GlueEvents, Sandbox, create_sandbox
from service.settings import CatalogSettings, Settings

log = structlog.get_logger(__name__)

SANDBOX_NAME = "icewatch"  # queue `icewatch-events`, DLQ `icewatch-dlq`, bucket `icewatch-warehouse`
NETWORK_NAME = "demo"  # Glue job `demo-etl` on connections `demo-net-a`, `demo-net-b`, `demo-net-c`
PROGRESS_EVERY_S = 30.0


class EnvironmentClients:
    """boto3 clients configured only by the standard AWS variables (endpoints, region, credentials)."""

    def __init__(self, environ: Mapping[str, str] = os.environ) -> None:
        if not environ.get("AWS_ENDPOINT_URL"):
            raise SettingsError(
                "--seed-only creates queues, buckets and sample tables: point it at an emulator with "
                "AWS_ENDPOINT_URL (and AWS_ENDPOINT_URL_GLUE if Glue is served elsewhere)"
            )
        self.region = environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or "us-east-1"

    def client(self, service: str) -> Any:
        import boto3

        # botocore itself reads AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE>.
        return boto3.client(service, region_name=self.region)


def seed_sandbox(clients: EnvironmentClients) -> Sandbox:
    """Create (or find again) the sandbox; safe to run twice against the same emulators."""
    sandbox = create_sandbox(clients, name=SANDBOX_NAME, region=clients.region)
    log.info(
        "sandbox_ready", queue_url=sandbox.queue_url, dlq_url=sandbox.dlq_url, warehouse=sandbox.warehouse
    )
    return sandbox


def seed_network(clients: EnvironmentClients) -> NetworkSandbox:
    """The VPC, subnets, Glue connections and managed Glue job of the subnet poller (found if there)."""
    glue = clients.client("glue")
    try:
        job = glue.get_job(JobName=f"{NETWORK_NAME}-etl")["Job"]
    except glue.exceptions.EntityNotFoundException:
        network = create_network_sandbox(clients, name=NETWORK_NAME, region=clients.region)
    else:
        subnets = {
            name: glue.get_connection(Name=name)["Connection"]["PhysicalConnectionRequirements"]["SubnetId"]
            for name in (job.get("Connections") or {}).get("Connections") or []
        }
        described = clients.client("ec2").describe_subnets(SubnetIds=list(subnets.values()))["Subnets"]
        network = NetworkSandbox(described[0]["VpcId"], subnets, job["Name"])
    log.info("network_ready", job=network.job_name, connections=sorted(network.subnets))
    return network


def run_seed(settings: Settings, duration_s: float | None, seed: int) -> int:
    """Seed, then write to the sample tables until stopped (or for `duration_s` seconds)."""
    clients = EnvironmentClients()
    sandbox = seed_sandbox(clients)
    catalog = open_catalog(
        CatalogSettings(
            catalog_name=settings.catalog.catalog_name,
            catalog_properties={"type": "glue", "warehouse": sandbox.warehouse},
        )
    )
    writer = DemoWriter(catalog, GlueEvents(clients, sandbox), seed)
    # Other workloads fill the subnet the managed job tries first, so the poller has work to do.
    consumer = AddressConsumer(clients, seed_network(clients))
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    print(f"icewatch seed: queue {sandbox.queue_url}, warehouse {sandbox.warehouse}; writing", flush=True)
    writer.start()
    consumer.start()
    deadline = None if duration_s is None else time.monotonic() + duration_s
    while not stop.is_set() and writer.is_alive():
        left = PROGRESS_EVERY_S if deadline is None else min(PROGRESS_EVERY_S, deadline - time.monotonic())
        if left <= 0 or stop.wait(left):
            break
        log.info("seed_progress", commits=writer.commits)
    writer.stopped.set()
    consumer.stopped.set()
    writer.join(timeout=30)
    consumer.join(timeout=10)
    print(f"icewatch seed: stopped after {writer.commits} commits", flush=True)
    return 0
