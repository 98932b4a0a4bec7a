"""`icewatch reorder` and `icewatch run-job`: the subnet poller's work for one job, on demand.

Both take the job's connections and strategy from ICEWATCH_GLUE_JOBS, as the daemon does.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import TYPE_CHECKING, Any

from service.connections import GlueJobError
from service.errors import UsageError
from service.settings import ManagedJob, Settings

if TYPE_CHECKING:
    from service.connections.poller import JobPoll

COMMANDS = ("reorder", "run-job")
EXIT_FAILED = 1


def register(sub: Any) -> None:
    """Add the subcommands to `icewatch`'s subparsers."""
    reorder = sub.add_parser("reorder", help="order a managed Glue job's connections by free IPs, once")
    reorder.add_argument("--job", required=True, metavar="NAME", help="a job of ICEWATCH_GLUE_JOBS")
    reorder.add_argument("--dry-run", action="store_true", help="show the new order; don't update the job")
    reorder.add_argument("--json", action="store_true", help="print the capacities, tiers and orders as JSON")

    run = sub.add_parser(
        "run-job",
        help="reorder a managed Glue job's connections, run it, retry elsewhere if its subnet fails",
    )
    run.add_argument("job", metavar="NAME", help="a job of ICEWATCH_GLUE_JOBS")
    run.add_argument(
        "--arg",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a job argument for this run (repeatable); KEY gets Glue's leading -- if it has none",
    )
    run.add_argument("--retries", type=int, default=2, help="retries after a subnet failure (default 2)")
    run.add_argument(
        "--backoff-s", type=float, default=30.0, help="seconds before the first retry, doubled each time (30)"
    )
    run.add_argument("--poll-s", type=float, default=10.0, help="seconds between GetJobRun calls (10)")


def main(args: argparse.Namespace, settings: Settings) -> int:
    """Run `reorder` or `run-job`; the exit code."""
    if args.command == "reorder":
        job = managed_job(settings, args.job)
        return asyncio.run(_reorder(settings, job, args.dry_run or settings.poller.poller_dry_run, args.json))
    job = managed_job(settings, args.job)
    if args.retries < 0 or args.backoff_s < 0 or args.poll_s < 0:
        raise UsageError("--retries, --backoff-s and --poll-s must not be negative")
    arguments = job_arguments(args.arg)
    return asyncio.run(_run_job(settings, job, arguments, args.retries, args.backoff_s, args.poll_s))


def managed_job(settings: Settings, name: str) -> ManagedJob:
    for job in settings.poller.glue_jobs:
        if job.job_name == name:
            return job
    configured = ", ".join(j.job_name for j in settings.poller.glue_jobs) or "none"
    raise UsageError(f"Glue job {name} is not in ICEWATCH_GLUE_JOBS (configured: {configured}); add it there")


def job_arguments(pairs: list[str]) -> dict[str, str]:
    """`KEY=VALUE` pairs as Glue job arguments: {"--KEY": "VALUE"}."""
    arguments = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip("-"):
            raise UsageError(f"--arg expects KEY=VALUE, got {pair!r}")
        arguments[key if key.startswith("--") else f"--{key}"] = value
    return arguments


async def _reorder(settings: Settings, job: ManagedJob, dry_run: bool, as_json: bool) -> int:
    from service.connections.aws import glue_and_ec2
    from service.connections.poller import SubnetPoller
    from service.render import connection_table
    from service.telemetry import ServiceMetrics

    async with glue_and_ec2() as (glue, ec2):
        poller = SubnetPoller(glue, ec2, settings.poller, ServiceMetrics())
        (poll,) = await poller.reorder([job], dry_run=dry_run)
    if poll.order is None:
        raise GlueJobError(poll.error or f"cannot read Glue job {job.job_name}")
    if as_json:
        print(json.dumps(poll_json(poll), indent=2))
    else:
        order = poll.order
        print(
            f"{job.job_name}: {order.required_ips} IPs for the whole job, {order.min_ips} to start; "
            f"strategy {order.strategy}"
        )
        print(connection_table([poll]))
        print(f"current order: {', '.join(poll.before) or '(none)'}")
        print(f"new order:     {', '.join(poll.after)}")
        print(_outcome(poll))
    return 0 if poll.error is None else EXIT_FAILED


def _outcome(poll: JobPoll) -> str:
    if poll.error:
        return f"not updated: {poll.error}"
    if not poll.changed:
        return "the order is unchanged"
    return "dry run: the job was not updated" if poll.dry_run else "the job was updated"


def poll_json(poll: JobPoll) -> dict[str, Any]:
    order = poll.order
    assert order is not None  # a job that could not be read raised before
    return {
        "job": poll.job_name,
        "strategy": order.strategy,
        "required_ips": order.required_ips,
        "min_ips": order.min_ips,
        "capacities": [
            {
                "connection": r.name,
                "subnet_id": r.capacity.subnet_id,
                "availability_zone": r.capacity.availability_zone,
                "zone_state": r.capacity.zone_state,
                "free_ips": r.capacity.free_ips,
                "tier": r.tier.name.lower(),
                "why_last": r.capacity.reason_last(order.min_ips),
            }
            for r in order.ranked
        ],
        "tiers": {tier.name.lower(): list(names) for tier, names in order.tiers().items()},
        "current": list(poll.before),
        "new": list(poll.after),
        "changed": poll.changed,
        "updated": poll.updated,
        "dry_run": poll.dry_run,
        "error": poll.error,
    }


async def _run_job(
    settings: Settings,
    job: ManagedJob,
    arguments: dict[str, str],
    retries: int,
    backoff_s: float,
    poll_s: float,
) -> int:
    from service.connections.aws import glue_and_ec2
    from service.connections.poller import SubnetPoller
    from service.connections.run_job import run_job
    from service.telemetry import ServiceMetrics

    async with glue_and_ec2() as (glue, ec2):
        poller = SubnetPoller(glue, ec2, settings.poller, ServiceMetrics())
        outcome = await run_job(
            poller,
            glue,
            job,
            arguments=arguments,
            retries=retries,
            backoff_s=backoff_s,
            poll_s=poll_s,
            report=lambda line: print(line, flush=True),
        )
    return 0 if outcome.succeeded else EXIT_FAILED
