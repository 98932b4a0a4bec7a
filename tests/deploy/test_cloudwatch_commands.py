"""`icewatch dashboard` and `icewatch alarms`: JSON that CloudWatch (the emulator) accepts as is."""

from __future__ import annotations

import json

from service.cli import main


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_dashboard_charts_the_named_tables_and_put_dashboard_accepts_it(emulator, capsys):
    code, out, _ = run(
        capsys, "dashboard", "--table", "sales.orders", "--table", "sales.events", "--queue-name", "q"
    )
    assert code == 0
    body = json.loads(out)
    ingestion = body["widgets"][0]["properties"]
    assert ingestion["stat"] == "Sum"
    assert ingestion["metrics"] == [
        ["IcebergMonitoring", "snapshot.added_records", "table_name", t, {"label": t}]
        for t in ("sales.orders", "sales.events")
    ]
    assert body["widgets"][-1]["properties"]["metrics"] == [
        ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", "q"]
    ]
    cloudwatch = emulator.client("cloudwatch")
    answer = cloudwatch.put_dashboard(DashboardName="icewatch-cli", DashboardBody=out)
    assert answer["DashboardValidationMessages"] == []
    assert json.loads(cloudwatch.get_dashboard(DashboardName="icewatch-cli")["DashboardBody"]) == body


def test_dashboard_without_tables_finds_every_table_with_search(monkeypatch, capsys):
    monkeypatch.setenv("ICEWATCH_CLOUDWATCH_NAMESPACE", "Lake")
    code, out, _ = run(capsys, "dashboard", "--region", "eu-west-1")
    assert code == 0
    first = json.loads(out)["widgets"][0]["properties"]
    assert first["region"] == "eu-west-1"
    (line,) = first["metrics"]
    assert line[0]["expression"] == (
        "SEARCH('{Lake,table_name} MetricName=\"snapshot.added_records\"', 'Sum', 300)"
    )


def test_alarms_are_accepted_by_put_metric_alarm_with_the_anomaly_band(emulator, capsys):
    topic = "arn:aws:sns:us-east-1:123456789012:ops"
    code, out, _ = run(
        capsys, "alarms", "--table", "sales.orders", "--action", topic, "--dlq-name", "icewatch-dlq"
    )
    assert code == 0
    alarms = json.loads(out)
    assert [a["AlarmName"] for a in alarms] == [
        "icewatch-ingestion-anomaly-sales.orders",
        "icewatch-freshness-sales.orders",
        "icewatch-dead-letter-queue",
    ]
    cloudwatch = emulator.client("cloudwatch")
    for alarm in alarms:
        cloudwatch.put_metric_alarm(**alarm)
    described = {
        a["AlarmName"]: a for a in cloudwatch.describe_alarms(AlarmNamePrefix="icewatch-")["MetricAlarms"]
    }
    anomaly = described["icewatch-ingestion-anomaly-sales.orders"]
    assert anomaly["ThresholdMetricId"] == "ad1"
    assert anomaly["ComparisonOperator"] == "LessThanLowerOrGreaterThanUpperThreshold"
    assert anomaly["EvaluationPeriods"] == anomaly["DatapointsToAlarm"] == 2
    metrics = {m["Id"]: m for m in anomaly["Metrics"]}
    assert metrics["ad1"]["Expression"] == "ANOMALY_DETECTION_BAND(m1, 2)"
    stat = metrics["m1"]["MetricStat"]
    assert stat["Metric"] == {
        "Namespace": "IcebergMonitoring",
        "MetricName": "snapshot.added_records",
        "Dimensions": [{"Name": "table_name", "Value": "sales.orders"}],
    }
    assert stat["Stat"] == "Sum"
    assert anomaly["AlarmActions"] == [topic]
    freshness = described["icewatch-freshness-sales.orders"]
    assert freshness["MetricName"] == "table.seconds_since_last_commit"
    assert freshness["Threshold"] == 3600
    assert freshness["TreatMissingData"] == "breaching"


def test_alarm_options_change_band_period_and_threshold(capsys):
    code, out, _ = run(
        capsys,
        "alarms",
        "--table",
        "a.b",
        "--band",
        "3.5",
        "--period-s",
        "3600",
        "--freshness-threshold-s",
        "7200",
        "--name-prefix",
        "lake",
    )
    assert code == 0
    anomaly, freshness = json.loads(out)
    assert anomaly["Metrics"][1]["Expression"] == "ANOMALY_DETECTION_BAND(m1, 3.5)"
    assert anomaly["Metrics"][0]["MetricStat"]["Period"] == 3600
    assert freshness["Threshold"] == 7200
    assert anomaly["AlarmName"] == "lake-ingestion-anomaly-a.b"


def test_alarms_reject_a_malformed_table_name_in_one_line(capsys):
    code, out, err = run(capsys, "alarms", "--table", "orders")
    assert code == 2
    assert out == ""
    assert err.startswith("icewatch: error:")
    assert "DATABASE.TABLE" in err
    code, _, err = run(capsys, "alarms")
    assert code == 2
    assert "--table" in err
