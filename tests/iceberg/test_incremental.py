"""After each further commit, the cached result equals a cold one and costs only the new manifests."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime

from pyiceberg.expressions import EqualTo
from pyiceberg.manifest import DataFileContent
from pyiceberg.transforms import IdentityTransform

from service.collection import TableCollector
from service.iceberg.manifests import ManifestAggregateCache, ManifestReader
from service.settings import Settings
from tests.support.collect import collect, new_collector
from tests.support.deletes import DeleteFileSpec, commit_delete_files, remove_delete_files
from tests.support.shapes import DAY0, partitioned, rows, spec_evolution

DAY0_ORDINAL = (DAY0.date() - date(1970, 1, 1)).days  # day() partition value


def _commits(rng: random.Random):
    yield "append", lambda t: t.append(rows(rng, 80))
    yield "append", lambda t: t.append(rows(rng, 5))
    yield (
        "position+equality deletes",
        lambda t: commit_delete_files(
            t,
            [
                DeleteFileSpec(DataFileContent.POSITION_DELETES, (DAY0_ORDINAL, "eu"), 4),
                DeleteFileSpec(DataFileContent.EQUALITY_DELETES, (DAY0_ORDINAL, "us"), 2, equality_ids=(1,)),
            ],
        ),
    )
    yield "remove delete files", lambda t: remove_delete_files(t)
    yield "copy-on-write delete", lambda t: t.delete(EqualTo("region", "ap"))
    yield "overwrite", lambda t: t.overwrite(rows(rng, 30, regions=("eu",)), EqualTo("region", "eu"))
    yield "spec evolution + append", lambda t: (_add_id_partition(t), t.append(rows(rng, 40)))
    yield "append", lambda t: t.append(rows(rng, 1))


def _add_id_partition(table) -> None:
    with table.update_spec() as update:
        update.add_field("id", IdentityTransform(), "id")


def test_incremental_equals_cold_after_every_commit(sql_catalog):
    table = partitioned(sql_catalog)
    cache = ManifestAggregateCache(1_000_000)
    warm = TableCollector(ManifestReader(cache), Settings())
    collect(table, warm)
    for what, commit in _commits(random.Random(9)):
        commit(table)
        table = sql_catalog.load_table("db.partitioned")
        now = datetime.now(UTC)
        incremental, cold = collect(table, warm, now), collect(table, new_collector(), now)
        assert incremental.state == cold.state, what
        assert incremental.state_datums == cold.state_datums, what
        assert incremental.snapshots == cold.snapshots, what


def test_an_append_reads_only_its_new_manifest(sql_catalog):
    table = partitioned(sql_catalog)
    cache = ManifestAggregateCache(1_000_000)
    reader = ManifestReader(cache)
    warm = TableCollector(reader, Settings())
    collect(table, warm)
    before = cache.misses
    decoded_before = reader.list_records_decoded
    table.append(rows(random.Random(10), 50))
    collect(table, warm)
    assert cache.misses - before == 1
    # The new manifest list ends with the previous one's bytes: only its first record is decoded.
    assert reader.list_records_decoded - decoded_before == 1
    assert len(cache) == len(table.current_snapshot().manifests(table.io))


def test_a_tiny_cache_stays_bounded_and_still_gives_the_right_numbers(sql_catalog):
    table = partitioned(sql_catalog)
    cache = ManifestAggregateCache(max_weight=5)
    tiny = TableCollector(ManifestReader(cache), Settings())
    now = datetime.now(UTC)
    assert collect(table, tiny, now).state_datums == collect(table, new_collector(), now).state_datums
    assert cache.weight <= 5


def test_tables_forgotten_by_a_bounded_memory_are_recomputed_correctly(sql_catalog):
    first, second = partitioned(sql_catalog), spec_evolution(sql_catalog)
    reader = ManifestReader(ManifestAggregateCache(1_000_000), remembered_tables=1)
    warm = TableCollector(reader, Settings())
    rng = random.Random(11)
    for _ in range(3):
        for table in (first, second):
            table.append(rows(rng, 20))
            now = datetime.now(UTC)
            assert collect(table, warm, now).state_datums == collect(table, new_collector(), now).state_datums
