"""Missing or corrupt metadata files give a MetadataError naming the file, never a wrong number."""

from __future__ import annotations

import os
from urllib.parse import urlparse

import pytest

from service.errors import MetadataError
from tests.support.collect import collect
from tests.support.shapes import partitioned


def _local(path: str) -> str:
    return urlparse(path).path


@pytest.fixture
def table(sql_catalog):
    return partitioned(sql_catalog)


def _a_manifest(table) -> str:
    return table.current_snapshot().manifests(table.io)[0].manifest_path


def test_a_missing_manifest_is_reported_with_its_path(table):
    path = _a_manifest(table)
    os.remove(_local(path))
    with pytest.raises(MetadataError, match="missing") as err:
        collect(table)
    assert path in str(err.value)


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda data: b"garbage" * 10, id="not-avro"),
        pytest.param(lambda data: data[: len(data) // 2], id="truncated"),
        pytest.param(lambda data: data[:-20] + b"\x00" * 20, id="bad-sync-marker"),
    ],
)
def test_a_corrupt_manifest_is_reported_with_its_path(table, damage):
    path = _a_manifest(table)
    with open(_local(path), "rb") as f:
        data = f.read()
    with open(_local(path), "wb") as f:
        f.write(damage(data))
    with pytest.raises(MetadataError, match="unreadable") as err:
        collect(table)
    assert path in str(err.value)


def test_a_corrupt_manifest_list_is_reported_with_its_path(table):
    path = table.current_snapshot().manifest_list
    with open(_local(path), "wb") as f:
        f.write(b"Obj\x01 but not really")
    with pytest.raises(MetadataError, match="manifest list") as err:
        collect(table)
    assert path in str(err.value)
