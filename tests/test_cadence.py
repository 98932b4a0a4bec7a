"""The state cadence: a busy table's current state reaches CloudWatch once per interval, newest first."""

from __future__ import annotations

from datetime import UTC, datetime

from service.cadence import StateCadence
from service.models import MetricDatum, Unit


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def state(files: int) -> list[MetricDatum]:
    at = datetime(2026, 11, 23, tzinfo=UTC)
    return [MetricDatum("files.data_count", float(files), Unit.COUNT, at, (("Table", "db.t"),))]


def test_a_table_committing_every_2_s_publishes_its_state_once_a_minute_and_then_the_newest():
    clock = Clock()
    cadence = StateCadence(60, clock)
    published = []
    for files in range(1, 31):  # one commit every 2 s for a minute
        published += cadence.admit("db.t", state(files))
        published += cadence.due()
        clock.now += 2
    assert [d.value for d in published] == [1.0]  # the first run's state; the rest held
    assert cadence.held == 1
    assert cadence.due() == state(30)  # 60 s after the first: the newest state, not the ones between
    assert cadence.held == 0
    assert cadence.due() == []


def test_different_tables_have_their_own_intervals():
    clock = Clock()
    cadence = StateCadence(60, clock)
    assert cadence.admit("db.a", state(1)) == state(1)
    clock.now = 30
    assert cadence.admit("db.b", state(2)) == state(2)
    assert cadence.admit("db.a", state(3)) == []


def test_shutdown_hands_out_every_held_state_and_forget_drops_a_tables():
    clock = Clock()
    cadence = StateCadence(60, clock)
    for table in ("db.a", "db.b", "db.c"):
        cadence.admit(table, state(1))
        cadence.admit(table, state(2))
    cadence.forget("db.c")
    assert len(cadence.due(everything=True)) == 2


def test_interval_zero_publishes_the_state_with_every_commit():
    cadence = StateCadence(0, Clock())
    assert [cadence.admit("db.t", state(n)) for n in (1, 2)] == [state(1), state(2)]
    assert cadence.due(everything=True) == []
