"""The subnet poller on the emulator: a job's connections follow its subnets' free IPs; nothing else moves."""

from __future__ import annotations

from structlog.testing import capture_logs

from service.connections.poller import SubnetPoller
from service.connections.sandbox import take_addresses
from service.settings import ManagedJob
from tests.connections.conftest import job_connections_now, poller_settings


def sample(metrics, name: str, **labels) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


def last_modified(emulator, job_name: str):
    return emulator.client("glue").get_job(JobName=job_name)["Job"]["LastModifiedOn"]


async def test_the_job_is_reordered_when_enis_fill_the_subnet_it_tries_first(
    clients, make_network, emulator, metrics
):
    network = make_network(workers=10)  # 11 IPs with the driver
    a, b, c = network.subnets
    job = network.managed_job()
    poller = SubnetPoller(*clients, poller_settings(job, poller_hysteresis_ips=5), metrics)

    (first,) = await poller.poll_once()
    assert not first.changed
    assert job_connections_now(emulator, job.job_name) == [a, b, c]
    assert sample(metrics, "icewatch_glue_connection_free_ips", job=job.job_name, connection=a) == 59
    assert sample(metrics, "icewatch_glue_job_first_connection_free_ips", job=job.job_name) == 59
    assert (
        sample(metrics, "icewatch_glue_connection_reorders_total", job=job.job_name, outcome="updated")
        is None
    )

    take_addresses(emulator.client("ec2"), network.subnets[a], 40)  # a: 19 free, b: 27
    with capture_logs() as logs:
        (second,) = await poller.poll_once()

    assert second.updated
    assert job_connections_now(emulator, job.job_name) == [b, a, c]
    assert (
        sample(metrics, "icewatch_glue_connection_reorders_total", job=job.job_name, outcome="updated") == 1
    )
    assert sample(metrics, "icewatch_glue_connection_free_ips", job=job.job_name, connection=a) == 19
    assert sample(metrics, "icewatch_glue_job_first_connection_free_ips", job=job.job_name) == 27
    (line,) = [e for e in logs if e["event"] == "glue_connections_reordered"]
    assert (line["old"], line["new"], line["dry_run"]) == ([a, b, c], [b, a, c], False)
    assert line["free_ips"] == {b: 27, a: 19, c: 11}
    assert line["tiers"] == {b: "full job", a: "full job", c: "full job"}
    assert line["required_ips"] == 11


async def test_swings_smaller_than_the_margin_leave_the_job_untouched(
    clients, make_network, emulator, metrics
):
    network = make_network()
    a, b, c = network.subnets
    job = network.managed_job()
    poller = SubnetPoller(*clients, poller_settings(job, poller_hysteresis_ips=5), metrics)
    stamp = last_modified(emulator, job.job_name)
    take_addresses(emulator.client("ec2"), network.subnets[a], 33)  # a: 26 free, b: 27
    (poll,) = await poller.poll_once()
    assert not poll.changed
    assert job_connections_now(emulator, job.job_name) == [a, b, c]
    assert last_modified(emulator, job.job_name) == stamp


async def test_dry_run_logs_and_counts_the_reorder_but_never_updates_the_job(
    clients, make_network, emulator, metrics
):
    network = make_network()
    a, b, c = network.subnets
    job = ManagedJob(job_name=network.job_name, connections=[c, b, a])  # configured worst first
    take_addresses(emulator.client("ec2"), network.subnets[a], 50)  # a: 9 free (usable), b: 27, c: 11
    stamp = last_modified(emulator, job.job_name)
    poller = SubnetPoller(*clients, poller_settings(job, poller_dry_run=True), metrics)
    with capture_logs() as logs:
        (poll,) = await poller.poll_once()
    assert (poll.changed, poll.updated, poll.dry_run) == (True, False, True)
    assert poll.after == (b, c, a)
    assert job_connections_now(emulator, job.job_name) == [a, b, c]
    assert last_modified(emulator, job.job_name) == stamp
    assert (
        sample(metrics, "icewatch_glue_connection_reorders_total", job=job.job_name, outcome="dry_run") == 1
    )
    assert [e["new"] for e in logs if e["event"] == "glue_connections_reordered"] == [[b, c, a]]


async def test_connections_the_poller_does_not_manage_stay_after_the_managed_ones(
    clients, make_network, emulator, metrics
):
    network = make_network()
    a, b, c = network.subnets
    glue = emulator.client("glue")
    job = glue.get_job(JobName=network.job_name)["Job"]
    glue.update_job(
        JobName=network.job_name,
        JobUpdate={
            "Role": job["Role"],
            "Command": job["Command"],
            "WorkerType": "G.1X",
            "NumberOfWorkers": 10,
            "Connections": {"Connections": ["jdbc-warehouse", c, "vpn", a]},  # b missing, others first
        },
    )
    poller = SubnetPoller(*clients, poller_settings(network.managed_job()), metrics)
    await poller.poll_once()
    assert job_connections_now(emulator, network.job_name) == [a, b, c, "jdbc-warehouse", "vpn"]


async def test_a_connection_that_cannot_be_resolved_is_logged_once_counted_and_kept_last(
    clients, make_network, emulator, metrics
):
    network = make_network()
    a, b, c = network.subnets
    emulator.client("ec2").delete_subnet(SubnetId=network.subnets[a])
    job = ManagedJob(job_name=network.job_name, connections=["gone", a, b, c])
    poller = SubnetPoller(*clients, poller_settings(job), metrics)
    with capture_logs() as logs:
        await poller.poll_once()
        await poller.poll_once()
    assert job_connections_now(emulator, network.job_name) == [b, c, "gone", a]
    unresolved = {(e["connection"], e["reason"]) for e in logs if e["event"] == "glue_connection_unresolved"}
    assert unresolved == {("gone", "connection not found"), (a, f"subnet {network.subnets[a]} not found")}
    assert (
        len([e for e in logs if e["event"] == "glue_connection_unresolved"]) == 2
    )  # once each, not per poll
    errors = sample(
        metrics, "icewatch_subnet_poll_errors_total", job=network.job_name, reason="connection_lookup"
    )
    assert errors == 4  # two connections, two polls


async def test_a_connection_in_a_zone_that_is_not_available_goes_last(
    clients, make_network, emulator, metrics
):
    network = make_network()
    a, b, c = network.subnets
    poller = SubnetPoller(*clients, poller_settings(network.managed_job()), metrics)
    with emulator.zone_state("us-east-1a", "impaired"):
        (poll,) = await poller.poll_once()
    assert job_connections_now(emulator, network.job_name) == [b, c, a]
    assert poll.order.ranked[-1].capacity.reason_last(2) == "zone us-east-1a is impaired"


async def test_a_job_that_cannot_be_read_does_not_stop_the_others(clients, make_network, emulator, metrics):
    network = make_network()
    a, b, c = network.subnets
    take_addresses(emulator.client("ec2"), network.subnets[a], 50)
    missing = ManagedJob(job_name="no-such-job", connections=[a, b])
    poller = SubnetPoller(*clients, poller_settings(missing, network.managed_job()), metrics)
    gone, good = await poller.poll_once()
    assert "not found" in gone.error
    assert good.updated
    assert job_connections_now(emulator, network.job_name) == [b, c, a]
    assert sample(metrics, "icewatch_subnet_poll_errors_total", job="no-such-job", reason="get_job") == 1


async def test_without_a_single_figure_the_job_is_left_as_it_is(clients, make_network, emulator, metrics):
    network = make_network()
    for subnet in network.subnets.values():
        emulator.client("ec2").delete_subnet(SubnetId=subnet)
    job = ManagedJob(job_name=network.job_name, connections=list(reversed(network.subnets)))
    stamp = last_modified(emulator, network.job_name)
    (poll,) = await SubnetPoller(*clients, poller_settings(job), metrics).poll_once()
    assert (poll.changed, poll.error) == (False, "no subnet could be measured")
    assert last_modified(emulator, network.job_name) == stamp
    assert (
        sample(metrics, "icewatch_subnet_poll_errors_total", job=network.job_name, reason="no_figures") == 1
    )
