"""The demo's network: other workloads fill the subnet the job tries first until the poller moves the job."""

from __future__ import annotations

from service.connections.poller import SubnetPoller
from service.connections.sandbox import AddressConsumer, create_network_sandbox
from tests.connections.conftest import job_connections_now, poller_settings


async def test_workloads_fill_the_first_subnet_until_the_job_moves_and_it_moves_back_when_they_end(
    clients, emulator, metrics
):
    network = create_network_sandbox(emulator, name="demo-network-test")  # the demo's own subnets
    a, b, c = network.subnets
    consumer = AddressConsumer(emulator, network, ips=8, hold_s=20)
    poller = SubnetPoller(*clients, poller_settings(network.managed_job(), poller_hysteresis_ips=5), metrics)

    steps = 0
    while job_connections_now(emulator, network.job_name)[0] == a:
        assert consumer.step(now=float(steps)) == a
        await poller.poll_once()
        steps += 1
        assert steps < 10, "the job never left its filling subnet"
    assert steps == 5  # 59 - 5 x 8 = 19 free in a: b's 27 is more than the 5-IP margin ahead
    assert job_connections_now(emulator, network.job_name) == [b, a, c]

    # Those workloads end (their ENIs go) and a new one starts in b: a is the roomiest again.
    assert consumer.step(now=100.0) == b
    await poller.poll_once()
    assert job_connections_now(emulator, network.job_name) == [a, b, c]
    assert (
        metrics.registry.get_sample_value(
            "icewatch_glue_connection_reorders_total", {"job": network.job_name, "outcome": "updated"}
        )
        == 2
    )
