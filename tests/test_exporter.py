"""Table metrics on the Prometheus endpoint: names from the catalogue, labelled by table."""

from __future__ import annotations

from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, generate_latest

from service.engine.catalogue import UNITS, datum
from service.engine.health import Finding
from service.exporter import TableMetricsExporter, prometheus_name

AT = datetime(2026, 11, 23, tzinfo=UTC)


def test_every_catalogue_name_maps_to_a_valid_distinct_prometheus_name_in_base_units():
    names = {prometheus_name(n) for n in UNITS}
    assert len(names) == len(UNITS)
    assert prometheus_name("snapshot.added_records") == "icewatch_snapshot_added_records"
    assert prometheus_name("files.avg_file_size") == "icewatch_files_avg_file_size_bytes"
    assert prometheus_name("snapshots.oldest_age_s") == "icewatch_snapshots_oldest_age_seconds"
    assert all(n.replace("_", "").isalnum() for n in names)


def test_latest_values_per_table_and_recommendations_are_exposed():
    registry = CollectorRegistry()
    exporter = TableMetricsExporter()
    registry.register(exporter)
    dims = (("table_name", "db.a"),)
    exporter.update("db.a", [datum("partitions.count", 3, AT, dims)], [])
    exporter.update_snapshot("db.a", [datum("snapshot.added_records", 10, AT, dims)])
    exporter.update_snapshot("db.a", [datum("snapshot.added_records", 42, AT, dims)])
    finding = Finding("compact_small_files", "t", "i", "c", "a")
    exporter.update("db.b", [datum("partitions.count", 7, AT, (("table_name", "db.b"),))], [finding])
    get = registry.get_sample_value
    assert get("icewatch_snapshot_added_records", {"table": "db.a"}) == 42
    assert get("icewatch_partitions_count", {"table": "db.a"}) == 3
    assert get("icewatch_partitions_count", {"table": "db.b"}) == 7
    assert get("icewatch_recommendation", {"table": "db.b", "action": "compact_small_files"}) == 1
    assert get("icewatch_recommendation", {"table": "db.a", "action": "compact_small_files"}) == 0
    exporter.forget("db.b")
    assert get("icewatch_partitions_count", {"table": "db.b"}) is None
    assert b"icewatch_partitions_count" in generate_latest(registry)


def test_per_partition_series_are_replaced_when_the_top_partitions_change():
    registry = CollectorRegistry()
    exporter = TableMetricsExporter()
    registry.register(exporter)
    old = (("table_name", "db.a"), ("partition_name", "day=2026-11-01"))
    new = (("table_name", "db.a"), ("partition_name", "day=2026-11-02"))
    exporter.update("db.a", [datum("partitions.record_count", 5, AT, old)], [])
    exporter.update("db.a", [datum("partitions.record_count", 9, AT, new)], [])
    labels = {"table": "db.a", "partition": "day=2026-11-02"}
    assert registry.get_sample_value("icewatch_partitions_record_count_by_partition", labels) == 9
    labels["partition"] = "day=2026-11-01"
    assert registry.get_sample_value("icewatch_partitions_record_count_by_partition", labels) is None
