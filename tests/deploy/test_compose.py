"""docker-compose.yml, Prometheus and Grafana provisioning: valid, pinned, and naming what exists."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.deploy.compose import COMPOSE_FILE, ROOT, services

LOCAL = ROOT / "deploy" / "local"
BIN = Path(sys.executable).parent


def _run(argv: list[str], **kwargs) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, **kwargs)


def test_compose_file_follows_the_compose_specification():
    result = _run(
        [str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(COMPOSE_FILE)]
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _dockerfile_targets() -> set[str]:
    return set(re.findall(r"^FROM \S+ AS (\S+)$", (ROOT / "Dockerfile").read_text(), re.MULTILINE))


def test_every_image_is_pinned_or_built_from_a_dockerfile_target():
    for name, spec in services().items():
        if "build" in spec:
            assert spec["build"]["target"] in _dockerfile_targets(), name
            continue
        image = spec["image"]
        tag = image.rpartition(":")[2]
        assert ":" in image, f"{name}: {image} has no tag"
        assert re.match(r"v?\d+\.\d+\.\d+$", tag), f"{name}: {image} is not pinned to a version"


def test_localstack_runs_without_an_account_and_glue_is_routed_elsewhere():
    localstack = services()["localstack"]
    assert localstack["image"] == "localstack/localstack:4.14.0"  # the last release without an account
    enabled = set(localstack["environment"]["SERVICES"].split(","))
    assert {"sqs", "events", "s3", "cloudwatch", "ec2", "dynamodb", "sts"} <= enabled
    for name in ("seed", "icewatch"):
        env = services()[name]["environment"]
        assert env["AWS_ENDPOINT_URL"] == "http://localstack:4566"
        assert env["AWS_ENDPOINT_URL_GLUE"] == "http://glue:5000"


def _image_argv(spec: dict) -> list[str]:
    """The process a service of our image starts: its entrypoint (the image's: icewatch) + command."""
    entrypoint = spec.get("entrypoint")
    if entrypoint:
        return [sys.executable if entrypoint[0] == "python" else entrypoint[0], *entrypoint[1:]]
    return [sys.executable, "-m", "service"]  # ENTRYPOINT ["icewatch"]


@pytest.mark.parametrize("service", ["glue", "seed", "icewatch"])
def test_each_service_command_exists_in_the_project(service, tmp_path):
    spec = services()[service]
    argv = _image_argv(spec) + list(spec["command"])
    result = _run([*argv, "--help"], cwd=tmp_path)
    assert result.returncode == 0, f"{service}: {argv}: {result.stderr[-2000:]}"
    assert "usage:" in result.stdout


@pytest.mark.parametrize("service", ["glue", "seed"])
def test_python_healthchecks_compile(service):
    test = services()[service]["healthcheck"]["test"]
    assert test[:3] == ["CMD", "python", "-c"]
    compile(test[3], f"{service} healthcheck", "exec")


def test_mounted_files_exist_and_prometheus_scrapes_the_icewatch_service():
    for spec in services().values():
        for volume in spec.get("volumes", []):
            source = volume.split(":")[0]
            assert (ROOT / source).exists(), volume
    config = yaml.safe_load((LOCAL / "prometheus.yml").read_text())
    (job,) = config["scrape_configs"]
    icewatch = services()["icewatch"]
    port = icewatch["environment"]["ICEWATCH_HTTP_PORT"]
    assert job["static_configs"][0]["targets"] == [f"icewatch:{port}"]
    assert job["metrics_path"] == "/metrics"


def test_prometheus_config_passes_promtool():
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip(
            "promtool is not installed (Debian package `prometheus`; .ci/run installs it where apt works)"
        )
    result = _run([promtool, "check", "config", str(LOCAL / "prometheus.yml")])
    assert result.returncode == 0, result.stdout + result.stderr


def test_grafana_dashboard_uses_the_provisioned_datasource():
    provisioning = LOCAL / "grafana" / "provisioning"
    datasources = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())
    (datasource,) = datasources["datasources"]
    assert datasource["url"] == "http://prometheus:9090"
    assert "prometheus" in services()
    providers = yaml.safe_load((provisioning / "dashboards" / "icewatch.yml").read_text())
    mounts = dict(v.split(":")[:2] for v in services()["grafana"]["volumes"])
    assert mounts["./deploy/local/grafana/dashboards"] == providers["providers"][0]["options"]["path"]
    dashboard = json.loads((LOCAL / "grafana/dashboards/icewatch.json").read_text())
    targets = [t for p in dashboard["panels"] for t in p.get("targets", [])]
    assert len(targets) >= 20
    uids = {p["datasource"]["uid"] for p in dashboard["panels"] if "datasource" in p}
    uids |= {t["datasource"]["uid"] for t in targets}
    assert uids == {datasource["uid"]}
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
