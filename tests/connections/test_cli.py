"""`icewatch reorder` and `icewatch run-job` as a user runs them, against the emulator."""

from __future__ import annotations

import json

import pytest

from service.cli import main
from service.connections.sandbox import take_addresses
from tests.connections.conftest import job_connections_now

NO_ADDRESSES = "The specified subnet does not have enough free addresses to satisfy the request."


@pytest.fixture
def network(make_network, aws_env, monkeypatch):
    """A network whose job is managed through ICEWATCH_GLUE_JOBS, with its first subnet filling up."""
    network = make_network(workers=10)
    monkeypatch.setenv(
        "ICEWATCH_GLUE_JOBS", json.dumps([network.managed_job().model_dump(exclude_none=True)])
    )
    return network


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_reorder_json_shows_capacities_tiers_and_the_new_order_and_updates_the_job(network, emulator, capsys):
    a, b, c = network.subnets
    take_addresses(emulator.client("ec2"), network.subnets[a], 50)  # a: 9 free: can't hold 11
    code, out, _ = run(capsys, "reorder", "--job", network.job_name, "--json")
    assert code == 0
    body = json.loads(out)
    assert {x["connection"]: x["free_ips"] for x in body["capacities"]} == {a: 9, b: 27, c: 11}
    assert body["tiers"] == {"full": [b, c], "usable": [a], "last": []}
    assert (body["current"], body["new"], body["updated"]) == ([a, b, c], [b, c, a], True)
    assert body["required_ips"] == 11
    assert job_connections_now(emulator, network.job_name) == [b, c, a]


def test_reorder_dry_run_prints_the_table_and_leaves_the_job_alone(network, emulator, capsys):
    a, b, c = network.subnets
    take_addresses(emulator.client("ec2"), network.subnets[a], 50)
    code, out, _ = run(capsys, "reorder", "--job", network.job_name, "--dry-run")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == f"{network.job_name}: 11 IPs for the whole job, 2 to start; strategy capacity"
    assert lines[1].split() == [
        "GLUE",
        "JOB",
        "#",
        "CONNECTION",
        "SUBNET",
        "ZONE",
        "FREE",
        "IPS",
        "TIER",
        "NOTE",
    ]
    assert lines[2].split()[:3] == [network.job_name, "1", b]
    assert f"new order:     {b}, {c}, {a}" in lines
    assert lines[-1] == "dry run: the job was not updated"
    assert job_connections_now(emulator, network.job_name) == [a, b, c]


def test_reorder_of_a_job_not_in_the_settings_exits_2_saying_where_to_add_it(network, capsys):
    code, out, err = run(capsys, "reorder", "--job", "someone-elses-job")
    assert (code, out) == (2, "")
    assert "ICEWATCH_GLUE_JOBS" in err
    assert err.strip().count("\n") == 0


def test_a_bad_glue_jobs_setting_exits_2_naming_the_variable(monkeypatch, capsys):
    monkeypatch.setenv("ICEWATCH_GLUE_JOBS", json.dumps([{"job_name": "etl", "connections": []}]))
    code, _, err = run(capsys, "reorder", "--job", "etl")
    assert code == 2
    assert "ICEWATCH_GLUE_JOBS[0].connections" in err


def test_run_job_retries_a_run_that_failed_for_want_of_addresses_and_exits_0_when_it_succeeds(
    network, emulator, capsys
):
    a, b, c = network.subnets
    emulator.script_job_runs(network.job_name, [("FAILED", NO_ADDRESSES)])
    code, out, _ = run(
        capsys, "run-job", network.job_name, "--arg", "day=2025-01-31", "--backoff-s", "0", "--poll-s", "0"
    )
    assert code == 0
    assert "attempt 1/3: run jr_" in out
    assert f"FAILED: {NO_ADDRESSES}" in out
    assert out.strip().splitlines()[-1] == "final state: SUCCEEDED after 2 attempts"
    runs = emulator.started_runs(network.job_name)
    assert [r.connections for r in runs] == [(a, b, c), (b, c, a)]
    assert runs[0].arguments["--day"] == "2025-01-31"


def test_run_job_exits_1_when_the_run_fails_for_another_reason(network, emulator, capsys):
    emulator.script_job_runs(network.job_name, [("FAILED", "ZeroDivisionError: division by zero")])
    code, out, _ = run(capsys, "run-job", network.job_name, "--poll-s", "0")
    assert code == 1
    assert out.strip().splitlines()[-1] == "final state: FAILED after 1 attempt"
    assert len(emulator.started_runs(network.job_name)) == 1


def test_run_job_rejects_an_argument_without_a_value(network, capsys):
    code, _, err = run(capsys, "run-job", network.job_name, "--arg", "day")
    assert code == 2
    assert "KEY=VALUE" in err
