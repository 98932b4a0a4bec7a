"""Text renderings of metrics and health reports for people (JSON for machines is in the models)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from service.engine.catalogue import TABLE_DIMENSION
from service.engine.health import HealthReport
from service.models import MetricDatum

if TYPE_CHECKING:
    from service.connections.poller import JobPoll


def _number(value: float) -> str:
    return f"{int(value):,}" if value.is_integer() and abs(value) < 1e15 else f"{value:,.6g}"


def datum_table(datums: Sequence[MetricDatum]) -> str:
    """An aligned table: metric, value, unit, time, and any dimension besides the table's."""
    rows = [("METRIC", "VALUE", "UNIT", "TIMESTAMP (UTC)", "DIMENSIONS")]
    for d in datums:
        extra = ", ".join(f"{k}={v}" for k, v in d.dimensions if k != TABLE_DIMENSION)
        rows.append(
            (d.name, _number(d.value), d.unit.value, d.timestamp.strftime("%Y-%m-%d %H:%M:%S"), extra)
        )
    return _aligned(rows, right={1})


def health_text(table: str, report: HealthReport) -> str:
    lines = [f"{table}: health score {report.score:.1f} / 100"]
    if not report.findings:
        lines.append("  No maintenance needed.")
    for finding in report.findings:
        lines += [
            "",
            f"* {finding.title} [{finding.code}]",
            f"  Insight:   {finding.insight}",
            f"  Challenge: {finding.challenge}",
            f"  Action:    {finding.action}",
            "  Figures:   " + ", ".join(f"{k}={_number(float(v))}" for k, v in finding.figures.items()),
        ]
    return "\n".join(lines)


def live_view(view: dict[str, tuple[dict[str, float], set[str], float]], now: float) -> str:
    """One line per table: latest commit, records added, files, skew, freshness, recommendations."""
    rows = [("TABLE", "RECORDS ADDED", "FILES", "SMALL", "SKEW", "FRESHNESS", "HEALTH", "RECOMMENDATION")]
    for table in sorted(view):
        values, codes, updated = view[table]
        # Freshness was measured when the table was last processed; it has grown since.
        age = values.get("table.seconds_since_last_commit")
        fresh = f"{age + max(0.0, now - updated):.0f} s" if age is not None else "-"
        rows.append(
            (
                table,
                _number(values.get("snapshot.added_records", 0.0)),
                _number(values.get("snapshot.total_data_files", 0.0)),
                _number(values.get("files.small_file_count", 0.0)),
                f"{values.get('partitions.skew_record_count', 0.0):.2f}",
                fresh,
                f"{values.get('health.score', 100.0):.0f}",
                ", ".join(sorted(codes)) or "-",
            )
        )
    if len(rows) == 1:
        return "waiting for the first commits…"
    return _aligned(rows)


def connection_table(polls: Iterable[JobPoll]) -> str:
    """Per managed Glue job, its connections in order: subnet, zone, free IPs, tier, why one goes last."""
    rows = [("GLUE JOB", "#", "CONNECTION", "SUBNET", "ZONE", "FREE IPS", "TIER", "NOTE")]
    for poll in polls:
        if poll.order is None:
            rows.append((poll.job_name, "-", "-", "-", "-", "-", "-", poll.error or ""))
            continue
        for rank, ranked in enumerate(poll.order.ranked, 1):
            c = ranked.capacity
            free = "-" if c.free_ips is None else _number(float(c.free_ips))
            note = c.reason_last(poll.order.min_ips) or ""
            job = poll.job_name if rank == 1 else ""
            rows.append(
                (
                    job,
                    str(rank),
                    ranked.name,
                    c.subnet_id or "-",
                    c.availability_zone or "-",
                    free,
                    ranked.tier.label,
                    note,
                )
            )
    return _aligned(rows, right={1, 5})


def _aligned(rows: Sequence[Sequence[str]], right: frozenset[int] | set[int] = frozenset()) -> str:
    """Columns padded to their widest cell, two spaces apart; `right` columns right-aligned."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(
            c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in rows
    )
