"""Fixtures for connection ordering against the emulator: AWS variables, aioboto3 clients, a VPC per test."""

from __future__ import annotations

import itertools

import pytest

from service.connections.aws import glue_and_ec2
from service.connections.sandbox import NetworkSandbox, create_network_sandbox
from service.settings import PollerSettings
from service.telemetry import ServiceMetrics

_names = itertools.count()

# /26: 59 free IPs, /27: 27, /28: 11 (AWS keeps 5 per subnet; so does moto)
SIZES = {"net-a": ("10.42.0.0/26", "a"), "net-b": ("10.42.0.64/27", "b"), "net-c": ("10.42.0.96/28", "c")}


@pytest.fixture
async def clients(aws_env):
    async with glue_and_ec2() as (glue, ec2):
        yield glue, ec2


@pytest.fixture
def make_network(emulator):
    """make_network(workers=10, subnets=SIZES) -> a fresh VPC, subnets, connections and job `<name>-etl`."""

    def make(workers: int = 10, subnets: dict[str, tuple[str, str]] | None = None) -> NetworkSandbox:
        return create_network_sandbox(
            emulator, name=f"t{next(_names)}", subnets=subnets or SIZES, workers=workers
        )

    return make


@pytest.fixture
def metrics() -> ServiceMetrics:
    return ServiceMetrics()


def poller_settings(*jobs, **overrides) -> PollerSettings:
    return PollerSettings(glue_jobs=list(jobs), **overrides)


def job_connections_now(emulator, job_name: str) -> list[str]:
    return emulator.client("glue").get_job(JobName=job_name)["Job"]["Connections"]["Connections"]
