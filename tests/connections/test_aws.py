"""Subnets and jobs on the emulator: free IPs, lookups that fail, and GetJob -> UpdateJob round trips."""

from __future__ import annotations

import botocore.session
import pytest

from service.connections.aws import (
    current_connections,
    job_update,
    job_update_members,
    read_capacities,
    read_job,
    update_job_connections,
)
from service.connections.sandbox import take_addresses


class CountingEc2:
    """The EC2 client, counting DescribeSubnets calls."""

    def __init__(self, ec2) -> None:
        self._ec2 = ec2
        self.describe_subnets_calls = 0

    async def describe_subnets(self, **kwargs):
        self.describe_subnets_calls += 1
        return await self._ec2.describe_subnets(**kwargs)

    def __getattr__(self, name):
        return getattr(self._ec2, name)


async def test_free_ips_of_every_subnet_come_from_one_describe_subnets_and_shrink_as_enis_take_addresses(
    clients, make_network, emulator
):
    glue, ec2 = clients
    network = make_network()
    a, b, c = network.subnets
    counting = CountingEc2(ec2)
    capacities = await read_capacities(glue, counting, network.subnets)
    assert {n: cap.free_ips for n, cap in capacities.items()} == {a: 59, b: 27, c: 11}
    assert counting.describe_subnets_calls == 1
    assert capacities[b].availability_zone == "us-east-1b"
    assert capacities[b].zone_state == "available"
    assert capacities[b].subnet_id == network.subnets[b]

    # moto's AvailableIpAddressCount does follow ENIs: 1 primary + secondary addresses each.
    enis = take_addresses(emulator.client("ec2"), network.subnets[a], 23)
    assert (await read_capacities(glue, ec2, [a]))[a].free_ips == 59 - 23
    emulator.client("ec2").delete_network_interface(NetworkInterfaceId=enis[0])
    assert (await read_capacities(glue, ec2, [a]))[a].free_ips == 59 - 23 + 10


async def test_a_missing_connection_or_deleted_subnet_is_reported_with_its_reason_and_the_rest_still_measured(
    clients, make_network, emulator
):
    glue, ec2 = clients
    network = make_network()
    a, b, c = network.subnets
    emulator.client("ec2").delete_subnet(SubnetId=network.subnets[c])
    emulator.client("glue").create_connection(
        ConnectionInput={"Name": f"{a}-jdbc", "ConnectionType": "JDBC", "ConnectionProperties": {}}
    )
    capacities = await read_capacities(glue, ec2, [a, "no-such-connection", c, f"{a}-jdbc", b])
    assert capacities["no-such-connection"].error == "connection not found"
    assert capacities[c].error == f"subnet {network.subnets[c]} not found"
    assert "has no subnet" in capacities[f"{a}-jdbc"].error
    assert (capacities[a].free_ips, capacities[b].free_ips) == (59, 27)
    assert not any(capacities[n].checked for n in ("no-such-connection", c, f"{a}-jdbc"))


async def test_a_zone_that_is_not_available_is_reported(clients, make_network, emulator):
    glue, ec2 = clients
    network = make_network()
    _, b, _ = network.subnets
    with emulator.zone_state("us-east-1b", "impaired"):
        capacity = (await read_capacities(glue, ec2, [b]))[b]
    assert (capacity.zone_state, capacity.free_ips, capacity.checked) == ("impaired", 27, False)
    assert capacity.reason_last(2) == "zone us-east-1b is impaired"


def test_the_emulators_update_job_replaces_the_whole_definition_as_aws_does(emulator, make_network):
    """Why the round trip matters: an UpdateJob with only Role and Command resets everything else."""
    glue = emulator.client("glue")
    job_name = make_network().job_name
    job = glue.get_job(JobName=job_name)["Job"]
    glue.update_job(JobName=job_name, JobUpdate={"Role": job["Role"], "Command": job["Command"]})
    after = glue.get_job(JobName=job_name)["Job"]
    assert "Connections" not in after
    assert "NumberOfWorkers" not in after
    assert "DefaultArguments" not in after or after["DefaultArguments"] == {}
    with pytest.raises(glue.exceptions.InvalidInputException, match="Max Capacity"):
        glue.update_job(
            JobName=job_name,
            JobUpdate={"Role": "r", "Command": job["Command"], "WorkerType": "G.1X", "MaxCapacity": 2.0},
        )


def rich_job(glue, name: str, connections: list[str]) -> None:
    """A job with every field moto's CreateJob stores, plus ones only UpdateJob sets (JobMode, ...)."""
    glue.create_job(
        Name=name,
        Description="nightly orders",
        LogUri="s3://logs/orders/",
        Role="arn:aws:iam::123456789012:role/service-role/AWSGlueServiceRole-orders",
        ExecutionProperty={"MaxConcurrentRuns": 3},
        Command={"Name": "glueetl", "ScriptLocation": "s3://scripts/orders.py", "PythonVersion": "3"},
        DefaultArguments={"--enable-metrics": "true", "--TempDir": "s3://tmp/"},
        NonOverridableArguments={"--env": "prod"},
        Connections={"Connections": connections},
        MaxRetries=2,
        Timeout=120,
        SecurityConfiguration="kms-at-rest",
        NotificationProperty={"NotifyDelayAfter": 10},
        GlueVersion="4.0",
        WorkerType="G.2X",
        NumberOfWorkers=6,
        ExecutionClass="FLEX",
        SourceControlDetails={"Provider": "GITHUB", "Repository": "etl", "Branch": "main"},
        Tags={"team": "data"},
    )
    job = glue.get_job(JobName=name)["Job"]
    update = job_update(job, connections) | {"JobMode": "SCRIPT", "MaintenanceWindow": "Sun:12"}
    glue.update_job(JobName=name, JobUpdate=update)


async def test_reordering_changes_the_connections_and_keeps_every_other_field_of_the_job(
    clients, make_network, emulator
):
    glue, _ = clients
    network = make_network()
    a, b, c = network.subnets
    sync = emulator.client("glue")
    name = f"{network.job_name}-rich"
    rich_job(sync, name, [a, "jdbc-warehouse", b, c])
    before = sync.get_job(JobName=name)["Job"]
    assert before["JobMode"] == "SCRIPT"  # a field moto's CreateJob doesn't know, set by UpdateJob

    await update_job_connections(glue, await read_job(glue, name), [b, a, c, "jdbc-warehouse"])

    after = sync.get_job(JobName=name)["Job"]
    assert current_connections(after) == [b, a, c, "jdbc-warehouse"]
    ignore = {"Connections", "LastModifiedOn"}
    assert {k: v for k, v in after.items() if k not in ignore} == {
        k: v for k, v in before.items() if k not in ignore
    }
    assert sync.get_tags(ResourceArn=f"arn:aws:glue:us-east-1:123456789012:job/{name}")["Tags"] == {
        "team": "data"
    }


def test_the_update_carries_every_field_jobupdate_accepts_as_botocore_knows_them():
    model = botocore.session.get_session().get_service_model("glue")
    members = set(model.shape_for("JobUpdate").members)
    # A GetJob answer with every field of the Job shape: whatever AWS adds, botocore's model lists.
    job = {name: f"value-of-{name}" for name in model.shape_for("Job").members}
    job |= {
        "Name": "etl",
        "WorkerType": "G.1X",
        "NumberOfWorkers": 4,
        "MaxCapacity": 4.0,
        "AllocatedCapacity": 4,
    }
    update = job_update(job, ["net-b", "net-a"])
    assert job_update_members() == frozenset(members)
    assert set(update) == members - {"AllocatedCapacity", "MaxCapacity"}
    assert update["Connections"] == {"Connections": ["net-b", "net-a"]}
    assert {k: update[k] for k in update if k != "Connections"} == {
        k: job[k] for k in members - {"AllocatedCapacity", "MaxCapacity", "Connections"}
    }
    assert not {"ProfileName", "CreatedOn", "Name"} & set(update)  # Job fields JobUpdate doesn't take


def test_a_job_sized_in_dpus_keeps_its_max_capacity_and_an_old_one_gets_it_from_allocated_capacity():
    python_shell = {"Name": "s", "Role": "r", "Command": {"Name": "pythonshell"}, "MaxCapacity": 0.0625}
    assert job_update(python_shell, ["a"])["MaxCapacity"] == 0.0625
    old = {"Name": "o", "Role": "r", "Command": {"Name": "glueetl"}, "AllocatedCapacity": 10}
    update = job_update(old, ["a"])
    assert (update["MaxCapacity"], "AllocatedCapacity" in update) == (10.0, False)
