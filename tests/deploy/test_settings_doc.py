"""docs/configuration.md is generated from the settings model: stale means a setting changed."""

from __future__ import annotations

from pydantic import BaseModel

from service import settings_doc
from service.settings import Settings
from tests.deploy.compose import ROOT


def test_configuration_reference_is_up_to_date():
    assert settings_doc.DOC_PATH.read_text() == settings_doc.render(), (
        "docs/configuration.md is stale: run `.venv/bin/python -m service.settings_doc`"
    )
    assert settings_doc.main(["--check"]) == 0


def test_every_setting_appears_with_its_default():
    text = settings_doc.render()
    for name, field in Settings.model_fields.items():
        group = field.annotation
        is_group = isinstance(group, type) and issubclass(group, BaseModel)
        fields = group.model_fields if is_group else {name: field}
        for setting in fields:
            assert f"| `ICEWATCH_{setting.upper()}` |" in text
    assert "| `ICEWATCH_HTTP_PORT` | `9108` | TCP port |" in text
    assert "| `ICEWATCH_SHUTDOWN_TIMEOUT_S` | `25.0` | seconds |" in text


def test_readme_links_the_configuration_reference_and_the_metric_catalogue():
    readme = (ROOT / "README.md").read_text()
    assert "(docs/configuration.md)" in readme
    assert "(docs/metrics.md)" in readme
