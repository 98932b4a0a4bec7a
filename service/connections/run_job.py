"""`icewatch run-job`: order a managed Glue job's connections, run it, and fail over to another subnet.

The per-run workflow of AWS's post: reorder, StartJobRun, follow GetJobRun to a final state. When the
run failed for lack of IP addresses or because its subnet or zone was unusable, reorder again with
fresh figures (the connection the run was started in goes to the end of its tier, since its figure
just proved optimistic) and retry after an exponential backoff. Any other failure is final: another
subnet won't fix a bug in the script.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from service.connections import GlueJobError
from service.connections.aws import describe_error
from service.connections.ordering import Tier
from service.connections.poller import JobPoll, SubnetPoller
from service.settings import ManagedJob

FINAL_STATES = frozenset({"SUCCEEDED", "FAILED", "TIMEOUT", "ERROR", "STOPPED", "EXPIRED"})
_FAILOVER_STATES = frozenset({"FAILED", "ERROR"})
# Another subnet may fix these: Glue's and EC2's words for a full subnet, or an unusable subnet or zone.
_SUBNET_FAILURE = re.compile(
    r"free (ip )?address|InsufficientFreeAddresses|not enough (free )?ip|no (free|available) ip"
    r"|availability zone|InvalidSubnet|subnet \S+ (does not exist|not found|is not available|is unavailable)",
    re.IGNORECASE,
)


def is_subnet_failure(message: str) -> bool:
    """The run failed for lack of IP addresses or an unusable subnet or zone."""
    return bool(_SUBNET_FAILURE.search(message or ""))


@dataclass(frozen=True)
class Attempt:
    number: int
    connections: tuple[str, ...]  # the job's connections when the run started
    run_id: str
    state: str
    error_message: str = ""

    @property
    def fails_over(self) -> bool:
        return self.state in _FAILOVER_STATES and is_subnet_failure(self.error_message)


@dataclass(frozen=True)
class JobRunOutcome:
    job_name: str
    attempts: tuple[Attempt, ...]

    @property
    def state(self) -> str:
        return self.attempts[-1].state if self.attempts else "NOT_STARTED"

    @property
    def succeeded(self) -> bool:
        return self.state == "SUCCEEDED"


async def run_job(
    poller: SubnetPoller,
    glue: Any,
    job: ManagedJob,
    *,
    arguments: Mapping[str, str] | None = None,
    retries: int = 2,
    backoff_s: float = 30.0,
    poll_s: float = 10.0,
    report: Callable[[str], None] = print,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
) -> JobRunOutcome:
    """Up to `retries` + 1 runs; the n-th retry waits `backoff_s` * 2**(n-1) seconds first."""
    attempts: list[Attempt] = []
    avoid: tuple[str, ...] = ()
    total = retries + 1
    for number in range(1, total + 1):
        # Hysteresis is for a poller that shouldn't rewrite jobs every minute; a run wants the best order.
        (poll,) = await poller.reorder([job], dry_run=False, hysteresis_ips=0, avoid=avoid)
        if poll.order is None:
            raise GlueJobError(poll.error or f"cannot read Glue job {job.job_name}")
        if poll.error:
            report(f"attempt {number}/{total}: warning: {poll.error}; the job keeps its order")
        connections = poll.after if poll.updated or not poll.changed else poll.before
        report(f"attempt {number}/{total}: {job.job_name} runs with {_figures(poll, connections)}")
        run_id = await _start(glue, job.job_name, arguments or {})
        state, message = await _follow(glue, job.job_name, run_id, poll_s, sleep)
        attempt = Attempt(number, connections, run_id, state, message)
        attempts.append(attempt)
        report(f"attempt {number}/{total}: run {run_id} {state}" + (f": {message}" if message else ""))
        if state == "SUCCEEDED" or not attempt.fails_over or number == total:
            break
        avoid = (_tried(poll, connections),)
        delay = backoff_s * 2 ** (number - 1)
        report(
            f"attempt {number}/{total} failed for want of subnet capacity: reordering without "
            f"{avoid[0]} first and retrying in {delay:g} s"
        )
        await sleep(delay)
    outcome = JobRunOutcome(job.job_name, tuple(attempts))
    report(f"final state: {outcome.state} after {len(attempts)} attempt{'s' if len(attempts) != 1 else ''}")
    return outcome


def _figures(poll: JobPoll, connections: tuple[str, ...]) -> str:
    ranked = {r.name: r for r in poll.order.ranked} if poll.order else {}
    parts = []
    for name in connections:
        r = ranked.get(name)
        if r is None:
            parts.append(f"{name} (not managed)")
        elif r.tier is Tier.LAST:
            parts.append(f"{name} (last: {r.capacity.reason_last(poll.order.min_ips)})")  # type: ignore[union-attr]
        else:
            parts.append(f"{name} ({r.capacity.free_ips} free IPs, {r.tier.label})")
    need = f"; {poll.order.required_ips} IPs for the whole job" if poll.order else ""
    return ", ".join(parts) + need


def _tried(poll: JobPoll, connections: tuple[str, ...]) -> str:
    """The connection Glue would have picked: the first that passes its checks (or simply the first)."""
    usable = {r.name for r in poll.order.ranked if r.tier is not Tier.LAST} if poll.order else set()
    return next((c for c in connections if c in usable), connections[0] if connections else "")


async def _start(glue: Any, job_name: str, arguments: Mapping[str, str]) -> str:
    try:
        response = await glue.start_job_run(
            JobName=job_name, **({"Arguments": dict(arguments)} if arguments else {})
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ConcurrentRunsExceededException":
            raise GlueJobError(
                f"Glue job {job_name} is already running as often as it may; wait, or raise MaxConcurrentRuns"
            ) from exc
        raise GlueJobError(f"cannot start Glue job {job_name}: {describe_error(exc)}") from exc
    except BotoCoreError as exc:
        raise GlueJobError(f"cannot start Glue job {job_name}: {describe_error(exc)}") from exc
    return response["JobRunId"]


async def _follow(
    glue: Any, job_name: str, run_id: str, poll_s: float, sleep: Callable[[float], Awaitable[object]]
) -> tuple[str, str]:
    """(final JobRunState, ErrorMessage) of the run, asking GetJobRun every `poll_s` seconds."""
    while True:
        try:
            run = (await glue.get_job_run(JobName=job_name, RunId=run_id))["JobRun"]
        except (ClientError, BotoCoreError) as exc:
            raise GlueJobError(
                f"cannot follow run {run_id} of Glue job {job_name}: {describe_error(exc)}"
            ) from exc
        if run["JobRunState"] in FINAL_STATES:
            return run["JobRunState"], run.get("ErrorMessage", "")
        await sleep(poll_s)
