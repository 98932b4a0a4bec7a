"""Health score and findings: what triggers each recommendation, and with which figures."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.engine.health import assess
from service.engine.stats import describe
from service.engine.table import TableFigures
from service.settings import HealthSettings

LIMITS = HealthSettings()

HEALTHY = TableFigures(
    partition_records=describe([1000, 1010, 990]),
    partition_files=describe([2, 2, 2]),
    data_file_count=6,
    file_records_avg=500,
    file_records_max=505,
    file_records_min=495,
    file_size_avg=500e6,
    file_size_max=510e6,
    file_size_min=490e6,
    small_file_count=0,
    small_file_ratio=0.0,
    delete_file_count=0,
    delete_file_size=0,
    position_delete_ratio=0.0,
    equality_delete_ratio=0.0,
    data_manifests=1,
    delete_manifests=0,
    small_manifests=0,
    snapshot_count=0,
    oldest_snapshot_age_s=0.0,
    seconds_since_last_commit=10.0,
)


def codes(fig: TableFigures) -> list[str]:
    return [f.code for f in assess(fig, LIMITS).findings]


def test_a_table_with_nothing_to_maintain_scores_100_and_has_no_findings():
    report = assess(HEALTHY, LIMITS)
    assert report.score == 100
    assert report.findings == []


@pytest.mark.parametrize(
    ("change", "code"),
    [
        (
            {"small_file_count": 101, "data_file_count": 120, "small_file_ratio": 101 / 120},
            "compact_small_files",
        ),
        ({"position_delete_ratio": 0.08, "equality_delete_ratio": 0.03}, "compact_deletes"),
        ({"snapshot_count": 101}, "expire_snapshots"),
        ({"oldest_snapshot_age_s": 8 * 86400.0}, "expire_snapshots"),
        ({"small_manifests": 101}, "rewrite_manifests"),
        ({"partition_records": describe([1] * 20 + [10**6])}, "revisit_partitioning"),
    ],
)
def test_each_finding_appears_just_above_its_threshold(change, code):
    report = assess(replace(HEALTHY, **change), LIMITS)
    assert [f.code for f in report.findings] == [code]
    finding = report.findings[0]
    assert all((finding.insight, finding.challenge, finding.action))
    assert finding.figures
    assert report.score < 100


@pytest.mark.parametrize(
    "change",
    [
        {"small_file_count": 100, "data_file_count": 100, "small_file_ratio": 1.0},
        {"position_delete_ratio": 0.10},
        {"snapshot_count": 100},
        {"small_manifests": 100},
        {"partition_records": describe([1, 1, 10**6])},  # skew 1.73: uneven but under the threshold
        {"partition_records": describe([1, 10**6])},  # two partitions: skew is not defined
    ],
)
def test_at_or_below_the_threshold_there_is_no_finding(change):
    assert codes(replace(HEALTHY, **change)) == []


def test_the_compaction_finding_names_the_figures_that_triggered_it():
    fig = replace(HEALTHY, small_file_count=150, data_file_count=200, small_file_ratio=0.75)
    (finding,) = assess(fig, LIMITS).findings
    assert finding.figures["files.small_file_count"] == 150
    assert finding.figures["threshold"] == 100
    assert "150 of 200" in finding.insight


@given(
    small=st.integers(0, 10**6),
    ratio=st.floats(0, 1),
    deletes=st.floats(0, 50),
    snapshots=st.integers(0, 10**5),
    age=st.floats(0, 1e9),
    manifests=st.integers(0, 10**5),
    skew_tail=st.integers(0, 10**9),
)
def test_the_score_stays_between_0_and_100(small, ratio, deletes, snapshots, age, manifests, skew_tail):
    fig = replace(
        HEALTHY,
        small_file_count=small,
        small_file_ratio=ratio,
        position_delete_ratio=deletes,
        snapshot_count=snapshots,
        oldest_snapshot_age_s=age,
        small_manifests=manifests,
        partition_records=describe([1, 2, 3, skew_tail]),
    )
    assert 0 <= assess(fig, LIMITS).score <= 100
