"""Benchmark: icewatch's metrics engine against the reference method, side by side, in one run.

Reference = what the original AWS sample does: pyiceberg `inspect.snapshots()`, `partitions()`,
`files()` + pandas. icewatch cold = a fresh manifest cache; incremental = one new commit with a warm
cache. Each (shape, method) runs in its own child process so peak RSS is its own, printed as
"process peak + growth during the measured calls" (MB). Times are medians of REPEATS runs;
ratios matter more than seconds on a noisy machine.

    python -m bench.engine [--shapes small,commits_1k,files_10k] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import time

METHODS = ("reference", "cold", "incremental")


def _rss_kb() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() // 1024


def run_one(shape: str, method: str, repeats: int) -> dict:
    """In a child process: time one method on one shape; report times, peak RSS and the values."""
    from bench.reference import reference_metrics
    from bench.tables import append_one_commit, open_table
    from service.collection import TableCollector
    from service.iceberg.manifests import ManifestAggregateCache, ManifestReader
    from service.models import TableName
    from service.settings import Settings

    catalog, table = open_table(shape)
    name = TableName(*table.name()[-2:])
    settings = Settings()

    def icewatch(collector: TableCollector, t) -> dict[str, float]:
        current = t.current_snapshot()
        metrics = collector.collect(t, name, [current] if current else [])
        return {d.name: d.value for d in metrics.datums if len(d.dimensions) == 1}

    def fresh() -> TableCollector:
        return TableCollector(ManifestReader(ManifestAggregateCache(10**7)), settings)

    warm = fresh()
    if method == "incremental":
        icewatch(warm, table)  # fill the cache, as a running daemon would have
    rss_before = _rss_kb()
    times, values = [], {}
    for _ in range(repeats):
        if method == "incremental":
            append_one_commit(table)
            table = catalog.load_table(table.name())
        started = time.perf_counter()
        if method == "reference":
            values = reference_metrics(table)
        elif method == "cold":
            values = icewatch(fresh(), table)
        else:
            values = icewatch(warm, table)
        times.append(time.perf_counter() - started)
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "shape": shape,
        "method": method,
        "seconds": statistics.median(times),
        "peak_rss_mb": peak_kb / 1024,
        "peak_growth_mb": max(0, peak_kb - rss_before) / 1024,
        "values": values,
        # The incremental table has grown: check it against the reference on the same final state.
        "reference_values": reference_metrics(table) if method == "incremental" else None,
        "snapshots": len(table.metadata.snapshots),
    }


def _child(shape: str, method: str, repeats: int) -> dict:
    # One pyiceberg worker: the reference's fastest setting on 2 cores (its 6-thread default is slower).
    env = {**os.environ, "PYICEBERG_MAX_WORKERS": "1"}
    out = subprocess.run(
        [sys.executable, "-m", "bench.engine", "--child", shape, method, "--repeats", str(repeats)],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _compare(reference: dict[str, float], ours: dict[str, float]) -> list[str]:
    """Metric names where icewatch differs from the reference by more than 1e-9 relative."""
    bad = []
    for name, ref in reference.items():
        got = ours.get(name)
        tol = 1e-9 * abs(ref) + (1e-9 if "skew" in name else 0.0)
        if got is None or math.isnan(ref) or abs(got - ref) > tol:
            bad.append(f"{name}: reference {ref!r}, icewatch {got!r}")
    return bad


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--shapes", default="small,commits_1k,files_10k")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", nargs=2, metavar=("SHAPE", "METHOD"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_one(*args.child, args.repeats)))
        return 0

    from bench.tables import SHAPES

    header = (
        f"{'shape':<11} {'snaps':>5} | {'reference':>10} {'cold':>9} {'ratio':>7} | {'incremental':>11} "
        f"{'ratio':>8} | {'peak RSS MB ref/cold/incr':>26} | identical"
    )
    print(header)
    print("-" * len(header))
    for shape in args.shapes.split(","):
        res = {m: _child(shape, m, args.repeats) for m in METHODS}
        ref, cold, incr = (res[m] for m in METHODS)
        mismatches = _compare(ref["values"], cold["values"]) + _compare(
            incr["reference_values"], incr["values"]
        )
        rss = "/".join(f"{r['peak_rss_mb']:.0f}+{r['peak_growth_mb']:.0f}" for r in (ref, cold, incr))
        print(
            f"{shape:<11} {ref['snapshots']:>5} | "
            f"{ref['seconds'] * 1000:>8.1f}ms {cold['seconds'] * 1000:>7.1f}ms "
            f"{ref['seconds'] / cold['seconds']:>6.1f}x | {incr['seconds'] * 1000:>9.2f}ms "
            f"{ref['seconds'] / incr['seconds']:>7.0f}x | {rss:>26} | "
            + ("yes" if not mismatches else f"NO ({len(mismatches)})")
        )
        for line in mismatches:
            print(f"    {line}")
        print(f"    {SHAPES[shape].description}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
