"""The SQLite state store: one file on local disk, for a single icewatch task.

Processes sharing the file coordinate correctly (every write is one `BEGIN IMMEDIATE` transaction),
but WAL mode needs shared memory, so the file must not live on a network filesystem (NFS, EFS):
replicas on several hosts use the DynamoDB store.
"""

from __future__ import annotations

import asyncio
import functools
import sqlite3
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, TypeVar

from service.state.base import StateStoreError, StoreLifecycle, TableRecord, Watermark, check_ttl, one_line

T = TypeVar("T")

_BUSY_TIMEOUT_S = 10.0  # another process's write transaction is a few statements: wait, don't fail

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS watermarks (
    table_name TEXT PRIMARY KEY,
    snapshot_id INTEGER NOT NULL,
    sequence_number INTEGER NOT NULL,
    timestamp_ms INTEGER NOT NULL,
    metadata_location TEXT,
    updated_at_s REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS leases (
    table_name TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    expires_at REAL NOT NULL
);
"""

_RECORD_COLUMNS = "table_name, snapshot_id, sequence_number, timestamp_ms, metadata_location, updated_at_s"


class SqliteStateStore(StoreLifecycle):
    """A StateStore in a SQLite file (or ":memory:"); one connection, used from one worker thread."""

    def __init__(self, path: str, clock: Callable[[], float] = time.time) -> None:
        self._path = path
        self._clock = clock
        self._executor: ThreadPoolExecutor | None = None
        self._db: sqlite3.Connection | None = None  # touched only in the executor's thread
        self._started_ms: int | None = None

    def __repr__(self) -> str:
        return f"SqliteStateStore({self._path!r})"

    async def open(self) -> None:
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="icewatch-state")
        try:
            self._started_ms = await self._run(self._open)
        except StateStoreError as exc:
            await self.close()
            cause = exc.__cause__ or exc
            raise StateStoreError(
                f"cannot open the SQLite state store {self._path}: {one_line(cause)}; "
                "check that its directory exists and is writable"
            ) from cause

    async def close(self) -> None:
        executor, self._executor = self._executor, None
        if executor is None:
            return
        await asyncio.get_running_loop().run_in_executor(executor, self._close)
        executor.shutdown(wait=False)

    async def get(self, table: str) -> TableRecord | None:
        rows = await self._run(self._select, "WHERE table_name = ?", (table,))
        return rows[0] if rows else None

    async def tables(self) -> list[TableRecord]:
        return await self._run(self._select, "ORDER BY table_name", ())

    async def acquire(self, table: str, owner: str, ttl_s: float) -> bool:
        check_ttl(ttl_s)
        return await self._run(self._acquire, table, owner, ttl_s)

    async def release(self, table: str, owner: str) -> None:
        await self._run(self._write, "DELETE FROM leases WHERE table_name = ? AND owner = ?", (table, owner))

    async def advance(self, table: str, owner: str, watermark: Watermark) -> bool:
        return await self._run(self._advance, table, owner, watermark)

    async def forget(self, table: str) -> None:
        await self._run(self._forget, table)

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        if self._executor is None:
            raise StateStoreError(f"{self!r} is not open")
        try:
            return await asyncio.get_running_loop().run_in_executor(
                self._executor, functools.partial(fn, *args)
            )
        except sqlite3.Error as exc:
            raise StateStoreError(f"SQLite state store {self._path}: {one_line(exc)}") from exc

    # Everything below runs in the executor's thread.

    @contextmanager
    def _immediate(self) -> Iterator[sqlite3.Connection]:
        """A write transaction that takes the file's write lock up front, so check-then-write is atomic."""
        db = self._connection()
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            if db.in_transaction:
                db.rollback()
            raise
        db.execute("COMMIT")

    def _connection(self) -> sqlite3.Connection:
        if self._db is None:
            raise sqlite3.ProgrammingError("the store is closed")
        return self._db

    def _open(self) -> int:
        # isolation_level=None: no implicit transactions; each write says BEGIN IMMEDIATE itself.
        self._db = sqlite3.connect(self._path, timeout=_BUSY_TIMEOUT_S, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")  # readers don't block the writer, nor it them
        # No fsync per commit: a killed process loses nothing; a power loss can lose the last watermarks,
        # which only re-publishes those snapshots (at least once). FULL capped a task at ~135 runs/s.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        with self._immediate() as db:
            db.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('watch_started_ms', ?)",
                (int(self._clock() * 1000),),
            )
            (started_ms,) = db.execute("SELECT value FROM meta WHERE key = 'watch_started_ms'").fetchone()
        return int(started_ms)

    def _close(self) -> None:
        db, self._db = self._db, None
        if db is not None:
            db.close()

    def _select(self, clause: str, params: tuple[Any, ...]) -> list[TableRecord]:
        rows = self._connection().execute(f"SELECT {_RECORD_COLUMNS} FROM watermarks {clause}", params)
        return [
            TableRecord(name, Watermark(snapshot_id, sequence, timestamp_ms, location), updated_at_s)
            for name, snapshot_id, sequence, timestamp_ms, location, updated_at_s in rows
        ]

    def _write(self, sql: str, params: tuple[Any, ...]) -> None:
        with self._immediate() as db:
            db.execute(sql, params)

    def _acquire(self, table: str, owner: str, ttl_s: float) -> bool:
        now = self._clock()
        with self._immediate() as db:
            row = db.execute("SELECT owner, expires_at FROM leases WHERE table_name = ?", (table,)).fetchone()
            if row is not None and row[0] != owner and row[1] > now:
                return False
            db.execute(
                "INSERT OR REPLACE INTO leases (table_name, owner, expires_at) VALUES (?, ?, ?)",
                (table, owner, now + ttl_s),
            )
            return True

    def _advance(self, table: str, owner: str, watermark: Watermark) -> bool:
        now = self._clock()
        with self._immediate() as db:
            held = db.execute(
                "SELECT 1 FROM leases WHERE table_name = ? AND owner = ? AND expires_at > ?",
                (table, owner, now),
            ).fetchone()
            if held is None:
                return False
            db.execute(
                f"INSERT OR REPLACE INTO watermarks ({_RECORD_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    table,
                    watermark.snapshot_id,
                    watermark.sequence_number,
                    watermark.timestamp_ms,
                    watermark.metadata_location,
                    now,
                ),
            )
            return True

    def _forget(self, table: str) -> None:
        with self._immediate() as db:
            db.execute("DELETE FROM watermarks WHERE table_name = ?", (table,))
            db.execute("DELETE FROM leases WHERE table_name = ?", (table,))
