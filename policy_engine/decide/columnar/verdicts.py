"""A set of numbered guardrail checks as SQL: the number of a candidate's first failing check, and its texts.

Every check of the plan has a number, in the documented order across all candidates; a candidate's verdict is
the number of its first failing check, 0 when it passes them all. The plan splits the checks in two sets
(those that count the actions chosen earlier in the decision, and the rest) and takes the smaller failing
number of the two, which is exactly the first failing check of all.

The SQL is nested by candidate (``action_index``): a row is compared with its own candidate's checks only,
so a row costs one comparison per candidate plus its own checks, not one per check of the whole policy. For
the rows of one candidate (``candidate`` given) it is that candidate's checks alone, with no nesting.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

from policy_engine.guardrails.base import SqlCheck
from policy_engine.guardrails.sql import text

__all__ = ["NumberedChecks", "VerdictSql", "counts_chosen"]

NumberedChecks = Sequence[tuple[int, Sequence[tuple[int, SqlCheck]]]]
"""(candidate index, [(check number, check)]) per candidate."""

_COUNTER: Final = re.compile(r"\bplanned_[0-9]+\b")
_NULL_TEXT: Final = "CAST(NULL AS VARCHAR)"


def counts_chosen(check: SqlCheck) -> bool:
    """Whether a check reads a counter of the actions already chosen (the plan's ``planned_N`` columns)."""
    return any(_COUNTER.search(sql) for sql in (check.when, check.detail, check.source_sql or ""))


def _source(check: SqlCheck) -> str:
    return check.source_sql or (text(check.source) if check.source else _NULL_TEXT)


@dataclass(frozen=True)
class VerdictSql:
    """The SQL of one set of numbered checks over a candidate row (with ``action_index``)."""

    checks: NumberedChecks

    @property
    def empty(self) -> bool:
        """True when no candidate has a check in this set."""
        return not any(numbered for _, numbered in self.checks)

    def _of(self, candidate: int | None) -> NumberedChecks:
        return [(index, numbered) for index, numbered in self.checks if candidate is None or index == candidate]

    def number(self, candidate: int | None = None) -> str:
        """The number of the row's first failing check of this set, 0 when none fails; with ``candidate``,
        for rows of that candidate only."""
        whens = []
        for index, numbered in self._of(candidate):
            if numbered:
                inner = " ".join(f"WHEN COALESCE({check.when}, FALSE) THEN {number}" for number, check in numbered)
                whens.append((index, f"CASE {inner} ELSE 0 END"))
        if candidate is not None:
            return whens[0][1] if whens else "0"
        cases = " ".join(f"WHEN {index} THEN {sql}" for index, sql in whens)
        return f"CASE action_index {cases} ELSE 0 END" if whens else "0"

    def settled(self, verdict: str, candidate: int | None = None) -> str:
        """Whether the check numbered ``verdict`` (another set's, a column) stops the row before any check of
        this set could: it fails (not 0) and comes before the first check of this set for its candidate."""
        firsts = [(index, numbered[0][0]) for index, numbered in self._of(candidate) if numbered]
        if not firsts:
            return f"{verdict} <> 0"
        if candidate is not None:
            return f"({verdict} <> 0 AND {verdict} < {firsts[0][1]})"
        whens = " ".join(f"WHEN {index} THEN {first}" for index, first in firsts)
        return f"({verdict} <> 0 AND {verdict} < CASE action_index {whens} ELSE {verdict} + 1 END)"

    def texts(self, verdict: str, candidate: int | None = None) -> tuple[str, str, str]:
        """(reason, detail, source) SQL of the check numbered ``verdict`` (a column); NULL for 0."""
        return (self._text(verdict, lambda check: text(check.reason.value), candidate),
                self._text(verdict, lambda check: check.detail, candidate),
                self._text(verdict, _source, candidate))

    def _text(self, verdict: str, of: Callable[[SqlCheck], str], candidate: int | None) -> str:
        whens = []
        for index, numbered in self._of(candidate):
            if numbered:
                inner = " ".join(f"WHEN {number} THEN {of(check)}" for number, check in numbered)
                whens.append((index, f"CASE {verdict} {inner} END"))
        if not whens:
            return _NULL_TEXT
        if candidate is not None:
            return f"CASE WHEN {verdict} = 0 THEN {_NULL_TEXT} ELSE {whens[0][1]} END"
        cases = " ".join(f"WHEN {index} THEN {sql}" for index, sql in whens)
        return f"CASE WHEN {verdict} = 0 THEN {_NULL_TEXT} ELSE CASE action_index {cases} END END"
