"""The DynamoDB state store: one table shared by every replica.

Items, keyed by the string partition key `pk`:
- `meta#watch`: `started_ms`, written once (`attribute_not_exists(pk)`);
- `table#<db.table>`: the watermark (`snapshot_id`, `sequence_number`, `timestamp_ms`,
  `metadata_location` when known) and `updated_at` (epoch seconds);
- `lease#<db.table>`: `owner`, `expires_at` (epoch seconds) and `ttl` (expires_at + 1 day), so that
  DynamoDB's TTL removes the leases of tables nobody processes any more.

Production gets the table from CloudFormation, which also enables TTL:

    StateTable:
      Type: AWS::DynamoDB::Table
      Properties:
        BillingMode: PAY_PER_REQUEST
        AttributeDefinitions: [{AttributeName: pk, AttributeType: S}]
        KeySchema: [{AttributeName: pk, KeyType: HASH}]
        TimeToLiveSpecification: {AttributeName: ttl, Enabled: true}

The task role needs dynamodb:DescribeTable, GetItem, PutItem, DeleteItem, Scan and ConditionCheckItem
on it (TransactWriteItems is authorized by the actions it contains). When the table is missing,
`open()` creates it (tests, the demo, a first trial), which also needs CreateTable and UpdateTimeToLive.
Region and endpoint come from the standard AWS variables (AWS_REGION or AWS_DEFAULT_REGION,
AWS_ENDPOINT_URL or AWS_ENDPOINT_URL_DYNAMODB).
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections.abc import Callable
from contextlib import AsyncExitStack, suppress
from typing import Any

import aioboto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoRegionError

from service.errors import SettingsError
from service.state.base import StateStoreError, StoreLifecycle, TableRecord, Watermark, check_ttl, one_line

# botocore's standard mode retries throttling, 5xx and dropped connections (3 attempts in all).
_CONFIG = Config(retries={"mode": "standard"}, connect_timeout=5, read_timeout=10)
_LEASE_ITEM_TTL_S = 86_400  # DynamoDB deletes a lease item a day after it expired
_CONFLICT_ATTEMPTS = 4  # a concurrent write to the same lease item; botocore retries no such conflict
_CONFLICT_BACKOFF_S = 0.05
_CREATE_WAIT = {"Delay": 2, "MaxAttempts": 60}  # on-demand tables take seconds to become ACTIVE
_META_KEY = "meta#watch"
_TABLE_PREFIX = "table#"
_LEASE_PREFIX = "lease#"
_NAMES = {"#owner": "owner", "#expires": "expires_at"}  # `owner` is a DynamoDB reserved word


class _ConditionFailed(Exception):
    """A condition expression (or a transaction's condition check) was false."""


class DynamoDbStateStore(StoreLifecycle):
    """A StateStore in one DynamoDB table; one aiobotocore client for the store's life."""

    def __init__(
        self,
        table_name: str,
        clock: Callable[[], float] = time.time,
        *,
        session: aioboto3.Session | None = None,
        config: Config = _CONFIG,
        page_size: int | None = None,  # Scan's Limit: only tests set it, to see pagination
    ) -> None:
        self._table = table_name
        self._clock = clock
        self._session = session
        self._config = config
        self._page_size = page_size
        self._stack: AsyncExitStack | None = None
        self._client: Any = None
        self._started_ms: int | None = None

    def __repr__(self) -> str:
        return f"DynamoDbStateStore({self._table!r})"

    async def open(self) -> None:
        # botocore reads AWS_DEFAULT_REGION only; ECS and most tools set AWS_REGION.
        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        session = self._session or aioboto3.Session()
        self._stack = AsyncExitStack()
        try:
            try:
                client_context = session.client("dynamodb", region_name=region, config=self._config)
                self._client = await self._stack.enter_async_context(client_context)
            except NoRegionError as exc:
                raise SettingsError(
                    "the DynamoDB state store needs an AWS region: set AWS_REGION or AWS_DEFAULT_REGION"
                ) from exc
            await self._ensure_table()
            self._started_ms = await self._record_watch_start()
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        stack, self._stack, self._client = self._stack, None, None
        if stack is not None:
            await stack.aclose()

    async def get(self, table: str) -> TableRecord | None:
        answer = await self._call("get_item", Key=_key(_TABLE_PREFIX + table), ConsistentRead=True)
        return _record(answer["Item"]) if "Item" in answer else None

    async def tables(self) -> list[TableRecord]:
        params: dict[str, Any] = {
            "FilterExpression": "begins_with(pk, :prefix)",
            "ExpressionAttributeValues": {":prefix": {"S": _TABLE_PREFIX}},
            "ConsistentRead": True,
        }
        if self._page_size is not None:
            params["Limit"] = self._page_size
        records: list[TableRecord] = []
        while True:
            page = await self._call("scan", **params)
            records.extend(_record(item) for item in page.get("Items", []))
            # Limit counts items read before the filter: a page can be empty and still not the last.
            if "LastEvaluatedKey" not in page:
                return sorted(records, key=lambda r: r.table)
            params["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    async def acquire(self, table: str, owner: str, ttl_s: float) -> bool:
        check_ttl(ttl_s)
        now = self._clock()
        expires_at = now + ttl_s
        item = {
            **_key(_LEASE_PREFIX + table),
            "owner": {"S": owner},
            "expires_at": {"N": _seconds(expires_at)},
            "ttl": {"N": str(int(expires_at) + _LEASE_ITEM_TTL_S)},
        }
        try:
            await self._call(
                "put_item",
                Item=item,
                ConditionExpression="attribute_not_exists(pk) OR #expires <= :now OR #owner = :me",
                ExpressionAttributeNames=_NAMES,
                ExpressionAttributeValues={":now": {"N": _seconds(now)}, ":me": {"S": owner}},
            )
        except _ConditionFailed:
            return False
        return True

    async def release(self, table: str, owner: str) -> None:
        with suppress(_ConditionFailed):  # someone else's (or nobody's) lease: nothing of ours to give up
            await self._call(
                "delete_item",
                Key=_key(_LEASE_PREFIX + table),
                ConditionExpression="#owner = :me",
                ExpressionAttributeNames={"#owner": "owner"},
                ExpressionAttributeValues={":me": {"S": owner}},
            )

    async def advance(self, table: str, owner: str, watermark: Watermark) -> bool:
        now = self._clock()
        lease_check = {
            "TableName": self._table,
            "Key": _key(_LEASE_PREFIX + table),
            "ConditionExpression": "#owner = :me AND #expires > :now",
            "ExpressionAttributeNames": _NAMES,
            "ExpressionAttributeValues": {":me": {"S": owner}, ":now": {"N": _seconds(now)}},
        }
        put = {"TableName": self._table, "Item": _watermark_item(table, watermark, now)}
        try:
            items = [{"ConditionCheck": lease_check}, {"Put": put}]
            await self._call("transact_write_items", TransactItems=items)
        except _ConditionFailed:
            return False
        return True

    async def forget(self, table: str) -> None:
        await self._call("delete_item", Key=_key(_TABLE_PREFIX + table))
        await self._call("delete_item", Key=_key(_LEASE_PREFIX + table))

    async def _ensure_table(self) -> None:
        described = await self._call("describe_table", ok_codes=("ResourceNotFoundException",))
        if described is not None and described["Table"]["TableStatus"] == "ACTIVE":
            return
        created = False
        if described is None:
            created = (
                await self._call(
                    "create_table",
                    AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                    KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                    BillingMode="PAY_PER_REQUEST",
                    ok_codes=("ResourceInUseException",),  # another replica created it first: fine
                )
                is not None
            )
        try:
            waiter = self._client.get_waiter("table_exists")
            await waiter.wait(TableName=self._table, WaiterConfig=_CREATE_WAIT)
        except BotoCoreError as exc:
            raise StateStoreError(
                f"DynamoDB state table {self._table!r} did not become ACTIVE: {one_line(exc)}"
            ) from exc
        if created:
            ttl = {"Enabled": True, "AttributeName": "ttl"}
            await self._call("update_time_to_live", TimeToLiveSpecification=ttl)

    async def _record_watch_start(self) -> int:
        item = {**_key(_META_KEY), "started_ms": {"N": str(int(self._clock() * 1000))}}
        with suppress(_ConditionFailed):  # recorded when the store was first created; it never changes
            await self._call("put_item", Item=item, ConditionExpression="attribute_not_exists(pk)")
        answer = await self._call("get_item", Key=_key(_META_KEY), ConsistentRead=True)
        return int(answer["Item"]["started_ms"]["N"])

    async def _call(self, operation: str, ok_codes: tuple[str, ...] = (), **params: Any) -> Any:
        """One DynamoDB call on this table, retrying write conflicts.

        Returns None if it failed with one of `ok_codes`; raises _ConditionFailed if a condition was
        false, and StateStoreError for any other failure.
        """
        if self._client is None:
            raise StateStoreError(f"{self!r} is not open")
        if operation != "transact_write_items":
            params["TableName"] = self._table
        for attempt in range(1, _CONFLICT_ATTEMPTS + 1):
            try:
                return await getattr(self._client, operation)(**params)
            except ClientError as exc:
                code = _error_code(exc)
                if code in ok_codes:
                    return None
                if code == "ConditionalCheckFailed":
                    raise _ConditionFailed from exc
                if code != "TransactionConflict" or attempt == _CONFLICT_ATTEMPTS:
                    raise self._failed(operation, exc) from exc
            except BotoCoreError as exc:
                raise self._failed(operation, exc) from exc
            await asyncio.sleep(random.uniform(0, _CONFLICT_BACKOFF_S * 2**attempt))  # full jitter
        raise AssertionError("unreachable")

    def _failed(self, operation: str, exc: Exception) -> StateStoreError:
        return StateStoreError(f"DynamoDB state table {self._table!r}: {operation} failed: {one_line(exc)}")


def _error_code(exc: ClientError) -> str:
    """The error's code, with condition failures and write conflicts named alike across operations."""
    code = exc.response.get("Error", {}).get("Code", "")
    if code == "TransactionCanceledException":
        reasons = {reason.get("Code") for reason in exc.response.get("CancellationReasons", [])}
        for reason in ("ConditionalCheckFailed", "TransactionConflict"):
            if reason in reasons:
                return reason
    return {
        "ConditionalCheckFailedException": "ConditionalCheckFailed",
        "TransactionConflictException": "TransactionConflict",
    }.get(code, code)


def _key(pk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}}


def _seconds(value: float) -> str:
    return f"{value:.6f}"  # fixed-point: DynamoDB numbers are decimal strings


def _watermark_item(table: str, watermark: Watermark, now: float) -> dict[str, Any]:
    item = {
        **_key(_TABLE_PREFIX + table),
        "snapshot_id": {"N": str(watermark.snapshot_id)},
        "sequence_number": {"N": str(watermark.sequence_number)},
        "timestamp_ms": {"N": str(watermark.timestamp_ms)},
        "updated_at": {"N": _seconds(now)},
    }
    if watermark.metadata_location is not None:
        item["metadata_location"] = {"S": watermark.metadata_location}
    return item


def _record(item: dict[str, Any]) -> TableRecord:
    watermark = Watermark(
        snapshot_id=int(item["snapshot_id"]["N"]),
        sequence_number=int(item["sequence_number"]["N"]),
        timestamp_ms=int(item["timestamp_ms"]["N"]),
        metadata_location=item.get("metadata_location", {}).get("S"),
    )
    return TableRecord(item["pk"]["S"].removeprefix(_TABLE_PREFIX), watermark, float(item["updated_at"]["N"]))
