"""Glue connection ordering: keep each managed Glue job's VPC connections in the order of their subnets' room.

A Glue job inside a VPC tries its connections in listed order and runs in the first whose subnet passes
its checks; every worker takes an IP address there. `ordering` decides the order (pure), `aws` reads
subnets and rewrites jobs, `poller` does it every interval inside the daemon, `run_job` is the
per-run workflow with failover, `cli` exposes `icewatch reorder` and `icewatch run-job`.
"""

from service.errors import IcewatchError


class GlueJobError(IcewatchError):
    """A managed Glue job could not be read, updated or run."""
