"""The latest table metrics as Prometheus gauges, from an in-memory snapshot (scrapes never call AWS)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator, Sequence

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from service.engine.catalogue import PARTITION_DIMENSION, TABLE_DIMENSION, UNITS
from service.engine.health import WEIGHTS, Finding
from service.models import MetricDatum, Unit


def prometheus_name(metric: str) -> str:
    """Catalogue name -> Prometheus name in base units, e.g. snapshot.added_files_size -> ..._bytes."""
    name = "icewatch_" + metric.replace(".", "_")
    unit = UNITS[metric]
    if unit is Unit.BYTES and not name.endswith("_bytes"):
        name += "_bytes"
    elif unit is Unit.SECONDS and "seconds" not in name:
        name = name.removesuffix("_s") + "_seconds"
    return name


_LABELS = {TABLE_DIMENSION: "table", PARTITION_DIMENSION: "partition"}


class TableMetricsExporter(Collector):
    """Holds each table's latest datums and recommendations; `collect()` renders them."""

    def __init__(self) -> None:
        self._latest: dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]] = {}
        self._findings: dict[str, set[str]] = {}
        self._updated: dict[str, float] = {}
        self._lock = threading.Lock()

    def update(self, table: str, datums: Iterable[MetricDatum], findings: Sequence[Finding]) -> None:
        # Per-partition series are replaced, not merged: the top-K set changes between commits.
        latest = {(d.name, d.dimensions): d.value for d in datums}
        with self._lock:
            self._latest[table] = latest
            self._findings[table] = {f.code for f in findings}
            self._updated[table] = time.time()

    def update_snapshot(self, table: str, datums: Iterable[MetricDatum]) -> None:
        """Per-snapshot datums change only their own series (the newest snapshot's value wins)."""
        with self._lock:
            latest = self._latest.setdefault(table, {})
            for d in datums:
                latest[(d.name, d.dimensions)] = d.value

    def forget(self, table: str) -> None:
        with self._lock:
            self._latest.pop(table, None)
            self._findings.pop(table, None)
            self._updated.pop(table, None)

    @property
    def tables(self) -> int:
        return len(self._latest)

    def view(self) -> dict[str, tuple[dict[str, float], set[str], float]]:
        """Per table: table-level values by metric name, recommendation codes, and when updated."""
        with self._lock:
            return {
                table: (
                    {name: value for (name, dims), value in values.items() if len(dims) == 1},
                    set(self._findings.get(table, ())),
                    self._updated.get(table, 0.0),
                )
                for table, values in self._latest.items()
            }

    def collect(self) -> Iterator[GaugeMetricFamily]:
        with self._lock:
            latest = {table: dict(values) for table, values in self._latest.items()}
            findings = {table: set(codes) for table, codes in self._findings.items()}
        families: dict[str, GaugeMetricFamily] = {}
        for values in latest.values():
            for (name, dims), value in values.items():
                labels = [_LABELS.get(k, k) for k, _ in dims]
                key = prometheus_name(name) + ("_by_partition" if len(dims) > 1 else "")
                family = families.get(key)
                if family is None:
                    family = families[key] = GaugeMetricFamily(
                        key, f"icewatch table metric {name}", labels=labels
                    )
                family.add_metric([v for _, v in dims], value)
        yield from families.values()
        recommendation = GaugeMetricFamily(
            "icewatch_recommendation",
            "1 when a maintenance recommendation applies to the table (see icewatch report)",
            labels=["table", "action"],
        )
        for table, codes in findings.items():
            for code in WEIGHTS:
                recommendation.add_metric([table, code], 1.0 if code in codes else 0.0)
        yield recommendation
