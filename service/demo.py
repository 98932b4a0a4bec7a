"""`icewatch demo`: sample Iceberg tables in an embedded emulator, and icewatch's view of them."""

from __future__ import annotations

import random
import time

import structlog

from service.collection import TableCollector
from service.emulator import Emulator
from service.iceberg.catalog import load_table, open_catalog
from service.iceberg.manifests import ManifestAggregateCache, ManifestReader
from service.models import TableName
from service.render import datum_table, health_text
from service.samples import DATABASE, SAMPLES, commit_batch, create_sample_tables
from service.settings import CatalogSettings, Settings

DEMO_BUCKET = "icewatch-demo"
log = structlog.get_logger("icewatch.demo")


def run_demo(settings: Settings, commits: int, seed: int) -> int:
    """Start the emulator, write sample tables, and print what icewatch measures on each."""
    started = time.perf_counter()
    with Emulator() as emulator:
        emulator.client("s3").create_bucket(Bucket=DEMO_BUCKET)
        catalog_settings = CatalogSettings(
            catalog_name="demo",
            catalog_properties=emulator.glue_catalog_properties(f"s3://{DEMO_BUCKET}/warehouse"),
        )
        catalog = open_catalog(catalog_settings, environ={})
        log.info("demo_emulator_started", endpoint=emulator.endpoint)
        rng = random.Random(seed)
        for table in create_sample_tables(catalog, f"s3://{DEMO_BUCKET}/warehouse/{DATABASE}"):
            for _ in range(commits):
                commit_batch(table, rng)
            log.info("demo_table_written", table=".".join(table.name()), commits=commits)

        demo_settings = settings.model_copy(update={"catalog": catalog_settings})
        collector = TableCollector(
            ManifestReader(ManifestAggregateCache(settings.metrics.manifest_cache_entries)), demo_settings
        )
        for sample in SAMPLES:
            name = TableName(DATABASE, sample.name)
            table = load_table(catalog, name)
            current = table.current_snapshot()
            metrics = collector.collect(table, name, [current] if current else [])
            print(
                f"\n=== {name}  (snapshot {metrics.snapshot_id}, {len(metrics.datums)} datums, "
                f"{metrics.duration_s * 1000:.1f} ms) ==="
            )
            print(datum_table(metrics.datums))
            print()
            print(health_text(str(name), metrics.health))
    print(
        f"\nDemo finished in {time.perf_counter() - started:.1f} s. "
        "Point icewatch at your own catalog with ICEWATCH_CATALOG_PROPERTIES and run "
        "`icewatch collect DB.TABLE` or `icewatch report DB.TABLE`."
    )
    return 0
