"""Glue catalog events, as EventBridge delivers them to SQS, parsed into the tables that changed.

Pure logic: `parse_message` returns `TableChange`s or raises an `EventError` whose `reason` is a
metric label; the caller logs, counts and deletes. No other exception escapes, whatever the body.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Literal, TypeVar, get_args

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StrictStr, ValidationError
from pydantic_core import PydanticCustomError

GLUE_SOURCE = "aws.glue"
TABLE_STATE_CHANGE = "Glue Data Catalog Table State Change"
DATABASE_STATE_CHANGE = "Glue Data Catalog Database State Change"
# EventBridge's event size limit; SQS itself now takes up to 1 MiB, but these bodies come from EventBridge.
MAX_BODY_BYTES = 256 * 1024
MAX_MESSAGE_CHARS = 300  # an error message is one log line, even for a huge bad body
MAX_GLUE_NAME_CHARS = 255
# The table is gone (with its database, for DeleteDatabase): the worker forgets it instead of loading it.
DROPPING_CHANGES = frozenset({"DeleteTable", "BatchDeleteTable", "DeleteDatabase"})

InvalidReason = Literal[
    "oversized", "invalid_json", "not_an_object", "missing_field", "wrong_type", "invalid_name"
]
IrrelevantReason = Literal["not_glue", "unknown_detail_type", "no_tables"]


def _bounded(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _excerpt(value: str, limit: int = 60) -> str:
    """`value` quoted, escaped and cut short: safe to put in a one-line message."""
    return repr(value[:limit]) + ("…" if len(value) > limit else "")


class EventError(Exception):
    """A queue message icewatch will not act on; `reason` is its metric label, the message says why."""

    REASONS: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, reason: str, message: str) -> None:
        if reason not in self.REASONS:
            raise ValueError(
                f"{type(self).__name__} has no reason {reason!r}; use one of {sorted(self.REASONS)}"
            )
        super().__init__(_bounded(message))
        self.reason = reason


class InvalidEvent(EventError):
    """The body can never become a valid Glue event; redelivery won't help, so delete it."""

    REASONS: ClassVar[frozenset[str]] = frozenset(get_args(InvalidReason))

    def __init__(self, reason: InvalidReason, message: str) -> None:
        super().__init__(reason, message)


class IrrelevantEvent(EventError):
    """A valid event that names no table for icewatch to refresh; delete it quietly."""

    REASONS: ClassVar[frozenset[str]] = frozenset(get_args(IrrelevantReason))

    def __init__(self, reason: IrrelevantReason, message: str) -> None:
        super().__init__(reason, message)


# Glue's name pattern allows any single-line string; icewatch also refuses control characters.
_GLUE_NAME = re.compile(r"[^\x00-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]*")


def _glue_name(value: str) -> str:
    if not value:
        raise PydanticCustomError("invalid_name", "is empty; Glue names have at least one character")
    if len(value) > MAX_GLUE_NAME_CHARS:
        raise PydanticCustomError(
            "invalid_name",
            "is {length} characters; Glue names have at most {limit}",
            {"length": len(value), "limit": MAX_GLUE_NAME_CHARS},
        )
    if not _GLUE_NAME.fullmatch(value):
        raise PydanticCustomError("invalid_name", "contains a control character; Glue names have none")
    return value


# AWS operation names (UpdateTable, BatchCreatePartition…): unknown ones pass, odd text does not.
_TYPE_OF_CHANGE = re.compile(r"[A-Za-z][A-Za-z0-9]{0,63}")


def _type_of_change(value: str) -> str:
    if not _TYPE_OF_CHANGE.fullmatch(value):
        raise PydanticCustomError("wrong_type", "should be a Glue operation name, like UpdateTable")
    return value


def _event_time(value: object) -> datetime:
    if not isinstance(value, str):
        raise PydanticCustomError("wrong_type", "should be an ISO 8601 timestamp string")
    try:
        parsed = datetime.fromisoformat(value)
        if parsed.utcoffset() is None:
            raise ValueError
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError):  # OverflowError: year 1 or 9999 shifted out of range by the offset
        raise PydanticCustomError(
            "wrong_type", "should be an ISO 8601 timestamp with a time zone, like 2026-11-23T10:00:00Z"
        ) from None


GlueName = Annotated[StrictStr, AfterValidator(_glue_name)]
TypeOfChange = Annotated[StrictStr, AfterValidator(_type_of_change)]
EventTime = Annotated[datetime, BeforeValidator(_event_time)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class EventEnvelope(_Frozen):
    """An EventBridge event; `detail` is left raw until `source` and `detail-type` say what it holds."""

    version: StrictStr | None = None
    id: StrictStr | None = None
    detail_type: StrictStr = Field(alias="detail-type")
    source: StrictStr
    account: StrictStr | None = None  # AWS and LocalStack send it, moto does not
    time: EventTime | None = None
    region: StrictStr | None = None
    resources: tuple[StrictStr, ...] = ()
    detail: dict[str, Any]


class TableStateDetail(_Frozen):
    """The detail of a "Glue Data Catalog Table State Change" (its changedPartitions are not needed)."""

    database_name: GlueName = Field(alias="databaseName")
    table_name: GlueName = Field(alias="tableName")
    type_of_change: TypeOfChange = Field(alias="typeOfChange")


class DatabaseStateDetail(_Frozen):
    """The detail of a "Glue Data Catalog Database State Change"."""

    database_name: GlueName = Field(alias="databaseName")
    type_of_change: TypeOfChange = Field(alias="typeOfChange")
    changed_tables: tuple[GlueName, ...] | None = Field(None, alias="changedTables")


@dataclass(frozen=True, slots=True)
class TableChange:
    """One table a Glue event says changed: the worker reloads it, or forgets it when `dropped`."""

    database: str
    table: str
    type_of_change: str
    event_time: datetime | None = None
    event_id: str | None = None

    @property
    def dropped(self) -> bool:
        return self.type_of_change in DROPPING_CHANGES


def parse_message(body: str | bytes) -> list[TableChange]:
    """The tables one SQS message body says changed, each once, in event order; never empty.

    Raises InvalidEvent for a body that can never be a Glue event, IrrelevantEvent for an event
    that names no table; nothing else.
    """
    data = _load_json(body)
    if not isinstance(data, dict):
        raise InvalidEvent(
            "not_an_object", f"message body is {_json_kind(data)}, not an EventBridge event object"
        )
    envelope = _validate(EventEnvelope, data, "event")
    if envelope.source != GLUE_SOURCE:
        raise IrrelevantEvent(
            "not_glue",
            f"source {_excerpt(envelope.source)} is not {GLUE_SOURCE!r}: the rule matches non-Glue events",
        )
    if envelope.detail_type == TABLE_STATE_CHANGE:
        table_detail = _validate(TableStateDetail, envelope.detail, "detail")
        database, type_of_change = table_detail.database_name, table_detail.type_of_change
        tables: tuple[str, ...] = (table_detail.table_name,)
    elif envelope.detail_type == DATABASE_STATE_CHANGE:
        database_detail = _validate(DatabaseStateDetail, envelope.detail, "detail")
        database, type_of_change = database_detail.database_name, database_detail.type_of_change
        tables = database_detail.changed_tables or ()
        if not tables:
            raise IrrelevantEvent(
                "no_tables",
                f"Glue {type_of_change} event for database {_excerpt(database)} names no changed tables",
            )
    else:
        raise IrrelevantEvent(
            "unknown_detail_type",
            f"detail-type {_excerpt(envelope.detail_type)} is not a Glue table or database state change",
        )
    return [
        TableChange(database, table, type_of_change, envelope.time, envelope.id)
        for table in dict.fromkeys(tables)
    ]


def _load_json(body: str | bytes) -> object:
    if isinstance(body, str):
        # A character is at least one UTF-8 byte, so a long string is oversized without encoding it.
        size = len(body) if len(body) > MAX_BODY_BYTES else len(body.encode("utf-8", "surrogatepass"))
    else:
        size = len(body)
    if size > MAX_BODY_BYTES:
        raise InvalidEvent(
            "oversized",
            f"message body is {size} bytes, over the {MAX_BODY_BYTES} an EventBridge event can be",
        )
    if isinstance(body, str):
        text = body
    else:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidEvent(
                "invalid_json", f"message body is not UTF-8 (bad byte at offset {exc.start})"
            ) from None
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise InvalidEvent(
            "invalid_json", f"message body is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except RecursionError:
        raise InvalidEvent("invalid_json", "message body is JSON nested too deeply to read") from None
    except ValueError as exc:  # NaN/Infinity, or an integer over Python's digit limit
        reason = str(exc).partition(":")[0]  # drop CPython's advice to call sys.set_int_max_str_digits()
        raise InvalidEvent("invalid_json", f"message body is not JSON icewatch accepts: {reason}") from None


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not standard JSON")


def _json_kind(value: object) -> str:
    kinds = {list: "array", str: "string", bool: "boolean", int: "number", float: "number"}
    return "JSON null" if value is None else f"a JSON {kinds.get(type(value), type(value).__name__)}"


_Model = TypeVar("_Model", bound=BaseModel)
_REASON_OF_ERROR: dict[str, InvalidReason] = {"missing": "missing_field", "invalid_name": "invalid_name"}


def _validate(model: type[_Model], data: dict[str, Any], where: str) -> _Model:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        error = exc.errors(include_url=False, include_context=False, include_input=False)[0]
        field = ".".join(
            [where, *(str(part) if isinstance(part, str) else f"[{part}]" for part in error["loc"])]
        )
        field = _bounded(field.replace(".[", "["), 80)
        reason = _REASON_OF_ERROR.get(error["type"], "wrong_type")
        if reason == "missing_field":
            raise InvalidEvent(
                reason, f"{field} is missing: not a Glue catalog event icewatch can read"
            ) from None
        # pydantic's "Input should be a valid string" reads "detail.tableName should be a valid string".
        message = error["msg"].removeprefix("Input ")
        raise InvalidEvent(reason, f"{field} {message}") from None
