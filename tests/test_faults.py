"""Fault injection on the real daemon process: kill -9 at random points, then SIGTERM.

Every snapshot must reach CloudWatch; after kills, a snapshot may be published twice at most once
per kill (a process can die between CloudWatch's acknowledgement and the watermark write); after
SIGTERM alone, never twice.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time

from service.sandbox import GlueEvents, create_sandbox
from tests.support.daemon import daemon_env, free_port, published_counts, ready, wait_for
from tests.support.shapes import SCHEMA, rows


def start_daemon(env: dict[str, str]) -> subprocess.Popen:
    """Start `icewatch run` and wait until it is ready (so it has recorded when it began watching)."""
    port = free_port()
    env = env | {"ICEWATCH_HTTP_PORT": str(port)}
    process = subprocess.Popen(
        [sys.executable, "-m", "service", "run"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for(lambda: ready(port), 60, "the daemon to be ready")
    return process


def run_scenario(emulator, glue_catalog, glue_namespace, tmp_path, name: str, kills: int) -> tuple:
    sandbox = create_sandbox(emulator, name=name)
    namespace = f"Faults{name}"
    env = daemon_env(
        emulator,
        sandbox,
        tmp_path,
        namespace,
        flush_interval_s="0.3",
        visibility_timeout_s="2",  # a killed process's messages come back quickly
        lease_ttl_s="3",  # and its leases expire quickly
        log_level="WARNING",
    )
    events = GlueEvents(emulator, sandbox)
    tables = [glue_catalog.create_table(f"{glue_namespace}.{name}{i}", SCHEMA) for i in range(3)]
    names = [".".join(t.name()[-2:]) for t in tables]
    rng = random.Random(name)
    commits = dict.fromkeys(names, 0)

    def commit_round() -> None:
        for table, full in zip(tables, names, strict=True):
            table.append(rows(rng, rng.randint(1, 20)))
            events.table_changed(*full.split("."))
            commits[full] += 1

    daemon = start_daemon(env)
    try:
        for _ in range(kills):
            commit_round()
            time.sleep(rng.uniform(0.5, 3.0))  # kill at a random point of the work
            daemon.send_signal(signal.SIGKILL)
            daemon.wait(timeout=30)
            commit_round()  # while it is down
            daemon = start_daemon(env)
        commit_round()
        wait_for(
            lambda: all(c >= commits[t] for t, c in published_counts(emulator, namespace, names).items()),
            120,
            "every snapshot in CloudWatch",
        )
    finally:
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=40) == 0
    return commits, published_counts(emulator, namespace, names)


def test_kill_9_loses_nothing_and_duplicates_at_most_once_per_kill(
    emulator, glue_catalog, glue_namespace, tmp_path
):
    kills = 3
    commits, published = run_scenario(emulator, glue_catalog, glue_namespace, tmp_path, "killed", kills)
    duplicates = sum(published[t] - commits[t] for t in commits)
    assert all(published[t] >= commits[t] for t in commits), (published, commits)
    assert duplicates <= kills, (published, commits)


def test_sigterm_alone_publishes_every_snapshot_exactly_once(
    emulator, glue_catalog, glue_namespace, tmp_path
):
    commits, published = run_scenario(emulator, glue_catalog, glue_namespace, tmp_path, "stopped", kills=0)
    assert published == commits
