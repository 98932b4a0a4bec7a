"""docker-compose.yml's topology as processes, with the environments the compose file gives them.

No Docker engine here or in CI, so each container becomes a process: a moto server plays LocalStack
(`localstack:4566`), the compose `glue` service's own command serves Glue (`glue:5000`), then the
`seed` and `icewatch` services' commands run with their compose environments, host names swapped
for loopback ports. Prometheus's view is a scrape of /metrics.

With LOCALSTACK_PYTHON naming the Python of a virtualenv that has `localstack-core` (see
../shared/LOCALSTACK.md: Python 3.13, its own virtualenv), the same test also runs against LocalStack
itself, started on the host; otherwise that variant is skipped. On the host, LocalStack's DynamoDB
needs a download (DynamoDB Local), so that variant keeps its state in SQLite.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from tests.deploy.compose import ROOT, environment, services
from tests.support.daemon import free_port, published_counts, ready, wait_for

SAMPLE_TABLES = ("demo.orders", "demo.events", "demo.customers")
GRAFANA_DASHBOARD = ROOT / "deploy" / "local" / "grafana" / "dashboards" / "icewatch.json"


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, ""
    except OSError:
        return 0, ""


class Hosts:
    """The compose network's host names, mapped to loopback ports of this machine."""

    def __init__(self) -> None:
        self.ports = {"localstack:4566": free_port(), "glue:5000": free_port()}

    def url(self, host: str) -> str:
        return f"http://127.0.0.1:{self.ports[host]}"

    def rewrite(self, env: dict[str, str]) -> dict[str, str]:
        def local(value: str) -> str:
            for host in self.ports:
                value = value.replace(f"http://{host}", self.url(host))
            return value

        return {key: local(value) for key, value in env.items()}


class Endpoint:
    """boto3 clients of one emulator (what tests.support.daemon.published_counts expects)."""

    def __init__(self, url: str) -> None:
        self.url = url

    def client(self, service: str):
        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )


LOCALSTACK_PYTHON = os.environ.get("LOCALSTACK_PYTHON", "")


def _start_localstack(port: str, tmp_path: Path, log: Path) -> subprocess.Popen[bytes]:
    """LocalStack's runtime on the host, with the services the compose file enables (but DynamoDB)."""
    enabled = services()["localstack"]["environment"]["SERVICES"].split(",")
    env = _base_env(tmp_path) | {
        "OVERRIDE_IN_DOCKER": "0",
        "FILESYSTEM_ROOT": str(tmp_path / "localstack"),
        "GATEWAY_LISTEN": f"127.0.0.1:{port}",
        "LOCALSTACK_HOST": f"127.0.0.1:{port}",
        "DISABLE_EVENTS": "1",
        "SERVICES": ",".join(s for s in enabled if s != "dynamodb"),
    }
    return _start([LOCALSTACK_PYTHON, "-m", "localstack.runtime.main"], env, log)


def _base_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ICEWATCH_"))}
    return env | {"HOME": str(tmp_path)}  # no ~/.aws, no ~/.pyiceberg.yaml


def _start(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)


def _stop(process: subprocess.Popen[bytes], timeout_s: float = 40) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        return -9


def _localstack_installed() -> bool:
    if not LOCALSTACK_PYTHON:
        return False
    probe = [LOCALSTACK_PYTHON, "-c", "import localstack.runtime.main"]
    return subprocess.run(probe, capture_output=True, timeout=60).returncode == 0


@pytest.fixture(params=["moto", "localstack"])
def backend(request: pytest.FixtureRequest) -> str:
    """What plays `localstack:4566`: a moto server always; LocalStack itself where it is installed."""
    if request.param == "localstack" and not _localstack_installed():
        pytest.skip("LocalStack is not installed: set LOCALSTACK_PYTHON to a Python with localstack-core")
    return request.param


@pytest.fixture
def stack(tmp_path: Path, backend: str) -> Iterator[dict[str, object]]:
    hosts = Hosts()
    compose = services()
    processes: dict[str, subprocess.Popen[bytes]] = {}
    logs = {name: tmp_path / f"{name}.log" for name in ("localstack", "glue", "seed", "icewatch")}
    try:
        # `glue`: the compose entrypoint and command, bound to loopback and a free port.
        glue = compose["glue"]
        argv = [sys.executable if a == "python" else a for a in glue["entrypoint"]] + glue["command"]
        argv[argv.index("--host") + 1] = "127.0.0.1"
        argv[argv.index("--port") + 1] = str(hosts.ports["glue:5000"])
        processes["glue"] = _start(argv, _base_env(tmp_path), logs["glue"])
        port = str(hosts.ports["localstack:4566"])
        if backend == "localstack":
            processes["localstack"] = _start_localstack(port, tmp_path, logs["localstack"])
            health = f"{hosts.url('localstack:4566')}/_localstack/health"
            wait_for(lambda: '"sqs": "available"' in _get(health)[1], 60, "LocalStack")
        else:  # a moto server in LocalStack's place (LocalStack needs a Docker engine or Python 3.12+)
            argv = [sys.executable, "-m", "moto.server", "--host", "127.0.0.1", "--port", port]
            processes["localstack"] = _start(argv, _base_env(tmp_path), logs["localstack"])
            wait_for(lambda: _get(f"{hosts.url('localstack:4566')}/moto-api/data.json")[0] == 200, 30, "moto")
        wait_for(lambda: _get(f"{hosts.url('glue:5000')}/moto-api/data.json")[0] == 200, 30, "glue")
        yield {"hosts": hosts, "processes": processes, "logs": logs, "tmp_path": tmp_path, "backend": backend}
    finally:
        for name in ("icewatch", "seed", "localstack", "glue"):
            if name in processes:
                _stop(processes[name])


def _compose_argv(service: str) -> list[str]:
    """The service's command after the image's ENTRYPOINT ["icewatch"], as `python -m service …`."""
    spec = services()[service]
    assert "entrypoint" not in spec, f"{service} overrides the image's entrypoint"
    return [sys.executable, "-m", "service", *spec["command"]]


def _healthcheck(service: str, env: dict[str, str], hosts: Hosts) -> int:
    test = services()[service]["healthcheck"]["test"]
    assert test[0] == "CMD"
    argv = [sys.executable if a == "python" else a for a in test[1:]]
    return subprocess.run(argv, env=env, capture_output=True, timeout=30).returncode


def _dashboard_metrics() -> set[str]:
    exprs = [
        t["expr"] for p in json.loads(GRAFANA_DASHBOARD.read_text())["panels"] for t in p.get("targets", [])
    ]
    names = {m for expr in exprs for m in re.findall(r"\bicewatch_\w+", expr)}
    return {re.sub(r"_bucket$", "", name) for name in names}


def test_compose_topology_seeds_watches_and_serves_every_dashboard_metric(stack):
    hosts: Hosts = stack["hosts"]
    processes = stack["processes"]
    logs = stack["logs"]
    tmp_path = stack["tmp_path"]

    seed_env = _base_env(tmp_path) | hosts.rewrite(environment("seed"))
    processes["seed"] = _start(_compose_argv("seed"), seed_env, logs["seed"])
    # compose starts icewatch once the seed service is healthy (its queue exists): the same check.
    wait_for(lambda: _healthcheck("seed", seed_env, hosts) == 0, 60, "the seed healthcheck", every_s=1)

    daemon_env = _base_env(tmp_path) | hosts.rewrite(environment("icewatch"))
    port = free_port()  # the compose file's 9108 may be taken on this machine
    daemon_env["ICEWATCH_HTTP_PORT"] = str(port)
    if stack["backend"] == "localstack":  # no DynamoDB Local on the host
        daemon_env["ICEWATCH_STATE_URL"] = f"sqlite:///{tmp_path}/state.db"
    processes["icewatch"] = _start(_compose_argv("icewatch"), daemon_env, logs["icewatch"])
    try:
        wait_for(lambda: ready(port), 60, "icewatch /readyz")
        # The image's HEALTHCHECK (and the ECS task's) is this module, with the container's environment.
        probe = [sys.executable, "-m", "service.healthcheck"]
        assert subprocess.run(probe, env=daemon_env, timeout=30).returncode == 0

        def all_tables_scraped() -> str | None:
            status, text = _get(f"http://127.0.0.1:{port}/metrics")
            wanted = [f'icewatch_snapshot_added_records{{table="{t}"}}' for t in SAMPLE_TABLES]
            wanted += [f'icewatch_health_score{{table="{t}"}}' for t in SAMPLE_TABLES]
            # The subnet poller watches the seed's managed Glue job (ICEWATCH_GLUE_JOBS in the compose file).
            wanted += [f'connection="demo-net-{x}",job="demo-etl"' for x in "abc"]
            return text if status == 200 and all(w in text for w in wanted) else None

        scrape = wait_for(all_tables_scraped, 90, "the sample tables on /metrics", every_s=1)
    except AssertionError:
        for name, log in logs.items():
            print(f"--- {name}\n{log.read_text()[-3000:]}")
        raise

    # Every metric the Grafana dashboard charts is on /metrics (a labelled metric with no series yet
    # still has its HELP line).
    missing = {m for m in _dashboard_metrics() if m not in scrape}
    assert not missing, f"the Grafana dashboard charts metrics icewatch does not serve: {sorted(missing)}"

    # CloudWatch on "LocalStack" got every table's ingestion metric, in the default namespace.
    localstack = Endpoint(hosts.url("localstack:4566"))
    counts = published_counts(localstack, "IcebergMonitoring", list(SAMPLE_TABLES))
    assert all(counts[t] > 0 for t in SAMPLE_TABLES), counts
    # The state store of the compose file (DynamoDB on LocalStack) holds the watermarks.
    if daemon_env["ICEWATCH_STATE_URL"].startswith("dynamodb://"):
        table = daemon_env["ICEWATCH_STATE_URL"].removeprefix("dynamodb://")
        items = localstack.client("dynamodb").scan(TableName=table)["Items"]
        assert {i["pk"]["S"] for i in items} >= {f"table#{t}" for t in SAMPLE_TABLES}

    assert _stop(processes.pop("icewatch")) == 0, logs["icewatch"].read_text()[-3000:]
    assert _stop(processes.pop("seed")) == 0, logs["seed"].read_text()[-3000:]
    assert "stopped after" in logs["seed"].read_text()


def test_healthcheck_module_fails_when_nothing_answers(tmp_path):
    env = _base_env(tmp_path) | {"ICEWATCH_HTTP_PORT": str(free_port())}
    result = subprocess.run(
        [sys.executable, "-m", "service.healthcheck"], env=env, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 1
    assert "/healthz" in result.stderr
