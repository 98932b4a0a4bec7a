"""The state store, on SQLite files and on DynamoDB (moto over HTTP): watermarks, leases, races, failures.

Leases expire by a fake clock, never by sleeping. DynamoDB faults moto can't produce (access denied,
throttling, write conflicts) are answered in botocore's `before-send` hook, registered on the
aioboto3 session the store's client is made from; every other request goes to moto.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aioboto3
import pytest
from aiobotocore.awsrequest import AioAWSResponse
from botocore.awsrequest import HTTPHeaders
from botocore.config import Config

from service.emulator import Emulator
from service.errors import SettingsError
from service.state import StateStore, StateStoreError, TableRecord, Watermark, open_state_store
from service.state.dynamodb import DynamoDbStateStore

TABLE = "db.orders"
TTL_S = 30.0
W1 = Watermark(
    snapshot_id=2**63 - 1, sequence_number=7, timestamp_ms=1_750_000_000_123, metadata_location=None
)
W2 = Watermark(-42, 0, 1_750_000_100_000, "s3://warehouse/db/orders/metadata/00002-a.metadata.json")


class FakeClock:
    """Epoch seconds that move only when a test says so."""

    def __init__(self, now: float = 1_750_000_000.25) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


StoreFactory = Callable[[FakeClock], StateStore]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def dynamodb_env(emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> Emulator:
    """The standard AWS variables pointing at moto: the store finds region and endpoint as in production."""
    for key, value in emulator.environ().items():
        monkeypatch.setenv(key, value)
    return emulator


def fresh_table_name() -> str:
    return f"icewatch-state-{uuid.uuid4().hex[:12]}"


@pytest.fixture(params=["sqlite", "dynamodb"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> StoreFactory:
    """Opens a store on the same place each time: one SQLite file, or one fresh DynamoDB table per test."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/state.db"  # tmp_path is absolute: four slashes
    else:
        request.getfixturevalue("dynamodb_env")
        url = f"dynamodb://{fresh_table_name()}"
    return lambda clock: open_state_store(url, clock)


@pytest.fixture
async def store(backend: StoreFactory, clock: FakeClock) -> AsyncIterator[StateStore]:
    async with backend(clock) as opened:
        yield opened


async def test_watch_started_is_recorded_once_and_survives_reopening(
    backend: StoreFactory, clock: FakeClock
) -> None:
    async with backend(clock) as store:
        started_ms = await store.watch_started_ms()
    assert started_ms == int(clock.now * 1000)
    clock.advance(3600)
    async with backend(clock) as reopened:
        assert await reopened.watch_started_ms() == started_ms


async def test_advanced_watermarks_come_back_from_get_and_tables(store: StateStore, clock: FakeClock) -> None:
    assert await store.get(TABLE) is None
    assert await store.tables() == []
    assert await store.acquire(TABLE, "a", TTL_S)
    assert await store.advance(TABLE, "a", W1)
    assert await store.get(TABLE) == TableRecord(TABLE, W1, clock.now)

    clock.advance(5)
    assert await store.acquire("db.events", "a", TTL_S)
    assert await store.advance("db.events", "a", W2)
    assert await store.advance(TABLE, "a", W2)  # a newer watermark replaces the old one
    assert await store.tables() == [
        TableRecord("db.events", W2, clock.now),
        TableRecord(TABLE, W2, clock.now),
    ]


async def test_advance_without_the_lease_is_refused_and_writes_nothing(store: StateStore) -> None:
    assert not await store.advance(TABLE, "a", W1)
    assert await store.acquire(TABLE, "b", TTL_S)
    assert not await store.advance(TABLE, "a", W1)
    assert await store.get(TABLE) is None
    assert await store.tables() == []


async def test_a_second_owner_takes_over_only_after_expiry_and_the_first_can_no_longer_advance(
    store: StateStore, clock: FakeClock
) -> None:
    assert await store.acquire(TABLE, "a", TTL_S)
    assert not await store.acquire(TABLE, "b", TTL_S)
    clock.advance(TTL_S - 0.1)
    assert not await store.acquire(TABLE, "b", TTL_S)
    clock.advance(0.2)
    assert await store.acquire(TABLE, "b", TTL_S)
    assert not await store.advance(TABLE, "a", W1)
    assert not await store.acquire(TABLE, "a", TTL_S)
    assert await store.advance(TABLE, "b", W2)
    record = await store.get(TABLE)
    assert record is not None
    assert record.watermark == W2


async def test_an_expired_lease_cannot_advance_until_renewed(store: StateStore, clock: FakeClock) -> None:
    assert await store.acquire(TABLE, "a", TTL_S)
    clock.advance(TTL_S)
    assert not await store.advance(TABLE, "a", W1)
    assert await store.acquire(TABLE, "a", TTL_S)  # nobody took it over: the owner may renew
    assert await store.advance(TABLE, "a", W1)


async def test_renewal_by_the_same_owner_extends_the_lease(store: StateStore, clock: FakeClock) -> None:
    assert await store.acquire(TABLE, "a", TTL_S)
    clock.advance(20)
    assert await store.acquire(TABLE, "a", TTL_S)
    clock.advance(20)  # past the first expiry, within the renewed one
    assert not await store.acquire(TABLE, "b", TTL_S)
    assert await store.advance(TABLE, "a", W1)


async def test_release_lets_another_owner_in_at_once_and_only_the_owner_can_release(
    store: StateStore,
) -> None:
    await store.release(TABLE, "a")  # no lease at all: nothing happens
    assert await store.acquire(TABLE, "a", TTL_S)
    await store.release(TABLE, "b")  # not b's: nothing happens
    assert not await store.acquire(TABLE, "b", TTL_S)
    await store.release(TABLE, "a")
    assert await store.acquire(TABLE, "b", TTL_S)
    assert not await store.advance(TABLE, "a", W1)


async def test_forget_removes_the_record_and_the_lease(store: StateStore) -> None:
    assert await store.acquire(TABLE, "a", TTL_S)
    assert await store.advance(TABLE, "a", W1)
    await store.forget(TABLE)
    assert await store.get(TABLE) is None
    assert await store.tables() == []
    assert not await store.advance(TABLE, "a", W1)  # a late writer can't bring a dropped table back
    assert await store.acquire(TABLE, "b", TTL_S)
    await store.forget("db.never_seen")


async def test_racing_acquires_on_one_store_have_exactly_one_winner(store: StateStore) -> None:
    for table in ("db.t0", "db.t1", "db.t2"):
        won = await asyncio.gather(*(store.acquire(table, f"owner-{i}", TTL_S) for i in range(20)))
        assert sum(won) == 1


async def test_racing_acquires_on_two_stores_have_exactly_one_winner(
    backend: StoreFactory, clock: FakeClock
) -> None:
    """Two processes on one SQLite file, or two replicas on one DynamoDB table."""
    async with backend(clock) as first, backend(clock) as second:
        for table in ("db.t0", "db.t1", "db.t2"):
            won = await asyncio.gather(
                *(
                    s.acquire(table, f"owner-{n}-{i}", TTL_S)
                    for i in range(10)
                    for n, s in enumerate((first, second))
                )
            )
            assert sum(won) == 1
        assert await first.watch_started_ms() == await second.watch_started_ms()


async def test_an_in_memory_sqlite_store_works(clock: FakeClock) -> None:
    async with open_state_store("sqlite:///:memory:", clock) as store:
        assert await store.acquire(TABLE, "a", TTL_S)
        assert await store.advance(TABLE, "a", W2)
        assert await store.tables() == [TableRecord(TABLE, W2, clock.now)]


async def test_sqlite_paths_are_relative_with_three_slashes_and_absolute_with_four(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clock: FakeClock
) -> None:
    monkeypatch.chdir(tmp_path)
    async with open_state_store("sqlite:///relative.db", clock):
        pass
    async with open_state_store(f"sqlite:///{tmp_path}/absolute.db", clock):
        pass
    assert (tmp_path / "relative.db").is_file()
    assert (tmp_path / "absolute.db").is_file()


async def test_a_sqlite_store_in_a_missing_directory_says_so(tmp_path: Path) -> None:
    store = open_state_store(f"sqlite:///{tmp_path}/missing/state.db")
    with pytest.raises(StateStoreError, match="directory exists"):
        await store.__aenter__()


@pytest.mark.parametrize(
    "url",
    [
        "",
        "state.db",
        "postgres://host/db",
        "sqlite://",
        "sqlite:///",
        "sqlite://host/state.db",
        "sqlite:///state.db?mode=ro",
        "dynamodb://",
        "dynamodb://ab",
        "dynamodb://table/extra",
        "dynamodb://bad name",
    ],
)
def test_a_bad_url_is_a_settings_error_naming_the_variable(url: str) -> None:
    with pytest.raises(SettingsError, match=r"ICEWATCH_STATE_URL=.*sqlite:///.*dynamodb://TABLE_NAME"):
        open_state_store(url)


# DynamoDB only.


def dynamodb_error(code: str, status: int = 400, **extra: Any) -> Callable[..., AioAWSResponse]:
    """A before-send handler answering with a DynamoDB (JSON protocol) error instead of moto."""
    body = json.dumps({"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": "injected", **extra})

    class Body:
        async def read(self) -> bytes:
            return body.encode()

    def respond(request: Any, **_: Any) -> AioAWSResponse:
        headers = HTTPHeaders.from_dict({"Content-Type": "application/x-amz-json-1.0"})
        return AioAWSResponse(request.url, status, headers, Body())

    return respond


class Fault:
    """Lets requests through to moto except the next `times` after `arm`, which `respond` answers."""

    def __init__(self, respond: Callable[..., AioAWSResponse]) -> None:
        self.respond = respond
        self.left = 0
        self.answered = 0

    def arm(self, times: int = 1) -> None:
        self.left = times

    def __call__(self, request: Any, **kwargs: Any) -> AioAWSResponse | None:
        if self.left == 0:
            return None
        self.left -= 1
        self.answered += 1
        return self.respond(request, **kwargs)


async def test_dynamodb_tables_paginates_the_scan(dynamodb_env: Emulator, clock: FakeClock) -> None:
    # moto honours Scan's Limit, so a small page size shows pagination without a megabyte of items.
    session = aioboto3.Session()
    scans: list[object] = []
    session.events.register("before-call.dynamodb.Scan", lambda **kw: scans.append(kw))
    names = [f"db.table_{i:02}" for i in range(25)]
    async with DynamoDbStateStore(fresh_table_name(), clock, session=session, page_size=4) as store:
        for name in reversed(names):
            assert await store.acquire(name, "a", TTL_S)
            assert await store.advance(name, "a", W1)
        records = await store.tables()
    assert [r.table for r in records] == names
    assert len(scans) > 10  # 51 items (25 records, 25 leases, 1 meta) at 4 a page


async def test_dynamodb_table_is_created_on_demand_with_ttl_on_leases(
    dynamodb_env: Emulator, clock: FakeClock
) -> None:
    name = fresh_table_name()
    async with open_state_store(f"dynamodb://{name}", clock) as store:
        assert await store.acquire(TABLE, "a", TTL_S)
    client = dynamodb_env.client("dynamodb")
    assert (
        client.describe_table(TableName=name)["Table"]["BillingModeSummary"]["BillingMode"]
        == "PAY_PER_REQUEST"
    )
    ttl = client.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
    assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", "ttl")
    lease = client.get_item(TableName=name, Key={"pk": {"S": f"lease#{TABLE}"}})["Item"]
    assert lease["owner"] == {"S": "a"}
    assert int(lease["ttl"]["N"]) == int(clock.now + TTL_S) + 86_400


async def test_dynamodb_table_created_by_another_replica_meanwhile_is_fine(
    dynamodb_env: Emulator, clock: FakeClock
) -> None:
    name = fresh_table_name()

    def other_replica_creates_it(**_: Any) -> None:
        dynamodb_env.client("dynamodb").create_table(
            TableName=name,
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )

    session = aioboto3.Session()
    session.events.register("before-call.dynamodb.CreateTable", other_replica_creates_it)
    async with DynamoDbStateStore(name, clock, session=session) as store:
        assert await store.watch_started_ms() == int(clock.now * 1000)


async def test_dynamodb_write_conflicts_are_retried(dynamodb_env: Emulator, clock: FakeClock) -> None:
    """A write racing a transaction on the same lease item (say, another replica's acquire) is retried."""
    session = aioboto3.Session()
    cancelled = Fault(
        dynamodb_error(
            "TransactionCanceledException",
            CancellationReasons=[{"Code": "TransactionConflict"}, {"Code": "None"}],
        )
    )
    conflict = Fault(dynamodb_error("TransactionConflictException"))
    session.events.register("before-send.dynamodb.TransactWriteItems", cancelled)
    session.events.register("before-send.dynamodb.PutItem", conflict)
    async with DynamoDbStateStore(fresh_table_name(), clock, session=session) as store:
        conflict.arm(2)
        assert await store.acquire(TABLE, "a", TTL_S)
        cancelled.arm(2)
        assert await store.advance(TABLE, "a", W1)
        assert await store.get(TABLE) == TableRecord(TABLE, W1, clock.now)
        assert (conflict.answered, cancelled.answered) == (2, 2)
        cancelled.arm(10)
        with pytest.raises(StateStoreError, match="TransactionCanceledException"):
            await store.advance(TABLE, "a", W2)  # conflicts that don't end are a failure, not a lost lease


@pytest.mark.parametrize(
    ("operation", "respond", "shown"),
    [
        ("PutItem", dynamodb_error("AccessDeniedException"), "put_item failed: .*AccessDeniedException"),
        ("PutItem", dynamodb_error("ThrottlingException"), "put_item failed: .*ThrottlingException"),
        (
            "TransactWriteItems",
            dynamodb_error("TransactionCanceledException", CancellationReasons=[{"Code": "ThrottlingError"}]),
            "transact_write_items failed: .*TransactionCanceledException",
        ),
    ],
)
async def test_dynamodb_backend_failures_raise_one_line_state_store_errors(
    dynamodb_env: Emulator,
    clock: FakeClock,
    operation: str,
    respond: Callable[..., AioAWSResponse],
    shown: str,
) -> None:
    session = aioboto3.Session()
    session.events.register(f"before-send.dynamodb.{operation}", fault := Fault(respond))
    config = Config(retries={"mode": "standard", "total_max_attempts": 1})  # one attempt: no backoff sleeps
    async with DynamoDbStateStore(fresh_table_name(), clock, session=session, config=config) as store:
        assert await store.acquire(TABLE, "a", TTL_S)
        fault.arm()
        call = store.acquire(TABLE, "a", TTL_S) if operation == "PutItem" else store.advance(TABLE, "a", W1)
        with pytest.raises(StateStoreError, match=shown) as raised:
            await call
    assert "\n" not in str(raised.value)


async def test_an_unreachable_dynamodb_is_a_state_store_error(
    monkeypatch: pytest.MonkeyPatch, clock: FakeClock
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:9")  # discard port: nothing listens
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")  # botocore's own variable works too
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    config = Config(retries={"mode": "standard", "total_max_attempts": 1}, connect_timeout=2)
    with pytest.raises(StateStoreError, match="describe_table failed: Could not connect"):
        async with DynamoDbStateStore("icewatch-state", clock, config=config):
            pass


async def test_dynamodb_without_a_region_is_a_settings_error(clock: FakeClock) -> None:
    with pytest.raises(SettingsError, match="AWS_REGION"):
        async with open_state_store("dynamodb://icewatch-state", clock):
            pass
