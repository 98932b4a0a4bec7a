"""deploy/icewatch.yaml: cfn-lint clean, least privilege, and in step with the code it deploys."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import decode_str
from pydantic import BaseModel

from service.cloudwatch_resources import (
    AlarmPolicy,
    anomaly_alarm,
    dashboard_body,
    dlq_alarm,
    freshness_alarm,
)
from service.settings import Settings
from service.state import dynamodb

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = ROOT / "deploy" / "icewatch.yaml"


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    decoded, errors = decode_str(TEMPLATE_PATH.read_text())
    assert not errors, errors
    return decoded


def _resources(template: dict[str, Any]) -> dict[str, Any]:
    """Resources, with each Fn::ForEach's fragment listed under its own logical id template."""
    found = {}
    for key, value in template["Resources"].items():
        if key.startswith("Fn::ForEach::"):
            found.update(value[2])
        else:
            found[key] = value
    return found


def _statements(node: Any) -> list[dict[str, Any]]:
    """Every IAM/resource policy statement anywhere in the template (inside Fn::If branches too)."""
    found = []
    if isinstance(node, dict):
        if "Effect" in node and ("Action" in node or "NotAction" in node):
            found.append(node)
        for value in node.values():
            found += _statements(value)
    elif isinstance(node, list):
        for value in node:
            found += _statements(value)
    return found


def _actions(statement: dict[str, Any]) -> list[str]:
    action = statement.get("Action", [])
    return [action] if isinstance(action, str) else list(action)


def test_cfn_lint_reports_nothing():
    result = subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), "--include-checks", "I", "--", str(TEMPLATE_PATH)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_no_policy_statement_allows_a_wildcard_action_or_uses_not_action(template):
    statements = _statements(template["Resources"])
    assert len(statements) >= 10
    for statement in statements:
        assert "NotAction" not in statement, statement
        for action in _actions(statement):
            assert "*" not in action, f"wildcard action {action!r} in {statement.get('Sid', statement)}"


def test_put_metric_data_is_allowed_only_in_the_configured_namespace(template):
    publishing = [s for s in _statements(template["Resources"]) if "cloudwatch:PutMetricData" in _actions(s)]
    assert len(publishing) == 1
    assert _actions(publishing[0]) == ["cloudwatch:PutMetricData"]
    assert publishing[0]["Condition"] == {
        "StringEquals": {"cloudwatch:namespace": {"Ref": "MetricsNamespace"}}
    }


def test_task_and_execution_roles_are_separate(template):
    task = template["Resources"]["TaskDefinition"]["Properties"]
    assert task["TaskRoleArn"] == {"Fn::GetAtt": ["TaskRole", "Arn"]}
    assert task["ExecutionRoleArn"] == {"Fn::GetAtt": ["ExecutionRole", "Arn"]}
    execution_actions = {a for s in _statements(template["Resources"]["ExecutionRole"]) for a in _actions(s)}
    assert not {
        a for a in execution_actions if a.split(":")[0] in {"glue", "s3", "sqs", "dynamodb", "cloudwatch"}
    }


def test_state_table_matches_the_dynamodb_store(template):
    table = template["Resources"]["StateTable"]["Properties"]
    assert table["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["TimeToLiveSpecification"] == {"AttributeName": "ttl", "Enabled": True}
    # The store's own documentation of what the task role needs (service/state/dynamodb.py).
    needed = set(
        re.findall(r"(DescribeTable|GetItem|PutItem|DeleteItem|Scan|ConditionCheckItem)", dynamodb.__doc__)
    )
    allowed = {a.removeprefix("dynamodb:") for s in _statements(template["Resources"]) for a in _actions(s)}
    assert needed <= allowed


def _setting_variables() -> set[str]:
    variables = set()
    for name, field in Settings.model_fields.items():
        group = field.annotation
        if isinstance(group, type) and issubclass(group, BaseModel):
            variables |= {f"ICEWATCH_{n.upper()}" for n in group.model_fields}
        else:
            variables.add(f"ICEWATCH_{name.upper()}")
    return variables


def test_task_environment_names_only_real_settings(template):
    container = template["Resources"]["TaskDefinition"]["Properties"]["ContainerDefinitions"][0]
    names = {e["Name"] for e in container["Environment"]}
    unknown = {n for n in names if n.startswith("ICEWATCH_")} - _setting_variables()
    assert not unknown, f"the task sets variables icewatch does not read: {unknown}"
    assert container["StopTimeout"] == 30
    assert container["HealthCheck"]["Command"] == ["CMD", "python", "-m", "service.healthcheck"]


def test_event_rule_takes_both_glue_detail_types_into_the_queue(template):
    rule = template["Resources"]["GlueChangesRule"]["Properties"]
    assert rule["EventPattern"]["source"] == ["aws.glue"]
    assert set(rule["EventPattern"]["detail-type"]) == {
        "Glue Data Catalog Table State Change",
        "Glue Data Catalog Database State Change",
    }
    assert rule["Targets"][0]["Arn"] == {"Fn::GetAtt": ["EventsQueue", "Arn"]}
    queue = template["Resources"]["EventsQueue"]["Properties"]
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}


def test_backlog_per_task_scaling_divides_visible_messages_by_running_tasks(template):
    spec = template["Resources"]["BacklogPerTaskScaling"]["Properties"][
        "TargetTrackingScalingPolicyConfiguration"
    ]
    metrics = {m["Id"]: m for m in spec["CustomizedMetricSpecification"]["Metrics"]}
    assert metrics["m1"]["MetricStat"]["Metric"]["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert metrics["m2"]["MetricStat"]["Metric"]["MetricName"] == "RunningTaskCount"
    assert metrics["e1"]["Expression"] == "m1 / m2"
    assert [m["Id"] for m in metrics.values() if m["ReturnData"]] == ["e1"]


def test_every_parameter_is_explained_in_the_readme(template):
    readme = (ROOT / "README.md").read_text()
    missing = [name for name in template["Parameters"] if f"`{name}`" not in readme]
    assert not missing, f"README.md does not explain these template parameters: {missing}"


# --- The template's alarms and dashboard are the CLI's (`icewatch alarms` / `icewatch dashboard`) ---

STACK = "icewatch"
TABLE = "sales.orders"
TOPIC = "arn:aws:sns:us-east-1:123456789012:icewatch-alarms"


def _resolve(node: Any, template: dict[str, Any], names: dict[str, Any]) -> Any:
    """Evaluate the intrinsics the alarms use, with parameter defaults and a few known names."""

    def default(name: str) -> Any:
        if name in names:
            return names[name]
        return template["Parameters"][name]["Default"]

    def substitute(text: str, extra: dict[str, Any]) -> str:
        return re.sub(r"\$\{([\w:.]+)\}", lambda m: str(extra.get(m.group(1), default(m.group(1)))), text)

    if isinstance(node, list):
        return [_resolve(n, template, names) for n in node]
    if not isinstance(node, dict):
        return node
    if set(node) == {"Ref"}:
        return default(node["Ref"])
    if set(node) == {"Fn::GetAtt"}:
        return names[".".join(node["Fn::GetAtt"])]
    if set(node) == {"Fn::Sub"}:
        value = node["Fn::Sub"]
        if isinstance(value, str):
            return substitute(value, {})
        text, variables = value
        return substitute(text, {k: _resolve(v, template, names) for k, v in variables.items()})
    return {k: _resolve(v, template, names) for k, v in node.items()}


def _normalised(properties: dict[str, Any]) -> dict[str, Any]:
    """CloudFormation passes numbers as strings; PutMetricAlarm takes them as numbers."""

    def walk(node: Any, key: str = "") -> Any:
        if isinstance(node, dict):
            return {k: walk(v, k) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        if key in {"Period", "EvaluationPeriods", "DatapointsToAlarm"}:
            return int(node)
        if key == "Threshold":
            return float(node)
        return node

    return walk(properties)


NAMES = {"AWS::StackName": STACK, "AlarmTopic": TOPIC, "DeadLetterQueue.QueueName": "icewatch-dlq"}


def _expanded(template: dict[str, Any], logical_id: str, table: str) -> dict[str, Any]:
    """One resource of the TableAlarms Fn::ForEach, for one table, as the transform expands it."""
    identifier, _, fragment = template["Resources"]["Fn::ForEach::TableAlarms"]
    text = json.dumps(fragment[logical_id]["Properties"]).replace("${" + identifier + "}", table)
    return _normalised(_resolve(json.loads(text), template, NAMES))


def test_template_anomaly_alarm_is_the_cli_alarm(template):
    expanded = _expanded(template, "IngestionAnomalyAlarm&{Table}", TABLE)
    cli = anomaly_alarm("IcebergMonitoring", TABLE, [TOPIC], AlarmPolicy(name_prefix=STACK))
    assert set(expanded) == set(cli)
    for field in cli:
        assert expanded[field] == cli[field], field
    assert cli["Metrics"][1]["Expression"] == "ANOMALY_DETECTION_BAND(m1, 2)"
    assert cli["EvaluationPeriods"] == cli["DatapointsToAlarm"] == 2


def test_template_freshness_alarm_is_the_cli_alarm(template):
    expanded = _expanded(template, "FreshnessAlarm&{Table}", TABLE)
    cli = freshness_alarm("IcebergMonitoring", TABLE, [TOPIC], AlarmPolicy(name_prefix=STACK))
    assert expanded == cli


def test_template_dead_letter_alarm_is_the_cli_alarm(template):
    properties = template["Resources"]["DeadLetterAlarm"]["Properties"]
    expanded = _normalised(_resolve(properties, template, NAMES))
    assert expanded == dlq_alarm("icewatch-dlq", [TOPIC], STACK)


def test_template_dashboard_is_the_cli_dashboard(template):
    body = template["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    cli = dashboard_body(
        "${MetricsNamespace}",
        "${AWS::Region}",
        queue_name="${EventsQueue.QueueName}",
        dlq_name="${DeadLetterQueue.QueueName}",
    )
    assert json.loads(body) == cli
