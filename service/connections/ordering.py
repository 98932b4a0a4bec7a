"""The order a Glue job should try its connections in, from their subnets' free IP addresses (pure, no I/O).

Tiers (as in AWS's post "Combine AWS Glue and Amazon MWAA to build advanced VPC selection and failover
strategies"): FULL subnets have room for the whole job (workers + driver), USABLE ones at least the
minimum a job needs to start (2 IPs); everything else goes LAST in its configured order: a lookup that
failed, a zone that is not `available`, a subnet with fewer than 2 free IPs. A connection is never
dropped: Glue skips one that fails its checks, so keeping it costs nothing and may save a run.

Within FULL and USABLE, `capacity` puts the most free IPs first, and `random` shuffles with a seed made
of the job's name and the tier's members, so the order changes exactly when the tier's membership does
(not on every poll, which would rewrite the job every minute) and different jobs spread differently.
Hysteresis (capacity): a connection moves ahead of one listed before it only when it has at least
`hysteresis_ips` more free IPs, so jobs aren't rewritten for the ENIs of a job starting or stopping.
"""

from __future__ import annotations

import math
import random
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Literal

MIN_IPS_TO_START = 2  # a driver and one worker: the least Glue starts a job with
ZONE_AVAILABLE = "available"
Strategy = Literal["capacity", "random"]
STRATEGIES: tuple[Strategy, ...] = ("capacity", "random")


class Tier(IntEnum):
    """Connections of a lower tier are always listed before those of a higher one."""

    FULL = 1
    USABLE = 2
    LAST = 3

    @property
    def label(self) -> str:
        return {1: "full job", 2: "usable", 3: "last"}[self.value]


@dataclass(frozen=True, slots=True)
class ConnectionCapacity:
    """What is known about one connection's subnet; `error` says why a lookup failed."""

    connection: str
    free_ips: int | None = None
    subnet_id: str | None = None
    availability_zone: str | None = None
    zone_state: str | None = None
    error: str | None = None

    @property
    def checked(self) -> bool:
        """Its subnet's free IPs are known and its zone is `available`."""
        return self.error is None and self.free_ips is not None and self.zone_state == ZONE_AVAILABLE

    def reason_last(self, min_ips: int) -> str | None:
        """Why this connection can only go last, or None if it needn't."""
        if self.error is not None:
            return self.error
        if self.free_ips is None:
            return "free IP addresses unknown"
        if self.zone_state != ZONE_AVAILABLE:
            return f"zone {self.availability_zone} is {self.zone_state or 'of unknown state'}"
        if self.free_ips < min_ips:
            return f"{self.free_ips} free IPs, fewer than the {min_ips} a job needs to start"
        return None


@dataclass(frozen=True, slots=True)
class RankedConnection:
    capacity: ConnectionCapacity
    tier: Tier

    @property
    def name(self) -> str:
        return self.capacity.connection


@dataclass(frozen=True, slots=True)
class ConnectionOrder:
    """The managed connections in the order the job should try them, with the figures behind it."""

    ranked: tuple[RankedConnection, ...]
    required_ips: int
    min_ips: int
    strategy: Strategy

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(r.name for r in self.ranked)

    @property
    def measured(self) -> bool:
        """At least one subnet was measured: an order made of no figures at all is no reason to act."""
        return any(r.capacity.checked for r in self.ranked)

    def tiers(self) -> dict[Tier, tuple[str, ...]]:
        return {tier: tuple(r.name for r in self.ranked if r.tier is tier) for tier in Tier}


def required_ips(number_of_workers: int | None, max_capacity: float | None) -> int:
    """IP addresses for the whole job: one per worker plus the driver (an estimate for DPU-sized jobs)."""
    if number_of_workers:
        return number_of_workers + 1
    if max_capacity:
        return math.ceil(max_capacity) + 1
    return MIN_IPS_TO_START


def tier_of(capacity: ConnectionCapacity, required: int, min_ips: int = MIN_IPS_TO_START) -> Tier:
    if not capacity.checked or capacity.free_ips is None or capacity.free_ips < min_ips:
        return Tier.LAST
    return Tier.FULL if capacity.free_ips >= max(required, min_ips) else Tier.USABLE


def order_connections(
    capacities: Sequence[ConnectionCapacity],
    required: int,
    strategy: Strategy = "capacity",
    *,
    previous: Sequence[str] = (),
    hysteresis_ips: int = 0,
    min_ips: int = MIN_IPS_TO_START,
    seed: str = "",
    avoid: Collection[str] = (),
) -> ConnectionOrder:
    """Order `capacities` (the managed connections, in their configured order).

    `previous` is the order the job has now (unknown names are ignored): `capacity` keeps it while no
    connection has `hysteresis_ips` more free IPs than one listed before it. `seed` (the job's name)
    makes `random` reproducible for the same tier membership. `avoid` (a connection a run just failed
    in) goes to the end of its tier.
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; expected one of {', '.join(STRATEGIES)}")
    names = [c.connection for c in capacities]
    if len(set(names)) != len(names):
        raise ValueError(f"a connection is listed twice: {names}")
    if hysteresis_ips < 0 or min_ips < 1 or required < 1:
        raise ValueError("hysteresis_ips must be >= 0, min_ips and required >= 1")
    configured = {name: i for i, name in enumerate(names)}
    previous_rank = {name: i for i, name in enumerate(dict.fromkeys(n for n in previous if n in configured))}

    def in_previous_order(members: Iterable[ConnectionCapacity]) -> list[ConnectionCapacity]:
        return sorted(
            members,
            key=lambda c: (previous_rank.get(c.connection, len(configured)), configured[c.connection]),
        )

    ranked: list[RankedConnection] = []
    for tier in Tier:
        members = [c for c in capacities if tier_of(c, required, min_ips) is tier]
        if tier is Tier.LAST:
            ordered = members  # configured order: there are no figures to order them by
        elif strategy == "capacity":
            ordered = _sorted_with_margin(in_previous_order(members), max(1, hysteresis_ips))
        else:
            ordered = _seeded_shuffle(members, f"{seed}\x1f{tier.value}")
        ordered = [c for c in ordered if c.connection not in avoid] + [
            c for c in ordered if c.connection in avoid
        ]
        ranked += [RankedConnection(c, tier) for c in ordered]
    return ConnectionOrder(tuple(ranked), required, min_ips, strategy)


def job_connections(
    managed_order: Sequence[str], current: Sequence[str], managed: Iterable[str]
) -> list[str]:
    """The job's full connection list: the managed ones in order, then the others it has, as they were."""
    managed_set = set(managed) | set(managed_order)
    return list(managed_order) + [c for c in dict.fromkeys(current) if c not in managed_set]


def _sorted_with_margin(items: list[ConnectionCapacity], margin: int) -> list[ConnectionCapacity]:
    """Most free IPs first, but an item passes one before it only with at least `margin` more.

    Greedy: take the earliest remaining item within `margin` of the largest remaining, so the input
    order survives wherever it is already good enough (margin 1 is a plain stable sort).
    """
    remaining = list(items)
    out: list[ConnectionCapacity] = []
    while remaining:
        top = max(c.free_ips or 0 for c in remaining)
        pick = next(c for c in remaining if top - (c.free_ips or 0) < margin)
        out.append(pick)
        remaining.remove(pick)
    return out


def _seeded_shuffle(members: list[ConnectionCapacity], seed: str) -> list[ConnectionCapacity]:
    """A shuffle that depends only on `seed` and which connections there are (str seeds are stable)."""
    members = sorted(members, key=lambda c: c.connection)
    rng = random.Random(f"{seed}\x1f" + "\x1f".join(c.connection for c in members))
    rng.shuffle(members)
    return members
