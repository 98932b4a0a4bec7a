"""The connection order (pure): tiers, capacity sort, random within tiers, hysteresis, unmanaged connections.

The table-driven cases follow AWS's post "Combine AWS Glue and Amazon MWAA to build advanced VPC
selection and failover strategies"; the properties hold for any figures.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.connections.ordering import (
    ConnectionCapacity,
    Tier,
    job_connections,
    order_connections,
    required_ips,
    tier_of,
)


def cap(name: str, free: int | None = None, zone_state: str = "available", error: str | None = None):
    return ConnectionCapacity(
        name, free, f"subnet-{name}", "us-east-1a", zone_state if free is not None else None, error
    )


def failed(name: str, reason: str = "connection not found") -> ConnectionCapacity:
    return ConnectionCapacity(name, error=reason)


# (case, configured capacities, IPs for the whole job, strategy, expected order)
CASES = [
    ("most free IPs first", [cap("a", 20), cap("b", 60), cap("c", 40)], 11, "capacity", ["b", "c", "a"]),
    (
        "a subnet too small for the whole job follows every one that can hold it",
        [cap("a", 10), cap("b", 12), cap("c", 11)],
        11,
        "capacity",
        ["b", "c", "a"],
    ),
    (
        "fewer than 2 free IPs goes last, in configured order, after usable ones",
        [cap("x", 1), cap("y", 0), cap("z", 5)],
        11,
        "capacity",
        ["z", "x", "y"],
    ),
    (
        "a failed lookup is kept, last, in configured order",
        [failed("gone"), cap("a", 30), failed("denied", "GetConnection failed: AccessDenied"), cap("b", 3)],
        11,
        "capacity",
        ["a", "b", "gone", "denied"],
    ),
    (
        "a zone that is not available goes last however many IPs it has",
        [cap("big", 500, zone_state="impaired"), cap("small", 20)],
        11,
        "capacity",
        ["small", "big"],
    ),
    (
        "the article's example: good 100 and 50, usable 8, too full 1, unchecked",
        [failed("nope"), cap("one", 1), cap("eight", 8), cap("fifty", 50), cap("hundred", 100)],
        11,
        "capacity",
        ["hundred", "fifty", "eight", "nope", "one"],
    ),
    ("equal figures keep the configured order", [cap("a", 30), cap("b", 30)], 11, "capacity", ["a", "b"]),
]


@pytest.mark.parametrize(
    ("case", "capacities", "required", "strategy", "expected"), CASES, ids=[c[0] for c in CASES]
)
def test_order_by_tier_then_free_ips(case, capacities, required, strategy, expected):
    assert list(order_connections(capacities, required, strategy).names) == expected


def test_random_puts_every_full_job_subnet_before_every_usable_one_and_shuffles_within():
    capacities = [cap("u1", 5), cap("f1", 50), cap("u2", 3), cap("f2", 40), cap("f3", 12), failed("x")]
    orders = {order_connections(capacities, 11, "random", seed=f"job{i}").names for i in range(40)}
    for names in orders:
        assert set(names[:3]) == {"f1", "f2", "f3"}
        assert set(names[3:5]) == {"u1", "u2"}
        assert names[5] == "x"
    assert len({names[:3] for names in orders}) > 1  # it does shuffle: different jobs, different orders


def test_random_keeps_its_order_while_tier_membership_is_unchanged():
    before = [cap("a", 50), cap("b", 40), cap("c", 30), cap("d", 5)]
    after = [cap("a", 12), cap("b", 90), cap("c", 31), cap("d", 3)]  # figures move, tiers don't
    first = order_connections(before, 11, "random", seed="etl")
    assert order_connections(after, 11, "random", seed="etl", previous=["d", "c"]).names == first.names


def test_random_reshuffles_a_tier_when_its_membership_changes():
    base = [cap(n, 50) for n in "abcdef"]
    changed = [cap(n, 5 if n == "a" else 50) for n in "abcdef"]  # `a` leaves the FULL tier

    def others(names):
        return [n for n in names if n != "a"]

    reshuffled = [
        others(order_connections(base, 11, "random", seed=job).names)
        != others(order_connections(changed, 11, "random", seed=job).names)
        for job in (f"job{i}" for i in range(10))
    ]
    assert sum(reshuffled) >= 5  # a fresh shuffle of 5: the same relative order 1 time in 120


def test_hysteresis_keeps_the_current_order_until_the_margin_is_reached():
    kept = order_connections([cap("a", 40), cap("b", 44)], 11, previous=["a", "b"], hysteresis_ips=5)
    assert kept.names == ("a", "b")
    moved = order_connections([cap("a", 40), cap("b", 45)], 11, previous=["a", "b"], hysteresis_ips=5)
    assert moved.names == ("b", "a")


def test_hysteresis_does_not_hold_a_connection_in_a_tier_it_no_longer_belongs_to():
    order = order_connections([cap("a", 10), cap("b", 12)], 11, previous=["a", "b"], hysteresis_ips=50)
    assert order.names == ("b", "a")
    assert order.tiers()[Tier.FULL] == ("b",)


def test_a_connection_to_avoid_goes_to_the_end_of_its_tier_only():
    assert order_connections([cap("a", 60), cap("b", 40)], 11, avoid={"a"}).names == ("b", "a")
    assert order_connections([cap("a", 60), cap("b", 5)], 11, avoid={"a"}).names == ("a", "b")


def test_an_unknown_strategy_is_refused():
    with pytest.raises(ValueError, match="unknown strategy"):
        order_connections([cap("a", 1)], 11, "fastest")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("workers", "max_capacity", "expected"),
    [(10, None, 11), (2, 2.0, 3), (None, 10.0, 11), (None, 0.0625, 2), (None, None, 2)],
)
def test_the_whole_job_needs_a_driver_and_each_worker(workers, max_capacity, expected):
    assert required_ips(workers, max_capacity) == expected


def test_connections_the_poller_does_not_manage_stay_after_the_managed_ones_in_their_order():
    assert job_connections(["b", "a"], ["jdbc", "a", "vpn", "b"], ["a", "b", "c"]) == [
        "b",
        "a",
        "jdbc",
        "vpn",
    ]


# --- properties ------------------------------------------------------------------------------------

NAMES = [f"c{i}" for i in range(8)]


@st.composite
def capacities(draw, min_size: int = 1):
    names = draw(st.lists(st.sampled_from(NAMES), min_size=min_size, max_size=len(NAMES), unique=True))
    out = []
    for name in names:
        kind = draw(st.sampled_from(["ok", "ok", "ok", "failed", "impaired"]))
        free = draw(st.integers(0, 120))
        if kind == "failed":
            out.append(failed(name))
        else:
            out.append(cap(name, free, zone_state="available" if kind == "ok" else "impaired"))
    return out


@settings(max_examples=300, deadline=None)
@given(
    capacities(),
    st.integers(1, 80),
    st.sampled_from(["capacity", "random"]),
    st.lists(st.sampled_from([*NAMES, "u0", "u1", "u2"]), unique=True),
    st.integers(0, 12),
    st.text(max_size=5),
)
def test_any_order_is_the_managed_and_unmanaged_connections_once_each_tiers_first(
    caps, required, strategy, current, margin, seed
):
    order = order_connections(caps, required, strategy, previous=current, hysteresis_ips=margin, seed=seed)
    managed = [c.connection for c in caps]
    full = job_connections(order.names, current, managed)
    assert len(full) == len(set(full))
    assert set(full) == set(managed) | set(current)
    # Tiers: never a higher tier before a lower one, and each connection in the tier its figures give it.
    tiers = [r.tier for r in order.ranked]
    assert tiers == sorted(tiers)
    assert all(r.tier is tier_of(r.capacity, required) for r in order.ranked)
    # Unmanaged connections: after the managed ones, in the job's order.
    assert full[len(managed) :] == [c for c in current if c not in managed]
    # The last tier keeps the configured order.
    last = [r.name for r in order.ranked if r.tier is Tier.LAST]
    assert last == [n for n in managed if n in last]


@settings(max_examples=300, deadline=None)
@given(capacities(), st.integers(1, 80), st.lists(st.sampled_from(NAMES), unique=True), st.integers(0, 12))
def test_capacity_never_lists_a_connection_margin_or_more_ips_behind_a_poorer_one(
    caps, required, current, margin
):
    order = order_connections(caps, required, "capacity", previous=current, hysteresis_ips=margin)
    for tier in (Tier.FULL, Tier.USABLE):
        free = [r.capacity.free_ips for r in order.ranked if r.tier is tier]
        assert all(
            free[j] - free[i] < max(1, margin) for i in range(len(free)) for j in range(i + 1, len(free))
        )


@settings(max_examples=300, deadline=None)
@given(capacities(), st.integers(1, 80), st.integers(2, 20), st.data())
def test_hysteresis_keeps_an_order_under_changes_smaller_than_half_the_margin(caps, required, margin, data):
    settled = order_connections(caps, required, "capacity")
    moved = []
    for c in caps:
        if c.free_ips is None:
            moved.append(c)
            continue
        swing = data.draw(st.integers(-((margin - 1) // 2), (margin - 1) // 2))
        candidate = cap(c.connection, max(0, c.free_ips + swing), zone_state=c.zone_state)
        # A swing that crosses a tier boundary is a real change (the job fits or not): not this property.
        same_tier = tier_of(candidate, required) is tier_of(c, required)
        moved.append(candidate if same_tier else c)
    again = order_connections(moved, required, "capacity", previous=settled.names, hysteresis_ips=margin)
    assert again.names == settled.names


@settings(max_examples=200, deadline=None)
@given(
    capacities(),
    st.integers(1, 80),
    st.sampled_from(["capacity", "random"]),
    st.lists(st.sampled_from(NAMES), unique=True),
    st.integers(0, 12),
)
def test_ordering_again_with_the_same_figures_changes_nothing(caps, required, strategy, current, margin):
    first = order_connections(caps, required, strategy, previous=current, hysteresis_ips=margin, seed="j")
    again = order_connections(caps, required, strategy, previous=first.names, hysteresis_ips=margin, seed="j")
    assert again.names == first.names
