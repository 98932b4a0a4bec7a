"""A local stand-in for the AWS side of icewatch, on the emulator: what `icewatch demo` and the tests run.

It creates the SQS queue with a DLQ, the EventBridge rule that feeds Glue catalog events to it, a
bucket for the warehouse, and emits the Glue events moto never emits itself, with EventBridge
`PutEvents`, shaped exactly as AWS delivers them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from service.events import DATABASE_STATE_CHANGE as DATABASE_CHANGE
from service.events import GLUE_SOURCE
from service.events import TABLE_STATE_CHANGE as TABLE_CHANGE

MAX_RECEIVE_COUNT = 3  # deliveries before a poison message moves to the DLQ


@dataclass(frozen=True)
class Sandbox:
    queue_url: str
    dlq_url: str
    bucket: str
    region: str
    account: str

    @property
    def warehouse(self) -> str:
        return f"s3://{self.bucket}/warehouse"


def create_sandbox(clients: Any, name: str = "icewatch", region: str = "us-east-1") -> Sandbox:
    """Queue + DLQ with redrive, an EventBridge rule for both Glue detail-types, a warehouse bucket.

    `clients` is anything with `.client(service)` returning a boto3 client (e.g. the Emulator).
    """
    sqs, events, s3, sts = (clients.client(s) for s in ("sqs", "events", "s3", "sts"))
    account = sts.get_caller_identity()["Account"]
    dlq_url = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    queue_url = sqs.create_queue(
        QueueName=f"{name}-events",
        Attributes={
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": MAX_RECEIVE_COUNT}
            ),
            "VisibilityTimeout": "60",
        },
    )["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    events.put_rule(
        Name=f"{name}-glue-changes",
        EventPattern=json.dumps({"source": [GLUE_SOURCE], "detail-type": [TABLE_CHANGE, DATABASE_CHANGE]}),
    )
    events.put_targets(Rule=f"{name}-glue-changes", Targets=[{"Id": "queue", "Arn": queue_arn}])
    bucket = f"{name}-warehouse"
    s3.create_bucket(Bucket=bucket)
    return Sandbox(queue_url, dlq_url, bucket, region, account)


class GlueEvents:
    """Emits Glue catalog change events through EventBridge, as Glue does on every commit."""

    def __init__(self, clients: Any, sandbox: Sandbox) -> None:
        self._events = clients.client("events")
        self._sandbox = sandbox

    def table_changed(self, database: str, table: str, type_of_change: str = "UpdateTable") -> None:
        detail = {"databaseName": database, "tableName": table, "typeOfChange": type_of_change}
        self._put(TABLE_CHANGE, detail, f"table/{database}/{table}")

    def tables_changed(self, database: str, tables: list[str], type_of_change: str = "CreateTable") -> None:
        detail = {"databaseName": database, "changedTables": tables, "typeOfChange": type_of_change}
        self._put(DATABASE_CHANGE, detail, f"database/{database}")

    def _put(self, detail_type: str, detail: dict[str, Any], resource: str) -> None:
        s = self._sandbox
        response = self._events.put_events(
            Entries=[
                {
                    "Source": GLUE_SOURCE,
                    "DetailType": detail_type,
                    "Detail": json.dumps(detail),
                    "Resources": [f"arn:aws:glue:{s.region}:{s.account}:{resource}"],
                    "Time": datetime.now(UTC),
                }
            ]
        )
        if response.get("FailedEntryCount"):
            raise RuntimeError(f"PutEvents failed: {response['Entries']}")
