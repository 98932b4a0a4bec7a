"""Which tables icewatch watches: shell globs over `database.table`."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class TableFilter:
    """Tables matching any `include` glob (all when there are none) and no `exclude` glob.

    Patterns are shell globs (`*`, `?`, `[abc]`) over `database.table`, like `sales.*` or
    `*.orders_?`; matching ignores case, as Glue lower-cases names.
    """

    include: Sequence[str] = ()
    exclude: Sequence[str] = ()
    _include: re.Pattern[str] | None = field(init=False, repr=False, compare=False)
    _exclude: re.Pattern[str] | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in ("include", "exclude"):
            patterns = _checked(name, getattr(self, name))
            object.__setattr__(self, name, patterns)  # a tuple: the caller's list can't change us later
            object.__setattr__(self, f"_{name}", _compiled(patterns))

    def may_allow_database(self, database: str) -> bool:
        """False when no table of `database` can pass: listing its tables would be wasted (or denied)."""
        name = database.lower()
        if self.include and not any(fnmatch.fnmatchcase(name, _database_glob(p)) for p in self.include):
            return False
        return not any(
            p.lower().endswith(".*") and fnmatch.fnmatchcase(name, _database_glob(p)) for p in self.exclude
        )

    def allows(self, database: str, table: str) -> bool:
        name = f"{database}.{table}".lower()
        if self._include is not None and not self._include.match(name):
            return False
        return self._exclude is None or not self._exclude.match(name)


def _database_glob(pattern: str) -> str:
    return pattern.rpartition(".")[0].lower()


def _checked(name: str, patterns: Sequence[str]) -> tuple[str, ...]:
    if isinstance(patterns, str):
        raise ValueError(f"table {name} patterns should be a list, like [{patterns!r}], not one string")
    patterns = tuple(patterns)
    for pattern in patterns:
        if not isinstance(pattern, str):
            raise TypeError(f"table {name} patterns should be strings, got {pattern!r}")
        database, _, table = pattern.rpartition(".")
        if not database or not table:
            hint = f"; for a whole database write '{pattern}.*'" if pattern and "." not in pattern else ""
            raise ValueError(
                f"table {name} pattern {pattern!r} should be a DATABASE.TABLE glob, "
                f"like 'sales.*' or '*.orders'{hint}"
            )
    return patterns


def _compiled(patterns: tuple[str, ...]) -> re.Pattern[str] | None:
    if not patterns:
        return None
    # fnmatch.translate anchors each pattern at the end; re.match anchors the start.
    return re.compile("|".join(fnmatch.translate(pattern.lower()) for pattern in patterns))
