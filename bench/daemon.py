"""Benchmark: the daemon under a steady commit load on the emulator, side by side with the reference.

A writer commits tiny appends to N Iceberg tables (Glue catalog, S3 warehouse, both on the emulator) at
a total rate R, each commit followed by the Glue event EventBridge would deliver; icewatch's daemon
(`run_daemon`, in this process, on its own loop) consumes them and publishes to CloudWatch.

Three processes, so each one's CPU is its own: this one runs only the daemon (its `getrusage` is the
daemon's CPU, the bench's own bookkeeping included), one runs the emulator (moto server), one the
writer (threads: pyiceberg is synchronous). They share the machine's cores.

Commit→ack latency: commit time is the snapshot's `timestamp_ms`; ack time is when the daemon logged
`table_processed` for it, which it does right after CloudWatch acknowledged the call carrying the
table's datums (recorded by a structlog processor placed ahead of the production pipeline).

Reference = the AWS sample's method: one PutMetricData call per datum. Its wall time is measured on a
sample of real datums against the same CloudWatch endpoint once the load has stopped, next to
icewatch's publisher on the same datums, and extrapolated to the run's datum count. The reference's
per-commit computation (pyiceberg inspect tables + pandas, `bench/reference.py`) is sampled too.

    python -m bench.daemon [--tables 50] [--rate 20] [--seconds 30] [--cloudwatch moto|stub]
                           [--max-tables-in-flight N]

`--cloudwatch stub` points only the CloudWatch calls at a stub that acknowledges PutMetricData without
parsing it, to show the daemon without moto's slow PutMetricData (~2 ms per datum). The writer commits
as fast as the emulator lets it when it can't keep the offered rate: the figures say what it reached.
See docs/benchmarks-daemon.md.
"""

# ruff: noqa: E402 -- pyiceberg must not be imported before PYICEBERG_HOME is set.
from __future__ import annotations

import os
from pathlib import Path

# A developer's own pyiceberg, icewatch and AWS settings must not leak into the run (nor its children).
for _key in [k for k in os.environ if k.startswith(("PYICEBERG_", "ICEWATCH_", "AWS_"))]:
    del os.environ[_key]
CACHE_DIR = (Path(__file__).parent / ".cache").resolve()
_HOME = CACHE_DIR / "pyiceberg-home"
_HOME.mkdir(parents=True, exist_ok=True)
(_HOME / ".pyiceberg.yaml").write_text("icewatch-bench: isolated\n")  # an empty file falls through to ~
os.environ["PYICEBERG_HOME"] = str(_HOME)

import argparse
import asyncio
import contextlib
import gzip
import math
import multiprocessing
import random
import resource
import statistics
import threading
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from multiprocessing.connection import Connection
from typing import Any

from service.emulator import Emulator
from service.models import MetricDatum
from service.publisher import metric_datum_entry
from service.sandbox import GlueEvents, Sandbox, create_sandbox

DATABASE = "bench"
ROWS_PER_COMMIT = 10
LOG_FILE = CACHE_DIR / "daemon-bench.log"
STATE_FILE = CACHE_DIR / "daemon-bench-state.db"  # the production default's kind: SQLite on local disk
GOAL_CALLS_PER_1000 = 1.0
GOAL_P99_S = 5.0
GOAL_CPU_MS = 5.0
GOAL_LOAD = (50, 20.0)  # the p99 goal is stated at 50 tables and 20 commits/s


# ---------------------------------------------------------------------------------------- processes


class RemoteEmulator(Emulator):
    """The emulator running in another process, reached at `endpoint` (no server of its own)."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint


def _emulator_main(conn: Connection) -> None:
    with Emulator() as emulator:
        conn.send(emulator.endpoint)
        conn.recv()  # any message: stop


_STUB_REPLY = (
    b'<PutMetricDataResponse xmlns="http://monitoring.amazonaws.com/doc/2010-08-01/">'
    b"<ResponseMetadata><RequestId>bench</RequestId></ResponseMetadata></PutMetricDataResponse>"
)


class _CloudWatchStub(BaseHTTPRequestHandler):
    """Acknowledges any PutMetricData after reading (and un-gzipping) its body; parses nothing."""

    protocol_version = "HTTP/1.1"  # keep-alive, as CloudWatch
    disable_nagle_algorithm = True  # headers and body are two writes: Nagle + delayed ACK would add 40 ms

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.headers.get("Content-Encoding") == "gzip":
            gzip.decompress(body)
        self.send_response(200)
        self.send_header("Content-Type", "text/xml")
        self.send_header("Content-Length", str(len(_STUB_REPLY)))
        self.end_headers()
        self.wfile.write(_STUB_REPLY)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _stub_main(conn: Connection) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _CloudWatchStub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    conn.send(f"http://127.0.0.1:{server.server_address[1]}")
    conn.recv()
    server.shutdown()


@dataclass(frozen=True, slots=True)
class Commit:
    table: str
    snapshot_id: int
    timestamp_ms: int  # the snapshot's commit time: latency starts here
    late_s: float  # how far behind its schedule the commit started
    announced: float  # wall time the Glue event was accepted by EventBridge


@dataclass
class WriteResult:
    commits: list[Commit] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    started: float = 0.0
    ended: float = 0.0


class _Lane:
    """One writer thread's tables, catalog and event client; a table is only ever written by one lane."""

    def __init__(self, emulator: Emulator, sandbox: Sandbox, seed: int) -> None:
        from pyiceberg.catalog.glue import GlueCatalog

        self._catalog = GlueCatalog("bench-writer", **emulator.glue_catalog_properties(sandbox.warehouse))
        self._events = GlueEvents(emulator, sandbox)
        self._tables: dict[str, Any] = {}
        self._rng = random.Random(seed)

    def run(self, schedule: list[tuple[float, str]], stop_at: float, out: WriteResult) -> None:
        for due, name in schedule:
            now = time.time()
            if now >= stop_at:
                return  # behind schedule at the end of the window: don't commit after it
            if due > now:
                time.sleep(due - now)
            started = time.time()
            try:
                table = self._tables.get(name) or self._catalog.load_table(f"{DATABASE}.{name}")
                self._tables[name] = table
                table.append(self._rows(table))
                snapshot = table.current_snapshot()
                self._events.table_changed(DATABASE, name)
            except Exception as exc:
                out.errors.append(f"{name}: {type(exc).__name__}: {str(exc)[:200]}")
                continue
            out.commits.append(
                Commit(name, snapshot.snapshot_id, snapshot.timestamp_ms, started - due, time.time())
            )

    def _rows(self, table: Any) -> Any:
        import pyarrow as pa

        now = datetime.now(UTC)
        return pa.Table.from_pylist(
            [
                {"id": self._rng.getrandbits(48), "ts": now, "category": "abc"[i % 3], "amount": i * 1.5}
                for i in range(ROWS_PER_COMMIT)
            ],
            schema=table.schema().as_arrow(),
        )


def _writer_main(endpoint: str, sandbox: Sandbox, tables: int, threads: int, conn: Connection) -> None:
    """Create the tables, then write on command: ("warmup",) one commit per table; ("run", R, S, t0)."""
    from pyiceberg.catalog.glue import GlueCatalog
    from pyiceberg.partitioning import PartitionField, PartitionSpec
    from pyiceberg.schema import Schema
    from pyiceberg.transforms import DayTransform
    from pyiceberg.types import DoubleType, LongType, NestedField, StringType, TimestamptzType

    emulator = RemoteEmulator(endpoint)
    catalog = GlueCatalog("bench-writer", **emulator.glue_catalog_properties(sandbox.warehouse))
    catalog.create_namespace(DATABASE)
    schema = Schema(
        NestedField(1, "id", LongType(), required=False),
        NestedField(2, "ts", TimestamptzType(), required=False),
        NestedField(3, "category", StringType(), required=False),
        NestedField(4, "amount", DoubleType(), required=False),
    )
    spec = PartitionSpec(PartitionField(2, 1000, DayTransform(), "ts_day"))
    names = [f"t{i:03d}" for i in range(tables)]
    for name in names:
        catalog.create_table(f"{DATABASE}.{name}", schema, partition_spec=spec)
    lanes = [_Lane(emulator, sandbox, seed) for seed in range(min(threads, tables))]
    conn.send("ready")
    with ThreadPoolExecutor(len(lanes), thread_name_prefix="writer") as pool:
        while (command := conn.recv())[0] != "stop":
            if command[0] == "warmup":
                now = time.time()
                schedule, stop_at = [(now, name) for name in names], math.inf
            else:
                _, rate, seconds, t0 = command
                schedule = [(t0 + j / rate, names[j % tables]) for j in range(int(rate * seconds))]
                stop_at = t0 + seconds
            per_lane: list[list[tuple[float, str]]] = [[] for _ in lanes]
            for due, name in schedule:
                per_lane[int(name[1:]) % len(lanes)].append((due, name))
            result = WriteResult(started=schedule[0][0])
            for future in [pool.submit(lanes[i].run, s, stop_at, result) for i, s in enumerate(per_lane)]:
                future.result()
            result.ended = time.time()
            conn.send(result)


def _process_cpu_s(pid: int | str) -> float:
    """User + system CPU seconds of a process, all its threads, or of one thread (from /proc)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _own_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _thread_cpu_s() -> dict[tuple[int, str], float]:
    """CPU seconds of this process's live Python threads, by (native id, name without its _N suffix)."""
    out = {}
    for thread in threading.enumerate():
        name = "event loop" if thread is threading.main_thread() else thread.name.rstrip("0123456789_")
        with contextlib.suppress(OSError):  # ended meanwhile
            out[(thread.native_id or 0, name)] = _process_cpu_s(f"self/task/{thread.native_id}")
    return out


# ------------------------------------------------------------------------------------- the daemon run


class AckRecorder:
    """A structlog processor: when each snapshot's `table_processed` line was logged (after the ack)."""

    def __init__(self) -> None:
        self.acked: dict[int, float] = {}
        self.problems: Counter[str] = Counter()

    def __call__(self, logger: Any, method_name: str, event_dict: dict[str, Any]) -> dict[str, Any]:
        if event_dict.get("event") == "table_processed":
            now = time.time()
            for snapshot_id in event_dict.get("snapshot_ids", ()):
                self.acked.setdefault(snapshot_id, now)
        elif method_name in ("warning", "error", "exception", "critical"):
            self.problems[str(event_dict.get("event"))] += 1
        return event_dict


def _install_recorder(recorder: AckRecorder) -> Any:
    """The production logging pipeline (JSON lines), to a file, with the recorder in front."""
    import structlog

    from service.logs import configure_logging

    configure_logging("INFO", json=True)
    LOG_FILE.parent.mkdir(parents=True, exist_ok=True)
    log_file = LOG_FILE.open("w")
    processors = structlog.get_config()["processors"]
    structlog.configure(
        processors=[recorder, *processors], logger_factory=structlog.PrintLoggerFactory(file=log_file)
    )
    return log_file


@dataclass(frozen=True)
class Reading:
    """Counters and CPU at one moment."""

    wall: float
    daemon_cpu_s: float
    emulator_cpu_s: float
    writer_cpu_s: float
    stub_cpu_s: float
    calls: float
    datums: float
    snapshots: float
    runs: float
    held_s: float  # sum of table runs' durations (compute + wait for CloudWatch's ack), slot held
    threads: dict[tuple[int, str], float]


@dataclass
class RunFigures:
    warmup: WriteResult
    write: WriteResult
    start: Reading
    end: Reading
    acked: dict[int, float]
    problems: Counter[str]
    drained: bool
    flush_interval_s: float
    max_tables_in_flight: int


def _read(daemon: Any, pids: dict[str, int]) -> Reading:
    registry = daemon.metrics.registry
    value = registry.get_sample_value
    return Reading(
        wall=time.time(),
        daemon_cpu_s=_own_cpu_s(),
        emulator_cpu_s=_process_cpu_s(pids["emulator"]),
        writer_cpu_s=_process_cpu_s(pids["writer"]),
        stub_cpu_s=_process_cpu_s(pids["stub"]) if "stub" in pids else 0.0,
        calls=value("icewatch_put_metric_data_calls_total") or 0.0,
        datums=value("icewatch_put_metric_data_datums_total") or 0.0,
        snapshots=value("icewatch_snapshots_published_total") or 0.0,
        runs=value("icewatch_table_processing_seconds_count") or 0.0,
        held_s=value("icewatch_table_processing_seconds_sum") or 0.0,
        threads=_thread_cpu_s(),
    )


async def _ask(conn: Connection, command: tuple[Any, ...]) -> Any:
    def send_and_wait() -> Any:
        conn.send(command)
        return conn.recv()

    return await asyncio.to_thread(send_and_wait)


async def _until_acked(recorder: AckRecorder, ids: Sequence[int], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while any(i not in recorder.acked for i in ids):
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


async def run_load(
    args: argparse.Namespace, sandbox: Sandbox, writer: Connection, pids: dict[str, int]
) -> RunFigures:
    from service.app import Daemon, run_daemon
    from service.settings import CatalogSettings, DaemonSettings, Settings

    recorder = AckRecorder()
    log_file = _install_recorder(recorder)
    for stale in STATE_FILE.parent.glob(STATE_FILE.name + "*"):  # a fresh emulator: no old watermarks
        stale.unlink()
    tuning = {"max_tables_in_flight": args.max_tables_in_flight} if args.max_tables_in_flight else {}
    if args.catalog_threads:
        tuning["catalog_threads"] = args.catalog_threads
    settings = Settings(  # production defaults, but for the queue, the catalog, the state file and the port
        catalog=CatalogSettings(catalog_properties={"type": "glue", "warehouse": sandbox.warehouse}),
        daemon=DaemonSettings(
            queue_url=sandbox.queue_url, http_port=0, state_url=f"sqlite:///{STATE_FILE}", **tuning
        ),
    )
    stop, started = asyncio.Event(), asyncio.Event()
    running: list[Daemon] = []

    def on_start(daemon: Daemon) -> None:
        running.append(daemon)
        started.set()

    task = asyncio.create_task(run_daemon(settings, stop, on_start), name="daemon")
    try:
        await asyncio.wait_for(started.wait(), timeout=30)
        daemon = running[0]
        # First sight of each table (a cold manifest cache, a first Glue lookup) is not the steady state.
        warmup: WriteResult = await _ask(writer, ("warmup",))
        if not await _until_acked(recorder, [c.snapshot_id for c in warmup.commits], 120):
            raise RuntimeError("the daemon did not publish the warm-up commits within 120 s")
        start = _read(daemon, pids)
        write: WriteResult = await _ask(writer, ("run", args.rate, args.seconds, start.wall))
        drained = await _until_acked(recorder, [c.snapshot_id for c in write.commits], args.drain_timeout)
        end = _read(daemon, pids)
        if drained and write.commits:
            # The window ends at the last acknowledgement, not at the poll that noticed it.
            end = _with_wall(end, max(recorder.acked[c.snapshot_id] for c in write.commits))
    finally:
        stop.set()
        exit_code = await asyncio.wait_for(task, timeout=60)
        log_file.close()
    if exit_code != 0:
        raise RuntimeError(f"the daemon exited with {exit_code}; see {LOG_FILE}")
    return RunFigures(
        warmup,
        write,
        start,
        end,
        dict(recorder.acked),
        recorder.problems,
        drained,
        settings.daemon.flush_interval_s,
        settings.daemon.max_tables_in_flight,
    )


def _with_wall(reading: Reading, wall: float) -> Reading:
    return Reading(**{**reading.__dict__, "wall": wall})


# --------------------------------------------------------------------------------------- the reference


@dataclass(frozen=True)
class ReferenceFigures:
    sample_datums: int
    reference_wall_s: float  # one PutMetricData call per datum, sequential (boto3)
    reference_cpu_s: float
    icewatch_wall_s: float  # icewatch's CloudWatchPublisher on the same datums
    icewatch_cpu_s: float
    icewatch_calls: float
    compute_wall_s: float  # per commit: load the table + reference_metrics (inspect + pandas)
    compute_cpu_s: float
    compute_samples: int


def measure_reference(emulator: Emulator, sandbox: Sandbox, tables: int, sample: int) -> ReferenceFigures:
    """After the load: the reference method and icewatch's publisher on the same real datums."""
    from pyiceberg.catalog.glue import GlueCatalog

    from bench.reference import reference_metrics
    from service.collection import TableCollector
    from service.iceberg.manifests import ManifestAggregateCache, ManifestReader
    from service.models import TableName
    from service.settings import Settings

    catalog = GlueCatalog("bench-reference", **emulator.glue_catalog_properties(sandbox.warehouse))
    collector = TableCollector(ManifestReader(ManifestAggregateCache(100_000)), Settings())
    batches: list[list[MetricDatum]] = []  # one per table, as the daemon publishes them
    compute_wall, compute_cpu = [], []
    for i in range(tables):
        name = TableName(DATABASE, f"t{i:03d}")
        wall, cpu = time.perf_counter(), _own_cpu_s()
        table = catalog.load_table((name.database, name.table))
        reference_metrics(table)
        compute_wall.append(time.perf_counter() - wall)
        compute_cpu.append(_own_cpu_s() - cpu)
        if sum(map(len, batches)) < sample:
            metrics = collector.collect(table, name, table.snapshots())
            batches.append(metrics.datums)
        if len(compute_wall) >= 10 and sum(map(len, batches)) >= sample:
            break
    datums = [d for batch in batches for d in batch][:sample]

    cloudwatch = _cloudwatch_client()
    cloudwatch.put_metric_data(
        Namespace="IcewatchBenchWarmup", MetricData=[metric_datum_entry(datums[0])]
    )  # connect
    wall, cpu = time.perf_counter(), _own_cpu_s()
    for datum in datums:
        cloudwatch.put_metric_data(Namespace="IcewatchBenchReference", MetricData=[metric_datum_entry(datum)])
    reference_wall, reference_cpu = time.perf_counter() - wall, _own_cpu_s() - cpu

    calls, icewatch_wall, icewatch_cpu = asyncio.run(_publish_with_icewatch(batches, len(datums)))
    return ReferenceFigures(
        len(datums),
        reference_wall,
        reference_cpu,
        icewatch_wall,
        icewatch_cpu,
        calls,
        statistics.median(compute_wall),
        statistics.median(compute_cpu),
        len(compute_wall),
    )


def _cloudwatch_client() -> Any:
    import boto3

    return boto3.client("cloudwatch", region_name=os.environ["AWS_REGION"])  # endpoint from the env


async def _publish_with_icewatch(batches: list[list[MetricDatum]], limit: int) -> tuple[float, float, float]:
    """The first `limit` datums through icewatch's publisher, one publish() per table: calls, wall, CPU."""
    import aioboto3

    from service.publisher import CloudWatchPublisher
    from service.telemetry import ServiceMetrics

    metrics = ServiceMetrics()
    chunks, left = [], limit
    for batch in batches:
        chunks.append(batch[:left])
        left -= len(chunks[-1])
    async with aioboto3.Session(region_name=os.environ["AWS_REGION"]).client("cloudwatch") as client:
        # Connect before the clock starts.
        await client.put_metric_data(
            Namespace="IcewatchBenchWarmup", MetricData=[metric_datum_entry(chunks[0][0])]
        )
        publisher = CloudWatchPublisher(client, "IcewatchBenchPublisher", metrics)
        runner = asyncio.create_task(publisher.run())
        wall, cpu = time.perf_counter(), _own_cpu_s()
        published = asyncio.gather(*(publisher.publish(chunk) for chunk in chunks if chunk))
        publisher.hurry()  # the last partial call goes now, not after the flush interval: cost only
        await published
        wall, cpu = time.perf_counter() - wall, _own_cpu_s() - cpu
        await publisher.close(30)
        await runner
    return metrics.registry.get_sample_value("icewatch_put_metric_data_calls_total") or 0.0, wall, cpu


# ------------------------------------------------------------------------------------------- the report


def _percentile(values: Sequence[float], q: float) -> float:
    """Nearest rank; values may hold inf (never acknowledged)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)] if ordered else math.nan


def _seconds(value: float) -> str:
    return "never" if math.isinf(value) else f"{value:.2f} s"


def report(args: argparse.Namespace, run: RunFigures, ref: ReferenceFigures, cores: int) -> None:
    start, end, commits = run.start, run.end, run.write.commits
    elapsed = end.wall - start.wall
    snapshots = end.snapshots - start.snapshots
    runs = end.runs - start.runs
    calls, datums = end.calls - start.calls, end.datums - start.datums
    daemon_cpu = end.daemon_cpu_s - start.daemon_cpu_s
    emulator_cpu = end.emulator_cpu_s - start.emulator_cpu_s
    writer_cpu = end.writer_cpu_s - start.writer_cpu_s
    stub_cpu = end.stub_cpu_s - start.stub_cpu_s
    written_s = max(run.write.ended - run.write.started, 1e-9)
    write_rate = len(commits) / written_s
    latency = [run.acked.get(c.snapshot_id, math.inf) - c.timestamp_ms / 1000 for c in commits]
    to_event = [c.announced - c.timestamp_ms / 1000 for c in commits]
    event_to_ack = [run.acked.get(c.snapshot_id, math.inf) - c.announced for c in commits]
    unacked = sum(1 for c in commits if c.snapshot_id not in run.acked)
    datums_per_commit = datums / snapshots if snapshots else 0.0
    cpu_ms = 1000 * daemon_cpu / snapshots if snapshots else math.nan
    calls_per_1000 = 1000 * calls / datums if datums else math.nan
    datums_per_call = datums / calls if calls else 0.0
    held_s = (end.held_s - start.held_s) / runs if runs else 0.0

    ref_call_wall = ref.reference_wall_s / ref.sample_datums
    ref_call_cpu = ref.reference_cpu_s / ref.sample_datums
    ice_datum_wall = ref.icewatch_wall_s / ref.sample_datums
    # One commit the reference's way: load + inspect + pandas, then one call per datum (as many as ours).
    ref_commit_wall = ref.compute_wall_s + datums_per_commit * ref_call_wall
    ref_commit_cpu_ms = 1000 * (ref.compute_cpu_s + datums_per_commit * ref_call_cpu)

    print(
        f"icewatch daemon: {args.tables} tables, {args.rate:g} commits/s offered for {args.seconds:g} s, "
        f"CloudWatch = {args.cloudwatch}, {cores} cores, max_tables_in_flight {run.max_tables_in_flight}, "
        f"flush interval {run.flush_interval_s:g} s"
    )
    print(
        f"writer: {len(commits)} commits in {written_s:.1f} s = {write_rate:.1f}/s "
        f"(start behind schedule p50 {_percentile([c.late_s for c in commits], 0.5):.2f} s, "
        f"max {max((c.late_s for c in commits), default=0):.2f} s), {len(run.write.errors)} failed"
    )
    header = f"{'figure':<44} {'icewatch':>13} {'reference':>13} {'ratio':>8}"
    print()
    print(header)
    print("-" * len(header))
    rows = [
        # icewatch's is the load it was given; the reference's is one worker's capacity: no ratio.
        ("commits processed per second", f"{snapshots / elapsed:.1f}", f"{1 / ref_commit_wall:.1f}", None),
        ("CPU per commit, ms", f"{cpu_ms:.2f}", f"{ref_commit_cpu_ms:.1f}", ref_commit_cpu_ms / cpu_ms),
        ("commit→ack p50", _seconds(_percentile(latency, 0.5)), f"{ref_commit_wall:.2f} s", None),
        ("commit→ack p99", _seconds(_percentile(latency, 0.99)), "", None),
        ("PutMetricData calls per 1,000 datums", f"{calls_per_1000:.2f}", "1000", 1000 / calls_per_1000),
        ("datums per PutMetricData call", f"{datums_per_call:.0f}", "1", datums_per_call),
        (
            f"wall time to publish the run's {datums:,.0f} datums",
            f"{datums * ice_datum_wall:.1f} s",
            f"{datums * ref_call_wall:.1f} s",
            ref_call_wall / ice_datum_wall,
        ),
    ]
    for name, ours, theirs, ratio in rows:
        shown = f"{ratio:>7.1f}x" if ratio is not None and math.isfinite(ratio) else ""
        print(f"{name:<44} {ours:>13} {theirs:>13} {shown:>8}")

    print()
    print(
        f"window {elapsed:.1f} s (writer start → last ack): {snapshots:.0f} snapshots in {runs:.0f} table "
        f"runs, {datums:,.0f} datums ({datums_per_commit:.1f}/commit) in {calls:.0f} calls; "
        f"{unacked} commits never acknowledged"
        + ("" if run.drained else f" within {args.drain_timeout:g} s after the writer stopped")
    )
    print(
        f"latency parts: commit→event sent p50 {_percentile(to_event, 0.5):.2f} s / p99 "
        f"{_percentile(to_event, 0.99):.2f} s (writer + emulator); event→ack p50 "
        f"{_seconds(_percentile(event_to_ack, 0.5))} / p99 {_seconds(_percentile(event_to_ack, 0.99))}"
    )
    if runs:
        print(
            f"slots: a table run holds one of {run.max_tables_in_flight} for {held_s:.2f} s on average "
            f"(compute + CloudWatch ack), {runs / elapsed * held_s:.1f} busy on average; ceiling ≈ "
            f"{run.max_tables_in_flight / held_s:.1f} runs/s before commits queue (and coalesce)"
        )
    print(
        f"CPU in the window, cores: daemon {daemon_cpu / elapsed:.2f}, emulator {emulator_cpu / elapsed:.2f} "
        f"(one GIL: ≤ 1.0), writer {writer_cpu / elapsed:.2f}"
        + (f", CloudWatch stub {stub_cpu / elapsed:.2f}" if args.cloudwatch == "stub" else "")
        + f"; machine {(daemon_cpu + emulator_cpu + writer_cpu + stub_cpu) / elapsed:.2f} of {cores}"
    )
    by_thread: Counter[str] = Counter()
    for (tid, name), cpu_s in end.threads.items():
        by_thread[name] += cpu_s - start.threads.get((tid, name), 0.0)
    # /proc counts whole 10 ms ticks per thread, so this remainder can be a little off (or below zero).
    by_thread["native and ended threads"] = max(0.0, daemon_cpu - sum(by_thread.values()))
    if snapshots:
        print(
            "daemon CPU per commit by thread, ms: "
            + ", ".join(f"{name} {1000 * cpu_s / snapshots:.2f}" for name, cpu_s in by_thread.most_common())
        )
    print(
        f"reference: {ref.sample_datums:,} datums one call each in {ref.reference_wall_s:.1f} s "
        f"({1000 * ref_call_wall:.2f} ms/call, client CPU {1000 * ref_call_cpu:.2f} ms/call); "
        f"icewatch's publisher on the same datums: {ref.icewatch_calls:.0f} calls in "
        f"{ref.icewatch_wall_s:.2f} s (client CPU {1000 * ref.icewatch_cpu_s:.0f} ms); reference compute "
        f"per commit (load + inspect + pandas, median of {ref.compute_samples}): "
        f"{1000 * ref.compute_wall_s:.0f} ms wall, {1000 * ref.compute_cpu_s:.0f} ms CPU"
    )
    if args.cloudwatch == "moto":
        print(
            f"emulator: moto takes ≈{1000 * ice_datum_wall:.2f} ms per datum in PutMetricData, so ≈"
            f"{datums * ice_datum_wall:.0f} of its {emulator_cpu:.0f} CPU-s in this window went to it"
        )
    if run.problems:
        print(f"daemon warnings/errors: {dict(run.problems)} (see {LOG_FILE})")
    if run.write.errors:
        print(f"writer errors (first 3): {run.write.errors[:3]}")

    print()
    # Datums reaching the publisher per flush interval: the most one call can carry without waiting longer.
    load_allows = min(1000.0, datums / elapsed * run.flush_interval_s) if elapsed else 0.0
    at_goal_load = (args.tables, args.rate) == GOAL_LOAD and write_rate >= 0.95 * args.rate
    p99 = _percentile(latency, 0.99)
    verdicts = [
        (
            "FAIL" if calls_per_1000 > GOAL_CALLS_PER_1000 else "PASS",
            f"≤ {GOAL_CALLS_PER_1000:g} PutMetricData call per 1,000 datums",
            f"{calls_per_1000:.2f}",
        ),
        (
            "PASS" if datums_per_call >= 0.9 * load_allows else "FAIL",
            "… or calls as full as the load allows",
            f"{datums_per_call:.0f} datums/call; ≈{load_allows:.0f} arrive per {run.flush_interval_s:g} s "
            "flush interval",
        ),
        (
            "FAIL" if p99 >= GOAL_P99_S else "PASS" if at_goal_load else "n/a ",
            f"p99 commit→ack < {GOAL_P99_S:g} s at 20 commits/s across 50 tables",
            _seconds(p99)
            + ("" if at_goal_load else f" at {write_rate:.1f} commits/s across {args.tables} tables"),
        ),
        (
            "FAIL" if cpu_ms > GOAL_CPU_MS else "PASS",
            f"≤ {GOAL_CPU_MS:g} ms daemon CPU per small-table commit",
            f"{cpu_ms:.2f} ms",
        ),
    ]
    for verdict, goal, figure in verdicts:
        print(f"{verdict}  {goal}: {figure}")


# --------------------------------------------------------------------------------------------- main


class ChildProcesses:
    """Spawned helper processes (emulator, stubs, writer), each with a pipe; stopped when the block ends."""

    def __init__(self) -> None:
        self._spawn = multiprocessing.get_context("spawn")  # no fork of a process with threads
        self._children: list[tuple[Any, Connection]] = []

    def start(self, target: Any, *target_args: Any) -> tuple[Any, Connection]:
        """Start `target(*target_args, conn)`; returns the process and our end of its pipe."""
        ours, theirs = self._spawn.Pipe()
        process = self._spawn.Process(target=target, args=(*target_args, theirs), daemon=True)
        process.start()
        self._children.append((process, ours))
        return process, ours

    def __enter__(self) -> ChildProcesses:
        return self

    def __exit__(self, *exc: object) -> None:
        for process, conn in self._children:
            if process.is_alive():
                conn.send(("stop",))  # any message stops each helper's main
                process.join(timeout=10)
            if process.is_alive():
                process.terminate()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tables", type=int, default=50)
    parser.add_argument("--rate", type=float, default=20.0, help="total commits per second")
    parser.add_argument("--seconds", type=float, default=30.0, help="length of the writing window")
    parser.add_argument("--writer-threads", type=int, default=10)
    parser.add_argument("--cloudwatch", choices=("moto", "stub"), default="moto")
    parser.add_argument(
        "--max-tables-in-flight", type=int, default=0, help="the daemon's setting (0: its default, 16)"
    )
    parser.add_argument(
        "--catalog-threads", type=int, default=0, help="the daemon's setting (0: its default, 4)"
    )
    parser.add_argument("--sample-datums", type=int, default=2000, help="datums for the reference's timing")
    parser.add_argument("--drain-timeout", type=float, default=120.0, help="seconds to wait for late acks")
    args = parser.parse_args()

    with ChildProcesses() as children:
        emulator_process, emulator_conn = children.start(_emulator_main)
        emulator = RemoteEmulator(emulator_conn.recv())
        pids = {"emulator": emulator_process.pid}
        os.environ.update(emulator.environ())
        if args.cloudwatch == "stub":
            stub_process, stub_conn = children.start(_stub_main)
            os.environ["AWS_ENDPOINT_URL_CLOUDWATCH"] = stub_conn.recv()
            pids["stub"] = stub_process.pid
        sandbox = create_sandbox(emulator, name="bench")
        writer_process, writer = children.start(
            _writer_main, emulator.endpoint, sandbox, args.tables, args.writer_threads
        )
        pids["writer"] = writer_process.pid
        if writer.recv() != "ready":
            raise RuntimeError("the writer did not start")
        run = asyncio.run(run_load(args, sandbox, writer, pids))
        writer.send(("stop",))
        writer_process.join(timeout=30)
        ref = measure_reference(emulator, sandbox, args.tables, args.sample_datums)
        report(args, run, ref, os.cpu_count() or 1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
