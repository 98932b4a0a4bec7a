"""A VPC for the demo and the tests: subnets of different sizes, Glue connections on them, a managed Glue job;
and an address consumer that fills the subnet the job tries first, as other workloads' ENIs would.

`clients` is anything with `.client(service)` returning a boto3 client (e.g. the Emulator).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

import structlog

from service.settings import ManagedJob

log = structlog.get_logger(__name__)

# connection suffix -> (CIDR, zone suffix). AWS keeps 5 addresses of every subnet: /26 has 59 free,
# /27 27, /28 11.
DEMO_SUBNETS = {
    "net-a": ("10.42.0.0/26", "a"),
    "net-b": ("10.42.0.64/27", "b"),
    "net-c": ("10.42.0.96/28", "c"),
}
DEMO_WORKERS = 10  # the job needs 11 addresses with its driver: /26 and /27 can hold it, /28 can't
_IPS_PER_ENI = 10  # secondary addresses per ENI stay well under every instance type's limit


@dataclass(frozen=True)
class NetworkSandbox:
    vpc_id: str
    subnets: dict[str, str]  # connection name -> subnet id
    job_name: str

    def managed_job(self, strategy: str = "capacity") -> ManagedJob:
        return ManagedJob(job_name=self.job_name, connections=list(self.subnets), strategy=strategy)  # type: ignore[arg-type]


def create_network_sandbox(
    clients: Any,
    name: str = "demo",
    region: str = "us-east-1",
    subnets: dict[str, tuple[str, str]] | None = None,
    workers: int = DEMO_WORKERS,
    vpc_cidr: str = "10.42.0.0/16",
) -> NetworkSandbox:
    """A VPC, one subnet and one NETWORK Glue connection per entry of `subnets`, and a Glue job using them."""
    ec2, glue = clients.client("ec2"), clients.client("glue")
    vpc_id = ec2.create_vpc(CidrBlock=vpc_cidr)["Vpc"]["VpcId"]
    group_id = ec2.create_security_group(GroupName=f"{name}-glue", Description="Glue workers", VpcId=vpc_id)[
        "GroupId"
    ]
    created = {}
    for suffix, (cidr, zone) in (subnets or DEMO_SUBNETS).items():
        connection = f"{name}-{suffix}"
        subnet = ec2.create_subnet(VpcId=vpc_id, CidrBlock=cidr, AvailabilityZone=f"{region}{zone}")["Subnet"]
        glue.create_connection(
            ConnectionInput={
                "Name": connection,
                "ConnectionType": "NETWORK",
                "ConnectionProperties": {},
                "PhysicalConnectionRequirements": {
                    "SubnetId": subnet["SubnetId"],
                    "SecurityGroupIdList": [group_id],
                    "AvailabilityZone": subnet["AvailabilityZone"],
                },
            }
        )
        created[connection] = subnet["SubnetId"]
    job_name = f"{name}-etl"
    glue.create_job(
        Name=job_name,
        Role="arn:aws:iam::123456789012:role/service-role/AWSGlueServiceRole-demo",
        Command={"Name": "glueetl", "ScriptLocation": f"s3://{name}-scripts/etl.py", "PythonVersion": "3"},
        GlueVersion="4.0",
        WorkerType="G.1X",
        NumberOfWorkers=workers,
        Connections={"Connections": list(created)},
        DefaultArguments={"--job-language": "python"},
    )
    return NetworkSandbox(vpc_id, created, job_name)


def free_ips(ec2: Any, subnet_id: str) -> int:
    return ec2.describe_subnets(SubnetIds=[subnet_id])["Subnets"][0]["AvailableIpAddressCount"]


def take_addresses(ec2: Any, subnet_id: str, count: int) -> list[str]:
    """ENIs holding `count` addresses of the subnet, as a job's workers hold them; their ids."""
    enis = []
    while count > 0:
        size = min(count, _IPS_PER_ENI)
        eni = ec2.create_network_interface(SubnetId=subnet_id, SecondaryPrivateIpAddressCount=size - 1)
        enis.append(eni["NetworkInterface"]["NetworkInterfaceId"])
        count -= size
    return enis


class AddressConsumer(threading.Thread):
    """Every `every_s`, another workload takes `ips` addresses in the subnet the managed job tries first
    and gives them back `hold_s` later: that subnet fills until the poller moves the job elsewhere.

    moto lets a subnet's free count go negative; AWS would refuse, so a full subnet is left alone here.
    """

    def __init__(
        self, clients: Any, sandbox: NetworkSandbox, ips: int = 8, every_s: float = 1.0, hold_s: float = 20.0
    ) -> None:
        super().__init__(name="demo-address-consumer", daemon=True)
        self._ec2, self._glue = clients.client("ec2"), clients.client("glue")
        self._sandbox = sandbox
        self._ips, self._every_s, self._hold_s = ips, every_s, hold_s
        self._held: deque[tuple[float, list[str]]] = deque()
        self.stopped = threading.Event()
        self.taken = 0

    def run(self) -> None:
        while not self.stopped.is_set():
            try:
                self.step(time.monotonic())
            except Exception as exc:  # the demo goes on; the poller shows what the subnets hold
                log.warning("demo_address_consumer_failed", error=str(exc)[:200])
            self.stopped.wait(self._every_s)

    def step(self, now: float) -> str | None:
        """Give back what is due, then take addresses in the job's first subnet; the connection, if any."""
        while self._held and self._held[0][0] <= now:
            for eni in self._held.popleft()[1]:
                self._ec2.delete_network_interface(NetworkInterfaceId=eni)
        job = self._glue.get_job(JobName=self._sandbox.job_name)["Job"]
        first = next(iter((job.get("Connections") or {}).get("Connections") or []), None)
        subnet = self._sandbox.subnets.get(first or "")
        if subnet is None or free_ips(self._ec2, subnet) < self._ips:
            return None
        self._held.append((now + self._hold_s, take_addresses(self._ec2, subnet, self._ips)))
        self.taken += self._ips
        return first


def poller_view(daemon: Any, summary: bool = False) -> str:
    """The demo's view of the subnet poller: each job's connections in order, or its reorder count."""
    from service.render import connection_table

    poller = getattr(daemon, "poller", None)
    if poller is None or not poller.latest:
        return ""
    registry = daemon.metrics.registry
    counts = {
        job: registry.get_sample_value(
            "icewatch_glue_connection_reorders_total", {"job": job, "outcome": "updated"}
        )
        or 0
        for job in poller.latest
    }
    reorders = ", ".join(f"{job} reordered {n:.0f} time{'s' if n != 1 else ''}" for job, n in counts.items())
    if summary:
        return f"\nsubnet poller: {reorders}\n"
    return f"\n\n{connection_table(poller.latest.values())}\n{reorders}"
