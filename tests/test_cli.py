"""`icewatch collect` and `icewatch report` against Glue and S3 on the emulator, as a user runs them."""

from __future__ import annotations

import json
import random
from datetime import datetime

import pytest

from service.cli import main
from tests.support.oracle import expected_state_metrics
from tests.support.shapes import partitioned, rows


@pytest.fixture
def glue_table(glue_catalog, glue_namespace):
    return partitioned(glue_catalog, glue_namespace)


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_collect_json_prints_every_datum_with_iso_utc_timestamps(aws_env, glue_table, capsys):
    name = ".".join(glue_table.name()[-2:])
    code, out, _ = run(capsys, "collect", name, "--json")
    assert code == 0
    datums = json.loads(out)
    assert {tuple(d) for d in datums} == {("name", "value", "unit", "timestamp", "dimensions")}
    assert all(d["dimensions"] == {"table_name": name} for d in datums)
    assert all(d["timestamp"].endswith("Z") and datetime.fromisoformat(d["timestamp"]) for d in datums)
    by_name = {d["name"]: d["value"] for d in datums}
    expected = expected_state_metrics(glue_table)
    assert by_name["partitions.count"] == expected["partitions.count"]
    assert by_name["files.avg_file_size"] == pytest.approx(expected["files.avg_file_size"], rel=1e-9)
    summary = glue_table.current_snapshot().summary
    assert by_name["snapshot.added_records"] == int(summary["added-records"])
    assert by_name["snapshot.added_records"] > 0


def test_collect_all_snapshots_gives_one_ingestion_datum_per_snapshot(aws_env, glue_table, capsys):
    glue_table.append(rows(random.Random(3), 10))
    code, out, _ = run(capsys, "collect", ".".join(glue_table.name()[-2:]), "--json", "--all-snapshots")
    assert code == 0
    added = [d for d in json.loads(out) if d["name"] == "snapshot.added_records"]
    assert len(added) == len(glue_table.metadata.snapshots) == 7
    assert [d["value"] for d in added][-1] == 10
    assert len({d["timestamp"] for d in added}) > 1


def test_collect_prints_an_aligned_table_for_people(aws_env, glue_table, capsys):
    code, out, _ = run(capsys, "collect", ".".join(glue_table.name()[-2:]))
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["METRIC", "VALUE", "UNIT"]
    unit_column = lines[0].index("UNIT")
    assert all(line[unit_column - 2 : unit_column] == "  " for line in lines[1:])
    assert any(line.startswith("partitions.skew_record_count ") for line in lines)


def test_report_json_names_findings_with_their_figures(aws_env, glue_table, capsys, monkeypatch):
    monkeypatch.setenv("ICEWATCH_COMPACT_MIN_SMALL_FILES", "5")
    code, out, _ = run(capsys, "report", ".".join(glue_table.name()[-2:]), "--json")
    assert code == 0
    report = json.loads(out)
    codes = [f["code"] for f in report["findings"]]
    assert "compact_small_files" in codes
    finding = report["findings"][codes.index("compact_small_files")]
    assert finding["figures"]["files.small_file_count"] == len(glue_table.inspect.data_files())
    assert 0 <= report["score"] < 100


def test_report_text_has_insight_challenge_and_action(aws_env, glue_table, capsys, monkeypatch):
    monkeypatch.setenv("ICEWATCH_COMPACT_MIN_SMALL_FILES", "5")
    code, out, err = run(capsys, "report", ".".join(glue_table.name()[-2:]))
    assert code == 0, err
    assert "health score" in out
    for label in ("Insight:", "Challenge:", "Action:", "Figures:"):
        assert label in out


def test_a_missing_table_exits_2_with_one_line(aws_env, glue_namespace, capsys):
    code, out, err = run(capsys, "collect", f"{glue_namespace}.nope")
    assert (code, out) == (2, "")
    assert err.strip().count("\n") == 0
    assert "not found" in err


def test_a_non_iceberg_table_exits_2_with_one_line(aws_env, glue_namespace, glue_client, capsys):
    glue_client.create_table(
        DatabaseName=glue_namespace,
        TableInput={
            "Name": "csv_logs",
            "TableType": "EXTERNAL_TABLE",
            "Parameters": {"classification": "csv"},
        },
    )
    code, _, err = run(capsys, "collect", f"{glue_namespace}.csv_logs")
    assert code == 2
    assert "is not an Iceberg table" in err
    assert err.strip().count("\n") == 0


def test_an_unreachable_catalog_exits_2_with_one_line(monkeypatch, capsys):
    monkeypatch.setenv(
        "ICEWATCH_CATALOG_PROPERTIES",
        json.dumps(
            {
                "type": "glue",
                "glue.endpoint": "http://127.0.0.1:9",
                "glue.region": "us-east-1",
                "glue.max-retries": 0,
            }
        ),
    )
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    code, _, err = run(capsys, "report", "db.t")
    assert code == 2
    assert "cannot load db.t from the catalog" in err
    assert err.strip().count("\n") == 0


def test_a_sql_catalog_works_too(monkeypatch, sql_catalog, tmp_path, capsys):
    table = partitioned(sql_catalog)
    monkeypatch.setenv(
        "ICEWATCH_CATALOG_PROPERTIES",
        json.dumps(
            {"type": "sql", "uri": f"sqlite:///{tmp_path}/catalog.db", "warehouse": f"file://{tmp_path}/wh"}
        ),
    )
    monkeypatch.setenv("ICEWATCH_CATALOG_NAME", "test")
    code, out, _ = run(capsys, "collect", "db.partitioned", "--json")
    assert code == 0
    by_name = {d["name"]: d["value"] for d in json.loads(out)}
    assert by_name["partitions.count"] == expected_state_metrics(table)["partitions.count"]


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("ICEWATCH_TOP_PARTITIONS", "many", "ICEWATCH_TOP_PARTITIONS"),
        ("ICEWATCH_CATALOG_PROPERTIES", "{not json", "ICEWATCH_CATALOG_PROPERTIES"),
        ("ICEWATCH_CATALOG_PROPERTIES", '{"type": "nosuch"}', "ICEWATCH_CATALOG_PROPERTIES"),
    ],
)
def test_a_bad_setting_exits_2_naming_the_variable(monkeypatch, capsys, variable, value, message):
    monkeypatch.setenv(variable, value)
    code, _, err = run(capsys, "collect", "db.t")
    assert code == 2
    assert message in err
    assert err.strip().count("\n") == 0


def test_a_malformed_table_name_exits_2(capsys, monkeypatch):
    monkeypatch.setenv("ICEWATCH_CATALOG_PROPERTIES", '{"type": "sql", "uri": "sqlite://"}')
    code, _, err = run(capsys, "collect", "just_a_table")
    assert code == 2
    assert "DATABASE.TABLE" in err


def test_top_partitions_are_published_by_hive_style_name_when_asked(aws_env, glue_table, capsys, monkeypatch):
    monkeypatch.setenv("ICEWATCH_TOP_PARTITIONS", "3")
    code, out, _ = run(capsys, "collect", ".".join(glue_table.name()[-2:]), "--json")
    assert code == 0
    per_partition = [d for d in json.loads(out) if "partition_name" in d["dimensions"]]
    records = {
        d["dimensions"]["partition_name"]: d["value"]
        for d in per_partition
        if d["name"].endswith("record_count")
    }
    oracle = glue_table.inspect.partitions().to_pandas()
    oracle["name"] = [f"ts_day={p['ts_day']}/region={p['region']}" for p in oracle["partition"]]
    top = oracle.sort_values("record_count", ascending=False).head(3)
    assert records == dict(zip(top["name"], top["record_count"].astype(float), strict=True))
    assert len(per_partition) == 6


def test_per_partition_metrics_are_off_by_default(aws_env, glue_table, capsys):
    code, out, _ = run(capsys, "collect", ".".join(glue_table.name()[-2:]), "--json")
    assert code == 0
    assert not [d for d in json.loads(out) if "partition_name" in d["dimensions"]]
