"""What moto 5.2.5 lacks for icewatch's Glue connection workflows, added to the in-process moto server.

- Glue `UpdateJob`: moto has none. AWS's semantics: "the previous job definition is completely
  overwritten", so a field the JobUpdate omits goes back to what moto's CreateJob gives an omitted field;
  AWS's checks: Role and Command are required, MaxCapacity not with WorkerType/NumberOfWorkers, not both
  AllocatedCapacity and MaxCapacity. JobUpdate fields moto's job model doesn't store (JobMode,
  MaintenanceWindow, ...) are kept and returned by GetJob, so a round trip can be checked for them too.
- GetJob of a job sized by WorkerType x NumberOfWorkers reports the DPUs as MaxCapacity and
  AllocatedCapacity, as AWS does (and why a GetJob -> UpdateJob round trip must drop them).
- Job-run outcomes: moto runs every job run to SUCCEEDED. `script_job_runs` queues, per job, the final
  state and ErrorMessage of its next runs; `started_runs` tells which connections each run was started with.
- Availability zone state: moto's zones are always `available`; `zone_state` changes one for a while.

`install()` patches moto's classes once; a job without scripted runs behaves as in moto otherwise.
"""

from __future__ import annotations

import contextlib
import copy
import threading
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

_lock = threading.Lock()
_scripts: dict[str, deque[tuple[str, str]]] = {}
_started: dict[str, list[StartedRun]] = {}
_installed = False

# JobUpdate member -> moto's FakeJob attribute, and the value moto's CreateJob gives it when omitted.
_MOTO_JOB_FIELDS: dict[str, tuple[str, Any]] = {
    "Description": ("description", None),
    "LogUri": ("log_uri", None),
    "Role": ("role", None),
    "ExecutionProperty": ("execution_property", {}),
    "Command": ("command", None),
    "DefaultArguments": ("default_arguments", {}),
    "NonOverridableArguments": ("non_overridable_arguments", None),
    "Connections": ("connections", None),
    "MaxRetries": ("max_retries", None),
    "AllocatedCapacity": ("allocated_capacity", None),
    "Timeout": ("timeout", None),
    "MaxCapacity": ("max_capacity", None),
    "SecurityConfiguration": ("security_configuration", None),
    "NotificationProperty": ("notification_property", None),
    "GlueVersion": ("glue_version", None),
    "NumberOfWorkers": ("number_of_workers", None),
    "WorkerType": ("worker_type", None),
    "CodeGenConfigurationNodes": ("code_gen_configuration_nodes", None),
    "ExecutionClass": ("execution_class", "STANDARD"),
    "SourceControlDetails": ("source_control_details", None),
}
_DPUS_PER_WORKER = {"G.025X": 0.25, "G.1X": 1, "G.2X": 2, "G.4X": 4, "G.8X": 8, "Z.2X": 2, "Standard": 1}


@dataclass(frozen=True)
class StartedRun:
    """A job run as StartJobRun saw it: its id and the job's connections at that moment."""

    run_id: str
    connections: tuple[str, ...]
    arguments: dict[str, str]


def install() -> None:
    """Add the handlers above to moto's Glue and EC2 classes (once per process)."""
    global _installed
    with _lock:
        if _installed:
            return
        from moto.glue.models import FakeJob, FakeJobRun
        from moto.glue.responses import GlueResponse

        original_job_as_dict = FakeJob.as_dict
        original_start_job_run = FakeJob.start_job_run
        original_run_as_dict = FakeJobRun.as_dict

        def job_as_dict(self: Any) -> dict[str, Any]:
            body = original_job_as_dict(self)
            body.update(getattr(self, "icewatch_extra_fields", {}))
            dpus = _DPUS_PER_WORKER.get(body.get("WorkerType") or "")
            if dpus and body.get("NumberOfWorkers"):
                body["MaxCapacity"] = float(dpus * body["NumberOfWorkers"])
                body["AllocatedCapacity"] = int(dpus * body["NumberOfWorkers"])
            return body

        def start_job_run(self: Any, **kwargs: Any) -> str:
            run_id = original_start_job_run(self, **kwargs)
            run = next(r for r in self.job_runs if r.job_run_id == run_id)
            connections = tuple((self.connections or {}).get("Connections", []))
            with _lock:
                _started.setdefault(self.name, []).append(
                    StartedRun(run_id, connections, run.arguments or {})
                )
                script = _scripts.get(self.name)
                outcome = script.popleft() if script else None
            if outcome is not None:
                state, message = outcome
                run._transitions = [("STARTING", "RUNNING"), ("RUNNING", state)]
                run.icewatch_error_message = message
            return run_id

        def run_as_dict(self: Any) -> dict[str, Any]:
            body = original_run_as_dict(self)
            message = getattr(self, "icewatch_error_message", "")
            if message and body["JobRunState"] not in ("STARTING", "RUNNING"):
                body["ErrorMessage"] = message
            return body

        def update_job(self: Any) -> Any:
            from moto.core.responses import ActionResult

            name = self._get_param("JobName")
            _update_job(self.glue_backend.get_job(name), self._get_param("JobUpdate") or {})
            return ActionResult({"JobName": name})

        FakeJob.as_dict = job_as_dict
        FakeJob.start_job_run = start_job_run
        FakeJobRun.as_dict = run_as_dict
        GlueResponse.update_job = update_job
        _installed = True


def _update_job(job: Any, update: dict[str, Any]) -> None:
    from moto.core.utils import utcnow
    from moto.glue.exceptions import InvalidInputException

    if not update.get("Role") or not update.get("Command"):
        raise InvalidInputException("UpdateJob", "JobUpdate needs Role and Command.")
    if update.get("MaxCapacity") is not None and (update.get("WorkerType") or update.get("NumberOfWorkers")):
        raise InvalidInputException(
            "UpdateJob", "Please do not set Max Capacity if using Worker Type and Number of Workers."
        )
    if update.get("MaxCapacity") is not None and update.get("AllocatedCapacity") is not None:
        raise InvalidInputException("UpdateJob", "Please set only Allocated Capacity or Max Capacity.")
    for member, (attribute, omitted) in _MOTO_JOB_FIELDS.items():
        value = update.get(member)
        setattr(job, attribute, copy.deepcopy(omitted) if value is None else value)
    job.icewatch_extra_fields = {k: v for k, v in update.items() if k not in _MOTO_JOB_FIELDS}
    job.last_modified_on = utcnow()


def script_job_runs(job_name: str, outcomes: Iterable[tuple[str, str]]) -> None:
    """The next runs of `job_name` end in these (JobRunState, ErrorMessage), in order; then SUCCEEDED."""
    with _lock:
        _scripts.setdefault(job_name, deque()).extend(outcomes)


def started_runs(job_name: str) -> list[StartedRun]:
    with _lock:
        return list(_started.get(job_name, []))


@contextlib.contextmanager
def zone_state(zone_name: str, state: str) -> Iterator[None]:
    """Availability zone `zone_name` reports `state` (e.g. "impaired") inside the block."""
    from moto.ec2.models.availability_zones_and_regions import RegionsAndZonesBackend

    zones = [z for zs in RegionsAndZonesBackend.zones.values() for z in zs if z.name == zone_name]
    if not zones:
        raise ValueError(f"moto knows no availability zone {zone_name!r}")
    before = [z.state for z in zones]
    for zone in zones:
        zone.state = state
    try:
        yield
    finally:
        for zone, was in zip(zones, before, strict=True):
            zone.state = was


def forget() -> None:
    """Drop scripted outcomes and started-run records (with the emulator's reset)."""
    with _lock:
        _scripts.clear()
        _started.clear()
