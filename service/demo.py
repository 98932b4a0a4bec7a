"""`icewatch demo`: the whole pipeline on an embedded emulator, with a live view in the terminal.

The emulator (moto server) plays AWS: an SQS queue with a DLQ fed by an EventBridge rule, a Glue
catalog and S3. A writer commits to three sample tables at different rates — `orders` steadily
with skewed regions, `events` in many small appends (small files pile up), `customers` a few times
and then never again (freshness grows) — and, since moto's Glue emits no events, publishes the
Glue-shaped events with EventBridge PutEvents exactly as AWS would. The real daemon runs against it.
A VPC with three subnets of different sizes backs a managed Glue job's connections; other workloads
fill the subnet the job tries first, and the daemon's subnet poller reorders the job's connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import sys
import threading
import time
import warnings
from dataclasses import dataclass

import structlog
from pyiceberg.catalog import Catalog

from service.app import Daemon, run_daemon
from service.connections.sandbox import AddressConsumer, NetworkSandbox, create_network_sandbox, poller_view
from service.emulator import Emulator
from service.iceberg.catalog import open_catalog
from service.logs import configure_logging
from service.render import live_view
from service.samples import DATABASE, commit_batch, create_sample_tables
from service.sandbox import GlueEvents, Sandbox, create_sandbox
from service.settings import CatalogSettings, Settings

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Cadence:
    """How a sample table is written: seconds between commits, and how many commits in all."""

    every_s: float
    commits: int | None = None  # None: until the demo ends


CADENCES = {
    "orders": Cadence(1.5),
    "events": Cadence(0.5),
    "customers": Cadence(2.0, commits=3),  # then it stops: watch its freshness grow
}


class DemoWriter(threading.Thread):
    """Commits to the sample tables on their cadences and emits a Glue event after each commit."""

    def __init__(self, catalog: Catalog, events: GlueEvents, seed: int) -> None:
        super().__init__(name="demo-writer", daemon=True)
        self._catalog = catalog
        self._events = events
        self._rng = random.Random(seed)
        self.stopped = threading.Event()
        self.commits = 0

    def run(self) -> None:
        # pyiceberg warns when an overwrite's delete matches nothing: expected on a first commit.
        warnings.filterwarnings("ignore", "Delete operation did not match any records")
        tables = {t.name()[-1]: t for t in create_sample_tables(self._catalog)}
        self._events.tables_changed(DATABASE, sorted(tables), "CreateTable")
        due = dict.fromkeys(tables, time.monotonic())
        done = dict.fromkeys(tables, 0)
        while not self.stopped.is_set():
            now = time.monotonic()
            for name, table in tables.items():
                cadence = CADENCES[name]
                if now < due[name] or (cadence.commits is not None and done[name] >= cadence.commits):
                    continue
                try:
                    commit_batch(table, self._rng)
                    self._events.table_changed(DATABASE, name)
                    done[name] += 1
                    self.commits += 1
                except Exception as exc:  # the demo goes on; the daemon's view shows what landed
                    log.warning("demo_commit_failed", table=name, error=str(exc)[:200])
                due[name] = now + cadence.every_s
            self.stopped.wait(0.05)


def run_demo(settings: Settings, duration_s: float, seed: int) -> int:
    """Run the emulator, the writer and the daemon for `duration_s` seconds (or until Ctrl-C)."""
    if "ICEWATCH_LOG_LEVEL" not in os.environ:
        configure_logging("WARNING")  # keep the live view readable; warnings still show
    with Emulator() as emulator:
        sandbox = create_sandbox(emulator, name="icewatch-demo")
        # The daemon and pyiceberg find the emulator through the standard AWS variables, as in AWS.
        os.environ.update(emulator.environ())
        network = create_network_sandbox(emulator, name="demo")  # a VPC, 3 subnets, a managed Glue job
        demo_settings = _demo_settings(settings, sandbox, network)
        addresses = AddressConsumer(emulator, network)  # fills the subnet the job tries first
        catalog = open_catalog(demo_settings.catalog)
        writer = DemoWriter(catalog, GlueEvents(emulator, sandbox), seed)
        print(
            f"icewatch demo: emulator on {emulator.endpoint}, queue {sandbox.queue_url}\n"
            f"writing to {', '.join(f'{DATABASE}.{t}' for t in CADENCES)} for {duration_s:.0f} s "
            f"(Ctrl-C stops); small-file finding at {DEMO_SMALL_FILES} files for the demo\n"
            f"Glue job {network.job_name}: connections {', '.join(network.subnets)} (59, 27, 11 free IPs); "
            f"other workloads fill its first subnet, the poller reorders every {DEMO_POLL_INTERVAL_S:.0f} s",
            flush=True,
        )
        writer.start()
        addresses.start()
        try:
            code = asyncio.run(_run(demo_settings, duration_s, writer))
        finally:
            writer.stopped.set()
            addresses.stopped.set()
            writer.join(timeout=30)
            addresses.join(timeout=30)
    return code


DEMO_SMALL_FILES = 25  # Glue's trigger is 100 small files; the demo shows the finding within a minute
DEMO_POLL_INTERVAL_S = 5.0  # the daemon's default is a minute; the demo shows reorders within its 45 s


def _demo_settings(settings: Settings, sandbox: Sandbox, network: NetworkSandbox) -> Settings:
    catalog = CatalogSettings(
        catalog_name="demo", catalog_properties={"type": "glue", "warehouse": sandbox.warehouse}
    )
    return settings.model_copy(
        update={
            "catalog": catalog,
            # A fresh emulator each run: its watermarks must not outlive it.
            "daemon": settings.daemon.model_copy(
                update={"queue_url": sandbox.queue_url, "state_url": "sqlite:///:memory:"}
            ),
            "health": settings.health.model_copy(update={"compact_min_small_files": DEMO_SMALL_FILES}),
            "poller": settings.poller.model_copy(
                update={"glue_jobs": [network.managed_job()], "poll_interval_s": DEMO_POLL_INTERVAL_S}
            ),
        }
    )


async def _run(settings: Settings, duration_s: float, writer: DemoWriter) -> int:
    stop = asyncio.Event()
    views: list[asyncio.Task[None]] = []

    async def on_start(daemon: Daemon) -> None:
        print(f"metrics: http://127.0.0.1:{daemon.http.port}/metrics\n", flush=True)
        asyncio.get_running_loop().call_later(duration_s, stop.set)
        views.append(asyncio.create_task(_show(daemon, stop, writer), name="live-view"))

    code = await run_daemon(settings, stop, on_start)
    await asyncio.gather(*views)
    return code


async def _show(daemon: Daemon, stop: asyncio.Event, writer: DemoWriter) -> None:
    """Redraw the per-table view every few seconds; print the totals once at the end."""
    tty = sys.stdout.isatty()
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=2.0 if tty else 5.0)
        text = live_view(daemon.exporter.view(), time.time()) + poller_view(daemon)
        print(("\033[2J\033[H" if tty else "") + text + "\n", flush=True)
    registry = daemon.metrics.registry
    calls = registry.get_sample_value("icewatch_put_metric_data_calls_total") or 0
    datums = registry.get_sample_value("icewatch_put_metric_data_datums_total") or 0
    snapshots = registry.get_sample_value("icewatch_snapshots_published_total") or 0
    print(
        f"demo done: {writer.commits} commits written, {snapshots:.0f} snapshots published, "
        f"{datums:.0f} datums in {calls:.0f} PutMetricData calls",
        flush=True,
    )
    print(poller_view(daemon, summary=True).strip(), flush=True)
