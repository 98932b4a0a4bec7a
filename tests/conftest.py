"""Shared fixtures: an isolated pyiceberg, the moto server over HTTP, and catalogs on it."""

from __future__ import annotations

import os
import tempfile

# pyiceberg reads ~/.pyiceberg.yaml and PYICEBERG_* at import: keep a developer's own out of the tests.
for _key in [k for k in os.environ if k.startswith(("PYICEBERG_", "ICEWATCH_", "AWS_"))]:
    del os.environ[_key]
os.environ["PYICEBERG_HOME"] = tempfile.mkdtemp(prefix="icewatch-pyiceberg-home-")
# An empty or missing file would make pyiceberg fall through to ~/.pyiceberg.yaml; this one is neither.
with open(os.path.join(os.environ["PYICEBERG_HOME"], ".pyiceberg.yaml"), "w") as _f:
    _f.write("icewatch-tests: isolated\n")

import itertools  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
from pyiceberg.catalog import Catalog  # noqa: E402
from pyiceberg.catalog.sql import SqlCatalog  # noqa: E402

from service.emulator import Emulator  # noqa: E402

WAREHOUSE_BUCKET = "icewatch-test-warehouse"
_namespaces = itertools.count()


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test sees the developer's HOME, AWS profile or icewatch settings."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for key in [k for k in os.environ if k.startswith(("ICEWATCH_", "AWS_"))]:
        monkeypatch.delenv(key)


@pytest.fixture(scope="session")
def emulator() -> Iterator[Emulator]:
    with Emulator() as emu:
        emu.client("s3").create_bucket(Bucket=WAREHOUSE_BUCKET)
        yield emu


@pytest.fixture(scope="session")
def glue_properties(emulator: Emulator) -> dict[str, str]:
    return emulator.glue_catalog_properties(f"s3://{WAREHOUSE_BUCKET}/warehouse")


@pytest.fixture(scope="session")
def glue_catalog(glue_properties: dict[str, str]) -> Catalog:
    from pyiceberg.catalog.glue import GlueCatalog

    return GlueCatalog("test", **glue_properties)


@pytest.fixture
def glue_namespace(glue_catalog: Catalog) -> str:
    """A fresh Glue database per test, so tests share the server but not its tables."""
    name = f"db{next(_namespaces)}"
    glue_catalog.create_namespace(name)
    return name


@pytest.fixture
def sql_catalog(tmp_path: Path) -> SqlCatalog:
    """A fast SQLite catalog with a local warehouse, for the many-shape metric tests."""
    catalog = SqlCatalog("test", uri=f"sqlite:///{tmp_path}/catalog.db", warehouse=f"file://{tmp_path}/wh")
    catalog.create_namespace("db")
    return catalog


@pytest.fixture
def glue_client(emulator: Emulator):
    return emulator.client("glue")


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, emulator: Emulator) -> None:
    """Only the standard AWS variables point at the emulator, as in production."""
    for key, value in emulator.environ().items():
        monkeypatch.setenv(key, value)
