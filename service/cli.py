"""The `icewatch` command line: run, collect, report and demo."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from dataclasses import asdict

import structlog

from service import __version__
from service.cloudwatch_commands import COMMANDS as CLOUDWATCH_COMMANDS
from service.cloudwatch_commands import add_commands as add_cloudwatch_commands
from service.cloudwatch_commands import run_command as run_cloudwatch_command
from service.collection import TableCollector, TableMetrics
from service.connections import cli as connections_cli
from service.engine.snapshots import retained_snapshots
from service.errors import IcewatchError, UsageError
from service.iceberg.catalog import load_table, open_catalog
from service.iceberg.manifests import ManifestAggregateCache, ManifestReader
from service.logs import configure_logging
from service.models import TableName
from service.render import datum_table, health_text
from service.settings import Settings, load_settings

EXIT_USAGE = 2

log = structlog.get_logger("icewatch")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="icewatch", description=__doc__)
    parser.add_argument("--version", action="version", version=f"icewatch {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    collect = sub.add_parser("collect", help="print a table's metric datums")
    collect.add_argument("table", metavar="DB.TABLE")
    collect.add_argument("--json", action="store_true", help="print a JSON array of datums")
    collect.add_argument(
        "--all-snapshots", action="store_true", help="also snapshot metrics for every retained snapshot"
    )

    report = sub.add_parser("report", help="print a table's health findings")
    report.add_argument("table", metavar="DB.TABLE")
    report.add_argument("--json", action="store_true", help="print the report as JSON")

    sub.add_parser("run", help="the daemon: consume Glue change events from SQS, publish metrics")

    demo = sub.add_parser("demo", help="run icewatch on sample tables in an embedded AWS emulator")
    demo.add_argument("--duration", type=float, help="seconds (default 45; with --seed-only: until stopped)")
    demo.add_argument("--seed", type=int, default=7, help="random seed for the sample data")
    demo.add_argument(
        "--seed-only",
        action="store_true",
        help="no emulator, no daemon: create the sandbox at AWS_ENDPOINT_URL(_GLUE) and keep writing",
    )
    add_cloudwatch_commands(sub)
    connections_cli.register(sub)  # reorder, run-job
    return parser


def _collect_one(settings: Settings, text: str, all_snapshots: bool) -> TableMetrics:
    try:
        name = TableName.parse(text)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    table = load_table(open_catalog(settings.catalog), name)
    current = table.current_snapshot()
    snapshots = retained_snapshots(table.metadata) if all_snapshots else [current] if current else []
    collector = TableCollector(
        ManifestReader(ManifestAggregateCache(settings.metrics.manifest_cache_entries)), settings
    )
    return collector.collect(table, name, snapshots)


def _print_collect(metrics: TableMetrics, as_json: bool) -> None:
    if as_json:
        print(json.dumps([d.as_json() for d in metrics.datums], indent=2))
    else:
        print(datum_table(metrics.datums))


def _print_report(metrics: TableMetrics, as_json: bool) -> None:
    if as_json:
        body = {
            "table": metrics.table,
            "snapshot_id": metrics.snapshot_id,
            "score": metrics.health.score,
            "severities": metrics.health.severities,
            "findings": [asdict(f) for f in metrics.health.findings],
        }
        print(json.dumps(body, indent=2))
    else:
        print(health_text(metrics.table, metrics.health))


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings()
        configure_logging(settings.log_level)
        if args.command == "run":
            from service.app import run_daemon  # the daemon's imports (aioboto3, aiohttp) only when needed

            return asyncio.run(run_daemon(settings))
        if args.command == "demo" and args.seed_only:
            from service.seeding import run_seed

            return run_seed(settings, duration_s=args.duration, seed=args.seed)
        if args.command == "demo":
            from service.demo import run_demo  # imports moto, which only the demo needs

            duration_s = 45.0 if args.duration is None else args.duration
            return run_demo(settings, duration_s=duration_s, seed=args.seed)
        if args.command in CLOUDWATCH_COMMANDS:
            return run_cloudwatch_command(args, settings)
        if args.command in connections_cli.COMMANDS:
            return connections_cli.main(args, settings)
        metrics = _collect_one(settings, args.table, getattr(args, "all_snapshots", False))
        for finding in metrics.health.findings:
            log.info("health_finding", table=metrics.table, code=finding.code, **finding.figures)
        if args.command == "collect":
            _print_collect(metrics, args.json)
        else:
            _print_report(metrics, args.json)
        return 0
    except IcewatchError as exc:
        print(f"icewatch: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
