"""How often a table's current-state datums go to CloudWatch: at most once per interval, latest first.

Snapshot datums are published for every commit. The current state (partition, file and health
metrics) is a gauge that CloudWatch keeps at one-minute resolution: a table committing every two
seconds would send it thirty times a minute for one stored point. The cadence publishes a table's
state when its interval has passed and holds the newest one otherwise; a held state is handed out
once the interval has passed, so CloudWatch is never more than one interval behind.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from service.models import MetricDatum


class StateCadence:
    """Per table: publish the current state now, or hold it until `interval_s` after the last one."""

    def __init__(self, interval_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._interval_s = interval_s
        self._clock = clock
        self._next: dict[str, float] = {}
        self._held: dict[str, list[MetricDatum]] = {}

    def admit(self, table: str, datums: list[MetricDatum]) -> list[MetricDatum]:
        """The datums to publish with this run: all when the table is due, none (held) otherwise."""
        if self._interval_s <= 0:
            return datums
        now = self._clock()
        if now >= self._next.get(table, float("-inf")):
            self._next[table] = now + self._interval_s
            self._held.pop(table, None)
            return datums
        self._held[table] = datums  # a newer state replaces an older held one
        return []

    def due(self, everything: bool = False) -> list[MetricDatum]:
        """Held states whose interval has passed (all of them with `everything`, at shutdown)."""
        now = self._clock()
        ready = [t for t in self._held if everything or now >= self._next[t]]
        datums: list[MetricDatum] = []
        for table in ready:
            datums += self._held.pop(table)
            self._next[table] = now + self._interval_s
        return datums

    def forget(self, table: str) -> None:
        self._next.pop(table, None)
        self._held.pop(table, None)

    @property
    def held(self) -> int:
        return len(self._held)
