"""Frozen value types shared by every layer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum


class Unit(StrEnum):
    """CloudWatch standard units used by the metric catalogue."""

    COUNT = "Count"
    BYTES = "Bytes"
    SECONDS = "Seconds"
    NONE = "None"


@dataclass(frozen=True, slots=True)
class MetricDatum:
    """One value of one metric at one time, with its dimensions (e.g. table_name)."""

    name: str
    value: float
    unit: Unit
    timestamp: datetime
    dimensions: tuple[tuple[str, str], ...]

    def as_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "value": self.value,
            "unit": self.unit.value,
            "timestamp": self.timestamp.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "dimensions": dict(self.dimensions),
        }


@dataclass(frozen=True, slots=True)
class TableName:
    """A catalog table identifier, `<database>.<table>`."""

    database: str
    table: str

    @classmethod
    def parse(cls, text: str) -> TableName:
        database, sep, table = text.strip().rpartition(".")
        if not sep or not database or not table:
            raise ValueError(f"expected DATABASE.TABLE, got {text!r}")
        return cls(database, table)

    def __str__(self) -> str:
        return f"{self.database}.{self.table}"


def utc_from_ms(timestamp_ms: int) -> datetime:
    return datetime.fromtimestamp(timestamp_ms / 1000, tz=UTC)
