"""Walking history: which snapshots come after a watermark, and reading untrusted summaries."""

from __future__ import annotations

import random

from pyiceberg.table.snapshots import Operation, Snapshot, Summary

from service.engine.snapshots import retained_snapshots, snapshot_metrics, snapshots_after
from tests.support.shapes import SCHEMA, partitioned, rows


def test_snapshots_after_a_watermark_are_the_newer_ancestors_oldest_first(sql_catalog):
    table = partitioned(sql_catalog)
    history = [s.snapshot_id for s in retained_snapshots(table.metadata)]
    assert [s.snapshot_id for s in snapshots_after(table.metadata, history[2])] == history[3:]
    assert [s.snapshot_id for s in snapshots_after(table.metadata, history[-1])] == []
    assert [s.snapshot_id for s in snapshots_after(table.metadata, None)] == history


def test_after_a_rollback_the_watermark_is_off_the_ancestry_and_the_whole_ancestry_returns(sql_catalog):
    table = partitioned(sql_catalog)
    history = [s.snapshot_id for s in retained_snapshots(table.metadata)]
    table.manage_snapshots().rollback_to_snapshot(history[1]).commit()
    table.append(rows(random.Random(1), 10))
    after = [s.snapshot_id for s in snapshots_after(table.metadata, history[-1])]
    assert after[:2] == history[:2]
    assert after[-1] == table.current_snapshot().snapshot_id
    assert history[-1] not in after


def test_a_table_without_snapshots_has_none_after_anything(sql_catalog):
    table = sql_catalog.create_table("db.empty", SCHEMA)
    assert snapshots_after(table.metadata, None) == []


def _snapshot(**summary: str) -> Snapshot:
    return Snapshot(
        snapshot_id=1,
        sequence_number=1,
        timestamp_ms=1_763_856_000_000,
        manifest_list="s3://b/m.avro",
        summary=Summary(Operation.APPEND, **summary),
    )


def test_missing_summary_keys_are_zero_and_present_ones_are_read():
    metrics = snapshot_metrics(_snapshot(**{"added-records": "42", "total-records": "1000"}), "db.t")
    got = {d.name: d.value for d in metrics.datums}
    assert got["snapshot.added_records"] == 42
    assert got["snapshot.total_records"] == 1000
    assert got["snapshot.added_position_deletes"] == 0
    assert len(got) == 19


def test_an_unreadable_summary_value_is_reported_and_skipped_not_guessed():
    metrics = snapshot_metrics(_snapshot(**{"added-records": "lots", "added-data-files": "3"}), "db.t")
    got = {d.name: d.value for d in metrics.datums}
    assert "snapshot.added_records" not in got
    assert got["snapshot.added_data_files"] == 3
    assert metrics.invalid_keys == {"added-records": "lots"}
