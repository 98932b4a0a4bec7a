"""Merging per-manifest aggregates equals aggregating all entries at once."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from service.engine.aggregates import (
    CONTENT_DATA,
    ManifestEntryRow,
    ManifestRef,
    aggregate_manifest,
    merge_manifests,
)

entries = st.lists(
    st.builds(
        ManifestEntryRow,
        status=st.sampled_from([0, 1, 2]),
        content=st.sampled_from([0, 0, 0, 1, 2]),
        partition=st.tuples(st.sampled_from(["eu", "us", "ap"]), st.integers(0, 3)),
        record_count=st.integers(0, 10**9),
        file_size_in_bytes=st.integers(1, 10**10),
    ),
    max_size=60,
)


@given(entries, st.lists(st.integers(0, 60), max_size=5), st.integers(1, 10**10))
def test_merging_manifests_equals_one_pass_over_all_entries(rows, cuts, small_bytes):
    bounds = [0, *sorted({min(c, len(rows)) for c in cuts}), len(rows)]
    chunks = [rows[a:b] for a, b in itertools.pairwise(bounds)]
    refs = [ManifestRef(f"m{i}", 100, 0, CONTENT_DATA) for i in range(len(chunks))]
    merged = merge_manifests(
        ((ref, aggregate_manifest(0, chunk, small_bytes)) for ref, chunk in zip(refs, chunks, strict=True)),
        small_manifest_bytes=0,
    )
    whole = aggregate_manifest(0, rows, small_bytes)
    assert merged.partitions == whole.partitions
    assert merged.data_files == whole.data_files
    assert merged.delete_files == whole.delete_files

    live = [r for r in rows if r.status != 2]
    data = [r for r in live if r.content == 0]
    assert merged.data_files.count == len(data)
    assert merged.data_files.small == sum(r.file_size_in_bytes < small_bytes for r in data)
    assert merged.delete_files.position_records == sum(r.record_count for r in live if r.content == 1)
    assert sum(files for _, files in merged.partitions.values()) == len(data)
