"""Every partition, file and snapshot metric equals pyiceberg's metadata tables + pandas.

Tolerance: 1e-9 relative; skewness also allows 1e-9 absolute, because pandas' float path leaves
~1e-16 noise where the exact value is 0 (icewatch's integer arithmetic gives exactly 0).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from service.models import utc_from_ms
from tests.support.collect import collect, values
from tests.support.oracle import expected_snapshot_metrics, expected_state_metrics
from tests.support.shapes import SHAPES


def assert_equal_to_oracle(ours: dict[str, float], expected: dict[str, float]) -> None:
    mismatches = {
        name: (ours.get(name), value)
        for name, value in expected.items()
        if ours.get(name) != pytest.approx(value, rel=1e-9, abs=1e-9 if "skew" in name else 0)
    }
    assert not mismatches, f"icewatch vs oracle: {mismatches}"


@pytest.mark.parametrize("shape", SHAPES)
def test_current_snapshot_metrics_equal_the_metadata_tables(sql_catalog, shape):
    table = SHAPES[shape](sql_catalog, "db")
    assert_equal_to_oracle(values(collect(table)), expected_state_metrics(table))


@pytest.mark.parametrize("shape", SHAPES)
def test_every_snapshot_metric_equals_its_summary(sql_catalog, shape):
    table = SHAPES[shape](sql_catalog, "db")
    metrics = collect(table)
    expected = expected_snapshot_metrics(table)
    assert {s.snapshot_id for s in metrics.snapshots} == set(expected)
    for snap in metrics.snapshots:
        assert {d.name: d.value for d in snap.datums} == expected[snap.snapshot_id]
        committed = utc_from_ms(table.metadata.snapshot_by_id(snap.snapshot_id).timestamp_ms)
        assert {d.timestamp for d in snap.datums} == {committed}
        assert not snap.invalid_keys


@pytest.mark.parametrize("shape", ["partitioned", "with_delete_files", "unpartitioned"])
def test_glue_catalog_on_s3_gives_the_same_numbers(glue_catalog, glue_namespace, shape):
    table = SHAPES[shape](glue_catalog, glue_namespace)
    assert_equal_to_oracle(values(collect(table)), expected_state_metrics(table))


def test_shapes_are_what_they_claim(sql_catalog):
    """Guards the oracle tests above against shapes that silently lose their point."""
    got = {name: values(collect(build(sql_catalog, "db"))) for name, build in SHAPES.items()}
    assert got["unpartitioned"]["partitions.count"] == 1
    assert got["partitioned"]["partitions.count"] > 5
    assert got["with_delete_files"]["delete_files.count"] == 3
    assert got["with_delete_files"]["deletes.equality_delete_ratio"] > 0
    assert got["with_delete_files"]["manifests.delete_count"] == 1
    assert got["no_snapshots"]["snapshots.count"] == 0
    assert got["empty_current_snapshot"]["partitions.count"] == 0
    assert got["empty_current_snapshot"]["snapshots.count"] == 2
    assert got["one_partition"]["partitions.count"] == 1
    assert got["all_equal_partitions"]["partitions.count"] == 4
    assert got["all_equal_partitions"]["partitions.skew_record_count"] == 0
    assert got["all_equal_partitions"]["partitions.deviation_file_count"] == 0


def test_spec_evolution_keeps_old_spec_partitions_apart(sql_catalog):
    table = SHAPES["spec_evolution"](sql_catalog, "db")
    state = collect(table).state
    assert {spec_id for spec_id, _ in state.partitions} == {0, 1}


def test_ages_are_measured_from_commit_times(sql_catalog):
    table = SHAPES["partitioned"](sql_catalog, "db")
    now = datetime.now(UTC)
    got = values(collect(table, now=now))
    committed = table.inspect.snapshots().to_pandas()["committed_at"]
    oldest = committed.min().to_pydatetime().replace(tzinfo=UTC)
    newest = committed.max().to_pydatetime().replace(tzinfo=UTC)
    assert got["snapshots.oldest_age_s"] == pytest.approx((now - oldest).total_seconds(), abs=1e-3)
    assert got["table.seconds_since_last_commit"] == pytest.approx((now - newest).total_seconds(), abs=1e-3)


def test_a_table_without_snapshots_publishes_no_freshness_and_no_nan(sql_catalog):
    table = SHAPES["no_snapshots"](sql_catalog, "db")
    metrics = collect(table)
    assert "table.seconds_since_last_commit" not in values(metrics)
    assert metrics.snapshots == []
    assert metrics.health.score == 100
