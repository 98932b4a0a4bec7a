"""ICEWATCH_GLUE_JOBS and the poller's settings: parsed from the environment, a bad value named."""

from __future__ import annotations

import json

import pytest

from service.errors import SettingsError
from service.settings import load_settings


def test_no_managed_jobs_by_default_so_no_poller():
    poller = load_settings().poller
    assert (poller.glue_jobs, poller.poll_interval_s, poller.poller_dry_run) == ([], 60.0, False)


def test_managed_jobs_come_from_a_json_list_with_defaults_for_what_is_left_out(monkeypatch):
    monkeypatch.setenv(
        "ICEWATCH_GLUE_JOBS",
        json.dumps(
            [
                {"job_name": "etl", "connections": ["net-a", "net-b"]},
                {"job_name": "ml", "connections": ["net-c"], "strategy": "random", "full_ips": 30},
            ]
        ),
    )
    monkeypatch.setenv("ICEWATCH_POLL_INTERVAL_S", "5")
    monkeypatch.setenv("ICEWATCH_POLLER_DRY_RUN", "true")
    poller = load_settings().poller
    etl, ml = poller.glue_jobs
    assert (etl.strategy, etl.full_ips, etl.min_ips, etl.connections) == (
        "capacity",
        None,
        2,
        ["net-a", "net-b"],
    )
    assert (ml.strategy, ml.full_ips) == ("random", 30)
    assert (poller.poll_interval_s, poller.poller_dry_run) == (5.0, True)


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("ICEWATCH_GLUE_JOBS", "[{not json", "ICEWATCH_GLUE_JOBS is not valid JSON"),
        (
            "ICEWATCH_GLUE_JOBS",
            '[{"job_name": "etl", "connections": ["a"], "strategy": "fastest"}]',
            "ICEWATCH_GLUE_JOBS[0].strategy",
        ),
        ("ICEWATCH_GLUE_JOBS", '[{"job_name": "etl", "connections": ["a", "a"]}]', "listed twice"),
        ("ICEWATCH_GLUE_JOBS", '[{"job_name": "etl"}]', "ICEWATCH_GLUE_JOBS[0].connections"),
        ("ICEWATCH_GLUE_JOBS", '[{"job_name": "etl", "connections": ["a"], "subnets": 1}]', "[0].subnets"),
        (
            "ICEWATCH_GLUE_JOBS",
            '[{"job_name": "e", "connections": ["a"]}, {"job_name": "e", "connections": ["b"]}]',
            "a job is listed twice",
        ),
        ("ICEWATCH_POLL_INTERVAL_S", "0", "ICEWATCH_POLL_INTERVAL_S"),
        ("ICEWATCH_POLLER_HYSTERESIS_IPS", "-1", "ICEWATCH_POLLER_HYSTERESIS_IPS"),
    ],
)
def test_a_bad_value_is_refused_naming_the_variable(monkeypatch, variable, value, message):
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError, match=message.replace("[", r"\[").replace(".", r"\.")):
        load_settings()


def test_an_error_in_another_group_is_still_named_by_its_variable(monkeypatch):
    monkeypatch.setenv("ICEWATCH_TOP_PARTITIONS", "many")
    with pytest.raises(SettingsError, match="ICEWATCH_TOP_PARTITIONS: "):
        load_settings()
