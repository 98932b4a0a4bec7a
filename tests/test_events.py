"""Glue catalog events from SQS: the tables they name, and every bad body rejected with its reason."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import hypothesis
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.events import (
    DATABASE_STATE_CHANGE,
    MAX_BODY_BYTES,
    MAX_MESSAGE_CHARS,
    TABLE_STATE_CHANGE,
    EventError,
    InvalidEvent,
    IrrelevantEvent,
    TableChange,
    parse_message,
)

EVENT_ID = "7f0d2c1e-8a7b-4c3d-9e2f-1a2b3c4d5e6f"
EVENT_TIME = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
DROP = object()  # _edit's value that removes the key instead of replacing it


def table_event(**detail: Any) -> dict[str, Any]:
    return {
        "version": "0",
        "id": EVENT_ID,
        "detail-type": TABLE_STATE_CHANGE,
        "source": "aws.glue",
        "account": "123456789012",
        "time": "2026-11-23T10:00:00Z",
        "region": "us-east-1",
        "resources": ["arn:aws:glue:us-east-1:123456789012:table/db1/t1"],
        "detail": {"databaseName": "db1", "tableName": "t1", "typeOfChange": "UpdateTable", **detail},
    }


def database_event(**detail: Any) -> dict[str, Any]:
    return table_event() | {
        "detail-type": DATABASE_STATE_CHANGE,
        "resources": ["arn:aws:glue:us-east-1:123456789012:database/db1"],
        "detail": {
            "databaseName": "db1",
            "typeOfChange": "CreateTable",
            "changedTables": ["t1", "t2"],
            **detail,
        },
    }


def _edit(event: Any, path: tuple[Any, ...], value: Any = DROP) -> Any:
    """A copy of `event` with the value at `path` replaced, or removed when `value` is DROP."""
    event = copy.deepcopy(event)
    parent = event
    for key in path[:-1]:
        parent = parent[key]
    if value is DROP:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return event


def _body(event: Any) -> str:
    return json.dumps(event)


def _change(table: str = "t1", type_of_change: str = "UpdateTable", database: str = "db1") -> TableChange:
    return TableChange(database, table, type_of_change, EVENT_TIME, EVENT_ID)


# --- events icewatch acts on ---


def test_a_table_update_names_that_table_with_the_event_time_and_id():
    assert parse_message(_body(table_event())) == [_change()]


def test_events_without_an_account_as_moto_sends_them_parse_the_same():
    assert parse_message(_body(_edit(table_event(), ("account",)))) == [_change()]


@pytest.mark.parametrize(
    "type_of_change",
    [
        "CreatePartition",
        "BatchCreatePartition",
        "UpdatePartition",
        "BatchUpdatePartition",
        "BatchDeletePartition",
    ],
)
def test_partition_changes_refresh_their_table(type_of_change):
    event = table_event(
        typeOfChange=type_of_change, changedPartitions=["[2026-11-23, eu]", "[2026-11-23, us]"]
    )
    [change] = parse_message(_body(event))
    assert change == _change(type_of_change=type_of_change)
    assert not change.dropped


def test_a_database_event_names_each_changed_table():
    assert parse_message(_body(database_event())) == [
        _change("t1", "CreateTable"),
        _change("t2", "CreateTable"),
    ]


def test_a_table_listed_twice_in_one_event_is_refreshed_once():
    event = database_event(typeOfChange="BatchDeleteTable", changedTables=["t2", "t1", "t2", "t1"])
    assert [change.table for change in parse_message(_body(event))] == ["t2", "t1"]


@pytest.mark.parametrize(
    ("event", "dropped"),
    [
        pytest.param(table_event(typeOfChange="DeleteTable"), True, id="DeleteTable"),
        pytest.param(database_event(typeOfChange="DeleteTable"), True, id="database-DeleteTable"),
        pytest.param(database_event(typeOfChange="BatchDeleteTable"), True, id="BatchDeleteTable"),
        pytest.param(database_event(typeOfChange="DeleteDatabase"), True, id="DeleteDatabase"),
        pytest.param(table_event(typeOfChange="UpdateTable"), False, id="UpdateTable"),
        pytest.param(database_event(typeOfChange="CreateTable"), False, id="CreateTable"),
        pytest.param(table_event(typeOfChange="DeletePartition"), False, id="DeletePartition"),
    ],
)
def test_deleted_tables_are_marked_dropped_so_the_worker_forgets_them(event, dropped):
    assert {change.dropped for change in parse_message(_body(event))} == {dropped}


def test_an_unknown_type_of_change_still_refreshes_the_table_and_keeps_its_name():
    [change] = parse_message(_body(table_event(typeOfChange="OptimizeTableV2")))
    assert change == _change(type_of_change="OptimizeTableV2")
    assert not change.dropped


def test_a_bytes_body_parses_like_text():
    event = table_event(tableName="café")
    assert parse_message(json.dumps(event, ensure_ascii=False).encode()) == [_change("café")]


def test_event_time_with_an_offset_is_reported_in_utc():
    [change] = parse_message(_body(_edit(table_event(), ("time",), "2026-11-23T11:30:00.250+01:30")))
    assert change.event_time == datetime(2026, 11, 23, 10, 0, 0, 250_000, tzinfo=UTC)
    assert change.event_time.tzinfo is UTC


@pytest.mark.parametrize(
    "path",
    [
        ("version",),
        ("id",),
        ("account",),
        ("time",),
        ("region",),
        ("resources",),
        ("detail", "changedPartitions"),
    ],
)
def test_optional_fields_may_be_absent(path):
    [change] = parse_message(_body(_edit(table_event(changedPartitions=["[a]"]), path)))
    assert (change.database, change.table, change.type_of_change) == ("db1", "t1", "UpdateTable")
    assert change.event_time == (None if path == ("time",) else EVENT_TIME)
    assert change.event_id == (None if path == ("id",) else EVENT_ID)


# --- bodies icewatch deletes, each with its reason ---

S3_TEST_EVENT = {"Service": "Amazon S3", "Event": "s3:TestEvent", "Time": "2026-11-23T10:00:00.000Z"}
# What SQS receives from an SNS subscription without raw message delivery.
SNS_NOTIFICATION = {"Type": "Notification", "MessageId": "m1", "Message": _body(table_event())}
HUGE_INTEGER_BODY = _body(table_event()).replace('"UpdateTable"', '"UpdateTable", "rows": ' + "9" * 5000)

BAD_BODIES = [
    # invalid: redelivery can never help
    pytest.param(_body(table_event(padding="x" * MAX_BODY_BYTES)), "oversized", id="padded-past-256KiB"),
    pytest.param(
        json.dumps(table_event(note="€" * 90_000), ensure_ascii=False), "oversized", id="bytes-not-chars"
    ),
    pytest.param(_body(table_event())[:-1], "invalid_json", id="truncated"),
    pytest.param("Hello from the SQS console", "invalid_json", id="plain-text"),
    pytest.param(
        json.dumps(table_event(tableName="café"), ensure_ascii=False).encode("latin-1"),
        "invalid_json",
        id="latin-1-bytes",
    ),
    pytest.param("[" * 100_000 + "]" * 100_000, "invalid_json", id="nested-too-deep"),
    pytest.param(_body(table_event(rows=float("nan"))), "invalid_json", id="NaN"),
    pytest.param(HUGE_INTEGER_BODY, "invalid_json", id="5000-digit-integer"),
    pytest.param(_body([table_event()]), "not_an_object", id="array-of-events"),
    pytest.param("null", "not_an_object", id="null"),
    pytest.param('"UpdateTable"', "not_an_object", id="string"),
    pytest.param(_body(S3_TEST_EVENT), "missing_field", id="s3-test-event"),
    pytest.param(_body(SNS_NOTIFICATION), "missing_field", id="sns-wrapped"),
    pytest.param(_body(_edit(table_event(), ("detail-type",))), "missing_field", id="no-detail-type"),
    pytest.param(_body(_edit(table_event(), ("source",))), "missing_field", id="no-source"),
    pytest.param(_body(_edit(table_event(), ("detail",))), "missing_field", id="no-detail"),
    pytest.param(_body(_edit(table_event(), ("detail", "databaseName"))), "missing_field", id="no-database"),
    pytest.param(_body(_edit(table_event(), ("detail", "tableName"))), "missing_field", id="no-table"),
    pytest.param(_body(_edit(database_event(), ("detail", "typeOfChange"))), "missing_field", id="no-type"),
    pytest.param(_body(table_event(databaseName=42)), "wrong_type", id="database-is-a-number"),
    pytest.param(_body(database_event(changedTables="t1")), "wrong_type", id="changed-tables-is-a-string"),
    pytest.param(
        _body(table_event(typeOfChange="update table")), "wrong_type", id="type-is-not-an-operation"
    ),
    pytest.param(_body(_edit(table_event(), ("detail",), [])), "wrong_type", id="detail-is-an-array"),
    pytest.param(_body(_edit(table_event(), ("source",), None)), "wrong_type", id="source-is-null"),
    pytest.param(_body(_edit(table_event(), ("time",), "yesterday")), "wrong_type", id="time-is-prose"),
    pytest.param(
        _body(_edit(table_event(), ("time",), "2026-11-23T10:00:00")), "wrong_type", id="time-no-zone"
    ),
    pytest.param(_body(_edit(table_event(), ("time",), 1795428000)), "wrong_type", id="time-is-epoch"),
    pytest.param(
        _body(_edit(table_event(), ("time",), "0001-01-01T00:00:00+01:00")),
        "wrong_type",
        id="time-before-year-1",
    ),
    pytest.param(_body(table_event(tableName="")), "invalid_name", id="empty-table"),
    pytest.param(_body(table_event(databaseName="db1\n")), "invalid_name", id="newline-in-database"),
    pytest.param(_body(table_event(tableName="t" * 256)), "invalid_name", id="256-char-table"),
    pytest.param(
        _body(database_event(changedTables=["t1", "t\x00"])), "invalid_name", id="nul-in-changed-table"
    ),
    pytest.param(_body(table_event(tableName="\ud800")), "invalid_name", id="lone-surrogate"),
    # irrelevant: valid, but names no table to refresh
    pytest.param(
        _body(
            table_event() | {"source": "aws.s3", "detail-type": "Object Created", "detail": {"bucket": {}}}
        ),
        "not_glue",
        id="s3-event",
    ),
    pytest.param(
        _body(table_event() | {"detail-type": "Glue Job State Change", "detail": {"jobName": "etl"}}),
        "unknown_detail_type",
        id="glue-job-event",
    ),
    pytest.param(
        _body(_edit(database_event(typeOfChange="CreateDatabase"), ("detail", "changedTables"))),
        "no_tables",
        id="create-database",
    ),
    pytest.param(_body(database_event(changedTables=[])), "no_tables", id="empty-changed-tables"),
    pytest.param(_body(database_event(changedTables=None)), "no_tables", id="null-changed-tables"),
]


@pytest.mark.parametrize(("body", "reason"), BAD_BODIES)
def test_a_bad_body_is_rejected_with_its_reason(body, reason):
    expected = IrrelevantEvent if reason in IrrelevantEvent.REASONS else InvalidEvent
    with pytest.raises(expected) as info:
        parse_message(body)
    assert info.value.reason == reason


def test_every_rejection_reason_has_a_realistic_example():
    tested = {param.values[1] for param in BAD_BODIES}
    assert tested == InvalidEvent.REASONS | IrrelevantEvent.REASONS


@pytest.mark.parametrize(
    ("event", "words"),
    [
        pytest.param(
            _edit(table_event(), ("detail", "tableName")), ["detail.tableName", "missing"], id="missing"
        ),
        pytest.param(table_event(databaseName=42), ["detail.databaseName", "string"], id="wrong-type"),
        pytest.param(
            database_event(changedTables=["t1", ""]), ["detail.changedTables[1]", "empty"], id="name"
        ),
        pytest.param(_edit(table_event(), ("time",), "yesterday"), ["event.time", "time zone"], id="time"),
        pytest.param(table_event() | {"source": "aws.s3"}, ["'aws.s3'", "aws.glue"], id="not-glue"),
    ],
)
def test_a_rejection_message_says_which_field_and_why(event, words):
    with pytest.raises(EventError) as info:
        parse_message(_body(event))
    for word in words:
        assert word in str(info.value)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(_body(table_event() | {"source": "aws." + "s" * 200_000}), id="huge-source"),
        pytest.param(_body(table_event() | {"detail-type": "Glue\n" * 40_000}), id="huge-detail-type"),
        pytest.param(_body(database_event(typeOfChange="CreateDatabase", changedTables=[])), id="no-tables"),
        pytest.param('{"detail": "' + "x" * 200_000, id="unterminated-string"),
        pytest.param("x" * 1_000_000, id="megabyte-of-junk"),
    ],
)
def test_a_huge_bad_body_gives_a_short_one_line_message(body):
    with pytest.raises(EventError) as info:
        parse_message(body)
    assert 0 < len(str(info.value)) <= MAX_MESSAGE_CHARS
    assert "\n" not in str(info.value)


# --- fuzzing: any input either parses or raises an EventError ---

FUZZ = settings(max_examples=150, deadline=None)
KNOWN_TYPES_OF_CHANGE = [
    "CreateTable",
    "UpdateTable",
    "DeleteTable",
    "BatchDeleteTable",
    "CreatePartition",
    "BatchCreatePartition",
    "UpdatePartition",
    "BatchUpdatePartition",
    "DeletePartition",
    "BatchDeletePartition",
    "CreateDatabase",
    "DeleteDatabase",
]
ENVELOPE_KEYS = ["version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail"]
DETAIL_KEYS = ["databaseName", "tableName", "typeOfChange", "changedTables", "changedPartitions"]
INTERESTING_TEXT = [
    "aws.glue",
    TABLE_STATE_CHANGE,
    DATABASE_STATE_CHANGE,
    "2026-11-23T10:00:00Z",
    "db1",
    "t1",
    "",
    *KNOWN_TYPES_OF_CHANGE,
]

json_keys = st.sampled_from(ENVELOPE_KEYS + DETAIL_KEYS) | st.text(max_size=10)
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
    | st.sampled_from(INTERESTING_TEXT)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(json_keys, inner, max_size=5),
    max_leaves=25,
)
glue_names = st.from_regex(r"[a-z][a-z0-9_]{0,40}", fullmatch=True) | st.text(
    st.characters(exclude_categories=("Cc", "Cs"), exclude_characters="\ufffe\uffff"),
    min_size=1,
    max_size=255,
)
types_of_change = st.sampled_from(KNOWN_TYPES_OF_CHANGE) | st.from_regex(
    r"[A-Z][A-Za-z0-9]{0,30}", fullmatch=True
)
event_times = st.datetimes(
    min_value=datetime(2000, 1, 1),
    max_value=datetime(2100, 1, 1),
    timezones=st.integers(-14 * 60, 14 * 60).map(lambda minutes: timezone(timedelta(minutes=minutes))),
)

# Objects with the right keys and, as often as not, the right values, so fuzzing reaches the details.
envelope_like = st.fixed_dictionaries(
    {
        "source": st.just("aws.glue") | json_values,
        "detail-type": st.sampled_from([TABLE_STATE_CHANGE, DATABASE_STATE_CHANGE]) | json_values,
        "detail": json_values
        | st.fixed_dictionaries(
            {},
            optional={
                "databaseName": glue_names | json_values,
                "tableName": glue_names | json_values,
                "typeOfChange": types_of_change | json_values,
                "changedTables": st.lists(glue_names | json_values, max_size=3) | json_values,
            },
        ),
    },
)


def _extra_fields(known: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    return st.dictionaries(st.text(max_size=8).filter(lambda key: key not in known), json_values, max_size=2)


@st.composite
def glue_events(draw: st.DrawFn) -> tuple[dict[str, Any], list[TableChange]]:
    """A valid Glue event as EventBridge might send it, and the changes it must parse to."""
    database, type_of_change = draw(glue_names), draw(types_of_change)
    when, event_id = draw(st.none() | event_times), draw(st.none() | st.uuids().map(str))
    event: dict[str, Any] = draw(_extra_fields(ENVELOPE_KEYS)) | {"source": "aws.glue"}
    for key, value in [
        ("version", "0"),
        ("account", "123456789012"),
        ("region", "eu-west-1"),
        ("resources", []),
    ]:
        if draw(st.booleans()):
            event[key] = value
    if event_id is not None:
        event["id"] = event_id
    if when is not None:
        text = when.isoformat()
        event["time"] = text.replace("+00:00", "Z") if draw(st.booleans()) else text
    detail = draw(_extra_fields(DETAIL_KEYS)) | {"databaseName": database, "typeOfChange": type_of_change}
    if draw(st.booleans()):
        tables = [draw(glue_names)]
        event["detail-type"], detail["tableName"] = TABLE_STATE_CHANGE, tables[0]
        if draw(st.booleans()):
            detail["changedPartitions"] = draw(st.lists(st.text(max_size=20), max_size=3))
    else:
        tables = draw(st.lists(glue_names, min_size=1, max_size=5, unique=True))
        repeats = draw(st.lists(st.sampled_from(tables), max_size=3))
        event["detail-type"], detail["changedTables"] = DATABASE_STATE_CHANGE, tables + repeats
    event["detail"] = detail
    utc = None if when is None else when.astimezone(UTC)
    return event, [TableChange(database, table, type_of_change, utc, event_id) for table in tables]


def _parses_or_rejects(body: str | bytes) -> None:
    """Fails the test unless `body` parses to distinct changes or is rejected with a known reason."""
    rejection: EventError | None = None
    try:
        changes = parse_message(body)
    except EventError as exc:
        rejection, changes = exc, []
    if rejection is not None:
        hypothesis.event(f"rejected: {rejection.reason}")  # see --hypothesis-show-statistics
        assert rejection.reason in type(rejection).REASONS
        assert 0 < len(str(rejection)) <= MAX_MESSAGE_CHARS
        return
    hypothesis.event("parsed")
    assert changes, "a parsed body names at least one table"
    assert len(set(changes)) == len(changes)
    for change in changes:
        assert isinstance(change, TableChange)
        assert change.database
        assert change.table
        assert change.type_of_change


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    children = (
        value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    )
    for key, child in children:
        yield (*prefix, key)
        yield from _paths(child, (*prefix, key))


@FUZZ
@given(st.text() | st.binary() | st.text(alphabet='{}[]":,.0123456789eE+-\\ ntrufalse'))
def test_any_text_or_bytes_parse_or_are_rejected_with_a_reason(body):
    _parses_or_rejects(body)


@FUZZ
@given(json_values | envelope_like, st.booleans())
def test_any_json_value_parses_or_is_rejected_with_a_reason(value, as_bytes):
    body = json.dumps(value)
    _parses_or_rejects(body.encode() if as_bytes else body)


@FUZZ
@given(glue_events(), st.data())
def test_a_glue_event_with_fields_dropped_or_replaced_parses_or_is_rejected(generated, data):
    event, _ = generated
    for _ in range(data.draw(st.integers(1, 3), label="edits")):
        paths = list(_paths(event))
        if not paths:
            break
        path = data.draw(st.sampled_from(paths), label="path")
        value = data.draw(st.just(DROP) | json_values, label="replacement")
        event = _edit(event, path, value)
    _parses_or_rejects(_body(event))


@FUZZ
@given(glue_events(), st.booleans(), st.booleans())
def test_any_valid_glue_event_parses_to_exactly_its_table_changes(generated, ascii_only, as_bytes):
    event, expected = generated
    body = json.dumps(event, ensure_ascii=ascii_only)
    changes = parse_message(body.encode() if as_bytes else body)
    assert changes == expected
    assert all(change.event_time is None or change.event_time.tzinfo is UTC for change in changes)
