"""The subnet-capacity poller: every interval, each managed Glue job gets its connections in the right order.

One poll reads every managed connection's subnet once (one DescribeSubnets, one
DescribeAvailabilityZones, a GetConnection each) and each job's definition (GetJob, for its size and
current order), orders each job's connections (service.connections.ordering) and calls UpdateJob for a
job whose order should change, unless dry-run. A job that can't be read or updated is logged and
counted; the other jobs go on, and so does the next poll.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import structlog

from service.connections import GlueJobError
from service.connections.aws import current_connections, read_capacities, read_job, update_job_connections
from service.connections.ordering import (
    ConnectionCapacity,
    ConnectionOrder,
    job_connections,
    order_connections,
    required_ips,
)
from service.periodic import every
from service.settings import ManagedJob, PollerSettings
from service.telemetry import ServiceMetrics


@dataclass(frozen=True)
class JobPoll:
    """One job's poll: its connections before, as they should be, and whether the job was updated."""

    job_name: str
    before: tuple[str, ...]
    after: tuple[str, ...]
    order: ConnectionOrder | None = None  # None when the job couldn't be read
    updated: bool = False
    dry_run: bool = False
    error: str | None = None

    @property
    def changed(self) -> bool:
        """The order should change (and did, unless dry-run or the update failed)."""
        return self.after != self.before


def required_ips_of(job: ManagedJob, definition: Mapping[str, Any]) -> int:
    """The managed job's `full_ips`, or its size from GetJob: workers + driver."""
    if job.full_ips is not None:
        return job.full_ips
    workers = definition.get("NumberOfWorkers")
    return required_ips(workers, None if workers else definition.get("MaxCapacity"))


class SubnetPoller:
    """Keeps the managed jobs' connection order current; `poll_once` is one round, `run` the root task."""

    def __init__(self, glue: Any, ec2: Any, settings: PollerSettings, metrics: ServiceMetrics) -> None:
        self._glue = glue
        self._ec2 = ec2
        self._settings = settings
        self._metrics = metrics
        self._lookup_errors: dict[str, str] = {}  # connection -> reason last logged
        self._log = structlog.get_logger(__name__)  # per poller: a test's capture_logs sees its lines
        self.latest: dict[str, JobPoll] = {}  # job -> its last poll, for the demo's live view

    async def run(self) -> None:
        """Root task: one poll per interval."""
        await every(self._settings.poll_interval_s, self.poll_once, "subnet_poll")

    async def poll_once(self) -> list[JobPoll]:
        """Every configured job, with the settings' dry-run and hysteresis."""
        return await self.reorder(self._settings.glue_jobs, dry_run=self._settings.poller_dry_run)

    async def reorder(
        self,
        jobs: Sequence[ManagedJob],
        *,
        dry_run: bool,
        hysteresis_ips: int | None = None,
        avoid: Collection[str] = (),
    ) -> list[JobPoll]:
        """Read the figures once for all `jobs`, then order and update each (see `order_connections`)."""
        capacities = await read_capacities(
            self._glue, self._ec2, (c for job in jobs for c in job.connections)
        )
        self._log_lookups(capacities)
        margin = self._settings.poller_hysteresis_ips if hysteresis_ips is None else hysteresis_ips
        polls = await asyncio.gather(
            *(self._poll_job(job, capacities, dry_run, margin, avoid) for job in jobs)
        )
        self.latest.update((p.job_name, p) for p in polls)
        return list(polls)

    async def _poll_job(
        self,
        job: ManagedJob,
        capacities: Mapping[str, ConnectionCapacity],
        dry_run: bool,
        margin: int,
        avoid: Collection[str],
    ) -> JobPoll:
        name = job.job_name
        for connection in job.connections:
            if capacities[connection].error is not None:
                self._metrics.subnet_poll_errors.labels(name, "connection_lookup").inc()
        try:
            definition = await read_job(self._glue, name)
        except GlueJobError as exc:
            self._metrics.subnet_poll_errors.labels(name, "get_job").inc()
            self._log.warning("glue_job_unreadable", job=name, error=str(exc))
            return JobPoll(name, (), (), dry_run=dry_run, error=str(exc))
        before = tuple(current_connections(definition))
        order = order_connections(
            [capacities[c] for c in job.connections],
            required_ips_of(job, definition),
            job.strategy,
            previous=before,
            hysteresis_ips=margin,
            min_ips=job.min_ips,
            seed=name,
            avoid=avoid,
        )
        self._export(name, order)
        if not order.measured:
            # No figure at all (e.g. DescribeSubnets denied): the configured order would be a guess.
            self._metrics.subnet_poll_errors.labels(name, "no_figures").inc()
            self._log.warning(
                "glue_job_left_as_is", job=name, reason="no connection's subnet could be measured"
            )
            return JobPoll(name, before, before, order, dry_run=dry_run, error="no subnet could be measured")
        after = tuple(job_connections(order.names, before, job.connections))
        if after == before:
            self._export_first(name, before, capacities)
            return JobPoll(name, before, after, order, dry_run=dry_run)
        error = None
        if not dry_run:
            try:
                await update_job_connections(self._glue, definition, after)
            except GlueJobError as exc:
                error = str(exc)
                self._metrics.subnet_poll_errors.labels(name, "update_job").inc()
        updated = not dry_run and error is None
        self._export_first(name, after if updated else before, capacities)
        if error is None:
            self._metrics.connection_reorders.labels(name, "dry_run" if dry_run else "updated").inc()
        self._log.info(
            "glue_connections_reordered" if error is None else "glue_connections_reorder_failed",
            job=name,
            old=list(before),
            new=list(after),
            dry_run=dry_run,
            strategy=order.strategy,
            required_ips=order.required_ips,
            free_ips={r.name: r.capacity.free_ips for r in order.ranked},
            tiers={r.name: r.tier.label for r in order.ranked},
            **({"error": error} if error else {}),
        )
        return JobPoll(name, before, after, order, updated=updated, dry_run=dry_run, error=error)

    def _export(self, job: str, order: ConnectionOrder) -> None:
        gauge = self._metrics.connection_free_ips
        for ranked in order.ranked:
            if ranked.capacity.free_ips is None:
                with contextlib.suppress(KeyError):  # a stale figure would look current
                    gauge.remove(job, ranked.name)
            else:
                gauge.labels(job, ranked.name).set(ranked.capacity.free_ips)

    def _export_first(
        self, job: str, connections: Sequence[str], capacities: Mapping[str, ConnectionCapacity]
    ) -> None:
        first = capacities.get(connections[0]) if connections else None
        if first is not None and first.free_ips is not None:
            self._metrics.job_first_connection_free_ips.labels(job).set(first.free_ips)
        else:  # unknown or unmanaged: a stale figure would look current
            with contextlib.suppress(KeyError):
                self._metrics.job_first_connection_free_ips.remove(job)

    def _log_lookups(self, capacities: Mapping[str, ConnectionCapacity]) -> None:
        """A failed lookup is logged when it starts or its reason changes, not on every poll."""
        for name, capacity in capacities.items():
            if capacity.error is not None and self._lookup_errors.get(name) != capacity.error:
                self._log.warning(
                    "glue_connection_unresolved", connection=name, reason=capacity.error, kept="last"
                )
                self._lookup_errors[name] = capacity.error
            elif capacity.error is None and self._lookup_errors.pop(name, None) is not None:
                self._log.info("glue_connection_resolved", connection=name, subnet=capacity.subnet_id)
