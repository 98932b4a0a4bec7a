"""Which tables icewatch watches: include and exclude globs over `database.table`."""

from __future__ import annotations

import dataclasses
import glob

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.filters import TableFilter

TABLES = [
    ("sales", "orders"),
    ("sales", "orders_tmp"),
    ("sales", "refunds"),
    ("hr", "orders"),
    ("hr", "people"),
]


def _allowed(table_filter: TableFilter) -> list[str]:
    return [f"{database}.{table}" for database, table in TABLES if table_filter.allows(database, table)]


def test_without_patterns_every_table_is_watched():
    assert _allowed(TableFilter()) == [f"{database}.{table}" for database, table in TABLES]


@pytest.mark.parametrize(
    ("include", "exclude", "allowed"),
    [
        pytest.param(
            ["sales.*"], [], ["sales.orders", "sales.orders_tmp", "sales.refunds"], id="one-database"
        ),
        pytest.param(["*.orders"], [], ["sales.orders", "hr.orders"], id="one-table-name-everywhere"),
        pytest.param(
            ["sales.refunds", "hr.*"], [], ["sales.refunds", "hr.orders", "hr.people"], id="any-include"
        ),
        pytest.param(["sales.orders?*"], [], ["sales.orders_tmp"], id="question-mark-needs-a-character"),
        pytest.param(
            ["sales.[or]*"], [], ["sales.orders", "sales.orders_tmp", "sales.refunds"], id="brackets"
        ),
        pytest.param(
            [], ["*.*_tmp"], ["sales.orders", "sales.refunds", "hr.orders", "hr.people"], id="exclude-only"
        ),
        pytest.param(["sales.*"], ["sales.orders*"], ["sales.refunds"], id="exclude-wins-over-include"),
        pytest.param(["sales.*"], ["*.*"], [], id="exclude-everything"),
        pytest.param(["nowhere.*"], [], [], id="include-matching-nothing"),
    ],
)
def test_tables_are_watched_when_included_and_not_excluded(include, exclude, allowed):
    assert _allowed(TableFilter(include, exclude)) == allowed


def test_matching_ignores_case_in_names_and_patterns():
    table_filter = TableFilter(include=["Sales.Orders*"], exclude=["SALES.ORDERS_TMP"])
    assert table_filter.allows("sales", "orders")
    assert table_filter.allows("SALES", "Orders")
    assert not table_filter.allows("Sales", "orders_tmp")


names = st.text(st.characters(exclude_characters="."), min_size=1, max_size=40)


@given(names, names, st.text(min_size=1, max_size=5))
def test_an_escaped_exact_name_watches_that_table_only(database, table, suffix):
    table_filter = TableFilter(include=[glob.escape(f"{database}.{table}")])
    assert table_filter.allows(database, table)
    assert not table_filter.allows(database, table + suffix)


@pytest.mark.parametrize(
    ("pattern", "hint"),
    [
        ("sales", "'sales.*'"),
        ("*", "'*.*'"),
        ("", "DATABASE.TABLE"),
        (".orders", "DATABASE.TABLE"),
        ("sales.", "DATABASE.TABLE"),
    ],
)
@pytest.mark.parametrize("argument", ["include", "exclude"])
def test_a_pattern_that_is_not_database_dot_table_is_refused_with_a_hint(argument, pattern, hint):
    with pytest.raises(ValueError, match=f"{argument} pattern") as info:
        TableFilter(**{argument: ["sales.orders", pattern]})
    assert hint in str(info.value)


def test_a_single_string_instead_of_a_list_is_refused():
    with pytest.raises(ValueError, match=r"should be a list, like \['sales\.\*'\]"):
        TableFilter(include="sales.*")


def test_a_filter_cannot_change_after_it_is_built():
    patterns = ["sales.*"]
    table_filter = TableFilter(include=patterns)
    patterns.append("hr.*")
    assert not table_filter.allows("hr", "people")
    with pytest.raises(dataclasses.FrozenInstanceError):
        table_filter.include = ["hr.*"]  # type: ignore[misc]


def test_filters_with_the_same_patterns_are_equal():
    assert TableFilter(["sales.*"], ["*.*_tmp"]) == TableFilter(("sales.*",), ("*.*_tmp",))
    assert len({TableFilter(["sales.*"]), TableFilter(("sales.*",))}) == 1
