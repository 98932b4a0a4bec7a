"""The composition root of `icewatch run`: builds everything, runs the root tasks, shuts down in order.

Root tasks: the SQS consumer, the CloudWatch publisher, the freshness timer, the reconcile sweep
(Glue catalogs), the subnet poller (when ICEWATCH_GLUE_JOBS names jobs) and a loop watchdog; the HTTP
server runs beside them.
Order on SIGTERM/SIGINT: stop receiving -> finish in-flight messages within the deadline -> flush
the publisher -> stop the HTTP server. If any root task ends on its own (a crash), the others are
stopped the same way and the process exits 1 rather than running half-alive.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aioboto3
import structlog
from botocore.config import Config

from service.cadence import StateCadence
from service.collection import TableCollector
from service.connections.poller import SubnetPoller
from service.consumer import ConsumerConfig, SqsConsumer
from service.errors import SettingsError
from service.exporter import TableMetricsExporter
from service.filters import TableFilter
from service.freshness import FreshnessTimer
from service.http import HttpServer, LoopWatchdog, build_app
from service.iceberg.catalog import open_catalog
from service.iceberg.manifests import ManifestAggregateCache, ManifestReader
from service.periodic import every
from service.processor import TableProcessor
from service.publisher import CloudWatchPublisher
from service.scheduler import TableScheduler
from service.settings import Settings
from service.state import open_state_store
from service.sweep import ReconcileSweep
from service.telemetry import ServiceMetrics

log = structlog.get_logger(__name__)

# SQS: botocore retries transient errors; CloudWatch: the publisher retries itself, with backoff,
# so botocore makes exactly one attempt (`max_attempts` would count retries, not attempts).
_SQS_CONFIG = Config(retries={"mode": "standard", "total_max_attempts": 4}, read_timeout=30)
# Parameter validation off: the publisher builds every entry itself (finite values, valid units).
_CLOUDWATCH_CONFIG = Config(
    retries={"mode": "standard", "total_max_attempts": 1}, read_timeout=30, parameter_validation=False
)


@dataclass
class Daemon:
    """The running pieces, exposed for tests and the demo's live view."""

    metrics: ServiceMetrics
    exporter: TableMetricsExporter
    consumer: SqsConsumer
    processor: TableProcessor
    http: HttpServer
    poller: SubnetPoller | None = None  # the subnet-capacity poller, when Glue jobs are managed


async def run_daemon(
    settings: Settings,
    stop: asyncio.Event | None = None,
    on_start: Callable[[Daemon], Awaitable[None] | None] | None = None,
) -> int:
    """Run until `stop` is set or SIGTERM/SIGINT arrives; returns the process exit code."""
    daemon_settings = settings.daemon
    if not daemon_settings.queue_url:
        raise SettingsError("ICEWATCH_QUEUE_URL is required for `icewatch run`")
    table_filter = TableFilter(daemon_settings.include_tables, daemon_settings.exclude_tables)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        # The handler only sets a flag; shutdown runs below, in order.
        loop.add_signal_handler(sig, stop.set)

    # botocore reads AWS_DEFAULT_REGION only; ECS and most tools set AWS_REGION too.
    session = aioboto3.Session(
        region_name=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    )
    async with (
        session.client("sqs", config=_SQS_CONFIG) as sqs,
        session.client("cloudwatch", config=_CLOUDWATCH_CONFIG) as cloudwatch,
        session.client("glue", config=_SQS_CONFIG) as glue,
        session.client("ec2", config=_SQS_CONFIG) as ec2,  # the subnet poller's; opening makes no call
        open_state_store(daemon_settings.state_url) as store,
    ):
        metrics = ServiceMetrics()
        exporter = TableMetricsExporter()
        metrics.registry.register(exporter)
        catalog = open_catalog(settings.catalog)
        collector = TableCollector(
            ManifestReader(ManifestAggregateCache(settings.metrics.manifest_cache_entries)), settings
        )
        publisher = CloudWatchPublisher(
            cloudwatch,
            settings.metrics.cloudwatch_namespace,
            metrics,
            max_calls_per_s=daemon_settings.cloudwatch_max_calls_per_s,
            flush_interval_s=daemon_settings.flush_interval_s,
        )
        processor = TableProcessor(
            catalog,
            collector,
            publisher,
            exporter,
            metrics,
            store,
            owner=f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}",
            watch_started_ms=await store.watch_started_ms(),
            threads=daemon_settings.catalog_threads,
            lease_ttl_s=daemon_settings.lease_ttl_s,
            cadence=StateCadence(daemon_settings.state_publish_interval_s),
        )
        scheduler = TableScheduler(processor.process, daemon_settings.max_tables_in_flight)
        consumer = SqsConsumer(
            sqs,
            ConsumerConfig(
                queue_url=daemon_settings.queue_url,
                visibility_timeout_s=daemon_settings.visibility_timeout_s,
                max_messages_in_flight=daemon_settings.max_tables_in_flight * 4,
                receive_batch_window_s=daemon_settings.receive_batch_window_s,
            ),
            processor,
            scheduler,
            table_filter,
            metrics,
        )
        watchdog = LoopWatchdog()
        http = HttpServer(
            build_app(metrics.registry, lambda: _ready(consumer), watchdog), daemon_settings.http_port
        )
        await http.start()
        poller = SubnetPoller(glue, ec2, settings.poller, metrics) if settings.poller.glue_jobs else None
        daemon = Daemon(metrics, exporter, consumer, processor, http, poller)
        freshness = FreshnessTimer(
            store,
            publisher,
            exporter,
            daemon_settings.freshness_interval_s,
            daemon_settings.freshness_max_tables,
        )
        roots = {
            asyncio.create_task(consumer.run(), name="sqs-consumer"),
            asyncio.create_task(publisher.run(), name="cloudwatch-publisher"),
            asyncio.create_task(watchdog.run(), name="loop-watchdog"),
            asyncio.create_task(freshness.run(), name="freshness-timer"),
        }
        if daemon_settings.state_publish_interval_s > 0:
            held = every(
                min(5.0, daemon_settings.state_publish_interval_s / 4),
                processor.publish_held_states,
                "held_states",
            )
            roots.add(asyncio.create_task(held, name="held-states"))
        if daemon_settings.sweep_interval_s > 0 and _is_glue(settings):
            sweep = ReconcileSweep(
                glue, store, scheduler.request, table_filter, daemon_settings.sweep_interval_s, metrics
            )
            roots.add(asyncio.create_task(sweep.run(), name="reconcile-sweep"))
        if poller is not None:
            roots.add(asyncio.create_task(poller.run(), name="subnet-poller"))
        log.info("daemon_started", queue_url=daemon_settings.queue_url, http_port=http.port)
        if on_start is not None:
            started = on_start(daemon)
            if asyncio.iscoroutine(started):
                await started

        stopping = asyncio.create_task(stop.wait(), name="stop-signal")
        done, _ = await asyncio.wait(roots | {stopping}, return_when=asyncio.FIRST_COMPLETED)
        crashed = [t for t in done if t is not stopping]
        for task in crashed:
            error = task.exception() if not task.cancelled() else None
            log.error("root_task_ended", task=task.get_name(), error=repr(error))
        exit_code = 1 if crashed else 0

        deadline = time.monotonic() + daemon_settings.shutdown_timeout_s
        consumer.stop()
        publisher.hurry()  # in-flight messages wait on their acknowledgements: don't hold datums back
        left = await consumer.drain(max(0.0, deadline - time.monotonic() - 2.0))
        await scheduler.cancel_all()
        try:
            await asyncio.wait_for(processor.publish_held_states(everything=True), 2.0)
        except Exception as exc:
            log.warning("held_states_lost", error=repr(exc)[:300])
        try:
            await asyncio.shield(publisher.close(max(0.5, deadline - time.monotonic())))
        except Exception as exc:
            log.error("publisher_close_failed", error=str(exc)[:300])
        stopping.cancel()
        for task in roots:
            task.cancel()
        await asyncio.gather(*roots, stopping, return_exceptions=True)
        await asyncio.shield(http.stop())
        processor.close()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        log.info("daemon_stopped", exit_code=exit_code, messages_left=left)
        return exit_code


def _is_glue(settings: Settings) -> bool:
    # The sweep lists tables with Glue's API; other catalogs rely on events alone.
    return str(settings.catalog.catalog_properties.get("type", "")).lower() == "glue"


def _ready(consumer: SqsConsumer) -> tuple[bool, str]:
    return (True, "ready") if consumer.connected else (False, "waiting for the first SQS receive")
