"""`run-job`'s workflow on the emulator: reorder, run, and fail over when the subnet was the problem."""

from __future__ import annotations

import pytest

from service.connections.poller import SubnetPoller
from service.connections.run_job import is_subnet_failure, run_job
from service.connections.sandbox import take_addresses
from service.telemetry import ServiceMetrics
from tests.connections.conftest import poller_settings

NO_ADDRESSES = "The specified subnet does not have enough free addresses to satisfy the request."


class Backoff:
    """Stands in for asyncio.sleep: records the waits, and lets the world change while "waiting"."""

    def __init__(self, meanwhile=None) -> None:
        self.waits: list[float] = []
        self._meanwhile = meanwhile

    async def __call__(self, seconds: float) -> None:
        if seconds > 0:  # GetJobRun polls wait 0 s here
            self.waits.append(seconds)
            if self._meanwhile:
                self._meanwhile()


async def run(clients, network, backoff, lines, retries=2):
    glue, ec2 = clients
    job = network.managed_job()
    poller = SubnetPoller(glue, ec2, poller_settings(job), ServiceMetrics())
    return await run_job(
        poller, glue, job, retries=retries, backoff_s=30, poll_s=0, report=lines.append, sleep=backoff
    )


async def test_a_run_that_failed_for_want_of_addresses_is_retried_first_in_another_subnet_and_succeeds(
    clients, make_network, emulator
):
    network = make_network(workers=4)  # 5 IPs: every subnet can hold it
    a, b, c = network.subnets
    emulator.script_job_runs(network.job_name, [("FAILED", NO_ADDRESSES)])
    backoff, lines = Backoff(), []

    outcome = await run(clients, network, backoff, lines)

    assert outcome.succeeded
    started = [r.connections for r in emulator.started_runs(network.job_name)]
    assert started == [(a, b, c), (b, c, a)]  # a was tried and failed: last of its tier for the retry
    assert [at.state for at in outcome.attempts] == ["FAILED", "SUCCEEDED"]
    assert backoff.waits == [30]
    assert lines[0].startswith(f"attempt 1/3: {network.job_name} runs with {a} (59 free IPs, full job)")
    assert any(NO_ADDRESSES in line for line in lines)
    assert "retrying in 30 s" in lines[2]
    assert lines[-1] == "final state: SUCCEEDED after 2 attempts"


async def test_the_retry_orders_by_the_figures_after_the_failure_not_before(clients, make_network, emulator):
    network = make_network(workers=10)  # 11 IPs
    a, b, c = network.subnets
    ec2 = emulator.client("ec2")
    take_addresses(ec2, network.subnets[a], 50)  # a: 9 free (usable), b: 27, c: 11 (both hold the job)
    emulator.script_job_runs(network.job_name, [("FAILED", NO_ADDRESSES)])
    # The failed run's ENIs linger in b, as Glue's do: b drops to 7 free while we back off.
    backoff = Backoff(meanwhile=lambda: take_addresses(ec2, network.subnets[b], 20))

    outcome = await run(clients, network, backoff, [])

    assert outcome.succeeded
    started = [r.connections for r in emulator.started_runs(network.job_name)]
    assert started == [(b, c, a), (c, a, b)]


async def test_a_failure_another_subnet_cannot_fix_is_final(clients, make_network, emulator):
    network = make_network()
    emulator.script_job_runs(network.job_name, [("FAILED", "ZeroDivisionError: division by zero")])
    backoff, lines = Backoff(), []
    outcome = await run(clients, network, backoff, lines)
    assert (outcome.state, len(outcome.attempts), backoff.waits) == ("FAILED", 1, [])
    assert lines[-1] == "final state: FAILED after 1 attempt"


async def test_retries_back_off_exponentially_and_then_give_up(clients, make_network, emulator):
    network = make_network()
    emulator.script_job_runs(network.job_name, [("FAILED", NO_ADDRESSES)] * 3)
    backoff = Backoff()
    outcome = await run(clients, network, backoff, [], retries=2)
    assert (outcome.state, len(outcome.attempts)) == ("FAILED", 3)
    assert backoff.waits == [30, 60]


@pytest.mark.parametrize(
    ("message", "fails_over"),
    [
        (NO_ADDRESSES, True),
        ("Failed to create ENI: InsufficientFreeAddressesInSubnet", True),
        ("Not enough free IP addresses in subnet subnet-0abc for 11 workers", True),
        ("The availability zone us-east-1a is currently unavailable", True),
        ("InvalidSubnetID.NotFound: The subnet ID 'subnet-0abc' does not exist", True),
        ("ZeroDivisionError: division by zero", False),
        ("Command failed with exit code 1", False),
        ("", False),
    ],
)
def test_which_failures_another_subnet_may_fix(message, fails_over):
    assert is_subnet_failure(message) is fails_over
