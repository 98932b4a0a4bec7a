"""Settings and catalog wiring: environment in, pyiceberg properties out, nothing else read."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from service.iceberg.catalog import resolved_properties
from service.settings import CatalogSettings
from tests.support.shapes import partitioned


def test_standard_aws_endpoints_reach_pyiceberg_glue_and_s3():
    props = resolved_properties(
        CatalogSettings(catalog_properties={"type": "glue"}),
        {
            "AWS_ENDPOINT_URL": "http://shared:1",
            "AWS_ENDPOINT_URL_S3": "http://s3:2",
            "AWS_REGION": "eu-west-1",
        },
    )
    assert props["glue.endpoint"] == "http://shared:1"
    assert props["s3.endpoint"] == "http://s3:2"
    assert props["glue.region"] == props["s3.region"] == "eu-west-1"


def test_explicit_catalog_properties_win_over_the_environment():
    props = resolved_properties(
        CatalogSettings(catalog_properties={"type": "glue", "s3.endpoint": "http://mine:3"}),
        {"AWS_ENDPOINT_URL": "http://shared:1", "AWS_ENDPOINT_URL_GLUE": "http://glue:4"},
    )
    assert props["s3.endpoint"] == "http://mine:3"
    assert props["glue.endpoint"] == "http://glue:4"


def test_without_endpoints_nothing_is_added():
    assert resolved_properties(CatalogSettings(catalog_properties={"type": "glue"}), {}) == {"type": "glue"}


def test_catalog_properties_are_not_printed_in_settings_repr():
    settings = CatalogSettings(catalog_properties={"type": "glue", "s3.secret-access-key": "hunter2"})
    assert "hunter2" not in repr(settings)


def test_a_developers_pyiceberg_yaml_cannot_redirect_icewatch(sql_catalog, tmp_path):
    partitioned(sql_catalog)
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    # A ~/.pyiceberg.yaml whose "test" catalog points elsewhere; load_catalog would merge it in.
    (home / ".pyiceberg.yaml").write_text(
        f"catalog:\n  test:\n    uri: sqlite:///{tmp_path}/elsewhere.db\n    warehouse: file:///nowhere\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYICEBERG_", "ICEWATCH_"))}
    env |= {
        "HOME": str(home),
        "PYICEBERG_CATALOG__TEST__URI": f"sqlite:///{tmp_path}/elsewhere-too.db",
        "ICEWATCH_CATALOG_NAME": "test",
        "ICEWATCH_CATALOG_PROPERTIES": json.dumps(
            {"type": "sql", "uri": f"sqlite:///{tmp_path}/catalog.db", "warehouse": f"file://{tmp_path}/wh"}
        ),
    }
    result = subprocess.run(
        [sys.executable, "-m", "service", "collect", "db.partitioned", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert any(d["name"] == "partitions.count" for d in json.loads(result.stdout))
    assert not (tmp_path / "elsewhere.db").exists()
    assert not (tmp_path / "elsewhere-too.db").exists()
