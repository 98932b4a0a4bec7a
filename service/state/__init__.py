"""Persistent watermarks and per-table leases: `open_state_store(ICEWATCH_STATE_URL)`."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

from service.errors import SettingsError
from service.state.base import StateStore, StateStoreError, TableRecord, Watermark
from service.state.sqlite import SqliteStateStore

__all__ = ["StateStore", "StateStoreError", "TableRecord", "Watermark", "open_state_store"]

DEFAULT_STATE_URL = "sqlite:///icewatch-state.db"
_FORMS = (
    "sqlite:///relative/path.db, sqlite:////absolute/path.db, sqlite:///:memory: or dynamodb://TABLE_NAME"
)
_DYNAMODB_TABLE_NAME = re.compile(r"[A-Za-z0-9_.-]{3,255}")  # DynamoDB's own rule


def open_state_store(url: str, clock: Callable[[], float] = time.time) -> StateStore:
    """The store `url` names, not yet opened (use `async with`); SettingsError if the URL is malformed.

    As in SQLAlchemy, `sqlite:///` is followed by the path: relative with three slashes, absolute with four.
    """
    if url.startswith("sqlite:///"):
        path = url.removeprefix("sqlite:///")
        if path and not path.endswith("/") and "?" not in path:
            return SqliteStateStore(path, clock)
    elif url.startswith("dynamodb://"):
        name = url.removeprefix("dynamodb://")
        if _DYNAMODB_TABLE_NAME.fullmatch(name):
            from service.state.dynamodb import DynamoDbStateStore  # aioboto3 only when it is used

            return DynamoDbStateStore(name, clock)
    raise SettingsError(f"ICEWATCH_STATE_URL={url!r} is not a state store URL; use {_FORMS}")
