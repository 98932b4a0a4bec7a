"""Scale benchmark: 1 vs 2 daemon processes on one queue, and memory per tracked table.

T tables (SQLite catalog, local warehouse: so the emulator serves only SQS and DynamoDB) get one
commit each, built once and cached in bench/.cache/scale-T. For each phase, N `icewatch run`
processes start on one queue with a fresh DynamoDB state table (the multi-replica store), CloudWatch
goes to a stub that acknowledges without parsing, and once they are ready one Glue event per table is
sent. Throughput = T ÷ the time from the first send until the daemons together have processed all T
messages. Memory = each daemon's RSS when ready and after its tables (VmRSS from /proc).

    python -m bench.scale [--tables 1000] [--processes 1 2]

`--tables 10000 --processes 1` measures memory with 10,000 tracked tables (a few minutes to build once).
See docs/benchmarks-scale.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass
from typing import Any

import boto3
import pyarrow as pa
from prometheus_client.parser import text_string_to_metric_families
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.exceptions import NamespaceAlreadyExistsError
from pyiceberg.schema import Schema
from pyiceberg.types import LongType, NestedField, StringType

from bench.daemon import CACHE_DIR, ChildProcesses, RemoteEmulator, _emulator_main, _process_cpu_s, _stub_main
from bench.sqs_stub import stub_main as sqs_stub_main
from service.events import TABLE_STATE_CHANGE

DATABASE = "scale"
GOAL_RATIO = 1.8
SCHEMA = Schema(NestedField(1, "id", LongType(), required=False), NestedField(2, "s", StringType(), False))


def build_tables(count: int) -> dict[str, Any]:
    """The cached catalog of `count` one-commit tables; returns ICEWATCH_CATALOG_PROPERTIES."""
    root = CACHE_DIR / f"scale-{count}"
    props = {"type": "sql", "uri": f"sqlite:///{root}/catalog.db", "warehouse": f"file://{root}/warehouse"}
    done = root / "complete"
    if not done.exists():
        root.mkdir(parents=True, exist_ok=True)
        catalog = SqlCatalog("scale", **props)
        with contextlib.suppress(NamespaceAlreadyExistsError):
            catalog.create_namespace(DATABASE)
        existing = {name for _, name in catalog.list_tables(DATABASE)}
        started = time.perf_counter()
        for i in range(count):
            name = f"t{i:05d}"
            if name in existing:
                continue
            table = catalog.create_table(f"{DATABASE}.{name}", SCHEMA)
            table.append(pa.table({"id": pa.array(range(10), pa.int64()), "s": pa.array(["x"] * 10)}))
            if i % 500 == 499:
                print(f"  built {i + 1}/{count} tables in {time.perf_counter() - started:.0f} s", flush=True)
        done.write_text("ok\n")
    return props


def event_body(table: str) -> str:
    return json.dumps(
        {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": TABLE_STATE_CHANGE,
            "source": "aws.glue",
            "account": "123456789012",
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "region": "us-east-1",
            "resources": [],
            "detail": {"databaseName": DATABASE, "tableName": table, "typeOfChange": "UpdateTable"},
        }
    )


def _rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _metric(port: int, name: str) -> float:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            text = response.read().decode()
    except OSError:
        return 0.0
    return sum(s.value for f in text_string_to_metric_families(text) for s in f.samples if s.name == name)


def _ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Phase:
    processes: int
    tables: int
    seconds: float
    rss_ready_mb: list[float]
    rss_rounds_mb: list[list[float]]  # after each round of sends, per daemon
    cpu_s: dict[str, float]
    per_daemon: list[float]

    @property
    def throughput(self) -> float:
        return self.tables / self.seconds


def run_phase(
    emulator: RemoteEmulator,
    catalog: dict[str, Any],
    tables: int,
    processes: int,
    pids: dict,
    state: str,
    in_flight: int,
    memory: bool = False,
) -> Phase:
    sqs = emulator.client("sqs")
    if stub_sqs := os.environ.get("AWS_ENDPOINT_URL_SQS"):
        sqs = boto3.client("sqs", endpoint_url=stub_sqs, region_name="us-east-1")
    tag = uuid.uuid4().hex[:8]
    queue_url = sqs.create_queue(QueueName=f"scale-{tag}", Attributes={"VisibilityTimeout": "120"})[
        "QueueUrl"
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("ICEWATCH_")} | {
        "ICEWATCH_QUEUE_URL": queue_url,
        "ICEWATCH_CATALOG_NAME": "scale",
        "ICEWATCH_CATALOG_PROPERTIES": json.dumps(catalog),
        "ICEWATCH_STATE_URL": f"dynamodb://icewatch-scale-{tag}"
        if state == "dynamodb"
        else f"sqlite:///{CACHE_DIR}/scale-state-{tag}.db",
        "ICEWATCH_SWEEP_INTERVAL_S": "0",
        "ICEWATCH_FRESHNESS_INTERVAL_S": "3600",
        "ICEWATCH_LOG_LEVEL": "WARNING",
        "ICEWATCH_MAX_TABLES_IN_FLIGHT": str(in_flight),
        "HOME": str(CACHE_DIR),
    }
    ports = [_free_port() for _ in range(processes)]

    def own_state(port: int) -> dict[str, str]:
        # Per-process files: no lock shared across tables, as with DynamoDB's per-item writes.
        return (
            {"ICEWATCH_STATE_URL": f"sqlite:///{CACHE_DIR}/scale-state-{tag}-{port}.db"}
            if state == "own"
            else {}
        )

    daemons = []
    log = (CACHE_DIR / f"scale-daemons-{processes}.log").open("wb")
    try:
        for port in ports:
            daemons.append(
                subprocess.Popen(
                    [sys.executable, "-m", "service", "run"],
                    env=env | {"ICEWATCH_HTTP_PORT": str(port)} | own_state(port),
                    stdout=log,
                    stderr=log,
                )
            )
        deadline = time.monotonic() + 120
        while not all(_ready(p) for p in ports):
            if time.monotonic() > deadline or any(d.poll() is not None for d in daemons):
                raise RuntimeError(f"daemons did not start; see {log.name}")
            time.sleep(0.2)
        rss_ready = [_rss_mb(d.pid) for d in daemons]
        cpu_before = {name: _process_cpu_s(pid) for name, pid in pids.items()}
        cpu_before |= {f"daemon{i}": _process_cpu_s(d.pid) for i, d in enumerate(daemons)}
        names = [f"t{i:05d}" for i in range(tables)]
        # Memory runs send two halves: the second half's growth is what each tracked table retains.
        rounds = [names[: tables // 2], names[tables // 2 :]] if memory else [names]
        rss_rounds: list[list[float]] = []
        started = time.monotonic()
        expected = 0
        for chunk in rounds:
            for i in range(0, len(chunk), 10):
                entries = [
                    {"Id": str(j), "MessageBody": event_body(n)} for j, n in enumerate(chunk[i : i + 10])
                ]
                sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)
            expected += len(chunk)
            done = 0.0
            while done < expected:
                time.sleep(0.2)
                done = sum(_metric(p, "icewatch_messages_processed_total") for p in ports)
                if any(d.poll() is not None for d in daemons):
                    raise RuntimeError(f"a daemon exited; see {log.name}")
            rss_rounds.append([_rss_mb(d.pid) for d in daemons])
        seconds = time.monotonic() - started
        per_daemon = [_metric(p, "icewatch_messages_processed_total") for p in ports]
        cpu = {name: _process_cpu_s(pid) for name, pid in pids.items()}
        cpu |= {f"daemon{i}": _process_cpu_s(d.pid) for i, d in enumerate(daemons)}
        cpu = {k: v - cpu_before[k] for k, v in cpu.items()}
    finally:
        for d in daemons:
            d.terminate()
        for d in daemons:
            try:
                d.wait(timeout=40)
            except subprocess.TimeoutExpired:
                d.kill()
        log.close()
    return Phase(processes, tables, seconds, rss_ready, rss_rounds, cpu, per_daemon)


def report(phases: list[Phase], cores: int, sqs: str) -> None:
    setup = f"{phases[0].tables} tables, one event each, {cores} cores; CloudWatch = stub, SQS = {sqs}"
    print(f"\nicewatch scale: {setup}\n")
    print(f"{'daemons':>8} {'seconds':>8} {'tables/s':>9} {'ratio':>6}  per-daemon share   CPU s (window)")
    base = phases[0].throughput
    for p in phases:
        share = "/".join(f"{n:.0f}" for n in p.per_daemon)
        cpu = ", ".join(f"{k} {v:.1f}" for k, v in p.cpu_s.items())
        print(
            f"{p.processes:>8} {p.seconds:>8.1f} {p.throughput:>9.1f} {p.throughput / base:>5.2f}x"
            f"  {share:<17} {cpu}"
        )
    for p in phases:
        for i, ready in enumerate(p.rss_ready_mb):
            after = p.rss_rounds_mb[-1][i]
            print(
                f"RSS, {p.processes} daemon(s), daemon {i}: {ready:.0f} MB ready -> {after:.0f} MB after "
                f"{p.per_daemon[i]:.0f} tables"
            )
    if len(phases) > 1:
        ratio = phases[-1].throughput / base
        verdict = "PASS" if ratio >= GOAL_RATIO else "FAIL"
        goal = f"goal >= {GOAL_RATIO}x on 2 cores"
        print(f"\n{verdict}  {phases[-1].processes} daemons vs 1: {ratio:.2f}x ({goal})")


def report_memory(p: Phase, target: int) -> None:
    (half,), (full,) = p.rss_rounds_mb
    second_half = p.tables - p.tables // 2
    per_table_kb = (full - half) * 1024 / second_half
    projected = full + per_table_kb * max(0, target - p.tables) / 1024
    print(
        f"\nmemory, 1 daemon, 64 tables in flight: RSS {p.rss_ready_mb[0]:.0f} MB ready, {half:.0f} MB after "
        f"{p.tables // 2} tables, {full:.0f} MB after {p.tables}: {per_table_kb:.1f} KB per tracked table "
        f"(second half's growth); {target:,} tables -> ~{projected:.0f} MB"
        + (" (measured)" if target == p.tables else " (projected)")
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tables", type=int, default=1000)
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    parser.add_argument(
        "--memory-tables", type=int, default=2000, help="tables for the memory phase (0: skip it)"
    )
    parser.add_argument(
        "--max-tables-in-flight",
        type=int,
        default=512,
        help="per daemon; a run holds its slot until CloudWatch acks (~1 s), so 64 would cap at ~64/s",
    )
    parser.add_argument(
        "--sqs",
        choices=("stub", "moto"),
        default="stub",
        help="stub: bench/sqs_stub.py (moto's ReceiveMessage costs O(queue depth) per message)",
    )
    parser.add_argument(
        "--state",
        choices=("own", "sqlite", "dynamodb"),
        default="own",
        help="own: a SQLite file per process; sqlite: one shared file (one write lock for all tables); "
        "dynamodb: moto's (fails concurrent transactions with 500s)",
    )
    args = parser.parse_args()
    catalog = build_tables(args.tables)

    with ChildProcesses() as children:
        emulator_process, emulator_conn = children.start(_emulator_main)
        emulator = RemoteEmulator(emulator_conn.recv())
        os.environ.update(emulator.environ())
        stub_process, stub_conn = children.start(_stub_main)
        os.environ["AWS_ENDPOINT_URL_CLOUDWATCH"] = stub_conn.recv()
        pids = {"emulator": emulator_process.pid, "stub": stub_process.pid}
        if args.sqs == "stub":
            sqs_process, sqs_conn = children.start(sqs_stub_main)
            os.environ["AWS_ENDPOINT_URL_SQS"] = sqs_conn.recv()
            pids["sqs"] = sqs_process.pid
        phases = [
            run_phase(emulator, catalog, args.tables, n, pids, args.state, args.max_tables_in_flight)
            for n in args.processes
        ]
        report(phases, os.cpu_count() or 1, args.sqs)
        if args.memory_tables:
            memory_catalog = build_tables(args.memory_tables)
            memory = run_phase(emulator, memory_catalog, args.memory_tables, 1, pids, args.state, 64, True)
            report_memory(memory, 10_000)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
