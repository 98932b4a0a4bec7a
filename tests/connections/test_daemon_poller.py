"""`icewatch run` with ICEWATCH_GLUE_JOBS: the subnet poller is a root task of the daemon."""

from __future__ import annotations

import asyncio
import urllib.request

from service.app import Daemon, run_daemon
from service.connections.sandbox import take_addresses
from service.sandbox import create_sandbox
from service.settings import CatalogSettings, DaemonSettings, PollerSettings, Settings
from tests.connections.conftest import job_connections_now


async def test_the_daemon_keeps_a_managed_jobs_connections_in_order_and_exports_the_figures(
    emulator, aws_env, make_network
):
    network = make_network()
    a, b, c = network.subnets
    sandbox = create_sandbox(emulator, name="subnet-poller-daemon")
    settings = Settings(
        catalog=CatalogSettings(catalog_properties={"type": "glue", "warehouse": sandbox.warehouse}),
        daemon=DaemonSettings(
            queue_url=sandbox.queue_url, http_port=0, state_url="sqlite:///:memory:", sweep_interval_s=0
        ),
        poller=PollerSettings(glue_jobs=[network.managed_job()], poll_interval_s=0.2),
    )
    take_addresses(emulator.client("ec2"), network.subnets[a], 50)  # a: 9 free, can't hold the job
    stop, started = asyncio.Event(), asyncio.Event()
    running: list[Daemon] = []

    async def on_start(daemon: Daemon) -> None:
        running.append(daemon)
        started.set()

    task = asyncio.create_task(run_daemon(settings, stop, on_start))
    try:
        await asyncio.wait_for(started.wait(), timeout=30)
        assert "subnet-poller" in {t.get_name() for t in asyncio.all_tasks()}
        for _ in range(200):
            if await asyncio.to_thread(job_connections_now, emulator, network.job_name) == [b, c, a]:
                break
            await asyncio.sleep(0.1)
        assert await asyncio.to_thread(job_connections_now, emulator, network.job_name) == [b, c, a]
        url = f"http://127.0.0.1:{running[0].http.port}/metrics"
        text = await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=10).read().decode())
        assert f'icewatch_glue_connection_free_ips{{connection="{a}",job="{network.job_name}"}} 9.0' in text
        assert (
            f'icewatch_glue_connection_reorders_total{{job="{network.job_name}",outcome="updated"}} 1.0'
            in text
        )
    finally:
        stop.set()
        assert await asyncio.wait_for(task, timeout=60) == 0
