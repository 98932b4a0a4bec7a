"""`icewatch demo --seed-only` writes sample tables, so it refuses to run against real AWS."""

from __future__ import annotations

from service.cli import main


def test_seed_only_without_an_emulator_endpoint_stops_with_one_line(capsys):
    code = main(["demo", "--seed-only", "--duration", "1"])
    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    assert err.startswith("icewatch: error:")
    assert "AWS_ENDPOINT_URL" in err
    assert len(err.strip().splitlines()) == 1
