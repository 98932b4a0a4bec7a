"""`icewatch dashboard` and `icewatch alarms`: print CloudWatch definitions as JSON, for users who
manage CloudWatch outside deploy/icewatch.yaml. Nothing here calls AWS.

    icewatch dashboard --table sales.orders > body.json
    aws cloudwatch put-dashboard --dashboard-name icewatch --dashboard-body file://body.json
    icewatch alarms --table sales.orders --action arn:aws:sns:… | jq -c '.[]' |
      while read -r alarm; do aws cloudwatch put-metric-alarm --cli-input-json "$alarm"; done
"""

from __future__ import annotations

import argparse
import json
import os

from service.cloudwatch_resources import AlarmPolicy, alarms, dashboard_body
from service.errors import UsageError
from service.models import TableName
from service.settings import Settings

COMMANDS = ("dashboard", "alarms")


def add_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register both subcommands on the `icewatch` parser."""
    dashboard = sub.add_parser(
        "dashboard", help="print a CloudWatch dashboard body (JSON) of the table metrics"
    )
    dashboard.add_argument(
        "--table",
        action="append",
        default=[],
        metavar="DB.TABLE",
        help="a table to chart (repeat); none: every table, found with SEARCH expressions",
    )
    dashboard.add_argument("--region", help="the dashboard's region (default: AWS_REGION, else us-east-1)")
    dashboard.add_argument("--queue-name", help="also chart this SQS queue's backlog")
    dashboard.add_argument("--dlq-name", help="also chart this dead-letter queue")
    dashboard.add_argument("--period-s", type=int, default=300, help="seconds per point (default 300)")

    alarm = sub.add_parser("alarms", help="print PutMetricAlarm definitions (JSON array) for tables")
    alarm.add_argument("--table", action="append", default=[], metavar="DB.TABLE", help="a table (repeat)")
    alarm.add_argument(
        "--action", action="append", default=[], metavar="ARN", help="alarm/OK action, e.g. an SNS topic"
    )
    alarm.add_argument("--dlq-name", help="also alarm when this dead-letter queue holds messages")
    defaults = AlarmPolicy()
    alarm.add_argument(
        "--band",
        type=float,
        default=defaults.anomaly_band_width,
        help=f"anomaly band width in standard deviations (default {defaults.anomaly_band_width:g})",
    )
    alarm.add_argument(
        "--period-s",
        type=int,
        default=defaults.anomaly_period_s,
        help=f"ingestion rate period, seconds (default {defaults.anomaly_period_s})",
    )
    alarm.add_argument(
        "--freshness-threshold-s",
        type=int,
        default=defaults.freshness_threshold_s,
        help=f"alarm when a table has not committed for this long (default {defaults.freshness_threshold_s})",
    )
    alarm.add_argument("--name-prefix", default=defaults.name_prefix, help="prefix of the alarm names")


def _tables(texts: list[str]) -> list[str]:
    try:
        return [str(TableName.parse(text)) for text in texts]
    except ValueError as exc:
        raise UsageError(str(exc)) from exc


def run_command(args: argparse.Namespace, settings: Settings) -> int:
    namespace = settings.metrics.cloudwatch_namespace
    if args.command == "dashboard":
        region = (
            args.region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
        )
        body = dashboard_body(
            namespace, region, _tables(args.table), args.queue_name, args.dlq_name, args.period_s
        )
        print(json.dumps(body, indent=2))
        return 0
    tables = _tables(args.table)
    if not tables and not args.dlq_name:
        raise UsageError("name at least one --table DB.TABLE (or --dlq-name)")
    policy = AlarmPolicy(
        anomaly_band_width=args.band,
        anomaly_period_s=args.period_s,
        freshness_threshold_s=args.freshness_threshold_s,
        name_prefix=args.name_prefix,
    )
    print(json.dumps(alarms(namespace, tables, args.action, args.dlq_name, policy), indent=2))
    return 0
