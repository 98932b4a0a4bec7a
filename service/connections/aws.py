"""AWS for connection ordering: connections' subnets, free IPs and zones; the GetJob -> UpdateJob round trip.

Reads: Glue GetConnection per connection (its PhysicalConnectionRequirements.SubnetId), EC2
DescribeSubnets once for all subnets (a `subnet-id` filter, so a deleted subnet is missing from the
answer instead of failing the whole call as `SubnetIds` would) and DescribeAvailabilityZones once.
A lookup that fails becomes a ConnectionCapacity with its reason, never an exception.

UpdateJob replaces the whole job definition, so the update carries every field of GetJob's answer that
JobUpdate accepts, taken from botocore's service model rather than a list written here: a field AWS
adds later survives our rewrite as soon as botocore knows it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from typing import Any

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from service.connections import GlueJobError
from service.connections.ordering import ConnectionCapacity

# Standard retries for throttling and 5xx; a poll every minute can afford to wait for them.
AWS_CONFIG = Config(retries={"mode": "standard", "total_max_attempts": 4}, read_timeout=30)
_FILTER_VALUES_PER_CALL = 200  # EC2's limit of values in one filter
_DEPRECATED = frozenset({"AllocatedCapacity"})  # "This field is deprecated. Use MaxCapacity instead."
_SIZED_BY_WORKERS = ("WorkerType", "NumberOfWorkers")  # "Do not set MaxCapacity if using" these


@contextlib.asynccontextmanager
async def glue_and_ec2() -> AsyncIterator[tuple[Any, Any]]:
    """aioboto3 Glue and EC2 clients from one session, found through the standard AWS variables."""
    import aioboto3

    session = aioboto3.Session(
        region_name=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    )
    async with (
        session.client("glue", config=AWS_CONFIG) as glue,
        session.client("ec2", config=AWS_CONFIG) as ec2,
    ):
        yield glue, ec2


def describe_error(exc: BaseException) -> str:
    """`Code: message` of an AWS error, short enough for one log line."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', 'Error')}: {error.get('Message', '')}"[:300]
    return str(exc)[:300]


async def read_capacities(glue: Any, ec2: Any, connections: Iterable[str]) -> dict[str, ConnectionCapacity]:
    """Each connection's subnet, zone, zone state and free IPs, or why they couldn't be read."""
    names = list(dict.fromkeys(connections))
    located = dict(zip(names, await asyncio.gather(*(_locate(glue, name) for name in names)), strict=True))
    subnet_ids = sorted({subnet for subnet, _, _ in located.values() if subnet})
    subnets: dict[str, dict[str, Any]] = {}
    subnets_error = zones_error = None
    if subnet_ids:
        try:
            subnets = await describe_subnets(ec2, subnet_ids)
        except (ClientError, BotoCoreError) as exc:
            subnets_error = f"DescribeSubnets failed: {describe_error(exc)}"
    zones: dict[str, str] = {}
    try:
        response = await ec2.describe_availability_zones()
        zones = {z["ZoneName"]: z["State"] for z in response.get("AvailabilityZones", [])}
    except (ClientError, BotoCoreError) as exc:
        zones_error = f"DescribeAvailabilityZones failed: {describe_error(exc)}"

    capacities = {}
    for name, (subnet_id, zone, error) in located.items():
        subnet = subnets.get(subnet_id or "")
        if error is None:
            if subnets_error is not None:
                error = subnets_error
            elif subnet is None:
                error = f"subnet {subnet_id} not found"
            else:
                zone = subnet.get("AvailabilityZone") or zone
                error = zones_error
        capacities[name] = ConnectionCapacity(
            connection=name,
            free_ips=subnet.get("AvailableIpAddressCount") if subnet is not None and error is None else None,
            subnet_id=subnet_id,
            availability_zone=zone,
            zone_state=zones.get(zone or ""),
            error=error,
        )
    return capacities


async def _locate(glue: Any, name: str) -> tuple[str | None, str | None, str | None]:
    """(subnet id, zone, error) of one Glue connection."""
    try:
        connection = (await glue.get_connection(Name=name, HidePassword=True))["Connection"]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "EntityNotFoundException":
            return None, None, "connection not found"
        return None, None, f"GetConnection failed: {describe_error(exc)}"
    except BotoCoreError as exc:
        return None, None, f"GetConnection failed: {describe_error(exc)}"
    requirements = connection.get("PhysicalConnectionRequirements") or {}
    subnet_id = requirements.get("SubnetId")
    if not subnet_id:
        return None, None, "connection has no subnet (PhysicalConnectionRequirements.SubnetId)"
    return subnet_id, requirements.get("AvailabilityZone"), None


async def describe_subnets(ec2: Any, subnet_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Subnets by id; one call for up to 200 subnets; a missing subnet is absent, not an error."""
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(subnet_ids), _FILTER_VALUES_PER_CALL):
        values = list(subnet_ids[start : start + _FILTER_VALUES_PER_CALL])
        token: str | None = None
        while True:
            response = await ec2.describe_subnets(
                Filters=[{"Name": "subnet-id", "Values": values}], **({"NextToken": token} if token else {})
            )
            found |= {s["SubnetId"]: s for s in response.get("Subnets", [])}
            token = response.get("NextToken")
            if not token:
                break
    return found


async def read_job(glue: Any, job_name: str) -> dict[str, Any]:
    """GetJob's `Job`; GlueJobError if it can't be read."""
    try:
        return (await glue.get_job(JobName=job_name))["Job"]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "EntityNotFoundException":
            raise GlueJobError(f"Glue job {job_name} not found; check ICEWATCH_GLUE_JOBS") from exc
        raise GlueJobError(f"cannot read Glue job {job_name}: {describe_error(exc)}") from exc
    except BotoCoreError as exc:
        raise GlueJobError(f"cannot read Glue job {job_name}: {describe_error(exc)}") from exc


def current_connections(job: Mapping[str, Any]) -> list[str]:
    return list((job.get("Connections") or {}).get("Connections") or [])


@functools.cache
def job_update_members() -> frozenset[str]:
    """The fields UpdateJob's JobUpdate accepts, from botocore's model of Glue."""
    import botocore.session

    model = botocore.session.get_session().get_service_model("glue")
    return frozenset(model.shape_for("JobUpdate").members)


def job_update(job: Mapping[str, Any], connections: Sequence[str]) -> dict[str, Any]:
    """The JobUpdate that gives `job` (GetJob's answer) these connections and changes nothing else.

    GetJob reports a job sized by WorkerType/NumberOfWorkers with MaxCapacity and AllocatedCapacity too,
    and UpdateJob refuses MaxCapacity beside them; AllocatedCapacity is deprecated for MaxCapacity.
    """
    members = job_update_members()
    update = {k: v for k, v in job.items() if k in members and k not in _DEPRECATED and v is not None}
    if any(update.get(k) for k in _SIZED_BY_WORKERS):
        update.pop("MaxCapacity", None)
    elif "MaxCapacity" not in update and job.get("AllocatedCapacity"):
        update["MaxCapacity"] = float(job["AllocatedCapacity"])  # an old job's size, said the new way
    update["Connections"] = {"Connections": list(connections)}
    return update


async def update_job_connections(glue: Any, job: Mapping[str, Any], connections: Sequence[str]) -> None:
    try:
        await glue.update_job(JobName=job["Name"], JobUpdate=job_update(job, connections))
    except (ClientError, BotoCoreError) as exc:
        raise GlueJobError(f"cannot update Glue job {job['Name']}: {describe_error(exc)}") from exc
