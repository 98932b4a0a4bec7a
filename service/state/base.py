"""The state store: per-table watermarks and leases that outlive a process and are shared by replicas.

The watermark is the last snapshot whose metrics were published for a table. A replica processes a
table only while it holds the table's lease, publishes, and then advances the watermark, which
succeeds only if the lease is still its own. So a snapshot is published at least once, and a
duplicate can occur only if a process dies between CloudWatch's acknowledgement and the watermark
write, or loses its lease mid-publish (its `advance` then returns False). Leases expire, so a
crashed replica's tables are taken over after at most one lease TTL; replicas' clocks must agree to
well within that TTL, since each judges expiry by its own clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import TracebackType
from typing import Protocol, Self

from service.errors import IcewatchError


class StateStoreError(IcewatchError):
    """The state store's backend failed (unreachable, throttled, access denied, corrupt)."""


@dataclass(frozen=True, slots=True)
class Watermark:
    """The last snapshot whose metrics were published for a table."""

    snapshot_id: int
    sequence_number: int  # 0 for format v1 tables
    timestamp_ms: int
    metadata_location: str | None  # what the reconcile sweep compares with the catalog's


@dataclass(frozen=True, slots=True)
class TableRecord:
    """What the store knows about one table ("db.table")."""

    table: str
    watermark: Watermark | None
    updated_at_s: float


class StateStore(Protocol):
    """Watermarks and leases; open it with `async with`. Backend failures raise StateStoreError."""

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...

    async def watch_started_ms(self) -> int:
        """When icewatch began watching: recorded once, when the store is first created; never changes."""
        ...

    async def get(self, table: str) -> TableRecord | None:
        """The table's record, or None if it has never been advanced (or was forgotten)."""
        ...

    async def tables(self) -> list[TableRecord]:
        """Every tracked table, sorted by name."""
        ...

    async def acquire(self, table: str, owner: str, ttl_s: float) -> bool:
        """Take or renew the table's lease; False if another owner holds an unexpired one."""
        ...

    async def release(self, table: str, owner: str) -> None:
        """Give the lease up if it is still `owner`'s; otherwise do nothing."""
        ...

    async def advance(self, table: str, owner: str, watermark: Watermark) -> bool:
        """Store the watermark only if `owner` holds an unexpired lease; False otherwise (lost lease)."""
        ...

    async def forget(self, table: str) -> None:
        """The table was dropped: remove its record and lease."""
        ...


class StoreLifecycle:
    """What every store shares: `async with` opens and closes it, and the start time it recorded."""

    _started_ms: int | None = None

    async def open(self) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def watch_started_ms(self) -> int:
        if self._started_ms is None:
            raise StateStoreError(f"{self!r} is not open")
        return self._started_ms


def check_ttl(ttl_s: float) -> None:
    if not ttl_s > 0:  # also rejects NaN
        raise ValueError(f"a lease TTL must be positive, got {ttl_s!r}")


def one_line(error: BaseException) -> str:
    """An exception as a single line, for StateStoreError messages and log lines."""
    text = " ".join(str(error).split()) or type(error).__name__
    return text[:300]
